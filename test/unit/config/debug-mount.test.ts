// The debug command: `mount SOURCE MOUNTPOINT [flags]` → a one-bucket plan at the root.
import t from 'tap';
import path from 'node:path';
import { loadDebugPlan } from '../../../src/config/index.js';
import { parseArgv } from '../../../src/cli/argv.js';
import { rejectsConfig, tempDir, writeConfig } from './fixtures/helpers.js';

function load(argv: string[], env: Record<string, string> = {}) {
  const cmd = parseArgv(argv);
  if (cmd.kind !== 'mount') throw new Error(`mount expected, got ${cmd.kind}`);
  return loadDebugPlan(cmd, { env });
}

t.test('defaults of the debug command', async (t) => {
  const plan = await load(['mount', 's3://public-bucket/some/prefix', 'mnt/x'], { MOUNT_OPTIONS: 'ro,uid=7', MOUNT_POINT: '/elsewhere' });
  t.equal(plan.targetPath, path.resolve('mnt/x'));
  t.same(plan.unknownOptions, []);
  t.match(plan.buckets[0], {
    name: 'public-bucket',
    source: 's3://public-bucket/some/prefix',
    bucket: 'public-bucket',
    prefix: 'some/prefix/',
    folder: [],
    // Read-only by default (issue 12): writes are asked for with --read-write or -o rw.
    readOnly: true,
    pathStyle: false,
  });
  t.equal(plan.buckets[0]?.uid, process.getuid!(), 'MOUNT_OPTIONS is for the Fluid mode only');
  t.equal(plan.buckets[0]?.endpoint, undefined);
  t.equal(plan.buckets[0]?.credentials, undefined);
  t.equal(plan.settings.allowOther, false, 'allow-other defaults to false');
  t.ok(Object.isFrozen(plan.buckets[0]));
});

t.test('goofys-like flags', async (t) => {
  const dir = await tempDir(t);
  const secretFile = await writeConfig(dir, 'secret', 'SECRET\n');
  const plan = await load([
    'mount',
    '--endpoint',
    'http://127.0.0.1:9000',
    'minio://bucket-a',
    '/mnt/a',
    '--ro',
    '--uid=1000',
    '--gid',
    '1000',
    '-o',
    'allow_other,file_mode=0600',
    '--log-level=debug',
    '-f',
    '--access-key',
    'AKIA',
    '--secret-key-file',
    secretFile,
  ]);
  t.match(plan.buckets[0], { endpoint: 'http://127.0.0.1:9000', pathStyle: true, readOnly: true, uid: 1000, gid: 1000, fileMode: 0o600 });
  t.same(plan.buckets[0]?.credentials, {
    accessKeyId: { option: 'access-key', value: 'AKIA' },
    secretAccessKey: { option: 'secret-key-file', value: 'SECRET', file: secretFile },
  });
  t.equal(plan.settings.allowOther, true);
  t.equal(plan.settings.logLevel, 'debug');
});

t.test('key files are read (and re-read by readSecret)', async (t) => {
  const dir = await tempDir(t);
  const id = await writeConfig(dir, 'id', 'AKIAFILE\n');
  const secret = await writeConfig(dir, 'secret', 'SECRETFILE\r\n');
  const plan = await load(['mount', 's3://bucket-a', '/mnt/a', '--access-key-file', id, `--secret-key-file=${secret}`]);
  t.same(plan.buckets[0]?.credentials, {
    accessKeyId: { option: 'access-key-file', value: 'AKIAFILE', file: id },
    secretAccessKey: { option: 'secret-key-file', value: 'SECRETFILE', file: secret },
  });

  const missing = path.join(dir, 'nope');
  await rejectsConfig(t, () => load(['mount', 's3://bucket-a', '/mnt/a', '--access-key-file', id, '--secret-key-file', missing]), {
    code: 'SECRET_FILE',
    startsWith: 'command line: option "secret-key-file": cannot read ',
    has: [missing, 'ENOENT'],
    hasNot: ['AKIAFILE'],
  });
  await rejectsConfig(t, () => load(['mount', 's3://bucket-a', '/mnt/a', '--access-key-file', id]), {
    code: 'MISSING_CREDENTIAL',
    has: ['"secret-key-file" is missing'],
    hasNot: ['AKIAFILE'],
  });
  await rejectsConfig(t, () => load(['mount', 's3://bucket-a', '/mnt/a', '--access-key-file', id, '--access-key', 'AKIA2', '--secret-key-file', secret]), {
    code: 'BAD_OPTION',
    has: ['"access-key"', '"access-key-file"', 'not both'],
    hasNot: ['AKIA2'],
  });
});

t.test('env credentials in debug mode', async (t) => {
  const plan = await load(['mount', 's3://bucket-a', '/mnt/a'], { AWS_ACCESS_KEY_ID: 'AKIAENV', AWS_SECRET_ACCESS_KEY: 'SENV' });
  t.equal(plan.buckets[0]?.credentials?.accessKeyId.value, 'AKIAENV');
});

t.test('errors start with "command line:" and never show secrets', async (t) => {
  await rejectsConfig(t, () => load(['mount', 'minio://bucket-a', '/mnt/a']), {
    code: 'ENDPOINT_REQUIRED',
    startsWith: 'command line: option "minio-url" (or endpoint) is required for minio:// mounts',
  });
  await rejectsConfig(t, () => load(['mount', 'gs://bucket-a', '/mnt/a']), {
    code: 'BAD_MOUNT_POINT',
    startsWith: 'command line: SOURCE "gs://bucket-a": unsupported scheme',
  });
  await rejectsConfig(t, () => load(['mount', 's3://bucket-a', '/mnt/a', '--uid', 'me']), {
    code: 'BAD_OPTION',
    startsWith: 'command line: option "uid": not a non-negative integer: "me"',
  });
  const dir = await tempDir(t);
  const onlySecret = await writeConfig(dir, 'secret', 'ONLYSECRET');
  await rejectsConfig(t, () => load(['mount', 's3://bucket-a', '/mnt/a', '--secret-key-file', onlySecret]), {
    code: 'MISSING_CREDENTIAL',
    startsWith: 'command line: option "access-key-file" is missing',
    hasNot: ['ONLYSECRET'],
  });
  await rejectsConfig(t, () => load(['mount', 's3://bucket-a', '']), { code: 'ARGV', has: ['MOUNTPOINT'] });
});

t.test('the debug mount is read-only unless --read-write or -o rw asks for writes (issue 12)', async (t) => {
  const ro = async (...flags: string[]) => (await load(['mount', 's3://bkt', 'mnt/x', ...flags], {})).buckets[0]?.readOnly;
  t.equal(await ro(), true, 'default');
  t.equal(await ro('--read-write'), false, '--read-write');
  t.equal(await ro('--read-write=true'), false, '--read-write=true');
  t.equal(await ro('--read-write=false'), true, '--read-write=false');
  t.equal(await ro('-o', 'rw'), false, '-o rw');
  t.equal(await ro('--read-write', '-o', 'ro'), true, 'the last one given wins');
  t.equal(await ro('--read-only=false'), false, '--read-only=false');
});

t.test('write options: sse, sse-kms-key-id, staging-dir, staging-size', async (t) => {
  const plan = await load(
    ['mount', 's3://bkt', 'mnt/x', '--read-write', '--sse', 'aws:kms', '--sse-kms-key-id', 'key-1', '--staging-dir', '/var/st', '--staging-size', '0'],
    {},
  );
  t.match(plan.buckets[0], { sse: 'aws:kms', sseKmsKeyId: 'key-1', readOnly: false });
  t.match(plan.settings, { stagingDir: '/var/st', stagingSizeBytes: 0 });
  await t.rejects(load(['mount', 's3://bkt', 'mnt/x', '--sse', 'DES'], {}), /option "sse".*must be one of AES256, aws:kms/);
});

t.test('disk cache options: both or neither (issue 13)', async (t) => {
  const plan = await load(['mount', 's3://bkt', 'mnt/x', '--disk-cache-dir', '/var/cache/s3', '--disk-cache-size', '10GiB'], {});
  t.match(plan.settings, { diskCacheDir: '/var/cache/s3', diskCacheSizeBytes: 10 * 1024 ** 3 });
  t.notOk('diskCacheDir' in (await load(['mount', 's3://bkt', 'mnt/x'], {})).settings, 'off by default');
  await t.rejects(load(['mount', 's3://bkt', 'mnt/x', '--disk-cache-dir', '/var/cache/s3'], {}), /option "disk-cache-dir" needs option "disk-cache-size" too/);
  await t.rejects(load(['mount', 's3://bkt', 'mnt/x', '--disk-cache-size', '1GiB'], {}), /option "disk-cache-size" needs option "disk-cache-dir" too/);
});
