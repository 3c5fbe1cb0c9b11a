/**
 * Issue 8 #15 (store side): (a) an object deleted while a handle has it open answers the
 * handle's ranged GET (with If-Match) with 404: that is 'precondition-failed' (ESTALE), saying
 * the object was deleted, not 'not-found' (ENOENT); (b) a listing page marked truncated but
 * without a continuation token is not a complete listing: 'invalid-response' (EIO).
 */
import t from 'tap';
import { readAll, rejection, serveEmpty, serveError, serveList, startFakeS3, storeFor } from './helpers/fake-s3.js';

t.test('a ranged GET of an open object answered 404: precondition-failed, "deleted"', async (t) => {
  for (const [label, answer] of [
    ['NoSuchKey body', (res: import('node:http').ServerResponse) => serveError(res, 404, 'NoSuchKey')],
    ['empty body', (res: import('node:http').ServerResponse) => serveEmpty(res, 404)],
  ] as const) {
    const fake = await startFakeS3(t, (_req, res) => answer(res));
    const store = storeFor(t, fake, { requestTimeoutMs: 5_000 });
    const e = await rejection(t, readAll(store, 'gone', 0, 100));
    t.equal(e.kind, 'precondition-failed', `${label}: ${e.message}`);
    t.match(e.message, /deleted since it was opened/);
    t.equal(fake.count(), 1, 'not retried');
  }
});

t.test('HEAD and getFirstBytes of a missing object still answer "no such object"', async (t) => {
  const fake = await startFakeS3(t, (_req, res, seen) => (seen.method === 'HEAD' ? serveEmpty(res, 404) : serveError(res, 404, 'NoSuchKey')));
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000 });
  t.equal(await store.head('nope'), undefined);
  t.equal(await store.getFirstBytes('nope', 100), undefined);
});

t.test('a truncated listing page without a continuation token: invalid-response', async (t) => {
  const fake = await startFakeS3(t, (_req, res) => serveList(res, { keys: [{ key: 'a', size: 1 }], truncated: true }));
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000 });
  const e = await rejection(t, store.list({ prefix: '', delimiter: '/' }));
  t.equal(e.kind, 'invalid-response', e.message);
  t.match(e.message, /truncated/i);
});

t.test('a truncated page with a token, and a last page: as S3 sends them', async (t) => {
  const fake = await startFakeS3(t, (_req, res, seen) =>
    seen.query.get('continuation-token') === 'tok2'
      ? serveList(res, { keys: [{ key: 'b', size: 2 }] })
      : serveList(res, { keys: [{ key: 'a', size: 1 }], truncated: true, nextToken: 'tok2' }),
  );
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000 });
  const p1 = await store.list({ prefix: '' });
  t.equal(p1.nextToken, 'tok2');
  const p2 = await store.list({ prefix: '', continuationToken: 'tok2' });
  t.equal(p2.nextToken, undefined);
  t.same(
    p2.objects.map((o) => o.key),
    ['b'],
  );
});
