/**
 * Bad input and bad servers: one line on stderr that names the mount, the option or the file,
 * a non-zero exit within 30 s, no stack trace, and never a secret value anywhere in the output.
 */
import { createServer, type Socket } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { isMounted, startAgent, tempDir, writeJson } from './helpers/agent.js';
import { createTestBucket, makeClient, s3Env } from './helpers/s3.js';

const SECRET = 'S3cr3t-never-print-me-9f8e7d';

interface Case {
  /** The config, or a function of the secrets folder that makes it. */
  config?: unknown;
  configText?: string;
  args?: string[];
  secrets?: Record<string, string>;
}

async function expectFailure(t: Test, c: Case, mention: RegExp[]): Promise<string> {
  const dir = await tempDir(t, 'bad');
  const secretsRoot = join(dir, 'secrets');
  for (const [rel, value] of Object.entries(c.secrets ?? {})) {
    await mkdir(join(secretsRoot, rel, '..'), { recursive: true });
    await writeFile(join(secretsRoot, rel), value);
  }
  const configPath = join(dir, 'config.json');
  if (c.configText !== undefined) await writeFile(configPath, c.configText);
  else if (c.config !== undefined)
    await writeJson(configPath, typeof c.config === 'function' ? (c.config as (root: string) => unknown)(secretsRoot) : c.config);
  const target = join(dir, 'mnt');
  const agent = startAgent(t, {
    args: c.args ?? ['--config', configPath],
    target,
    env: { FLUID_S3_FUSE_SECRETS_ROOT: secretsRoot, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, MOUNT_OPTIONS: undefined },
  });
  const exit = await agent.exited(35_000);
  const err = agent.stderr();
  t.not(exit.code, 0, 'non-zero exit');
  t.ok(exit.afterMs < 30_000, `exited within 30 s (${exit.afterMs} ms)`);
  t.equal(err.trim().split('\n').length, 1, `one line on stderr: ${err.trim()}`);
  t.notMatch(err, /\n\s+at /, 'no stack trace');
  for (const m of mention) t.match(err, m, `names ${m}`);
  t.notMatch(agent.stdout() + err, new RegExp(SECRET), 'no secret in any output');
  t.equal(await isMounted(target), undefined, 'nothing mounted');
  return err;
}

function fluidConfig(options: Record<string, string>, mountPoint = 'minio://bucket', target = '/tmp/never-used'): unknown {
  return { mounts: [{ mountPoint, name: 'minio', options }], targetPath: target, accessModes: ['ReadOnlyMany'] };
}

t.test('a config file that does not exist', async (t) => {
  await expectFailure(t, { args: ['--config', '/nonexistent/fluid/config.json'] }, [/\/nonexistent\/fluid\/config\.json/]);
});

t.test('a config file that is not JSON', async (t) => {
  await expectFailure(t, { configText: '{"mounts": [' }, [/config\.json/, /JSON|parse/i]);
});

// A config without mounts is no longer bad input (issue 10: Fluid writes `[]` for a Dataset without
// mounts): the agent serves an empty root; see live-config.test.ts.

t.test('a minio:// mount without an endpoint', async (t) => {
  await expectFailure(t, { config: fluidConfig({ 'minio-access-key': 'k', 'minio-access-secret': SECRET }) }, [/mount "minio"/, /minio-url|endpoint/]);
});

t.test('a secret file that cannot be read', async (t) => {
  await expectFailure(
    t,
    {
      secrets: { 'minio-secret/minio-access-secret': SECRET },
      config: (root: string) =>
        fluidConfig({
          'minio-url': s3Env().endpoint,
          'minio-access-key': join(root, 'minio-secret', 'minio-access-key'),
          'minio-access-secret': join(root, 'minio-secret', 'minio-access-secret'),
        }),
    },
    [/mount "minio"/, /minio-access-key/, /minio-secret\/minio-access-key/, /ENOENT/],
  );
});

t.test('wrong credentials', async (t) => {
  const bucket = await createTestBucket(t, 'badcreds', makeClient());
  await expectFailure(
    t,
    {
      config: fluidConfig({ 'minio-url': s3Env().endpoint, 'minio-access-key': 'testkey', 'minio-access-secret': SECRET }, `minio://${bucket}`),
    },
    [/mount "minio"/, /minio-access-key/, /403|refused|denied/i],
  );
});

t.test('#11 a key option that is a file path outside the secrets folder: the HTTP status (RGW: 400) and a hint, never UnknownError', async (t) => {
  const bucket = await createTestBucket(t, 'pathkey', makeClient());
  const dir = await tempDir(t, 'pathkey');
  const keyFile = join(dir, 'access-key');
  await writeFile(keyFile, s3Env().accessKeyId);
  const err = await expectFailure(
    t,
    { config: fluidConfig({ 'minio-url': s3Env().endpoint, 'minio-access-key': keyFile, 'minio-access-secret': SECRET }, `minio://${bucket}`) },
    [/mount "minio"/, /HTTP 4\d\d/, /option "minio-access-key" looks like a file path but was used as the key itself/, /secrets folder/],
  );
  t.notMatch(err, /Unknown/, 'never UnknownError');
});

t.test('a bucket that does not exist', async (t) => {
  const env = s3Env();
  await expectFailure(
    t,
    {
      config: fluidConfig(
        { 'minio-url': env.endpoint, 'minio-access-key': env.accessKeyId, 'minio-access-secret': env.secretAccessKey },
        'minio://no-such-bucket-here',
      ),
    },
    [/mount "minio"/, /no-such-bucket-here/, /does not exist/],
  );
});

t.test('an endpoint that accepts connections but never answers', async (t) => {
  const sockets = new Set<Socket>();
  const server = createServer((s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const port = (server.address() as { port: number }).port;
  await expectFailure(t, { config: fluidConfig({ 'minio-url': `http://127.0.0.1:${port}`, 'minio-access-key': 'k', 'minio-access-secret': SECRET }) }, [
    /mount "minio"/,
    new RegExp(`127\\.0\\.0\\.1:${port}`),
    /does not answer/,
  ]);
});

t.test('an endpoint where nothing listens', async (t) => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  await expectFailure(t, { config: fluidConfig({ 'minio-url': `http://127.0.0.1:${port}`, 'minio-access-key': 'k', 'minio-access-secret': SECRET }) }, [
    /mount "minio"/,
    /does not answer/,
  ]);
});

t.test('a debug mount with an unknown command', async (t) => {
  await expectFailure(t, { args: ['frobnicate'] }, [/frobnicate/, /--help/]);
});
