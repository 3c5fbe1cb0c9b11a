// --help lists the command forms and every option of the vocabulary with its default.
import t from 'tap';
import { USAGE } from '../../../src/cli/help-text.js';
import { DEFAULT_CACHE_SIZE, lookupOption, parseOptionValue, VOCABULARY } from '../../../src/config/options.js';

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
  const shown = ['region', 'file-mode', 'dir-mode', 'stat-cache-ttl', 'negative-cache-ttl', 'read-ahead-max', 'read-ahead-initial', 'part-size'];
  shown.push('attr-timeout', 'entry-timeout', 'request-timeout', 'df-scan-interval', 'log-level');
  for (const key of shown) {
    const spec = lookupOption(key);
    if (spec?.default === undefined || typeof spec.default === 'function') {
      t.fail(`${key} is not an option with a fixed default`);
      continue;
    }
    t.equal(parseOptionValue(spec, spec.defaultText), spec.default, `--help's default of ${key} (${spec.defaultText}) is the plan's`);
  }
  const cache = lookupOption('cache-size');
  t.ok(cache?.defaultText.startsWith('256MiB'), 'cache-size: 256MiB without a memory limit');
  t.equal(DEFAULT_CACHE_SIZE, 256 * 1024 * 1024);
  for (const [key, fluid, debug] of [
    ['allow-other', true, false],
    ['metrics-address', '0.0.0.0:9567', 'off'],
  ] as const) {
    const dflt = lookupOption(key)?.default;
    t.same(typeof dflt === 'function' ? [dflt('fluid'), dflt('debug')] : dflt, [fluid, debug], `${key}: ${lookupOption(key)?.defaultText}`);
    t.ok(lookupOption(key)?.defaultText.startsWith(String(fluid)), `${key} shows the Fluid default first`);
  }
});
