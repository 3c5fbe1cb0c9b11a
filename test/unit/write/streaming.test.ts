import t from 'tap';
import { bytes, PART, setup } from './helpers/write-setup.js';

t.test('a small new file is one PutObject at commit', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const h = s.handle('small');
  const data = bytes(1000);
  await h.write(0, data);
  t.equal(s.mem.calls.put, 0, 'nothing sent before commit');
  const c = await h.close();
  t.equal(c?.size, 1000);
  t.ok(s.object('small')?.equals(data), 'bytes exact');
  t.same([s.mem.calls.put, s.mem.calls.create, s.mem.calls.part], [1, 0, 0]);
  t.equal(s.memory.heldBytes, 0, 'memory released');
});

t.test('a 3-part file streams parts 2.. and completes with part 1 at commit', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const h = s.handle('three');
  const data = bytes(2 * PART + 100);
  for (let p = 0; p < data.length; p += 1000) await h.write(p, data.subarray(p, p + 1000));
  t.equal(s.mem.calls.part, 1, 'part 2 uploaded while writing');
  await h.close();
  t.ok(s.object('three')?.equals(data), 'bytes exact');
  t.same([s.mem.calls.put, s.mem.calls.create, s.mem.calls.part, s.mem.calls.complete], [0, 1, 3, 1]);
  t.equal(s.mem.uploads.size, 0);
  t.equal(s.memory.heldBytes, 0, 'memory released');
});
