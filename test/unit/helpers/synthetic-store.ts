/**
 * A read-only ObjectStore of `count` objects `<folder>/f0000000`, `<folder>/f0000001`, … that
 * all have the same body, computed on demand: a folder of a million objects costs nothing to
 * hold, so a memory test measures the filesystem, not the store. Follows the same contract as
 * MemoryStore (sorted listings in pages, If-Match, fresh buffers for first bytes).
 */
import type { ListPage, ListRequest, ObjectInfo, ObjectStore, RangeRequest } from '../../../src/store/object-store.js';
import { StoreError } from '../../../src/store/store-error.js';
import { WithoutWrites } from './without-writes.js';

export class SyntheticFolderStore extends WithoutWrites implements ObjectStore {
  readonly label = 's3://synthetic';
  readonly calls = { head: 0, getFirstBytes: 0, list: 0, readRange: 0 };
  readonly etag = '"5e7e71c0000000000000000000000000"';
  readonly mtimeMs = 1_700_000_000_000;

  constructor(
    readonly folder: string,
    readonly count: number,
    readonly body: Buffer,
  ) {
    super();
  }

  name(i: number): string {
    return `${this.folder}/f${String(i).padStart(7, '0')}`;
  }

  private indexOf(key: string): number | undefined {
    const m = /\/f(\d{7})$/.exec(key);
    if (!m || key !== this.name(Number(m[1]))) return undefined;
    const i = Number(m[1]);
    return i < this.count ? i : undefined;
  }

  private info(key: string): ObjectInfo {
    return { key, size: this.body.length, etag: this.etag, mtimeMs: this.mtimeMs };
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    this.calls.head++;
    return this.indexOf(key) === undefined ? undefined : this.info(key);
  }

  async getFirstBytes(key: string, bytes: number): Promise<{ info: ObjectInfo; data: Buffer } | undefined> {
    this.calls.getFirstBytes++;
    if (this.indexOf(key) === undefined) return undefined;
    // Fresh memory per call, as a real store's body is.
    return { info: this.info(key), data: Buffer.from(this.body.subarray(0, bytes)) };
  }

  async list(req: ListRequest): Promise<ListPage> {
    this.calls.list++;
    const max = Math.max(1, req.maxKeys ?? 1000);
    // Keys sort as their numbers do (zero-padded): find the first key >= prefix by bisection.
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.name(mid) < req.prefix) lo = mid + 1;
      else hi = mid;
    }
    const from = Math.max(lo, req.continuationToken !== undefined ? Number(req.continuationToken) : 0);
    const objects: ObjectInfo[] = [];
    const prefixes: string[] = [];
    for (let i = from; i < this.count; i++) {
      const key = this.name(i);
      if (!key.startsWith(req.prefix)) break;
      const rest = key.slice(req.prefix.length);
      const cut = req.delimiter ? rest.indexOf(req.delimiter) : -1;
      if (cut >= 0) {
        // Every key is in the one folder: one common prefix, and nothing after it.
        prefixes.push(req.prefix + rest.slice(0, cut + 1));
        break;
      }
      if (objects.length === max) return { objects, prefixes, nextToken: String(i) };
      objects.push(this.info(key));
    }
    return { objects, prefixes };
  }

  async readRange(req: RangeRequest, onChunk: (chunk: Buffer) => void): Promise<void> {
    this.calls.readRange++;
    if (this.indexOf(req.key) === undefined) throw new StoreError('precondition-failed', `GET ${req.key}: deleted since it was opened`);
    if (req.etag !== this.etag) throw new StoreError('precondition-failed', `GET ${req.key}: etag changed`);
    for (let p = req.start; p < req.end; p += 64 * 1024) {
      await Promise.resolve();
      if (req.signal?.aborted) throw new StoreError('aborted', 'aborted');
      // Fresh memory per chunk, as bytes from a socket are: cached blocks cost what they would.
      onChunk(Buffer.from(this.body.subarray(p, Math.min(req.end, p + 64 * 1024))));
    }
  }

  async probe(): Promise<void> {}
  destroy(): void {}
}
