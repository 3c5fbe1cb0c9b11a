/**
 * Part sizes grow so that one object can be large: P for parts 1-1,000, 4P for 1,001-2,000, 16P
 * after, within S3's limits; past the last byte, EFBIG (tested without giant buffers).
 */
import t from 'tap';
import { UPLOAD_LIMITS } from '../../../src/store/object-store.js';
import { PartSchedule } from '../../../src/write/part-schedule.js';
import { setup } from './helpers/write-setup.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

t.test('8 MiB first parts: 8 MiB x 1,000, then 32 MiB x 1,000, then 128 MiB up to part 10,000', async (t) => {
  const s = new PartSchedule(8 * MiB);
  t.same(
    [s.sizeOf(1), s.sizeOf(1000), s.sizeOf(1001), s.sizeOf(2000), s.sizeOf(2001), s.sizeOf(10_000)],
    [8, 8, 32, 32, 128, 128].map((m) => m * MiB),
  );
  t.equal(s.startOf(1), 0);
  t.equal(s.startOf(2), 8 * MiB);
  t.equal(s.startOf(1001), 8000 * MiB);
  t.equal(s.startOf(2001), 8000 * MiB + 32_000 * MiB);
  t.equal(s.maxObjectBytes, 8000 * MiB + 32_000 * MiB + 8000 * 128 * MiB, 'about 1 TiB');
  t.ok(s.maxObjectBytes > 1000 * GiB);
});

t.test('partAt and startOf agree at every tier boundary', async (t) => {
  const s = new PartSchedule(5 * MiB);
  for (const n of [1, 2, 999, 1000, 1001, 1002, 1999, 2000, 2001, 2002, 9999, 10_000]) {
    const start = s.startOf(n);
    t.same(s.partAt(start), { number: n, start, size: s.sizeOf(n) }, `part ${n} starts at ${start}`);
    t.equal(s.partAt(start + s.sizeOf(n) - 1).number, n, `its last byte is in it`);
    if (n < 10_000) t.equal(s.startOf(n + 1), start + s.sizeOf(n), 'parts are contiguous');
  }
  t.throws(() => s.partAt(s.maxObjectBytes), RangeError);
});

t.test('parts never pass MAX_PART_BYTES, objects never pass MAX_OBJECT_BYTES', async (t) => {
  const s = new PartSchedule(1 * GiB);
  t.equal(s.sizeOf(1), GiB);
  t.equal(s.sizeOf(1001), 4 * GiB);
  t.equal(s.sizeOf(2001), UPLOAD_LIMITS.MAX_PART_BYTES, '16 GiB capped at 5 GiB');
  t.equal(s.maxObjectBytes, UPLOAD_LIMITS.MAX_OBJECT_BYTES);
  t.throws(() => new PartSchedule(0), RangeError);
});

t.test('parts stop growing at the memory cap: 48 MiB with a 256 MiB cache (writers hold 192 MiB)', async (t) => {
  const s = new PartSchedule(8 * MiB, (256 * MiB * 3) / 4 / 4);
  t.same(
    [s.sizeOf(1), s.sizeOf(1001), s.sizeOf(2001), s.sizeOf(10_000)],
    [8, 32, 48, 48].map((m) => m * MiB),
  );
  t.equal(s.maxObjectBytes, (8000 + 32_000 + 8000 * 48) * MiB);
  t.equal(s.partAt(s.startOf(2001) + 48 * MiB).number, 2002);
  const tiny = new PartSchedule(8 * MiB, MiB);
  t.equal(tiny.sizeOf(10_000), 8 * MiB, 'never below the first part size');
  t.equal(tiny.maxObjectBytes, 10_000 * 8 * MiB);
});

t.test('a handle caps its parts at a quarter of what writers may hold', async (t) => {
  const st = await setup({ partBytes: 1024, budgetBytes: 16 * 1024 });
  t.teardown(st.cleanup);
  // Writers may hold 12 KiB: parts at most 3 KiB, so tier 2 (4 KiB) and 3 (16 KiB) are 3 KiB.
  const max = new PartSchedule(1024, 3 * 1024).maxObjectBytes;
  const h = st.handle('f');
  t.ok(new PartSchedule(1024).maxObjectBytes > max, 'smaller than without the cap');
  await t.rejects(h.truncate(max + 1), { name: 'FsError', errno: 'EFBIG' });
  await h.close();
});

t.test('partsOf cuts the last part to the size', async (t) => {
  const s = new PartSchedule(10);
  t.same(
    [...s.partsOf(25)],
    [
      { number: 1, start: 0, size: 10 },
      { number: 2, start: 10, size: 10 },
      { number: 3, start: 20, size: 5 },
    ],
  );
  t.same([...s.partsOf(0)], []);
});

t.test('a write or truncate past the largest object is EFBIG, and the handle stays usable', async (t) => {
  const st = await setup({ partBytes: 1024 });
  t.teardown(st.cleanup);
  const max = new PartSchedule(1024).maxObjectBytes;
  const h = st.handle('huge');
  await t.rejects(h.write(max, Buffer.from('x')), { name: 'FsError', errno: 'EFBIG' });
  await t.rejects(h.truncate(max + 1), { name: 'FsError', errno: 'EFBIG' });
  await h.write(0, Buffer.from('ok'));
  await h.close();
  t.equal(st.object('huge')?.toString(), 'ok');
});
