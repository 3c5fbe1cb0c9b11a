/**
 * A secret never reaches a log, an error message or a metric: every path below runs with
 * --log-level debug (stack traces and request details included), and everything the agent
 * printed or served is searched for the secret values it was given.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { run, sleep, startAgent, tempDir, writeJson } from './helpers/agent.js';
import { createTestBucket, makeClient, putObjects, s3Env } from './helpers/s3.js';

const WRONG_SECRET = 'wr0ng-S3CRET-value-7a1c9e';

function assertClean(t: Test, where: string, text: string, secrets: readonly string[]): void {
  for (const s of secrets) t.notOk(text.includes(s), `${where}: does not contain a configured secret (${s.length} chars)`);
}

async function fluidConfig(t: Test, options: Record<string, string>, mountPoint: string): Promise<{ config: string; target: string; secretsRoot: string }> {
  const dir = await tempDir(t, 'secrets');
  const secretsRoot = join(dir, 'secrets');
  await mkdir(join(secretsRoot, 's'), { recursive: true });
  const resolved: Record<string, string> = {};
  for (const [k, v] of Object.entries(options)) {
    if (k.includes('access')) {
      await writeFile(join(secretsRoot, 's', k), `${v}\n`);
      resolved[k] = join(secretsRoot, 's', k);
    } else resolved[k] = v;
  }
  const target = join(dir, 'mnt');
  const config = await writeJson(join(dir, 'config.json'), { mounts: [{ mountPoint, name: 'm', options: resolved }], targetPath: target });
  return { config, target, secretsRoot };
}

t.test('wrong keys at start: the error line and the logs hold no secret', async (t) => {
  const env = s3Env();
  const bucket = await createTestBucket(t, 'secrets-wrong', makeClient());
  const c = await fluidConfig(t, { 'minio-url': env.endpoint, 'minio-access-key': env.accessKeyId, 'minio-access-secret': WRONG_SECRET }, `minio://${bucket}`);
  const agent = startAgent(t, {
    args: ['--config', c.config, '--log-level', 'debug'],
    target: c.target,
    env: { FLUID_S3_FUSE_SECRETS_ROOT: c.secretsRoot, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined },
  });
  const exit = await agent.exited(35_000);
  t.not(exit.code, 0);
  t.match(agent.stderr(), /S3 refused/);
  assertClean(t, 'stderr (with stack)', agent.stderr(), [WRONG_SECRET]);
  assertClean(t, 'stdout', agent.stdout(), [WRONG_SECRET]);
});

t.test('a running mount: debug logs, errors, counters and /metrics hold no secret', async (t) => {
  const env = s3Env();
  const client = makeClient();
  const bucket = await createTestBucket(t, 'secrets-run', client);
  await putObjects(client, bucket, { 'a.txt': 'a', 'd/b.txt': 'b' });
  const c = await fluidConfig(
    t,
    { 'minio-url': env.endpoint, 'minio-access-key': env.accessKeyId, 'minio-access-secret': env.secretAccessKey },
    `minio://${bucket}`,
  );
  const agent = startAgent(t, {
    args: ['--config', c.config, '--log-level', 'debug', '--metrics-address', '127.0.0.1:0'],
    target: c.target,
    env: { FLUID_S3_FUSE_SECRETS_ROOT: c.secretsRoot, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined },
  });
  await agent.mounted();
  await run('cat', [`${c.target}/a.txt`]);
  await run('ls', ['-lR', c.target]);
  await run('stat', [`${c.target}/missing`]); // ENOENT, logged at debug
  await run('touch', [`${c.target}/new`]); // EROFS
  agent.child.kill('SIGUSR1');
  const port = /"address":"127\.0\.0\.1:(\d+)","msg":"metrics listener up"/.exec(agent.stdout())?.[1];
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  await sleep(200);
  agent.child.kill('SIGTERM');
  await agent.exited(5000);
  assertClean(t, 'stdout (debug logs)', agent.stdout(), [env.secretAccessKey]);
  assertClean(t, 'stderr', agent.stderr(), [env.secretAccessKey]);
  assertClean(t, '/metrics', metrics, [env.secretAccessKey]);
  t.match(agent.stdout(), /"errno":"ENOENT"/, 'debug logs were on');
});
