/**
 * Reads that miss the cache in one turn of the event loop are fetched together: the kernel
 * splits one large application read into 128 KiB requests that arrive at once, and a columnar
 * reader (Parquet, Arrow) pays a round trip per GET. Reads far apart keep their own exact GETs.
 */
import t from 'tap';
import { BlockCache } from '../../../src/read/block-cache.js';
import { BlockFetcher } from '../../../src/read/block-fetcher.js';
import { ObjectReader, ReaderContext } from '../../../src/read/object-reader.js';
import { objectRef } from '../../../src/read/object-ref.js';
import { StoreError } from '../../../src/store/store-error.js';
import { FaultStore, Gate } from '../helpers/fault-store.js';
import { MemoryStore, ramp } from '../helpers/memory-store.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 32 * MiB;

function setup() {
  const mem = new MemoryStore();
  const data = ramp(SIZE, 3);
  mem.put('obj', data);
  const store = new FaultStore(mem);
  const ranges: [number, number][] = [];
  const origin = store.readRange.bind(store);
  store.readRange = (req, onChunk) => {
    ranges.push([req.start, req.end]);
    return origin(req, onChunk);
  };
  const fetcher = new BlockFetcher(new BlockCache(64 * MiB, MiB), 8 * MiB);
  const policy = { initialWindowBytes: MiB, maxWindowBytes: () => 16 * MiB };
  const etag = mem.objects.get('obj')?.etag as string;
  const reader = new ObjectReader(objectRef(store, 'obj', etag, SIZE), new ReaderContext(fetcher, MiB, policy));
  const read = async (pos: number, len: number) => Buffer.concat(await reader.read(pos, len));
  return { data, store, ranges, reader, read };
}

t.test('128 KiB reads of one large read, arriving together in any order, are one GET of exactly their span', async (t) => {
  const { data, ranges, reader, read } = setup();
  const start = 5 * MiB + 12 * KiB;
  const offsets = Array.from({ length: 12 }, (_, i) => start + i * 128 * KiB);
  const shuffled = [7, 2, 11, 0, 5, 9, 1, 4, 10, 3, 8, 6].map((i) => offsets[i] as number);
  const got = await Promise.all(shuffled.map((pos) => read(pos, 128 * KiB)));
  shuffled.forEach((pos, i) => t.ok(got[i]?.equals(data.subarray(pos, pos + 128 * KiB)), `bytes at ${pos}`));
  t.same(ranges, [[start, start + 12 * 128 * KiB]], 'one GET, of the 1.5 MiB asked for and nothing more');
  reader.close();
});

t.test('reads far apart in the same turn keep their own exact GETs; a small gap is fetched with its neighbours', async (t) => {
  const { data, ranges, reader, read } = setup();
  const asked: [number, number][] = [
    [1 * MiB, 4 * KiB],
    [20 * MiB, 128 * KiB],
    [20 * MiB + 128 * KiB + 60 * KiB, 128 * KiB], // 60 KiB after the previous: joined
    [9 * MiB, 64 * KiB],
  ];
  const got = await Promise.all(asked.map(([pos, len]) => read(pos, len)));
  asked.forEach(([pos, len], i) => t.ok(got[i]?.equals(data.subarray(pos, pos + len)), `bytes at ${pos}`));
  t.same(
    [...ranges].sort((a, b) => a[0] - b[0]),
    [
      [1 * MiB, 1 * MiB + 4 * KiB],
      [9 * MiB, 9 * MiB + 64 * KiB],
      [20 * MiB, 20 * MiB + 316 * KiB],
    ],
    'three GETs: the lone 4 KiB and 64 KiB reads exactly, the two near reads as one',
  );
  reader.close();
});

t.test('a lone read in its turn is an exact GET, as before', async (t) => {
  const { data, ranges, reader, read } = setup();
  t.ok((await read(7 * MiB + 100, 4 * KiB)).equals(data.subarray(7 * MiB + 100, 7 * MiB + 100 + 4 * KiB)));
  t.same(ranges, [[7 * MiB + 100, 7 * MiB + 100 + 4 * KiB]]);
  reader.close();
});

t.test('each read of a joined GET is answered when its own bytes are here, not when the whole span is', async (t) => {
  const { data, store, reader, read } = setup();
  const gate = new Gate();
  store.inject({ op: 'readRange', fault: { kind: 'delay', until: gate.promise, afterBytes: 256 * KiB } });
  const base = 3 * MiB;
  const order: number[] = [];
  const reads = [0, 1, 2, 3].map((i) =>
    read(base + i * 128 * KiB, 128 * KiB).then((b) => {
      order.push(i);
      return b;
    }),
  );
  // The first 256 KiB arrived; the rest waits on the gate.
  await Promise.all(reads.slice(0, 2));
  t.same(order, [0, 1], 'the first two reads are answered while the GET still waits for the rest');
  gate.open();
  const got = await Promise.all(reads);
  got.forEach((b, i) => t.ok(b.equals(data.subarray(base + i * 128 * KiB, base + (i + 1) * 128 * KiB)), `bytes of read ${i}`));
  t.equal(store.calls.readRange, 1, 'one GET for the four reads');
  reader.close();
});

t.test('a joined GET that fails fails each of its reads with the store error, and the next reads fetch anew', async (t) => {
  const { data, store, reader, read } = setup();
  store.inject({ op: 'readRange', times: 1, fault: { kind: 'error', error: new StoreError('access-denied', 'refused (injected)') } });
  const outcomes = await Promise.allSettled([0, 1, 2].map((i) => read(MiB + i * 128 * KiB, 128 * KiB)));
  t.same(
    outcomes.map((o) => (o.status === 'rejected' ? (o.reason as StoreError).kind : 'bytes')),
    ['access-denied', 'access-denied', 'access-denied'],
  );
  t.ok((await read(MiB, 128 * KiB)).equals(data.subarray(MiB, MiB + 128 * KiB)), 'a later read gets its bytes');
  reader.close();
});

t.test('reads still waiting for their turn when the handle is released fail as aborted, never with wrong bytes', async (t) => {
  const { store, reader } = setup();
  const pending = reader.read(2 * MiB, 128 * KiB);
  reader.close();
  await t.rejects(pending as Promise<unknown>, { kind: 'aborted' });
  t.equal(store.calls.readRange, 0, 'no GET for a released handle');
});
