/**
 * The mount's life as Fluid drives it: ready in mountinfo with a FUSE subtype within 5 s, exit 0
 * on SIGTERM/SIGINT (lazily if busy) and on `umount targetPath` from outside, and a fresh start
 * over the stale mount a SIGKILL leaves behind.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { isMounted, run, sleep, startAgent, tempDir } from './helpers/agent.js';
import { createTestBucket, makeClient, putObjects, s3Env } from './helpers/s3.js';

async function setup(t: Test) {
  const client = makeClient();
  const bucket = await createTestBucket(t, 'lifecycle', client);
  await putObjects(client, bucket, { testfile: 'fluid-minio-test' });
  const root = await tempDir(t, 'life');
  const env = s3Env();
  const start = (target = join(root, 'mnt')) =>
    startAgent(t, {
      args: ['mount', `s3://${bucket}`, target, '--endpoint', env.endpoint],
      target,
      env: { AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey },
    });
  return { start, target: join(root, 'mnt') };
}

t.test('mounted with type fuse.fluid-s3, and SIGTERM unmounts and exits 0', async (t) => {
  const { start, target } = await setup(t);
  const began = Date.now();
  const agent = start();
  const type = await agent.mounted();
  t.equal(type, 'fuse.fluid-s3');
  // How fast is the bench's business (a loaded machine takes longer); here it is only reported.
  t.pass(`ready in ${Date.now() - began} ms`);
  t.match(agent.stdout(), /"msg":"mounted"/, 'logs "mounted" as JSON');
  t.equal((await run('cat', [`${target}/testfile`])).stdout, 'fluid-minio-test');
  agent.child.kill('SIGTERM');
  const exit = await agent.exited(5000);
  t.equal(exit.code, 0);
  t.equal(await isMounted(target), undefined, 'unmounted');
});

t.test('SIGINT exits 0 and unmounts', async (t) => {
  const { start, target } = await setup(t);
  const agent = start();
  await agent.mounted();
  agent.child.kill('SIGINT');
  t.equal((await agent.exited(5000)).code, 0);
  t.equal(await isMounted(target), undefined);
});

t.test('SIGTERM while a file is open: lazy unmount, exit 0', async (t) => {
  const { start, target } = await setup(t);
  const agent = start();
  await agent.mounted();
  const holder = spawn('sh', ['-c', `exec 3< "${target}/testfile"; exec sleep 30`], { stdio: 'ignore' });
  t.teardown(() => holder.kill('SIGKILL'));
  await sleep(300);
  agent.child.kill('SIGTERM');
  t.equal((await agent.exited(5000)).code, 0);
  t.equal(await isMounted(target), undefined, 'detached from the tree');
});

t.test('umount from outside (Fluid preStop): exit 0 within 5 s', async (t) => {
  const { start, target } = await setup(t);
  const agent = start();
  await agent.mounted();
  const u = await run('umount', [target]);
  t.equal(u.code, 0, u.stderr);
  const exit = await agent.exited(5000);
  t.equal(exit.code, 0);
  t.match(agent.stdout(), /unmounted from outside/);
});

t.test('SIGKILL leaves a stale mount; a new start mounts over it and serves', async (t) => {
  const { start, target } = await setup(t);
  const first = start();
  await first.mounted();
  first.child.kill('SIGKILL');
  await first.exited(5000);
  t.ok(await isMounted(target), 'the dead mount is still there');
  const stale = await run('ls', [target], { timeoutMs: 5000 });
  t.match(stale.stderr, /Transport endpoint is not connected/);
  const second = start();
  await second.mounted();
  t.match(second.stdout(), /stale mount/);
  t.equal((await run('cat', [`${target}/testfile`])).stdout, 'fluid-minio-test');
  second.child.kill('SIGTERM');
  t.equal((await second.exited(5000)).code, 0);
  t.equal(await isMounted(target), undefined, 'nothing left mounted');
});
