// Bad option values: one line naming the mount, the option and where it came from; the value is
// shown only for non-credential keys.
import t from 'tap';
import { loadFluidPlan } from '../../../src/config/index.js';
import { parseArgv } from '../../../src/cli/argv.js';
import { k8sSecret, rejectsConfig, tempDir, writeConfig, type T } from './fixtures/helpers.js';
import path from 'node:path';

async function loader(t: T, cfg: { options?: Record<string, string>; runtime?: Record<string, string>; mounts?: number }) {
  const dir = await tempDir(t);
  const mounts = Array.from({ length: cfg.mounts ?? 1 }, (_, i) => ({
    mountPoint: `s3://bucket-${i}`,
    name: `m${i}`,
    ...(i === 0 ? { options: cfg.options ?? {} } : {}),
  }));
  const file = await writeConfig(dir, 'config.json', { mounts, targetPath: '/t', runtimeOptions: cfg.runtime ?? {} });
  return {
    dir,
    file,
    load: (env: Record<string, string> = {}, argv: string[] = []) => {
      const cmd = parseArgv(['--config', file, ...argv]);
      if (cmd.kind !== 'fluid') throw new Error('fluid expected');
      return loadFluidPlan(cmd, { env, secretsRoot: path.join(dir, 'secrets') });
    },
  };
}

t.test('per-bucket keys', async (t) => {
  const cases: [Record<string, string>, string, string][] = [
    [{ endpoint: 'minio:9000' }, 'option "endpoint" (from mount "m0"): must be an http:// or https:// URL', '"minio:9000"'],
    [{ url: 'just words' }, 'option "url" (from mount "m0"): not a URL', '"just words"'],
    [{ endpoint: 'http://minio:9000/?x=1' }, 'option "endpoint" (from mount "m0"): must not contain a query', '"http://minio:9000/?x=1"'],
    [{ 'minio-url': 'ftp://minio' }, 'option "minio-url" (from mount "m0"): must be an http:// or https:// URL', '"ftp://minio"'],
    [{ uid: '-1' }, 'option "uid" (from mount "m0"): not a non-negative integer', '"-1"'],
    [{ gid: 'staff' }, 'option "gid" (from mount "m0"): not a non-negative integer', '"staff"'],
    [{ file_mode: '0999' }, 'option "file-mode" (from mount "m0"): not an octal mode', '"0999"'],
    [{ 'dir-mode': '10000' }, 'option "dir-mode" (from mount "m0"): out of range', '"10000"'],
    [{ 'stat-cache-ttl': 'forever' }, 'option "stat-cache-ttl" (from mount "m0"): not a duration', '"forever"'],
    [{ 'negative-cache-ttl': '-5s' }, 'option "negative-cache-ttl" (from mount "m0"): not a duration', '"-5s"'],
    [{ 'path-style': 'maybe' }, 'option "path-style" (from mount "m0"): not a boolean', '"maybe"'],
    [{ ro: 'sure' }, 'option "ro" (from mount "m0"): not a boolean', '"sure"'],
    [{ region: '' }, 'option "region" (from mount "m0"): empty value', ''],
  ];
  for (const [options, has, shown] of cases) {
    const { load } = await loader(t, { options });
    await rejectsConfig(t, load, { code: 'BAD_OPTION', startsWith: `mount "m0": ${has}`, has: [shown] });
  }
});

t.test('bad values from MOUNT_OPTIONS and runtimeOptions name their source', async (t) => {
  const { load } = await loader(t, { runtime: { region: 'ok' } });
  await rejectsConfig(t, () => load({ MOUNT_OPTIONS: 'uid=root' }), { code: 'BAD_OPTION', startsWith: 'mount "m0": option "uid" (from MOUNT_OPTIONS): ' });
  const rt = await loader(t, { runtime: { 'dir-mode': 'rwx' } });
  await rejectsConfig(t, rt.load, { code: 'BAD_OPTION', startsWith: 'mount "m0": option "dir-mode" (from runtimeOptions): ' });
  await rejectsConfig(t, () => rt.load({}, ['--dir-mode=0755', '--uid', 'x']), {
    code: 'BAD_OPTION',
    startsWith: 'mount "m0": option "uid" (from command line): ',
  });
});

t.test('process keys: the config, the mount or the command line', async (t) => {
  const { file, load } = await loader(t, { runtime: { 'cache-size': 'lots' } });
  await rejectsConfig(t, load, { code: 'BAD_OPTION', startsWith: `config ${file}: option "cache-size" (from runtimeOptions): not a size`, has: ['"lots"'] });
  await rejectsConfig(t, () => load({}, ['--cache-size=1G', '--log-level', 'loud']), {
    code: 'BAD_OPTION',
    startsWith: 'command line: option "log-level" (from command line): not a log level',
  });
  const m = await loader(t, { options: { 'part-size': '512K' } });
  await rejectsConfig(t, m.load, { code: 'BAD_OPTION', startsWith: 'mount "m0": option "part-size" (from mount "m0"): must be at least 1MiB' });
  const e = await loader(t, {});
  for (const [env, key] of [
    ['read-ahead-max=big', 'read-ahead-max'],
    ['read-ahead-initial=1X', 'read-ahead-initial'],
    ['allow-other=perhaps', 'allow-other'],
    ['attr-timeout=soon', 'attr-timeout'],
    ['entry-timeout=1y', 'entry-timeout'],
    ['request-timeout=', 'request-timeout'],
  ] as const) {
    await rejectsConfig(t, () => e.load({ MOUNT_OPTIONS: env }), { code: 'BAD_OPTION', has: [`option "${key}" (from MOUNT_OPTIONS)`] });
  }
});

t.test('an overridden bad value is never looked at', async (t) => {
  const { load } = await loader(t, { runtime: { uid: 'nobody' }, options: { uid: '42' } });
  t.equal((await load()).buckets[0]?.uid, 42);
});

t.test('credential values and secret-file contents are never shown', async (t) => {
  const { dir, load } = await loader(t, { options: { 'session-token': '', 'access-key': 'AKIAVISIBLE', 'secret-key': 'HUNTER2' } });
  await rejectsConfig(t, load, { code: 'BAD_OPTION', has: ['"session-token"', 'empty value'], hasNot: ['AKIAVISIBLE', 'HUNTER2'] });

  // A non-credential option read from a secret file: its value is not shown either.
  const root = path.join(dir, 'secrets');
  await k8sSecret(root, 'conn', { url: 'http://user:SECRETPASS@minio', url2: 'not-a-url-SECRETISH' });
  const file = await writeConfig(dir, 'c2.json', {
    mounts: [{ mountPoint: 's3://bucket-x', name: 'x', options: { endpoint: `${root}/conn/url2` } }],
    targetPath: '/t',
  });
  await rejectsConfig(t, () => loadFluidPlan({ kind: 'fluid', configPath: file, flags: {} }, { env: {}, secretsRoot: root }), {
    code: 'BAD_OPTION',
    has: ['option "endpoint"', 'not a URL'],
    hasNot: ['SECRETISH'],
  });
  const file3 = await writeConfig(dir, 'c3.json', {
    mounts: [{ mountPoint: 's3://bucket-x', name: 'x', options: { endpoint: 'http://user:SECRETPASS@minio:9000' } }],
    targetPath: '/t',
  });
  await rejectsConfig(t, () => loadFluidPlan({ kind: 'fluid', configPath: file3, flags: {} }, { env: {}, secretsRoot: root }), {
    code: 'BAD_OPTION',
    has: ['option "endpoint"', 'user name or password'],
    hasNot: ['SECRETPASS'],
  });
});

t.test('metrics-address: HOST:PORT or off; debug mounts default to off', async (t) => {
  const { parseListenAddress } = await import('../../../src/config/options.js');
  t.same(parseListenAddress('0.0.0.0:9567'), { host: '0.0.0.0', port: 9567 });
  t.same(parseListenAddress('[::1]:80'), { host: '::1', port: 80 });
  t.equal(parseListenAddress('9567'), null);
  t.equal(parseListenAddress('host:99999'), null);
});
