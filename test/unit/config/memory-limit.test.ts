import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { cgroupMemoryLimit, defaultCacheSize } from '../../../src/config/load-plan.js';

const MiB = 1024 * 1024;

t.test('the default cache size fits the container memory limit', async (t) => {
  t.equal(defaultCacheSize(undefined), 256 * MiB, 'no limit: 256 MiB');
  t.equal(defaultCacheSize(512 * MiB), 240 * MiB);
  t.equal(defaultCacheSize(1024 * MiB), 624 * MiB);
  t.equal(defaultCacheSize(256 * MiB), 48 * MiB);
  t.equal(defaultCacheSize(128 * MiB), 32 * MiB, 'never below 32 MiB');
  t.equal(defaultCacheSize(64 * 1024 * MiB), 1024 * MiB, 'never above 1 GiB');
});

t.test('the limit is read from cgroup v2, then v1; "max" and huge values mean none', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'cgroup-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  t.equal(await cgroupMemoryLimit(root), undefined, 'no files');
  await mkdir(join(root, 'memory'));
  await writeFile(join(root, 'memory', 'memory.limit_in_bytes'), '9223372036854771712\n');
  t.equal(await cgroupMemoryLimit(root), undefined, 'v1 unlimited');
  await writeFile(join(root, 'memory', 'memory.limit_in_bytes'), `${512 * MiB}\n`);
  t.equal(await cgroupMemoryLimit(root), 512 * MiB, 'v1');
  await writeFile(join(root, 'memory.max'), 'max\n');
  t.equal(await cgroupMemoryLimit(root), undefined, 'v2 unlimited wins over v1');
  await writeFile(join(root, 'memory.max'), `${1024 * MiB}\n`);
  t.equal(await cgroupMemoryLimit(root), 1024 * MiB, 'v2');
});

t.test('a Fluid plan takes its default cache size from the memory limit; cache-size still wins', async (t) => {
  const { loadFluidPlan } = await import('../../../src/config/index.js');
  const dir = await mkdtemp(join(tmpdir(), 'memplan-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify({ mounts: [{ mountPoint: 's3://bucket', options: { endpoint: 'http://127.0.0.1:1' } }], targetPath: '/tmp/x' }));
  const limited = await loadFluidPlan({ kind: 'fluid', configPath: file, flags: {} }, { env: {}, memoryLimitBytes: 512 * MiB });
  t.equal(limited.settings.cacheSizeBytes, 240 * MiB);
  const explicit = await loadFluidPlan(
    { kind: 'fluid', configPath: file, flags: {} },
    { env: { MOUNT_OPTIONS: 'cache-size=100MiB' }, memoryLimitBytes: 512 * MiB },
  );
  t.equal(explicit.settings.cacheSizeBytes, 100 * MiB);
});
