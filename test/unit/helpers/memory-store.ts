/**
 * An in-memory ObjectStore for unit tests of one module (namespace, read path) and of the
 * Filesystem. It follows S3's listing rules (sorted keys, delimiter → common prefixes, pages)
 * and the store contract for ranged GETs (If-Match; an object changed or deleted since it was
 * opened → 'precondition-failed'), and counts requests so tests can assert how many were made.
 * Listing is a binary search in sorted keys, so stores of a million keys stay fast.
 * Integration tests use a real S3 server.
 */
import { createHash } from 'node:crypto';
import type { ListPage, ListRequest, ObjectInfo, ObjectStore, RangeRequest } from '../../../src/store/object-store.js';
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
  readonly calls = { head: 0, list: 0, get: 0, getBytes: 0 };
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

  async probe(): Promise<void> {}
  destroy(): void {}

  private sortedKeys(): string[] {
    if (this.sorted === undefined || this.sorted.length !== this.objects.size) this.sorted = [...this.objects.keys()].sort();
    return this.sorted;
  }
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
