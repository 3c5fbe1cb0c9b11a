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
import { run, startAgent, tempDir } from './helpers/agent.js';
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
  const first = await session(t, bucket, cacheDir, mnt, (d) => `sha256sum < "${d}/data/big.bin"`);
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
