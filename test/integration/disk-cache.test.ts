/**
 * Issue 13: the disk level of the block cache through a real mount. A file read once is read
 * again after the agent restarted (memory cache gone) from the disk: only the lookup's first
 * bytes come from S3, and the bytes are exact; the block files are the agent's own, mode 0600;
 * an object overwritten in S3 is read new, never from an old block.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { run, sleep, startAgent, tempDir } from './helpers/agent.js';
import { createTestBucket, makeClient, putObjects, s3Env } from './helpers/s3.js';

const MiB = 1024 * 1024;
const client = makeClient();
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** The counters the agent logs when it stops. */
function stoppedCounters(stdout: string): Record<string, number> {
  for (const line of stdout.split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    const l = JSON.parse(line) as { msg?: string; counters?: Record<string, number> };
    if (l.msg === 'stopped' && l.counters) return l.counters;
  }
  throw new Error('no "stopped" log line');
}

/** Mounts at `dir` (the cache's folder is named after it, as after targetPath), runs `script` (bash) against the mount, stops the agent; the script's output and the agent's counters. */
async function session(
  t: Test,
  bucket: string,
  cacheDir: string,
  dir: string,
  script: (dir: string) => string,
  blocksBeforeStop = 0,
): Promise<{ out: string; counters: Record<string, number> }> {
  const env = s3Env();
  const agent = startAgent(t, {
    args: ['mount', `s3://${bucket}`, dir, '--endpoint', env.endpoint, '--disk-cache-dir', cacheDir, '--disk-cache-size', '256MiB', '--log-level', 'info'],
    target: dir,
    env: { AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey },
  });
  await agent.mounted();
  const r = await run('bash', ['-euo', 'pipefail', '-c', script(dir)]);
  t.equal(r.code, 0, r.stderr);
  // Blocks are written in the background and a stop drops the queue: wait for them.
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(50)) {
    if ((await files(cacheDir)).filter((f) => f.endsWith('.blk')).length >= blocksBeforeStop) break;
  }
  agent.child.kill('SIGTERM');
  await agent.exited(15_000);
  return { out: r.stdout, counters: stoppedCounters(agent.stdout()) };
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
}

t.test('a file read again after a restart comes from the disk cache, byte-exact; a new version never from old blocks', async (t) => {
  const bucket = await createTestBucket(t, 'diskcache', client);
  const data = randomBytes(6 * MiB + 123);
  await putObjects(client, bucket, { 'data/big.bin': data });
  const cacheDir = await tempDir(t, 'cache');
  // The same mount point each time, as a Fluid runtime's targetPath stays the same across restarts.
  const mnt = join(await tempDir(t, 'disk'), 'mnt');
  const first = await session(t, bucket, cacheDir, mnt, (d) => `sha256sum < "${d}/data/big.bin"`, 7);
  t.equal(first.out.split(' ')[0], sha(data));
  t.ok(first.counters.s3BytesFetched >= data.length, `first read from S3 (${first.counters.s3BytesFetched} bytes)`);
  const blocks = (await files(cacheDir)).filter((f) => f.endsWith('.blk'));
  t.equal(blocks.length, 7, 'seven 1 MiB blocks on disk');
  for (const f of blocks) t.equal((await stat(f)).mode & 0o777, 0o600, 'block files are 0600');

  const second = await session(t, bucket, cacheDir, mnt, (d) => `sha256sum < "${d}/data/big.bin"`);
  t.equal(second.out.split(' ')[0], sha(data), 'bytes exact from the disk');
  t.ok(second.counters.s3BytesFetched <= 128 * 1024, `after the restart only the lookup's first bytes came from S3 (${second.counters.s3BytesFetched} bytes)`);

  const v2 = randomBytes(6 * MiB + 123);
  await putObjects(client, bucket, { 'data/big.bin': v2 });
  const third = await session(t, bucket, cacheDir, mnt, (d) => `sha256sum < "${d}/data/big.bin"`);
  t.equal(third.out.split(' ')[0], sha(v2), 'the new version, never an old block');
  t.ok(third.counters.s3BytesFetched >= v2.length, 'fetched from S3');
});

/** Resolves with the counters of the next "counters" log line after `seen` of them (SIGUSR1's answer). */
async function countersNow(agent: ReturnType<typeof startAgent>): Promise<Record<string, number>> {
  const lines = () =>
    agent
      .stdout()
      .split('\n')
      .filter((l) => l.includes('"msg":"counters"'));
  const before = lines().length;
  agent.child.kill('SIGUSR1');
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(20)) {
    const now = lines();
    if (now.length > before) return (JSON.parse(now[now.length - 1] as string) as { counters: Record<string, number> }).counters;
  }
  throw new Error('no "counters" line after SIGUSR1');
}

t.test('in one mount, the second read of files the memory cache cannot hold comes from the disk: 0 S3 GETs, bytes exact', async (t) => {
  const bucket = await createTestBucket(t, 'diskepoch', client);
  const objects: Record<string, Buffer> = { 'big/a.bin': randomBytes(24 * MiB + 5), 'big/b.bin': randomBytes(20 * MiB) };
  for (let i = 0; i < 40; i++) objects[`small/f${String(i).padStart(3, '0')}`] = randomBytes(64 * 1024 - i);
  await putObjects(client, bucket, objects);
  const cacheDir = await tempDir(t, 'cache');
  const mnt = await tempDir(t, 'epoch');
  const env = s3Env();
  const agent = startAgent(t, {
    args: ['mount', `s3://${bucket}`, mnt, '--endpoint', env.endpoint, '--cache-size', '16MiB', '--disk-cache-dir', cacheDir, '--disk-cache-size', '256MiB'],
    target: mnt,
    env: { AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey },
  });
  await agent.mounted();
  const names = Object.keys(objects).sort();
  const epoch = async () => {
    const r = await run('bash', ['-euo', 'pipefail', '-c', `cd "${mnt}" && sha256sum ${names.join(' ')}`]);
    t.equal(r.code, 0, r.stderr);
    return new Map(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => [l.slice(66), l.slice(0, 64)] as const),
    );
  };
  const want = new Map(names.map((n) => [n, sha(objects[n] as Buffer)] as const));
  t.same(await epoch(), want, 'epoch 1: bytes exact');
  // The disk is filled in the background: wait until every block is there (1 MiB blocks).
  const blocks = 25 + 20 + 40;
  let onDisk = 0;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline && onDisk < blocks; await sleep(50)) {
    onDisk = (await files(cacheDir)).filter((f) => f.endsWith('.blk')).length;
  }
  t.equal(onDisk, blocks, 'every block of epoch 1 is on disk (small files included: their lookups fetched them whole)');
  // The mount keeps the kernel's page cache (auto_cache): drop each file's pages, so epoch 2
  // asks the agent again.
  const dropped = await run('bash', [
    '-euo',
    'pipefail',
    '-c',
    `cd "${mnt}" && for f in ${names.join(' ')}; do dd if="$f" iflag=nocache count=0 status=none; done`,
  ]);
  t.equal(dropped.code, 0, dropped.stderr);
  const before = await countersNow(agent);
  t.same(await epoch(), want, 'epoch 2: bytes exact');
  const after = await countersNow(agent);
  t.equal(after.s3Get - before.s3Get, 0, 'epoch 2 made no S3 GET');
  t.equal(after.s3BytesFetched - before.s3BytesFetched, 0, 'and fetched no byte from S3');
  t.ok(
    after.fuseBytesRead - before.fuseBytesRead >= 44 * MiB,
    `the agent served epoch 2 (${after.fuseBytesRead - before.fuseBytesRead} bytes through FUSE), not the page cache`,
  );
  agent.child.kill('SIGTERM');
  t.equal((await agent.exited(15_000)).code, 0);
});
