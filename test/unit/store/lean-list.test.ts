/**
 * Issue 11: ListObjectsV2 on the lean path (LeanS3 + list-page.ts) against the same fake S3 as
 * the SDK path:
 * - the same ListPage from both paths for the same answers: awkward key names byte-exact (the
 *   lean path asks encoding-type=url, RGW's and AWS's encodings both), common prefixes, ETag
 *   with its quotes, LastModified, empty and truncated pages;
 * - the same StoreError for error answers, invalid-response for a malformed or cut page;
 * - the request carries the expected query and a signature that checks out;
 * - list-page.ts reads a page split anywhere the same as whole, and refuses it cut anywhere.
 */
import type { ServerResponse } from 'node:http';
import t, { type Test } from 'tap';
import { ETAG, type ListAnswer, type SeenRequest, serveEmpty, serveError, serveList, startFakeS3, storeFor, xmlText } from './helpers/fake-s3.js';
import { expectedAuthorization } from './helpers/resign.js';
import { ListPageError, ListPageReader, parseListPage } from '../../../src/store/list-page.js';
import type { ListRequest } from '../../../src/store/object-store.js';
import type { S3Store } from '../../../src/store/s3-store.js';

const AWKWARD = [
  'dir/a b',
  'dir/a+b',
  'dir/100%',
  'dir/%2F',
  'dir/%2',
  'dir/a&b<c>d"e\'f',
  'dir/&amp;',
  'dir/é日本😀',
  'dir/new\nline',
  'dir/tab\tx',
  'dir/cr\rx',
  'dir/ctl\u0001x',
  'dir/~*()!$,;=:@#?[]{}|^`',
  'dir/ leading and trailing ',
];
const AWKWARD_PREFIXES = ['dir/sub dir/', 'dir/sub+dir/', 'dir/100%/', 'dir/é&</', 'dir/%2F/'];

/** What a store call ended with, comparable across paths. */
async function outcome(p: Promise<unknown>): Promise<unknown> {
  try {
    return { value: await p };
  } catch (err) {
    const e = err as { kind?: string; status?: number; s3Code?: string; transient?: boolean };
    return { kind: e.kind, status: e.status, s3Code: e.s3Code, transient: e.transient };
  }
}

function bothPaths(t: Test, fake: { url: string }): { sdk: S3Store; lean: S3Store } {
  return {
    sdk: storeFor(t, fake, { requestTimeoutMs: 3_000, maxAttempts: 1, dataPath: 'sdk' }),
    lean: storeFor(t, fake, { requestTimeoutMs: 3_000, maxAttempts: 1 }),
  };
}

t.test('awkward key names come out byte-exact, the same on both paths, whatever the encoding', async (t) => {
  let answer: ListAnswer = {};
  const fake = await startFakeS3(t, (_req, res, seen) => serveList(res, answer, seen));
  const { sdk, lean } = bothPaths(t, fake);
  const keys = AWKWARD.map((key, i) => ({ key, size: i * 1000 }));
  for (const encoding of ['rgw', 'aws', 'ignore'] as const) {
    answer = { keys, prefixes: AWKWARD_PREFIXES, encoding };
    const page = await lean.list({ prefix: 'dir/', delimiter: '/' });
    t.same(
      page.objects.map((o) => o.key),
      AWKWARD,
      `${encoding}: every key as stored`,
    );
    t.same(page.prefixes, AWKWARD_PREFIXES, `${encoding}: every prefix as stored`);
    t.same(
      page.objects.map((o) => [o.size, o.etag, o.mtimeMs]),
      keys.map((k) => [k.size, ETAG, Date.parse('2025-01-01T00:00:00.000Z')]),
      `${encoding}: size, ETag with its quotes, LastModified`,
    );
    t.equal(page.nextToken, undefined);
  }
  // The SDK path asks no encoding: it reads the raw names (control characters as references).
  answer = { keys, prefixes: AWKWARD_PREFIXES };
  t.same(await lean.list({ prefix: 'dir/', delimiter: '/' }), await sdk.list({ prefix: 'dir/', delimiter: '/' }), 'the same ListPage from both paths');
});

t.test('the request: ListObjectsV2 with encoding-type=url and the asked parameters, signed as sent', async (t) => {
  const auth: { got: string; expected: string }[] = [];
  const fake = await startFakeS3(t, (req, res, seen) => {
    void expectedAuthorization(req).then((expected) => {
      auth.push({ got: String(req.headers.authorization), expected });
      serveList(res, { keys: [{ key: 'a b/c', size: 1 }] }, seen);
    });
  });
  const { lean } = bothPaths(t, fake);
  const requests: ListRequest[] = [
    { prefix: '' },
    { prefix: 'a b/c+d&e=f/é/', delimiter: '/' },
    { prefix: 'p/', delimiter: '/', continuationToken: 'tok/en+=&?% "x"', maxKeys: 1 },
  ];
  for (const r of requests) await lean.list(r);
  t.same(
    fake.requests.map((r) => [r.method, r.path, Object.fromEntries(r.query)]),
    [
      ['GET', '/bkt/', { 'list-type': '2', prefix: '', 'encoding-type': 'url' }],
      ['GET', '/bkt/', { 'list-type': '2', prefix: 'a b/c+d&e=f/é/', delimiter: '/', 'encoding-type': 'url' }],
      ['GET', '/bkt/', { 'list-type': '2', prefix: 'p/', delimiter: '/', 'continuation-token': 'tok/en+=&?% "x"', 'max-keys': '1', 'encoding-type': 'url' }],
    ],
  );
  t.equal(auth.length, requests.length);
  for (const a of auth) t.equal(a.got, a.expected, 'the signature matches the request as received');
});

t.test('the same outcome on both paths: empty, truncated, error answers', async (t) => {
  let answer: (res: ServerResponse, seen: SeenRequest) => void = (res, seen) => serveList(res, {}, seen);
  const fake = await startFakeS3(t, (_req, res, seen) => answer(res, seen));
  const { sdk, lean } = bothPaths(t, fake);
  const cases: [string, (res: ServerResponse, seen: SeenRequest) => void][] = [
    ['empty page', (res, seen) => serveList(res, {}, seen)],
    ['prefixes only', (res, seen) => serveList(res, { prefixes: ['a/', 'b/'] }, seen)],
    ['truncated with a token', (res, seen) => serveList(res, { keys: [{ key: 'a', size: 1 }], truncated: true, nextToken: 'dir/ctl\u0001x&<' }, seen)],
    ['truncated without a token', (res, seen) => serveList(res, { keys: [{ key: 'a', size: 1 }], truncated: true }, seen)],
    ['403 AccessDenied', (res) => serveError(res, 403, 'AccessDenied')],
    ['403 empty', (res) => serveEmpty(res, 403)],
    ['404 NoSuchBucket', (res) => serveError(res, 404, 'NoSuchBucket')],
    ['404 empty', (res) => serveEmpty(res, 404)],
    ['503 SlowDown', (res) => serveError(res, 503, 'SlowDown')],
    ['503 empty', (res) => serveEmpty(res, 503)],
    ['500 InternalError', (res) => serveError(res, 500, 'InternalError')],
  ];
  for (const [label, serve] of cases) {
    answer = serve;
    const want = await outcome(sdk.list({ prefix: '', delimiter: '/' }));
    t.same(await outcome(lean.list({ prefix: '', delimiter: '/' })), want, `${label}: ${JSON.stringify(want)}`);
  }
  answer = (res, seen) => serveList(res, { truncated: true, nextToken: 'dir/ctl\u0001x&<' }, seen);
  t.equal((await lean.list({ prefix: '' })).nextToken, 'dir/ctl\u0001x&<', 'the token as S3 wrote it, entities decoded');
  answer = (res, seen) => serveList(res, { keys: [{ key: 'a', size: 1 }], truncated: true }, seen);
  t.match(await outcome(lean.list({ prefix: '' })), { kind: 'invalid-response' }, 'truncated without a token: invalid-response');
});

const PAGE = (inner: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><EncodingType>url</EncodingType>${inner}</ListBucketResult>`;
const ENTRY = `<Contents><Key>a%20b</Key><LastModified>2025-01-01T00:00:00.000Z</LastModified><ETag>${xmlText(ETAG)}</ETag><Size>3</Size></Contents>`;

// The SDK path ends these as 'other' (its deserialization error, HTTP 200); the lean path as
// invalid-response (EIO), as the rule for a truncated page without a token.
t.test('a malformed or cut page: invalid-response on the lean path, never a partial listing', async (t) => {
  let body = '';
  const fake = await startFakeS3(t, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
  const { lean } = bothPaths(t, fake);
  const good = PAGE(`<IsTruncated>false</IsTruncated>${ENTRY}`);
  const bad: [string, string][] = [
    ['cut inside an entry', good.slice(0, good.indexOf('<Size>'))],
    ['cut before the root closes', good.slice(0, good.length - 5)],
    ['empty body', ''],
    ['not XML', 'hello'],
    ['another document', '<?xml version="1.0"?><Error><Code>InternalError</Code></Error>'],
    ['a closing tag that does not match', PAGE(ENTRY.replace('</Key>', '</Kex>'))],
    ['markup inside a value', PAGE(ENTRY.replace('a%20b', 'a<b/>'))],
    ['an unknown entity', PAGE(ENTRY.replace('a%20b', 'a&nbsp;b'))],
    ['a stray ampersand', PAGE(ENTRY.replace('a%20b', 'a&b'))],
    ['a DTD', `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]>${PAGE(ENTRY)}`],
    ['IsTruncated not a boolean', PAGE(`<IsTruncated>yes</IsTruncated>${ENTRY}`)],
    ['Size not a number', PAGE(ENTRY.replace('<Size>3', '<Size>3x'))],
    ['LastModified not a date', PAGE(ENTRY.replace('2025-01-01T00:00:00.000Z', 'yesterday'))],
    ['a name that is not URL-encoded UTF-8', PAGE(ENTRY.replace('a%20b', 'a%ZZb'))],
    ['text after the document', `${good}<x/>`],
  ];
  for (const [label, b] of bad) {
    body = b;
    t.match(await outcome(lean.list({ prefix: '' })), { kind: 'invalid-response' }, label);
  }
  body = good;
  t.same((await lean.list({ prefix: '' })).objects, [{ key: 'a b', size: 3, etag: ETAG, mtimeMs: Date.parse('2025-01-01T00:00:00.000Z') }], 'the good page');
});

t.test('counted and observed as the SDK path does', async (t) => {
  const fake = await startFakeS3(t, (_req, res, seen) => (seen.query.get('prefix') === 'x/' ? serveError(res, 403, 'AccessDenied') : serveList(res, {}, seen)));
  const seen: string[] = [];
  const counts: Record<string, number> = {};
  for (const dataPath of ['sdk', 'lean'] as const) {
    const store = storeFor(t, fake, { maxAttempts: 1, dataPath, observer: { request: (op, status) => seen.push(`${dataPath} ${op} ${status}`) } });
    await store.list({ prefix: '' });
    await store.probe('');
    await outcome(store.list({ prefix: 'x/' }));
    counts[dataPath] = fake.requests.length;
  }
  t.same(seen, ['sdk LIST 200', 'sdk LIST 200', 'sdk LIST 403', 'lean LIST 200', 'lean LIST 200', 'lean LIST 403']);
  t.equal(counts.sdk, 3);
  t.equal(counts.lean, 6);
});

/** A page as RGW writes it, with every kind of value, and names that need the URL decoding. */
function rgwPage(n: number): Buffer {
  const entries = Array.from(
    { length: n },
    (_, i) =>
      `<Contents><Key>${encodeURIComponent(`dir/é ${i} &+%.bin`)}</Key><LastModified>2026-12-02T07:46:28.${String(i % 1000).padStart(3, '0')}Z</LastModified>` +
      `<ETag>&quot;${i.toString(16).padStart(32, '0')}&quot;</ETag><Size>${i * 977}</Size><StorageClass>STANDARD</StorageClass><Owner><ID>o</ID><DisplayName>é</DisplayName></Owner><Type>Normal</Type></Contents>`,
  );
  return Buffer.from(
    '<?xml version="1.0" encoding="UTF-8"?>\n<!-- a comment -->\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><EncodingType>url</EncodingType>' +
      '<Name>b</Name><Prefix>dir/</Prefix><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>' +
      `<CommonPrefixes><Prefix>dir/sub%20dir/</Prefix></CommonPrefixes>${entries.join('')}<NextContinuationToken>dir/é 9 &amp;+%.bin</NextContinuationToken>` +
      `<KeyCount>${n}</KeyCount></ListBucketResult>\n`,
  );
}

t.test('list-page.ts: a page split anywhere reads the same as whole; cut anywhere, it is refused', async (t) => {
  const body = rgwPage(12);
  const whole = parseListPage(body);
  t.equal(whole.objects.length, 12);
  t.same(whole.objects[3], { key: 'dir/é 3 &+%.bin', size: 3 * 977, etag: `"${'3'.padStart(32, '0')}"`, mtimeMs: Date.parse('2026-12-02T07:46:28.003Z') });
  t.same(whole.prefixes, ['dir/sub dir/']);
  t.equal(whole.nextToken, 'dir/é 9 &+%.bin');
  t.equal(whole.truncated, true);
  let splitsAlike = 0;
  let cutsRefused = 0;
  for (let at = 0; at < body.length; at++) {
    // Split inside multi-byte characters too: the reader decodes across chunks.
    const r = new ListPageReader();
    r.write(body.subarray(0, at));
    r.write(body.subarray(at));
    if (JSON.stringify(r.end()) === JSON.stringify(whole)) splitsAlike++;
    const cut = new ListPageReader();
    try {
      cut.write(body.subarray(0, at));
      cut.end();
    } catch (err) {
      if (err instanceof ListPageError) cutsRefused++;
    }
  }
  t.equal(splitsAlike, body.length, 'every split point');
  // The body ends in a newline after the root: only that one cut is still the whole document.
  t.equal(cutsRefused, body.length - 1, 'every cut before the root closes');
  const big = rgwPage(1000);
  const r = new ListPageReader();
  for (let i = 0; i < big.length; i += 1000) r.write(big.subarray(i, i + 1000));
  t.same(r.end(), parseListPage(big), 'a 1,000-key page in 1,000-byte chunks');
});

t.test('list-page.ts: values as the schema says, the rest skipped', async (t) => {
  const page = (inner: string): ReturnType<typeof parseListPage> => parseListPage(Buffer.from(`<ListBucketResult>${inner}</ListBucketResult>`));
  t.same(page(''), { objects: [], prefixes: [], truncated: false, nextToken: undefined }, 'an empty page');
  t.same(page('<Contents/><CommonPrefixes></CommonPrefixes><Contents><Size>1</Size></Contents>').objects, [], 'entries without a Key are dropped');
  t.same(
    page('<Contents><Key>a+b%2Bc</Key><ETag/></Contents>').objects,
    [{ key: 'a+b%2Bc', size: 0, etag: '', mtimeMs: 0 }],
    'no EncodingType: a name is taken as it is',
  );
  t.same(
    page('<Contents><Key>a+b%2Bc</Key></Contents><EncodingType>url</EncodingType>').objects.map((o) => o.key),
    ['a b+c'],
    'EncodingType after the keys (MinIO) still decodes them',
  );
  t.same(
    page('<Contents><Key>&#x41;&#66;&lt;&gt;&amp;&quot;&apos;&#x1F600;</Key><LastModified>2025-01-01T01:00:00.5+01:00</LastModified></Contents>').objects,
    [{ key: 'AB<>&"\'😀', size: 0, etag: '', mtimeMs: Date.parse('2025-01-01T00:00:00.500Z') }],
    'character references, an offset and a short fraction',
  );
  t.same(
    page('<Contents>\n  <Key>k</Key>\n  <Owner><ID>x</ID><Extra><Deeper a="1>2"/></Extra></Owner>\n</Contents><Unknown><x>y</x></Unknown>').objects.map(
      (o) => o.key,
    ),
    ['k'],
    'whitespace, unknown and nested elements, attributes holding >',
  );
  t.throws(() => page('<Contents><Key>k</Key><Owner><ID>x</Owner></ID></Contents>'), ListPageError, 'a nesting error inside a skipped element');
  t.throws(() => page('<EncodingType>base64</EncodingType>'), ListPageError, 'an encoding it does not know');
  t.throws(() => page('<Contents><Key>k</Key></CommonPrefixes>'), ListPageError, 'a parent closed by the wrong name');
});
