// The seed's MinIO demo config (Fluid 1.0.3+, configmap mode): secrets are file paths under the
// secrets root, in Kubernetes' `..data` symlink layout.
import { tmpdir } from 'node:os';
import t from 'tap';
import { rename, symlink, unlink, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadFluidPlan, readSecret } from '../../../src/config/index.js';
import { k8sSecret, tempDir, writeConfig } from './fixtures/helpers.js';

const demo = (root: string) =>
  `{"mounts":[{"mountPoint":"minio://my-first-bucket","options":{"minio-access-key":"${root}/minio-secret/minio-access-key","minio-access-secret":"${root}/minio-secret/minio-access-secret","minio-url":"http://minio:9000"},"name":"minio"}],"targetPath":"/runtime-mnt/thin/default/minio-demo/thin-fuse","accessModes":["ReadOnlyMany"]}`;

t.test('the demo config → one read-only MinIO bucket with creds read from files', async (t) => {
  const dir = await tempDir(t);
  const secretsRoot = path.join(dir, 'etc/fluid/secrets');
  await k8sSecret(secretsRoot, 'minio-secret', { 'minio-access-key': 'minioadmin\n', 'minio-access-secret': 'Sup3r-s3cret\r\n' });
  const file = await writeConfig(dir, 'etc/fluid/config/config.json', demo(secretsRoot));
  const plan = await loadFluidPlan(
    { kind: 'fluid', flags: {} },
    { env: {}, secretsRoot, memoryLimitBytes: null, defaultConfigPaths: [file, path.join(dir, 'etc/fluid/config.json')] },
  );

  t.equal(plan.targetPath, '/runtime-mnt/thin/default/minio-demo/thin-fuse');
  t.equal(plan.buckets.length, 1);
  const b = plan.buckets[0]!;
  t.match(b, {
    name: 'minio',
    source: 'minio://my-first-bucket',
    bucket: 'my-first-bucket',
    prefix: '',
    folder: [],
    endpoint: 'http://minio:9000',
    region: 'us-east-1',
    pathStyle: true,
    readOnly: true,
    fileMode: 0o644,
    dirMode: 0o755,
    statCacheTtlMs: 60_000,
    negativeCacheTtlMs: 5_000,
  });
  t.equal(b.uid, process.getuid!());
  t.equal(b.gid, process.getgid!());
  t.same(b.credentials, {
    accessKeyId: { option: 'minio-access-key', value: 'minioadmin', file: `${secretsRoot}/minio-secret/minio-access-key` },
    secretAccessKey: { option: 'minio-access-secret', value: 'Sup3r-s3cret', file: `${secretsRoot}/minio-secret/minio-access-secret` },
  });
  t.same(plan.settings, {
    logLevel: 'info',
    cacheSizeBytes: 256 * 1024 * 1024,
    readAheadMaxBytes: 64 * 1024 * 1024,
    readAheadInitialBytes: 1024 * 1024,
    partSizeBytes: 8 * 1024 * 1024,
    allowOther: true,
    attrTimeoutMs: 1000,
    entryTimeoutMs: 1000,
    requestTimeoutMs: 30_000,
    dfScanIntervalMs: 3_600_000,
    stagingDir: tmpdir(),
    stagingSizeBytes: 4 * 1024 ** 3,
    metricsAddress: { host: '0.0.0.0', port: 9567 },
  });
  t.same(plan.unknownOptions, []);
});

t.test('the plan is deep-frozen', async (t) => {
  const dir = await tempDir(t);
  const secretsRoot = path.join(dir, 'secrets');
  await k8sSecret(secretsRoot, 'minio-secret', { 'minio-access-key': 'a', 'minio-access-secret': 'b' });
  const file = await writeConfig(dir, 'config.json', demo(secretsRoot));
  const plan = await loadFluidPlan({ kind: 'fluid', configPath: file, flags: {} }, { env: {}, secretsRoot });
  t.ok(Object.isFrozen(plan));
  t.ok(Object.isFrozen(plan.buckets));
  t.ok(Object.isFrozen(plan.buckets[0]));
  t.ok(Object.isFrozen(plan.buckets[0]!.folder));
  t.ok(Object.isFrozen(plan.buckets[0]!.credentials));
  t.ok(Object.isFrozen(plan.buckets[0]!.credentials!.secretAccessKey));
  t.ok(Object.isFrozen(plan.settings));
  t.ok(Object.isFrozen(plan.unknownOptions));
  t.throws(() => {
    (plan as { targetPath: string }).targetPath = '/elsewhere';
  });
  t.throws(() => {
    (plan.buckets as unknown[]).push({});
  });
});

t.test('readSecret re-reads the file after Kubernetes swaps ..data', async (t) => {
  const dir = await tempDir(t);
  const secretsRoot = path.join(dir, 'secrets');
  const secretDir = await k8sSecret(secretsRoot, 'minio-secret', { 'minio-access-key': 'old-id', 'minio-access-secret': 'old-secret\n' });
  const file = await writeConfig(dir, 'config.json', demo(secretsRoot));
  const plan = await loadFluidPlan({ kind: 'fluid', configPath: file, flags: {} }, { env: {}, secretsRoot });
  const src = plan.buckets[0]!.credentials!.secretAccessKey;
  t.equal(await readSecret(src), 'old-secret');

  // Rotation as the kubelet does it: new timestamped dir, new ..data symlink renamed over the old.
  await mkdir(path.join(secretDir, '..2026_11_29_y'));
  await writeFile(path.join(secretDir, '..2026_11_29_y', 'minio-access-secret'), 'new-secret\n');
  await writeFile(path.join(secretDir, '..2026_11_29_y', 'minio-access-key'), 'new-id');
  await symlink('..2026_11_29_y', path.join(secretDir, '..data_tmp'));
  await rename(path.join(secretDir, '..data_tmp'), path.join(secretDir, '..data'));
  t.equal(await readSecret(src), 'new-secret');
  t.equal(src.value, 'old-secret', 'the plan itself is not changed');

  // A literal keeps its value; a vanished file is a one-line error without the secret.
  t.equal(await readSecret({ option: 'secret-key', value: 'literal\n' }), 'literal\n', 'literal values are returned as they are');
  await unlink(path.join(secretDir, 'minio-access-secret'));
  await t.rejects(readSecret(src), { code: 'SECRET_FILE', message: /minio-access-secret.*ENOENT/ });
});
