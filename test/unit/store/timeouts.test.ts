/**
 * Issue 8 #3 (store side): a server that accepts the connection and never answers gives a
 * StoreError of kind 'timeout' (→ ETIMEDOUT) within the request-timeout bound, for every kind
 * of request; only an abort by the caller's own signal is 'aborted'.
 */
import t from 'tap';
import { neverAnswer, readAll, rejection, startFakeS3, storeFor } from './helpers/fake-s3.js';

const REQUEST_TIMEOUT_MS = 400;

t.test('a server that never answers: timeout, not aborted', async (t) => {
  const fake = await startFakeS3(t, neverAnswer);
  const store = storeFor(t, fake, { requestTimeoutMs: REQUEST_TIMEOUT_MS });
  const cases: [string, () => Promise<unknown>][] = [
    ['HEAD', () => store.head('k')],
    ['LIST', () => store.list({ prefix: '', delimiter: '/' })],
    ['getFirstBytes', () => store.getFirstBytes('k', 4096)],
    ['ranged GET (headers)', () => readAll(store, 'k', 100, 200)],
  ];
  for (const [what, op] of cases) {
    const e = await rejection(t, op());
    t.equal(e.kind, 'timeout', `${what}: kind timeout (${e.message})`);
    t.match(e.message, /no answer|timed out/, `${what}: the message says it timed out`);
  }
});

t.test('an abort by the caller is aborted, not timeout', async (t) => {
  const fake = await startFakeS3(t, neverAnswer);
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000 });
  const ac = new AbortController();
  const p = readAll(store, 'k', 0, 100, ac.signal);
  // Abort once the request reached the server: the caller moved away while waiting.
  await new Promise<void>((resolve) => {
    const poll = (): void => void (fake.count() > 0 ? resolve() : setImmediate(poll));
    poll();
  });
  ac.abort();
  const e = await rejection(t, p);
  t.equal(e.kind, 'aborted', e.message);
});
