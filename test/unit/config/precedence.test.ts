// defaults < MOUNT_OPTIONS < runtimeOptions < the mount's own options < command line flags.
import t from 'tap';
import { loadFluidPlan } from '../../../src/config/index.js';
import { parseArgv } from '../../../src/cli/argv.js';
import { tempDir, writeConfig, type T } from './fixtures/helpers.js';

interface Layers {
  env?: string;
  runtime?: Record<string, string>;
  mount?: Record<string, string>;
  argv?: string[];
  mounts?: number;
}

async function plan(t: T, l: Layers) {
  const dir = await tempDir(t);
  const mounts = Array.from({ length: l.mounts ?? 1 }, (_, i) => ({
    mountPoint: `s3://bucket-${i}`,
    name: `m${i}`,
    ...(i === 0 && l.mount ? { options: l.mount } : {}),
  }));
  const file = await writeConfig(dir, 'config.json', { mounts, targetPath: '/t', ...(l.runtime ? { runtimeOptions: l.runtime } : {}) });
  const cmd = parseArgv(['--config', file, ...(l.argv ?? [])]);
  if (cmd.kind !== 'fluid') throw new Error('expected fluid mode');
  return loadFluidPlan(cmd, { env: l.env === undefined ? {} : { MOUNT_OPTIONS: l.env } });
}

t.test('a per-bucket key (region, via aliases and spellings)', async (t) => {
  t.equal((await plan(t, {})).buckets[0]?.region, 'us-east-1', 'default');
  t.equal((await plan(t, { env: 'region=env-1' })).buckets[0]?.region, 'env-1', 'MOUNT_OPTIONS');
  t.equal((await plan(t, { env: 'region=env-1', runtime: { Region: 'rt-1' } })).buckets[0]?.region, 'rt-1', 'runtimeOptions');
  t.equal((await plan(t, { env: 'region=env-1', runtime: { region: 'rt-1' }, mount: { REGION: 'mount-1' } })).buckets[0]?.region, 'mount-1', 'mount options');
  t.equal(
    (await plan(t, { env: 'region=env-1', runtime: { region: 'rt-1' }, mount: { region: 'mount-1' }, argv: ['--region', 'cli-1'] })).buckets[0]?.region,
    'cli-1',
    'command line',
  );
  const multi = await plan(t, { mounts: 2, runtime: { region: 'rt-1' }, mount: { region: 'mount-1' } });
  t.same(
    multi.buckets.map((b) => b.region),
    ['mount-1', 'rt-1'],
    'a mount option only affects its mount',
  );

  const aliases = await plan(t, { env: 'minio_url=http://env:9000', runtime: { url: 'http://rt:9000' }, mount: { endpoint: 'http://mount:9000/' } });
  t.equal(aliases.buckets[0]?.endpoint, 'http://mount:9000', 'aliases share one key; trailing slash dropped');
  t.equal(aliases.buckets[0]?.pathStyle, true, 'path-style defaults to true with an endpoint');
  t.equal((await plan(t, {})).buckets[0]?.pathStyle, false, 'and false without');
  t.equal((await plan(t, { mount: { endpoint: 'https://s3.example.com', 'path-style': 'false' } })).buckets[0]?.pathStyle, false);
});

t.test('a process-wide key (cache-size)', async (t) => {
  const MiB = 1024 * 1024;
  t.equal((await plan(t, {})).settings.cacheSizeBytes, 256 * MiB, 'default');
  t.equal((await plan(t, { env: 'cache_size=1G' })).settings.cacheSizeBytes, 1024 * MiB, 'MOUNT_OPTIONS');
  t.equal((await plan(t, { env: 'cache-size=1G', runtime: { 'cache-size': '512M' } })).settings.cacheSizeBytes, 512 * MiB, 'runtimeOptions');
  t.equal(
    (await plan(t, { env: 'cache-size=1G', runtime: { 'cache-size': '512M' }, mount: { 'cache-size': '128MiB' } })).settings.cacheSizeBytes,
    128 * MiB,
    'the only mount',
  );
  t.equal(
    (await plan(t, { env: 'cache-size=1G', runtime: { 'cache-size': '512M' }, mount: { 'cache-size': '128MiB' }, argv: ['-o', 'cache-size=64M'] })).settings
      .cacheSizeBytes,
    64 * MiB,
    'command line',
  );
});

t.test('a process-wide key in one of several mounts is ignored with a warning', async (t) => {
  const p = await plan(t, { mounts: 2, runtime: { 'cache-size': '512M' }, mount: { 'cache-size': '128MiB', log_level: 'debug' } });
  t.equal(p.settings.cacheSizeBytes, 512 * 1024 * 1024);
  t.equal(p.settings.logLevel, 'info');
  t.same(p.unknownOptions, [
    'cache-size (from mount "m0": process-wide, set it in runtimeOptions)',
    'log-level (from mount "m0": process-wide, set it in runtimeOptions)',
  ]);
});

t.test('every process setting can be set', async (t) => {
  const p = await plan(t, {
    runtime: {
      'log-level': 'WARN',
      'cache-size': '2G',
      'read-ahead-max': '128MiB',
      'read-ahead-initial': '2M',
      'part-size': '16M',
      'allow-other': 'false',
      'attr-timeout': '5s',
      'entry-timeout': '500ms',
      'request-timeout': '1m',
      'df-scan-interval': '10m',
      'metrics-address': '127.0.0.1:9100',
      'staging-dir': '/var/stage',
      'staging-size': '1GiB',
    },
  });
  t.same(p.settings, {
    logLevel: 'warn',
    cacheSizeBytes: 2 * 1024 ** 3,
    readAheadMaxBytes: 128 * 1024 ** 2,
    readAheadInitialBytes: 2 * 1024 ** 2,
    partSizeBytes: 16 * 1024 ** 2,
    allowOther: false,
    attrTimeoutMs: 5000,
    entryTimeoutMs: 500,
    requestTimeoutMs: 60_000,
    dfScanIntervalMs: 600_000,
    metricsAddress: { host: '127.0.0.1', port: 9100 },
    stagingDir: '/var/stage',
    stagingSizeBytes: 1024 ** 3,
  });
});

t.test('every per-bucket setting can be set', async (t) => {
  const p = await plan(t, {
    mount: {
      endpoint: 'https://s3.example.com:8443',
      region: 'eu-west-3',
      'path-style': 'no',
      uid: '1000',
      gid: '2000',
      'file-mode': '0600',
      'dir-mode': '700',
      'stat-cache-ttl': '10m',
      'negative-cache-ttl': '0',
    },
  });
  t.match(p.buckets[0], {
    endpoint: 'https://s3.example.com:8443',
    region: 'eu-west-3',
    pathStyle: false,
    uid: 1000,
    gid: 2000,
    fileMode: 0o600,
    dirMode: 0o700,
    statCacheTtlMs: 600_000,
    negativeCacheTtlMs: 0,
  });
});
