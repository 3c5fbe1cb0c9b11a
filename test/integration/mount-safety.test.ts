/**
 * Issue 8 through the kernel: what at targetPath is ours to touch (#2), symlinked mount points
 * (#8), child processes never see the keys (#12), /healthz costs one child per second at most
 * (#7), an error nobody handled never takes a live mount down (the process guard), and a df
 * during an S3 outage is served, never fatal (#1).
 */
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { isMounted, run, startAgent, tempDir, type Agent } from './helpers/agent.js';
import { createTestBucket, makeClient, putObjects, s3Env } from './helpers/s3.js';
import { startFaultProxy } from './helpers/fault-proxy.js';

const FS_TYPE = 'fuse.fluid-s3';

async function bucketWithFile(t: Test, hint: string): Promise<string> {
  const client = makeClient();
  t.teardown(() => client.destroy());
  const bucket = await createTestBucket(t, hint, client);
  await putObjects(client, bucket, { testfile: 'fluid-minio-test', 'data/a.txt': 'aaa' });
  return bucket;
}

function agentFor(
  t: Test,
  bucket: string,
  target: string,
  extra: readonly string[] = [],
  env: Record<string, string> = {},
  endpoint = s3Env().endpoint,
): Agent {
  const s3 = s3Env();
  return startAgent(t, {
    args: ['mount', `s3://${bucket}`, target, '--endpoint', endpoint, ...extra],
    target,
    env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, ...env },
  });
}

function logLines(agent: Agent): Record<string, unknown>[] {
  return agent
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Resolves when a log line matching `pred` shows (the agent logs synchronously). */
async function logged(agent: Agent, pred: (l: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = logLines(agent).find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`no such log line within ${timeoutMs} ms`);
    await new Promise<void>((r) => agent.child.stdout?.once('data', () => r()) ?? setTimeout(r, 50));
  }
}

t.test('#2 a tmpfs at targetPath is never touched: one line, exit 1, its file still there', async (t) => {
  const bucket = await bucketWithFile(t, 'safety-tmpfs');
  const root = await tempDir(t, 'tmpfs');
  const target = join(root, 'mnt');
  await mkdir(target);
  t.equal((await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', target])).code, 0, 'tmpfs mounted');
  t.teardown(() => run('umount', ['-l', target]));
  await writeFile(join(target, 'precious'), 'keep me');
  const agent = agentFor(t, bucket, target);
  const exit = await agent.exited(15_000);
  t.equal(exit.code, 1, 'refuses with exit 1');
  const lines = agent.stderr().trim().split('\n');
  t.equal(lines.length, 1, `one line: ${agent.stderr().trim()}`);
  t.match(lines[0], /targetPath .*: already a mount point \(tmpfs from tmpfs\) that is not a fluid-s3-fuse mount; refusing to touch it/);
  t.equal(await isMounted(target), 'tmpfs', 'the tmpfs is still mounted');
  t.equal(await readFile(join(target, 'precious'), 'utf8'), 'keep me', 'and its file is still there');
});

t.test('#2 a second agent on a live mount refuses; the first keeps serving', async (t) => {
  const bucket = await bucketWithFile(t, 'safety-second');
  const root = await tempDir(t, 'second');
  const target = join(root, 'mnt');
  const first = agentFor(t, bucket, target);
  await first.mounted();
  const second = agentFor(t, bucket, target);
  const exit = await second.exited(15_000);
  t.equal(exit.code, 1);
  t.match(second.stderr(), /another fluid-s3-fuse agent is serving a live mount there; refusing to start over it/);
  t.equal(second.stderr().trim().split('\n').length, 1, 'one line');
  t.equal(first.child.exitCode, null, 'the first agent still runs');
  t.equal((await run('cat', [`${target}/testfile`])).stdout, 'fluid-minio-test', 'and its mount serves');
  first.child.kill('SIGTERM');
  t.equal((await first.exited(5000)).code, 0);
});

t.test('#2 the mount of a dead agent is cleared even while the kernel still caches the attributes of its root', async (t) => {
  const bucket = await bucketWithFile(t, 'safety-dead');
  const root = await tempDir(t, 'dead');
  const target = join(root, 'mnt');
  // attr-timeout 60s: the kernel answers a stat of the root from its cache for a minute, dead
  // agent or not; only a request that reaches the agent (statfs) tells the two apart.
  const first = agentFor(t, bucket, target, ['--attr-timeout', '60s']);
  await first.mounted();
  t.equal((await run('stat', ['-c', '%i', target])).code, 0, 'the root stat is cached now');
  first.child.kill('SIGKILL');
  await first.exited(5000);
  t.equal((await run('stat', ['-c', '%i', target])).code, 0, 'a plain stat still answers from the cache');
  t.match((await run('ls', [target])).stderr, /Transport endpoint is not connected/, 'but the mount is dead');
  const second = agentFor(t, bucket, target);
  await second.mounted();
  t.ok(
    logLines(second).some((l) => l['msg'] === 'clearing a stale mount of a dead agent at targetPath (ENOTCONN)'),
    'the second agent cleared the dead mount',
  );
  t.equal((await run('cat', [`${target}/testfile`])).stdout, 'fluid-minio-test', 'and serves');
  second.child.kill('SIGTERM');
  t.equal((await second.exited(5000)).code, 0);
});

t.test('#8 a symlinked mount point: mounted at the real path, served, unmounted on exit', async (t) => {
  const bucket = await bucketWithFile(t, 'safety-symlink');
  const root = await tempDir(t, 'symlink');
  const real = join(root, 'real');
  await mkdir(real);
  const link = join(root, 'link');
  await symlink(real, link);
  const agent = startAgent(t, {
    args: ['mount', `s3://${bucket}`, link, '--endpoint', s3Env().endpoint],
    target: real, // what the helper checks in mountinfo and unmounts in teardown
    env: { AWS_ACCESS_KEY_ID: s3Env().accessKeyId, AWS_SECRET_ACCESS_KEY: s3Env().secretAccessKey },
  });
  t.equal(await agent.mounted(), FS_TYPE, 'mountinfo shows the real path');
  t.equal((await run('cat', [`${link}/testfile`])).stdout, 'fluid-minio-test', 'served through the link');
  const check = await run(process.execPath, [join(import.meta.dirname, '../../dist/src/cli.js'), 'check', link]);
  t.equal(check.code, 0, `check through the link: ${check.stdout.trim()}${check.stderr.trim()}`);
  agent.child.kill('SIGTERM');
  t.equal((await agent.exited(5000)).code, 0, 'exit 0');
  t.equal(await isMounted(real), undefined, 'nothing left mounted');
});

t.test('#12 #7 child processes never see the keys; a burst of /healthz runs few children', async (t) => {
  const bucket = await bucketWithFile(t, 'safety-env');
  const root = await tempDir(t, 'env');
  const bin = join(root, 'bin');
  await mkdir(bin);
  const record = join(root, 'children.log');
  // Wrappers that log who ran and with which environment, then run the real tool.
  for (const tool of ['stat', 'fusermount', 'realpath', 'mkdir']) {
    const realTool = (await run('sh', ['-c', `command -v ${tool}`])).stdout.trim();
    await writeFile(join(bin, tool), `#!/bin/sh\n{ echo "== ${tool}"; env; } >> "${record}"\nexec ${realTool} "$@"\n`);
    await chmod(join(bin, tool), 0o755);
  }
  const target = join(root, 'mnt');
  const agent = agentFor(t, bucket, target, ['--metrics-address', '127.0.0.1:0'], { PATH: `${bin}:${process.env.PATH ?? ''}` });
  await agent.mounted();
  const up = await logged(agent, (l) => l.msg === 'metrics listener up');
  const url = `http://${String(up.address)}/healthz`;
  const before = (await readFile(record, 'utf8')).split('\n').filter((l) => l === '== stat').length;
  const answers = await Promise.all(Array.from({ length: 50 }, () => fetch(url).then((r) => r.status)));
  t.same([...new Set(answers)], [200], '50 concurrent /healthz answered 200');
  const stats = (await readFile(record, 'utf8')).split('\n').filter((l) => l === '== stat').length - before;
  t.ok(stats >= 1 && stats <= 2, `50 requests ran ${stats} stat child(ren)`);
  agent.child.kill('SIGTERM');
  t.equal((await agent.exited(5000)).code, 0);
  const seen = await readFile(record, 'utf8');
  t.match(seen, /== fusermount/, 'the unmount ran through the wrapper');
  t.notMatch(seen, /AWS_|SECRET/, 'no AWS_* variable reached any child');
  t.notOk(seen.includes(s3Env().secretAccessKey), 'nor the secret itself');
});

t.test('process guard: an unhandled rejection and an uncaught exception on a live mount are logged, counted, and the mount serves', async (t) => {
  const bucket = await bucketWithFile(t, 'safety-guard');
  const root = await tempDir(t, 'guard');
  const target = join(root, 'mnt');
  const agent = agentFor(t, bucket, target, ['--metrics-address', '127.0.0.1:0'], { FLUID_S3_FUSE_TEST_FAULTS: 'unhandled-rejection,uncaught-exception' });
  await agent.mounted();
  const rejection = await logged(agent, (l) => l.kind === 'unhandled-rejection');
  const exception = await logged(agent, (l) => l.kind === 'uncaught-exception');
  t.equal(rejection.level, 'error');
  t.match(String(rejection.msg), /still serving/);
  t.match(JSON.stringify(exception.err), /injected uncaught exception/);
  t.equal(agent.child.exitCode, null, 'the agent is still running');
  t.equal((await run('cat', [`${target}/testfile`])).stdout, 'fluid-minio-test', 'and its mount serves');
  const up = await logged(agent, (l) => l.msg === 'metrics listener up');
  const metrics = await (await fetch(`http://${String(up.address)}/metrics`)).text();
  t.match(metrics, /fluid_s3_fuse_internal_errors_total\{kind="unhandled-rejection"\} 1/);
  t.match(metrics, /fluid_s3_fuse_internal_errors_total\{kind="uncaught-exception"\} 1/);
  agent.child.kill('SIGTERM');
  t.equal((await agent.exited(5000)).code, 0);
});

t.test('#1 df during an S3 outage past the scan age: served from the last total, never fatal', async (t) => {
  const bucket = await bucketWithFile(t, 'safety-df');
  const proxy = await startFaultProxy({ target: s3Env().endpoint, seed: 1 });
  t.teardown(() => proxy.close());
  const root = await tempDir(t, 'df');
  const target = join(root, 'mnt');
  const agent = agentFor(t, bucket, target, ['--df-scan-interval', '1s', '--request-timeout', '1s', '--log-level', 'debug'], {}, proxy.url);
  await agent.mounted(15_000);
  const used = async (): Promise<string> => {
    const r = await run('df', ['--block-size=1', '--output=used', target], { timeoutMs: 15_000 });
    return r.code === 0 ? (r.stdout.trim().split('\n')[1] ?? '').trim() : `error: ${r.stderr.trim()}`;
  };
  t.equal(await used(), String('fluid-minio-test'.length + 'aaa'.length), "df Used is the objects' total while up");
  await proxy.down('refuse');
  const failedBefore = logLines(agent).filter((l) => String(l.msg).includes('df scan failed')).length;
  for (let i = 0; i < 4; i++) {
    // Each df comes after the last scan is older than df-scan-interval (a real second: this is
    // the agent's own clock), so each starts a scan that fails.
    await new Promise((r) => setTimeout(r, 1100));
    t.equal(await used(), '19', `df ${i + 1} during the outage answers the last total`);
  }
  await logged(
    agent,
    (l) => String(l.msg).includes('df scan failed') && logLines(agent).filter((x) => String(x.msg).includes('df scan failed')).length > failedBefore,
  );
  t.equal(agent.child.exitCode, null, 'the agent is still running');
  await proxy.up();
  // The first requests after the outage may still meet a connection the outage broke (and with
  // request-timeout 1s there is no time for a retry): the mount must serve again, soon.
  const upAt = Date.now();
  let served = '';
  const failures: string[] = [];
  while (served !== 'fluid-minio-test' && Date.now() - upAt < 15_000) {
    const r = await run('cat', [`${target}/testfile`], { timeoutMs: 15_000 });
    served = r.stdout;
    if (r.code !== 0) failures.push(r.stderr.trim());
  }
  t.equal(
    served,
    'fluid-minio-test',
    `the mount serves after the outage (after ${Date.now() - upAt} ms; ${failures.length} failed first: ${failures.join(' | ')})`,
  );
  t.notMatch(failures.join('\n'), /No such file/, 'an outage never turns into ENOENT');
  agent.child.kill('SIGTERM');
  t.equal((await agent.exited(5000)).code, 0);
});
