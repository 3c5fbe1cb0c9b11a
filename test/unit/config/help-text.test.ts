// --help lists the command forms and every option of the vocabulary with its default.
import t from 'tap';
import { USAGE } from '../../../src/config/index.js';
import { VOCABULARY } from '../../../src/config/options.js';

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
