/**
 * The one interface through which the filesystem talks to object storage.
 *
 * Everything above this layer speaks in keys relative to the bucket; the implementation owns the
 * protocol (signing, retries of idempotent requests, timeouts, response bodies). Keeping the
 * surface this small lets the namespace and the read path be unit-tested against an in-memory
 * store, while integration tests run the S3 implementation against a real server.
 */

export interface ObjectInfo {
  /** Full key in the bucket. */
  readonly key: string;
  readonly size: number;
  /** Entity tag as the server sent it (quotes included); used for If-Match. */
  readonly etag: string;
  /** S3's LastModified; never "now", so the kernel's page cache stays valid across opens. */
  readonly mtimeMs: number;
}

export interface ListPage {
  /** Objects directly under the prefix (keys contain no delimiter after the prefix). */
  readonly objects: readonly ObjectInfo[];
  /** Common prefixes, each ending in the delimiter. */
  readonly prefixes: readonly string[];
  /** Present when there are more pages. */
  readonly nextToken?: string;
}

export interface ListRequest {
  readonly prefix: string;
  /** `/` for a directory listing; undefined for a flat listing. */
  readonly delimiter?: string;
  readonly continuationToken?: string;
  readonly maxKeys?: number;
}

export interface RangeRequest {
  readonly key: string;
  /** First byte, inclusive. */
  readonly start: number;
  /** Last byte, exclusive. */
  readonly end: number;
  /** The request fails with `precondition-failed` when the object no longer has this etag. */
  readonly etag: string;
  readonly signal?: AbortSignal;
}

export interface ObjectStore {
  /** A short label for logs, e.g. `s3://bucket`. */
  readonly label: string;
  /** undefined when there is no such object. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /**
   * Like `head`, but also returns the object's first `bytes` bytes, in the same round trip (a
   * ranged GET answers with the size and etag too). undefined when there is no such object.
   */
  getFirstBytes(key: string, bytes: number): Promise<{ info: ObjectInfo; data: Buffer } | undefined>;
  list(req: ListRequest): Promise<ListPage>;
  /**
   * Streams bytes [start, end) of the object to `onChunk`, in order, each byte exactly once,
   * resuming after broken connections. Resolves when every byte was delivered.
   */
  readRange(req: RangeRequest, onChunk: (chunk: Buffer) => void): Promise<void>;
  /** Proves at start that the bucket exists and the credentials may list it. */
  probe(prefix: string): Promise<void>;
  destroy(): void;
}
