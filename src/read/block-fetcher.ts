/**
 * Downloads runs of consecutive blocks with one ranged GET each and cuts the streamed body into
 * blocks as bytes arrive. A block is readable while it is still arriving: a read waits only for
 * the bytes it needs, so the first read of a file costs one round trip, not a whole block.
 *
 * Each download belongs to the readers that asked for it or waited on it; when the last of them
 * goes away (release), the GET is aborted: nobody will read those bytes.
 *
 * With a disk level (src/disk/), a download first looks each of its blocks up on disk, all at
 * once; the blocks found there go into the memory cache, and only the runs of blocks still
 * missing are fetched, one GET per run. Every block that arrives whole from the store is handed
 * to the disk level to be written in the background (never awaited). An exact-range GET
 * (readRange) uses the disk only when its range is exactly one whole block (a small file read
 * whole): a partial block is never cached on disk.
 */
import type { Block, Chunks } from './block.js';
import type { BlockCache } from './block-cache.js';
import type { ObjectRef } from './object-ref.js';
import assert from 'node:assert/strict';
import type { DiskKey } from '../disk/disk-key.js';
import type { ObjectStore } from '../store/object-store.js';
import { StoreError } from '../store/store-error.js';

/** The second cache level, on local disk (DiskBlockCache fits). Neither call may throw or reject. */
export interface DiskLevel {
  /** Block `index` of the object, whole, or undefined. */
  get(key: DiskKey, index: number): Promise<Buffer | undefined>;
  /** Block `index` of the object, whole, to be written in the background; returns at once. */
  put(key: DiskKey, index: number, data: readonly Buffer[]): void;
}

export interface DiskLevelOptions {
  readonly level: DiskLevel;
  /**
   * What tells stores apart on disk: endpoint and bucket. Default: the store's label, which
   * names the bucket only; pass one that names the endpoint too when two mounts may reach two
   * endpoints (or give each source its own cache folder).
   */
  readonly storeId?: (store: ObjectStore) => string;
}

/** Something that reads: an open handle. */
export type Owner = object;

interface Download {
  readonly abort: AbortController;
  readonly owners: Set<Owner>;
  readonly bytes: number;
  /** Reads waiting on one of its blocks right now: such a download is never aborted. */
  waiting: number;
  /** Its blocks still on their way, by block key (none for an exact-range GET). */
  readonly filling: Map<string, FillingBlock>;
}

interface Waiter {
  /** Bytes of the block (from its start) the reader needs. */
  readonly need: number;
  resolve(b: Block): void;
  reject(e: Error): void;
}

/** A block on its way: the chunks so far, and readers waiting for more. */
class FillingBlock implements Block {
  readonly chunks: Buffer[] = [];
  length = 0;
  waiters: Waiter[] = [];
  constructor(readonly download: Download) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.need <= this.length) w.resolve(this);
      else still.push(w);
    }
    this.waiters = still;
  }

  settle(err?: Error): void {
    for (const w of this.waiters) {
      if (err === undefined) w.resolve(this);
      else w.reject(err);
    }
    this.waiters = [];
  }
}

export class BlockFetcher {
  private readonly cache: BlockCache;
  private readonly partBlocks: number;
  private readonly byOwner = new Map<Owner, Set<Download>>();
  private readonly filling = new Map<string, FillingBlock>();
  private inflight = 0;
  private readonly disk: DiskLevel | undefined;
  private readonly storeId: (store: ObjectStore) => string;

  constructor(cache: BlockCache, partSizeBytes: number, disk?: DiskLevelOptions) {
    this.cache = cache;
    this.partBlocks = Math.max(1, Math.floor(partSizeBytes / cache.blockSize));
    this.disk = disk?.level;
    this.storeId = disk?.storeId ?? ((store) => store.label);
  }

  private diskKey(obj: ObjectRef): DiskKey {
    return { store: this.storeId(obj.store), key: obj.key, etag: obj.etag, size: obj.size };
  }

  /**
   * Hands block `index` of `obj`, fetched outside the block path (a lookup's first bytes that
   * are the whole object), to the disk level. Anything but the whole block is ignored.
   */
  keepOnDisk(obj: ObjectRef, index: number, chunks: readonly Buffer[]): void {
    const bs = this.cache.blockSize;
    const len = chunks.reduce((n, c) => n + c.length, 0);
    if (this.disk !== undefined && len > 0 && len === Math.min(bs, obj.size - index * bs)) this.disk.put(this.diskKey(obj), index, chunks);
  }

  /** The largest GET the read path makes. */
  get partBytes(): number {
    return this.partBlocks * this.cache.blockSize;
  }

  /** Bytes being downloaded right now. */
  get inflightBytes(): number {
    return this.inflight;
  }

  blockKey(obj: ObjectRef, index: number): string {
    return `${obj.id}\0${index}`;
  }

  /** Whether block `index` is cached or on its way. */
  isCachedOrComing(obj: ObjectRef, index: number): boolean {
    const key = this.blockKey(obj, index);
    return this.cache.has(key) || this.filling.has(key);
  }

  /**
   * Starts downloads for every block of [first, last] that is neither cached nor on its way,
   * one GET per run of at most `maxRunBlocks` (and the part size), while read-ahead in flight
   * stays within half the budget. Returns the first block it did not see to (last + 1: all).
   */
  prefetch(obj: ObjectRef, first: number, last: number, owner: Owner, maxRunBlocks = this.partBlocks): number {
    const runMax = Math.max(1, Math.min(maxRunBlocks, this.partBlocks));
    // Read-ahead of all readers together stays within half the budget: however many handles
    // start streaming at once, what is in flight for them is bounded (a read's own blocks are
    // fetched by blockAt(), never held back).
    const limit = this.cache.maxBytes / 2;
    const bs = this.cache.blockSize;
    let runStart = -1;
    for (let i = first; i <= last + 1; i++) {
      const missing = i <= last && !this.isCachedOrComing(obj, i);
      if (missing && runStart < 0) {
        if (this.inflight + bs > limit) return i;
        runStart = i;
      }
      const runLen = runStart < 0 ? 0 : i - runStart;
      if (runStart >= 0 && (!missing || runLen === runMax || this.inflight + (runLen + 1) * bs > limit)) {
        this.download(obj, runStart, runLen, owner);
        runStart = -1;
        if (missing) {
          if (this.inflight + bs > limit) return i;
          runStart = i;
        }
      }
    }
    return last + 1;
  }

  /**
   * Block `index` with at least its first `need` bytes: from the cache, from a download in
   * flight, or from a download started now. Synchronous when the bytes are already here.
   */
  blockAt(obj: ObjectRef, index: number, need: number, owner: Owner): Block | Promise<Block> {
    const key = this.blockKey(obj, index);
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.stats.hits++;
      return hit;
    }
    let f = this.filling.get(key);
    if (f?.download.abort.signal.aborted) {
      // Never adopt an aborted download (release drops its blocks; this is the backstop).
      this.filling.delete(key);
      f = undefined;
    }
    if (!f) {
      this.cache.stats.misses++;
      this.download(obj, index, 1, owner);
      f = this.filling.get(key);
      assert(f !== undefined, 'a block inside the object has a download once one started');
    } else {
      this.adopt(f.download, owner);
    }
    if (f.length >= need) return f;
    const filling = f;
    const d = f.download;
    d.waiting++;
    return new Promise<Block>((resolve, reject) =>
      filling.waiters.push({
        need,
        resolve: (b) => {
          d.waiting--;
          resolve(b);
        },
        reject: (e) => {
          d.waiting--;
          reject(e);
        },
      }),
    );
  }

  /**
   * Fetches [start, end), bypassing the cache: for random access, where a whole block per
   * small read would fetch many times the bytes asked for. Answers the body's own chunks;
   * `progress` sees them as they arrive, with the count so far.
   */
  readRange(obj: ObjectRef, start: number, end: number, owner: Owner, progress?: (chunks: Chunks, received: number) => void): Promise<Chunks> {
    const disk = this.disk;
    const bs = this.cache.blockSize;
    if (disk === undefined || start % bs !== 0 || end !== Math.min(obj.size, start + bs)) return this.getRange(obj, start, end, owner, progress);
    // Exactly one whole block (a small file read whole): the disk may have it, and may keep it.
    const key = this.diskKey(obj);
    const index = start / bs;
    return disk
      .get(key, index)
      .catch(() => undefined)
      .then((data) => {
        if (data !== undefined && data.length === end - start) {
          const chunks = [data];
          progress?.(chunks, data.length);
          return chunks;
        }
        return this.getRange(obj, start, end, owner, progress).then((chunks) => {
          disk.put(key, index, chunks);
          return chunks;
        });
      });
  }

  private getRange(obj: ObjectRef, start: number, end: number, owner: Owner, progress?: (chunks: Chunks, received: number) => void): Promise<Chunks> {
    // A read waits on it from the start, so a seek never aborts it.
    const d = this.track({ abort: new AbortController(), owners: new Set([owner]), bytes: end - start, waiting: 1, filling: new Map() });
    const chunks: Buffer[] = [];
    let received = 0;
    return obj.store
      .readRange({ key: obj.key, start, end, etag: obj.etag, signal: d.abort.signal }, (chunk) => {
        received += chunk.length;
        // Bytes past the range asked for: a broken answer, failed when the call settles.
        if (received > end - start) return;
        chunks.push(chunk);
        progress?.(chunks, received);
      })
      .then(() => {
        // A body of another length than asked is a broken answer: a short read would look like
        // EOF to the kernel, extra bytes are not the range asked for.
        if (received !== end - start) throw wrongLength(obj, start, end, received);
        return chunks;
      })
      .catch((err: unknown) => {
        throw openObjectError(err, obj);
      })
      .finally(() => this.untrack(d));
  }

  /**
   * The reader is gone, or has moved elsewhere (a seek): abort downloads that no other reader
   * wants and that no read is waiting on. Their blocks stop being "on their way" at once: a
   * read that comes for one of them next (after a seek into that range, or from another
   * handle) starts a new download instead of adopting one that will only fail.
   */
  release(owner: Owner): void {
    const mine = this.byOwner.get(owner);
    if (!mine) return;
    this.byOwner.delete(owner);
    for (const d of mine) {
      d.owners.delete(owner);
      if (d.owners.size === 0 && d.waiting === 0) {
        for (const [key, f] of d.filling) if (this.filling.get(key) === f) this.filling.delete(key);
        d.filling.clear();
        d.abort.abort(new StoreError('aborted', 'no reader left'));
      }
    }
  }

  private track(d: Download): Download {
    for (const o of d.owners) this.ownedBy(o).add(d);
    this.inflight += d.bytes;
    return d;
  }

  private untrack(d: Download): void {
    this.inflight -= d.bytes;
    for (const o of d.owners) {
      const set = this.byOwner.get(o);
      set?.delete(d);
      if (set?.size === 0) this.byOwner.delete(o);
    }
  }

  private adopt(d: Download, owner: Owner): void {
    if (d.owners.has(owner)) return;
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
    const d = this.track({ abort: new AbortController(), owners: new Set([owner]), bytes: end - start, waiting: 0, filling: new Map() });
    this.cache.reserve(d.bytes);

    const blocks: FillingBlock[] = [];
    const keys: string[] = [];
    for (let i = 0; i < count; i++) {
      const f = new FillingBlock(d);
      blocks.push(f);
      keys.push(this.blockKey(obj, first + i));
      this.filling.set(keys[i] as string, f);
      d.filling.set(keys[i] as string, f);
    }
    /** Forget block `i` as on its way, unless a newer download took its place. */
    const unfill = (i: number): void => {
      const key = keys[i] as string;
      if (this.filling.get(key) === blocks[i]) this.filling.delete(key);
      d.filling.delete(key);
    };

    const disk = this.disk;
    const diskKey = disk ? this.diskKey(obj) : undefined;
    let completedBytes = 0;
    const blockLen = (i: number): number => Math.min(bs, end - (first + i) * bs);
    /** Block `i` is whole: into the memory cache (and, when it came from the store, to disk). */
    const complete = (i: number, fromStore: boolean): void => {
      const f = blocks[i] as FillingBlock;
      unfill(i);
      this.cache.add(keys[i] as string, { chunks: f.chunks, length: f.length });
      completedBytes += f.length;
      f.settle();
      if (fromStore && disk) disk.put(diskKey as DiskKey, first + i, f.chunks);
    };
    const fail = (i: number, err: Error): void => {
      unfill(i);
      (blocks[i] as FillingBlock).settle(err);
    };

    /** One ranged GET for blocks [from, from + n) of this download, cut into blocks as bytes arrive. */
    const getRun = (from: number, n: number): Promise<void> => {
      const runStart = (first + from) * bs;
      const runEnd = Math.min(obj.size, (first + from + n) * bs);
      let index = from;
      let delivered = 0;
      let settled = false;
      return obj.store
        .readRange({ key: obj.key, start: runStart, end: runEnd, etag: obj.etag, signal: d.abort.signal }, (chunk) => {
          // An aborted download's blocks are no longer anybody's: late bytes go nowhere.
          if (d.abort.signal.aborted || settled) return;
          delivered += chunk.length;
          // Bytes past the range asked for: a broken answer, failed when the call settles.
          if (delivered > runEnd - runStart) return;
          // Cut the stream at block edges without copying: a chunk that spans an edge is shared,
          // as two views, by the two blocks.
          let rest = chunk;
          while (rest.length > 0) {
            const f = blocks[index] as FillingBlock;
            const take = Math.min(rest.length, blockLen(index) - f.length);
            f.push(take === rest.length ? rest : rest.subarray(0, take));
            rest = rest.subarray(take);
            if (f.length === blockLen(index)) complete(index++, true);
          }
        })
        .then(() => {
          settled = true;
          if (d.abort.signal.aborted) throw new StoreError('aborted', 'no reader left');
          // The store said done: every block must be complete, and nothing more than asked sent.
          if (index < from + n || delivered !== runEnd - runStart) throw wrongLength(obj, runStart, runEnd, delivered);
        })
        .catch((e: unknown) => {
          // Late bytes of a failed GET must not land in the blocks of the next run.
          settled = true;
          const err = asError(openObjectError(e, obj));
          for (let i = index; i < from + n; i++) fail(i, err);
        });
    };

    /** The blocks the disk has go to memory; one GET per run of the others. */
    const fromDiskThenStore = async (level: DiskLevel): Promise<void> => {
      // A disk level must not reject; one that does is a miss, never a failed read.
      const found = await Promise.all(blocks.map((_, i) => level.get(diskKey as DiskKey, first + i).catch(() => undefined)));
      if (d.abort.signal.aborted) {
        const err = new StoreError('aborted', 'no reader left');
        for (let i = 0; i < count; i++) fail(i, err);
        return;
      }
      const runs: Promise<void>[] = [];
      let runFrom = -1;
      for (let i = 0; i <= count; i++) {
        const data = i < count ? found[i] : undefined;
        const hit = data !== undefined && data.length === blockLen(i);
        if (hit) {
          (blocks[i] as FillingBlock).push(data);
          complete(i, false);
        }
        const missing = i < count && !hit;
        if (missing && runFrom < 0) runFrom = i;
        if (!missing && runFrom >= 0) {
          runs.push(getRun(runFrom, i - runFrom));
          runFrom = -1;
        }
      }
      await Promise.all(runs);
    };

    const done = disk
      ? fromDiskThenStore(disk).catch((e: unknown) => {
          // A bug of ours must not leave readers waiting: fail whatever is still on its way.
          for (let i = 0; i < count; i++) if (d.filling.get(keys[i] as string) === blocks[i]) fail(i, asError(e));
        })
      : getRun(0, count);
    void done.finally(() => {
      // Bytes of completed blocks were handed to the cache; the rest never will be.
      this.cache.unreserve(d.bytes - completedBytes);
      this.untrack(d);
    });
  }
}

function wrongLength(obj: ObjectRef, start: number, end: number, got: number): StoreError {
  return new StoreError('invalid-response', `GET ${obj.key} bytes ${start}-${end - 1}: the body had ${got} bytes, ${end - start} expected`);
}

/**
 * A ranged GET is always of an object a handle opened: "not found" there means that version
 * was deleted since (S3 answers 404, not 412, for a deleted key even with If-Match), which a
 * reader must see as ESTALE, never as "no such file".
 */
function openObjectError(err: unknown, obj: ObjectRef): unknown {
  if (!(err instanceof StoreError) || err.kind !== 'not-found') return err;
  return new StoreError('precondition-failed', `GET ${obj.key}: deleted since it was opened`, {
    cause: err,
    ...(err.status !== undefined ? { status: err.status } : {}),
    ...(err.s3Code !== undefined ? { s3Code: err.s3Code } : {}),
  });
}

/** Failures reach readers as Errors; anything else thrown below is wrapped, never lost. */
function asError(err: unknown): Error {
  return err instanceof Error ? err : new StoreError('other', String(err), { cause: err });
}
