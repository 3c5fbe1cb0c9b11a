/**
 * Issue 8 #9: a ranged GET's answer is checked before any byte is used. A 200 with the whole
 * object (some proxies drop the Range header) would give wrong bytes at every offset > 0, and
 * the first-bytes GET would buffer the whole object: both are 'invalid-response' (EIO), the
 * body is dropped, and nothing past the range asked for is buffered. A 200 is accepted only
 * when it carries exactly the bytes asked for (a range from 0 covering the whole object).
 */
import t from 'tap';
import { ETAG, pattern, readAll, rejection, serveObject, startFakeS3, storeFor } from './helpers/fake-s3.js';
import { createCounters } from '../../../src/observe/counters.js';
import { checkRangeAnswer } from '../../../src/store/range-check.js';

const big = pattern(1024 * 1024);

/** Ignores the Range header: a 200 with the whole object. */
const wholeObject = (data: Buffer) => (_req: unknown, res: import('node:http').ServerResponse) => {
  res.writeHead(200, { ETag: ETAG, 'Content-Length': data.length });
  res.end(data);
};

t.test('readRange at an offset answered with a 200 and the whole object: invalid-response, no bytes, no retry', async (t) => {
  const fake = await startFakeS3(t, wholeObject(big));
  const counters = createCounters();
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000, counters });
  const parts: Buffer[] = [];
  const e = await rejection(
    t,
    store.readRange({ key: 'k', start: 4096, end: 8192, etag: ETAG }, (c) => parts.push(c)),
  );
  t.equal(e.kind, 'invalid-response', e.message);
  t.match(e.message, /200/, 'the message names what was wrong');
  t.equal(parts.length, 0, 'no byte reached the reader');
  t.equal(fake.count(), 1, 'not retried: the same proxy would answer the same');
});

t.test('a 206 whose Content-Range is not the range asked for: invalid-response', async (t) => {
  const fake = await startFakeS3(t, (_req, res) => {
    res.writeHead(206, { ETag: ETAG, 'Content-Length': 4096, 'Content-Range': `bytes 0-4095/${big.length}` });
    res.end(big.subarray(0, 4096));
  });
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000 });
  const e = await rejection(t, readAll(store, 'k', 4096, 8192));
  t.equal(e.kind, 'invalid-response', e.message);
});

t.test('a 206 without Content-Range: invalid-response', async (t) => {
  const fake = await startFakeS3(t, (_req, res) => {
    res.writeHead(206, { ETag: ETAG, 'Content-Length': 4096 });
    res.end(big.subarray(4096, 8192));
  });
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000 });
  const e = await rejection(t, readAll(store, 'k', 4096, 8192));
  t.equal(e.kind, 'invalid-response', e.message);
});

t.test('a 200 that is exactly the range asked for (from 0, the whole object): accepted', async (t) => {
  const small = pattern(5000);
  const fake = await startFakeS3(t, wholeObject(small));
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000 });
  t.ok((await readAll(store, 'k', 0, 5000)).equals(small));
});

t.test('getFirstBytes answered with a 200 and a large object: invalid-response, the body not buffered', async (t) => {
  const fake = await startFakeS3(t, wholeObject(big));
  const counters = createCounters();
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000, counters });
  const e = await rejection(t, store.getFirstBytes('k', 64 * 1024));
  t.equal(e.kind, 'invalid-response', e.message);
  t.equal(counters.s3BytesFetched, 0, 'no byte of the body was taken');
  t.equal(fake.count(), 1, 'not retried');
});

t.test('getFirstBytes of a small object answered with a 200: accepted (it is the whole object)', async (t) => {
  const small = pattern(3000);
  const fake = await startFakeS3(t, wholeObject(small));
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000 });
  const r = await store.getFirstBytes('k', 64 * 1024);
  t.equal(r?.info.size, 3000);
  t.ok(r?.data.equals(small));
});

t.test('getFirstBytes answered as S3 does: the first bytes and the total size', async (t) => {
  const fake = await startFakeS3(t, (_req, res, seen) => serveObject(res, seen, big));
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000 });
  const r = await store.getFirstBytes('k', 1000);
  t.equal(r?.info.size, big.length);
  t.ok(r?.data.equals(big.subarray(0, 1000)));
});

t.test('getFirstBytes whose 206 body is longer than its Content-Range: invalid-response, at most the range buffered', async (t) => {
  const fake = await startFakeS3(t, (_req, res) => {
    // Claims 1000 bytes, sends a whole object without Content-Length (chunked).
    res.writeHead(206, { ETag: ETAG, 'Content-Range': `bytes 0-999/${big.length}` });
    res.end(big);
  });
  const counters = createCounters();
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000, counters });
  const e = await rejection(t, store.getFirstBytes('k', 1000));
  t.equal(e.kind, 'invalid-response', e.message);
  t.ok(counters.s3BytesFetched <= 1000, `${counters.s3BytesFetched} bytes taken`);
});

t.test('checkRangeAnswer, case by case', async (t) => {
  const exact = { start: 100, end: 200 };
  t.same(checkRangeAnswer(exact, { status: 206, contentRange: 'bytes 100-199/1000', contentLength: 100 }), { ok: true, length: 100, total: 1000 });
  t.equal(checkRangeAnswer(exact, { status: 206, contentRange: 'bytes 100-198/1000' }).ok, false, 'shorter range');
  t.equal(checkRangeAnswer(exact, { status: 206, contentRange: 'bytes 100-199/1000', contentLength: 99 }).ok, false, 'length disagrees');
  t.equal(checkRangeAnswer(exact, { status: 200, contentLength: 100 }).ok, false, '200 at an offset');
  t.same(checkRangeAnswer({ start: 0, end: 100 }, { status: 200, contentLength: 100 }), { ok: true, length: 100, total: 100 });
  t.equal(checkRangeAnswer({ start: 0, end: 100 }, { status: 200, contentLength: 101 }).ok, false, '200 with more than asked');
  t.equal(checkRangeAnswer({ start: 0, end: 100 }, { status: 200 }).ok, false, '200 of unknown length');
  // The first-bytes GET: the object may be shorter than the bytes asked for.
  const head = { start: 0, end: 1000, objectMayEnd: true };
  t.same(checkRangeAnswer(head, { status: 206, contentRange: 'bytes 0-299/300' }), { ok: true, length: 300, total: 300 });
  t.equal(checkRangeAnswer(head, { status: 206, contentRange: 'bytes 0-299/5000' }).ok, false, 'short range of a longer object');
  t.same(checkRangeAnswer(head, { status: 200, contentLength: 300 }), { ok: true, length: 300, total: 300 });
  t.equal(checkRangeAnswer(head, { status: 200, contentLength: 5000 }).ok, false);
  t.same(checkRangeAnswer(head, { status: 206, contentRange: 'bytes 0-999/*' }), { ok: true, length: 1000 }, 'unknown total');
});
