/**
 * ObjectStore on @aws-sdk/client-s3: the only module that talks S3.
 *
 * Retries: the SDK retries requests whose response has not started (connection errors, 5xx,
 * throttling). It neither retries nor times out a response *body*, so readRange does both
 * itself: an idle timer per body, and a resume from the first byte not yet delivered, always
 * with If-Match so the resumed bytes belong to the same object version.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { AwsCredentialIdentityProvider } from '@aws-sdk/types';
import type { HttpRequest as IHttpRequest } from '@smithy/types';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { ListPage, ListRequest, ObjectInfo, ObjectStore, RangeRequest } from './object-store.js';
import { StoreError, toStoreError } from './errors.js';
import { backoffMs, sleep } from './backoff.js';
import { Attempt } from './attempt.js';
import { type Counters, createCounters } from '../observe/counters.js';
import type { RequestObserver } from '../observe/metrics.js';

export interface S3StoreOptions {
  readonly bucket: string;
  readonly endpoint?: string;
  readonly region: string;
  readonly pathStyle: boolean;
  /**
   * undefined: anonymous, unsigned requests (public buckets). Never the SDK's default chain,
   * which would probe instance-metadata endpoints that do not exist in most clusters.
   */
  readonly credentials?: AwsCredentialIdentityProvider;
  /** Bound for one request, all SDK attempts included. */
  readonly requestTimeoutMs: number;
  /** A body that delivers no byte for this long is abandoned and resumed. */
  readonly bodyIdleTimeoutMs?: number;
  /** Attempts for one ranged read whose body breaks. */
  readonly bodyAttempts?: number;
  readonly maxSockets?: number;
  /** Where requests and bytes are counted. */
  readonly counters?: Counters;
  /** Told the outcome of every request (for metrics). */
  readonly observer?: RequestObserver;
  /**
   * Called when S3 refuses the credentials; resolves true when fresh ones were loaded, and the
   * request is then tried once more (a rotated secret).
   */
  readonly onAccessDenied?: () => Promise<boolean>;
}

export class S3Store implements ObjectStore {
  readonly label: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly requestTimeoutMs: number;
  private readonly bodyIdleTimeoutMs: number;
  private readonly bodyAttempts: number;
  private readonly counters: Counters;
  private readonly observer: RequestObserver | undefined;
  private readonly onAccessDenied: () => Promise<boolean>;

  constructor(opts: S3StoreOptions) {
    this.observer = opts.observer;
    this.onAccessDenied = opts.onAccessDenied ?? (async () => false);
    this.bucket = opts.bucket;
    this.counters = opts.counters ?? createCounters();
    this.label = `s3://${opts.bucket}`;
    this.requestTimeoutMs = opts.requestTimeoutMs;
    // A stalled body is abandoned and resumed well inside the read deadline (request-timeout).
    this.bodyIdleTimeoutMs = opts.bodyIdleTimeoutMs ?? Math.max(500, Math.min(10_000, Math.floor(opts.requestTimeoutMs / 3)));
    this.bodyAttempts = opts.bodyAttempts ?? 4;
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets ?? 64 };
    // Per-attempt timeouts well inside the overall bound, so a dead server costs a few attempts,
    // not one long hang.
    const attemptTimeoutMs = Math.max(1000, Math.floor(opts.requestTimeoutMs / 3));
    this.client = new S3Client({
      region: opts.region,
      ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
      forcePathStyle: opts.pathStyle,
      ...(opts.credentials !== undefined
        ? { credentials: opts.credentials }
        : { credentials: { accessKeyId: '', secretAccessKey: '' }, signer: { sign: async (request: IHttpRequest) => request } }),
      // Third-party servers (RGW, MinIO) reject or mishandle the SDK's newer checksum defaults.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      requestHandler: new NodeHttpHandler({
        connectionTimeout: Math.min(5000, attemptTimeoutMs),
        requestTimeout: attemptTimeoutMs,
        // Fail the attempt (so the SDK retries, then we answer) instead of logging a warning.
        throwOnRequestTimeout: true,
        httpAgent: new HttpAgent(agentOpts),
        httpsAgent: new HttpsAgent(agentOpts),
      }),
    });
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.withFreshKeys(() => this.headOnce(key));
  }

  private async headOnce(key: string): Promise<ObjectInfo | undefined> {
    this.counters.s3Head++;
    const attempt = new Attempt(this.requestTimeoutMs);
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: attempt.signal });
      this.observe('HEAD', res.$metadata.httpStatusCode);
      return {
        key,
        size: res.ContentLength ?? 0,
        etag: res.ETag ?? '',
        mtimeMs: res.LastModified?.getTime() ?? 0,
      };
    } catch (err) {
      const e = attempt.classify(err, `HEAD ${this.label}/${key}`);
      this.observeError('HEAD', e);
      if (e.kind === 'not-found') return undefined;
      this.counters.s3Errors++;
      throw e;
    } finally {
      attempt.dispose();
    }
  }

  peek(key: string, bytes: number): Promise<{ info: ObjectInfo; data: Buffer } | undefined> {
    return this.withFreshKeys(() => this.bodyRetried(() => this.peekOnce(key, bytes)));
  }

  private async peekOnce(key: string, bytes: number): Promise<{ info: ObjectInfo; data: Buffer } | undefined> {
    this.counters.s3Get++;
    const attempt = new Attempt(this.requestTimeoutMs);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=0-${bytes - 1}` }), {
        abortSignal: attempt.signal,
      });
      this.observe('GET', res.$metadata.httpStatusCode);
      const raw = res.Body
        ? await res.Body.transformToByteArray().catch((err: unknown) => {
            throw new StoreError('invalid-response', `GET ${this.label}/${key}: body broke: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
          })
        : new Uint8Array(0);
      const data = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      this.counters.s3BytesFetched += data.length;
      // "bytes 0-99/1234": the total after the slash; a 200 (no range) carries the whole object.
      const total = /\/(\d+)$/.exec(res.ContentRange ?? '')?.[1];
      const size = total !== undefined ? Number(total) : (res.ContentLength ?? data.length);
      return { info: { key, size, etag: res.ETag ?? '', mtimeMs: res.LastModified?.getTime() ?? 0 }, data };
    } catch (err) {
      const e = attempt.classify(err, `GET ${this.label}/${key} bytes 0-${bytes - 1}`);
      this.observeError('GET', e);
      if (e.kind === 'not-found') return undefined;
      // An empty object has no byte 0: S3 answers 416; ask its metadata instead.
      if (e.status === 416 || e.s3Code === 'InvalidRange') {
        const info = await this.headOnce(key);
        return info ? { info, data: Buffer.alloc(0) } : undefined;
      }
      this.counters.s3Errors++;
      throw e;
    } finally {
      attempt.dispose();
    }
  }

  list(req: ListRequest): Promise<ListPage> {
    return this.withFreshKeys(() => this.listOnce(req));
  }

  private async listOnce(req: ListRequest): Promise<ListPage> {
    this.counters.s3List++;
    const attempt = new Attempt(this.requestTimeoutMs);
    try {
      const res = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: req.prefix,
          ...(req.delimiter !== undefined ? { Delimiter: req.delimiter } : {}),
          ...(req.continuationToken !== undefined ? { ContinuationToken: req.continuationToken } : {}),
          ...(req.maxKeys !== undefined ? { MaxKeys: req.maxKeys } : {}),
        }),
        { abortSignal: attempt.signal },
      );
      this.observe('LIST', res.$metadata.httpStatusCode);
      const objects: ObjectInfo[] = (res.Contents ?? []).flatMap((o) =>
        o.Key === undefined ? [] : [{ key: o.Key, size: o.Size ?? 0, etag: o.ETag ?? '', mtimeMs: o.LastModified?.getTime() ?? 0 }],
      );
      const prefixes = (res.CommonPrefixes ?? []).flatMap((p) => (p.Prefix === undefined ? [] : [p.Prefix]));
      return {
        objects,
        prefixes,
        ...(res.IsTruncated && res.NextContinuationToken ? { nextToken: res.NextContinuationToken } : {}),
      };
    } catch (err) {
      this.counters.s3Errors++;
      const e = attempt.classify(err, `LIST ${this.label}/${req.prefix}`);
      this.observeError('LIST', e);
      throw e;
    } finally {
      attempt.dispose();
    }
  }

  async probe(prefix: string): Promise<void> {
    await this.list({ prefix, maxKeys: 1 });
  }

  readRange(req: RangeRequest, onChunk: (chunk: Buffer) => void): Promise<void> {
    let delivered = false;
    return this.withFreshKeys(
      () => this.readRangeOnce(req, (chunk) => {
        delivered = true;
        onChunk(chunk);
      }),
      () => !delivered,
    );
  }

  private async readRangeOnce(req: RangeRequest, onChunk: (chunk: Buffer) => void): Promise<void> {
    // `pos` follows every byte delivered, so a retry asks for exactly the bytes still missing:
    // each byte reaches `onChunk` once, in order, whatever broke in between.
    let pos = req.start;
    const deliver = (chunk: Buffer): void => {
      pos += chunk.length;
      onChunk(chunk);
    };
    const what = `GET ${this.label}/${req.key} bytes ${req.start}-${req.end - 1}`;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.readOnce(req, pos, deliver);
        if (pos >= req.end) return;
        throw new StoreError('invalid-response', `${what}: body ended at byte ${pos}`);
      } catch (err) {
        this.counters.s3Errors++;
        const e = req.signal?.aborted ? new StoreError('aborted', `${what}: aborted`, { cause: err }) : toStoreError(err, what);
        this.observeError('GET', e);
        const retryable = e.transient || e.kind === 'invalid-response';
        if (!retryable || attempt >= this.bodyAttempts) throw e;
        await sleep(backoffMs(attempt), req.signal);
      }
    }
  }

  /** One GET from `from` to the end of the range; bytes go to `onChunk` as they arrive. */
  private async readOnce(req: RangeRequest, from: number, onChunk: (chunk: Buffer) => void): Promise<void> {
    this.counters.s3Get++;
    // No deadline on the whole body (a slow link may take long to deliver a part): the HTTP
    // handler bounds the wait for headers, and the idle timer below bounds a stalled body.
    const signal = req.signal ?? new AbortController().signal;
    const res = await this.client.send(
      new GetObjectCommand({ Bucket: this.bucket, Key: req.key, Range: `bytes=${from}-${req.end - 1}`, IfMatch: req.etag }),
      { abortSignal: signal },
    );
    this.observe('GET', res.$metadata.httpStatusCode);
    const body = res.Body as Readable | undefined;
    if (!body) throw new StoreError('invalid-response', `GET ${this.label}/${req.key}: no body`);
    let pos = from;
    // Events rather than `for await`: an async iterator costs a promise per chunk, on the
    // thread that also answers FUSE.
    return new Promise<void>((resolve, reject) => {
      let idle: NodeJS.Timeout | undefined;
      let settled = false;
      const finish = (err?: unknown): void => {
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
        idle = setTimeout(
          () => finish(new StoreError('timeout', `GET ${this.label}/${req.key}: no data for ${this.bodyIdleTimeoutMs} ms`)),
          this.bodyIdleTimeoutMs,
        );
      };
      const onAbort = (): void => finish(new StoreError('aborted', `GET ${this.label}/${req.key}: aborted`));
      const onData = (chunk: Buffer): void => {
        // A server that sends more than asked must not push bytes past the range.
        const take = Math.min(chunk.length, req.end - pos);
        this.counters.s3BytesFetched += take;
        if (take > 0) {
          pos += take;
          try {
            onChunk(take === chunk.length ? chunk : chunk.subarray(0, take));
          } catch (err) {
            finish(err);
            return;
          }
        }
        armIdle();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      body.on('data', onData);
      body.once('end', () => finish());
      body.once('error', (err) => finish(err));
      body.once('close', () => finish());
      armIdle();
    });
  }

  destroy(): void {
    this.client.destroy();
  }

  /**
   * Runs `op` again when a response body broke after the headers (the SDK retries only what
   * fails before them).
   */
  private async bodyRetried<T>(op: () => Promise<T>, attempts = 3): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await op();
      } catch (err) {
        if (!(err instanceof StoreError) || err.kind !== 'invalid-response' || attempt >= attempts) throw err;
        await sleep(backoffMs(attempt));
      }
    }
  }

  /** Runs `op`; if S3 refuses the keys and the secret has changed since, runs it once more. */
  private async withFreshKeys<T>(op: () => Promise<T>, canRetry: () => boolean = () => true): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (!(err instanceof StoreError) || err.kind !== 'access-denied' || !canRetry()) throw err;
      if (!(await this.onAccessDenied().catch(() => false))) throw err;
      return op();
    }
  }

  private observe(op: string, status: number | undefined): void {
    this.observer?.request(op, String(status ?? 'unknown'));
  }

  private observeError(op: string, e: StoreError): void {
    this.observer?.request(op, e.status !== undefined ? String(e.status) : e.kind);
  }
}
