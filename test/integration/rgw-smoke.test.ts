/**
 * Smoke test of the test S3 server (scripts/rgw-start.sh, started by scripts/test.sh) and of
 * helpers/s3.ts: create a bucket, put, list, get, and check that teardown removes the bucket.
 */
import t from 'tap';
import { GetObjectCommand, HeadBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createTestBucket, makeClient, putObjects, uniqueBucketName } from './helpers/s3.js';

t.test('bucket names are valid and unique', async (t) => {
  const a = uniqueBucketName('Some Test: with UPPER case / slashes and a very long hint that goes on and on');
  const b = uniqueBucketName('Some Test: with UPPER case / slashes and a very long hint that goes on and on');
  t.not(a, b);
  for (const n of [a, b, uniqueBucketName(''), uniqueBucketName('---')]) {
    t.ok(n.length >= 3 && n.length <= 63, `${n} has 3..63 chars`);
    t.match(n, /^[a-z0-9][a-z0-9-]*[a-z0-9]$/, `${n} is a valid bucket name`);
  }
});

t.test('create bucket, put, list, get', async (t) => {
  const client = makeClient();
  t.teardown(() => client.destroy());
  let bucket = '';
  await t.test('in a test bucket', async (t) => {
    bucket = await createTestBucket(t, 'rgw smoke', client);
    const binary = Buffer.alloc(256 * 1024);
    for (let i = 0; i < binary.length; i++) binary[i] = (i * 7) & 0xff;
    const objects: Record<string, Buffer | string> = {
      testfile: 'fluid-minio-test',
      'dir/a.bin': binary,
      'dir/sub/b.txt': 'b',
      'key with spaces+plus.txt': 'spaces',
    };
    for (let i = 0; i < 40; i++) objects[`many/${String(i).padStart(3, '0')}`] = `obj ${i}`;
    await putObjects(client, bucket, objects);

    const root = await client.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: '/' }));
    t.same((root.Contents ?? []).map((o) => o.Key).sort(), ['key with spaces+plus.txt', 'testfile']);
    t.same((root.CommonPrefixes ?? []).map((p) => p.Prefix).sort(), ['dir/', 'many/']);

    const paged = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'many/', MaxKeys: 25 }));
    t.equal(paged.KeyCount, 25);
    t.equal(paged.IsTruncated, true);
    const rest = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'many/', ContinuationToken: paged.NextContinuationToken }));
    t.equal(rest.KeyCount, 15);

    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'testfile' }));
    t.equal(await got.Body?.transformToString(), 'fluid-minio-test');

    const range = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'dir/a.bin', Range: 'bytes=1000-1999' }));
    const bytes = Buffer.from((await range.Body?.transformToByteArray()) ?? []);
    t.equal(range.ContentRange, `bytes 1000-1999/${binary.length}`);
    t.ok(bytes.equals(binary.subarray(1000, 2000)), 'ranged GET returns the right bytes');
  });
  t.ok(bucket, 'a bucket was created');
  await t.rejects(client.send(new HeadBucketCommand({ Bucket: bucket })), 'teardown deleted the bucket');
});
