/**
 * Issue 11: the lean data path (lean-s3.ts: undici + SigV4) against a fake S3 on 127.0.0.1.
 * - what goes on the wire is signed as sent: the fake rebuilds each request from what it
 *   received and signs it again with the same date and keys (awkward keys included);
 * - bodies arrive byte-exact, whatever the range;
 * - every failure ends as the same StoreError (kind, status, S3 code) as on the SDK path, the
 *   same fake answering both;
 * - a private CA verifies the lean path's TLS; a proxy sends the store to the SDK path.
 * That RGW accepts the signature is shown by the integration tests, which read through it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  ETAG,
  type SeenRequest,
  neverAnswer,
  pattern,
  readAll,
  rejection,
  serveEmpty,
  serveError,
  serveHead,
  serveObject,
  startFakeS3,
  storeFor,
} from './helpers/fake-s3.js';
import { startCountingProxy } from './helpers/counting-proxy.js';
import { KEYS, expectedAuthorization } from './helpers/resign.js';
import { escapeUri } from '../../../src/store/lean-s3.js';

const data = pattern(300_000);

t.test('requests are signed as sent: the Authorization header checks out on the server side', async (t) => {
  const seen: { auth: string; expected: string; path: string; token?: string }[] = [];
  const fake = await startFakeS3(t, (req, res, s) => {
    const token = req.headers['x-amz-security-token'];
    void expectedAuthorization(req, typeof token === 'string' ? token : undefined).then((expected) => {
      // The raw path: the fake's own `path` is normalised by URL parsing (`..`, `.`).
      const path = decodeURIComponent((req.url ?? '').split('?')[0] ?? '');
      seen.push({ auth: String(req.headers.authorization), expected, path, ...(typeof token === 'string' ? { token } : {}) });
      if (s.method === 'HEAD') serveHead(res, data.length);
      else serveObject(res, s, data);
    });
  });
  const store = storeFor(t, fake);
  const keys = ['plain.bin', 'a folder/with space+plus&amp=eq?q#h', "bang!quote'paren()star*tilde~", 'ünïcødé/日本語.parquet', 'a//double/./dot/../x'];
  for (const key of keys) {
    const got = await readAll(store, key, 1000, 5000);
    t.ok(got.equals(data.subarray(1000, 5000)), `${key}: bytes`);
    t.equal((await store.head(key))?.size, data.length, `${key}: HEAD`);
    t.equal((await store.getFirstBytes(key, 100))?.data.length, 100, `${key}: first bytes`);
  }
  t.equal(seen.length, keys.length * 3);
  for (const s of seen) {
    t.match(s.auth, /^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/us-east-1\/s3\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/, s.path);
    t.equal(s.auth, s.expected, `${s.path}: the signature matches the request as received`);
  }
  t.same(
    [...new Set(seen.map((s) => s.path))],
    keys.map((k) => `/bkt/${k}`),
    'each key reached the server unchanged (path-style, no normalisation)',
  );
  const ranged = seen[0]?.auth ?? '';
  t.match(ranged, /SignedHeaders=host;if-match;range;x-amz-content-sha256;x-amz-date,/, 'the range and If-Match are signed');

  // A session token is sent and signed.
  seen.length = 0;
  const withToken = storeFor(t, fake, { credentials: async () => ({ ...KEYS, sessionToken: 'tok/en+=' }) });
  await readAll(withToken, 'k', 0, 10);
  t.equal(seen[0]?.token, 'tok/en+=');
  t.match(seen[0]?.auth ?? '', /x-amz-security-token/);
  t.equal(seen[0]?.auth, seen[0]?.expected);
});

t.test('no credentials: unsigned requests', async (t) => {
  const auth: (string | undefined)[] = [];
  const fake = await startFakeS3(t, (req, res, s) => {
    auth.push(req.headers.authorization);
    serveObject(res, s, data);
  });
  const store = storeFor(t, fake, { credentials: undefined });
  t.ok((await readAll(store, 'k', 0, 100)).equals(data.subarray(0, 100)));
  t.same(auth, [undefined]);
});

t.test('bodies are byte-exact: ranges at every boundary, a whole small object, first bytes', async (t) => {
  const fake = await startFakeS3(t, (_req, res, s) => serveObject(res, s, s.path.endsWith('small') ? data.subarray(0, 777) : data));
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000 });
  for (const [start, end] of [
    [0, 1],
    [0, data.length],
    [data.length - 1, data.length],
    [65_535, 65_537],
    [12_345, 234_567],
  ] as const) {
    const got = await readAll(store, 'big', start, end);
    t.ok(got.equals(data.subarray(start, end)), `bytes ${start}-${end - 1}`);
  }
  const small = await store.getFirstBytes('small', 128 * 1024);
  t.equal(small?.info.size, 777);
  t.equal(small?.info.etag, ETAG);
  t.equal(small?.info.mtimeMs, Date.parse('Wed, 01 Jan 2025 00:00:00 GMT'));
  t.ok(small?.data.equals(data.subarray(0, 777)), 'the whole small object');
  const first = await store.getFirstBytes('big', 4096);
  t.equal(first?.info.size, data.length);
  t.ok(first?.data.equals(data.subarray(0, 4096)));
});

t.test('HEAD answers the same ObjectInfo on both paths', async (t) => {
  const fake = await startFakeS3(t, (_req, res) => serveHead(res, 123_456_789_012));
  const lean = storeFor(t, fake);
  const sdk = storeFor(t, fake, { dataPath: 'sdk' });
  const info = await lean.head('some/key');
  t.same(info, await sdk.head('some/key'));
  t.same(info, { key: 'some/key', size: 123_456_789_012, etag: ETAG, mtimeMs: Date.parse('Wed, 01 Jan 2025 00:00:00 GMT') });
  t.same(
    fake.requests.map((r) => r.method),
    ['HEAD', 'HEAD'],
  );
});

/** Answers that must fail alike on both paths; each handler sees one request per store call (maxAttempts 1). */
const FAILURES: [string, (res: ServerResponse, s: SeenRequest) => void][] = [
  ['404 NoSuchKey', (res) => serveError(res, 404, 'NoSuchKey')],
  ['404 empty', (res) => serveEmpty(res, 404)],
  ['403 AccessDenied', (res) => serveError(res, 403, 'AccessDenied')],
  ['403 SignatureDoesNotMatch', (res) => serveError(res, 403, 'SignatureDoesNotMatch')],
  ['403 empty', (res) => serveEmpty(res, 403)],
  ['412 PreconditionFailed', (res) => serveError(res, 412, 'PreconditionFailed')],
  ['416 InvalidRange', (res, s) => serveObject(res, s, Buffer.alloc(0))],
  ['500 InternalError', (res) => serveError(res, 500, 'InternalError')],
  ['503 SlowDown', (res) => serveError(res, 503, 'SlowDown')],
  ['503 empty', (res) => serveEmpty(res, 503)],
  ['409 empty', (res) => serveEmpty(res, 409)],
  ['301 PermanentRedirect', (res) => serveError(res, 301, 'PermanentRedirect')],
  ['404 NoSuchBucket', (res) => serveError(res, 404, 'NoSuchBucket')],
  ['200 whole object to a range', (res) => serveObject(res, { method: 'GET', path: '/', query: new URLSearchParams() }, data)],
  [
    '206 with a wrong Content-Range',
    (res) => {
      res.writeHead(206, { ETag: ETAG, 'Content-Length': 10, 'Content-Range': `bytes 5-14/${data.length}` });
      res.end(data.subarray(5, 15));
    },
  ],
  ['connection reset before the headers', (res) => res.socket?.destroy()],
  [
    'body cut short',
    (res, s) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(s.range ?? '');
      const start = Number(m?.[1] ?? 0);
      const last = Number(m?.[2] ?? 99);
      res.writeHead(206, { ETag: ETAG, 'Content-Length': last - start + 1, 'Content-Range': `bytes ${start}-${last}/${data.length}` });
      res.write(data.subarray(start, start + 10), () => res.destroy());
    },
  ],
  ['no answer', neverAnswer],
];

t.test('failures end as the same StoreError on both paths', async (t) => {
  let current: (res: ServerResponse, s: SeenRequest) => void = neverAnswer;
  const fake = await startFakeS3(t, (_req, res, s) => current(res, s));
  const stores = {
    sdk: storeFor(t, fake, { requestTimeoutMs: 1_500, maxAttempts: 1, dataPath: 'sdk' }),
    lean: storeFor(t, fake, { requestTimeoutMs: 1_500, maxAttempts: 1 }),
  };
  const outcome = async (op: () => Promise<unknown>): Promise<string> => {
    try {
      const r = await op();
      return `resolved ${r === undefined ? 'undefined' : 'a value'}`;
    } catch (err) {
      const e = err as { kind?: string; status?: number; s3Code?: string; transient?: boolean; message?: string };
      return `${e.kind} status=${e.status} code=${e.s3Code} transient=${e.transient}`;
    }
  };
  for (const [label, answer] of FAILURES) {
    current = answer;
    for (const [what, op] of [
      ['readRange', (s: typeof stores.sdk) => () => readAll(s, 'k', 100, 5000)],
      ['getFirstBytes', (s: typeof stores.sdk) => () => s.getFirstBytes('k', 4096)],
      ['head', (s: typeof stores.sdk) => () => s.head('k')],
    ] as const) {
      if (what === 'head' && /Content-Range|whole object|body cut|416/.test(label)) continue;
      const sdk = await outcome(op(stores.sdk));
      const lean = await outcome(op(stores.lean));
      t.equal(lean, sdk, `${label}, ${what}: ${sdk}`);
    }
  }
});

t.test('an abort by the caller in the middle of a body: aborted, nothing after it delivered', async (t) => {
  const fake = await startFakeS3(t, (_req, res, s) => {
    res.writeHead(206, { ETag: ETAG, 'Content-Length': 200_000, 'Content-Range': `bytes 0-199999/${data.length}` });
    res.write(data.subarray(0, 1000));
    void s;
  });
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000 });
  const ac = new AbortController();
  let got = 0;
  let afterAbort = 0;
  const p = store.readRange({ key: 'k', start: 0, end: 200_000, etag: ETAG, signal: ac.signal }, (c) => {
    if (ac.signal.aborted) afterAbort += c.length;
    got += c.length;
    if (got >= 1000) ac.abort();
  });
  const e = await rejection(t, p);
  t.equal(e.kind, 'aborted', e.message);
  t.equal(got, 1000);
  t.equal(afterAbort, 0);
  t.equal(fake.count(), 1, 'no resume after the caller left');
});

t.test('HTTPS: the lean path verifies the endpoint with the configured CA', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lean-ca-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '2'].concat([
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ]),
    { cwd: dir, stdio: 'pipe' },
  );
  const cert = readFileSync(join(dir, 'c.pem'), 'utf8');
  const fake = await startFakeS3(t, (_req, res, s) => serveObject(res, s, data), { tls: { key: readFileSync(join(dir, 'k.pem'), 'utf8'), cert } });
  const trusted = storeFor(t, fake, { requestTimeoutMs: 3_000, caBundle: cert });
  t.ok((await readAll(trusted, 'k', 10, 20_000)).equals(data.subarray(10, 20_000)), 'served with the CA');
  const untrusted = storeFor(t, fake, { requestTimeoutMs: 3_000 });
  const e = await rejection(t, readAll(untrusted, 'k', 0, 10));
  t.match(e.message, /certificate/, e.message);
  t.equal(e.kind, 'other', 'not retried as a network error');
});

t.test('a proxy in the environment: the store keeps the SDK path, and says so', async (t) => {
  const fake = await startFakeS3(t, (_req, res, s) => serveObject(res, s, data));
  const proxy = await startCountingProxy(t);
  const store = storeFor(t, fake, { requestTimeoutMs: 3_000, env: { HTTP_PROXY: proxy.url } });
  t.ok((await readAll(store, 'k', 0, 1000)).equals(data.subarray(0, 1000)));
  t.equal(proxy.forwarded.length, 1, 'through the proxy');
  t.match(store.transport, /; data path: SDK \(proxied\)$/);
  t.notMatch(storeFor(t, fake).transport, /data path/, 'no note without a proxy');
});

t.test('addressing: the lean path picks virtual-host or path-style as the SDK does', async (t) => {
  const fake = await startFakeS3(t, (_req, res, s) => serveObject(res, s, data));
  const localhost = { url: fake.url.replace('127.0.0.1', 'localhost') };
  // bkt.localhost does not resolve here: a store that addresses it fails, one that goes
  // path-style to localhost is served. Both paths must do the same in each case.
  const cases: [string, { url: string }, string][] = [
    ['virtual-host to a DNS name', localhost, 'bkt'],
    ['an IP endpoint stays path-style', fake, 'bkt'],
    ['a bucket with dots stays path-style', localhost, 'my.bkt'],
  ];
  for (const [label, endpoint, bucket] of cases) {
    const outcomes: string[] = [];
    for (const dataPath of ['sdk', 'lean'] as const) {
      const store = storeFor(t, endpoint, { bucket, pathStyle: false, requestTimeoutMs: 2_000, maxAttempts: 1, dataPath });
      const before = fake.requests.length;
      try {
        await readAll(store, 'k', 0, 10);
        const r = fake.requests[before];
        outcomes.push(`served: ${r?.host?.replace(/:\d+$/, '')} ${r?.path}`);
      } catch (err) {
        const e = err as { kind?: string; message?: string };
        outcomes.push(`failed: ${e.kind}${/bkt\.localhost/.test(String(e.message)) ? ' at bkt.localhost' : ''}`);
      }
    }
    t.equal(outcomes[1], outcomes[0], `${label}: ${outcomes[0]}`);
  }
});

t.test('escapeUri: RFC 3986, as SigV4 canonicalises', async (t) => {
  t.equal(escapeUri("a b+c!'()*~._-/é"), 'a%20b%2Bc%21%27%28%29%2A~._-%2F%C3%A9');
});
