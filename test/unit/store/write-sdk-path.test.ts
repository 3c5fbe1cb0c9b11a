/**
 * Issue 12: the SDK path (dataPath 'sdk', also what a proxied store uses) writes as the lean
 * path does, against the same fake S3: the same WrittenObject and part ETags for a PUT and a
 * 2-part multipart upload, the same requests (methods, keys, queries, Content-MD5 on every body,
 * the Complete document's parts), the same encryption headers, the copy condition under both
 * names, and the same outcomes where S3 answers badly.
 */
import type { ServerResponse } from 'node:http';
import t, { type Test } from 'tap';
import {
  ETAG,
  type FakeS3,
  type SeenRequest,
  md5Base64,
  md5Hex,
  pattern,
  serve200Error,
  serveComplete,
  serveCopy,
  serveCreate,
  serveError,
  serveHead,
  serveNoContent,
  servePut,
  startFakeS3,
  storeFor,
} from './helpers/fake-s3.js';
import type { S3Store, S3StoreOptions } from '../../../src/store/s3-store.js';

function goodAnswer(res: ServerResponse, seen: SeenRequest): void {
  if (seen.method === 'POST' && seen.query.has('uploads')) return serveCreate(res, 'upload-1');
  if (seen.method === 'POST') return serveComplete(res, seen);
  if (seen.method === 'DELETE') return serveNoContent(res);
  if (seen.method === 'HEAD') return serveHead(res, 3);
  if (seen.headers['x-amz-copy-source']) return serveCopy(res, ETAG);
  return servePut(res, seen);
}

function bothPaths(t: Test, fake: FakeS3, opts: Partial<S3StoreOptions> = {}): { lean: S3Store; sdk: S3Store } {
  return {
    lean: storeFor(t, fake, { requestTimeoutMs: 5_000, random: () => 0, ...opts }),
    sdk: storeFor(t, fake, { requestTimeoutMs: 5_000, random: () => 0, dataPath: 'sdk', ...opts }),
  };
}

/** What the fake saw, in terms both paths must agree on. */
function wire(requests: readonly SeenRequest[]): unknown[] {
  return requests.map((r) => ({
    method: r.method,
    path: r.path,
    query: Object.fromEntries([...r.query].filter(([k]) => k !== 'x-id')),
    // The paths write a Part's elements in another order: the same parts, other bytes.
    md5: r.method === 'POST' ? r.headers['content-md5'] === md5Base64(r.body) : r.headers['content-md5'],
    length: r.method === 'POST' ? undefined : r.body.length,
    body: r.method === 'POST' ? completeParts(r.body) : md5Hex(r.body),
    sse: r.headers['x-amz-server-side-encryption'],
    kms: r.headers['x-amz-server-side-encryption-aws-kms-key-id'],
    copySource: r.headers['x-amz-copy-source']?.toString().replace(/^\//, ''),
    copyIfMatch: [r.headers['x-amz-copy-source-if-match'], r.headers['x-amz-copy-if-match']],
  }));
}

/** The parts a CompleteMultipartUpload document lists, as [number, etag]. */
function completeParts(body: Buffer): string[][] {
  return [...body.toString().matchAll(/<Part>(.*?)<\/Part>/g)].map((m) => [
    /<PartNumber>([^<]*)</.exec(m[1] ?? '')?.[1] ?? '',
    /<ETag>([^<]*)</.exec(m[1] ?? '')?.[1] ?? '',
  ]);
}

/** A PUT, a 2-part multipart upload, a copy, a delete and an abort; what each returned. */
async function scenario(store: S3Store): Promise<unknown> {
  const body = Buffer.from('a whole object');
  // Longer than one slice: both paths send it in views, which must arrive as the whole.
  const part1 = pattern(3 * 1024 * 1024 + 5);
  const part2 = Buffer.from('the last part');
  const put = await store.putObject('dir/a b+c.bin', body);
  const id = await store.createMultipartUpload('dir/mp é.bin');
  const e1 = await store.uploadPart('dir/mp é.bin', id, 1, part1);
  const e2 = await store.uploadPart('dir/mp é.bin', id, 2, part2);
  const done = await store.completeMultipartUpload('dir/mp é.bin', id, [
    { partNumber: 1, etag: e1 },
    { partNumber: 2, etag: e2 },
  ]);
  const copy = await store.copyObject({ key: 'dir/a b+c.bin', etag: put.etag, size: body.length }, 'dir/copy');
  await store.deleteObject('dir/a b+c.bin');
  await store.abortMultipartUpload('dir/mp é.bin', id);
  return { put, id, parts: [e1, e2], done, copy };
}

t.test('the same results and the same requests on both paths', async (t) => {
  const fake = await startFakeS3(t, (_req, res, seen) => goodAnswer(res, seen), { bodies: true });
  const { lean, sdk } = bothPaths(t, fake);
  const fromLean = await scenario(lean);
  const leanWire = wire(fake.requests.splice(0));
  const fromSdk = await scenario(sdk);
  const sdkWire = wire(fake.requests.splice(0));
  t.same(fromSdk, fromLean, 'the same WrittenObjects, upload id and part ETags');
  t.same(sdkWire, leanWire, 'the same requests');
  t.equal((leanWire as { length: number }[])[2]?.length, 3 * 1024 * 1024 + 5, 'the long part arrived whole');
  t.same(
    (sdkWire as { body: unknown }[])[4]?.body,
    [
      ['1', (fromLean as { parts: string[] }).parts[0]?.replace(/"/g, '&quot;')],
      ['2', (fromLean as { parts: string[] }).parts[1]?.replace(/"/g, '&quot;')],
    ],
    'Complete lists both parts with their ETags',
  );
  t.matchOnly(
    (sdkWire as { method: string }[]).map((r) => r.method),
    ['PUT', 'POST', 'PUT', 'PUT', 'POST', 'PUT', 'DELETE', 'DELETE'],
  );
});

t.test('the Content-MD5 the SDK path sends is the MD5 of the body', async (t) => {
  const fake = await startFakeS3(t, (_req, res, seen) => goodAnswer(res, seen), { bodies: true });
  const { sdk } = bothPaths(t, fake);
  await scenario(sdk);
  for (const r of fake.requests) {
    if (r.body.length > 0) t.equal(r.headers['content-md5'], md5Base64(r.body), `${r.method} ${r.path}`);
  }
});

t.test('the same encryption headers on both paths', async (t) => {
  const fake = await startFakeS3(t, (_req, res, seen) => goodAnswer(res, seen), { bodies: true });
  const { lean, sdk } = bothPaths(t, fake, { sse: { mode: 'aws:kms', kmsKeyId: 'key-1' } });
  await scenario(lean);
  const leanWire = wire(fake.requests.splice(0));
  await scenario(sdk);
  t.same(wire(fake.requests.splice(0)), leanWire);
  t.same(
    (leanWire as { sse?: string }[]).map((r) => r.sse),
    ['aws:kms', 'aws:kms', undefined, undefined, undefined, 'aws:kms', undefined, undefined],
  );
});

t.test('the same outcomes on both paths when S3 answers badly', async (t) => {
  let answer: (req: Parameters<Parameters<typeof startFakeS3>[1]>[0], res: ServerResponse, seen: SeenRequest, n: number) => void = (_q, res, seen) =>
    goodAnswer(res, seen);
  let first = 0;
  const fake = await startFakeS3(t, (req, res, seen) => answer(req, res, seen, fake.requests.length - first), { bodies: true });
  const { lean, sdk } = bothPaths(t, fake);
  const parts = [
    { partNumber: 1, etag: `"${md5Hex(Buffer.from('1'))}"` },
    { partNumber: 2, etag: `"${md5Hex(Buffer.from('2'))}"` },
  ];
  const cases: [string, typeof answer, (s: S3Store) => Promise<unknown>][] = [
    [
      'part: 500 then 200',
      (_q, res, seen, n) => (n === 1 ? serveError(res, 500, 'InternalError') : servePut(res, seen)),
      (s) => s.uploadPart('k', 'u', 1, Buffer.from('x')),
    ],
    ['put: wrong ETag', (_q, res, seen) => servePut(res, seen, '"00000000000000000000000000000000"'), (s) => s.putObject('k', Buffer.from('x'))],
    [
      'complete: 200 with <Error>, then 200',
      (_q, res, seen, n) => (n === 1 ? serve200Error(res) : serveComplete(res, seen)),
      (s) => s.completeMultipartUpload('k', 'u', parts),
    ],
    [
      'complete: lost answer, then NoSuchUpload, the HEAD shows it done',
      (req, res, seen, n) => {
        if (seen.method === 'HEAD') {
          res.writeHead(200, { ETag: `"${md5Hex(Buffer.concat(parts.map((p) => Buffer.from(p.etag.slice(1, -1), 'hex'))))}-2"`, 'Content-Length': 2 });
          return void res.end();
        }
        if (n === 1) return void req.socket.destroy();
        serveError(res, 404, 'NoSuchUpload');
      },
      (s) => s.completeMultipartUpload('k', 'u', parts),
    ],
    ['abort: 404', (_q, res) => serveError(res, 404, 'NoSuchUpload'), (s) => s.abortMultipartUpload('k', 'u')],
    ['delete: 404', (_q, res) => serveError(res, 404, 'NoSuchKey'), (s) => s.deleteObject('k')],
    ['copy: 412', (_q, res) => serveError(res, 412, 'PreconditionFailed'), (s) => s.copyObject({ key: 'a', etag: ETAG, size: 1 }, 'b')],
    ['copy: 404', (_q, res) => serveError(res, 404, 'NoSuchKey'), (s) => s.copyObject({ key: 'a', etag: ETAG, size: 1 }, 'b')],
    ['create: 403', (_q, res) => serveError(res, 403, 'AccessDenied'), (s) => s.createMultipartUpload('k')],
  ];
  for (const [label, serve, call] of cases) {
    answer = serve;
    first = fake.requests.length;
    const viaLean = await settle(call(lean));
    const leanCount = fake.requests.length - first;
    first = fake.requests.length;
    const viaSdk = await settle(call(sdk));
    t.same(viaSdk, viaLean, `${label}: ${JSON.stringify(viaLean)}`);
    t.equal(fake.requests.length - first, leanCount, `${label}: ${leanCount} requests on both`);
  }
});

/** The value, or the error's kind and whether it is transient (message texts differ by path). */
async function settle(p: Promise<unknown>): Promise<unknown> {
  try {
    const v = await p;
    return { value: v === undefined ? 'undefined' : (v as { mtimeMs?: number }).mtimeMs !== undefined ? { ...(v as object), mtimeMs: 'set' } : v };
  } catch (err) {
    const e = err as { kind?: string; transient?: boolean };
    return { kind: e.kind, transient: e.transient };
  }
}
