/**
 * ObjectStore on S3: the only module that talks S3 (through lean-s3.ts, or the AWS SDK: sdk-client.ts).
 *
 * Retries: one loop, RetryPolicy (retry-policy.ts, where the numbers are), around every store
 * call; the SDK's own retries are off. A ranged GET's body is neither retried nor timed out by
 * the SDK, so readRange does both itself: an idle timer per body, and a resume from the first
 * byte not yet delivered, always with If-Match so the resumed bytes belong to the same object
 * version; each resume is one attempt of the same budget.
 *
 * Writes (PUT, multipart, copy, delete) take the same loop, each body with its Content-MD5; an
 * upload is bounded by its progress rather than by one attempt's deadline (ProgressWatch).
 */
import { Readable } from 'node:stream';
import type { AwsCredentialIdentityProvider } from '@aws-sdk/types';
import type { BuildMiddleware, DeserializeMiddleware, MiddlewareStack } from '@smithy/types';
import {
  type ListPage,
  type ListRequest,
  type ObjectInfo,
  type ObjectStore,
  type RangeRequest,
  UPLOAD_LIMITS,
  type UploadedPart,
  type WrittenObject,
} from './object-store.js';
import { StoreError } from './store-error.js';
import type { Attempt } from './attempt.js';
import { type AskedRange, type RangeAnswer, checkRangeAnswer } from './range-check.js';
import { LeanS3, type LeanRequest, type ResponseHeaders, escapeUri } from './lean-s3.js';
import { checkedEtag, isCompletedEtag, md5Now, md5Of } from './body-digest.js';
import { completeUploadBody, readUploadAnswer } from './upload-xml.js';
import { loadSdkClient, type SdkClient, type SdkClientOptions } from './sdk-client.js';
import { ListPageError, ListPageReader, type ParsedListPage } from './list-page.js';
import { type Env, createTransport } from './http-agents.js';
import { RetryPolicy, type RunHooks, type StoreCall, bodyIdleTimeoutMs, retrySettings } from './retry-policy.js';
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
  /** Deadline of one store call, all attempts included (see retry-policy.ts). */
  readonly requestTimeoutMs: number;
  /** A body that delivers no byte for this long is abandoned and resumed. */
  readonly bodyIdleTimeoutMs?: number;
  /** Requests per store call, all causes together (default 4, see retry-policy.ts). */
  readonly maxAttempts?: number;
  /** Uniform in [0, 1): the backoff's jitter (seeded in tests). */
  readonly random?: () => number;
  readonly maxSockets?: number;
  /**
   * PEM certificates to trust besides Node's list (the `ca-file` option's content); without it,
   * the file named by AWS_CA_BUNDLE. See http-agents.ts, also for the proxy variables.
   */
  readonly caBundle?: string | Buffer;
  /** Where AWS_CA_BUNDLE, HTTPS_PROXY, HTTP_PROXY and NO_PROXY are read; process.env by default. */
  readonly env?: Env;
  /** Where requests and bytes are counted. */
  readonly counters?: Counters;
  /** Told the outcome of every request (for metrics). */
  readonly observer?: RequestObserver;
  /**
   * Called when S3 refuses the credentials; resolves true when fresh ones were loaded, and the
   * request is then tried once more (a rotated secret).
   */
  readonly onAccessDenied?: () => Promise<boolean>;
  /**
   * Told when `onAccessDenied` failed (the secret files could not be read again); the request
   * then fails as refused, without a retry. For the mount's log: never swallowed silently.
   */
  readonly onCredentialError?: (err: unknown) => void;
  /**
   * 'lean' (default): ranged GETs, first-bytes GETs, HEADs and LISTs go through lean-s3.ts
   * (undici + SigV4), the rest through the SDK. 'sdk': everything through the SDK (for comparison). With
   * a proxy configured, 'lean' falls back to the SDK (its proxy agents), and `transport` says so.
   */
  readonly dataPath?: 'lean' | 'sdk';
  /**
   * Server-side encryption asked on every PUT, CreateMultipartUpload and copy (S3 refuses it on
   * parts: the upload's setting applies). undefined: the bucket's default.
   */
  readonly sse?: { readonly mode: 'AES256' | 'aws:kms'; readonly kmsKeyId?: string };
  /**
   * For tests: objects larger than this are copied part by part (UploadPartCopy), in parts of
   * this size, so that the path can be tried on small objects. Default: one CopyObject up to
   * UPLOAD_LIMITS.MAX_PART_BYTES (S3's limit), parts of 512 MiB above.
   */
  readonly copyPartBytes?: number;
}

/** Part size of a copy in parts (unless more parts than S3 allows would be needed). */
const COPY_PART_BYTES = 512 * 1024 * 1024;
/** UploadPartCopy requests in flight for one copy: the server does the work, the link carries none. */
const COPY_PARTS_IN_FLIGHT = 4;
/** The answers of writes are empty or short XML documents; a longer one is refused. */
const MAX_WRITE_ANSWER = 1024 * 1024;

interface WriteAnswer {
  readonly status: number;
  readonly headers: ResponseHeaders;
  readonly body: Buffer;
}

export class S3Store implements ObjectStore {
  readonly label: string;
  /** Endpoint, CAs and proxy in one line for the log (no secret, no proxy credentials). */
  readonly transport: string;
  /** The SDK's client, loaded on first use (see sdk-client.ts). */
  private sdkClient: Promise<SdkClient> | undefined;
  private readonly sdkOptions: SdkClientOptions;
  /** The lean data path; undefined: the SDK serves every call. */
  private readonly lean: LeanS3 | undefined;
  private readonly bucket: string;
  private readonly policy: RetryPolicy;
  private readonly bodyIdleTimeoutMs: number;
  private readonly counters: Counters;
  private readonly observer: RequestObserver | undefined;
  private readonly onAccessDenied: () => Promise<boolean>;
  private readonly onCredentialError: ((err: unknown) => void) | undefined;
  private readonly sse: S3StoreOptions['sse'];
  /** Objects above this are copied in parts, of copyPartBytes each. */
  private readonly copyThresholdBytes: number;
  private readonly copyPartBytes: number;

  constructor(opts: S3StoreOptions) {
    this.sse = opts.sse;
    this.copyThresholdBytes = opts.copyPartBytes ?? UPLOAD_LIMITS.MAX_PART_BYTES;
    this.copyPartBytes = opts.copyPartBytes ?? COPY_PART_BYTES;
    this.observer = opts.observer;
    this.onAccessDenied = opts.onAccessDenied ?? (() => Promise.resolve(false));
    this.onCredentialError = opts.onCredentialError;
    this.bucket = opts.bucket;
    this.counters = opts.counters ?? createCounters();
    this.label = `s3://${opts.bucket}`;
    this.policy = new RetryPolicy(
      retrySettings(opts.requestTimeoutMs, {
        ...(opts.maxAttempts !== undefined ? { maxAttempts: opts.maxAttempts } : {}),
        ...(opts.random !== undefined ? { random: opts.random } : {}),
      }),
    );
    this.bodyIdleTimeoutMs = opts.bodyIdleTimeoutMs ?? bodyIdleTimeoutMs(opts.requestTimeoutMs);
    const transport = createTransport({
      bucket: opts.bucket,
      ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
      region: opts.region,
      pathStyle: opts.pathStyle,
      ...(opts.caBundle !== undefined ? { caBundle: opts.caBundle } : {}),
      ...(opts.maxSockets !== undefined ? { maxSockets: opts.maxSockets } : {}),
      ...(opts.env !== undefined ? { env: opts.env } : {}),
    });
    const connectTimeoutMs = Math.min(5000, this.policy.settings.attemptTimeoutMs);
    // undici's ProxyAgent tunnels http endpoints too (CONNECT), where the SDK path forwards
    // absolute URIs: a proxied store keeps the SDK's agents, whose behaviour is known.
    const lean = (opts.dataPath ?? 'lean') === 'lean' && !transport.proxied;
    this.lean = lean
      ? new LeanS3({
          endpoint: transport.endpoint,
          bucket: opts.bucket,
          region: opts.region,
          pathStyle: opts.pathStyle,
          ...(opts.credentials !== undefined ? { credentials: opts.credentials } : {}),
          ...(transport.secureContext !== undefined ? { secureContext: transport.secureContext } : {}),
          maxSockets: opts.maxSockets ?? 64,
          connectTimeoutMs,
        })
      : undefined;
    this.transport = transport.proxied && opts.dataPath !== 'sdk' ? `${transport.description}; data path: SDK (proxied)` : transport.description;
    this.sdkOptions = {
      region: opts.region,
      ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
      pathStyle: opts.pathStyle,
      ...(opts.credentials !== undefined ? { credentials: opts.credentials } : {}),
      connectTimeoutMs,
      httpAgent: transport.httpAgent,
      httpsAgent: transport.httpsAgent,
    };
    // A store that will use the SDK starts loading it now, not inside its first call's deadline.
    if (!this.lean) void this.sdk().catch(() => undefined);
  }

  private sdk(): Promise<SdkClient> {
    return (this.sdkClient ??= loadSdkClient(this.sdkOptions));
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const what = `HEAD ${this.label}/${key}`;
    try {
      return await this.policy.begin().run(what, (a) => this.headAttempt(key, a), this.hooks('HEAD'));
    } catch (err) {
      if (err instanceof StoreError && err.kind === 'not-found') return undefined;
      throw err;
    }
  }

  private async headAttempt(key: string, attempt: Attempt): Promise<ObjectInfo> {
    this.counters.s3Head++;
    if (this.lean) {
      let info: ObjectInfo | undefined;
      await this.lean.exchange(
        { method: 'HEAD', key },
        {
          onHeaders: (status, h) => {
            this.observe('HEAD', status);
            info = { key, size: Number(h['content-length'] ?? 0), etag: h.etag ?? '', mtimeMs: mtimeOf(h) };
          },
          onData: () => undefined,
        },
        attempt.signal,
      );
      if (!info) throw new StoreError('invalid-response', `HEAD ${this.label}/${key}: no answer`, { transient: true });
      return info;
    }
    const { client, sdk } = await this.sdk();
    const res = await client.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: attempt.signal });
    this.observe('HEAD', res.$metadata.httpStatusCode);
    return { key, size: res.ContentLength ?? 0, etag: res.ETag ?? '', mtimeMs: res.LastModified?.getTime() ?? 0 };
  }

  async getFirstBytes(key: string, bytes: number): Promise<{ info: ObjectInfo; data: Buffer } | undefined> {
    const what = `GET ${this.label}/${key} bytes 0-${bytes - 1}`;
    const call = this.policy.begin();
    try {
      return await call.run(what, (a) => this.firstBytesAttempt(key, bytes, a, what), this.hooks('GET'));
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      if (err.kind === 'not-found') return undefined;
      // An empty object has no byte 0: S3 answers 416; ask its metadata instead, within the
      // same budget.
      if (err.status !== 416 && err.s3Code !== 'InvalidRange') throw err;
      try {
        const info = await call.run(`HEAD ${this.label}/${key}`, (a) => this.headAttempt(key, a), this.hooks('HEAD'));
        return { info, data: Buffer.alloc(0) };
      } catch (headErr) {
        if (headErr instanceof StoreError && headErr.kind === 'not-found') return undefined;
        throw headErr;
      }
    }
  }

  private async firstBytesAttempt(key: string, bytes: number, attempt: Attempt, what: string): Promise<{ info: ObjectInfo; data: Buffer }> {
    this.counters.s3Get++;
    if (this.lean) return this.firstBytesLean(this.lean, key, bytes, attempt, what);
    // The attempt's deadline covers the body too: at most `bytes` (128 KiB) of it.
    const { client, sdk } = await this.sdk();
    const res = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=0-${bytes - 1}` }), {
      abortSignal: attempt.signal,
    });
    this.observe('GET', res.$metadata.httpStatusCode);
    const body = res.Body as Readable | undefined;
    const verdict = acceptedRange({ start: 0, end: bytes, objectMayEnd: true }, res, body, what);
    const data = body ? await readAtMost(body, verdict.length, what) : Buffer.alloc(0);
    this.counters.s3BytesFetched += data.length;
    if (data.length !== verdict.length)
      throw new StoreError('invalid-response', `${what}: the answer ended after ${data.length} of ${verdict.length} bytes`, { transient: true });
    const size = verdict.total ?? data.length;
    return { info: { key, size, etag: res.ETag ?? '', mtimeMs: res.LastModified?.getTime() ?? 0 }, data };
  }

  /** firstBytesAttempt on the lean path: the same checks, the body kept as the parser's Buffers. */
  private async firstBytesLean(lean: LeanS3, key: string, bytes: number, attempt: Attempt, what: string): Promise<{ info: ObjectInfo; data: Buffer }> {
    let verdict: { length: number; total?: number } | undefined;
    let head: ResponseHeaders = {};
    const parts: Buffer[] = [];
    let got = 0;
    try {
      await lean.exchange(
        { method: 'GET', key, headers: { range: `bytes=0-${bytes - 1}` } },
        {
          onHeaders: (status, h) => {
            this.observe('GET', status);
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
    this.counters.s3BytesFetched += data.length;
    if (data.length !== verdict.length)
      throw new StoreError('invalid-response', `${what}: the answer ended after ${data.length} of ${verdict.length} bytes`, { transient: true });
    return { info: { key, size: verdict.total ?? data.length, etag: head.etag ?? '', mtimeMs: mtimeOf(head) }, data };
  }

  list(req: ListRequest): Promise<ListPage> {
    return this.policy.begin().run(`LIST ${this.label}/${req.prefix}`, (a) => this.listAttempt(req, a), this.hooks('LIST'));
  }

  private async listAttempt(req: ListRequest, attempt: Attempt): Promise<ListPage> {
    this.counters.s3List++;
    const what = `LIST ${this.label}/${req.prefix}`;
    const page = this.lean ? await this.listLean(this.lean, req, attempt, what) : await this.listSdk(req, attempt);
    // Taken as complete, such a page would make every name after it vanish from the folder.
    if (page.truncated && !page.nextToken) throw new StoreError('invalid-response', `${what}: the page is marked truncated but carries no continuation token`);
    return { objects: page.objects, prefixes: page.prefixes, ...(page.truncated && page.nextToken ? { nextToken: page.nextToken } : {}) };
  }

  private async listSdk(req: ListRequest, attempt: Attempt): Promise<ParsedListPage> {
    const { client, sdk } = await this.sdk();
    const res = await client.send(
      new sdk.ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: req.prefix,
        ...(req.delimiter !== undefined ? { Delimiter: req.delimiter } : {}),
        ...(req.continuationToken !== undefined ? { ContinuationToken: req.continuationToken } : {}),
        ...(req.maxKeys !== undefined ? { MaxKeys: req.maxKeys } : {}),
      }),
      { abortSignal: attempt.signal },
    );
    this.observe('LIST', res.$metadata.httpStatusCode);
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
  private async listLean(lean: LeanS3, req: ListRequest, attempt: Attempt, what: string): Promise<ParsedListPage> {
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
            this.observe('LIST', status);
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

  async probe(prefix: string): Promise<void> {
    await this.list({ prefix, maxKeys: 1 });
  }

  async readRange(req: RangeRequest, onChunk: (chunk: Buffer) => void): Promise<void> {
    const what = `GET ${this.label}/${req.key} bytes ${req.start}-${req.end - 1}`;
    const call = this.policy.begin(req.signal);
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
          await this.readAttempt(req, pos, attempt, deliver);
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
      this.hooks('GET'),
    );
  }

  /** One GET from `from` to the end of the range; bytes go to `onChunk` as they arrive. */
  private async readAttempt(req: RangeRequest, from: number, attempt: Attempt, onChunk: (chunk: Buffer) => void): Promise<void> {
    this.counters.s3Get++;
    const what = `GET ${this.label}/${req.key} bytes ${from}-${req.end - 1}`;
    if (this.lean) return this.readLean(this.lean, req, from, attempt, onChunk, what);
    const { client, sdk } = await this.sdk();
    const res = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: req.key, Range: `bytes=${from}-${req.end - 1}`, IfMatch: req.etag }), {
      abortSignal: attempt.signal,
    });
    // No deadline on the whole body (a slow link may take long to deliver a part): the idle
    // timer below bounds a stalled one. The caller's abort still ends it.
    attempt.headersReceived();
    this.observe('GET', res.$metadata.httpStatusCode);
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
        idle = setTimeout(() => finish(new StoreError('timeout', `${what}: no data for ${this.bodyIdleTimeoutMs} ms`)), this.bodyIdleTimeoutMs);
      };
      const onAbort = (): void => finish(new StoreError('aborted', `${what}: aborted`));
      const onData = (chunk: Buffer): void => {
        // A server that sends more than asked must not push bytes past the range.
        const take = Math.min(chunk.length, req.end - pos);
        this.counters.s3BytesFetched += take;
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
  private async readLean(lean: LeanS3, req: RangeRequest, from: number, attempt: Attempt, onChunk: (chunk: Buffer) => void, what: string): Promise<void> {
    let pos = from;
    let answered = false;
    let consumerError: unknown;
    try {
      await lean.exchange(
        { method: 'GET', key: req.key, headers: { range: `bytes=${from}-${req.end - 1}`, 'if-match': req.etag }, bodyIdleTimeoutMs: this.bodyIdleTimeoutMs },
        {
          onHeaders: (status, h) => {
            // From here on, only the idle bound and the caller's abort apply (see readAttempt).
            attempt.headersReceived();
            this.observe('GET', status);
            rangeVerdict({ start: from, end: req.end }, rangeAnswer(status, h), what);
            answered = true;
          },
          onData: (chunk) => {
            // A server that sends more than asked must not push bytes past the range.
            const take = Math.min(chunk.length, req.end - pos);
            this.counters.s3BytesFetched += take;
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
      if ((err as { code?: unknown }).code === 'UND_ERR_BODY_TIMEOUT') throw new StoreError('timeout', `${what}: no data for ${this.bodyIdleTimeoutMs} ms`);
      throw bodyBroke(what, err, pos - from);
    }
  }

  // ---------------------------------------------------------------- writes
  //
  // Every write runs through the same RetryPolicy as reads, one StoreCall per request (a part,
  // a complete), the caller's signal aborting it. All of them are safe to send again: the same
  // bytes to the same key or part, and the outcomes a repeat may meet (the upload already
  // completed or aborted, the key already deleted) are taken for what they mean. A lost answer
  // to CreateMultipartUpload leaves one upload nobody completes: the bucket's lifecycle rule for
  // incomplete uploads (or an abort by a later tool) frees it; there is no way to find it here.

  async putObject(key: string, body: Buffer, signal?: AbortSignal): Promise<WrittenObject> {
    const md5 = await md5Of(body);
    const what = `PUT ${this.label}/${key}`;
    const call = this.policy.begin(signal);
    return call.run(what, (a) => this.putAttempt(key, body, md5, call, a, what), this.hooks('PUT'));
  }

  private async putAttempt(key: string, body: Buffer, md5: Buffer, call: StoreCall, attempt: Attempt, what: string): Promise<WrittenObject> {
    if (this.lean) {
      const answer = await this.leanWrite(
        this.lean,
        'PUT',
        { method: 'PUT', key, body, headers: { 'content-md5': md5.toString('base64'), ...this.sseHeaders() } },
        call,
        attempt,
        what,
      );
      return { etag: checkedEtag(answer.headers.etag, md5, this.opaqueEtags, what), mtimeMs: dateOf(answer.headers) };
    }
    const { client, sdk } = await this.sdk();
    const watch = new ProgressWatch(attempt, call, what);
    try {
      const cmd = new sdk.PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: sdkBody(body, watch),
        ContentLength: body.length,
        ContentMD5: md5.toString('base64'),
        ...this.sseFields(),
      });
      const date = answerDate(cmd);
      const res = await client.send(cmd, { abortSignal: watch.signal });
      this.observe('PUT', res.$metadata.httpStatusCode);
      return { etag: checkedEtag(res.ETag, md5, this.opaqueEtags, what), mtimeMs: date() };
    } catch (err) {
      throw watch.cause(err);
    } finally {
      watch.dispose();
    }
  }

  async createMultipartUpload(key: string, signal?: AbortSignal): Promise<string> {
    const what = `POST ${this.label}/${key} (create multipart upload)`;
    const call = this.policy.begin(signal);
    return call.run(what, (a) => this.createAttempt(key, call, a, what), this.hooks('POST'));
  }

  private async createAttempt(key: string, call: StoreCall, attempt: Attempt, what: string): Promise<string> {
    let uploadId: string | undefined;
    if (this.lean) {
      const answer = await this.leanWrite(this.lean, 'POST', { method: 'POST', key, query: { uploads: '' }, headers: this.sseHeaders() }, call, attempt, what);
      uploadId = xmlAnswer(answer.body, 'InitiateMultipartUploadResult', ['UploadId'], what).UploadId;
    } else {
      const { client, sdk } = await this.sdk();
      const res = await client.send(new sdk.CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ...this.sseFields() }), {
        abortSignal: attempt.signal,
      });
      this.observe('POST', res.$metadata.httpStatusCode);
      uploadId = res.UploadId;
    }
    if (!uploadId) throw new StoreError('invalid-response', `${what}: the answer carries no upload id`, { transient: true });
    return uploadId;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer, signal?: AbortSignal): Promise<string> {
    const md5 = await md5Of(body);
    const what = `PUT ${this.label}/${key} part ${partNumber}`;
    const call = this.policy.begin(signal);
    return call.run(what, (a) => this.partAttempt(key, uploadId, partNumber, body, md5, call, a, what), this.hooks('PUT'));
  }

  private async partAttempt(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Buffer,
    md5: Buffer,
    call: StoreCall,
    attempt: Attempt,
    what: string,
  ): Promise<string> {
    // No encryption headers: S3 refuses them on a part (the upload's own settings apply).
    if (this.lean) {
      const answer = await this.leanWrite(
        this.lean,
        'PUT',
        { method: 'PUT', key, query: { partNumber: String(partNumber), uploadId }, body, headers: { 'content-md5': md5.toString('base64') } },
        call,
        attempt,
        what,
      );
      return checkedEtag(answer.headers.etag, md5, this.opaqueEtags, what);
    }
    const { client, sdk } = await this.sdk();
    const watch = new ProgressWatch(attempt, call, what);
    try {
      const res = await client.send(
        new sdk.UploadPartCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: sdkBody(body, watch),
          ContentLength: body.length,
          ContentMD5: md5.toString('base64'),
        }),
        { abortSignal: watch.signal },
      );
      this.observe('PUT', res.$metadata.httpStatusCode);
      return checkedEtag(res.ETag, md5, this.opaqueEtags, what);
    } catch (err) {
      throw watch.cause(err);
    } finally {
      watch.dispose();
    }
  }

  async completeMultipartUpload(key: string, uploadId: string, parts: readonly UploadedPart[], signal?: AbortSignal): Promise<WrittenObject> {
    const what = `POST ${this.label}/${key} (complete multipart upload of ${parts.length} parts)`;
    const call = this.policy.begin(signal);
    let sent = 0;
    return call.run(
      what,
      async (attempt) => {
        sent++;
        try {
          return await this.completeAttempt(key, uploadId, parts, call, attempt, what);
        } catch (err) {
          const e = attempt.classify(err, what);
          // An earlier attempt may have completed the upload and lost its answer: S3 then knows
          // the upload no more. The object under the key tells: its ETag is that of these parts.
          if (sent > 1 && e.kind === 'not-found' && e.s3Code === 'NoSuchUpload') {
            const done = await this.completedObject(key, parts, attempt);
            if (done) return done;
          }
          throw e;
        }
      },
      this.hooks('POST'),
    );
  }

  private async completeAttempt(
    key: string,
    uploadId: string,
    parts: readonly UploadedPart[],
    call: StoreCall,
    attempt: Attempt,
    what: string,
  ): Promise<WrittenObject> {
    if (this.lean) {
      const body = completeUploadBody(parts);
      const answer = await this.leanWrite(
        this.lean,
        'POST',
        { method: 'POST', key, query: { uploadId }, body, headers: { 'content-md5': md5Now(body).toString('base64'), 'content-type': 'application/xml' } },
        call,
        attempt,
        what,
      );
      const etag = xmlAnswer(answer.body, 'CompleteMultipartUploadResult', ['ETag'], what).ETag;
      if (!etag) throw new StoreError('invalid-response', `${what}: the answer carries no ETag`, { transient: true });
      return { etag: quoted(etag), mtimeMs: dateOf(answer.headers) };
    }
    const { client, sdk } = await this.sdk();
    const cmd = new sdk.CompleteMultipartUploadCommand({
      Bucket: this.bucket,
      Key: key,
      UploadId: uploadId,
      MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
    });
    withContentMd5(cmd);
    const date = answerDate(cmd);
    // The SDK turns a 200 with an <Error> body into a 503 (throttled here: transient as well).
    const res = await client.send(cmd, { abortSignal: attempt.signal });
    this.observe('POST', res.$metadata.httpStatusCode);
    if (!res.ETag) throw new StoreError('invalid-response', `${what}: the answer carries no ETag`, { transient: true });
    return { etag: quoted(res.ETag), mtimeMs: date() };
  }

  /** The object an earlier, answerless Complete of `parts` made, or undefined when the key holds something else. */
  private async completedObject(key: string, parts: readonly UploadedPart[], attempt: Attempt): Promise<WrittenObject | undefined> {
    let info: ObjectInfo;
    try {
      info = await this.headAttempt(key, attempt);
    } catch {
      return undefined;
    }
    return isCompletedEtag(info.etag, parts) ? { etag: info.etag, mtimeMs: info.mtimeMs || Date.now() } : undefined;
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    const what = `DELETE ${this.label}/${key} (abort multipart upload)`;
    try {
      await this.policy.begin().run(what, (a) => this.deleteAttempt(key, { uploadId }, a, what), this.hooks('DELETE'));
    } catch (err) {
      // Already aborted or completed (a repeat of a lost answer, or S3's own clean-up).
      if (err instanceof StoreError && err.kind === 'not-found') return;
      throw err;
    }
  }

  async deleteObject(key: string): Promise<void> {
    const what = `DELETE ${this.label}/${key}`;
    try {
      await this.policy.begin().run(what, (a) => this.deleteAttempt(key, undefined, a, what), this.hooks('DELETE'));
    } catch (err) {
      // S3 answers 204 for a missing key; a server that answers 404 means the same.
      if (err instanceof StoreError && err.kind === 'not-found') return;
      throw err;
    }
  }

  private async deleteAttempt(key: string, upload: { uploadId: string } | undefined, attempt: Attempt, what: string): Promise<void> {
    if (this.lean) {
      await this.leanWrite(this.lean, 'DELETE', { method: 'DELETE', key, ...(upload ? { query: upload } : {}) }, undefined, attempt, what);
      return;
    }
    const { client, sdk } = await this.sdk();
    const res = upload
      ? await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: upload.uploadId }), { abortSignal: attempt.signal })
      : await client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: attempt.signal });
    this.observe('DELETE', res.$metadata.httpStatusCode);
  }

  async copyObject(from: { readonly key: string; readonly etag: string; readonly size: number }, to: string): Promise<WrittenObject> {
    if (from.size > this.copyThresholdBytes) return this.copyInParts(from, to);
    const what = `COPY ${this.label}/${from.key} to ${to}`;
    return this.policy.begin().run(what, (a) => this.copyAttempt(from, to, a, what), this.hooks('COPY'));
  }

  private async copyAttempt(from: { readonly key: string; readonly etag: string }, to: string, attempt: Attempt, what: string): Promise<WrittenObject> {
    if (this.lean) {
      const answer = await this.leanWrite(
        this.lean,
        'COPY',
        {
          method: 'PUT',
          key: to,
          headers: { 'x-amz-copy-source': this.copySource(from.key), ...copyIfMatch(from.etag), ...this.sseHeaders() },
        },
        undefined,
        attempt,
        what,
      );
      const got = xmlAnswer(answer.body, 'CopyObjectResult', ['ETag', 'LastModified'], what);
      if (!got.ETag) throw new StoreError('invalid-response', `${what}: the answer carries no ETag`, { transient: true });
      return { etag: quoted(got.ETag), mtimeMs: timeOr(got.LastModified, () => dateOf(answer.headers)) };
    }
    const { client, sdk } = await this.sdk();
    const cmd = new sdk.CopyObjectCommand({
      Bucket: this.bucket,
      Key: to,
      CopySource: this.copySource(from.key),
      CopySourceIfMatch: from.etag,
      ...this.sseFields(),
    });
    withHeaders(cmd, copyIfMatch(from.etag));
    const date = answerDate(cmd);
    const res = await client.send(cmd, { abortSignal: attempt.signal });
    this.observe('COPY', res.$metadata.httpStatusCode);
    const etag = res.CopyObjectResult?.ETag;
    if (!etag) throw new StoreError('invalid-response', `${what}: the answer carries no ETag`, { transient: true });
    return { etag: quoted(etag), mtimeMs: res.CopyObjectResult?.LastModified?.getTime() ?? date() };
  }

  /**
   * A copy of an object too big for one CopyObject: a multipart upload whose parts are copied
   * by the server (UploadPartCopy), a few at a time; aborted when a part fails, so no orphaned
   * parts stay behind. A copy never mixes two versions: each part asks the source's etag, and
   * the source is checked again before the parts are joined.
   */
  private async copyInParts(from: { readonly key: string; readonly etag: string; readonly size: number }, to: string): Promise<WrittenObject> {
    const partBytes = Math.max(this.copyPartBytes, Math.ceil(from.size / UPLOAD_LIMITS.MAX_PARTS));
    const count = Math.ceil(from.size / partBytes);
    const uploadId = await this.createMultipartUpload(to);
    try {
      const parts = new Array<UploadedPart>(count);
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < count) {
          const n = next++;
          const start = n * partBytes;
          const end = Math.min(from.size, start + partBytes);
          const what = `COPY ${this.label}/${from.key} bytes ${start}-${end - 1} to ${to} part ${n + 1}`;
          const etag = await this.policy.begin().run(what, (a) => this.copyPartAttempt(from, to, uploadId, n + 1, start, end, a, what), this.hooks('COPY'));
          parts[n] = { partNumber: n + 1, etag };
        }
      };
      await Promise.all(Array.from({ length: Math.min(COPY_PARTS_IN_FLIGHT, count) }, worker));
      // RGW (16) honours no condition on UploadPartCopy: the source still being the version
      // asked once every part is copied shows that no part came from another one.
      const what = `COPY ${this.label}/${from.key} to ${to}`;
      const now = await this.head(from.key);
      if (!now) throw new StoreError('not-found', `${what}: the source was deleted during the copy`, { status: 404 });
      if (now.etag !== from.etag) throw new StoreError('precondition-failed', `${what}: the source changed during the copy`, { status: 412 });
      return await this.completeMultipartUpload(to, uploadId, parts);
    } catch (err) {
      await this.abortMultipartUpload(to, uploadId).catch(() => undefined);
      throw err;
    }
  }

  private async copyPartAttempt(
    from: { readonly key: string; readonly etag: string },
    to: string,
    uploadId: string,
    partNumber: number,
    start: number,
    end: number,
    attempt: Attempt,
    what: string,
  ): Promise<string> {
    const range = `bytes=${start}-${end - 1}`;
    let etag: string | undefined;
    if (this.lean) {
      const answer = await this.leanWrite(
        this.lean,
        'COPY',
        {
          method: 'PUT',
          key: to,
          query: { partNumber: String(partNumber), uploadId },
          headers: { 'x-amz-copy-source': this.copySource(from.key), ...copyIfMatch(from.etag), 'x-amz-copy-source-range': range },
        },
        undefined,
        attempt,
        what,
      );
      etag = xmlAnswer(answer.body, 'CopyPartResult', ['ETag'], what).ETag;
    } else {
      const { client, sdk } = await this.sdk();
      const cmd = new sdk.UploadPartCopyCommand({
        Bucket: this.bucket,
        Key: to,
        UploadId: uploadId,
        PartNumber: partNumber,
        CopySource: this.copySource(from.key),
        CopySourceIfMatch: from.etag,
        CopySourceRange: range,
      });
      withHeaders(cmd, copyIfMatch(from.etag));
      const res = await client.send(cmd, { abortSignal: attempt.signal });
      this.observe('COPY', res.$metadata.httpStatusCode);
      etag = res.CopyPartResult?.ETag;
    }
    if (!etag) throw new StoreError('invalid-response', `${what}: the answer carries no ETag`, { transient: true });
    return quoted(etag);
  }

  /**
   * One write request on the lean path; resolves with the answer (its body collected, at most
   * MAX_WRITE_ANSWER bytes). Bounded by progress (ProgressWatch) once the body goes out or the
   * answer starts.
   */
  private async leanWrite(lean: LeanS3, op: string, req: LeanRequest, call: StoreCall | undefined, attempt: Attempt, what: string): Promise<WriteAnswer> {
    let answer: { status: number; headers: ResponseHeaders } | undefined;
    const parts: Buffer[] = [];
    let size = 0;
    const watch = new ProgressWatch(attempt, call, what);
    const progress = watch.tick;
    try {
      await lean.exchange(
        req,
        {
          onBodySent: progress,
          onHeaders: (status, headers) => {
            progress();
            this.observe(op, status);
            answer = { status, headers };
          },
          onData: (chunk) => {
            progress();
            size += chunk.length;
            if (size > MAX_WRITE_ANSWER) throw new StoreError('invalid-response', `${what}: the answer is longer than ${MAX_WRITE_ANSWER} bytes`);
            parts.push(chunk);
          },
        },
        watch.signal,
      );
    } finally {
      watch.dispose();
    }
    if (!answer) throw new StoreError('invalid-response', `${what}: no answer`, { transient: true });
    return { ...answer, body: Buffer.concat(parts, size) };
  }

  /** `x-amz-copy-source`: the bucket and the key, escaped (a key may hold any character). */
  private copySource(key: string): string {
    return `/${escapeUri(this.bucket)}/${key.split('/').map(escapeUri).join('/')}`;
  }

  /** The encryption headers of a PUT, a create or a copy (never of a part). */
  private sseHeaders(): Record<string, string> {
    const sse = this.sse;
    if (!sse) return {};
    return {
      'x-amz-server-side-encryption': sse.mode,
      ...(sse.mode === 'aws:kms' && sse.kmsKeyId !== undefined ? { 'x-amz-server-side-encryption-aws-kms-key-id': sse.kmsKeyId } : {}),
    };
  }

  /** sseHeaders as the SDK's command fields. */
  private sseFields(): { ServerSideEncryption?: 'AES256' | 'aws:kms'; SSEKMSKeyId?: string } {
    const sse = this.sse;
    if (!sse) return {};
    return { ServerSideEncryption: sse.mode, ...(sse.mode === 'aws:kms' && sse.kmsKeyId !== undefined ? { SSEKMSKeyId: sse.kmsKeyId } : {}) };
  }

  /** With KMS, S3's ETags are not the MD5 of the bytes. */
  private get opaqueEtags(): boolean {
    return this.sse?.mode === 'aws:kms';
  }

  destroy(): void {
    void this.sdkClient?.then(({ client }) => client.destroy()).catch(() => undefined);
    this.lean?.destroy();
  }

  /** What every store call does on a refused key and on each failed attempt. */
  private hooks(op: string): RunHooks {
    return {
      refreshCredentials: () =>
        this.onAccessDenied().catch((err: unknown) => {
          // Answer as refused (no retry with keys that could not be read), but say why.
          try {
            this.onCredentialError?.(err);
          } catch {
            // A failing log sink must not turn a refusal into something else.
          }
          return false;
        }),
      onFailure: (e) => {
        this.observeError(op, e);
        if (e.kind !== 'not-found') this.counters.s3Errors++;
      },
    };
  }

  private observe(op: string, status: number | undefined): void {
    this.observer?.request(op, String(status ?? 'unknown'));
  }

  private observeError(op: string, e: StoreError): void {
    this.observer?.request(op, e.status !== undefined ? String(e.status) : e.kind);
  }
}

/**
 * The answer to a ranged GET, checked against the range asked; a wrong one (a 200 with the whole
 * object, another range) is refused with its body destroyed unread: not one byte of it is used,
 * and the same server or proxy would answer the same, so it is not retried.
 */
function acceptedRange(
  asked: AskedRange,
  res: { $metadata: { httpStatusCode?: number }; ContentRange?: string; ContentLength?: number },
  body: Readable | undefined,
  what: string,
): { length: number; total?: number } {
  try {
    return rangeVerdict(
      asked,
      {
        ...statusOf(res),
        ...(res.ContentRange !== undefined ? { contentRange: res.ContentRange } : {}),
        ...(res.ContentLength !== undefined ? { contentLength: res.ContentLength } : {}),
      },
      what,
    );
  } catch (err) {
    body?.destroy();
    throw err;
  }
}

/** checkRangeAnswer, a refusal thrown as the StoreError both paths answer with (the lean path drops the body by aborting). */
function rangeVerdict(asked: AskedRange, answer: RangeAnswer, what: string): { length: number; total?: number } {
  const verdict = checkRangeAnswer(asked, answer);
  if (verdict.ok) return verdict;
  throw new StoreError('invalid-response', `${what}: ${verdict.reason}`, answer.status !== undefined ? { status: answer.status } : {});
}

/** What the range check needs from a lean answer's headers. */
function rangeAnswer(status: number, h: ResponseHeaders): RangeAnswer {
  const range = h['content-range'];
  const length = h['content-length'];
  return { status, ...(range !== undefined ? { contentRange: range } : {}), ...(length !== undefined ? { contentLength: Number(length) } : {}) };
}

/**
 * The bound of a write attempt once it makes progress. An upload of a big part over a slow link
 * may take longer than an attempt's deadline, and what must be bounded is a stall: from the
 * first tick on, the attempt's own timer stops (headersReceived is the way to stop it) and this
 * one, of the same length and refreshed by each tick, bounds each wait instead: for the socket
 * to take more of the body, for the answer after it, for the next bytes of an answer (S3 keeps
 * a long Complete's or copy's connection open with spaces). Each tick also moves the call's
 * deadline (progress). `signal` is the one to send with: the attempt's, or this bound's.
 */
class ProgressWatch {
  private readonly stop = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private stalled: StoreError | undefined;

  constructor(
    private readonly attempt: Attempt,
    private readonly call: StoreCall | undefined,
    private readonly what: string,
  ) {
    if (attempt.signal.aborted) this.onAttemptAbort();
    else attempt.signal.addEventListener('abort', this.onAttemptAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.stop.signal;
  }

  readonly tick = (): void => {
    if (this.timer) {
      this.timer.refresh();
    } else {
      this.attempt.headersReceived();
      const ms = this.attempt.timeoutMs;
      this.timer = setTimeout(() => {
        this.stalled = new StoreError('timeout', `${this.what}: no progress for ${ms} ms`);
        this.stop.abort(this.stalled);
      }, ms);
    }
    this.call?.progress();
  };

  /**
   * What a request sent with `signal` failed of: the stall when this bound ended it (the SDK
   * reports any abort as a bare AbortError, which would read as the caller's).
   */
  cause(err: unknown): unknown {
    return this.stalled !== undefined && !this.attempt.abortedByCaller ? this.stalled : err;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.attempt.signal.removeEventListener('abort', this.onAttemptAbort);
  }

  private readonly onAttemptAbort = (): void => this.stop.abort(this.attempt.signal.reason);
}

/** Slices of a long body, so that its progress shows (see LeanS3's BODY_SLICE). */
const SDK_BODY_SLICE = 1024 * 1024;

/**
 * A body for the SDK: a short one as it is; a long one as a stream of views (no copy) that
 * ticks `watch` as the request takes each slice, one at a time (the SDK reports no progress
 * of its own, and a Buffer is written in one go).
 */
function sdkBody(body: Buffer, watch: ProgressWatch): Buffer | Readable {
  if (body.length <= SDK_BODY_SLICE) return body;
  function* slices(): Generator<Buffer> {
    for (let at = 0; at < body.length; at += SDK_BODY_SLICE) {
      watch.tick();
      yield body.subarray(at, Math.min(body.length, at + SDK_BODY_SLICE));
    }
  }
  return Readable.from(slices(), { objectMode: false, highWaterMark: 1 });
}

/**
 * The condition of a copy, under both names: AWS's (`x-amz-copy-source-if-match`, MinIO too)
 * and the one Ceph RGW reads (`x-amz-copy-if-match`; RGW 16 ignores AWS's name and would copy
 * another version). Each server ignores the name it does not know.
 */
function copyIfMatch(etag: string): Record<string, string> {
  return { 'x-amz-copy-source-if-match': etag, 'x-amz-copy-if-match': etag };
}

/** An ETag as ObjectInfo keeps it, quotes included (RGW's XML answers leave them out). */
function quoted(etag: string): string {
  return etag.startsWith('"') ? etag : `"${etag}"`;
}

/** The server's Date (of a write's answer) in ms; now when absent or unreadable. */
function dateOf(h: ResponseHeaders): number {
  return timeOr(h.date, () => Date.now());
}

/** `text` as a time in ms, or `fallback()` when it is absent or unreadable. */
function timeOr(text: string | undefined, fallback: () => number): number {
  const t = text === undefined ? NaN : Date.parse(text);
  return Number.isNaN(t) ? fallback() : t;
}

/**
 * The fields `names` of an XML answer to a multipart or copy call, whose root must be `root`.
 * S3 may answer 200 and then an <Error> (Complete and Copy do, after keeping the connection
 * open): a server error, worth a retry; a document of another kind: invalid-response.
 */
function xmlAnswer(body: Buffer, root: string, names: readonly string[], what: string): Readonly<Record<string, string>> {
  const answer = readUploadAnswer(body.toString('utf8'), root, names);
  if (answer.ok) return answer.fields;
  if (answer.code === '') throw new StoreError('invalid-response', `${what}: not the answer expected: ${answer.message}`, { transient: true });
  throw new StoreError('server', `${what}: the server failed after answering 200: ${answer.code}${answer.message ? `: ${answer.message}` : ''}`, {
    s3Code: answer.code,
    transient: true,
  });
}

/**
 * The server's Date of the command's answer (the SDK's output does not carry it), read from
 * the raw response; now when there was none. Call the result after the command succeeded.
 */
function answerDate<I extends object, O extends object>(cmd: { readonly middlewareStack: MiddlewareStack<I, O> }): () => number {
  let date: string | undefined;
  const middleware: DeserializeMiddleware<I, O> = (next) => async (args) => {
    const out = await next(args);
    const headers = (out.response as { headers?: Record<string, string> } | undefined)?.headers;
    date = headers?.date ?? headers?.Date;
    return out;
  };
  cmd.middlewareStack.add(middleware, { step: 'deserialize', name: 'fluidAnswerDate' });
  return () => timeOr(date, () => Date.now());
}

/** Adds `headers` to the request (signed with it): headers the SDK has no field for. */
function withHeaders<I extends object, O extends object>(
  cmd: { readonly middlewareStack: MiddlewareStack<I, O> },
  headers: Readonly<Record<string, string>>,
): void {
  const middleware: BuildMiddleware<I, O> = (next) => (args) => {
    const request = args.request as { headers?: Record<string, string> };
    if (request.headers) Object.assign(request.headers, headers);
    return next(args);
  };
  cmd.middlewareStack.add(middleware, { step: 'build', name: 'fluidExtraHeaders' });
}

/** Adds the Content-MD5 of the serialized body (an XML document), which the SDK has no field for. */
function withContentMd5<I extends object, O extends object>(cmd: { readonly middlewareStack: MiddlewareStack<I, O> }): void {
  const middleware: BuildMiddleware<I, O> = (next) => (args) => {
    const request = args.request as { body?: unknown; headers?: Record<string, string> };
    const body = request.body;
    if (request.headers && (typeof body === 'string' || body instanceof Uint8Array))
      request.headers['content-md5'] = md5Now(Buffer.from(body)).toString('base64');
    return next(args);
  };
  cmd.middlewareStack.add(middleware, { step: 'build', name: 'fluidContentMd5' });
}

/** Last-Modified in ms; 0 when absent or unreadable (as the SDK path answers without one). */
function mtimeOf(h: ResponseHeaders): number {
  const t = h['last-modified'] === undefined ? NaN : Date.parse(h['last-modified']);
  return Number.isNaN(t) ? 0 : t;
}

function statusOf(res: { $metadata: { httpStatusCode?: number } }): { status?: number } {
  return res.$metadata.httpStatusCode !== undefined ? { status: res.$metadata.httpStatusCode } : {};
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

/** A response body that failed after the headers: worth a resume (or a new attempt). */
function bodyBroke(what: string, err: unknown, afterBytes?: number): StoreError {
  const reason = err instanceof Error ? err.message : String(err);
  return new StoreError('invalid-response', `${what}: the answer broke${afterBytes !== undefined ? ` after ${afterBytes} bytes` : ''}: ${reason}`, {
    cause: err,
    transient: true,
  });
}
