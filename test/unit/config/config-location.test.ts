// Where the Fluid config is read from: --config, else the first existing default location.
import t from 'tap';
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { loadFluidPlan } from '../../../src/config/index.js';
import { noDefaults, rejectsConfig, tempDir, writeConfig } from './fixtures/helpers.js';

const config = (bucket: string) => ({
  mounts: [{ mountPoint: `s3://${bucket}`, name: 'data' }],
  targetPath: '/runtime-mnt/thin/ns/ds/thin-fuse',
});

t.test('Fluid >= 1.0.1 location wins over the old one', async (t) => {
  const dir = await tempDir(t);
  const newer = await writeConfig(dir, 'etc/fluid/config/config.json', config('newer-bucket'));
  const older = await writeConfig(dir, 'etc/fluid/config.json', config('older-bucket'));
  const plan = await loadFluidPlan({ kind: 'fluid', flags: {} }, { env: {}, defaultConfigPaths: [newer, older] });
  t.equal(plan.buckets[0]?.bucket, 'newer-bucket');
});

t.test('Fluid <= 1.0.0 location when the new one is absent (no trailing newline either)', async (t) => {
  const dir = await tempDir(t);
  const older = await writeConfig(dir, 'etc/fluid/config.json', JSON.stringify(config('older-bucket')));
  const newer = path.join(dir, 'etc/fluid/config/config.json');
  const plan = await loadFluidPlan({ kind: 'fluid', flags: {} }, { env: {}, defaultConfigPaths: [newer, older] });
  t.equal(plan.buckets[0]?.bucket, 'older-bucket');
});

t.test('--config wins over the default locations; trailing newline is fine', async (t) => {
  const dir = await tempDir(t);
  const newer = await writeConfig(dir, 'etc/fluid/config/config.json', config('newer-bucket'));
  const mine = await writeConfig(dir, 'mine.json', `${JSON.stringify(config('my-bucket'), null, 2)}\n`);
  const plan = await loadFluidPlan({ kind: 'fluid', configPath: mine, flags: {} }, { env: {}, defaultConfigPaths: [newer] });
  t.equal(plan.buckets[0]?.bucket, 'my-bucket');
});

t.test('no config anywhere names both default paths', async (t) => {
  const dir = await tempDir(t);
  const defaults = noDefaults(dir);
  await rejectsConfig(t, () => loadFluidPlan({ kind: 'fluid', flags: {} }, { env: {}, defaultConfigPaths: defaults }), {
    code: 'CONFIG_NOT_FOUND',
    startsWith: 'config',
    has: [defaults[0]!, defaults[1]!, '--config'],
  });
});

t.test('the built-in default paths are the two Fluid locations', async (t) => {
  // Only meaningful where /etc/fluid does not exist (CI, developer machines).
  const { existsSync } = await import('node:fs');
  if (existsSync('/etc/fluid')) {
    t.comment('skipped: this machine has /etc/fluid');
    return;
  }
  await rejectsConfig(t, () => loadFluidPlan({ kind: 'fluid', flags: {} }, { env: {} }), {
    code: 'CONFIG_NOT_FOUND',
    has: ['/etc/fluid/config/config.json', '/etc/fluid/config.json'],
  });
});

t.test('--config that does not exist is not silently replaced by a default', async (t) => {
  const dir = await tempDir(t);
  const newer = await writeConfig(dir, 'etc/fluid/config/config.json', config('newer-bucket'));
  const missing = path.join(dir, 'nope.json');
  await rejectsConfig(t, () => loadFluidPlan({ kind: 'fluid', configPath: missing, flags: {} }, { env: {}, defaultConfigPaths: [newer] }), {
    code: 'CONFIG_NOT_FOUND',
    startsWith: `config ${missing}:`,
    has: ['ENOENT'],
  });
});

t.test('a config path that cannot be read gives its errno', async (t) => {
  const dir = await tempDir(t);
  const asDir = path.join(dir, 'etc/fluid/config/config.json');
  await mkdir(asDir, { recursive: true });
  await rejectsConfig(t, () => loadFluidPlan({ kind: 'fluid', flags: {} }, { env: {}, defaultConfigPaths: [asDir] }), {
    code: 'CONFIG_READ',
    has: [asDir, 'EISDIR'],
  });
  if (process.getuid?.() !== 0) {
    const locked = await writeConfig(dir, 'locked.json', config('b-b-b'));
    await chmod(locked, 0);
    await rejectsConfig(t, () => loadFluidPlan({ kind: 'fluid', configPath: locked, flags: {} }, { env: {} }), {
      code: 'CONFIG_READ',
      has: [locked, 'EACCES'],
    });
  }
});
