/**
 * Issue 8 #10: one retry policy. Whatever fails (5xx, refused keys, a body cut short, no answer),
 * one store call makes at most maxAttempts requests, the credential retry and body resumes
 * included, and the SDK does not retry underneath. Counted at the fake server.
 */
import t from 'tap';
import {
  ETAG,
  neverAnswer,
  pattern,
  readAll,
  rejection,
  serveEmpty,
  serveError,
  serveHead,
  serveList,
  serveObject,
  startFakeS3,
  storeFor,
} from './helpers/fake-s3.js';
import { DEFAULT_MAX_ATTEMPTS, RetryPolicy, retrySettings } from '../../../src/store/retry-policy.js';
import { StoreError } from '../../../src/store/store-error.js';

const data = pattern(64 * 1024);

t.test('a server that always answers 503: at most maxAttempts requests per store call', async (t) => {
  const fake = await startFakeS3(t, (_req, res) => serveError(res, 503, 'SlowDown'));
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000 });
  const cases: [string, () => Promise<unknown>][] = [
    ['HEAD', () => store.head('k')],
    ['LIST', () => store.list({ prefix: '' })],
    ['getFirstBytes', () => store.getFirstBytes('k', 1024)],
    ['readRange', () => readAll(store, 'k', 0, 1000)],
  ];
  for (const [what, op] of cases) {
    const before = fake.count();
    const e = await rejection(t, op());
    const n = fake.count() - before;
    t.comment(`${what}: ${n} requests, then ${e.kind}: ${e.message}`);
    t.equal(e.kind, 'throttled', `${what}: fails as throttled`);
    t.ok(n >= 2 && n <= DEFAULT_MAX_ATTEMPTS, `${what}: retried, at most ${DEFAULT_MAX_ATTEMPTS} requests (${n})`);
  }
});

t.test('503 twice, then the answer: the call succeeds in three requests', async (t) => {
  const fake = await startFakeS3(t, (_req, res, seen, n) => (n <= 2 ? serveError(res, 503, 'SlowDown') : serveObject(res, seen, data)));
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000 });
  const got = await readAll(store, 'k', 100, 5000);
  t.ok(got.equals(data.subarray(100, 5000)), 'right bytes');
  t.equal(fake.count(), 3);
});

t.test('refused keys: one credential refresh, one retry, from the same budget', async (t) => {
  const fake = await startFakeS3(t, (_req, res) => serveError(res, 403, 'AccessDenied'));
  let refreshes = 0;
  const store = storeFor(t, fake, {
    requestTimeoutMs: 5_000,
    onAccessDenied: async () => {
      refreshes++;
      return true; // "the secret changed": worth one more try
    },
  });
  for (const [what, op] of [
    ['HEAD', () => store.head('k')],
    ['readRange', () => readAll(store, 'k', 0, 10)],
  ] as const) {
    const before = fake.count();
    refreshes = 0;
    const e = await rejection(t, op());
    t.equal(e.kind, 'access-denied', `${what}: ${e.message}`);
    t.equal(refreshes, 1, `${what}: keys reloaded once`);
    t.equal(fake.count() - before, 2, `${what}: the request and one retry`);
  }
});

t.test('a body cut short every time: each resume is an attempt, from the first byte not received', async (t) => {
  const CUT = 1000;
  const fake = await startFakeS3(t, (_req, res, seen) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(seen.range ?? '');
    const start = Number(m?.[1]);
    const last = Number(m?.[2]);
    res.writeHead(206, { ETag: ETAG, 'Content-Length': last - start + 1, 'Content-Range': `bytes ${start}-${last}/${data.length}` });
    // Send CUT bytes of the promised range, then drop the connection.
    res.write(data.subarray(start, start + CUT), () => res.destroy());
  });
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000, maxAttempts: 3 });
  const parts: Buffer[] = [];
  const e = await rejection(
    t,
    store.readRange({ key: 'k', start: 0, end: 20_000, etag: ETAG }, (c) => parts.push(Buffer.from(c))),
  );
  t.comment(`${fake.count()} GETs (${fake.requests.map((r) => r.range).join(', ')}), then ${e.kind}: ${e.message}`);
  t.equal(fake.count(), 3, 'maxAttempts GETs (3 here), not attempts × body retries');
  t.same(
    fake.requests.map((r) => r.range),
    ['bytes=0-19999', 'bytes=1000-19999', 'bytes=2000-19999'],
    'each resume asks for the bytes not yet received',
  );
  t.ok(Buffer.concat(parts).equals(data.subarray(0, 3 * CUT)), 'the bytes delivered are right, each once');
  t.equal(e.kind, 'invalid-response');
});

t.test('a server that never answers: ranged GET gives up within the deadline, in few attempts', async (t) => {
  const fake = await startFakeS3(t, neverAnswer);
  const store = storeFor(t, fake, { requestTimeoutMs: 600 });
  const e = await rejection(t, readAll(store, 'k', 0, 100));
  t.equal(e.kind, 'timeout', e.message);
  t.ok(fake.count() <= DEFAULT_MAX_ATTEMPTS, `${fake.count()} GET(s)`);
});

t.test('a LIST refused with an empty 500, then listed: retried by the one policy', async (t) => {
  const fake = await startFakeS3(t, (_req, res, _seen, n) => (n === 1 ? serveEmpty(res, 500) : serveList(res, { keys: [{ key: 'a', size: 1 }] })));
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000 });
  const page = await store.list({ prefix: '' });
  t.same(
    page.objects.map((o) => o.key),
    ['a'],
  );
  t.equal(fake.count(), 2);
});

t.test('HEAD and getFirstBytes of an empty object (416 on the range) share one budget', async (t) => {
  const fake = await startFakeS3(t, (_req, res, seen) => (seen.method === 'HEAD' ? serveHead(res, 0) : serveObject(res, seen, Buffer.alloc(0))));
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000 });
  const r = await store.getFirstBytes('empty', 1024);
  t.equal(r?.info.size, 0);
  t.equal(r?.data.length, 0);
  t.same(
    fake.requests.map((x) => x.method),
    ['GET', 'HEAD'],
  );
});

t.test('the policy: jittered backoff inside the deadline, attempts bounded (seeded)', async (t) => {
  const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
  t.comment(`seed ${seed}`);
  let s = seed;
  const random = (): number => (s = (s * 48271) % 2147483647) / 2147483647;
  let now = 0;
  const policy = new RetryPolicy(retrySettings(10_000, { random, now: () => now }));
  const call = policy.begin();
  let attempts = 0;
  const e = await rejection(
    t,
    call.run('op', async (a) => {
      attempts++;
      t.ok(a.timeoutMs <= 10_000 - now, `attempt ${attempts}: its timeout (${a.timeoutMs} ms) is clipped to the time left`);
      now += 1000; // each attempt "takes" 1 s of the injected clock
      throw new StoreError('server', 'HTTP 500');
    }),
  );
  t.equal(e.kind, 'server');
  t.equal(attempts, DEFAULT_MAX_ATTEMPTS, 'stops at maxAttempts');
  t.equal(call.attemptsUsed, DEFAULT_MAX_ATTEMPTS);

  // A deadline that passes first: no attempt starts after it.
  let late = 0;
  now = 0;
  const call2 = new RetryPolicy(retrySettings(2_500, { random, now: () => now })).begin();
  await rejection(
    t,
    call2.run('op', async () => {
      late++;
      now += 1200;
      throw new StoreError('server', 'HTTP 500');
    }),
  );
  t.ok(late <= 3 && now <= 2_500 + 1200, `${late} attempts before the 2.5 s deadline`);
});

t.test('a body that stalls is abandoned after the idle timeout and resumed where it stopped', async (t) => {
  const fake = await startFakeS3(t, (_req, res, seen, n) => {
    if (n > 1) return serveObject(res, seen, data);
    res.writeHead(206, { ETag: ETAG, 'Content-Length': 20_000, 'Content-Range': `bytes 0-19999/${data.length}` });
    res.write(data.subarray(0, 1500)); // then nothing, connection open
  });
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000, bodyIdleTimeoutMs: 200 });
  const got = await readAll(store, 'k', 0, 20_000);
  t.ok(got.equals(data.subarray(0, 20_000)), 'every byte, once, in order');
  t.same(
    fake.requests.map((r) => r.range),
    ['bytes=0-19999', 'bytes=1500-19999'],
  );
});
