import t from 'tap';
import { ManualClock } from '../../../src/clock.js';
import { nodeDiskIo, type DiskIo } from '../../../src/disk/disk-io.js';
import { fileBytes } from '../../../src/disk/block-file.js';
import { identityOf } from '../../../src/disk/disk-key.js';
import { BS, blockBytes, blockFiles, bytesUnder, keyOf, open, spaceOf } from './helpers/disk-fixture.js';
import { statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';

/** The space one block file takes (on the filesystem of the tests' folders). */
const FILE = spaceOf(tmpdir(), fileBytes(identityOf(keyOf('k'), BS), BS));
const UNIT = statfsSync(tmpdir()).bsize;

t.test('the budget is never exceeded (sampled after every file written), plain LRU when nothing is protected', async (t) => {
  const dir = t.testdir();
  const budget = 10 * FILE + FILE / 2;
  const c = await open(dir, { budgetBytes: budget, protectMs: 0 });
  await c.whenIndexed();
  const k = keyOf('k', 64);
  let max = 0;
  for (let i = 0; i < 64; i++) {
    c.put(k, i, blockBytes(i));
    // Sample while the write may be under way, and after it.
    await new Promise((r) => setImmediate(r));
    max = Math.max(max, bytesUnder(dir));
    await c.flush();
    max = Math.max(max, bytesUnder(dir));
    t.ok(c.stats().usedBytes <= budget);
  }
  t.ok(max <= budget, `at most ${max} of ${budget} bytes on disk`);
  t.equal(c.stats().files, 10);
  t.equal(c.stats().evictions, 54);
  t.equal(bytesUnder(dir), c.stats().usedBytes, 'the index counts what is on disk');
  for (let i = 0; i < 54; i++) t.equal(await c.get(k, i), undefined);
  for (let i = 54; i < 64; i++) t.ok(await c.get(k, i), `block ${i} kept`);
  await c.close();
});

t.test('eviction follows last use: a block read recently outlives one written after it', async (t) => {
  const dir = t.testdir();
  const clock = new ManualClock();
  const c = await open(dir, { budgetBytes: 4 * FILE, protectMs: 1000, clock });
  await c.whenIndexed();
  const k = keyOf('k');
  for (let i = 0; i < 4; i++) {
    c.put(k, i, blockBytes(i));
    await c.flush();
    clock.advance(10);
  }
  clock.advance(5000);
  t.ok(await c.get(k, 0), 'block 0 read: now the most recently used');
  c.put(k, 4, blockBytes(4));
  await c.flush();
  t.equal(await c.get(k, 1), undefined, 'block 1, the least recently used, was evicted');
  t.ok(await c.get(k, 0), 'block 0 stays');
  t.equal(c.stats().evictions, 1);
  await c.close();
});

t.test('admission: a data set larger than the cache keeps what is cached across epochs instead of thrashing', async (t) => {
  const dir = t.testdir();
  const clock = new ManualClock();
  const k = keyOf('dataset', 16);
  const file = fileBytes(identityOf(k, BS), BS);
  const c = await open(dir, { budgetBytes: 8 * file + file / 2, clock });
  await c.whenIndexed();
  /** One epoch: read every block; a miss is fetched (from "S3") and put. */
  const epoch = async () => {
    let hits = 0;
    for (let i = 0; i < 16; i++) {
      if (await c.get(k, i)) hits++;
      else {
        c.put(k, i, blockBytes(i));
        await c.flush();
      }
      clock.advance(1000);
    }
    return hits;
  };
  t.equal(await epoch(), 0, 'epoch 1: all misses');
  t.equal(c.stats().notAdmitted, 8, 'the half that did not fit was streamed, not admitted');
  t.equal(await epoch(), 8, 'epoch 2: the first half from disk');
  t.equal(await epoch(), 8, 'epoch 3: still');
  t.equal(c.stats().evictions, 0);
  // The job moves on: after protectMs (30 min by default) without use, old blocks make room.
  clock.advance(31 * 60_000);
  const other = keyOf('other', 4);
  for (let i = 0; i < 4; i++) c.put(other, i, blockBytes(i, 9));
  await c.flush();
  t.equal(c.stats().evictions, 4);
  for (let i = 0; i < 4; i++) t.ok((await c.get(other, i))?.equals(blockBytes(i, 9)));
  await c.close();
});

t.test('free-space floor: under it the cache evicts its own blocks and admits nothing; near it, nothing new', async (t) => {
  const dir = t.testdir();
  let available = 1000 * FILE;
  const total = 5000 * FILE; // the floor: 500 files
  const io: DiskIo = { ...nodeDiskIo, statfs: async () => ({ availableBytes: available, totalBytes: total, blockBytes: UNIT }) };
  const c = await open(dir, { budgetBytes: 100 * FILE, minFreeBytes: 0.1, protectMs: 0, io });
  await c.whenIndexed();
  const k = keyOf('k', 64);
  for (let i = 0; i < 10; i++) c.put(k, i, blockBytes(i));
  await c.flush();
  t.equal(c.stats().files, 10, 'room enough: written');
  available = 497 * FILE; // someone else filled the disk: 3 files under the 10% floor
  c.put(k, 10, blockBytes(10));
  await c.flush();
  t.equal(c.stats().files, 7, 'evicted its 3 oldest blocks');
  t.equal(c.stats().notAdmitted, 1, 'and did not admit the new one');
  t.equal(await c.get(k, 0), undefined);
  t.ok(await c.get(k, 9));
  available = 500 * FILE + FILE / 2; // above the floor, by less than a block
  c.put(k, 11, blockBytes(11));
  await c.flush();
  t.equal(c.stats().files, 7, 'a block that would cross the floor is not admitted');
  t.equal(c.stats().notAdmitted, 2);
  await c.close();
});

t.test('free-space floor in bytes, estimated between statfs calls from what was written', async (t) => {
  const dir = t.testdir();
  let statfsCalls = 0;
  const io: DiskIo = {
    ...nodeDiskIo,
    statfs: async () => {
      statfsCalls++;
      return { availableBytes: 5 * FILE, totalBytes: 1e12, blockBytes: UNIT };
    },
  };
  const clock = new ManualClock();
  const c = await open(dir, { budgetBytes: 100 * FILE, minFreeBytes: 2 * FILE, statfsIntervalMs: 60_000, io, clock });
  await c.whenIndexed();
  const k = keyOf('k', 64);
  for (let i = 0; i < 10; i++) c.put(k, i, blockBytes(i));
  await c.flush();
  t.equal(c.stats().files, 3, '5 files free, 2 kept free: 3 written');
  t.equal(statfsCalls, 1, 'one statfs in the interval');
  t.equal(blockFiles(dir).length, 3);
  await c.close();
});

t.test('writers at once: never more than four files being written, and the budget holds with their temporary files', async (t) => {
  const dir = t.testdir();
  let writing = 0;
  let maxWriting = 0;
  let maxOnDisk = 0;
  const io: DiskIo = {
    ...nodeDiskIo,
    writeNew: async (file, data, mode) => {
      writing++;
      maxWriting = Math.max(maxWriting, writing);
      try {
        await nodeDiskIo.writeNew(file, data, mode);
        // Sampled with the temporary file on disk and before its rename.
        maxOnDisk = Math.max(maxOnDisk, bytesUnder(dir));
        await new Promise((r) => setImmediate(r));
      } finally {
        writing--;
      }
    },
  };
  const budget = 6 * FILE + FILE / 2;
  const c = await open(dir, { io, budgetBytes: budget, protectMs: 0, maxQueueBytes: 64 * BS });
  await c.whenIndexed();
  const k = keyOf('w', 64);
  for (let i = 0; i < 12; i++) c.put(k, i, blockBytes(i));
  await c.flush();
  t.equal(maxWriting, 4, 'four files written at once');
  t.ok(maxOnDisk <= budget, `at most ${maxOnDisk} of ${budget} bytes on disk, temporary files included`);
  t.equal(c.stats().files, 6);
  t.equal(bytesUnder(dir), c.stats().usedBytes);
  for (let i = 6; i < 12; i++) t.ok((await c.get(k, i))?.equals(blockBytes(i)), `block ${i} kept`);
  await c.close();
});

t.test('admission: a whole small object takes the place of a recent block of a large one, never of another recent small one', async (t) => {
  const dir = t.testdir();
  const clock = new ManualClock();
  const c = await open(dir, { budgetBytes: 4 * FILE + FILE / 2, protectMs: 60_000, clock });
  await c.whenIndexed();
  const big = keyOf('big.bin', 16);
  const small = (name: string) => keyOf(name, 1);
  const put = async (k: ReturnType<typeof keyOf>, index: number) => {
    c.put(k, index, blockBytes(index));
    await c.flush();
    clock.advance(10);
  };
  for (let i = 0; i < 4; i++) await put(big, i);
  t.equal(c.stats().files, 4, 'four blocks of a large object, all recent');
  await put(small('a'), 0);
  await put(small('b'), 0);
  t.match(c.stats(), { files: 4, evictions: 2, notAdmitted: 0 }, 'each small file took the place of the oldest block of the large object');
  t.equal(await c.get(big, 0), undefined);
  t.equal(await c.get(big, 1), undefined);
  t.ok((await c.get(big, 2))?.equals(blockBytes(2)), 'its newer blocks stay');
  await put(big, 4);
  t.equal(c.stats().notAdmitted, 1, 'a block of the large object does not displace recent blocks');
  await put(small('c'), 0);
  await put(small('d'), 0);
  await put(small('e'), 0);
  t.match(c.stats(), { files: 4, evictions: 4, notAdmitted: 2 }, 'c and d took the last two large-object blocks; e found only recent small files');
  for (const n of ['a', 'b', 'c', 'd']) t.ok((await c.get(small(n), 0))?.equals(blockBytes(0)), `${n} kept`);
  t.equal(await c.get(small('e'), 0), undefined, 'e not admitted');
  await c.close();
});
