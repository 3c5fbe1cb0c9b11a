// Unknown keys never fail: each is listed once, with where it came from.
import t from 'tap';
import { loadDebugPlan, loadFluidPlan } from '../../../src/config/index.js';
import { parseArgv } from '../../../src/cli/argv.js';
import { tempDir, writeConfig } from './fixtures/helpers.js';

t.test('Fluid mode: every source, each key once, no values', async (t) => {
  const dir = await tempDir(t);
  const file = await writeConfig(dir, 'config.json', {
    mounts: [
      { mountPoint: 's3://bucket-a', name: 'a', options: { Type_Cache_TTL: '5s', 'metrics-port': 'HIDDENVALUE', region: 'x' } },
      { mountPoint: 's3://bucket-b', name: 'b', options: { 'metrics-port': '9', 'access-key-file': '/k' } },
    ],
    targetPath: '/t',
    runtimeOptions: { cheap: 'true', foreground: 'true' },
  });
  const cmd = parseArgv(['--config', file, '--bogus-flag', '--metrics-port=1', '-f', '--secret-key-file=/x']);
  if (cmd.kind !== 'fluid') throw new Error('fluid expected');
  const plan = await loadFluidPlan(cmd, { env: { MOUNT_OPTIONS: 'ro,insecure,cheap=1,,=x' } });
  t.same(plan.unknownOptions, [
    'insecure (from MOUNT_OPTIONS)',
    'cheap (from MOUNT_OPTIONS)',
    'foreground (from runtimeOptions)',
    'type-cache-ttl (from mount "a")',
    'metrics-port (from mount "a")',
    'access-key-file (from mount "b")',
    'bogus-flag (from command line)',
    'secret-key-file (from command line)',
  ]);
  t.notMatch(JSON.stringify(plan.unknownOptions), 'HIDDENVALUE');
  t.equal(plan.buckets.length, 2, 'the plan is built anyway');
});

t.test('debug mode: unknown flags are listed, debug-only flags are known', async (t) => {
  const dir = await tempDir(t);
  const keyFile = await writeConfig(dir, 'id', 'AKIA');
  const secretFile = await writeConfig(dir, 'secret', 'S');
  const cmd = parseArgv([
    'mount',
    's3://bucket-a',
    '/mnt',
    '--foreground',
    '-f',
    '--access-key-file',
    keyFile,
    '--secret-key-file',
    secretFile,
    '--stat_cache_ttl=1s',
    '--type-cache-ttl=1s',
    '-o',
    'nonempty',
  ]);
  if (cmd.kind !== 'mount') throw new Error('mount expected');
  const plan = await loadDebugPlan(cmd, { env: {} });
  t.same(plan.unknownOptions, ['type-cache-ttl (from command line)', 'nonempty (from command line)']);
});
