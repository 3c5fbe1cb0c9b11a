/**
 * Reads of a handle that has not written: from S3 (the version opened); sequential reads fetch
 * ahead and serve the next reads from one kept block, random reads fetch exactly their bytes.
 */
import t from 'tap';
import { READ_AHEAD_BYTES } from '../../../src/write/clean-reader.js';
import { bytes, setup } from './helpers/write-setup.js';

const KiB = 1024;

function recordRanges(s: Awaited<ReturnType<typeof setup>>): [number, number][] {
  const ranges: [number, number][] = [];
  const origin = s.store.readRange.bind(s.store);
  s.store.readRange = (req, onChunk) => {
    ranges.push([req.start, req.end]);
    return origin(req, onChunk);
  };
  return ranges;
}

t.test('sequential 128 KiB reads: one GET per read-ahead block, bytes exact', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const data = bytes(3 * READ_AHEAD_BYTES + 5);
  s.mem.put('f', data);
  const ranges = recordRanges(s);
  const h = s.handle('f');
  const got: Buffer[] = [];
  for (let p = 0; p < data.length; p += 128 * KiB) got.push(await h.read(p, 128 * KiB));
  t.ok(Buffer.concat(got).equals(data));
  t.same(ranges, [
    [0, 128 * KiB], // the first read is not known to be sequential
    [128 * KiB, 128 * KiB + READ_AHEAD_BYTES],
    [128 * KiB + READ_AHEAD_BYTES, 128 * KiB + 2 * READ_AHEAD_BYTES],
    [128 * KiB + 2 * READ_AHEAD_BYTES, data.length],
  ]);
  t.ok(s.memory.heldBytes > 0, 'the kept block is in the budget');
  await h.close();
  t.equal(s.memory.heldBytes, 0, 'freed at close');
});

t.test('random reads fetch exactly their bytes', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const data = bytes(4 * READ_AHEAD_BYTES);
  s.mem.put('db', data);
  const ranges = recordRanges(s);
  const h = s.handle('db');
  for (const p of [3 * READ_AHEAD_BYTES, 4096, 2 * READ_AHEAD_BYTES + 100]) t.ok((await h.read(p, 4096)).equals(data.subarray(p, p + 4096)));
  t.same(
    ranges.map(([a, b]) => b - a),
    [4096, 4096, 4096],
  );
  await h.close();
});

t.test('the kept block is dropped at the first write; reads then see the written bytes', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const data = bytes(2 * READ_AHEAD_BYTES);
  s.mem.put('f', data);
  const h = s.handle('f');
  await h.read(0, 4096);
  await h.read(4096, 4096);
  t.ok(s.memory.heldBytes >= READ_AHEAD_BYTES);
  await h.write(5000, Buffer.from('new'));
  data.write('new', 5000);
  t.ok((await h.read(4096, 4096)).equals(data.subarray(4096, 8192)));
  await h.close();
  t.ok(s.object('f')?.equals(data));
  t.equal(s.memory.heldBytes, 0);
});

t.test('no read-ahead when the writers hold the memory: the read is exact, it does not wait', async (t) => {
  const s = await setup({ budgetBytes: 2 * READ_AHEAD_BYTES });
  t.teardown(s.cleanup);
  const data = bytes(2 * READ_AHEAD_BYTES);
  s.mem.put('f', data);
  await s.memory.acquire(s.memory.writerLimitBytes - 1000);
  const ranges = recordRanges(s);
  const h = s.handle('f');
  await h.read(0, 4096);
  t.ok((await h.read(4096, 4096)).equals(data.subarray(4096, 8192)));
  t.same(ranges, [
    [0, 4096],
    [4096, 8192],
  ]);
  await h.close();
});
