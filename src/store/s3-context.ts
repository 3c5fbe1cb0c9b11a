/**
 * What the S3 calls share, handed by S3Store (s3-store.ts) to the modules that make them
 * (s3-reads.ts, s3-ranged-get.ts, s3-writes.ts, s3-copy.ts): where to send a request (the lean
 * path or the SDK), the retry loop to run it in, and where to count and report it. One object,
 * built once per store; the modules keep no state of their own.
 */
import type { LeanS3 } from './lean-s3.js';
import type { RetryPolicy, RunHooks } from './retry-policy.js';
import type { SdkClient } from './sdk-client.js';
import type { Sse } from './server-side-encryption.js';
import type { Counters } from '../observe/counters.js';

export interface S3Context {
  /** `s3://bucket`, the start of every call's description in errors and logs. */
  readonly label: string;
  readonly bucket: string;
  /** The lean data path (lean-s3.ts); undefined: the SDK serves every call. */
  readonly lean: LeanS3 | undefined;
  /** The one retry loop around every store call (retry-policy.ts). */
  readonly policy: RetryPolicy;
  /** A GET body that delivers no byte for this long is abandoned and resumed. */
  readonly bodyIdleTimeoutMs: number;
  readonly counters: Counters;
  /** Server-side encryption asked on every PUT, create and copy; undefined: the bucket's default. */
  readonly sse: Sse | undefined;
  /** Objects above this are copied in parts (UploadPartCopy), of copyPartBytes each at least. */
  readonly copyThresholdBytes: number;
  readonly copyPartBytes: number;
  /** The SDK's client, loaded on first use (sdk-client.ts). */
  sdk(): Promise<SdkClient>;
  /** Tells the observer the status of one request of `op` (for metrics). */
  observe(op: string, status: number | undefined): void;
  /** What every store call of `op` does on a refused key and on each failed attempt. */
  hooks(op: string): RunHooks;
}
