/**
 * The small reads of S3Store (s3-store.ts): HEAD, the first bytes of an object (its metadata and
 * its start in one GET) and a LIST page, each on the lean path (lean-s3.ts) or the SDK's, with
 * the same checks and outcomes on both. Each call is one StoreCall of the context's retry loop
 * (s3-context.ts); the attempts are the functions named `…Attempt`.
 */
import type { Readable } from 'node:stream';
import type { ListPage, ListRequest, ObjectInfo } from './object-store.js';
import { StoreError } from './store-error.js';
import type { Attempt } from './attempt.js';
import type { LeanS3, ResponseHeaders } from './lean-s3.js';
import { ListPageError, ListPageReader, type ParsedListPage } from './list-page.js';
import { acceptedRange, bodyBroke, rangeAnswer, rangeVerdict } from './get-answer.js';
import type { S3Context } from './s3-context.js';

export async function head(s: S3Context, key: string): Promise<ObjectInfo | undefined> {
  const what = `HEAD ${s.label}/${key}`;
  try {
    return await s.policy.begin().run(what, (a) => headAttempt(s, key, a), s.hooks('HEAD'));
  } catch (err) {
    if (err instanceof StoreError && err.kind === 'not-found') return undefined;
    throw err;
  }
}

export async function headAttempt(s: S3Context, key: string, attempt: Attempt): Promise<ObjectInfo> {
  s.counters.s3Head++;
  if (s.lean) {
    let info: ObjectInfo | undefined;
    await s.lean.exchange(
      { method: 'HEAD', key },
      {
        onHeaders: (status, h) => {
          s.observe('HEAD', status);
          info = { key, size: Number(h['content-length'] ?? 0), etag: h.etag ?? '', mtimeMs: mtimeOf(h) };
        },
        onData: () => undefined,
      },
      attempt.signal,
    );
    if (!info) throw new StoreError('invalid-response', `HEAD ${s.label}/${key}: no answer`, { transient: true });
    return info;
  }
  const { client, sdk } = await s.sdk();
  const res = await client.send(new sdk.HeadObjectCommand({ Bucket: s.bucket, Key: key }), { abortSignal: attempt.signal });
  s.observe('HEAD', res.$metadata.httpStatusCode);
  return { key, size: res.ContentLength ?? 0, etag: res.ETag ?? '', mtimeMs: res.LastModified?.getTime() ?? 0 };
}

export async function getFirstBytes(s: S3Context, key: string, bytes: number): Promise<{ info: ObjectInfo; data: Buffer } | undefined> {
  const what = `GET ${s.label}/${key} bytes 0-${bytes - 1}`;
  const call = s.policy.begin();
  try {
    return await call.run(what, (a) => firstBytesAttempt(s, key, bytes, a, what), s.hooks('GET'));
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    if (err.kind === 'not-found') return undefined;
    // An empty object has no byte 0: S3 answers 416; ask its metadata instead, within the
    // same budget.
    if (err.status !== 416 && err.s3Code !== 'InvalidRange') throw err;
    try {
      const info = await call.run(`HEAD ${s.label}/${key}`, (a) => headAttempt(s, key, a), s.hooks('HEAD'));
      return { info, data: Buffer.alloc(0) };
    } catch (headErr) {
      if (headErr instanceof StoreError && headErr.kind === 'not-found') return undefined;
      throw headErr;
    }
  }
}

async function firstBytesAttempt(s: S3Context, key: string, bytes: number, attempt: Attempt, what: string): Promise<{ info: ObjectInfo; data: Buffer }> {
  s.counters.s3Get++;
  if (s.lean) return firstBytesLean(s, s.lean, key, bytes, attempt, what);
  // The attempt's deadline covers the body too: at most `bytes` (128 KiB) of it.
  const { client, sdk } = await s.sdk();
  const res = await client.send(new sdk.GetObjectCommand({ Bucket: s.bucket, Key: key, Range: `bytes=0-${bytes - 1}` }), {
    abortSignal: attempt.signal,
  });
  s.observe('GET', res.$metadata.httpStatusCode);
  const body = res.Body as Readable | undefined;
  const verdict = acceptedRange({ start: 0, end: bytes, objectMayEnd: true }, res, body, what);
  const data = body ? await readAtMost(body, verdict.length, what) : Buffer.alloc(0);
  s.counters.s3BytesFetched += data.length;
  if (data.length !== verdict.length)
    throw new StoreError('invalid-response', `${what}: the answer ended after ${data.length} of ${verdict.length} bytes`, { transient: true });
  const size = verdict.total ?? data.length;
  return { info: { key, size, etag: res.ETag ?? '', mtimeMs: res.LastModified?.getTime() ?? 0 }, data };
}

/** firstBytesAttempt on the lean path: the same checks, the body kept as the parser's Buffers. */
async function firstBytesLean(
  s: S3Context,
  lean: LeanS3,
  key: string,
  bytes: number,
  attempt: Attempt,
  what: string,
): Promise<{ info: ObjectInfo; data: Buffer }> {
  let verdict: { length: number; total?: number } | undefined;
  let head: ResponseHeaders = {};
  const parts: Buffer[] = [];
  let got = 0;
  try {
    await lean.exchange(
      { method: 'GET', key, headers: { range: `bytes=0-${bytes - 1}` } },
      {
        onHeaders: (status, h) => {
          s.observe('GET', status);
          head = h;
          verdict = rangeVerdict({ start: 0, end: bytes, objectMayEnd: true }, rangeAnswer(status, h), what);
        },
        onData: (chunk) => {
          const limit = verdict?.length ?? 0;
          if (got + chunk.length > limit) throw new StoreError('invalid-response', `${what}: the answer is longer than the ${limit} bytes announced`);
          got += chunk.length;
          parts.push(chunk);
        },
      },
      attempt.signal,
    );
  } catch (err) {
    throw verdict === undefined || err instanceof StoreError || attempt.signal.aborted ? err : bodyBroke(what, err, got);
  }
  if (!verdict) throw new StoreError('invalid-response', `${what}: no answer`, { transient: true });
  const data = parts.length === 1 && parts[0] ? parts[0] : Buffer.concat(parts, got);
  s.counters.s3BytesFetched += data.length;
  if (data.length !== verdict.length)
    throw new StoreError('invalid-response', `${what}: the answer ended after ${data.length} of ${verdict.length} bytes`, { transient: true });
  return { info: { key, size: verdict.total ?? data.length, etag: head.etag ?? '', mtimeMs: mtimeOf(head) }, data };
}

export function list(s: S3Context, req: ListRequest): Promise<ListPage> {
  return s.policy.begin().run(`LIST ${s.label}/${req.prefix}`, (a) => listAttempt(s, req, a), s.hooks('LIST'));
}

async function listAttempt(s: S3Context, req: ListRequest, attempt: Attempt): Promise<ListPage> {
  s.counters.s3List++;
  const what = `LIST ${s.label}/${req.prefix}`;
  const page = s.lean ? await listLean(s, s.lean, req, attempt, what) : await listSdk(s, req, attempt);
  // Taken as complete, such a page would make every name after it vanish from the folder.
  if (page.truncated && !page.nextToken) throw new StoreError('invalid-response', `${what}: the page is marked truncated but carries no continuation token`);
  return { objects: page.objects, prefixes: page.prefixes, ...(page.truncated && page.nextToken ? { nextToken: page.nextToken } : {}) };
}

async function listSdk(s: S3Context, req: ListRequest, attempt: Attempt): Promise<ParsedListPage> {
  const { client, sdk } = await s.sdk();
  const res = await client.send(
    new sdk.ListObjectsV2Command({
      Bucket: s.bucket,
      Prefix: req.prefix,
      ...(req.delimiter !== undefined ? { Delimiter: req.delimiter } : {}),
      ...(req.continuationToken !== undefined ? { ContinuationToken: req.continuationToken } : {}),
      ...(req.maxKeys !== undefined ? { MaxKeys: req.maxKeys } : {}),
    }),
    { abortSignal: attempt.signal },
  );
  s.observe('LIST', res.$metadata.httpStatusCode);
  return {
    objects: (res.Contents ?? []).flatMap((o) =>
      o.Key === undefined ? [] : [{ key: o.Key, size: o.Size ?? 0, etag: o.ETag ?? '', mtimeMs: o.LastModified?.getTime() ?? 0 }],
    ),
    prefixes: (res.CommonPrefixes ?? []).flatMap((p) => (p.Prefix === undefined ? [] : [p.Prefix])),
    truncated: res.IsTruncated === true,
    nextToken: res.NextContinuationToken,
  };
}

/**
 * listSdk on the lean path: the page read as its bytes arrive (list-page.ts), names asked
 * URL-encoded so that a key with any character, a control character included, survives XML.
 */
async function listLean(s: S3Context, lean: LeanS3, req: ListRequest, attempt: Attempt, what: string): Promise<ParsedListPage> {
  const query: Record<string, string> = { 'list-type': '2', prefix: req.prefix, 'encoding-type': 'url' };
  if (req.delimiter !== undefined) query.delimiter = req.delimiter;
  if (req.continuationToken !== undefined) query['continuation-token'] = req.continuationToken;
  if (req.maxKeys !== undefined) query['max-keys'] = String(req.maxKeys);
  const reader = new ListPageReader();
  let answered = false;
  try {
    await lean.exchange(
      { method: 'GET', key: '', query },
      {
        onHeaders: (status) => {
          s.observe('LIST', status);
          answered = true;
        },
        onData: (chunk) => reader.write(chunk),
      },
      attempt.signal,
    );
    return reader.end();
  } catch (err) {
    // The same server would send the same document again: not worth a retry.
    if (err instanceof ListPageError) throw new StoreError('invalid-response', `${what}: ${err.message}`, { cause: err });
    throw !answered || err instanceof StoreError || attempt.signal.aborted ? err : bodyBroke(what, err);
  }
}

/** Last-Modified in ms; 0 when absent or unreadable (as the SDK path answers without one). */
function mtimeOf(h: ResponseHeaders): number {
  const t = h['last-modified'] === undefined ? NaN : Date.parse(h['last-modified']);
  return Number.isNaN(t) ? 0 : t;
}

/**
 * The whole body, which must not be longer than `limit` bytes: a longer one is destroyed as
 * soon as it passes the limit, so no more than `limit` bytes are ever buffered.
 */
function readAtMost(body: Readable, limit: number, what: string): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    let settled = false;
    const finish = (err?: StoreError): void => {
      if (settled) return;
      settled = true;
      body.off('data', onData);
      if (!body.destroyed) body.destroy();
      if (err) reject(err);
      else resolve(parts.length === 1 && parts[0] ? parts[0] : Buffer.concat(parts, got));
    };
    const onData = (chunk: Buffer): void => {
      if (got + chunk.length > limit) return finish(new StoreError('invalid-response', `${what}: the answer is longer than the ${limit} bytes announced`));
      got += chunk.length;
      parts.push(chunk);
    };
    body.on('data', onData);
    body.once('end', () => finish());
    body.once('error', (err) => finish(bodyBroke(what, err, got)));
    body.once('close', () => finish());
  });
}
