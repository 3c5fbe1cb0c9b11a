/**
 * The read path over a disk level: memory → disk → store. A second read with a fresh memory
 * cache costs no GET; an overwritten object never gets an old block; a bad block file is
 * refetched and replaced; a failing disk never fails a read.
 */
import fs from 'node:fs';
import t from 'tap';
import { DiskBlockCache, type DiskBlockCacheOptions } from '../../../src/disk/disk-block-cache.js';
import { BlockCache } from '../../../src/read/block-cache.js';
import { BlockFetcher } from '../../../src/read/block-fetcher.js';
import { ObjectReader, ReaderContext } from '../../../src/read/object-reader.js';
import { objectRef } from '../../../src/read/object-ref.js';
import { blockFiles, failingIo } from '../disk/helpers/disk-fixture.js';
import { MemoryStore, ramp } from '../helpers/memory-store.js';

const KiB = 1024;
const BS = 256 * KiB;

async function openDisk(dir: string, more: Partial<DiskBlockCacheOptions> = {}) {
  const disk = await DiskBlockCache.open({ dir, sourceId: 'memory', budgetBytes: 64 * BS, blockSize: BS, minFreeBytes: 0, ...more });
  await disk.whenIndexed();
  return disk;
}

/** A reader over a fresh memory cache (a restart, or a memory cache too small to keep the object). */
function freshReader(store: MemoryStore, disk: DiskBlockCache, key = 'obj') {
  const o = store.objects.get(key)!;
  const cache = new BlockCache(64 * BS, BS);
  const fetcher = new BlockFetcher(cache, 4 * BS, { level: disk });
  const policy = { initialWindowBytes: BS, maxWindowBytes: () => 16 * BS };
  return new ObjectReader(objectRef(store, key, o.etag, o.data.length), new ReaderContext(fetcher, BS, policy));
}

async function readAll(r: ObjectReader, size: number, step = 128 * KiB): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let pos = 0; pos < size; pos += step) parts.push(Buffer.concat(await r.read(pos, step)));
  r.close();
  return Buffer.concat(parts);
}

t.test('a second read with a fresh memory cache makes no GET, bytes exact', async (t) => {
  const store = new MemoryStore();
  const size = 20 * BS + 1234;
  const data = ramp(size);
  store.put('obj', data);
  const disk = await openDisk(t.testdir());
  t.ok((await readAll(freshReader(store, disk), size)).equals(data), 'first read: bytes exact');
  t.ok(store.calls.get > 0);
  await disk.flush();
  t.equal(disk.stats().files, 21, 'every block written to disk, the short last one too');
  const gets = store.calls.get;
  t.ok((await readAll(freshReader(store, disk), size)).equals(data), 'second read: bytes exact');
  t.equal(store.calls.get, gets, 'no GET');
  t.equal(disk.stats().hits, 21);
  await disk.close();
});

t.test('a small file read whole by its first read: cached on disk, then read from it', async (t) => {
  const store = new MemoryStore();
  const data = ramp(64 * KiB, 3);
  store.put('small', data);
  const disk = await openDisk(t.testdir());
  t.ok((await readAll(freshReader(store, disk, 'small'), data.length, 64 * KiB)).equals(data));
  await disk.flush();
  const gets = store.calls.get;
  t.ok((await readAll(freshReader(store, disk, 'small'), data.length, 64 * KiB)).equals(data));
  t.equal(store.calls.get, gets, 'no GET');
  await disk.close();
});

t.test('a random read (an exact-range GET of part of a block) is not cached on disk', async (t) => {
  const store = new MemoryStore();
  const data = ramp(16 * BS);
  store.put('obj', data);
  const disk = await openDisk(t.testdir());
  const r = freshReader(store, disk);
  t.ok(Buffer.concat(await r.read(5 * BS + 100, 4 * KiB)).equals(data.subarray(5 * BS + 100, 5 * BS + 100 + 4 * KiB)));
  r.close();
  await disk.flush();
  t.equal(disk.stats().files, 0);
  await disk.close();
});

t.test('only the blocks missing from disk are fetched: runs are split around disk hits', async (t) => {
  const store = new MemoryStore();
  const size = 16 * BS;
  const data = ramp(size);
  store.put('obj', data);
  const disk = await openDisk(t.testdir());
  await readAll(freshReader(store, disk), size);
  await disk.flush();
  // Blocks 3, 4 and 9 leave the disk (the rest stay).
  const files = blockFiles(disk.root).filter((f) => /\.(3|4|9)\.blk$/.test(f));
  t.equal(files.length, 3);
  for (const f of files) fs.unlinkSync(f);
  const before = { get: store.calls.get, bytes: store.calls.getBytes };
  t.ok((await readAll(freshReader(store, disk), size)).equals(data), 'bytes exact');
  t.equal(store.calls.getBytes - before.bytes, 3 * BS, 'only the three missing blocks fetched');
  // Blocks 3 and 4 share a GET when one download asked for both (read-ahead runs may be one block).
  t.ok(store.calls.get - before.get <= 3, `${store.calls.get - before.get} GETs`);
  await disk.flush();
  t.equal(blockFiles(disk.root).length, 16, 'and written back');
  await disk.close();
});

t.test('an object overwritten in the store: the new bytes, never an old block', async (t) => {
  const store = new MemoryStore();
  const size = 6 * BS;
  const v1 = ramp(size, 1);
  store.put('obj', v1);
  const disk = await openDisk(t.testdir());
  t.ok((await readAll(freshReader(store, disk), size)).equals(v1));
  await disk.flush();
  const v2 = ramp(size, 2);
  store.put('obj', v2);
  const gets = store.calls.getBytes;
  t.ok((await readAll(freshReader(store, disk), size)).equals(v2), 'the new version, byte-exact');
  t.equal(store.calls.getBytes - gets, size, 'all of it from the store');
  await disk.flush();
  const again = store.calls.get;
  t.ok((await readAll(freshReader(store, disk), size)).equals(v2), 'then the new version from disk');
  t.equal(store.calls.get, again);
  await disk.close();
});

t.test('a corrupted block file: the right bytes from the store, the block replaced', async (t) => {
  const store = new MemoryStore();
  const size = 4 * BS;
  const data = ramp(size);
  store.put('obj', data);
  const disk = await openDisk(t.testdir());
  await readAll(freshReader(store, disk), size);
  await disk.flush();
  const file = blockFiles(disk.root).find((f) => f.endsWith('.2.blk'))!;
  const b = fs.readFileSync(file);
  b[b.length - 7] = (b[b.length - 7] as number) ^ 0xff;
  fs.writeFileSync(file, b);
  const bytes = store.calls.getBytes;
  t.ok((await readAll(freshReader(store, disk), size)).equals(data), 'bytes exact');
  t.equal(store.calls.getBytes - bytes, BS, 'block 2 refetched, nothing else');
  t.equal(disk.stats().corrupt, 1);
  await disk.flush();
  const gets = store.calls.get;
  t.ok((await readAll(freshReader(store, disk), size)).equals(data));
  t.equal(store.calls.get, gets, 'the replaced block is served from disk');
  await disk.close();
});

for (const code of ['EIO', 'ENOSPC', 'EROFS']) {
  t.test(`a disk failing with ${code} on every read and write: every read still right`, async (t) => {
    const store = new MemoryStore();
    const size = 8 * BS + 5;
    const data = ramp(size);
    store.put('obj', data);
    let failing = false;
    const disk = await openDisk(t.testdir(), { io: failingIo(['readFile', 'writeNew'], code, () => failing) });
    await readAll(freshReader(store, disk), size);
    await disk.flush();
    failing = true;
    for (let i = 0; i < 3; i++) {
      t.ok((await readAll(freshReader(store, disk), size)).equals(data), `read ${i + 1}: bytes exact`);
      await disk.flush();
    }
    t.equal(disk.stats().disabled, true, 'the disk level turned itself off');
    await disk.close();
  });
}

t.test('after a restart of the disk level, still a disk hit', async (t) => {
  const store = new MemoryStore();
  const size = 5 * BS;
  const data = ramp(size);
  store.put('obj', data);
  const dir = t.testdir();
  const d1 = await openDisk(dir);
  await readAll(freshReader(store, d1), size);
  await d1.flush();
  await d1.close();
  const d2 = await openDisk(dir);
  const gets = store.calls.get;
  t.ok((await readAll(freshReader(store, d2), size)).equals(data));
  t.equal(store.calls.get, gets, 'no GET');
  await d2.close();
});

t.test('one download of blocks 0-7 with 2 and 5 missing on disk: two GETs, of exactly those', async (t) => {
  const store = new MemoryStore();
  const size = 8 * BS;
  const data = ramp(size);
  store.put('obj', data);
  const disk = await openDisk(t.testdir());
  await readAll(freshReader(store, disk), size);
  await disk.flush();
  for (const f of blockFiles(disk.root).filter((f) => /\.(2|5)\.blk$/.test(f))) fs.unlinkSync(f);
  const o = store.objects.get('obj')!;
  const cache = new BlockCache(64 * BS, BS);
  const fetcher = new BlockFetcher(cache, 8 * BS, { level: disk });
  const obj = objectRef(store, 'obj', o.etag, size);
  const before = { get: store.calls.get, bytes: store.calls.getBytes };
  const owner = {};
  t.equal(fetcher.prefetch(obj, 0, 7, owner), 8);
  const blocks = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(async (i) => fetcher.blockAt(obj, i, BS, owner)));
  t.ok(Buffer.concat(blocks.flatMap((b) => b.chunks)).equals(data), 'bytes exact');
  t.equal(store.calls.get - before.get, 2, 'one GET per missing block');
  t.equal(store.calls.getBytes - before.bytes, 2 * BS);
  t.equal(cache.cachedBytes, size, 'all eight blocks in memory');
  fetcher.release(owner);
  await disk.close();
});

t.test('a reader gone while its blocks are looked up on disk: no GET; the next reader starts over and gets the bytes', async (t) => {
  const store = new MemoryStore();
  const size = 4 * BS;
  const data = ramp(size);
  store.put('obj', data);
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const puts: number[] = [];
  // A disk level that holds its answers until the test lets them go, and has nothing.
  const level = {
    get: async () => {
      await gate;
      return undefined;
    },
    put: (_k: unknown, i: number) => void puts.push(i),
  };
  const o = store.objects.get('obj')!;
  const cache = new BlockCache(64 * BS, BS);
  const fetcher = new BlockFetcher(cache, 4 * BS, { level });
  const obj = objectRef(store, 'obj', o.etag, size);
  const gone = {};
  fetcher.prefetch(obj, 0, 3, gone);
  t.ok(fetcher.isCachedOrComing(obj, 0));
  fetcher.release(gone);
  t.notOk(fetcher.isCachedOrComing(obj, 0), 'its blocks are no longer on their way');
  release();
  await new Promise((r) => setImmediate(r));
  t.equal(store.calls.get, 0, 'no GET for a reader that left');
  t.equal(fetcher.inflightBytes, 0);
  const next = {};
  const blocks = await Promise.all([0, 1, 2, 3].map(async (i) => fetcher.blockAt(obj, i, BS, next)));
  t.ok(Buffer.concat(blocks.flatMap((b) => b.chunks)).equals(data));
  t.same(puts.sort(), [0, 1, 2, 3], 'each block fetched went to disk');
  t.equal(cache.reservedBytes, 0, 'no reservation left');
  fetcher.release(next);
});

t.test('a disk level that rejects (against its contract) is a miss, never a failed read', async (t) => {
  const store = new MemoryStore();
  const size = 2 * BS;
  const data = ramp(size);
  store.put('obj', data);
  const level = { get: () => Promise.reject(new Error('broken')), put: () => undefined };
  const o = store.objects.get('obj')!;
  const fetcher = new BlockFetcher(new BlockCache(64 * BS, BS), 4 * BS, { level });
  const obj = objectRef(store, 'obj', o.etag, size);
  const owner = {};
  const b = await fetcher.blockAt(obj, 1, BS, owner);
  t.ok(Buffer.concat(b.chunks).equals(data.subarray(BS)));
  t.ok(Buffer.concat(await fetcher.readRange(obj, 0, BS, owner)).equals(data.subarray(0, BS)), 'an exact whole-block range too');
  fetcher.release(owner);
});

t.test('keepOnDisk: a whole block fetched outside the block path (a lookup’s first bytes) is served from disk later', async (t) => {
  const store = new MemoryStore();
  const data = ramp(100 * KiB, 5);
  store.put('small', data);
  const disk = await openDisk(t.testdir());
  const o = store.objects.get('small')!;
  const fetcher = new BlockFetcher(new BlockCache(64 * BS, BS), 4 * BS, { level: disk });
  const obj = objectRef(store, 'small', o.etag, data.length);
  fetcher.keepOnDisk(obj, 0, [data.subarray(0, 10)]);
  fetcher.keepOnDisk(obj, 0, [data.subarray(0, 50 * KiB), data.subarray(50 * KiB)]);
  await disk.flush();
  t.equal(disk.stats().writes, 1, 'only the whole block was kept');
  store.delete('small');
  t.ok(Buffer.concat(await fetcher.readRange(obj, 0, data.length, {})).equals(data), 'read whole from the disk: the store no longer has it');
  const none = new BlockFetcher(new BlockCache(64 * BS, BS), 4 * BS);
  none.keepOnDisk(obj, 0, [data]);
  await disk.close();
});

t.test('random reads through a memory cache too small for the object, over a disk level that loses blocks: always the right bytes', async (t) => {
  const store = new MemoryStore();
  store.chunkSize = 48 * KiB; // chunks that straddle block edges
  const size = 40 * BS + 777;
  const data = ramp(size, 11);
  store.put('obj', data);
  const disk = await openDisk(t.testdir(), { budgetBytes: 24 * BS, protectMs: 0 });
  const o = store.objects.get('obj')!;
  const cache = new BlockCache(8 * BS, BS);
  const fetcher = new BlockFetcher(cache, 4 * BS, { level: disk });
  const policy = { initialWindowBytes: BS, maxWindowBytes: () => 4 * BS };
  const ctx = new ReaderContext(fetcher, BS, policy);
  let seed = 42;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let round = 0; round < 6; round++) {
    const readers = [0, 1, 2].map(() => new ObjectReader(objectRef(store, 'obj', o.etag, size), ctx));
    await Promise.all(
      readers.map(async (r) => {
        let pos = rnd(size);
        for (let i = 0; i < 40; i++) {
          // Mostly sequential runs, with jumps.
          if (rnd(5) === 0) pos = rnd(size);
          const len = 1 + rnd(200 * KiB);
          const got = Buffer.concat(await r.read(pos, len));
          const want = data.subarray(pos, Math.min(size, pos + len));
          if (!got.equals(want)) t.fail(`round ${round}: bytes ${pos}+${len} differ`);
          pos = Math.min(size - 1, pos + len);
        }
        r.close();
      }),
    );
    await disk.flush();
    // Lose a few block files between rounds.
    for (const f of blockFiles(disk.root)) if (rnd(4) === 0) fs.unlinkSync(f);
  }
  t.ok(disk.stats().hits > 0, `disk hits: ${disk.stats().hits}`);
  t.ok(disk.stats().usedBytes <= 24 * BS);
  t.equal(fetcher.inflightBytes, 0, 'nothing in flight');
  t.equal(cache.reservedBytes, 0, 'no reservation left');
  await disk.close();
});
