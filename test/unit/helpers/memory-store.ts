/**
 * An in-memory ObjectStore for unit tests of one module (namespace, read path). It follows S3's
 * listing rules (sorted keys, delimiter → common prefixes, pages) and If-Match, and counts
 * requests so tests can assert how many were made. Integration tests use a real S3 server.
 */
import { createHash } from 'node:crypto';
import type { ListPage, ListRequest, ObjectInfo, ObjectStore, RangeRequest } from '../../../src/store/object-store.js';
import { StoreError } from '../../../src/store/errors.js';

export class MemoryStore implements ObjectStore {
  readonly label = 's3://memory';
  readonly objects = new Map<string, { data: Buffer; etag: string; mtimeMs: number }>();
  readonly calls = { head: 0, list: 0, get: 0, getBytes: 0 };
  /** Chunk size of streamed bodies. */
  chunkSize = 64 * 1024;
  /** Pause before each chunk of a body, to make downloads take time (ms). */
  chunkDelayMs = 0;
  /** When set, the next GETs fail with this error (then it is cleared). */
  failNextGet: StoreError | undefined;

  put(key: string, data: Buffer | string, mtimeMs = 1_700_000_000_000): void {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
    this.objects.set(key, { data: buf, etag: `"${createHash('md5').update(buf).digest('hex')}"`, mtimeMs });
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    this.calls.head++;
    const o = this.objects.get(key);
    return o ? { key, size: o.data.length, etag: o.etag, mtimeMs: o.mtimeMs } : undefined;
  }

  async peek(key: string, bytes: number): Promise<{ info: ObjectInfo; data: Buffer } | undefined> {
    this.calls.get++;
    const o = this.objects.get(key);
    if (!o) return undefined;
    const data = Buffer.from(o.data.subarray(0, bytes));
    this.calls.getBytes += data.length;
    return { info: { key, size: o.data.length, etag: o.etag, mtimeMs: o.mtimeMs }, data };
  }

  async list(req: ListRequest): Promise<ListPage> {
    this.calls.list++;
    const max = req.maxKeys ?? 1000;
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(req.prefix)).sort();
    const rows: { sortKey: string; obj?: ObjectInfo; prefix?: string }[] = [];
    const seen = new Set<string>();
    for (const key of keys) {
      const rest = key.slice(req.prefix.length);
      const cut = req.delimiter ? rest.indexOf(req.delimiter) : -1;
      if (cut >= 0) {
        const p = req.prefix + rest.slice(0, cut + 1);
        if (!seen.has(p)) {
          seen.add(p);
          rows.push({ sortKey: p, prefix: p });
        }
      } else {
        const o = this.objects.get(key)!;
        rows.push({ sortKey: key, obj: { key, size: o.data.length, etag: o.etag, mtimeMs: o.mtimeMs } });
      }
    }
    const start = req.continuationToken ? Number(req.continuationToken) : 0;
    const page = rows.slice(start, start + max);
    return {
      objects: page.flatMap((r) => (r.obj ? [r.obj] : [])),
      prefixes: page.flatMap((r) => (r.prefix ? [r.prefix] : [])),
      ...(start + max < rows.length ? { nextToken: String(start + max) } : {}),
    };
  }

  async readRange(req: RangeRequest, onChunk: (chunk: Buffer) => void): Promise<void> {
    this.calls.get++;
    if (this.failNextGet) {
      const e = this.failNextGet;
      this.failNextGet = undefined;
      throw e;
    }
    const o = this.objects.get(req.key);
    if (!o) throw new StoreError('not-found', `GET ${req.key}: not found`);
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
}

/** Bytes whose value at offset i is predictable ("ramp"), so any misplaced byte shows. */
export function ramp(size: number, seed = 7): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed + (i >>> 8)) & 0xff;
  return b;
}
