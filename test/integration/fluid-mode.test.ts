/**
 * The Fluid entrypoint's config handling: config.json and secret values, MOUNT_OPTIONS,
 * runtimeOptions, accessModes and several mounts. The no-argument start in a container-like
 * namespace (/etc/fluid, tini, MOUNT_POINT) is in container-contract.test.ts.
 */
import { join } from 'node:path';
import t from 'tap';
import { run, startAgent, tempDir } from './helpers/agent.js';
import { writeConfig } from './helpers/fluid-layout.js';
import { createTestBucket, makeClient, putObjects, s3Env } from './helpers/s3.js';

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
  const config = await writeConfig(
    dir,
    {
      mounts: [
        {
          mountPoint: `minio://${bucket}`,
          name: 'minio',
          options: { 'minio-url': env.endpoint, 'minio-access-key': env.accessKeyId, 'minio-access-secret': env.secretAccessKey },
        },
      ],
      targetPath: target,
    },
    true,
  );
  const agent = startAgent(t, { args: ['--config', config], target, env: { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined } });
  await agent.mounted();
  t.equal((await run('cat', [`${target}/testfile`])).stdout, 'old-layout');
  t.notMatch(agent.stdout() + agent.stderr(), new RegExp(env.secretAccessKey), 'the secret is not logged');
});
