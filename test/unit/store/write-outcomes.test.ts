/**
 * Issue 12: what S3Store's writes end with when S3 answers badly (lean path, fake S3):
 * - a 5xx part upload is sent again, the same bytes, and then succeeds;
 * - an ETag other than the body's MD5 is retried, and ends as invalid-response;
 * - Complete (and Copy) answered 200 with an <Error> document: retried;
 * - Complete retried after a lost answer meets NoSuchUpload: accepted when the key's ETag is
 *   that of the parts (HEAD), refused otherwise, and never on a first attempt;
 * - Abort and Delete of what is gone: success; other failures stand;
 * - copy: 412 → precondition-failed, 404 → not-found; in parts above `copyPartBytes` (ranges,
 *   parts, complete), aborted when a part fails;
 * - the caller's signal aborts a write in flight.
 */
import type { ServerResponse } from 'node:http';
import t from 'tap';
import {
  ETAG,
  type SeenRequest,
  WRITE_DATE,
  md5Hex,
  multipartEtag,
  neverAnswer,
  rejection,
  serve200Error,
  serveComplete,
  serveCopy,
  serveCopyPart,
  serveCreate,
  serveEmpty,
  serveError,
  serveHead,
  serveNoContent,
  servePut,
  startFakeS3,
  storeFor,
} from './helpers/fake-s3.js';

const PARTS = [
  { partNumber: 1, etag: `"${md5Hex(Buffer.from('one'))}"` },
  { partNumber: 2, etag: `"${md5Hex(Buffer.from('two'))}"` },
];

t.test('a part upload that meets a 5xx is sent again, the same bytes, and succeeds', async (t) => {
  const fake = await startFakeS3(t, (_req, res, seen, n) => (n === 1 ? serveError(res, 500, 'InternalError') : servePut(res, seen)), { bodies: true });
  const store = storeFor(t, fake, { random: () => 0 });
  const body = Buffer.from('part bytes');
  t.equal(await store.uploadPart('k', 'u1', 3, body), `"${md5Hex(body)}"`);
  t.equal(fake.count('PUT'), 2);
  t.ok(
    fake.requests.every((r) => r.body.equals(body) && r.query.get('partNumber') === '3'),
    'the same part, the same bytes',
  );
  // A 503 SlowDown as well, and a PUT of an object.
  fake.handle((_req, res, seen, n) => (n === 3 ? serveError(res, 503, 'SlowDown') : servePut(res, seen)));
  t.equal((await store.putObject('k', body)).etag, `"${md5Hex(body)}"`);
  t.equal(fake.count('PUT'), 4);
});

t.test('an ETag other than the MD5 of the body: retried, then invalid-response', async (t) => {
  let wrong = 1;
  const fake = await startFakeS3(t, (_req, res, seen) => servePut(res, seen, wrong-- > 0 ? '"00000000000000000000000000000000"' : undefined), { bodies: true });
  const store = storeFor(t, fake, { random: () => 0, maxAttempts: 3 });
  const body = Buffer.from('bytes');
  t.equal(await store.uploadPart('k', 'u', 1, body), `"${md5Hex(body)}"`, 'the second answer is right');
  t.equal(fake.count(), 2);
  fake.handle((_req, res, seen) => servePut(res, seen, '"00000000000000000000000000000000"'));
  const e = await rejection(t, store.putObject('k', body));
  t.equal(e.kind, 'invalid-response');
  t.match(e.message, /other bytes than sent/);
  t.equal(fake.count(), 5, 'three attempts');
  // No ETag at all: nothing to complete an upload or to read with If-Match.
  fake.handle((_req, res) => serveEmpty(res, 200));
  t.equal((await rejection(t, store.uploadPart('k', 'u', 1, body))).kind, 'invalid-response');
});

t.test('Complete answered 200 with an <Error>: retried, and a success after it counts', async (t) => {
  const fake = await startFakeS3(t, (_req, res, seen, n) => (n === 1 ? serve200Error(res) : serveComplete(res, seen)), { bodies: true });
  const store = storeFor(t, fake, { random: () => 0 });
  const done = await store.completeMultipartUpload('k', 'u', PARTS);
  t.same(done, { etag: multipartEtag(PARTS.map((p) => p.etag)), mtimeMs: Date.parse(WRITE_DATE) });
  t.equal(fake.count('POST'), 2);
  // Never a success: the error as S3 named it, a server error.
  fake.handle((_req, res) => serve200Error(res, 'InternalError'));
  const e = await rejection(t, storeFor(t, fake, { random: () => 0, maxAttempts: 2 }).completeMultipartUpload('k', 'u', PARTS));
  t.equal(e.kind, 'server');
  t.match(e.message, /InternalError/);
  // A 200 that is no document at all: invalid-response, retried too.
  fake.handle((_req, res, _s, n) => (n === 5 ? serveEmpty(res, 200) : serveComplete(res, _s)));
  t.equal((await store.completeMultipartUpload('k', 'u', PARTS)).etag, multipartEtag(PARTS.map((p) => p.etag)));
});

t.test('Complete after a lost answer: NoSuchUpload accepted when the object is these parts', async (t) => {
  const completed = multipartEtag(PARTS.map((p) => p.etag));
  let headEtag = completed;
  const fake = await startFakeS3(
    t,
    (req, res, seen: SeenRequest, n) => {
      if (seen.method === 'HEAD') {
        res.writeHead(200, { ETag: headEtag, 'Last-Modified': 'Wed, 01 Jan 2025 00:00:00 GMT', 'Content-Length': 6 });
        res.end();
        return;
      }
      // The first attempt completes the upload, then its answer is lost (the connection drops).
      if (n === 1) return void req.socket.destroy();
      serveError(res, 404, 'NoSuchUpload');
    },
    { bodies: true },
  );
  const store = storeFor(t, fake, { random: () => 0 });
  t.same(await store.completeMultipartUpload('k', 'u', PARTS), { etag: completed, mtimeMs: Date.parse('Wed, 01 Jan 2025 00:00:00 GMT') });
  t.same(
    fake.requests.map((r) => r.method),
    ['POST', 'POST', 'HEAD'],
  );

  t.test('the key holds another object: the NoSuchUpload stands', async (t) => {
    fake.requests.length = 0;
    headEtag = multipartEtag([PARTS[1]?.etag ?? '', PARTS[0]?.etag ?? '']);
    const e = await rejection(t, store.completeMultipartUpload('k', 'u', PARTS));
    t.equal(e.kind, 'not-found');
    t.match(e.message, /NoSuchUpload/);
    headEtag = `"${md5Hex(Buffer.from('x'))}"`;
    fake.requests.length = 0;
    t.equal((await rejection(t, store.completeMultipartUpload('k', 'u', PARTS))).kind, 'not-found', 'a plain object: stands');
  });

  t.test('NoSuchUpload on the first attempt: stands, no HEAD', async (t) => {
    fake.requests.length = 0;
    fake.handle((_req, res) => serveError(res, 404, 'NoSuchUpload'));
    t.equal((await rejection(t, store.completeMultipartUpload('k', 'u', PARTS))).kind, 'not-found');
    t.same(
      fake.requests.map((r) => r.method),
      ['POST'],
    );
  });

  t.test('parts whose ETags are not MD5s (KMS): the part count is what can be compared', async (t) => {
    const opaque = [
      { partNumber: 1, etag: '"kms-a"' },
      { partNumber: 2, etag: '"kms-b"' },
    ];
    const lostFirst = (etag: string | undefined): void => {
      fake.requests.length = 0;
      fake.handle((req, res, seen, n) => {
        if (seen.method === 'HEAD') {
          if (etag === undefined) return serveHead(res, 6);
          res.writeHead(200, { ETag: etag, 'Content-Length': 6 });
          return void res.end();
        }
        if (n === 1) return void req.socket.destroy();
        serveError(res, 404, 'NoSuchUpload');
      });
    };
    lostFirst(undefined);
    const e = await rejection(t, store.completeMultipartUpload('k', 'u', opaque));
    t.equal(e.kind, 'not-found', `the HEAD's ETag ${ETAG} is no 2-part ETag`);
    lostFirst('"c0ffee-2"');
    const done = await store.completeMultipartUpload('k', 'u', opaque);
    t.equal(done.etag, '"c0ffee-2"', 'a 2-part ETag is taken');
    t.ok(done.mtimeMs > 0, 'no Last-Modified: now');
  });
});

t.test('Abort and Delete of what is gone succeed; other failures stand', async (t) => {
  let answer: (res: ServerResponse) => void = (res) => serveError(res, 404, 'NoSuchUpload');
  const fake = await startFakeS3(t, (_req, res) => answer(res));
  const store = storeFor(t, fake, { random: () => 0, maxAttempts: 2 });
  await store.abortMultipartUpload('k', 'gone');
  answer = (res) => serveEmpty(res, 404);
  await store.abortMultipartUpload('k', 'gone');
  await store.deleteObject('k');
  answer = (res) => serveError(res, 404, 'NoSuchKey');
  await store.deleteObject('k');
  answer = serveNoContent;
  await store.deleteObject('k');
  await store.abortMultipartUpload('k', 'u');
  t.equal(fake.count('DELETE'), 6, 'one request each');
  answer = (res) => serveError(res, 403, 'AccessDenied');
  t.equal((await rejection(t, store.deleteObject('k'))).kind, 'access-denied');
  answer = (res) => serveError(res, 404, 'NoSuchBucket');
  t.equal((await rejection(t, store.deleteObject('k'))).kind, 'no-such-bucket', 'a missing bucket is no missing key');
  answer = (res) => serveError(res, 500, 'InternalError');
  const before = fake.count();
  t.equal((await rejection(t, store.abortMultipartUpload('k', 'u'))).kind, 'server');
  t.equal(fake.count() - before, 2, 'retried');
});

t.test('copy: 412 is precondition-failed, 404 not-found, a 200 with <Error> is retried', async (t) => {
  let answer: (res: ServerResponse, n: number) => void = (res) => serveError(res, 412, 'PreconditionFailed');
  const fake = await startFakeS3(t, (_req, res, _s, n) => answer(res, n));
  const store = storeFor(t, fake, { random: () => 0 });
  const from = { key: 'src', etag: ETAG, size: 10 };
  t.equal((await rejection(t, store.copyObject(from, 'dst'))).kind, 'precondition-failed');
  answer = (res) => serveError(res, 404, 'NoSuchKey');
  t.equal((await rejection(t, store.copyObject(from, 'dst'))).kind, 'not-found');
  t.equal(fake.count(), 2, 'neither is retried');
  answer = (res, n) => (n === 3 ? serve200Error(res, 'SlowDown') : serveCopy(res, ETAG));
  t.equal((await store.copyObject(from, 'dst')).etag, ETAG);
  t.equal(fake.count(), 4);
});

t.test('copy in parts above copyPartBytes: ranges, parts, complete; aborted when a part fails', async (t) => {
  const size = 25;
  const partEtag = (n: number): string => `"${md5Hex(Buffer.from(`part ${n}`))}"`;
  let failPart = 0;
  const fake = await startFakeS3(
    t,
    (_req, res, seen) => {
      if (seen.method === 'POST' && seen.query.has('uploads')) return serveCreate(res, 'cp1');
      if (seen.method === 'POST') return serveComplete(res, seen);
      if (seen.method === 'HEAD') return serveHead(res, size);
      if (seen.method === 'DELETE') return serveNoContent(res);
      const n = Number(seen.query.get('partNumber'));
      if (n === failPart) return serveError(res, 412, 'PreconditionFailed');
      serveCopyPart(res, partEtag(n));
    },
    { bodies: true },
  );
  const store = storeFor(t, fake, { random: () => 0, copyPartBytes: 10, requestTimeoutMs: 5_000 });
  const from = { key: 'src dir/a+b', etag: ETAG, size };
  const done = await store.copyObject(from, 'dst');
  t.equal(done.etag, multipartEtag([partEtag(1), partEtag(2), partEtag(3)]));
  const parts = fake.requests.filter((r) => r.method === 'PUT');
  t.same(
    parts.map((r) => [r.query.get('partNumber'), r.query.get('uploadId'), r.headers['x-amz-copy-source-range']]).sort(),
    [
      ['1', 'cp1', 'bytes=0-9'],
      ['2', 'cp1', 'bytes=10-19'],
      ['3', 'cp1', 'bytes=20-24'],
    ],
    'three ranges of at most 10 bytes',
  );
  for (const r of parts) {
    t.equal(r.headers['x-amz-copy-source'], '/bkt/src%20dir/a%2Bb');
    t.equal(r.headers['x-amz-copy-source-if-match'], ETAG);
  }
  t.same(
    fake.requests.map((r) => r.method).filter((m) => m !== 'PUT'),
    ['POST', 'HEAD', 'POST'],
    'create, a check of the source, complete',
  );
  t.equal(fake.count('DELETE'), 0);

  // An object of exactly the threshold: one CopyObject.
  fake.requests.length = 0;
  fake.handle((_req, res) => serveCopy(res, ETAG));
  await store.copyObject({ ...from, size: 10 }, 'dst');
  t.same(
    fake.requests.map((r) => [r.method, r.query.toString()]),
    [['PUT', '']],
  );

  fake.requests.length = 0;
  failPart = 2;
  fake.handle((_req, res, seen) => {
    if (seen.method === 'POST' && seen.query.has('uploads')) return serveCreate(res, 'cp2');
    if (seen.method === 'DELETE') return serveNoContent(res);
    const n = Number(seen.query.get('partNumber'));
    if (n === failPart) return serveError(res, 412, 'PreconditionFailed');
    serveCopyPart(res, partEtag(n));
  });
  t.equal((await rejection(t, store.copyObject(from, 'dst'))).kind, 'precondition-failed');
  t.same(
    fake.requests.filter((r) => r.method === 'DELETE').map((r) => r.query.get('uploadId')),
    ['cp2'],
    'the upload is aborted',
  );
  t.equal(fake.count('POST'), 1, 'never completed');

  // The source changed while the parts were copied (a server that ignores the condition).
  fake.requests.length = 0;
  failPart = 0;
  fake.handle((_req, res, seen) => {
    if (seen.method === 'POST' && seen.query.has('uploads')) return serveCreate(res, 'cp3');
    if (seen.method === 'DELETE') return serveNoContent(res);
    if (seen.method === 'HEAD') {
      res.writeHead(200, { ETag: '"another"', 'Content-Length': size });
      return void res.end();
    }
    serveCopyPart(res, partEtag(Number(seen.query.get('partNumber'))));
  });
  t.equal((await rejection(t, store.copyObject(from, 'dst'))).kind, 'precondition-failed');
  t.equal(fake.count('DELETE'), 1, 'aborted');
  t.equal(fake.count('POST'), 1, 'never completed');
});

t.test("the caller's signal aborts a write in flight", async (t) => {
  const fake = await startFakeS3(t, neverAnswer, { bodies: true });
  const store = storeFor(t, fake, { requestTimeoutMs: 60_000 });
  const ac = new AbortController();
  const p = store.putObject('k', Buffer.from('x'), ac.signal);
  fake.handle(() => ac.abort());
  const e = await rejection(t, p);
  t.equal(e.kind, 'aborted');
  t.equal(fake.count(), 1);
  const pre = new AbortController();
  pre.abort();
  t.equal((await rejection(t, store.uploadPart('k', 'u', 1, Buffer.from('x'), pre.signal))).kind, 'aborted', 'aborted before it starts');
});

t.test('a server that stops taking the body: the upload ends as a timeout, within the budget', async (t) => {
  // The server never reads: once the socket buffers are full, no byte more goes out.
  const fake = await startFakeS3(t, neverAnswer);
  fake.handle((req) => req.pause());
  for (const dataPath of ['lean', 'sdk'] as const) {
    const store = storeFor(t, fake, { requestTimeoutMs: 600, dataPath });
    const e = await rejection(t, store.uploadPart('k', 'u', 1, Buffer.alloc(32 * 1024 * 1024)));
    t.equal(e.kind, 'timeout', dataPath);
  }
});
