/**
 * Streaming: a new file (or O_TRUNC) is uploaded while it is written; the first part stays in
 * memory until commit; a small file is one PUT.
 */
import t from 'tap';
import { Gate } from '../helpers/fault-store.js';
import { bytes, PART, recordParts, setup } from './helpers/write-setup.js';

t.test('a small new file is one PutObject at commit, nothing before', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const h = s.handle('small');
  const data = bytes(1000);
  await h.write(0, data);
  t.equal(s.mem.calls.put, 0, 'nothing sent before commit');
  t.ok(h.dirty);
  const c = await h.close();
  t.equal(c?.size, 1000);
  t.equal(c?.etag, s.mem.objects.get('small')?.etag, 'the etag S3 answered');
  t.ok(s.object('small')?.equals(data), 'bytes exact');
  t.same([s.mem.calls.put, s.mem.calls.create, s.mem.calls.part], [1, 0, 0]);
  t.equal(s.memory.heldBytes, 0, 'memory released');
});

t.test('a new file with no write is committed empty; a second commit does nothing', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const h = s.handle('empty');
  t.ok(h.dirty, 'a new file starts dirty');
  t.equal((await h.commit())?.size, 0);
  t.same(s.object('empty'), Buffer.alloc(0));
  t.notOk(h.dirty);
  t.equal(await h.commit(), undefined, 'nothing to do');
  t.equal(await h.close(), undefined);
  t.equal(s.mem.calls.put, 1);
});

t.test('O_TRUNC of an existing object starts empty, never reads it', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  s.mem.put('old', bytes(3 * PART));
  const h = s.handle('old', { truncate: true });
  t.equal(h.size, 0);
  await h.write(0, Buffer.from('new'));
  await h.close();
  t.equal(s.object('old')?.toString(), 'new');
  t.equal(s.mem.calls.get, 0, 'no GET of the old object');
});

t.test('a 3-part file: parts 2.. upload while writing, part sizes as scheduled, bytes exact', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const parts = recordParts(s.store);
  const h = s.handle('three');
  const data = bytes(2 * PART + 100);
  for (let p = 0; p < data.length; p += 1000) await h.write(p, data.subarray(p, p + 1000));
  t.same(parts, [{ partNumber: 2, bytes: PART }], 'part 2 uploaded while writing; part 1 kept');
  await h.close();
  t.ok(s.object('three')?.equals(data), 'bytes exact');
  t.same(
    parts.sort((a, b) => a.partNumber - b.partNumber),
    [
      { partNumber: 1, bytes: PART },
      { partNumber: 2, bytes: PART },
      { partNumber: 3, bytes: 100 },
    ],
  );
  t.same([s.mem.calls.put, s.mem.calls.create, s.mem.calls.complete], [0, 1, 1]);
  t.equal(s.mem.uploads.size, 0, 'no upload left');
  t.equal(s.memory.heldBytes, 0, 'memory released');
  t.equal(s.budget.reservedBytes, 0, 'the shared budget got it all back');
});

t.test('a file of exactly one part is one PUT; one byte more is a multipart upload', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const one = s.handle('one');
  await one.write(0, bytes(PART));
  await one.close();
  t.same([s.mem.calls.put, s.mem.calls.create], [1, 0]);
  const more = s.handle('more');
  const data = bytes(PART + 1);
  await more.write(0, data);
  await more.close();
  t.same([s.mem.calls.put, s.mem.calls.create, s.mem.calls.complete], [1, 1, 1]);
  t.ok(s.object('more')?.equals(data));
});

t.test('the first part is patched in memory after later parts were uploaded (a header rewritten at the end)', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const h = s.handle('wav');
  const data = bytes(3 * PART + 5);
  await h.write(0, data);
  t.equal(s.mem.calls.part, 2, 'parts 2 and 3 uploaded');
  const header = Buffer.from('RIFF-final-length');
  await h.write(10, header);
  header.copy(data, 10);
  t.ok((await h.read(0, 40)).equals(data.subarray(0, 40)), 'read back from memory');
  // The current (last) part is in memory too.
  await h.write(3 * PART + 1, Buffer.from('zz'));
  data.write('zz', 3 * PART + 1);
  await h.close();
  t.ok(s.object('wav')?.equals(data), 'bytes exact');
  t.equal(s.mem.calls.get, 0, 'no staging, no download');
  t.same(await s.stagingFiles(), [], 'no staging file used');
});

t.test('a small gap after the end streams zeros', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const h = s.handle('gap');
  await h.write(0, Buffer.from('ab'));
  await h.write(PART + 10, Buffer.from('cd'));
  t.equal(h.size, PART + 12);
  await h.close();
  const want = Buffer.alloc(PART + 12);
  want.write('ab', 0);
  want.write('cd', PART + 10);
  t.ok(s.object('gap')?.equals(want));
  t.equal(s.mem.calls.get, 0);
});

t.test('truncate within memory: shorter inside the current part, back into the first part, longer with zeros', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const h = s.handle('cut');
  const data = bytes(PART + 500);
  await h.write(0, data);
  await h.truncate(PART + 100);
  t.equal(h.size, PART + 100);
  await h.truncate(300);
  t.equal(h.size, 300);
  await h.truncate(400);
  await h.close();
  t.ok(s.object('cut')?.equals(Buffer.concat([data.subarray(0, 300), Buffer.alloc(100)])));
  t.same([s.mem.calls.put, s.mem.calls.create], [1, 0], 'one PUT');
});

t.test('truncate(0) of a stream with parts uploaded drops the upload and starts again', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const h = s.handle('again');
  await h.write(0, bytes(3 * PART));
  t.equal(s.mem.uploads.size, 1);
  await h.truncate(0);
  t.equal(s.mem.uploads.size, 0, 'the first upload aborted');
  await h.write(0, Buffer.from('short'));
  await h.close();
  t.equal(s.object('again')?.toString(), 'short');
  t.equal(s.memory.heldBytes, 0);
});

t.test('backpressure: at most uploadConcurrency parts in flight; the writer waits for a slot', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const gate = new Gate();
  s.store.inject({ op: 'uploadPart', fault: { kind: 'delay', until: gate.promise } });
  let inFlight = 0;
  let most = 0;
  const origin = s.store.uploadPart.bind(s.store);
  s.store.uploadPart = async (...args) => {
    most = Math.max(most, ++inFlight);
    try {
      return await origin(...args);
    } finally {
      inFlight--;
    }
  };
  const h = s.handle('big', { uploadConcurrency: 2 });
  const data = bytes(6 * PART);
  // Parts 2 and 3 fill and go (a full part goes when the next byte arrives); sending part 4 needs a slot.
  await h.write(0, data.subarray(0, 3 * PART + 1));
  await new Promise((r) => setImmediate(r));
  t.equal(inFlight, 2, 'two parts in flight');
  let wrote = false;
  const blocked = h.write(3 * PART + 1, data.subarray(3 * PART + 1, 6 * PART)).then(() => (wrote = true));
  await new Promise((r) => setImmediate(r));
  t.notOk(wrote, 'the writer waits while two parts are in flight');
  t.ok(s.memory.heldBytes <= 4 * PART, `memory bounded while waiting (${s.memory.heldBytes})`);
  gate.open();
  await blocked;
  await h.close();
  t.equal(most, 2, 'never more than 2 in flight');
  t.ok(s.object('big')?.equals(data));
});

t.test('memory: the first part grows with the file instead of reserving a whole part', async (t) => {
  const s = await setup({ partBytes: 1024 * 1024 });
  t.teardown(s.cleanup);
  const h = s.handle('tiny');
  await h.write(0, Buffer.from('x'));
  t.ok(s.memory.heldBytes <= 64 * 1024, `${s.memory.heldBytes} bytes held for 1 byte`);
  await h.close();
  t.equal(s.memory.heldBytes, 0);
});

t.test('concurrent operations on one handle are serialised in arrival order', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const h = s.handle('conc');
  const data = bytes(2 * PART + 77);
  const chunks: Promise<void>[] = [];
  for (let p = 0; p < data.length; p += 512) chunks.push(h.write(p, data.subarray(p, p + 512)));
  const committed = h.commit();
  await Promise.all(chunks);
  t.equal((await committed)?.size, data.length);
  t.ok(s.object('conc')?.equals(data));
  await h.close();
});

t.test('fsync then more appends: a file that was one PUT goes on streaming, no download', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const h = s.handle('log');
  let want = '';
  for (let i = 0; i < 5; i++) {
    const line = `line ${i}\n`;
    await h.write(want.length, Buffer.from(line));
    want += line;
    t.equal((await h.commit())?.size, want.length);
    t.equal(s.object('log')?.toString(), want, `committed after line ${i}`);
  }
  t.notOk(h.dirty);
  // Grows past one part after commits: multipart, the first part still in memory.
  const more = bytes(2 * PART);
  await h.write(want.length, more);
  await h.close();
  t.ok(s.object('log')?.equals(Buffer.concat([Buffer.from(want), more])));
  t.equal(s.mem.calls.get, 0, 'never downloaded');
  t.same(await s.stagingFiles(), []);
  t.equal(s.staging?.usedBytes, 0);
  t.equal(s.memory.heldBytes, 0);
});

t.test('after a multipart commit the handle is clean: the next edit stages from the new object', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const h = s.handle('big');
  const data = bytes(2 * PART + 7);
  await h.write(0, data);
  await h.commit();
  t.notOk(h.dirty);
  t.equal(s.memory.heldBytes, 0, 'its memory freed at commit');
  await h.write(data.length, Buffer.from('tail'));
  await h.close();
  t.ok(s.object('big')?.equals(Buffer.concat([data, Buffer.from('tail')])));
  t.ok(s.mem.calls.get > 0, 'staged from the committed object');
});
