// mountPoint / SOURCE: minio:// and s3://, bucket rules, prefix normalisation, endpoint rules.
import t from 'tap';
import { loadFluidPlan } from '../../../src/config/index.js';
import { parseMountSource } from '../../../src/config/mount-source.js';
import { rejectsConfig, tempDir, writeConfig, type T } from './fixtures/helpers.js';

t.test('schemes and prefixes', async (t) => {
  const cases: [string, string, string, string][] = [
    ['minio://my-first-bucket', 'minio', 'my-first-bucket', ''],
    ['minio://my-first-bucket/', 'minio', 'my-first-bucket', ''],
    ['s3://bucket.with.dots', 's3', 'bucket.with.dots', ''],
    ['s3://abc/data', 's3', 'abc', 'data/'],
    ['s3://abc/data/', 's3', 'abc', 'data/'],
    ['S3://abc/a/b/c', 's3', 'abc', 'a/b/c/'],
    ['minio://my-bucket/train set/2024', 'minio', 'my-bucket', 'train set/2024/'],
    ['s3://123/x', 's3', '123', 'x/'],
  ];
  for (const [text, scheme, bucket, prefix] of cases) {
    t.same(parseMountSource(text, 'mountPoint'), { scheme, bucket, prefix }, text);
  }
});

t.test('bad mount points name the mount and mountPoint', async (t) => {
  const cases: [string, string][] = [
    ['oss://bucket', 'unsupported scheme'],
    ['https://bucket.s3.amazonaws.com', 'unsupported scheme'],
    ['local:///data', 'unsupported scheme'],
    ['pvc://my-claim/sub', 'pvc:// mounts are served by Fluid itself, not by this runtime'],
    ['bucket/prefix', 'expected s3://bucket'],
    ['s3://', 'empty'],
    ['s3:///prefix', 'empty'],
    ['s3://ab', '3 to 63'],
    [`s3://${'a'.repeat(64)}`, '3 to 63'],
    ['s3://My_Bucket', 'lowercase letters'],
    ['s3://-bucket', 'starts and ends'],
    ['s3://bucket-', 'starts and ends'],
    ['s3://my..bucket', 'adjacent dots'],
    ['s3://192.168.1.1', 'IP address'],
    ['s3://bucket//a', 'empty segment'],
    ['s3://bucket/a//b', 'empty segment'],
    ['s3://bucket/a/./b', '"." segment'],
    ['s3://bucket/../b', '".." segment'],
  ];
  for (const [text, why] of cases) {
    await rejectsConfig(t, () => parseMountSource(text, 'mount "data": mountPoint'), {
      code: 'BAD_MOUNT_POINT',
      startsWith: `mount "data": mountPoint ${JSON.stringify(text)}: `,
      has: [why],
    });
  }
  await rejectsConfig(t, () => parseMountSource('s3://AKIA:hunter2@bucket', 'mount "data": mountPoint'), {
    code: 'BAD_MOUNT_POINT',
    has: ['not supported'],
    hasNot: ['hunter2'],
  });
});

async function load(t: T, mountPoint: string, options: Record<string, string> = {}) {
  const dir = await tempDir(t);
  const file = await writeConfig(dir, 'config.json', { mounts: [{ mountPoint, name: 'data', options }], targetPath: '/t' });
  return () => loadFluidPlan({ kind: 'fluid', configPath: file, flags: {} }, { env: {} });
}

t.test('in a Fluid config', async (t) => {
  const plan = await (await load(t, 'minio://my-bucket/a/b', { 'minio-url': 'http://minio:9000' }))();
  t.match(plan.buckets[0], { source: 'minio://my-bucket/a/b', bucket: 'my-bucket', prefix: 'a/b/', endpoint: 'http://minio:9000' });

  const aws = await (await load(t, 's3://public-data/x'))();
  t.equal(aws.buckets[0]?.endpoint, undefined, 's3:// without endpoint means AWS');
  t.equal(aws.buckets[0]?.pathStyle, false);
  t.equal(aws.buckets[0]?.prefix, 'x/');

  await rejectsConfig(t, await load(t, 'minio://my-bucket'), {
    code: 'ENDPOINT_REQUIRED',
    startsWith: 'mount "data": option "minio-url" (or endpoint) is required for minio:// mounts',
  });
  await rejectsConfig(t, await load(t, 'hdfs://namenode/x'), { code: 'BAD_MOUNT_POINT', startsWith: 'mount "data": mountPoint "hdfs://namenode/x"' });
});
