/**
 * A scriptable fake S3 on 127.0.0.1 (node:http, port 0) for unit tests of S3Store: each test
 * says exactly what goes on the wire (a 200 instead of a 206, a wrong Content-Range, no answer
 * at all, a body cut short, an error with an empty body, a truncated listing without a token)
 * and counts the requests the store made. Closed in the test's teardown, connections included.
 */
import { createHash } from 'node:crypto';
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import { S3Store, type S3StoreOptions } from '../../../../src/store/s3-store.js';

export interface SeenRequest {
  readonly method: string;
  /** Path without the query, e.g. `/bucket/key`. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly range?: string;
  readonly ifMatch?: string;
  readonly host?: string;
  readonly headers: IncomingHttpHeaders;
  /** The request body; only with the `bodies` option (empty otherwise). */
  readonly body: Buffer;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, seen: SeenRequest, n: number) => void;

export interface FakeS3 {
  readonly url: string;
  readonly port: number;
  readonly requests: SeenRequest[];
  /** What the next requests get. */
  handle(h: Handler): void;
  count(method?: string): number;
}

export interface FakeS3Options {
  /** PEM key and certificate: serve HTTPS instead of HTTP. */
  readonly tls?: { key: string; cert: string };
  /** Read each request's body before the handler runs, into `seen.body` (for writes). */
  readonly bodies?: boolean;
}

export async function startFakeS3(t: Test, handler: Handler, opts: FakeS3Options = {}): Promise<FakeS3> {
  let current = handler;
  const requests: SeenRequest[] = [];
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const u = new URL(req.url ?? '/', 'http://fake');
    const seen = (body: Buffer): SeenRequest => ({
      method: req.method ?? 'GET',
      path: decodeURIComponent(u.pathname),
      query: u.searchParams,
      ...(typeof req.headers.range === 'string' ? { range: req.headers.range } : {}),
      ...(typeof req.headers['if-match'] === 'string' ? { ifMatch: req.headers['if-match'] } : {}),
      ...(typeof req.headers.host === 'string' ? { host: req.headers.host } : {}),
      headers: req.headers,
      body,
    });
    if (opts.bodies) {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const s = seen(Buffer.concat(parts));
        requests.push(s);
        current(req, res, s, requests.length);
      });
      return;
    }
    const s = seen(Buffer.alloc(0));
    requests.push(s);
    // Consume the (empty) request body so the connection can be reused.
    req.resume();
    current(req, res, s, requests.length);
  };
  const server: Server = opts.tls ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }, onRequest) : createHttpServer(onRequest);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => closeServer(server));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    requests,
    handle: (h) => (current = h),
    count: (method) => requests.filter((r) => method === undefined || r.method === method).length,
  };
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** An S3Store pointed at the fake, with small timeouts; destroyed in teardown. */
export function storeFor(t: Test, fake: { url: string }, opts: Partial<S3StoreOptions> = {}): S3Store {
  const store = new S3Store({
    bucket: 'bkt',
    endpoint: fake.url,
    region: 'us-east-1',
    pathStyle: true,
    credentials: async () => ({ accessKeyId: 'AKIDTEST', secretAccessKey: 'not-a-secret' }),
    requestTimeoutMs: 600,
    // No proxy or CA from the machine's environment unless a test asks for one.
    env: {},
    ...opts,
  });
  t.teardown(() => store.destroy());
  return store;
}

export const ETAG = '"0123456789abcdef0123456789abcdef"';
const LAST_MODIFIED = 'Wed, 01 Jan 2025 00:00:00 GMT';

/** Answers a GET as S3 does: 206 with Content-Range for a satisfiable Range, 200 without one. */
export function serveObject(res: ServerResponse, seen: SeenRequest, data: Buffer): void {
  const m = /^bytes=(\d+)-(\d*)$/.exec(seen.range ?? '');
  const headers = { ETag: ETAG, 'Last-Modified': LAST_MODIFIED, 'Accept-Ranges': 'bytes' };
  if (!m) {
    res.writeHead(200, { ...headers, 'Content-Length': data.length });
    res.end(data);
    return;
  }
  const start = Number(m[1]);
  const last = Math.min(m[2] ? Number(m[2]) : data.length - 1, data.length - 1);
  if (start >= data.length) {
    const body = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidRange</Code><Message>The requested range is not satisfiable</Message></Error>';
    res.writeHead(416, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body), 'Content-Range': `bytes */${data.length}` });
    res.end(body);
    return;
  }
  const part = data.subarray(start, last + 1);
  res.writeHead(206, { ...headers, 'Content-Length': part.length, 'Content-Range': `bytes ${start}-${last}/${data.length}` });
  res.end(part);
}

export function serveHead(res: ServerResponse, size: number): void {
  res.writeHead(200, { ETag: ETAG, 'Last-Modified': LAST_MODIFIED, 'Content-Length': size });
  res.end();
}

/** An S3 error answer with an XML body, as S3 sends it. */
export function serveError(res: ServerResponse, status: number, code: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** An error status with no body at all (what a proxy or a load balancer may send). */
export function serveEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'Content-Length': 0 });
  res.end();
}

export interface ListAnswer {
  readonly keys?: readonly { key: string; size: number }[];
  readonly prefixes?: readonly string[];
  readonly truncated?: boolean;
  readonly nextToken?: string;
  /**
   * How names are URL-encoded when the request asks `encoding-type=url`: 'rgw' (the default) as
   * Ceph RGW does (`%20`, `/` encoded in keys only, EncodingType first), 'aws' as AWS and MinIO
   * (a space as `+`, EncodingType after the keys), 'ignore' as a server without the feature.
   */
  readonly encoding?: 'rgw' | 'aws' | 'ignore';
}

/**
 * A ListObjectsV2 answer (the S3 namespace is required by the SDK's parser); values escaped for
 * XML as RGW does (control characters as character references), names URL-encoded when `seen`
 * asked for it.
 */
export function serveList(res: ServerResponse, a: ListAnswer, seen?: SeenRequest): void {
  const style = seen?.query.get('encoding-type') === 'url' ? (a.encoding ?? 'rgw') : 'ignore';
  const name = (n: string, isKey: boolean): string => {
    if (style === 'ignore') return xmlText(n);
    const encoded = encodeURIComponent(n);
    return xmlText(style === 'aws' ? encoded.replace(/%20/g, '+') : isKey ? encoded : encoded.replace(/%2F/g, '/'));
  };
  const encodingType = style === 'ignore' ? '' : '<EncodingType>url</EncodingType>';
  const contents = (a.keys ?? [])
    .map(
      (k) =>
        `<Contents><Key>${name(k.key, true)}</Key><LastModified>2025-01-01T00:00:00.000Z</LastModified><ETag>${xmlText(ETAG)}</ETag><Size>${k.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
    )
    .join('');
  const prefixes = (a.prefixes ?? []).map((p) => `<CommonPrefixes><Prefix>${name(p, false)}</Prefix></CommonPrefixes>`).join('');
  const body =
    '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    (style === 'rgw' ? encodingType : '') +
    `<Name>bkt</Name><Prefix></Prefix><KeyCount>${(a.keys ?? []).length}</KeyCount><MaxKeys>1000</MaxKeys>` +
    `<IsTruncated>${a.truncated ? 'true' : 'false'}</IsTruncated>` +
    (a.nextToken !== undefined ? `<NextContinuationToken>${xmlText(a.nextToken)}</NextContinuationToken>` : '') +
    contents +
    prefixes +
    (style === 'aws' ? encodingType : '') +
    '</ListBucketResult>';
  res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** Text escaped for XML as RGW writes it: the five entities, control characters as references. */
export function xmlText(s: string): string {
  let out = '';
  for (const c of s) {
    const code = c.charCodeAt(0);
    const named = XML_NAMED[c];
    out += named ?? (code < 0x20 && c !== '\t' && c !== '\n' ? `&#x${code.toString(16).padStart(2, '0')};` : c);
  }
  return out;
}

const XML_NAMED: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Accepts the request and never answers (the connection stays open until teardown). */
export function neverAnswer(): void {}

/** A deterministic byte pattern: byte i is (i * 7 + 3) mod 251, so an offset error shows. */
export function pattern(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7 + 3) % 251;
  return b;
}

/** Collects a readRange into one Buffer. */
export async function readAll(store: S3Store, key: string, start: number, end: number, signal?: AbortSignal): Promise<Buffer> {
  const parts: Buffer[] = [];
  await store.readRange({ key, start, end, etag: ETAG, ...(signal ? { signal } : {}) }, (c) => parts.push(Buffer.from(c)));
  return Buffer.concat(parts);
}

/** The StoreError a promise rejects with (fails the test when it resolves). */
export async function rejection(t: Test, p: Promise<unknown>): Promise<{ kind?: string; message: string; status?: number }> {
  try {
    await p;
  } catch (err) {
    const e = err as { kind?: string; message?: string; status?: number };
    return { ...(e.kind !== undefined ? { kind: e.kind } : {}), message: String(e.message), ...(e.status !== undefined ? { status: e.status } : {}) };
  }
  t.fail('expected a rejection');
  return { message: '' };
}

// ---------------------------------------------------------------- answers to writes
// What S3 answers a PUT, a part, a create, a complete, a copy and a delete, with the ETags S3
// computes, so that tests of S3Store's writes say only what differs from a good answer.

/** The Date every write answer carries, so a test can tell mtimeMs came from it. */
export const WRITE_DATE = 'Thu, 02 Jan 2025 03:04:05 GMT';

export const md5Hex = (b: Buffer): string => createHash('md5').update(b).digest('hex');
export const md5Base64 = (b: Buffer): string => createHash('md5').update(b).digest('base64');

/** S3's ETag of a multipart object made of parts with these ETags. */
export function multipartEtag(partEtags: readonly string[]): string {
  const md5s = Buffer.concat(partEtags.map((e) => Buffer.from(e.replace(/"/g, ''), 'hex')));
  return `"${md5Hex(md5s)}-${partEtags.length}"`;
}

export function serveXml(res: ServerResponse, status: number, xml: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { Date: WRITE_DATE, 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(xml), ...headers });
  res.end(xml);
}

/** A PUT of an object or a part: 200 with the body's MD5 as ETag (or `etag`). */
export function servePut(res: ServerResponse, seen: SeenRequest, etag = `"${md5Hex(seen.body)}"`): void {
  res.writeHead(200, { Date: WRITE_DATE, ETag: etag, 'Content-Length': 0 });
  res.end();
}

export function serveCreate(res: ServerResponse, uploadId: string): void {
  serveXml(
    res,
    200,
    `<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>bkt</Bucket><Key>k</Key><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`,
  );
}

/** A Complete: the multipart ETag of the parts listed in the request body. */
export function serveComplete(res: ServerResponse, seen: SeenRequest): void {
  const etags = [...seen.body.toString('utf8').matchAll(/<ETag>([^<]*)<\/ETag>/g)].map((m) => (m[1] ?? '').replace(/&quot;/g, '"'));
  const etag = multipartEtag(etags).replace(/"/g, '&quot;');
  // S3 sends spaces first to keep a long Complete's connection open.
  serveXml(
    res,
    200,
    `<?xml version="1.0" encoding="UTF-8"?>\n\n   <CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Location>http://x/bkt/k</Location><Bucket>bkt</Bucket><Key>k</Key><ETag>${etag}</ETag></CompleteMultipartUploadResult>`,
  );
}

export function serveCopy(res: ServerResponse, etag: string, lastModified = '2025-01-02T03:04:05.000Z'): void {
  serveXml(
    res,
    200,
    `<?xml version="1.0" encoding="UTF-8"?><CopyObjectResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LastModified>${lastModified}</LastModified><ETag>${etag.replace(/"/g, '&quot;')}</ETag></CopyObjectResult>`,
  );
}

export function serveCopyPart(res: ServerResponse, etag: string): void {
  serveXml(
    res,
    200,
    `<?xml version="1.0" encoding="UTF-8"?><CopyPartResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LastModified>2025-01-02T03:04:05.000Z</LastModified><ETag>${etag.replace(/"/g, '&quot;')}</ETag></CopyPartResult>`,
  );
}

/** S3's failure after a 200: the status is sent, then an <Error> document. */
export function serve200Error(res: ServerResponse, code = 'InternalError'): void {
  serveXml(
    res,
    200,
    `<?xml version="1.0" encoding="UTF-8"?>\n  <Error><Code>${code}</Code><Message>We encountered an internal error. Please try again.</Message></Error>`,
  );
}

export function serveNoContent(res: ServerResponse): void {
  res.writeHead(204, { Date: WRITE_DATE });
  res.end();
}
