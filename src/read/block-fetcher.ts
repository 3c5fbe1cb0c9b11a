/**
 * Downloads runs of consecutive blocks with one ranged GET each and cuts the streamed body into
 * blocks as bytes arrive, so the first block of a long GET is readable before the GET ends.
 *
 * Each download belongs to the readers that asked for it or waited on it; when the last of them
 * goes away (release), the GET is aborted: nobody will read those bytes.
 */
import type { Block } from './block.js';
import type { BlockCache } from './block-cache.js';
import type { ObjectRef } from './object-ref.js';
import { StoreError } from '../store/errors.js';

/** Something that reads: an open handle. */
export type Owner = object;

interface Download {
  readonly abort: AbortController;
  readonly owners: Set<Owner>;
  readonly bytes: number;
}

interface Deferred {
  resolve(b: Block): void;
  reject(e: unknown): void;
}

export class BlockFetcher {
  private readonly cache: BlockCache;
  private readonly partBlocks: number;
  private readonly byOwner = new Map<Owner, Set<Download>>();
  private readonly downloadOfBlock = new Map<string, Download>();
  private inflight = 0;

  constructor(cache: BlockCache, partSizeBytes: number) {
    this.cache = cache;
    this.partBlocks = Math.max(1, Math.floor(partSizeBytes / cache.blockSize));
  }

  /** Bytes being downloaded right now. */
  get inflightBytes(): number {
    return this.inflight;
  }

  blockKey(obj: ObjectRef, index: number): string {
    return `${obj.id}\0${index}`;
  }

  /** Starts downloads for every block of [first, last] that is neither cached nor on its way. */
  ensure(obj: ObjectRef, first: number, last: number, owner: Owner): void {
    let runStart = -1;
    for (let i = first; i <= last + 1; i++) {
      const missing = i <= last && !this.cache.has(this.blockKey(obj, i));
      if (missing && runStart < 0) runStart = i;
      const runLen = runStart < 0 ? 0 : i - runStart;
      if (runStart >= 0 && (!missing || runLen === this.partBlocks)) {
        this.download(obj, runStart, runLen, owner);
        runStart = missing ? i : -1;
      }
    }
  }

  /** The block, from the cache or once its download finishes (starting one if needed). */
  block(obj: ObjectRef, index: number, owner: Owner): Block | Promise<Block> {
    const key = this.blockKey(obj, index);
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.stats.hits++;
      return hit;
    }
    this.cache.stats.misses++;
    let pending = this.cache.pendingOf(key);
    if (!pending) {
      this.download(obj, index, 1, owner);
      pending = this.cache.pendingOf(key) as Promise<Block>;
    } else {
      this.adopt(key, owner);
    }
    return pending;
  }

  /** Whether block `index` is cached or on its way. */
  known(obj: ObjectRef, index: number): boolean {
    return this.cache.has(this.blockKey(obj, index));
  }

  /**
   * Fetches [start, end) into a new buffer, bypassing the cache: for random access, where a
   * whole block per small read would fetch many times the bytes asked for.
   */
  readRange(obj: ObjectRef, start: number, end: number, owner: Owner): Promise<Buffer> {
    const d: Download = { abort: new AbortController(), owners: new Set([owner]), bytes: end - start };
    this.ownedBy(owner).add(d);
    this.inflight += d.bytes;
    const out = Buffer.allocUnsafe(end - start);
    let off = 0;
    return obj.store
      .readRange({ key: obj.key, start, end, etag: obj.etag, signal: d.abort.signal }, (chunk) => {
        off += chunk.copy(out, off);
      })
      .then(() => out.subarray(0, off))
      .finally(() => {
        this.inflight -= d.bytes;
        for (const o of d.owners) this.byOwner.get(o)?.delete(d);
      });
  }

  /** The reader is gone: abort downloads only it wanted. */
  release(owner: Owner): void {
    const mine = this.byOwner.get(owner);
    if (!mine) return;
    this.byOwner.delete(owner);
    for (const d of mine) {
      d.owners.delete(owner);
      if (d.owners.size === 0) d.abort.abort(new StoreError('aborted', 'no reader left'));
    }
  }

  private adopt(key: string, owner: Owner): void {
    const d = this.downloadOfBlock.get(key);
    if (!d || d.owners.has(owner)) return;
    d.owners.add(owner);
    this.ownedBy(owner).add(d);
  }

  private ownedBy(owner: Owner): Set<Download> {
    let set = this.byOwner.get(owner);
    if (!set) {
      set = new Set();
      this.byOwner.set(owner, set);
    }
    return set;
  }

  private download(obj: ObjectRef, first: number, count: number, owner: Owner): void {
    const bs = this.cache.blockSize;
    const start = first * bs;
    const end = Math.min(obj.size, (first + count) * bs);
    if (start >= end) return;
    const d: Download = { abort: new AbortController(), owners: new Set([owner]), bytes: end - start };
    this.ownedBy(owner).add(d);
    this.inflight += d.bytes;
    this.cache.reserve(d.bytes);
    let delivered = 0;

    const deferred: Deferred[] = [];
    const keys: string[] = [];
    for (let i = 0; i < count; i++) {
      const key = this.blockKey(obj, first + i);
      keys.push(key);
      this.cache.setPending(key, new Promise<Block>((resolve, reject) => deferred.push({ resolve, reject })));
      this.downloadOfBlock.set(key, d);
    }

    let index = 0;
    let chunks: Buffer[] = [];
    let filled = 0;
    let blockLen = Math.min(bs, end - start);
    const finishBlock = (): void => {
      const key = keys[index] as string;
      const block: Block = { chunks, length: filled };
      this.downloadOfBlock.delete(key);
      this.cache.complete(key, block);
      (deferred[index] as Deferred).resolve(block);
      chunks = [];
      filled = 0;
      index++;
      blockLen = Math.min(bs, end - (first + index) * bs);
    };

    obj.store
      .readRange({ key: obj.key, start, end, etag: obj.etag, signal: d.abort.signal }, (chunk) => {
        // Cut the stream at block edges without copying: a chunk that spans an edge is shared,
        // as two views, by the two blocks.
        let rest = chunk;
        while (rest.length > 0) {
          const take = Math.min(rest.length, blockLen - filled);
          chunks.push(take === rest.length ? rest : rest.subarray(0, take));
          filled += take;
          delivered += take;
          rest = rest.subarray(take);
          if (filled === blockLen) finishBlock();
        }
      })
      .catch((err: unknown) => {
        for (let i = index; i < count; i++) {
          const key = keys[i] as string;
          this.downloadOfBlock.delete(key);
          this.cache.fail(key);
          (deferred[i] as Deferred).reject(err);
        }
        index = count;
      })
      .finally(() => {
        this.inflight -= d.bytes;
        // Bytes of completed blocks were handed over to the cache; the rest never came.
        this.cache.unreserve(d.bytes - delivered + filled);
        for (const o of d.owners) this.byOwner.get(o)?.delete(d);
      });
  }
}
