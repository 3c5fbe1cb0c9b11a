/**
 * ObjectStore on S3: the only module that talks S3 (through lean-s3.ts, or the AWS SDK: sdk-client.ts).
 * S3Store builds the transport and the shared plumbing (s3-context.ts: retry policy, hooks,
 * observer, the SDK client loaded on first use); each call is made by the module of its job:
 * s3-reads.ts (HEAD, first bytes, LIST), s3-ranged-get.ts (ranged GET), s3-writes.ts (PUT,
 * multipart upload, DELETE), s3-copy.ts (copy).
 *
 * Retries: one loop, RetryPolicy (retry-policy.ts, where the numbers are), around every store
 * call; the SDK's own retries are off. A ranged GET's body is neither retried nor timed out by
 * the SDK, so readRange does both itself: an idle timer per body, and a resume from the first
 * byte not yet delivered, always with If-Match so the resumed bytes belong to the same object
 * version; each resume is one attempt of the same budget.
 *
 * Writes (PUT, multipart, copy, delete) take the same loop, each body with its Content-MD5; an
 * upload is bounded by its progress rather than by one attempt's deadline (upload-progress.ts).
 */
import type { AwsCredentialIdentityProvider } from '@aws-sdk/types';
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
import type { StoreError } from './store-error.js';
import { LeanS3 } from './lean-s3.js';
import { loadSdkClient, type SdkClient, type SdkClientOptions } from './sdk-client.js';
import { type Env, createTransport } from './http-agents.js';
import { RetryPolicy, type RunHooks, bodyIdleTimeoutMs, retrySettings } from './retry-policy.js';
import type { Sse } from './server-side-encryption.js';
import type { S3Context } from './s3-context.js';
import * as reads from './s3-reads.js';
import { readRange } from './s3-ranged-get.js';
import * as writes from './s3-writes.js';
import { COPY_PART_BYTES, copyObject } from './s3-copy.js';
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
  readonly sse?: Sse;
  /**
   * For tests: objects larger than this are copied part by part (UploadPartCopy), in parts of
   * this size, so that the path can be tried on small objects. Default: one CopyObject up to
   * UPLOAD_LIMITS.MAX_PART_BYTES (S3's limit), parts of 512 MiB above.
   */
  readonly copyPartBytes?: number;
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
  private readonly counters: Counters;
  private readonly observer: RequestObserver | undefined;
  private readonly onAccessDenied: () => Promise<boolean>;
  private readonly onCredentialError: ((err: unknown) => void) | undefined;
  /** What the modules that make the calls share (s3-context.ts). */
  private readonly s3: S3Context;

  constructor(opts: S3StoreOptions) {
    this.observer = opts.observer;
    this.onAccessDenied = opts.onAccessDenied ?? (() => Promise.resolve(false));
    this.onCredentialError = opts.onCredentialError;
    this.counters = opts.counters ?? createCounters();
    this.label = `s3://${opts.bucket}`;
    const policy = new RetryPolicy(
      retrySettings(opts.requestTimeoutMs, {
        ...(opts.maxAttempts !== undefined ? { maxAttempts: opts.maxAttempts } : {}),
        ...(opts.random !== undefined ? { random: opts.random } : {}),
      }),
    );
    const transport = createTransport({
      bucket: opts.bucket,
      ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
      region: opts.region,
      pathStyle: opts.pathStyle,
      ...(opts.caBundle !== undefined ? { caBundle: opts.caBundle } : {}),
      ...(opts.maxSockets !== undefined ? { maxSockets: opts.maxSockets } : {}),
      ...(opts.env !== undefined ? { env: opts.env } : {}),
    });
    const connectTimeoutMs = Math.min(5000, policy.settings.attemptTimeoutMs);
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
    this.s3 = {
      label: this.label,
      bucket: opts.bucket,
      lean: this.lean,
      policy,
      bodyIdleTimeoutMs: opts.bodyIdleTimeoutMs ?? bodyIdleTimeoutMs(opts.requestTimeoutMs),
      counters: this.counters,
      sse: opts.sse,
      copyThresholdBytes: opts.copyPartBytes ?? UPLOAD_LIMITS.MAX_PART_BYTES,
      copyPartBytes: opts.copyPartBytes ?? COPY_PART_BYTES,
      sdk: () => this.sdk(),
      observe: (op, status) => this.observe(op, status),
      hooks: (op) => this.hooks(op),
    };
    // A store that will use the SDK starts loading it now, not inside its first call's deadline.
    if (!this.lean) void this.sdk().catch(() => undefined);
  }

  private sdk(): Promise<SdkClient> {
    return (this.sdkClient ??= loadSdkClient(this.sdkOptions));
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return reads.head(this.s3, key);
  }

  getFirstBytes(key: string, bytes: number): Promise<{ info: ObjectInfo; data: Buffer } | undefined> {
    return reads.getFirstBytes(this.s3, key, bytes);
  }

  list(req: ListRequest): Promise<ListPage> {
    return reads.list(this.s3, req);
  }

  async probe(prefix: string): Promise<void> {
    await this.list({ prefix, maxKeys: 1 });
  }

  readRange(req: RangeRequest, onChunk: (chunk: Buffer) => void): Promise<void> {
    return readRange(this.s3, req, onChunk);
  }

  putObject(key: string, body: Buffer, signal?: AbortSignal): Promise<WrittenObject> {
    return writes.putObject(this.s3, key, body, signal);
  }

  createMultipartUpload(key: string, signal?: AbortSignal): Promise<string> {
    return writes.createMultipartUpload(this.s3, key, signal);
  }

  uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer, signal?: AbortSignal): Promise<string> {
    return writes.uploadPart(this.s3, key, uploadId, partNumber, body, signal);
  }

  completeMultipartUpload(key: string, uploadId: string, parts: readonly UploadedPart[], signal?: AbortSignal): Promise<WrittenObject> {
    return writes.completeMultipartUpload(this.s3, key, uploadId, parts, signal);
  }

  abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    return writes.abortMultipartUpload(this.s3, key, uploadId);
  }

  deleteObject(key: string): Promise<void> {
    return writes.deleteObject(this.s3, key);
  }

  copyObject(from: { readonly key: string; readonly etag: string; readonly size: number }, to: string): Promise<WrittenObject> {
    return copyObject(this.s3, from, to);
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
