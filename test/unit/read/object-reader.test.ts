import t from 'tap';
import { BlockCache } from '../../../src/read/block-cache.js';
import { BlockFetcher } from '../../../src/read/block-fetcher.js';
import { ObjectReader, ReaderContext } from '../../../src/read/object-reader.js';
import { objectRef } from '../../../src/read/object-ref.js';
import { StoreError } from '../../../src/store/store-error.js';
import { MemoryStore, ramp } from '../helpers/memory-store.js';

const MiB = 1024 * 1024;
const BS = MiB;

function setup(size: number, cacheBytes = 64 * MiB, partBytes = 8 * MiB) {
  const store = new MemoryStore();
  const data = ramp(size);
  store.put('obj', data);
  const o = store.objects.get('obj')!;
  const cache = new BlockCache(cacheBytes, BS);
  const fetcher = new BlockFetcher(cache, partBytes);
  const policy = { initialWindowBytes: MiB, maxWindowBytes: () => 16 * MiB };
  const reader = () => new ObjectReader(objectRef(store, 'obj', o.etag, size), new ReaderContext(fetcher, BS, policy));
  return { store, data, cache, fetcher, reader };
}

async function readAt(r: ObjectReader, pos: number, len: number): Promise<Buffer> {
  return Buffer.concat(await r.read(pos, len));
}

t.test('a sequential read returns every byte in order', async (t) => {
  const size = 20 * MiB + 12345;
  const { data, reader, store } = setup(size);
  const r = reader();
  const parts: Buffer[] = [];
  for (let pos = 0; pos < size; pos += 128 * 1024) parts.push(await readAt(r, pos, 128 * 1024));
  t.ok(Buffer.concat(parts).equals(data), 'bytes equal the object');
  t.equal(store.calls.getBytes, size, 'every byte fetched exactly once');
  t.ok(store.calls.get < 40, `far fewer GETs than the 161 FUSE reads (${store.calls.get})`);
  r.close();
});

t.test('read-ahead runs ahead of the reader', async (t) => {
  const { reader, store } = setup(64 * MiB);
  const r = reader();
  await readAt(r, 0, 128 * 1024);
  for (let pos = 128 * 1024; pos < 4 * MiB; pos += 128 * 1024) await readAt(r, pos, 128 * 1024);
  await new Promise((res) => setTimeout(res, 20));
  t.ok(store.calls.getBytes > 4 * MiB, `fetched ahead: ${store.calls.getBytes} bytes after reading 4 MiB`);
  r.close();
});

t.test('random reads are right and fetch only what they touch', async (t) => {
  const size = 32 * MiB;
  const { data, reader, store } = setup(size);
  const r = reader();
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < 200; i++) {
    const pos = Math.floor(rnd() * size);
    const len = 1 + Math.floor(rnd() * 300_000);
    const got = await readAt(r, pos, len);
    const want = data.subarray(pos, Math.min(size, pos + len));
    if (!got.equals(want)) {
      t.fail(`mismatch at ${pos}+${len}`);
      return;
    }
  }
  t.pass('200 random ranges match');
  t.ok(store.calls.getBytes <= size + 2 * BS, `no runaway prefetch: ${store.calls.getBytes} bytes for a ${size}-byte object`);
  r.close();
});

t.test('small random reads fetch about what they read', async (t) => {
  const size = 64 * MiB;
  const { data, reader, store } = setup(size);
  const r = reader();
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  let asked = 0;
  for (let i = 0; i < 500; i++) {
    const pos = Math.floor(rnd() * (size / 4096)) * 4096 + 4096;
    const got = await readAt(r, pos, 4096);
    asked += got.length;
    if (!got.equals(data.subarray(pos, pos + 4096))) return t.fail(`mismatch at ${pos}`);
  }
  t.ok(store.calls.getBytes <= 4 * asked, `fetched ${store.calls.getBytes} bytes for ${asked} read`);
  r.close();
});

t.test('reads at and past EOF return 0 bytes; a read across EOF is clipped', async (t) => {
  const { data, reader } = setup(3 * MiB + 10);
  const r = reader();
  t.equal((await readAt(r, 3 * MiB + 10, 4096)).length, 0);
  t.equal((await readAt(r, 10 * MiB, 4096)).length, 0);
  const tail = await readAt(r, 3 * MiB, 4096);
  t.ok(tail.equals(data.subarray(3 * MiB)), 'tail bytes');
  r.close();
});

t.test('an empty object reads as empty without any GET', async (t) => {
  const { store, cache, fetcher } = setup(1);
  store.put('empty', '');
  const o = store.objects.get('empty')!;
  const before = store.calls.get;
  const r = new ObjectReader(
    objectRef(store, 'empty', o.etag, 0),
    new ReaderContext(fetcher, cache.blockSize, { initialWindowBytes: MiB, maxWindowBytes: () => MiB }),
  );
  t.equal((await readAt(r, 0, 4096)).length, 0);
  t.equal(store.calls.get, before);
});

t.test('the cache stays within its byte budget', async (t) => {
  const size = 40 * MiB;
  const { reader, cache } = setup(size, 8 * MiB);
  const r = reader();
  for (let pos = 0; pos < size; pos += 128 * 1024) {
    await readAt(r, pos, 128 * 1024);
    if (cache.cachedBytes > cache.maxBytes) {
      t.fail(`cache holds ${cache.cachedBytes} > ${cache.maxBytes}`);
      return;
    }
  }
  t.pass('never over budget');
  r.close();
});

t.test('a changed object fails the read instead of mixing versions', async (t) => {
  const { reader, store } = setup(4 * MiB);
  const r = reader();
  store.put('obj', ramp(4 * MiB, 99)); // new etag
  await t.rejects(readAt(r, 0, 4096), { kind: 'precondition-failed' });
});

t.test('a failed GET rejects the read and a later read retries', async (t) => {
  const { data, reader, store } = setup(2 * MiB);
  const r = reader();
  store.failNextGet = new StoreError('server', 'boom');
  await t.rejects(readAt(r, 0, 4096), { kind: 'server' });
  const again = await readAt(r, 0, 4096);
  t.ok(again.equals(data.subarray(0, 4096)));
});

t.test('two readers of one object share downloads', async (t) => {
  const size = 8 * MiB;
  // The same reads by one reader, then by two at once: two fetch exactly what one does.
  const fetchedBy = async (readers: number) => {
    const { data, reader, store, fetcher } = setup(size);
    const rs = Array.from({ length: readers }, reader);
    const got = await Promise.all(rs.map((r) => readAt(r, 0, 2 * MiB)));
    // Read-ahead started by the reads counts too: wait until it has all arrived.
    for (let i = 0; fetcher.inflightBytes > 0; i++) {
      if (i > 1000) throw new Error(`read-ahead still in flight: ${fetcher.inflightBytes} bytes`);
      await new Promise((res) => setImmediate(res));
    }
    for (const r of rs) r.close();
    return { data, got, gets: store.calls.get, bytes: store.calls.getBytes };
  };
  const one = await fetchedBy(1);
  const two = await fetchedBy(2);
  const [x, y] = two.got as [Buffer, Buffer];
  t.ok(x.equals(two.data.subarray(0, 2 * MiB)) && y.equals(x));
  t.ok(two.bytes <= size, `no block fetched twice (${two.bytes})`);
  t.ok(one.bytes >= 2 * MiB, `one reader fetched what it read and its read-ahead (${one.bytes} bytes)`);
  t.same({ gets: two.gets, bytes: two.bytes }, { gets: one.gets, bytes: one.bytes }, 'two readers: the same GETs and bytes as one');
});

t.test('a seek drops read-ahead nobody waits for; release drops the rest', async (t) => {
  const size = 256 * MiB;
  const { data, reader, store, fetcher } = setup(size, 256 * MiB);
  store.chunkSize = 256 * 1024;
  store.chunkDelayMs = 2;
  const r = reader();
  for (let pos = 0; pos < 8 * MiB; pos += 128 * 1024) await readAt(r, pos, 128 * 1024);
  t.ok(fetcher.inflightBytes > 0, `read-ahead in flight (${fetcher.inflightBytes} bytes)`);
  const wouldFetch = store.calls.getBytes + fetcher.inflightBytes;
  const far = 200 * MiB;
  const got = await readAt(r, far, 4096);
  t.ok(got.equals(data.subarray(far, far + 4096)), 'the read after the seek is right');
  await new Promise((res) => setTimeout(res, 50));
  t.ok(store.calls.getBytes < wouldFetch, `old read-ahead aborted: ${store.calls.getBytes} bytes fetched, ${wouldFetch} without the abort`);
  r.close();
  await new Promise((res) => setTimeout(res, 20));
  t.equal(fetcher.inflightBytes, 0, 'nothing in flight after release');
});
