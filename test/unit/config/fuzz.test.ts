/**
 * Property tests of the config layer: any bytes as config.json, any JSON shape, any argv and
 * any MOUNT_OPTIONS give a plan or a ConfigError with one clear line — never another exception,
 * a hang or a stack trace in the message. Time-boxed: fast-check stops at the run count.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { ConfigError, loadFluidPlan } from '../../../src/config/index.js';
import { parseArgv } from '../../../src/cli/argv.js';

function oneLine(err: unknown): boolean {
  return err instanceof ConfigError && err.message.length > 0 && !err.message.includes('\n') && !/\bat .+:\d+:\d+/.test(err.message);
}

t.test('any bytes or JSON value as config.json: a plan or one ConfigError line', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fuzz-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.json');
  const mount = fc.record(
    {
      mountPoint: fc.oneof(fc.string(), fc.constantFrom('minio://bucket', 's3://my-bucket/pre/fix', 'minio://', 's3://A_B'), fc.integer()),
      name: fc.oneof(fc.string(), fc.constant(undefined)),
      path: fc.oneof(fc.string(), fc.constantFrom('/', '/a/b', '..', ''), fc.constant(null)),
      readOnly: fc.oneof(fc.boolean(), fc.string()),
      options: fc.oneof(
        fc.dictionary(
          fc.oneof(fc.string(), fc.constantFrom('minio-url', 'endpoint', 'cache-size', 'uid', 'file-mode', 'ro')),
          fc.oneof(fc.string(), fc.integer(), fc.boolean()),
        ),
        fc.anything(),
      ),
    },
    { requiredKeys: [] },
  );
  const config = fc.oneof(
    fc.anything(),
    fc.record(
      {
        mounts: fc.oneof(fc.array(mount, { maxLength: 3 }), fc.anything()),
        targetPath: fc.oneof(fc.string(), fc.constant('/tmp/fuzz-target')),
        runtimeOptions: fc.oneof(fc.dictionary(fc.string(), fc.string()), fc.anything()),
        accessModes: fc.oneof(fc.array(fc.string()), fc.anything()),
      },
      { requiredKeys: [] },
    ),
  );
  // Near-valid configs, so that option values and layouts get exercised past the shape checks.
  const nearValid = fc.record({
    mounts: fc.array(
      fc.record({
        mountPoint: fc.constantFrom('minio://bucket', 's3://my-bucket/pre/fix', 's3://other'),
        name: fc.constantFrom('a', 'b', 'minio'),
        path: fc.constantFrom('', '/', '/x', '/x/y'),
        options: fc.dictionary(
          fc.constantFrom('minio-url', 'endpoint', 'cache-size', 'uid', 'file-mode', 'ro', 'stat-cache-ttl', 'part-size', 'metrics-address', 'bogus'),
          fc.oneof(fc.string(), fc.constantFrom('http://127.0.0.1:9000', '1m', '64MiB', '0644', 'true', 'off', '0.0.0.0:1')),
        ),
      }),
      { minLength: 1, maxLength: 3 },
    ),
    targetPath: fc.constant('/tmp/fuzz-target'),
    accessModes: fc.constantFrom(['ReadOnlyMany'], ['ReadWriteMany'], []),
  });
  const text = fc.oneof(
    nearValid.map((c) => JSON.stringify(c)),
    nearValid.map((c) => JSON.stringify(c)),
    config.map((c) => JSON.stringify(c) ?? 'undefined'),
    fc.string(),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
  );
  let plans = 0;
  let errors = 0;
  await fc.assert(
    fc.asyncProperty(text, fc.string({ maxLength: 40 }), async (body, mountOptions) => {
      await writeFile(file, body);
      try {
        await loadFluidPlan({ kind: 'fluid', configPath: file, flags: {} }, { env: { MOUNT_OPTIONS: mountOptions }, memoryLimitBytes: null });
        plans++;
        return true;
      } catch (err) {
        errors++;
        return oneLine(err);
      }
    }),
    { numRuns: 400, seed: 20261128 },
  );
  t.ok(errors > 0 && plans > 0, `${errors} rejected, ${plans} accepted`);
});

t.test('any argv: a command or one ConfigError line', async (t) => {
  const word = fc.oneof(
    fc.string(),
    fc.constantFrom('mount', 'check', '--config', '-o', '--endpoint', '--read-only', '--help', '-V', '--', 's3://b', '/mnt', '--uid=5', '-ouid=1,ro'),
  );
  fc.assert(
    fc.property(fc.array(word, { maxLength: 8 }), (argv) => {
      try {
        parseArgv(argv);
        return true;
      } catch (err) {
        return oneLine(err);
      }
    }),
    { numRuns: 2000, seed: 20261128 },
  );
  t.pass('2000 argv vectors');
});
