/**
 * The Fluid entrypoint: the agent run as the ThinRuntime image runs it, reading config.json and
 * secret files, honouring MOUNT_OPTIONS, runtimeOptions, accessModes and several mounts.
 */
import { existsSync } from 'node:fs';
import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { CLI, run, startAgent, tempDir } from './helpers/agent.js';
import { writeConfig, writeSecret } from './helpers/fluid-layout.js';
import { createTestBucket, makeClient, putObjects, s3Env } from './helpers/s3.js';

t.test('no arguments: /etc/fluid/config/config.json with secret files, in a private mount namespace', async (t) => {
  const env = s3Env();
  const client = makeClient();
  const bucket = await createTestBucket(t, 'fluid-noargs', client);
  await putObjects(client, bucket, { testfile: 'fluid-minio-test' });
  const etc = await tempDir(t, 'etc-fluid');
  await writeSecret(etc, 'minio-secret', { 'minio-access-key': `${env.accessKeyId}\n`, 'minio-access-secret': `${env.secretAccessKey}\n` });
  const target = join(etc, 'runtime-mnt', 'thin', 'default', 'minio-demo', 'thin-fuse');
  await writeConfig(etc, {
    mounts: [{
      mountPoint: `minio://${bucket}`,
      options: {
        'minio-access-key': '/etc/fluid/secrets/minio-secret/minio-access-key',
        'minio-access-secret': '/etc/fluid/secrets/minio-secret/minio-access-secret',
        'minio-url': env.endpoint,
      },
      name: 'minio',
    }],
    targetPath: target,
    accessModes: ['ReadOnlyMany'],
  });
  // /etc/fluid is replaced by our folder only inside the agent's own mount namespace.
  const created = !existsSync('/etc/fluid');
  if (created) await mkdir('/etc/fluid');
  t.teardown(async () => {
    if (created) await rmdir('/etc/fluid').catch(() => undefined);
  });
  const agent = startAgent(t, {
    command: 'unshare',
    args: ['-m', '--propagation', 'private', 'sh', '-c', `mount --bind "${etc}" /etc/fluid && exec "${process.execPath}" "${CLI}"`],
    target,
    ownMountNamespace: true,
    env: { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, MOUNT_OPTIONS: 'file-mode=0640,uid=1234', MOUNT_POINT: target },
  });
  t.equal(await agent.mounted(10_000), 'fuse.fluid-s3');
  const inNs = (cmd: string, ...args: string[]) => run('nsenter', ['-t', String(agent.child.pid), '-m', '--', cmd, ...args]);
  t.equal((await inNs('cat', `${target}/testfile`)).stdout, 'fluid-minio-test');
  t.equal((await inNs('stat', '-c', '%u %a', `${target}/testfile`)).stdout.trim(), '1234 640', 'MOUNT_OPTIONS honoured');
  const touch = await inNs('touch', `${target}/new`);
  t.match(touch.stderr, /Read-only file system/, 'ReadOnlyMany is read-only');
  agent.child.kill('SIGTERM');
  t.equal((await agent.exited(5000)).code, 0);
});

t.test('--config: several mounts as folders, literal secrets, runtimeOptions and per-mount options', async (t) => {
  const env = s3Env();
  const client = makeClient();
  const a = await createTestBucket(t, 'fluid-a', client);
  const b = await createTestBucket(t, 'fluid-b', client);
  await putObjects(client, a, { 'a.txt': 'from a' });
  await putObjects(client, b, { 'sub/b.txt': 'from b', 'outside.txt': 'hidden' });
  const dir = await tempDir(t, 'fluid-multi');
  const target = join(dir, 'mnt');
  const creds = { 'access-key-id': env.accessKeyId, 'secret-access-key': env.secretAccessKey };
  const config = await writeConfig(dir, {
    mounts: [
      { mountPoint: `minio://${a}`, name: 'alpha', options: { ...creds } },
      { mountPoint: `s3://${b}/sub`, name: 'beta', path: '/data/beta', options: { ...creds, 'file-mode': '0600' } },
    ],
    targetPath: target,
    runtimeOptions: { endpoint: env.endpoint, 'file-mode': '0444' },
    accessModes: ['ReadWriteMany'],
  });
  const agent = startAgent(t, { args: ['--config', config], target, env: { MOUNT_OPTIONS: 'file-mode=0777,some-unknown-key=1' } });
  await agent.mounted();
  t.same((await run('ls', ['-1', target])).stdout.trim().split('\n'), ['alpha', 'data']);
  t.same((await run('ls', ['-1', `${target}/data`])).stdout.trim().split('\n'), ['beta']);
  t.equal((await run('cat', [`${target}/alpha/a.txt`])).stdout, 'from a');
  t.equal((await run('cat', [`${target}/data/beta/b.txt`])).stdout, 'from b');
  t.same((await run('ls', ['-1', `${target}/data/beta`])).stdout.trim().split('\n'), ['b.txt'], 'prefix hides the rest');
  const modes = await run('stat', ['-c', '%a', `${target}/alpha/a.txt`, `${target}/data/beta/b.txt`]);
  t.same(modes.stdout.trim().split('\n'), ['444', '600'], 'runtimeOptions over MOUNT_OPTIONS, mount options over both');
  t.match(agent.stdout(), /some-unknown-key/, 'unknown option warned about');
  t.match(agent.stdout(), /"level":"warn"/);
});

t.test('older Fluid: /etc/fluid/config.json shape with literal secret values (--config)', async (t) => {
  const env = s3Env();
  const client = makeClient();
  const bucket = await createTestBucket(t, 'fluid-old', client);
  await putObjects(client, bucket, { testfile: 'old-layout' });
  const dir = await tempDir(t, 'fluid-old');
  const target = join(dir, 'mnt');
  const config = await writeConfig(dir, {
    mounts: [{ mountPoint: `minio://${bucket}`, name: 'minio', options: { 'minio-url': env.endpoint, 'minio-access-key': env.accessKeyId, 'minio-access-secret': env.secretAccessKey } }],
    targetPath: target,
  }, true);
  const agent = startAgent(t, { args: ['--config', config], target, env: { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined } });
  await agent.mounted();
  t.equal((await run('cat', [`${target}/testfile`])).stdout, 'old-layout');
  t.notMatch(agent.stdout() + agent.stderr(), new RegExp(env.secretAccessKey), 'the secret is not logged');
});
