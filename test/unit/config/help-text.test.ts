// --help lists the command forms and every option of the vocabulary with its default.
import t from 'tap';
import { USAGE } from '../../../src/config/index.js';
import { DEFAULTS, lookupOption, parseOptionValue, VOCABULARY } from '../../../src/config/options.js';

t.test('USAGE', async (t) => {
  for (const form of ['fluid-s3-fuse [--config PATH]', 'fluid-s3-fuse mount SOURCE MOUNTPOINT', '--help', '--version', 's3://', 'minio://', 'MOUNT_OPTIONS']) {
    t.ok(USAGE.includes(form), form);
  }
  for (const spec of VOCABULARY) {
    for (const name of [spec.key, ...spec.aliases]) t.ok(USAGE.includes(name.length === 1 ? `-${name}` : `--${name}`), `lists ${name}`);
    t.ok(USAGE.includes(`(default: ${spec.defaultText})`), `default of ${spec.key}`);
  }
  for (const d of ['us-east-1', '0644', '0755', '1m', '5s', '256MiB', '64MiB', '1MiB', '8MiB', '30s', 'info']) {
    t.match(USAGE, `(default: ${d}`, `default ${d}`);
  }
  t.ok(
    USAGE.split('\n').every((line) => line.length <= 100),
    'lines fit a terminal',
  );
});

// The help text is generated from the vocabulary, so checking one against the other proves
// little; what can drift is a default shown in --help and the default the plan really uses.
t.test('every default --help shows is the default the plan uses', async (t) => {
  const shown: [string, unknown][] = [
    ['region', DEFAULTS.region],
    ['file-mode', DEFAULTS.fileMode],
    ['dir-mode', DEFAULTS.dirMode],
    ['stat-cache-ttl', DEFAULTS.statCacheTtlMs],
    ['negative-cache-ttl', DEFAULTS.negativeCacheTtlMs],
    ['read-ahead-max', DEFAULTS.readAheadMaxBytes],
    ['read-ahead-initial', DEFAULTS.readAheadInitialBytes],
    ['part-size', DEFAULTS.partSizeBytes],
    ['attr-timeout', DEFAULTS.attrTimeoutMs],
    ['entry-timeout', DEFAULTS.entryTimeoutMs],
    ['request-timeout', DEFAULTS.requestTimeoutMs],
    ['df-scan-interval', DEFAULTS.dfScanIntervalMs],
    ['log-level', DEFAULTS.logLevel],
  ];
  for (const [key, value] of shown) {
    const spec = lookupOption(key);
    if (!spec) {
      t.fail(`${key} is not an option`);
      continue;
    }
    t.equal(parseOptionValue(spec, spec.defaultText), value, `--help's default of ${key} (${spec.defaultText}) is the plan's`);
  }
  const cache = lookupOption('cache-size');
  t.ok(cache?.defaultText.startsWith('256MiB'), 'cache-size: 256MiB without a memory limit');
  t.equal(DEFAULTS.cacheSizeBytes, 256 * 1024 * 1024);
});
