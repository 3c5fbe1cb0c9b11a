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

/** What S3 answered to a write that created an object. */
export interface WrittenObject {
  /** Entity tag as the server sent it (quotes included). */
  readonly etag: string;
  /** The server's time of the write (its Date header), so a later listing agrees closely. */
  readonly mtimeMs: number;
}

/** One uploaded part of a multipart upload, as CompleteMultipartUpload lists it. */
export interface UploadedPart {
  /** 1 to 10,000. */
  readonly partNumber: number;
  readonly etag: string;
}

/**
 * S3's limits on uploads (the AWS documentation's numbers; RGW and MinIO keep them): every part
 * but the last at least MIN_PART_BYTES, at most MAX_PART_BYTES and MAX_PARTS parts, at most
 * MAX_OBJECT_BYTES in all, and a single PUT or copy of at most MAX_PART_BYTES.
 */
export const UPLOAD_LIMITS = {
  MIN_PART_BYTES: 5 * 1024 * 1024,
  MAX_PART_BYTES: 5 * 1024 * 1024 * 1024,
  MAX_PARTS: 10_000,
  MAX_OBJECT_BYTES: 5 * 1024 ** 4,
} as const;

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
  /**
   * Writes (read-write mounts only). Each body is sent with its Content-MD5, and with the
   * mount's server-side encryption settings where S3 takes them (PUT, create, copy). A call is
   * retried where that is safe (all of these are: the same bytes to the same key or part).
   */
  putObject(key: string, body: Buffer, signal?: AbortSignal): Promise<WrittenObject>;
  /** Starts a multipart upload; resolves with its upload id. */
  createMultipartUpload(key: string, signal?: AbortSignal): Promise<string>;
  /** Resolves with the part's etag. */
  uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer, signal?: AbortSignal): Promise<string>;
  /** `parts` in ascending part order. */
  completeMultipartUpload(key: string, uploadId: string, parts: readonly UploadedPart[], signal?: AbortSignal): Promise<WrittenObject>;
  /** Frees the parts of an upload that will not be completed; an upload already gone is not an error. */
  abortMultipartUpload(key: string, uploadId: string): Promise<void>;
  /**
   * Server-side copy of the object `from` (of `size` bytes, this `etag`: a copy of another
   * version fails with 'precondition-failed') to `to`; objects over MAX_PART_BYTES are copied
   * part by part (UploadPartCopy).
   */
  copyObject(from: { readonly key: string; readonly etag: string; readonly size: number }, to: string): Promise<WrittenObject>;
  /** Deletes `key`; a key that does not exist is not an error (S3 answers 204 either way). */
  deleteObject(key: string): Promise<void>;
  /** Proves at start that the bucket exists and the credentials may list it. */
  probe(prefix: string): Promise<void>;
  destroy(): void;
}
