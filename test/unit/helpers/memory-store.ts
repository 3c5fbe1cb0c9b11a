/**
 * An in-memory ObjectStore for unit tests of one module (namespace, read path) and of the
 * Filesystem. It follows S3's listing rules (sorted keys, delimiter → common prefixes, pages)
 * and the store contract for ranged GETs (If-Match; an object changed or deleted since it was
 * opened → 'precondition-failed'), and counts requests so tests can assert how many were made.
 * Listing is a binary search in sorted keys, so stores of a million keys stay fast.
 * Writes follow S3's multipart rules (every part but the last at least `minPartBytes`, parts
 * listed in order with their etags, a completed or aborted upload gone), and uploads not yet
 * completed or aborted stay in `uploads`, so a test can see orphaned parts.
 * Integration tests use a real S3 server.
 */
import { createHash } from 'node:crypto';
import {
  type ListPage,
  type ListRequest,
  type ObjectInfo,
  type ObjectStore,
  type RangeRequest,
  type UploadedPart,
  UPLOAD_LIMITS,
  type WrittenObject,
} from '../../../src/store/object-store.js';
import { StoreError } from '../../../src/store/store-error.js';

interface Stored {
  readonly data: Buffer;
  readonly etag: string;
  readonly mtimeMs: number;
}

/** Etags of buffers already hashed: many keys may share one buffer (large synthetic stores). */
const etags = new WeakMap<Buffer, string>();

export class MemoryStore implements ObjectStore {
  readonly label = 's3://memory';
  readonly objects = new Map<string, Stored>();
  readonly calls = { head: 0, list: 0, get: 0, getBytes: 0, put: 0, create: 0, part: 0, complete: 0, abort: 0, copy: 0, delete: 0 };
  /** Multipart uploads started and neither completed nor aborted, by upload id. */
  readonly uploads = new Map<string, { readonly key: string; readonly parts: Map<number, { data: Buffer; etag: string }> }>();
  /** S3's minimum size of every part but the last (tests of small uploads may lower it). */
  minPartBytes: number = UPLOAD_LIMITS.MIN_PART_BYTES;
  /** The time writes are stamped with (ms). */
  now: () => number = () => Date.now();
  private nextUpload = 1;
  /** Chunk size of streamed bodies. */
  chunkSize = 64 * 1024;
  /** Pause before each chunk of a body, to make downloads take time (ms). */
  chunkDelayMs = 0;
  /** When set, the next GETs fail with this error (then it is cleared). */
  failNextGet: StoreError | undefined;
  /** Keys in order, rebuilt after a change. */
  private sorted: string[] | undefined;

  put(key: string, data: Buffer | string, mtimeMs = 1_700_000_000_000): void {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
    let etag = etags.get(buf);
    if (etag === undefined) {
      etag = `"${createHash('md5').update(buf).digest('hex')}"`;
      etags.set(buf, etag);
    }
    if (!this.objects.has(key)) this.sorted = undefined;
    this.objects.set(key, { data: buf, etag, mtimeMs });
  }

  delete(key: string): void {
    if (this.objects.delete(key)) this.sorted = undefined;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    this.calls.head++;
    const o = this.objects.get(key);
    return o ? { key, size: o.data.length, etag: o.etag, mtimeMs: o.mtimeMs } : undefined;
  }

  async getFirstBytes(key: string, bytes: number): Promise<{ info: ObjectInfo; data: Buffer } | undefined> {
    this.calls.get++;
    const o = this.objects.get(key);
    if (!o) return undefined;
    // A copy, as a real store's body is: fresh memory per call.
    const data = Buffer.from(o.data.subarray(0, bytes));
    this.calls.getBytes += data.length;
    return { info: { key, size: o.data.length, etag: o.etag, mtimeMs: o.mtimeMs }, data };
  }

  /**
   * The continuation token names the last row returned (`k:` an object key, `p:` a common
   * prefix), as S3's StartAfter would: the next page starts after it.
   */
  async list(req: ListRequest): Promise<ListPage> {
    this.calls.list++;
    const max = Math.max(1, req.maxKeys ?? 1000);
    const keys = this.sortedKeys();
    let i = lowerBound(keys, req.prefix);
    const token = req.continuationToken;
    if (token !== undefined) {
      const after = token.slice(2);
      i = Math.max(i, lowerBound(keys, after));
      if (token.startsWith('p:')) while (i < keys.length && (keys[i] as string).startsWith(after)) i++;
      else if (keys[i] === after) i++;
    }
    const objects: ObjectInfo[] = [];
    const prefixes: string[] = [];
    let last: string | undefined;
    for (; i < keys.length; i++) {
      const key = keys[i] as string;
      if (!key.startsWith(req.prefix)) break;
      if (objects.length + prefixes.length === max) {
        return { objects, prefixes, nextToken: last as string };
      }
      const rest = key.slice(req.prefix.length);
      const cut = req.delimiter ? rest.indexOf(req.delimiter) : -1;
      if (cut >= 0) {
        const p = req.prefix + rest.slice(0, cut + 1);
        prefixes.push(p);
        last = `p:${p}`;
        while (i + 1 < keys.length && (keys[i + 1] as string).startsWith(p)) i++;
      } else {
        const o = this.objects.get(key) as Stored;
        objects.push({ key, size: o.data.length, etag: o.etag, mtimeMs: o.mtimeMs });
        last = `k:${key}`;
      }
    }
    return { objects, prefixes };
  }

  async readRange(req: RangeRequest, onChunk: (chunk: Buffer) => void): Promise<void> {
    this.calls.get++;
    if (this.failNextGet) {
      const e = this.failNextGet;
      this.failNextGet = undefined;
      throw e;
    }
    const o = this.objects.get(req.key);
    // The store contract: a ranged GET is of the version a handle opened (If-Match), so a key
    // gone since is that version gone, not "no such file".
    if (!o) throw new StoreError('precondition-failed', `GET ${req.key}: deleted since it was opened`, { status: 404 });
    if (o.etag !== req.etag) throw new StoreError('precondition-failed', `GET ${req.key}: etag changed`);
    for (let p = req.start; p < req.end; p += this.chunkSize) {
      await (this.chunkDelayMs > 0 ? new Promise((r) => setTimeout(r, this.chunkDelayMs)) : Promise.resolve());
      if (req.signal?.aborted) throw new StoreError('aborted', 'aborted');
      const chunk = o.data.subarray(p, Math.min(req.end, p + this.chunkSize));
      this.calls.getBytes += chunk.length;
      onChunk(chunk);
    }
  }

  async putObject(key: string, body: Buffer): Promise<WrittenObject> {
    this.calls.put++;
    return this.written(key, Buffer.from(body));
  }

  async createMultipartUpload(key: string): Promise<string> {
    this.calls.create++;
    const id = `upload-${this.nextUpload++}`;
    this.uploads.set(id, { key, parts: new Map() });
    return id;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
    this.calls.part++;
    const upload = this.uploadOf(key, uploadId);
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > UPLOAD_LIMITS.MAX_PARTS) {
      throw new StoreError('other', `PUT ${key} part ${partNumber}: InvalidArgument`, { status: 400, s3Code: 'InvalidArgument' });
    }
    const data = Buffer.from(body);
    const etag = md5Etag(data);
    upload.parts.set(partNumber, { data, etag });
    return etag;
  }

  async completeMultipartUpload(key: string, uploadId: string, parts: readonly UploadedPart[]): Promise<WrittenObject> {
    this.calls.complete++;
    const upload = this.uploadOf(key, uploadId);
    const bodies: Buffer[] = [];
    const md5s: Buffer[] = [];
    for (const [i, p] of parts.entries()) {
      const stored = upload.parts.get(p.partNumber);
      if (!stored || stored.etag !== p.etag)
        throw new StoreError('other', `complete ${key}: InvalidPart ${p.partNumber}`, { status: 400, s3Code: 'InvalidPart' });
      if (i > 0 && p.partNumber <= (parts[i - 1] as UploadedPart).partNumber) {
        throw new StoreError('other', `complete ${key}: InvalidPartOrder`, { status: 400, s3Code: 'InvalidPartOrder' });
      }
      if (i < parts.length - 1 && stored.data.length < this.minPartBytes) {
        throw new StoreError('other', `complete ${key}: EntityTooSmall (part ${p.partNumber}: ${stored.data.length} bytes)`, {
          status: 400,
          s3Code: 'EntityTooSmall',
        });
      }
      bodies.push(stored.data);
      md5s.push(Buffer.from(stored.etag.slice(1, -1), 'hex'));
    }
    if (parts.length === 0) throw new StoreError('other', `complete ${key}: MalformedXML (no parts)`, { status: 400, s3Code: 'MalformedXML' });
    this.uploads.delete(uploadId);
    const etag = `"${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${parts.length}"`;
    return this.written(key, Buffer.concat(bodies), etag);
  }

  async abortMultipartUpload(_key: string, uploadId: string): Promise<void> {
    this.calls.abort++;
    this.uploads.delete(uploadId);
  }

  async copyObject(from: { key: string; etag: string; size: number }, to: string): Promise<WrittenObject> {
    this.calls.copy++;
    const o = this.objects.get(from.key);
    if (!o) throw new StoreError('not-found', `COPY ${from.key}: NoSuchKey`, { status: 404, s3Code: 'NoSuchKey' });
    if (o.etag !== from.etag) throw new StoreError('precondition-failed', `COPY ${from.key}: etag changed`, { status: 412 });
    return this.written(to, o.data, o.etag);
  }

  async deleteObject(key: string): Promise<void> {
    this.calls.delete++;
    this.delete(key);
  }

  async probe(): Promise<void> {}
  destroy(): void {}

  private written(key: string, data: Buffer, etag = md5Etag(data)): WrittenObject {
    const mtimeMs = this.now();
    if (!this.objects.has(key)) this.sorted = undefined;
    this.objects.set(key, { data, etag, mtimeMs });
    return { etag, mtimeMs };
  }

  private uploadOf(key: string, uploadId: string) {
    const upload = this.uploads.get(uploadId);
    if (!upload || upload.key !== key) throw new StoreError('not-found', `${key}: NoSuchUpload ${uploadId}`, { status: 404, s3Code: 'NoSuchUpload' });
    return upload;
  }

  private sortedKeys(): string[] {
    if (this.sorted === undefined || this.sorted.length !== this.objects.size) this.sorted = [...this.objects.keys()].sort();
    return this.sorted;
  }
}

function md5Etag(data: Buffer): string {
  return `"${createHash('md5').update(data).digest('hex')}"`;
}

/** Index of the first key >= `s`. */
function lowerBound(keys: readonly string[], s: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((keys[mid] as string) < s) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Bytes whose value at offset i is predictable ("ramp"), so any misplaced byte shows. */
export function ramp(size: number, seed = 7): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed + (i >>> 8)) & 0xff;
  return b;
}
