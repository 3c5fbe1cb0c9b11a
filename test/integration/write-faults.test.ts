/**
 * Issue 12: uploads under faults, through a real FUSE mount, with the fault proxy between the
 * agent and RGW (helpers/fault-proxy.ts). What is promised (docs/SEMANTICS.md, Writes): a part
 * that fails once is retried and the object is exact; a part that keeps failing makes close()
 * answer EIO, leaves no object and no multipart upload behind; S3 down at the commit makes
 * close() answer EIO within request-timeout, and the same mount writes again once S3 is back; an
 * edit that needs more staging space than staging-size answers ENOSPC. Writers are child
 * processes: the test process serves the proxy and must never block on the mount.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import t, { type Test } from 'tap';
import { run, startAgent, tempDir } from './helpers/agent.js';
import { INTERNAL_ERROR, type FaultProxy, startFaultProxy } from './helpers/fault-proxy.js';
import { createTestBucket, makeClient, putObjects, s3Env } from './helpers/s3.js';

const MiB = 1024 * 1024;
const client = makeClient();
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

async function proxyFor(t: Test): Promise<FaultProxy> {
  const proxy = await startFaultProxy({ target: s3Env().endpoint, seed: 12 });
  t.teardown(() => proxy.close());
  return proxy;
}

async function mountViaProxy(t: Test, bucket: string, proxy: FaultProxy, extraArgs: readonly string[] = []): Promise<string> {
  const env = s3Env();
  const dir = join(await tempDir(t, 'wfaults'), 'mnt');
  const agent = startAgent(t, {
    args: ['mount', `s3://${bucket}`, dir, '--endpoint', proxy.url, '--read-write', '--request-timeout', '4s', '--log-level', 'debug', ...extraArgs],
    target: dir,
    env: { AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey },
  });
  await agent.mounted(15_000);
  return dir;
}

async function objectMd5(bucket: string, key: string): Promise<string | undefined> {
  try {
    const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return md5(Buffer.from(await (res.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()));
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

async function openUploads(bucket: string): Promise<number> {
  return (await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads?.length ?? 0;
}

const partPut = (n: number) => ({ method: 'PUT', where: (r: { query: string }) => new RegExp(`(^|&)partNumber=${n}(&|$)`).test(r.query) });

t.test('a part upload that fails once is retried: the object is exact', async (t) => {
  const bucket = await createTestBucket(t, 'wf-once', client);
  const proxy = await proxyFor(t);
  const dir = await mountViaProxy(t, bucket, proxy);
  const rule = proxy.addRule({ name: 'part 2 fails once', match: partPut(2), fault: INTERNAL_ERROR, times: 1 });
  const local = join(await tempDir(t, 'src'), 'f');
  const data = randomBytes(20 * MiB);
  await writeFile(local, data);
  const r = await run('dd', [`if=${local}`, `of=${dir}/f.bin`, 'bs=1M', 'status=none']);
  t.equal(r.code, 0, r.stderr);
  t.equal(rule.faults, 1, 'the fault was injected');
  t.equal(await objectMd5(bucket, 'f.bin'), md5(data));
  t.equal(await openUploads(bucket), 0);
});

t.test('a part upload that keeps failing: close answers EIO, no object, no upload left', async (t) => {
  const bucket = await createTestBucket(t, 'wf-always', client);
  const proxy = await proxyFor(t);
  const dir = await mountViaProxy(t, bucket, proxy);
  proxy.addRule({ name: 'part 2 always fails', match: partPut(2), fault: INTERNAL_ERROR });
  const local = join(await tempDir(t, 'src'), 'f');
  await writeFile(local, randomBytes(20 * MiB));
  const r = await run('dd', [`if=${local}`, `of=${dir}/f.bin`, 'bs=1M', 'status=none']);
  t.not(r.code, 0, 'dd fails');
  t.match(r.stderr, /Input\/output error/);
  t.equal(await objectMd5(bucket, 'f.bin'), undefined, 'no object');
  t.equal(await openUploads(bucket), 0, 'the upload was aborted');
});

t.test('S3 down at the commit: close answers EIO within request-timeout; writes work again when it is back', async (t) => {
  const bucket = await createTestBucket(t, 'wf-down', client);
  const proxy = await proxyFor(t);
  const dir = await mountViaProxy(t, bucket, proxy);
  // A writer that holds the file open until told to close it.
  const py =
    'import sys\nf = open(sys.argv[1], "w")\nf.write("payload")\nprint("written", flush=True)\nsys.stdin.readline()\ntry:\n  f.close()\n  print("closed")\nexcept OSError as e:\n  print("close failed", e.errno)\n';
  const child = spawn('python3', ['-c', py, `${dir}/f.txt`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.teardown(() => child.kill('SIGKILL'));
  await new Promise<void>((resolve) => child.stdout.on('data', () => out.includes('written') && resolve()));
  await proxy.down('refuse');
  const at = Date.now();
  child.stdin.write('\n');
  t.equal(await exited, 0);
  t.match(out, /close failed 5\b/, 'close() answered EIO');
  t.ok(Date.now() - at < 20_000, `within request-timeout and its retries (${Date.now() - at} ms)`);
  await proxy.up();
  const r = await run('sh', ['-c', `echo again > "${dir}/g.txt" && cat "${dir}/g.txt"`]);
  t.equal(r.stdout, 'again\n', r.stderr);
  await t.resolves(client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'g.txt' })));
  t.equal(await openUploads(bucket), 0);
});

t.test('an edit that needs more staging space than staging-size answers ENOSPC; the object is unchanged', async (t) => {
  const bucket = await createTestBucket(t, 'wf-enospc', client);
  const big = randomBytes(12 * MiB);
  await putObjects(client, bucket, { 'big.bin': big, 'small.txt': 'small\n' });
  const proxy = await proxyFor(t);
  const dir = await mountViaProxy(t, bucket, proxy, ['--staging-size', '4MiB']);
  // bash names the errno (dash's echo says "I/O error" for any failed write).
  const r = await run('bash', ['-c', `echo more >> "${dir}/big.bin"`]);
  t.not(r.code, 0);
  t.match(r.stderr, /No space left on device/);
  t.equal(await objectMd5(bucket, 'big.bin'), md5(big), 'unchanged');
  const ok = await run('sh', ['-c', `echo more >> "${dir}/small.txt" && cat "${dir}/small.txt"`]);
  t.equal(ok.stdout, 'small\nmore\n', 'an edit that fits still works');
});
