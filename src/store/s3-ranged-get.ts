/**
 * S3Store.readRange (s3-store.ts): the bytes of a range of one object version, delivered in
 * order as they arrive, on the lean path (lean-s3.ts) or the SDK's.
 *
 * The SDK neither retries nor times out a GET's body, so this does both itself: an idle timer
 * per body, and a resume from the first byte not yet delivered, always with If-Match so the
 * resumed bytes belong to the same object version; each resume is one attempt of the call's
 * budget (retry-policy.ts).
 */
import type { Readable } from 'node:stream';
import type { RangeRequest } from './object-store.js';
import { StoreError } from './store-error.js';
import type { Attempt } from './attempt.js';
import type { LeanS3 } from './lean-s3.js';
import { acceptedRange, bodyBroke, rangeAnswer, rangeVerdict } from './get-answer.js';
import type { S3Context } from './s3-context.js';

export async function readRange(s: S3Context, req: RangeRequest, onChunk: (chunk: Buffer) => void): Promise<void> {
  const what = `GET ${s.label}/${req.key} bytes ${req.start}-${req.end - 1}`;
  const call = s.policy.begin(req.signal);
  // `pos` follows every byte delivered, so a resume asks for exactly the bytes still missing:
  // each byte reaches `onChunk` once, in order, whatever broke in between.
  let pos = req.start;
  const deliver = (chunk: Buffer): void => {
    pos += chunk.length;
    // Bytes arrive: the call's deadline bounds a wait, not a long transfer.
    call.progress();
    onChunk(chunk);
  };
  await call.run(
    what,
    async (attempt) => {
      try {
        await readAttempt(s, req, pos, attempt, deliver);
      } catch (err) {
        const e = attempt.classify(err, what);
        // The handle saw the object at open; with If-Match a 404 means it was deleted since.
        if (e.kind === 'not-found') {
          throw new StoreError('precondition-failed', `${what}: the object was deleted since it was opened`, {
            cause: e,
            ...(e.status !== undefined ? { status: e.status } : {}),
          });
        }
        throw e;
      }
      if (pos < req.end) throw new StoreError('invalid-response', `${what}: the answer ended at byte ${pos}`, { transient: true });
    },
    s.hooks('GET'),
  );
}

/** One GET from `from` to the end of the range; bytes go to `onChunk` as they arrive. */
async function readAttempt(s: S3Context, req: RangeRequest, from: number, attempt: Attempt, onChunk: (chunk: Buffer) => void): Promise<void> {
  s.counters.s3Get++;
  const what = `GET ${s.label}/${req.key} bytes ${from}-${req.end - 1}`;
  if (s.lean) return readLean(s, s.lean, req, from, attempt, onChunk, what);
  const { client, sdk } = await s.sdk();
  const res = await client.send(new sdk.GetObjectCommand({ Bucket: s.bucket, Key: req.key, Range: `bytes=${from}-${req.end - 1}`, IfMatch: req.etag }), {
    abortSignal: attempt.signal,
  });
  // No deadline on the whole body (a slow link may take long to deliver a part): the idle
  // timer below bounds a stalled one. The caller's abort still ends it.
  attempt.headersReceived();
  s.observe('GET', res.$metadata.httpStatusCode);
  const body = res.Body as Readable | undefined;
  acceptedRange({ start: from, end: req.end }, res, body, what);
  if (!body) throw new StoreError('invalid-response', `${what}: no body`, { transient: true });
  const signal = attempt.signal;
  let pos = from;
  // Events rather than `for await`: an async iterator costs a promise per chunk, on the
  // thread that also answers FUSE.
  return new Promise<void>((resolve, reject) => {
    let idle: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      signal.removeEventListener('abort', onAbort);
      body.off('data', onData);
      if (!body.destroyed) body.destroy();
      if (err !== undefined) reject(err);
      else resolve();
    };
    const armIdle = (): void => {
      if (idle) {
        idle.refresh();
        return;
      }
      idle = setTimeout(() => finish(new StoreError('timeout', `${what}: no data for ${s.bodyIdleTimeoutMs} ms`)), s.bodyIdleTimeoutMs);
    };
    const onAbort = (): void => finish(new StoreError('aborted', `${what}: aborted`));
    const onData = (chunk: Buffer): void => {
      // A server that sends more than asked must not push bytes past the range.
      const take = Math.min(chunk.length, req.end - pos);
      s.counters.s3BytesFetched += take;
      if (take > 0) {
        pos += take;
        try {
          onChunk(take === chunk.length ? chunk : chunk.subarray(0, take));
        } catch (err) {
          finish(err instanceof Error ? err : new Error(String(err)));
          return;
        }
      }
      armIdle();
    };
    if (signal.aborted) return finish(new StoreError('aborted', `${what}: aborted`));
    signal.addEventListener('abort', onAbort, { once: true });
    body.on('data', onData);
    body.once('end', () => finish());
    body.once('error', (err) => finish(bodyBroke(what, err, pos - from)));
    body.once('close', () => finish());
    armIdle();
  });
}

/**
 * readAttempt on the lean path: the same checks and outcomes. The idle bound is undici's body
 * timeout (a timer refreshed per chunk, as the SDK path's), the caller's abort the signal.
 */
async function readLean(
  s: S3Context,
  lean: LeanS3,
  req: RangeRequest,
  from: number,
  attempt: Attempt,
  onChunk: (chunk: Buffer) => void,
  what: string,
): Promise<void> {
  let pos = from;
  let answered = false;
  let consumerError: unknown;
  try {
    await lean.exchange(
      { method: 'GET', key: req.key, headers: { range: `bytes=${from}-${req.end - 1}`, 'if-match': req.etag }, bodyIdleTimeoutMs: s.bodyIdleTimeoutMs },
      {
        onHeaders: (status, h) => {
          // From here on, only the idle bound and the caller's abort apply (see readAttempt).
          attempt.headersReceived();
          s.observe('GET', status);
          rangeVerdict({ start: from, end: req.end }, rangeAnswer(status, h), what);
          answered = true;
        },
        onData: (chunk) => {
          // A server that sends more than asked must not push bytes past the range.
          const take = Math.min(chunk.length, req.end - pos);
          s.counters.s3BytesFetched += take;
          if (take <= 0) return;
          pos += take;
          try {
            onChunk(take === chunk.length ? chunk : chunk.subarray(0, take));
          } catch (err) {
            consumerError = err;
            throw err;
          }
        },
      },
      attempt.signal,
    );
  } catch (err) {
    if (!answered || err instanceof StoreError || err === consumerError || attempt.signal.aborted) throw err;
    if ((err as { code?: unknown }).code === 'UND_ERR_BODY_TIMEOUT') throw new StoreError('timeout', `${what}: no data for ${s.bodyIdleTimeoutMs} ms`);
    throw bodyBroke(what, err, pos - from);
  }
}
