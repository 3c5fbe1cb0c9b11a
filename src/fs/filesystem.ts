/**
 * The filesystem operations, named after FUSE's, with typed answers and typed failures
 * (FsError / StoreError). Nothing here knows fuse-native: the adapter decodes, calls, replies.
 *
 * Read-only for now: the mount is `ro`, so the kernel answers EROFS to every write, create,
 * delete, rename or attribute change without asking; `open` still refuses write flags itself.
 */
import { constants } from 'node:fs';
import type { BucketMount, ProcessSettings } from '../config/plan.js';
import type { ObjectStore } from '../store/object-store.js';
import { BucketNamespace } from './bucket-namespace.js';
import type { Entry, FileEntry } from './entry.js';
import { FsError } from './errno.js';
import { FolderTree } from './folder-tree.js';
import { type StatFs, UsageTracker, type UsageOptions } from './disk-usage.js';
import { type Clock, systemClock } from '../clock.js';
import { BlockCache } from '../read/block-cache.js';
import { BlockFetcher } from '../read/block-fetcher.js';
import { ObjectReader, ReaderContext, type ReadAheadPolicy } from '../read/object-reader.js';
import { type ObjectRef, objectRef } from '../read/object-ref.js';
import { FirstBytesPolicy } from '../read/first-bytes-policy.js';
import type { Chunks } from '../read/block.js';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const BLOCK_SIZE = 1024 * 1024;
/** Bytes fetched with a lookup by path (see BucketNamespace): one kernel read's worth. */
const PEEK_BYTES = 128 * 1024;

/**
 * The part of `cache-size` that holds blocks (cached and in flight); the rest (96 MiB, or half
 * of a small cache) is headroom for what the process holds beyond blocks while bytes travel
 * from sockets to blocks and on to the kernel. Measured with four parallel sequential readers
 * and cache-size 256MiB: peak RSS 407-417 MiB with 64 MiB headroom, 365-369 MiB with 96 MiB,
 * at the same throughput; so that cache-size + 150 MiB bounds the whole process.
 */
export function blockBudget(cacheSizeBytes: number): number {
  return Math.max(Math.floor(cacheSizeBytes / 2), cacheSizeBytes - 96 * 1024 * 1024);
}

export interface Attr {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly nlink: number;
  readonly blksize: number;
  readonly blocks: number;
  readonly mtime: number;
  readonly atime: number;
  readonly ctime: number;
}

export interface BucketView {
  readonly mount: BucketMount;
  readonly store: ObjectStore;
  readonly namespace: BucketNamespace;
}

export interface FilesystemOptions {
  readonly buckets: readonly { readonly mount: BucketMount; readonly store: ObjectStore }[];
  readonly settings: ProcessSettings;
  /** mtime of directories and of the virtual folders above buckets. */
  readonly startedAtMs: number;
  readonly onSkippedKey?: (bucket: string, key: string, why: string) => void;
  /** Told each read-ahead window chosen (metrics). */
  readonly observeWindow?: (bytes: number) => void;
  /** Time for TTLs, fail-fast windows and scan ages (tests inject a ManualClock). */
  readonly clock?: Clock;
  /** How `df` scans (see disk-usage.ts). */
  readonly usage?: UsageOptions;
  /**
   * Told of every failure of work nobody waits for (background listings, df scans): it is
   * logged and counted there, never thrown.
   */
  readonly onBackgroundError?: (what: string, err: unknown) => void;
}

const WRITE_FLAGS = constants.O_WRONLY | constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_APPEND;

export class Filesystem {
  private readonly folders: FolderTree<BucketView>;
  private readonly views: readonly BucketView[];
  private readonly settings: ProcessSettings;
  private readonly startedAtMs: number;
  /** Open handles: nothing per handle but its reader (100,000 open files must stay cheap). */
  private readonly handles = new Map<number, ObjectReader>();
  private nextHandle = 1;
  readonly cache: BlockCache;
  readonly fetcher: BlockFetcher;
  private readonly policy: ReadAheadPolicy;
  private readonly usage: UsageTracker;
  /** Whether lookups fetch first bytes (only while opens follow them). */
  private readonly peekPolicy = new FirstBytesPolicy(PEEK_BYTES);
  private readonly clock: Clock;
  /** Shared by every reader: per-handle state stays small and constant. */
  private readonly readers: ReaderContext;

  constructor(opts: FilesystemOptions) {
    this.settings = opts.settings;
    this.startedAtMs = opts.startedAtMs;
    const clock = opts.clock ?? systemClock;
    this.clock = clock;
    const onBackgroundError = opts.onBackgroundError ?? (() => undefined);
    this.views = opts.buckets.map(({ mount, store }) => ({
      mount,
      store,
      namespace: new BucketNamespace({
        store,
        prefix: mount.prefix,
        ...(mount.maxFolderEntries !== undefined ? { maxFolderEntries: mount.maxFolderEntries } : {}),
        statCacheTtlMs: mount.statCacheTtlMs,
        negativeCacheTtlMs: mount.negativeCacheTtlMs,
        dirMtimeMs: opts.startedAtMs,
        onSkippedKey: (key, why) => opts.onSkippedKey?.(mount.name, key, why),
        peekBytes: () => this.peekPolicy.bytes(),
        onPeek: (entry, data) => this.keepPeeked(store, entry, data),
        clock,
        onBackgroundError: (what, err) => onBackgroundError(`${mount.name}: ${what}`, err),
      }),
    }));
    this.usage = new UsageTracker(
      this.views.map((v) => ({ store: v.store, prefix: v.mount.prefix })),
      { ...opts.usage, clock, onError: (err) => onBackgroundError('df scan', err) },
    );
    this.folders = new FolderTree(this.views.map((v) => ({ folder: v.mount.folder, value: v })));
    this.cache = new BlockCache(blockBudget(opts.settings.cacheSizeBytes), BLOCK_SIZE);
    this.fetcher = new BlockFetcher(this.cache, opts.settings.partSizeBytes);
    const budget = this.cache.maxBytes;
    this.policy = {
      initialWindowBytes: Math.max(BLOCK_SIZE, opts.settings.readAheadInitialBytes),
      // Windows of all open readers together stay within half the budget, so read-ahead
      // never evicts blocks that are about to be read.
      maxWindowBytes: () => Math.min(opts.settings.readAheadMaxBytes, Math.floor(budget / 2 / Math.max(1, this.handles.size))),
      ...(opts.observeWindow ? { observeWindow: opts.observeWindow } : {}),
    };
    this.readers = new ReaderContext(this.fetcher, BLOCK_SIZE, this.policy, clock, {
      get: (obj) => this.cache.get(firstBytesKey(obj))?.chunks[0],
      maxBytes: PEEK_BYTES,
    });
  }

  get openHandles(): number {
    return this.handles.size;
  }

  async getattr(path: string): Promise<Attr> {
    const r = this.folders.resolve(path);
    if (r.kind === 'none') throw new FsError('ENOENT', `${path}: no such file or directory`);
    if (r.kind === 'virtual') return this.virtualDirAttr();
    const entry = await r.value.namespace.lookup(r.rel);
    if (!entry) throw new FsError('ENOENT', `${path}: no such file or directory`);
    return this.attrOf(r.value.mount, entry);
  }

  /**
   * Names and attributes of a directory's children. No '.' or '..': nothing adds them (not the
   * adapter, fuse-native or the kernel), so `ls -a` shows none; callers that skip them anyway
   * (Node's fs.readdir, Python's os.listdir, find) see no difference.
   */
  async readdir(path: string): Promise<{ names: string[]; attrs: Attr[] }> {
    const r = this.folders.resolve(path);
    if (r.kind === 'none') throw new FsError('ENOENT', `${path}: no such file or directory`);
    if (r.kind === 'virtual') {
      const attr = this.virtualDirAttr();
      return { names: [...r.children], attrs: r.children.map(() => attr) };
    }
    const self = await r.value.namespace.lookup(r.rel);
    if (!self) throw new FsError('ENOENT', `${path}: no such file or directory`);
    if (self.kind !== 'dir') throw new FsError('ENOTDIR', `${path}: not a directory`);
    // The names of a very large folder are held until the kernel has them: room is made for them
    // in the shared budget (blocks are evicted), so that blocks plus names stay within it.
    let reserved = 0;
    const { names, entries } = await r.value.namespace
      .readdir(r.rel, (bytes) => {
        this.cache.reserve(bytes);
        reserved += bytes;
      })
      .finally(() => this.cache.unreserve(reserved));
    const mount = r.value.mount;
    // Without entries (a very large folder), names only: the kernel asks for attributes by name.
    return { names, attrs: entries ? entries.map((e) => this.attrOf(mount, e)) : [] };
  }

  async open(path: string, flags: number): Promise<number> {
    if ((flags & WRITE_FLAGS) !== 0) throw new FsError('EROFS', `${path}: read-only file system`);
    const r = this.folders.resolve(path);
    if (r.kind === 'none') throw new FsError('ENOENT', `${path}: no such file or directory`);
    if (r.kind === 'virtual') throw new FsError('EISDIR', `${path}: is a directory`);
    const entry = await r.value.namespace.lookup(r.rel);
    if (!entry) throw new FsError('ENOENT', `${path}: no such file or directory`);
    if (entry.kind !== 'file') throw new FsError('EISDIR', `${path}: is a directory`);
    const obj = objectRef(r.value.store, entry.key, entry.etag, entry.size);
    this.peekPolicy.opened();
    const reader = new ObjectReader(obj, this.readers);
    const fd = this.allocateHandle();
    this.handles.set(fd, reader);
    return fd;
  }

  /**
   * Bytes [pos, pos+len) of an open file, clipped at EOF: at once when they are cached, else
   * when they arrive. Views of cached data, to be copied by the caller, never kept.
   */
  read(fd: number, pos: number, len: number): Chunks | Promise<Chunks> {
    const h = this.handles.get(fd);
    if (!h) throw new FsError('EBADF', `handle ${fd} is not open`);
    return h.read(pos, len);
  }

  /**
   * A read of `fd` got no answer within the caller's deadline: its next reads fail at once
   * with `error` for a moment, since the kernel retries a failed page immediately and the
   * caller would otherwise wait a second deadline.
   */
  noteReadTimeout(fd: number, error: Error): void {
    this.handles.get(fd)?.noteFailure(error);
  }

  release(fd: number): void {
    const h = this.handles.get(fd);
    if (!h) return;
    this.handles.delete(fd);
    h.close();
  }

  /** Forget cached metadata of the object behind a handle (its etag no longer matches). */
  invalidate(path: string): void {
    const r = this.folders.resolve(path);
    if (r.kind === 'bucket') r.value.namespace.invalidate(r.rel);
  }

  /** Used bytes are the objects' total size (see disk-usage.ts). */
  statfs(): Promise<StatFs> {
    return this.usage.statfs();
  }

  close(): void {
    for (const fd of [...this.handles.keys()]) this.release(fd);
    for (const v of this.views) v.store.destroy();
  }

  /**
   * First bytes live in the block cache, inside the one byte budget, and readers look them up
   * there at each read instead of holding them: however many handles are open, they cost no
   * more than the budget allows.
   */
  private keepPeeked(store: ObjectStore, entry: FileEntry, data: Buffer): void {
    const obj = objectRef(store, entry.key, entry.etag, entry.size);
    // A whole small object is simply its block 0; a part of a larger one waits for an open.
    if (data.length === entry.size) this.cache.insert(this.fetcher.blockKey(obj, 0), { chunks: [data], length: data.length });
    else this.cache.insert(firstBytesKey(obj), { chunks: [data], length: data.length });
  }

  private allocateHandle(): number {
    // fuse-native treats 0 as "no handle"; wrap well before 2^31.
    let fd = this.nextHandle;
    while (this.handles.has(fd)) fd = fd >= 0x7fffffff ? 1 : fd + 1;
    this.nextHandle = fd >= 0x7fffffff ? 1 : fd + 1;
    return fd;
  }

  private attrOf(mount: BucketMount, entry: Entry): Attr {
    if (entry.kind === 'dir') return this.dirAttr(mount.dirMode, mount.uid, mount.gid, entry.mtimeMs);
    return {
      mode: S_IFREG | mount.fileMode,
      uid: mount.uid,
      gid: mount.gid,
      size: entry.size,
      nlink: 1,
      blksize: 4096,
      blocks: Math.ceil(entry.size / 512),
      mtime: entry.mtimeMs,
      atime: entry.mtimeMs,
      ctime: entry.mtimeMs,
    };
  }

  private dirAttr(mode: number, uid: number, gid: number, mtimeMs: number): Attr {
    return { mode: S_IFDIR | mode, uid, gid, size: 4096, nlink: 2, blksize: 4096, blocks: 8, mtime: mtimeMs, atime: mtimeMs, ctime: mtimeMs };
  }

  private virtualDirAttr(): Attr {
    const first = this.views[0]?.mount;
    return this.dirAttr(0o755, first?.uid ?? 0, first?.gid ?? 0, this.startedAtMs);
  }
}

/** Where an object's first bytes (a lookup's, not a whole block) are kept in the block cache. */
function firstBytesKey(obj: ObjectRef): string {
  return `${obj.id}\0first`;
}
