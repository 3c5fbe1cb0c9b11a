/**
 * A seek must never fail a read. A forward seek drops the read-ahead nobody waits for (its GETs
 * are aborted); a read that lands on a block of such a download must fetch it anew, not adopt
 * the aborted download and fail with its abort.
 */
import t from 'tap';
import { constants } from 'node:fs';
import { MemoryStore, ramp } from '../helpers/memory-store.js';
import { FaultStore, Gate } from '../helpers/fault-store.js';
import { StoreError } from '../../../src/store/store-error.js';
import { KiB, MiB, settle, testFilesystem } from '../helpers/test-filesystem.js';

function setup() {
  const mem = new MemoryStore();
  const data = ramp(16 * MiB, 5);
  mem.put('big.bin', data);
  const store = new FaultStore(mem);
  // Everything past the first block is slow: read-ahead stays in flight until the gate opens.
  const gate = new Gate();
  store.inject({ op: 'readRange', calls: (c) => (c.start ?? 0) >= MiB, fault: { kind: 'delay', until: gate.promise } });
  return { data, store, gate, ...testFilesystem({ store }) };
}

/** Reads [0, 1 MiB) in 128 KiB reads: the reader is sequential and read-ahead covers blocks 1-2. */
async function streamFirstMiB(read: (fd: number, pos: number, len: number) => Promise<Buffer>, fd: number, data: Buffer, t: { fail(msg: string): void }) {
  for (let pos = 0; pos < MiB; pos += 128 * KiB) {
    if (!(await read(fd, pos, 128 * KiB)).equals(data.subarray(pos, pos + 128 * KiB))) t.fail(`bytes at ${pos}`);
  }
}

t.test('a forward seek into read-ahead still downloading reads the right bytes', async (t) => {
  const { fs, data, store, gate, read, readOutcome } = setup();
  const fd = await fs.open('/big.bin', constants.O_RDONLY);
  await streamFirstMiB(read, fd, data, t);
  await settle();
  const covering = (pos: number) => store.injected.some((c) => (c.start ?? 0) <= pos && pos < (c.end ?? 0));
  const seekTo = 2 * MiB + 512 * KiB;
  t.ok(covering(seekTo), 'read-ahead has a GET in flight covering the seek target');
  t.ok(fs.fetcher.inflightBytes > 0, `read-ahead in flight: ${fs.fetcher.inflightBytes} bytes`);

  const after = readOutcome(fd, seekTo, 128 * KiB);
  await settle();
  gate.open();
  const r = await after;
  t.same('errno' in r ? r.errno : 'bytes', 'bytes', 'the read after the seek does not fail');
  if ('bytes' in r) t.ok(r.bytes.equals(data.subarray(seekTo, seekTo + 128 * KiB)), 'and returns the bytes at the seek target');
  // Reading on from there, sequentially, stays right.
  for (let pos = seekTo + 128 * KiB; pos < seekTo + 2 * MiB; pos += 128 * KiB) {
    const o = await readOutcome(fd, pos, 128 * KiB);
    if (!('bytes' in o) || !o.bytes.equals(data.subarray(pos, pos + 128 * KiB))) t.fail(`read at ${pos}: ${'errno' in o ? o.errno : 'wrong bytes'}`);
  }
  fs.release(fd);
  await settle();
  t.equal(fs.fetcher.inflightBytes, 0, 'nothing in flight after release');
});

t.test('a read waiting across a block keeps its download; a seek by another read of the handle does not fail either', async (t) => {
  const { fs, data, gate, read, readOutcome } = setup();
  const fd = await fs.open('/big.bin', constants.O_RDONLY);
  await streamFirstMiB(read, fd, data, t);
  // Waits on block 1 (in flight), then a concurrent read of the same handle seeks to block 2.
  const across = readOutcome(fd, MiB - 64 * KiB, 128 * KiB);
  await settle();
  const seek = readOutcome(fd, 2 * MiB + 100 * KiB, 64 * KiB);
  await settle();
  gate.open();
  const [a, b] = await Promise.all([across, seek]);
  t.ok('bytes' in a && a.bytes.equals(data.subarray(MiB - 64 * KiB, MiB + 64 * KiB)), `the read across blocks 0-1: ${'errno' in a ? a.errno : 'bytes'}`);
  t.ok('bytes' in b && b.bytes.equals(data.subarray(2 * MiB + 100 * KiB, 2 * MiB + 164 * KiB)), `the read after the seek: ${'errno' in b ? b.errno : 'bytes'}`);
  fs.release(fd);
});

t.test('another handle never adopts a download aborted by a seek', async (t) => {
  const { fs, data, gate, read, readOutcome } = setup();
  const a = await fs.open('/big.bin', constants.O_RDONLY);
  const b = await fs.open('/big.bin', constants.O_RDONLY);
  await streamFirstMiB(read, a, data, t);
  // Handle a seeks far away: its read-ahead of blocks 1-2 is aborted.
  const far = readOutcome(a, 12 * MiB, 4 * KiB);
  // Handle b reads in block 2 right after, before the aborted GET has settled.
  const near = readOutcome(b, 2 * MiB + 7, 4 * KiB);
  await settle();
  gate.open();
  const [x, y] = await Promise.all([far, near]);
  t.ok('bytes' in x && x.bytes.equals(data.subarray(12 * MiB, 12 * MiB + 4 * KiB)), `handle a after its seek: ${'errno' in x ? x.errno : 'bytes'}`);
  t.ok('bytes' in y && y.bytes.equals(data.subarray(2 * MiB + 7, 2 * MiB + 7 + 4 * KiB)), `handle b in the aborted range: ${'errno' in y ? y.errno : 'bytes'}`);
  fs.release(a);
  fs.release(b);
  await settle();
  t.equal(fs.fetcher.inflightBytes, 0, 'nothing in flight after release');
});

t.test('an abort the reader did not ask for (the store gave up on its own) is retried, never answered', async (t) => {
  const mem = new MemoryStore();
  const data = ramp(4 * MiB, 9);
  mem.put('big.bin', data);
  const store = new FaultStore(mem);
  const { fs, readOutcome } = testFilesystem({ store });
  const fd = await fs.open('/big.bin', constants.O_RDONLY);
  for (const [pos, len] of [
    [3 * MiB + 1, 4 * KiB],
    [0, 1 * MiB],
    [MiB + 5, 2 * MiB],
  ] as const) {
    store.inject({ op: 'readRange', times: 1, fault: { kind: 'error', error: new StoreError('aborted', 'aborted (injected)') } });
    const r = await readOutcome(fd, pos, len);
    t.ok('bytes' in r && r.bytes.equals(data.subarray(pos, pos + len)), `read at ${pos}+${len}: ${'errno' in r ? r.errno : 'right bytes'}`);
  }
  t.equal(store.injected.length, 3, 'three aborts injected');
  fs.release(fd);
});
