/**
 * A failed upload (the fault store's StoreError: failed for good, the S3Store's retries being
 * spent) is aborted, leaves no parts behind, is returned by commit/close, and the handle answers
 * EIO after it. Parts still in flight are cancelled and settled before the abort.
 */
import t from 'tap';
import { StoreError } from '../../../src/store/store-error.js';
import { Gate } from '../helpers/fault-store.js';
import { bytes, PART, setup } from './helpers/write-setup.js';

const serverError = () => new StoreError('server', 'HTTP 500 InternalError (injected)', { status: 500 });

t.test('a part fails: commit rejects with its error, the upload is aborted, later operations EIO', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  s.store.inject({ op: 'uploadPart', calls: (c) => c.start === 2, fault: { kind: 'error', error: serverError() } });
  const h = s.handle('f');
  await h.write(0, bytes(2 * PART + 1)); // part 2 goes; its failure is not awaited by the writer
  await t.rejects(h.commit(), { name: 'StoreError', kind: 'server' });
  t.equal(s.store.calls.abortMultipartUpload, 1, 'aborted');
  t.equal(s.mem.uploads.size, 0, 'no orphaned parts');
  t.equal(s.object('f'), undefined, 'no object');
  await t.rejects(h.write(0, Buffer.from('x')), { name: 'FsError', errno: 'EIO' });
  await t.rejects(h.read(0, 1), { name: 'FsError', errno: 'EIO' });
  await t.rejects(h.close(), { name: 'FsError', errno: 'EIO' });
  await t.rejects(h.write(0, Buffer.from('x')), { name: 'FsError', errno: 'EBADF' }, 'closed');
  t.equal(s.memory.heldBytes, 0, 'memory released');
});

t.test(
  'an abort S3 refuses is reported with the key and upload id (its parts stay until someone aborts them); the writer still gets the part’s error',
  async (t) => {
    const s = await setup();
    t.teardown(s.cleanup);
    s.store.inject({ op: 'uploadPart', calls: (c) => c.start === 2, fault: { kind: 'error', error: serverError() } });
    s.store.inject({ op: 'abortMultipartUpload', fault: { kind: 'error', error: serverError() } });
    const told: { key: string; uploadId: string; err: unknown }[] = [];
    const h = s.handle('f', { onAbortFailed: (key, uploadId, err) => told.push({ key, uploadId, err }) });
    await h.write(0, bytes(2 * PART + 1));
    await t.rejects(h.commit(), { name: 'StoreError', kind: 'server', message: /InternalError/ });
    t.equal(told.length, 1, 'told once');
    t.equal(told[0]?.key, 'f');
    t.same([...s.mem.uploads.keys()], [told[0]?.uploadId], 'the upload S3 still holds, by its id');
    t.match(told[0]?.err, { name: 'StoreError', kind: 'server' });
    await t.rejects(h.close(), { name: 'FsError', errno: 'EIO' });
  },
);

t.test('a part failing while the writer is idle surfaces at the next write, not as an unhandled rejection', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const gate = new Gate();
  const failure = gate.promise.then(() => Promise.reject(serverError()));
  failure.catch(() => undefined);
  s.store.inject({ op: 'uploadPart', calls: [1], fault: { kind: 'delay', until: failure } });
  let settled = 0;
  const origin = s.store.uploadPart.bind(s.store);
  s.store.uploadPart = (...args) => origin(...args).finally(() => settled++);
  const h = s.handle('f');
  await h.write(0, bytes(2 * PART + 1));
  gate.open();
  while (settled === 0) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  await t.rejects(h.write(2 * PART + 1, Buffer.from('more')), { name: 'StoreError', kind: 'server' }, 'the next write gets the error');
  t.equal(s.mem.uploads.size, 0, 'aborted');
  await t.rejects(h.close(), { name: 'FsError', errno: 'EIO' }, 'close then answers EIO');
});

t.test('parts in flight when one fails are cancelled and settled before the abort: no part lands after it', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const order: string[] = [];
  s.store.inject({ op: 'uploadPart', calls: (c) => c.start === 3, fault: { kind: 'hang' } });
  s.store.inject({ op: 'uploadPart', calls: (c) => c.start === 2, fault: { kind: 'error', error: serverError() } });
  const partOrigin = s.store.uploadPart.bind(s.store);
  s.store.uploadPart = async (...args) => {
    try {
      return await partOrigin(...args);
    } finally {
      order.push(`part ${args[2]} settled`);
    }
  };
  const abortOrigin = s.store.abortMultipartUpload.bind(s.store);
  s.store.abortMultipartUpload = (key, id) => {
    order.push('abort');
    return abortOrigin(key, id);
  };
  const h = s.handle('f', { uploadConcurrency: 4 });
  await h.write(0, bytes(3 * PART + 1));
  await t.rejects(h.close(), { name: 'StoreError', kind: 'server' });
  t.same(order.slice(-1), ['abort'], `abort last: ${order.join(', ')}`);
  t.ok(order.includes('part 3 settled'), 'the hung part was cancelled');
  t.equal(s.mem.uploads.size, 0);
});

t.test('CompleteMultipartUpload fails: rejected, aborted, no parts left, EIO after', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  s.store.inject({ op: 'completeMultipartUpload', fault: { kind: 'error', error: serverError() } });
  const h = s.handle('f');
  await h.write(0, bytes(2 * PART + 1));
  await t.rejects(h.close(), { name: 'StoreError', kind: 'server' });
  t.equal(s.store.calls.abortMultipartUpload, 1);
  t.equal(s.mem.uploads.size, 0);
  t.equal(s.object('f'), undefined);
  await t.rejects(h.commit(), { name: 'FsError', errno: 'EBADF' });
  t.equal(s.memory.heldBytes, 0);
});

t.test('PutObject fails: commit rejects with it, EIO after, nothing stored', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  s.store.inject({ op: 'putObject', fault: { kind: 'error', error: new StoreError('access-denied', 'HTTP 403 (injected)', { status: 403 }) } });
  const h = s.handle('f');
  await h.write(0, Buffer.from('small'));
  await t.rejects(h.commit(), { name: 'StoreError', kind: 'access-denied' });
  await t.rejects(h.write(0, Buffer.from('x')), { name: 'FsError', errno: 'EIO' });
  await t.rejects(h.commit(), { name: 'FsError', errno: 'EIO' });
  t.equal(s.object('f'), undefined);
  t.equal(s.memory.heldBytes, 0);
});

t.test('a staged upload whose part fails: aborted, no parts left, the old object untouched', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const old = bytes(3 * PART);
  s.mem.put('f', old);
  s.store.inject({ op: 'uploadPart', calls: [2], fault: { kind: 'error', error: serverError() } });
  const h = s.handle('f');
  await h.write(PART, Buffer.from('edit'));
  await t.rejects(h.close(), { name: 'StoreError', kind: 'server' });
  t.equal(s.mem.uploads.size, 0);
  t.ok(s.object('f')?.equals(old), 'the old object is still there');
  t.equal(s.staging?.usedBytes, 0, 'the staging file freed');
  t.equal(s.memory.heldBytes, 0);
});

t.test('CreateMultipartUpload fails: the part fails with it, nothing to abort', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  s.store.inject({ op: 'createMultipartUpload', fault: { kind: 'error', error: serverError() } });
  const h = s.handle('f');
  await h.write(0, bytes(2 * PART + 1));
  await t.rejects(h.close(), { name: 'StoreError', kind: 'server' });
  t.equal(s.store.calls.abortMultipartUpload, 0);
  t.equal(s.memory.heldBytes, 0);
});

t.test('discard cancels parts in flight, aborts the upload, commits nothing', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  s.store.inject({ op: 'uploadPart', fault: { kind: 'hang' } });
  const h = s.handle('f');
  await h.write(0, bytes(3 * PART + 1));
  await h.discard();
  t.equal(s.mem.uploads.size, 0, 'aborted');
  t.equal(s.object('f'), undefined);
  t.equal(s.memory.heldBytes, 0);
  await t.rejects(h.write(0, Buffer.from('x')), { name: 'FsError', errno: 'EBADF' });
});
