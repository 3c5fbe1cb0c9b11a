/**
 * Issue 13 "Tests: budget": the disk cache's limits through a real mount.
 *
 * - A data set 3x `disk-cache-size` read twice: the cache folder, summed by a sampler every
 *   ~50 ms while the agent runs (temporary files included), never holds more than the budget.
 *   The budget covers every file the cache writes, headers included, and its temporary files
 *   (src/disk/disk-block-cache.ts: room is made for the whole file before the temporary file
 *   is written, and one writer writes one file at a time). The budget counts the space the files
 *   take (their sizes rounded up to the filesystem's blocks), so both their sizes and their
 *   allocated blocks (st.blocks) are held to it.
 * - A budget larger than a small tmpfs can hold: the filesystem's free space, sampled with
 *   statfs, stays above the floor (15% of the filesystem, the default the agent uses): between
 *   two statfs (2 s apart) the cache estimates the free space from the space its files take.
 * - A full disk (the tmpfs filled by a file of the test's own, or out of inodes so that the
 *   cache's writes fail with ENOSPC): every read is still byte-exact.
 *
 * The tmpfs folders are mounted by the test itself (root) and unmounted in teardown, lazily if
 * busy; the agent's own teardown (stop, fusermount -uz) runs before them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdtemp, open, readdir, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { type Agent, run, sleep, startAgent, tempDir, testRoot } from './helpers/agent.js';
import { createTestBucket, makeClient, putObjects, s3Env } from './helpers/s3.js';

const MiB = 1024 * 1024;
const client = makeClient();
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** 72 MiB: five large objects (8 to 16 MiB, not whole blocks) and 100 small files. */
function dataset(): Record<string, Buffer> {
  const objects: Record<string, Buffer> = {
    'big/a.bin': randomBytes(16 * MiB + 11),
    'big/b.bin': randomBytes(16 * MiB - 7),
    'big/c.bin': randomBytes(12 * MiB + 3),
    'big/d.bin': randomBytes(8 * MiB),
    'big/e.bin': randomBytes(8 * MiB - 5),
  };
  // ~120 KiB each, 100 of them: 12 MiB (less the odd bytes).
  for (let i = 0; i < 100; i++) objects[`small/s${String(i).padStart(3, '0')}.bin`] = randomBytes(120 * 1024 + ((i * 37) % 1024) - 512);
  return objects;
}

const objects = dataset();
const names = Object.keys(objects).sort();
const totalBytes = names.reduce((n, k) => n + (objects[k] as Buffer).length, 0);
const want = new Map(names.map((n) => [n, sha(objects[n] as Buffer)] as const));
let bucket = '';

t.before(async () => {
  bucket = await createTestBucket(t, 'diskbudget', client);
  await putObjects(client, bucket, objects);
});
t.teardown(() => client.destroy());

/** The agent on `mnt`, its disk cache in `cacheDir` with `budget`, memory cache 16 MiB so the disk is used; the /metrics base URL. */
async function mountWithDiskCache(t: Test, mnt: string, cacheDir: string, budget: string): Promise<{ agent: Agent; base: string }> {
  const env = s3Env();
  const agent = startAgent(t, {
    args: [
      'mount',
      `s3://${bucket}`,
      mnt,
      '--endpoint',
      env.endpoint,
      '--cache-size',
      '16MiB',
      '--disk-cache-dir',
      cacheDir,
      '--disk-cache-size',
      budget,
      '--metrics-address',
      '127.0.0.1:0',
      '--log-level',
      'info',
    ],
    target: mnt,
    env: { AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey },
  });
  await agent.mounted();
  const m = /"address":"127\.0\.0\.1:(\d+)","msg":"metrics listener up"/.exec(agent.stdout());
  if (!m) throw new Error(`no metrics listener line: ${agent.stdout()}`);
  return { agent, base: `http://127.0.0.1:${m[1]}` };
}

/** The disk cache's figures from /metrics (fluid_s3_fuse_disk_cache_<name>[_total]). */
async function diskMetrics(base: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^fluid_s3_fuse_disk_cache_(\w+?)(?:_total)? (\d+(?:\.\d+)?)$/gm)) out[m[1] as string] = Number(m[2]);
  for (const m of text.matchAll(/^fluid_s3_fuse_s3_fetched_bytes_total (\d+)$/gm)) out.s3FetchedBytes = Number(m[1]);
  return out;
}

/** sha256 of every file of the data set, read through the mount by a child process. */
async function epoch(t: Test, mnt: string, what: string): Promise<void> {
  const r = await run('bash', ['-euo', 'pipefail', '-c', `cd "${mnt}" && sha256sum ${names.join(' ')}`], { timeoutMs: 120_000 });
  t.equal(r.code, 0, r.stderr);
  const got = new Map(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => [l.slice(66), l.slice(0, 64)] as const),
  );
  t.same(got, want, `${what}: ${names.length} files, ${totalBytes} bytes, byte-exact`);
}

/**
 * Apparent bytes (st.size: what the budget counts), allocated bytes (st.blocks) and count of the
 * files under `dir`, temporary ones included; files that vanish meanwhile are skipped.
 */
async function folderBytes(dir: string): Promise<{ bytes: number; allocated: number; files: number; temps: number }> {
  const out = { bytes: 0, allocated: 0, files: 0, temps: 0 };
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!e.isFile()) continue;
    try {
      const st = await lstat(join(e.parentPath, e.name));
      out.bytes += st.size;
      out.allocated += st.blocks * 512;
      out.files++;
      if (e.name.endsWith('.tmp')) out.temps++;
    } catch {
      // evicted or renamed between readdir and lstat
    }
  }
  return out;
}

/**
 * Drops the kernel's page cache of the data set's files (posix_fadvise DONTNEED through dd): the
 * mount uses auto_cache, so without this a second epoch is mostly served by the kernel and
 * never reaches the agent's caches.
 */
async function dropPageCache(t: Test, mnt: string): Promise<void> {
  const r = await run('bash', ['-euo', 'pipefail', '-c', `cd "${mnt}" && for f in ${names.join(' ')}; do dd if="$f" iflag=nocache count=0 status=none; done`]);
  t.equal(r.code, 0, r.stderr);
}

/** Calls `sample` every ~50 ms (after the previous one finished) until stop(); the number of samples. */
function sampler(sample: () => Promise<void>): { stop: () => Promise<number> } {
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      await sample();
      n++;
      await sleep(50);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return n;
    },
  };
}

/** A tmpfs of `size` (mount options) mounted by the test; unmounted in teardown (lazily when busy), then removed. */
async function tmpfs(t: Test, options: string): Promise<string> {
  const dir = await mkdtemp(join(testRoot(), 'tmpfs-'));
  t.teardown(async () => {
    const u = await run('umount', [dir], { timeoutMs: 10_000 });
    if (u.code !== 0) await run('umount', ['-l', dir], { timeoutMs: 10_000 });
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  });
  const r = await run('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  if (r.code !== 0) throw new Error(`mount -t tmpfs -o ${options}: ${r.stderr}`);
  return dir;
}

/** Writes zeros to `file` until the filesystem answers ENOSPC; the bytes written. */
async function fillUp(file: string): Promise<number> {
  const fh = await open(file, 'w');
  const chunk = Buffer.alloc(256 * 1024);
  let written = 0;
  try {
    for (;;) {
      try {
        written += (await fh.write(chunk)).bytesWritten;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') return written;
        throw err;
      }
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
}

async function stop(t: Test, agent: Agent): Promise<void> {
  agent.child.kill('SIGTERM');
  t.equal((await agent.exited(15_000)).code, 0, 'the agent stopped cleanly');
}

t.test('a data set 3x the budget, read twice: the cache folder never holds more than disk-cache-size', async (t) => {
  const budget = 24 * MiB;
  t.equal(totalBytes > 3 * budget - MiB && totalBytes <= 3 * budget, true, `the data set (${totalBytes} bytes) is 3x the budget`);
  const cacheDir = await tempDir(t, 'budget-cache');
  const mnt = join(await tempDir(t, 'budget'), 'mnt');
  const { agent, base } = await mountWithDiskCache(t, mnt, cacheDir, '24MiB');
  let max = { bytes: 0, allocated: 0, files: 0, temps: 0 };
  let maxAllocated = 0;
  let tempsSeen = 0;
  const started = Date.now();
  const s = sampler(async () => {
    const f = await folderBytes(cacheDir);
    if (f.bytes > max.bytes) max = f;
    maxAllocated = Math.max(maxAllocated, f.allocated);
    tempsSeen += f.temps;
  });
  try {
    await epoch(t, mnt, 'epoch 1');
    // The cache writes in the background: wait until it is idle (files on disk = files indexed).
    let m = await diskMetrics(base);
    for (let i = 0; i < 200; i++, await sleep(50)) {
      m = await diskMetrics(base);
      const f = await folderBytes(cacheDir);
      if (f.temps === 0 && f.allocated === m.bytes && m.written_bytes > 0) break;
    }
    const afterOne = m;
    await dropPageCache(t, mnt);
    await epoch(t, mnt, 'epoch 2');
    const afterTwo = await diskMetrics(base);
    await stop(t, agent);
    const samples = await s.stop();
    const every = Math.round((Date.now() - started) / samples);
    const end = await folderBytes(cacheDir);
    t.ok(samples >= 20, `${samples} samples of the folder, one every ${every} ms`);
    t.ok(max.bytes <= budget, `max of the samples ${max.bytes} bytes (${max.files} files, ${max.temps} temporary) <= budget ${budget}`);
    t.ok(maxAllocated <= budget, `and the blocks they take on disk: max ${maxAllocated} <= budget ${budget}`);
    t.ok(
      end.bytes <= budget && end.bytes > budget - 2 * MiB,
      `after the run the folder holds ${end.bytes} bytes in ${end.files} files: near the budget, not over`,
    );
    t.equal(end.temps, 0, 'no temporary file left');
    t.ok(afterOne.written_bytes >= budget - 2 * MiB, `epoch 1 filled the cache (${afterOne.written_bytes} bytes of blocks written)`);
    t.ok(afterOne.not_admitted > 0, `blocks past the budget were not admitted (${afterOne.not_admitted})`);
    t.equal(afterTwo.errors, 0, 'no disk error');
    t.ok(afterTwo.hits - afterOne.hits > 0, `epoch 2 read ${afterTwo.hits - afterOne.hits} blocks from the disk`);
    const epoch2S3 = afterTwo.s3FetchedBytes - afterOne.s3FetchedBytes;
    t.ok(
      epoch2S3 < totalBytes - budget / 2,
      `epoch 2 fetched ${epoch2S3} of ${totalBytes} bytes from S3: what the cache kept was not evicted by the rest (${afterTwo.evictions} evictions)`,
    );
    t.comment(
      `budget: ${samples} samples (every ${every} ms), max ${max.bytes} bytes (${max.files} files; allocated ${maxAllocated}), temporary files seen in ${tempsSeen} file-samples; ` +
        `disk bytes written ${afterTwo.written_bytes}, read ${afterTwo.read_bytes}, hits ${afterTwo.hits}, not admitted ${afterTwo.not_admitted}, evictions ${afterTwo.evictions}; ` +
        `S3 bytes epoch 1 ${afterOne.s3FetchedBytes}, epoch 2 ${epoch2S3}`,
    );
  } finally {
    await s.stop();
  }
});

t.test('a budget larger than the filesystem: its free space stays at the 15% floor', async (t) => {
  const fsDir = await tmpfs(t, 'size=40m,mode=0700');
  const cacheDir = join(fsDir, 'cache');
  const mnt = join(await tempDir(t, 'floor'), 'mnt');
  const before = await statfs(fsDir);
  const total = before.blocks * before.bsize;
  const floor = 0.15 * total;
  // 64 MiB: more than the whole tmpfs, so only the floor can stop the cache.
  const { agent, base } = await mountWithDiskCache(t, mnt, cacheDir, '64MiB');
  let minAvail = Infinity;
  const s = sampler(async () => {
    const f = await statfs(fsDir);
    minAvail = Math.min(minAvail, f.bavail * f.bsize);
  });
  try {
    await epoch(t, mnt, 'epoch 1');
    await dropPageCache(t, mnt);
    await epoch(t, mnt, 'epoch 2');
    const m = await diskMetrics(base);
    await stop(t, agent);
    const samples = await s.stop();
    const end = await statfs(fsDir);
    const used = total - end.bavail * end.bsize;
    t.ok(samples >= 20, `${samples} statfs samples`);
    // Between two statfs (2 s apart) the cache estimates the free space from what its files take
    // (a 1 MiB block file and its header: 257 pages of 4 KiB on this tmpfs, not 256 and a bit).
    t.ok(minAvail >= floor, `min available ${minAvail} bytes >= floor ${floor} (15% of ${total})`);
    t.ok(used > total - floor - 4 * MiB, `the cache used the room above the floor (${used} bytes used)`);
    t.ok(m.not_admitted > 0, `blocks under the floor were not admitted (${m.not_admitted})`);
    t.equal(m.errors, 0, 'no disk error: the floor stopped the cache before the disk was full');
    t.comment(
      `floor: ${samples} samples, min available ${minAvail} bytes, floor ${floor}, margin ${minAvail - floor}; used at the end ${used} of ${total}; ` +
        `written ${m.written_bytes}, hits ${m.hits}, not admitted ${m.not_admitted}, evictions ${m.evictions}`,
    );
  } finally {
    await s.stop();
  }
});

t.test('a full disk never fails a read: the tmpfs filled by a file of the test', async (t) => {
  const fsDir = await tmpfs(t, 'size=40m,mode=0700');
  const mnt = join(await tempDir(t, 'full'), 'mnt');
  const { agent, base } = await mountWithDiskCache(t, mnt, join(fsDir, 'cache'), '64MiB');
  // After the cache opened its folder, before any block: the disk is full when the first block comes.
  const filled = await fillUp(join(fsDir, 'filler'));
  const f = await statfs(fsDir);
  t.equal(f.bavail, 0, `the tmpfs is full (${filled} bytes of the test's own file)`);
  await epoch(t, mnt, 'read with the disk full');
  const m = await diskMetrics(base);
  await stop(t, agent);
  t.equal(m.written_bytes, 0, 'no block written');
  t.ok(m.s3FetchedBytes >= totalBytes, `everything came from S3 (${m.s3FetchedBytes} bytes)`);
  t.comment(`disk full: not admitted ${m.not_admitted}, errors ${m.errors}, dropped ${m.dropped}, disabled ${m.disabled}`);
});

t.test('writes that fail with ENOSPC (no inode left) never fail a read; the cache turns itself off', async (t) => {
  // Few inodes: the free-space figures look fine, every new file answers ENOSPC.
  const fsDir = await tmpfs(t, 'size=40m,nr_inodes=32,mode=0700');
  const mnt = join(await tempDir(t, 'enospc'), 'mnt');
  const { agent, base } = await mountWithDiskCache(t, mnt, join(fsDir, 'cache'), '24MiB');
  let extra = 0;
  for (;;) {
    try {
      await (await open(join(fsDir, `inode-${extra}`), 'wx')).close();
      extra++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
      throw err;
    }
  }
  t.ok(extra > 0, `the test took the last ${extra} inodes`);
  await epoch(t, mnt, 'read with ENOSPC on every write');
  await dropPageCache(t, mnt);
  await epoch(t, mnt, 'read again');
  const m = await diskMetrics(base);
  await stop(t, agent);
  t.ok(m.errors >= 5, `disk errors counted (${m.errors})`);
  t.equal(m.disabled, 1, 'after repeated errors the cache turned itself off');
  t.equal(m.written_bytes, 0, 'no block written');
  t.ok(m.s3FetchedBytes >= 2 * totalBytes - 16 * MiB, `both reads came from S3 (${m.s3FetchedBytes} bytes)`);
  t.match(agent.stdout(), /disk cache: .*reads go on from S3/, 'the error was reported');
  t.comment(`ENOSPC: errors ${m.errors}, disabled ${m.disabled}, dropped ${m.dropped}, not admitted ${m.not_admitted}`);
});
