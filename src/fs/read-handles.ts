/**
 * Handles open for reading: nothing per handle but its reader (100,000 open files must stay
 * cheap), every reader sharing one ReaderContext, so that per-handle state stays small and
 * constant. Read-ahead windows are sized by how many readers are open; first bytes fetched with
 * a lookup live in the block cache, where an open finds them. A reader knows its bucket, so a
 * removed bucket's readers answer ESTALE once its grace is over.
 */
import type { ProcessSettings } from '../config/plan.js';
import type { Clock } from '../clock.js';
import type { BlockCache } from '../read/block-cache.js';
import type { BlockFetcher } from '../read/block-fetcher.js';
import type { Chunks } from '../read/block.js';
import { FirstBytesPolicy } from '../read/first-bytes-policy.js';
import { ObjectReader, ReaderContext, type ReadAheadPolicy } from '../read/object-reader.js';
import { type ObjectRef, objectRef } from '../read/object-ref.js';
import type { ObjectStore } from '../store/object-store.js';
import type { FileEntry } from './entry.js';
import { FsError } from './errno.js';
import { type Attr, fileAttr } from './file-attributes.js';
import { type LiveBucket, type LiveBuckets, staleError } from './live-buckets.js';

/** Bytes fetched with a lookup by path (see BucketNamespace): one kernel read's worth. */
const FIRST_BYTES_SIZE = 128 * 1024;

/**
 * A reader that knows its bucket: one field more per handle, so that a handle's bucket is
 * found without a table, and a bucket's handles are counted, not listed.
 */
class BucketReader extends ObjectReader {
  constructor(
    obj: ObjectRef,
    ctx: ReaderContext,
    readonly bucket: LiveBucket,
    /** For getattr once the path no longer leads here (its mount removed). */
    readonly mtimeMs: number,
  ) {
    super(obj, ctx);
  }

  get size(): number {
    return this.obj.size;
  }

  get key(): string {
    return this.obj.key;
  }
}

export interface ReadHandlesOptions {
  readonly cache: BlockCache;
  readonly fetcher: BlockFetcher;
  readonly settings: Pick<ProcessSettings, 'readAheadInitialBytes' | 'readAheadMaxBytes'>;
  /** Told each read-ahead window chosen (metrics). */
  readonly observeWindow?: ((bytes: number) => void) | undefined;
  readonly clock: Clock;
  /** Each handle is counted in its bucket; a removed bucket's handles go stale with it. */
  readonly buckets: Pick<LiveBuckets, 'opened' | 'released' | 'isStale' | 'drainingBuckets'>;
  /** A handle number that no reader or writer holds (the two share one number space). */
  readonly allocateHandle: () => number;
}

export class ReadHandles {
  private readonly handles = new Map<number, BucketReader>();
  private readonly cache: BlockCache;
  private readonly fetcher: BlockFetcher;
  private readonly buckets: ReadHandlesOptions['buckets'];
  private readonly allocateHandle: () => number;
  /** Mutable: a reload may change the read-ahead sizes (readers look them up at each refill). */
  private readonly policy: { -readonly [K in keyof ReadAheadPolicy]: ReadAheadPolicy[K] };
  private readAheadMaxBytes: number;
  /** Whether lookups fetch first bytes (only while opens follow them). */
  private readonly firstBytesPolicy = new FirstBytesPolicy(FIRST_BYTES_SIZE);
  /** Shared by every reader: per-handle state stays small and constant. */
  private readonly readers: ReaderContext;

  constructor(opts: ReadHandlesOptions) {
    this.cache = opts.cache;
    this.fetcher = opts.fetcher;
    this.buckets = opts.buckets;
    this.allocateHandle = opts.allocateHandle;
    this.readAheadMaxBytes = opts.settings.readAheadMaxBytes;
    const blockSize = opts.cache.blockSize;
    const budget = this.cache.maxBytes;
    this.policy = {
      initialWindowBytes: Math.max(blockSize, opts.settings.readAheadInitialBytes),
      // Windows of all open readers together stay within half the budget, so read-ahead
      // never evicts blocks that are about to be read.
      maxWindowBytes: () => Math.min(this.readAheadMaxBytes, Math.floor(budget / 2 / Math.max(1, this.handles.size))),
      ...(opts.observeWindow ? { observeWindow: opts.observeWindow } : {}),
    };
    this.readers = new ReaderContext(this.fetcher, blockSize, this.policy, opts.clock, {
      get: (obj) => this.cache.get(firstBytesKey(obj))?.chunks[0],
      maxBytes: FIRST_BYTES_SIZE,
    });
  }

  /** Handles open. */
  get size(): number {
    return this.handles.size;
  }

  has(fd: number): boolean {
    return this.handles.has(fd);
  }

  /**
   * Read-ahead sizes from a reload: each reader's next window uses them (cache and part sizes
   * are fixed at start: they size structures already built).
   */
  retuneReadAhead(settings: Pick<ProcessSettings, 'readAheadInitialBytes' | 'readAheadMaxBytes'>): void {
    this.readAheadMaxBytes = settings.readAheadMaxBytes;
    this.policy.initialWindowBytes = Math.max(this.cache.blockSize, settings.readAheadInitialBytes);
  }

  /** A new handle reading the object `entry` names in `bucket`. */
  open(bucket: LiveBucket, entry: FileEntry): number {
    const obj = objectRef(bucket.store as ObjectStore, entry.key, entry.etag, entry.size);
    this.firstBytesPolicy.opened();
    const reader = new BucketReader(obj, this.readers, bucket, entry.mtimeMs);
    const fd = this.allocateHandle();
    this.handles.set(fd, reader);
    this.buckets.opened(bucket);
    return fd;
  }

  /**
   * Bytes [pos, pos+len) of an open file, clipped at EOF: at once when they are cached, else
   * when they arrive. Views of cached data, to be copied by the caller, never kept. EBADF for a
   * handle that is not a reader's.
   */
  read(fd: number, pos: number, len: number): Chunks | Promise<Chunks> {
    const h = this.handles.get(fd);
    if (!h) throw new FsError('EBADF', `handle ${fd} is not open`);
    const bucket = h.bucket;
    if (bucket.staleAtMs !== Infinity && this.buckets.isStale(bucket)) throw staleError(fd, bucket);
    const out = h.read(pos, len);
    if (!(out instanceof Promise)) return out;
    // A read that fails because its mount went and the grace ended while it waited (its store
    // destroyed under it) is stale too. Only reads that wait for the network pay for this.
    return out.catch((err: unknown) => {
      throw this.buckets.isStale(bucket) ? staleError(fd, bucket, err) : err;
    });
  }

  /** See Filesystem.noteReadTimeout. */
  noteReadTimeout(fd: number, error: Error): void {
    this.handles.get(fd)?.noteFailure(error);
  }

  /** Whether `fd` was a reader's handle (and is released now). */
  release(fd: number): boolean {
    const h = this.handles.get(fd);
    if (!h) return false;
    this.handles.delete(fd);
    h.close();
    this.buckets.released(h.bucket);
    return true;
  }

  /** At unmount: every reader released (a draining bucket then ends at once). */
  releaseAll(): void {
    for (const fd of [...this.handles.keys()]) this.release(fd);
  }

  /**
   * A path that leads nowhere (now): ENOENT, unless a file is still open there under a removed or
   * replaced mount. Such a file answers getattr by its old path until it is closed: the kernel
   * asks for attributes by path even for fstat (`cat` fstats its input before reading), and a
   * removal must not fail a reader. ESTALE once the grace is over. One pass over the open
   * handles, and only while a mount drains.
   */
  attrByOldPath(path: string): Attr {
    const draining = this.buckets.drainingBuckets();
    if (draining.size > 0) {
      const segs = path === '/' ? [] : path.slice(1).split('/');
      for (const bucket of draining) {
        const folder = bucket.mount.folder;
        if (segs.length <= folder.length || folder.some((seg, i) => segs[i] !== seg)) continue;
        const key = bucket.mount.prefix + segs.slice(folder.length).join('/');
        for (const [fd, h] of this.handles) {
          if (h.bucket !== bucket || h.key !== key) continue;
          if (this.buckets.isStale(bucket)) throw staleError(fd, bucket);
          return fileAttr(bucket.mount, h.size, h.mtimeMs);
        }
      }
    }
    throw new FsError('ENOENT', `${path}: no such file or directory`);
  }

  /** How many first bytes a lookup fetches now (0: none; see FirstBytesPolicy). */
  firstBytesSize(): number {
    return this.firstBytesPolicy.bytes();
  }

  /**
   * First bytes live in the block cache, inside the one byte budget, and readers look them up
   * there at each read instead of holding them: however many handles are open, they cost no
   * more than the budget allows.
   */
  keepFirstBytes(store: ObjectStore, entry: FileEntry, data: Buffer): void {
    const obj = objectRef(store, entry.key, entry.etag, entry.size);
    // A whole small object is simply its block 0 (the disk level keeps it too: the next epoch
    // finds it there once memory has moved on); a part of a larger one waits for an open.
    if (data.length === entry.size) {
      this.cache.insert(this.fetcher.blockKey(obj, 0), { chunks: [data], length: data.length });
      this.fetcher.keepOnDisk(obj, 0, [data]);
    } else this.cache.insert(firstBytesKey(obj), { chunks: [data], length: data.length });
  }
}

/** Where an object's first bytes (a lookup's, not a whole block) are kept in the block cache. */
function firstBytesKey(obj: ObjectRef): string {
  return `${obj.id}\0first`;
}
