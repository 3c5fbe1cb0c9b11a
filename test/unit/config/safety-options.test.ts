// Issue 8 #12 and #14 at the config layer: secrets never on a command line, secrets with commas in
// MOUNT_OPTIONS, and durations that would surprise (0, past Node's timer limit).
import t from 'tap';
import path from 'node:path';
import { loadDebugPlan, loadFluidPlan } from '../../../src/config/index.js';
import { parseArgv } from '../../../src/cli/argv.js';
import { parseOptionList } from '../../../src/config/options.js';
import { rejectsConfig, tempDir, writeConfig, type T } from './fixtures/helpers.js';

async function fluid(t: T, runtime: Record<string, string> = {}, options: Record<string, string> = {}) {
  const dir = await tempDir(t);
  const file = await writeConfig(dir, 'config.json', { mounts: [{ mountPoint: 's3://bkt', name: 'm0', options }], targetPath: '/t', runtimeOptions: runtime });
  return (env: Record<string, string> = {}, argv: string[] = []) => {
    const cmd = parseArgv(['--config', file, ...argv]);
    if (cmd.kind !== 'fluid') throw new Error('fluid expected');
    return loadFluidPlan(cmd, { env, secretsRoot: path.join(dir, 'secrets') });
  };
}

function debug(argv: string[], env: Record<string, string> = {}) {
  const cmd = parseArgv(['mount', 's3://bkt', '/mnt/x', '--endpoint', 'http://127.0.0.1:1', ...argv]);
  if (cmd.kind !== 'mount') throw new Error('mount expected');
  return loadDebugPlan(cmd, { env, memoryLimitBytes: null });
}

t.test('#12 a secret on the command line is refused, with a pointer to the safe ways', async (t) => {
  const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  for (const argv of [
    ['--access-key-id', 'AKID', '--secret-access-key', secret],
    ['--access-key-id=AKID', `--secret-key=${secret}`],
    ['-o', `access-key-id=AKID,secret-access-key=${secret}`],
    ['-o', `minio-access-key=AKID,minio-access-secret=${secret}`],
    ['--access-key-id=AKID', `--session-token=${secret}`],
  ]) {
    await rejectsConfig(t, () => debug(argv), {
      code: 'BAD_OPTION',
      startsWith: 'command line: option "',
      has: ['process list', '--secret-key-file', 'AWS_SECRET_ACCESS_KEY'],
      hasNot: [secret],
    });
  }
  // Fluid mode too: flags on the entrypoint's command line show in ps just the same.
  const load = await fluid(t);
  await rejectsConfig(t, () => load({}, [`--secret-access-key=${secret}`, '--access-key-id=AKID']), {
    code: 'BAD_OPTION',
    has: ['process list'],
    hasNot: [secret],
  });
  // The key file and the environment stay fine.
  const plan = await debug([], { AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: secret });
  t.equal(plan.buckets[0]?.credentials?.secretAccessKey.value, secret);
});

t.test('#12 a secret with commas in MOUNT_OPTIONS is kept whole, and its tail is never an unknown key', async (t) => {
  const secret = 'ab,cd=ef,gh';
  const entries = parseOptionList(`endpoint=http://h:1,secret-access-key=${secret},access-key-id=AKID,ro`, 'MOUNT_OPTIONS');
  t.same(
    entries.map((e) => [e.key, e.value]),
    [
      ['endpoint', 'http://h:1'],
      ['secret-access-key', secret],
      ['access-key-id', 'AKID'],
      ['ro', 'true'],
    ],
  );
  const load = await fluid(t);
  const plan = await load({ MOUNT_OPTIONS: `secret-access-key=${secret},access-key-id=AKID,uid=5` });
  t.equal(plan.buckets[0]?.credentials?.secretAccessKey.value, secret);
  t.equal(plan.buckets[0]?.uid, 5);
  t.same(plan.unknownOptions, [], 'no part of the secret is reported as an unknown option');
});

t.test('#14 durations: request-timeout=0 and values past the timer limit are refused; 0 timeouts are honoured', async (t) => {
  const load = await fluid(t);
  await rejectsConfig(t, () => load({ MOUNT_OPTIONS: 'request-timeout=0' }), {
    code: 'BAD_OPTION',
    startsWith: 'config ',
    has: ['"request-timeout"', 'at least'],
  });
  await rejectsConfig(t, () => load({ MOUNT_OPTIONS: 'request-timeout=2h' }), { code: 'BAD_OPTION', has: ['"request-timeout"', 'at most 1h'] });
  for (const key of ['stat-cache-ttl', 'negative-cache-ttl', 'attr-timeout', 'entry-timeout']) {
    await rejectsConfig(t, () => load({ MOUNT_OPTIONS: `${key}=30d` }), { code: 'BAD_OPTION', has: [`"${key}"`, 'at most 24d'] });
  }
  const plan = await load({ MOUNT_OPTIONS: 'attr-timeout=0,entry-timeout=0,stat-cache-ttl=0,negative-cache-ttl=0' });
  t.equal(plan.settings.attrTimeoutMs, 0);
  t.equal(plan.settings.entryTimeoutMs, 0);
  t.equal(plan.buckets[0]?.statCacheTtlMs, 0);
  t.equal(plan.buckets[0]?.negativeCacheTtlMs, 0);
});

t.test('#13 ca-file is read at start; an unreadable one is one line naming the file', async (t) => {
  const dir = await tempDir(t);
  const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const caFile = await writeConfig(dir, 'ca.pem', pem);
  const load = await fluid(t, { 'ca-file': caFile });
  const plan = await load();
  t.same(plan.buckets[0]?.ca, { file: caFile, pem });
  const missing = path.join(dir, 'nope.pem');
  const bad = await fluid(t, {}, { 'ca-file': missing });
  await rejectsConfig(t, () => bad(), { code: 'BAD_OPTION', startsWith: 'mount "m0": option "ca-file"', has: [missing, 'ENOENT'] });
  const notPem = await writeConfig(dir, 'not.pem', 'hello');
  const wrong = await fluid(t, {}, { 'ca-file': notPem });
  await rejectsConfig(t, () => wrong(), { code: 'BAD_OPTION', has: [notPem, 'PEM'] });
});

t.test('df-scan-interval: a duration, 0 turns the scan off', async (t) => {
  const load = await fluid(t);
  t.equal((await load()).settings.dfScanIntervalMs, 3_600_000);
  t.equal((await load({ MOUNT_OPTIONS: 'df-scan-interval=0' })).settings.dfScanIntervalMs, 0);
  t.equal((await load({ MOUNT_OPTIONS: 'df-scan-interval=10m' })).settings.dfScanIntervalMs, 600_000);
});
