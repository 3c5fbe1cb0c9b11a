/**
 * The container contract (issue 4), tested on this machine: the agent started exactly as the
 * image's ENTRYPOINT starts it (`tini -g -- node dist/src/cli.js`, no arguments), in a mount
 * namespace of its own whose /etc/fluid is laid out as Fluid and the kubelet lay it out, with
 * MOUNT_POINT and MOUNT_OPTIONS as Fluid sets them (MOUNT_OPTIONS from the profile this
 * project ships, docker/thinruntimeprofile.yaml), driven as Fluid drives it: the readiness
 * check on mountinfo, preStop's `umount`, SIGTERM, SIGKILL and a restart, a rotated secret,
 * and the metadata sync's `df`. See helpers/container.ts for how the "container" is built.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import t, { type Test } from 'tap';
import { fluidContainer, radosgwAdmin, readProfile, waitFor, type Container, type ContainerAgent, type Profile } from './helpers/container.js';
import { writeConfig, writeSecret } from './helpers/fluid-layout.js';
import { createTestBucket, makeClient, putObjects, s3Env } from './helpers/s3.js';

const profile: Profile = await readProfile();
/** MOUNT_OPTIONS as Fluid builds it from the profile; the metrics listener kept off the host's shared port. */
const mountOptions = (extra = ''): string => [profile.mountOptions, 'metrics-address=127.0.0.1:0', extra].filter(Boolean).join(',');

const SECRET_DIR = '/etc/fluid/secrets';

/** The seed's MinIO demo config (Fluid ≥ 1.0.1): secret options point at the secret files. */
function demoConfig(c: Container, bucket: string, secret: string): unknown {
  return {
    mounts: [
      {
        mountPoint: `minio://${bucket}`,
        options: {
          'minio-access-key': `${SECRET_DIR}/${secret}/minio-access-key`,
          'minio-access-secret': `${SECRET_DIR}/${secret}/minio-access-secret`,
          'minio-url': s3Env().endpoint,
        },
        name: 'minio',
      },
    ],
    targetPath: c.target,
    accessModes: ['ReadOnlyMany'],
  };
}

async function cat(c: Container, path: string): Promise<string> {
  const r = await c.exec('cat', [`${c.target}/${path}`]);
  if (r.code !== 0) throw new Error(`cat ${path}: exit ${r.code ?? r.signal}: ${r.stderr.trim()}`);
  return r.stdout;
}

async function ls(c: Container, path = ''): Promise<string[]> {
  const r = await c.exec('ls', ['-1A', `${c.target}/${path}`]);
  if (r.code !== 0) throw new Error(`ls ${path}: exit ${r.code ?? r.signal}: ${r.stderr.trim()}`);
  return r.stdout.split('\n').filter(Boolean);
}

/** Case 7, checked for every agent of every test: no secret value in its stdout or stderr. */
function noSecretsLogged(t: Test, agent: ContainerAgent, secrets: readonly string[]): void {
  const logs = agent.stdout() + agent.stderr();
  const leaked = secrets.filter((s) => logs.includes(s));
  // A count, not the values: a failure message must not print the secret either.
  t.same(leaked.length, 0, `no secret value in the agent's stdout/stderr (${logs.length} bytes of logs checked)`);
}

function randomKey(len: number): string {
  return randomBytes(len)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .toUpperCase()
    .padEnd(len, 'Q')
    .slice(0, len);
}

/** A bucket with objects, a container laid out with the demo config and the secret files. */
async function demo(t: Test, dataset: string, objects: Record<string, string | Buffer>) {
  const env = s3Env();
  const client = makeClient();
  const bucket = await createTestBucket(t, dataset, client);
  await putObjects(client, bucket, objects);
  const c = await fluidContainer(t, dataset);
  await writeSecret(c.etc, 'minio-secret', { 'minio-access-key': `${env.accessKeyId}\n`, 'minio-access-secret': `${env.secretAccessKey}\n` });
  await writeConfig(c.etc, demoConfig(c, bucket, 'minio-secret'));
  return { c, bucket, secrets: [env.accessKeyId, env.secretAccessKey] };
}

t.test("1. Fluid's readiness check passes within 30 s; reads and ls go through the mount", async (t) => {
  t.equal(profile.fileSystemType, 'fuse.fluid-s3', "the profile's fileSystemType");
  const blob = randomBytes(3 * 1024 * 1024 + 123);
  const objects = { testfile: 'fluid-minio-test', 'data/part-0.csv': 'a,b\n1,2\n', 'data/blob.bin': blob, 'with space.txt': 'x' };
  const { c, secrets } = await demo(t, 'cc-ready', objects);
  const agent = await c.start({ MOUNT_OPTIONS: mountOptions('log-level=debug') });
  const { line, afterMs } = await agent.ready(profile.fileSystemType, 30_000);
  t.ok(afterMs < 30_000, `mountinfo line with targetPath and ${profile.fileSystemType} after ${afterMs} ms`);
  t.equal(line.fsType, 'fuse.fluid-s3', `seen in /proc/${agent.nodePid}/mountinfo: ${line.raw}`);
  t.equal(await cat(c, 'testfile'), 'fluid-minio-test', "a file's bytes");
  t.equal(await cat(c, 'data/part-0.csv'), 'a,b\n1,2\n');
  const sum = await c.exec('sha256sum', [`${c.target}/data/blob.bin`]);
  t.equal(sum.stdout.split(' ')[0], createHash('sha256').update(blob).digest('hex'), `${blob.length} random bytes read back intact`);
  t.same(await ls(c), ['data', 'testfile', 'with space.txt'], 'ls lists the bucket');
  t.match(agent.stdout(), /"msg":"mounted"/, 'JSON log line "mounted"');
  noSecretsLogged(t, agent, secrets);
});

t.test('2. preStop `umount targetPath` and SIGTERM to tini: exit 0 within 5 s', async (t) => {
  const { c, secrets } = await demo(t, 'cc-stop', { testfile: 'stop' });

  const a = await c.start({ MOUNT_OPTIONS: mountOptions() });
  await a.ready(profile.fileSystemType);
  t.equal(await cat(c, 'testfile'), 'stop');
  const umountAt = Date.now();
  const um = await c.exec('umount', [c.target]);
  t.equal(um.code, 0, `umount ${c.target} inside the namespace (${um.stderr.trim() || 'ok'})`);
  const e1 = await a.exited(5_000);
  const e1ms = Date.now() - umountAt;
  t.equal(e1.code, 0, 'preStop: exit code 0');
  t.ok(e1ms <= 5_000, `preStop: exited ${e1ms} ms after umount`);
  t.same(await c.mountsAtTarget(), [], 'nothing left at targetPath');
  noSecretsLogged(t, a, secrets);

  const b = await c.start({ MOUNT_OPTIONS: mountOptions() });
  await b.ready(profile.fileSystemType);
  t.equal(await cat(c, 'testfile'), 'stop');
  const termAt = Date.now();
  process.kill(b.tiniPid, 'SIGTERM'); // the kubelet signals the container's PID 1: tini
  const e2 = await b.exited(5_000);
  const e2ms = Date.now() - termAt;
  t.equal(e2.code, 0, "SIGTERM to tini: exit code 0 (tini passes on node's)");
  t.ok(e2ms <= 5_000, `SIGTERM: exited ${e2ms} ms after the signal`);
  t.same(await c.mountsAtTarget(), [], 'the agent unmounted targetPath');
  t.match(b.stdout(), /"msg":"stopped"/, 'logs "stopped"');
  noSecretsLogged(t, b, secrets);
});

t.test('3. SIGKILL (node, then tini) leaves a dead mount; a fresh start over it serves again', async (t) => {
  const { c, secrets } = await demo(t, 'cc-kill', { testfile: 'survives', 'other.txt': 'other' });
  const a = await c.start({ MOUNT_OPTIONS: mountOptions() });
  const ra = await a.ready(profile.fileSystemType);
  t.equal(await cat(c, 'testfile'), 'survives');

  process.kill(a.nodePid, 'SIGKILL');
  await a.exited(5_000); // tini (PID 1) exits when its only child dies; the PID namespace ends
  t.same(
    (await c.mountsAtTarget()).map((l) => l.id),
    [ra.line.id],
    "the killed agent's mount is still there",
  );
  const dead = await c.exec('ls', [c.target]);
  t.match(dead.stderr, /Transport endpoint is not connected/, 'and is dead (ENOTCONN)');

  const b = await c.start({ MOUNT_OPTIONS: mountOptions() });
  const rb = await b.ready(profile.fileSystemType, 30_000);
  t.ok(rb.afterMs < 30_000, `a new, live mount after ${rb.afterMs} ms`);
  t.equal(await cat(c, 'other.txt'), 'other', 'serves again after SIGKILL of node');
  t.equal((await c.mountsAtTarget()).length, 1, 'the stale mount was cleared: one mount at targetPath');
  t.match(b.stdout(), /clearing a stale mount of a dead agent at targetPath \(ENOTCONN\)/);

  process.kill(b.tiniPid, 'SIGKILL'); // the container's PID 1 dies: the kernel kills node with it
  await b.exited(5_000);
  t.ok(await waitFor('node gone after tini was killed', 5_000, async () => (existsSync(`/proc/${b.nodePid}`) ? undefined : true), 50), 'node died with tini');
  t.equal((await c.mountsAtTarget()).length, 1, 'its mount is left behind');
  t.match((await c.exec('ls', [c.target])).stderr, /Transport endpoint is not connected/, 'dead (ENOTCONN)');

  const d = await c.start({ MOUNT_OPTIONS: mountOptions() });
  const rd = await d.ready(profile.fileSystemType, 30_000);
  t.ok(rd.afterMs < 30_000, `a new, live mount after ${rd.afterMs} ms`);
  t.equal(await cat(c, 'testfile'), 'survives', 'serves again after SIGKILL of tini');
  t.equal((await c.mountsAtTarget()).length, 1, 'one mount at targetPath');
  process.kill(d.tiniPid, 'SIGTERM');
  t.equal((await d.exited(5_000)).code, 0);
  for (const x of [a, b, d]) noSecretsLogged(t, x, secrets);
});

t.test('4. older Fluid: /etc/fluid/config.json (no config/ folder), secrets inlined in options', async (t) => {
  const env = s3Env();
  const client = makeClient();
  const bucket = await createTestBucket(t, 'cc-old', client);
  await putObjects(client, bucket, { testfile: 'old-layout', 'a/b.txt': 'nested' });
  const c = await fluidContainer(t, 'cc-old');
  await writeConfig(
    c.etc,
    {
      mounts: [
        {
          mountPoint: `minio://${bucket}`,
          name: 'minio',
          options: { 'minio-url': env.endpoint, 'minio-access-key': env.accessKeyId, 'minio-access-secret': env.secretAccessKey },
        },
      ],
      targetPath: c.target,
    },
    true,
  );
  const agent = await c.start({ MOUNT_OPTIONS: mountOptions('log-level=debug') });
  await agent.ready(profile.fileSystemType);
  t.equal(await cat(c, 'testfile'), 'old-layout');
  t.equal(await cat(c, 'a/b.txt'), 'nested');
  t.same(await ls(c), ['a', 'testfile']);
  noSecretsLogged(t, agent, [env.accessKeyId, env.secretAccessKey]);
});

t.test('5. secret rotation: new keys in a swapped ..data, old keys revoked, reads go on without a restart', async (t) => {
  const uid = `cc-rot-${process.pid}-${randomBytes(3).toString('hex')}`;
  const k1 = randomKey(20);
  const s1 = randomKey(40);
  const k2 = randomKey(20);
  const s2 = randomKey(40);
  const created = await radosgwAdmin(['user', 'create', `--uid=${uid}`, `--display-name=${uid}`, `--access-key=${k1}`, `--secret=${s1}`]);
  t.equal(created.code, 0, `radosgw-admin user create (${created.stderr.trim().split('\n').pop() ?? ''})`);
  t.teardown(async () => {
    const r = await radosgwAdmin(['user', 'rm', `--uid=${uid}`, '--purge-data']);
    if (r.code !== 0) process.stderr.write(`warning: radosgw-admin user rm ${uid}: ${r.stderr}\n`);
  });
  const clientWith = (accessKeyId: string, secretAccessKey: string): S3Client => {
    const c = makeClient({ credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
    t.teardown(() => c.destroy());
    return c;
  };
  const c1 = clientWith(k1, s1);
  const bucket = `cc-rot-${process.pid.toString(36)}-${randomBytes(3).toString('hex')}`;
  // A fresh user's key can take a moment to be seen by the RGW.
  await waitFor('bucket created with K1', 10_000, () =>
    c1.send(new CreateBucketCommand({ Bucket: bucket })).then(
      () => true,
      () => undefined,
    ),
  );
  const objects = {
    'first.txt': 'one',
    'second.txt': 'two',
    'dir2/third.txt': 'three',
    'dir3/fourth.txt': 'four',
    'fifth.txt': 'five',
    'dir4/sixth.txt': 'six',
  };
  await putObjects(c1, bucket, objects);

  const c = await fluidContainer(t, 'cc-rot');
  await writeSecret(c.etc, 'rot-secret', { 'minio-access-key': `${k1}\n`, 'minio-access-secret': `${s1}\n` });
  await writeConfig(c.etc, demoConfig(c, bucket, 'rot-secret'));
  const agent = await c.start({ MOUNT_OPTIONS: mountOptions('log-level=debug') });
  await agent.ready(profile.fileSystemType);
  t.equal(await cat(c, 'first.txt'), 'one', 'read with K1');

  // Rotate as an operator and the kubelet do: new key on the user, the Secret updated (the
  // kubelet swaps ..data to a new timestamped folder), the old key revoked.
  const added = await radosgwAdmin(['key', 'create', `--uid=${uid}`, '--key-type=s3', `--access-key=${k2}`, `--secret=${s2}`]);
  t.equal(added.code, 0, 'radosgw-admin key create K2');
  await writeSecret(c.etc, 'rot-secret', { 'minio-access-key': `${k2}\n`, 'minio-access-secret': `${s2}\n` }, '..2026_11_28_01_00_00.000000002');
  // The watcher sees the swap and pushes the new keys to the store, before any 403.
  const pushed = await waitFor('the agent re-reads the keys on the secret change', 20_000, async () =>
    agent.stdout().includes('"msg":"secret file changed: keys re-read"') ? true : undefined,
  );
  t.ok(pushed, 'log line "secret file changed: keys re-read"');
  t.match(agent.stdout(), /"changed":true,"msg":"secret file changed: keys re-read"/, 'with new keys');
  const removed = await radosgwAdmin(['key', 'rm', `--uid=${uid}`, '--key-type=s3', `--access-key=${k1}`]);
  t.equal(removed.code, 0, 'radosgw-admin key rm K1');
  const list = (client: S3Client) => client.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1 }));
  const refusedAfter = Date.now();
  const refusal = await waitFor('S3 refuses K1', 20_000, () =>
    list(c1).then(
      () => undefined,
      (e: { name?: string; $metadata?: { httpStatusCode?: number } }) => e,
    ),
  );
  t.equal(refusal.$metadata?.httpStatusCode, 403, `S3 refuses K1 (${refusal.name}) after ${Date.now() - refusedAfter} ms`);
  await waitFor('S3 accepts K2', 10_000, () =>
    list(clientWith(k2, s2)).then(
      () => true,
      () => undefined,
    ),
  );

  // Not read before (no page cache), and names never looked up (dir2/, dir3/ never listed).
  const sinceStart = Date.now() - agent.startedAt;
  const third = await c.exec('cat', [`${c.target}/dir2/third.txt`]);
  t.same(
    { out: third.stdout, err: third.stderr.trim(), code: third.code },
    { out: 'three', err: '', code: 0 },
    'a new name, looked up and read after the rotation',
  );
  const second = await c.exec('cat', [`${c.target}/second.txt`]);
  t.same({ out: second.stdout, err: second.stderr.trim(), code: second.code }, { out: 'two', err: '', code: 0 }, 'a file not read before');
  const dir3 = await c.exec('ls', ['-1', `${c.target}/dir3`]);
  t.same({ out: dir3.stdout, code: dir3.code }, { out: 'fourth.txt\n', code: 0 }, 'a folder never listed before');
  t.equal(await cat(c, 'dir3/fourth.txt').catch((e: Error) => e.message), 'four');
  t.ok(
    sinceStart < 55_000,
    `rotation exercised ${sinceStart} ms after start, inside the 60 s credential cache: the secret's change brought the new keys, not the timer`,
  );

  // Second rotation, the other order: the old key is revoked before the kubelet has synced the
  // Secret (it can take a minute). Reads fail with EACCES meanwhile, and work again as soon as
  // ..data is swapped: the files are re-read on every 403, not only on the first.
  const k3 = randomKey(20);
  const s3 = randomKey(40);
  t.equal(
    (await radosgwAdmin(['key', 'create', `--uid=${uid}`, '--key-type=s3', `--access-key=${k3}`, `--secret=${s3}`])).code,
    0,
    'radosgw-admin key create K3',
  );
  t.equal(
    (await radosgwAdmin(['key', 'rm', `--uid=${uid}`, '--key-type=s3', `--access-key=${k2}`])).code,
    0,
    'radosgw-admin key rm K2 (the mounted secret still holds K2)',
  );
  const c2 = clientWith(k2, s2);
  await waitFor('S3 refuses K2', 20_000, () =>
    list(c2).then(
      () => undefined,
      () => true,
    ),
  );
  await waitFor('S3 accepts K3', 10_000, () =>
    list(clientWith(k3, s3)).then(
      () => true,
      () => undefined,
    ),
  );
  const denied = await c.exec('cat', [`${c.target}/fifth.txt`]);
  t.match({ code: denied.code, err: denied.stderr }, { code: 1, err: /Permission denied/ }, `before the kubelet syncs: EACCES (${denied.stderr.trim()})`);
  await writeSecret(c.etc, 'rot-secret', { 'minio-access-key': `${k3}\n`, 'minio-access-secret': `${s3}\n` }, '..2026_11_28_02_00_00.000000003');
  const fifth = await c.exec('cat', [`${c.target}/fifth.txt`]);
  t.same({ out: fifth.stdout, err: fifth.stderr.trim(), code: fifth.code }, { out: 'five', err: '', code: 0 }, 'after the swap: the file that failed reads');
  const sixth = await c.exec('cat', [`${c.target}/dir4/sixth.txt`]);
  t.same({ out: sixth.stdout, err: sixth.stderr.trim(), code: sixth.code }, { out: 'six', err: '', code: 0 }, 'and a new name');
  t.ok(Date.now() - agent.startedAt < 55_000, 'still inside the 60 s credential cache');
  t.ok(agent.alive(), 'no restart');
  noSecretsLogged(t, agent, [k1, s1, k2, s2, k3, s3]);
});

t.test("6. statfs: df --block-size=1 | grep targetPath reports Used = the objects' total size", async (t) => {
  const objects = { 'a.bin': 'a'.repeat(1000), 'b/c.bin': 'c'.repeat(12_345), 'b/d/e.txt': 'seven!!', empty: Buffer.alloc(0), 'marker/': Buffer.alloc(0) };
  const total = Object.values(objects).reduce((n, v) => n + Buffer.byteLength(v), 0);
  const { c, secrets } = await demo(t, 'cc-df', objects);
  const agent = await c.start({ MOUNT_OPTIONS: mountOptions() });
  await agent.ready(profile.fileSystemType);
  // Fluid's metadata sync, verbatim, in the container.
  const df = await c.exec('sh', ['-c', `df --block-size=1 | grep '${c.target}'`]);
  t.equal(df.code, 0, `df | grep: ${df.stderr.trim() || 'ok'}`);
  const lines = df.stdout.split('\n').filter(Boolean);
  t.equal(lines.length, 1, `one df line: ${df.stdout.trim()}`);
  const fields = (lines[0] ?? '').trim().split(/\s+/);
  t.equal(fields.length, 6, 'six columns: the filesystem name has no spaces');
  t.match(fields[0] ?? '', /^\S+$/, `filesystem name "${fields[0]}"`);
  t.equal(fields[0], (await c.mountsAtTarget())[0]?.source, "the name is the mount's source in mountinfo");
  t.equal(fields[5], c.target, 'Mounted on');
  t.equal(Number(fields[2]), total, `Used (${fields[2]}) = total size of the objects (${total})`);
  noSecretsLogged(t, agent, secrets);
});
