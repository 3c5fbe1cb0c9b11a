/**
 * Stores for tests of listings (namespace, df): a MemoryStore whose LISTs fail on demand, and a
 * synthetic store that serves a huge folder page by page without holding its keys.
 */
import type { ListPage, ListRequest, ObjectInfo, ObjectStore, RangeRequest } from '../../../src/store/object-store.js';
import { StoreError } from '../../../src/store/store-error.js';
import { WithoutWrites } from './without-writes.js';
import { MemoryStore } from './memory-store.js';

/** A MemoryStore whose LIST requests fail when `failList` says so (it sees each request and its number, from 1). */
export class ListFaultStore extends MemoryStore {
  failList: ((req: ListRequest, n: number) => StoreError | undefined) | undefined;
  /** Every LIST request, in order. */
  readonly listRequests: ListRequest[] = [];

  override async list(req: ListRequest): Promise<ListPage> {
    this.listRequests.push(req);
    const err = this.failList?.(req, this.listRequests.length);
    if (err) {
      this.calls.list++;
      throw err;
    }
    return super.list(req);
  }
}

/** Lets every promise that can settle now run its handlers (background work over in-memory stores). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

export const unreachable = (): StoreError => new StoreError('unreachable', 'LIST: cannot reach the server: connect ECONNREFUSED');

/**
 * A bucket with one folder `folder/` of `count` objects (and a small sibling file `top.txt`),
 * listed in pages generated on demand: the store holds no key, so a test's memory figure is the
 * code under test's. Keys are `folder/object-0000123-<padding>` (about 40 bytes); objects are
 * about 1 MiB, larger than what a lookup fetches with it.
 */
export class SyntheticFolderStore extends WithoutWrites implements ObjectStore {
  readonly label = 's3://synthetic';
  readonly calls = { head: 0, list: 0, get: 0 };
  readonly folder = 'folder/';

  constructor(readonly count: number) {
    super();
  }

  /** The i-th key of the folder, in listing order. */
  keyAt(i: number): string {
    return `${this.folder}object-${String(i).padStart(7, '0')}-abcdefghijklmnopqrstu`;
  }

  private info(key: string): ObjectInfo {
    return { key, size: 1024 * 1024 + (key.length % 97), etag: `"${'0'.repeat(24)}${String(key.length).padStart(8, '0')}"`, mtimeMs: 1_700_000_000_000 };
  }

  private indexOf(key: string): number | undefined {
    const m = /^folder\/object-(\d{7})-abcdefghijklmnopqrstu$/.exec(key);
    if (!m) return undefined;
    const i = Number(m[1]);
    return i < this.count ? i : undefined;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    this.calls.head++;
    return key === 'top.txt' || this.indexOf(key) !== undefined ? this.info(key) : undefined;
  }

  async getFirstBytes(key: string, bytes: number): Promise<{ info: ObjectInfo; data: Buffer } | undefined> {
    this.calls.get++;
    const info = await this.head(key);
    this.calls.head--;
    // Larger than the first bytes a lookup fetches: the first bytes wait in the filesystem's budget for an open.
    return info ? { info, data: Buffer.allocUnsafe(Math.min(bytes, info.size)).fill(7) } : undefined;
  }

  async list(req: ListRequest): Promise<ListPage> {
    this.calls.list++;
    const max = req.maxKeys ?? 1000;
    const start = req.continuationToken !== undefined ? Number(req.continuationToken) : 0;
    // Rows in key order: the folder's objects (or its prefix, with a delimiter at the root), then `top.txt`.
    let total: number;
    let rowAt: (r: number) => ObjectInfo | string;
    if (req.prefix === '' && req.delimiter !== undefined) {
      total = 2;
      rowAt = (r) => (r === 0 ? this.folder : this.info('top.txt'));
    } else if (req.prefix === '') {
      total = this.count + 1;
      rowAt = (r) => this.info(r < this.count ? this.keyAt(r) : 'top.txt');
    } else if (req.prefix === this.folder) {
      total = this.count;
      rowAt = (r) => this.info(this.keyAt(r));
    } else {
      return { objects: [], prefixes: [] }; // nothing below a file
    }
    const objects: ObjectInfo[] = [];
    const prefixes: string[] = [];
    for (let r = start; r < Math.min(total, start + max); r++) {
      const row = rowAt(r);
      if (typeof row === 'string') prefixes.push(row);
      else objects.push(row);
    }
    return { objects, prefixes, ...(start + max < total ? { nextToken: String(start + max) } : {}) };
  }

  /** Bodies are bytes of 7, in 64 KiB chunks: enough to fill the block cache. */
  async readRange(req: RangeRequest, onChunk: (chunk: Buffer) => void): Promise<void> {
    this.calls.get++;
    for (let p = req.start; p < req.end; p += 64 * 1024) {
      if (req.signal?.aborted) throw new StoreError('aborted', 'aborted');
      onChunk(Buffer.alloc(Math.min(64 * 1024, req.end - p), 7));
      await Promise.resolve();
    }
  }
  async probe(): Promise<void> {}
  destroy(): void {}
}
