/**
 * What went wrong talking to object storage, reduced to the kinds the filesystem must tell apart.
 * Each kind has a stable code and an errno in the catalogue (src/error-catalogue.ts); fs/errno.ts
 * applies the errno, this file knows nothing of FUSE.
 */
import { AgentError } from '../agent-error.js';
import { STORE_ERRORS } from '../error-catalogue.js';

export type StoreErrorKind =
  | 'not-found'
  | 'no-such-bucket'
  | 'access-denied'
  | 'precondition-failed'
  | 'throttled'
  | 'server'
  | 'unreachable'
  | 'timeout'
  | 'aborted'
  | 'invalid-response'
  | 'other';

export class StoreError extends AgentError {
  override readonly name = 'StoreError';
  readonly kind: StoreErrorKind;
  /** HTTP status when the server answered. */
  readonly status?: number;
  /** S3 error code (e.g. `NoSuchBucket`) when the server sent one. */
  readonly s3Code?: string;
  /** Set when the kind alone does not say whether a retry may help (a body cut short may). */
  private readonly transientOverride?: boolean;

  constructor(kind: StoreErrorKind, message: string, opts: { status?: number; s3Code?: string; cause?: unknown; transient?: boolean } = {}) {
    super(STORE_ERRORS[kind].code, message, { cause: opts.cause });
    this.kind = kind;
    if (opts.status !== undefined) this.status = opts.status;
    if (opts.s3Code !== undefined) this.s3Code = opts.s3Code;
    if (opts.transient !== undefined) this.transientOverride = opts.transient;
  }

  /** Worth another attempt: the same request may well succeed. */
  get transient(): boolean {
    if (this.transientOverride !== undefined) return this.transientOverride;
    return this.kind === 'throttled' || this.kind === 'server' || this.kind === 'unreachable' || this.kind === 'timeout';
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);

/** OpenSSL's verification failures as Node reports them (SELF_SIGNED_CERT_IN_CHAIN, …). */
const TLS_CODES = /^(ERR_TLS_CERT_ALTNAME_INVALID|.*CERT.*|UNABLE_TO_(VERIFY|GET_ISSUER).*|SELF_SIGNED.*)$/;

interface SdkLikeError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

/**
 * What the SDK reports when the answer had no parseable error body (every HEAD error, and any
 * 4xx/5xx from a proxy with an empty body): meaningless to a user, who must see the status.
 */
const NO_DETAIL = new Set(['Unknown', 'UnknownError', 'Error', '']);

/** A code or message worth showing: not a placeholder, not the bare status number. */
function meaningful(s: string | undefined): string | undefined {
  if (s === undefined || NO_DETAIL.has(s) || /^\d{3}$/.test(s)) return undefined;
  return s;
}

/** Classify anything the SDK or a body stream threw. Idempotent on StoreError. */
export function toStoreError(err: unknown, what: string): StoreError {
  if (err instanceof StoreError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkLikeError;
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  const named = e.Code ?? e.name ?? e.code;
  const code = meaningful(named === 'Error' ? e.code : named);
  const base = { cause: err, ...(status !== undefined ? { status } : {}), ...(code !== undefined ? { s3Code: code } : {}) };
  // Always the HTTP status when there was one, so "HTTP 403" shows even for an empty answer.
  const msg = (kindText: string): string => `${what}: ${kindText}${status ? ` (HTTP ${status}${code ? ` ${code}` : ''})` : code ? ` (${code})` : ''}`;

  if (e.name === 'AbortError' || code === 'ABORT_ERR') return new StoreError('aborted', msg('aborted'), base);
  if (code === 'NoSuchBucket') return new StoreError('no-such-bucket', msg('bucket does not exist'), base);
  if (code === 'NoSuchKey' || code === 'NotFound' || status === 404) return new StoreError('not-found', msg('not found'), base);
  if (code === 'PreconditionFailed' || status === 412) return new StoreError('precondition-failed', msg('object changed since it was opened'), base);
  if (code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch' || code === 'AccessDenied' || status === 403)
    return new StoreError('access-denied', msg('access denied'), base);
  if (code === 'SlowDown' || code === 'ThrottlingException' || status === 429 || status === 503)
    return new StoreError('throttled', msg('server asks to slow down'), base);
  if (status !== undefined && status >= 500) return new StoreError('server', msg('server error'), base);
  // UND_ERR_CONNECT_TIMEOUT: undici (the lean path) could not open a connection in time.
  if (code === 'TimeoutError' || code === 'RequestTimeout' || e.code === 'ETIMEDOUT' || e.code === 'UND_ERR_CONNECT_TIMEOUT')
    return new StoreError('timeout', msg('timed out'), base);
  // The server's certificate is not trusted: no retry will change that, the CA must be given.
  if (e.code && TLS_CODES.test(e.code))
    return new StoreError(
      'other',
      `${what}: the server's TLS certificate is not trusted: ${e.message ?? e.code} (${e.code}); give its CA with the ca-file option or AWS_CA_BUNDLE`,
      base,
    );
  if ((e.code && NETWORK_CODES.has(e.code)) || (code && NETWORK_CODES.has(code)))
    return new StoreError('unreachable', msg(`cannot reach the server: ${e.message ?? code}`), base);
  const text = meaningful(e.message) ?? (err instanceof Error ? undefined : meaningful(String(err)));
  if (status !== undefined) {
    const detail = [code, text !== code ? text : undefined].filter((x) => x !== undefined).join(': ');
    return new StoreError('other', `${what}: HTTP ${status}${detail ? ` ${detail}` : ''}`, base);
  }
  return new StoreError('other', `${what}: ${text ?? code ?? 'failed'}`, base);
}
