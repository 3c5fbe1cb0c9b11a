/**
 * The filesystem operations, named after FUSE's, with typed answers and typed failures
 * (FsError / StoreError). Nothing here knows fuse-native: the adapter decodes, calls, replies.
 *
 * Writes (a bucket that is not read-only): a file open for writing is an OpenFile, one per
 * path, shared by every handle open on that path (as an inode is): its WriteHandle
 * (src/write/) holds the bytes until a flush, fsync or the last release commits them to S3.
 * Reads of a path with an OpenFile go through it, so they see what was written and never mix
 * the old object with new bytes. Our own changes update the namespace's caches at once.
 * A read-only bucket answers EROFS itself (a mount whose buckets are all read-only is `ro` in
 * the kernel, which answers without asking).
 *
 * Buckets come and go while the mount serves (a config reload; see putBucket, removeBucket,
 * retuneBucket). A removed bucket leaves the namespace at once, but files already open under
 * it keep reading from its store until they are released, or until a grace time ends (then
 * their reads answer ESTALE); its store is destroyed at the first of the two.
 */
import { constants } from 'node:fs';
import type { BucketMount, ProcessSettings } from '../config/plan.js';
import type { ObjectStore } from '../store/object-store.js';
import { BucketNamespace } from './bucket-namespace.js';
import type { Entry, FileEntry } from './entry.js';
import { FsError } from './errno.js';
import { FolderTree } from './folder-tree.js';
import { type StatFs, UsageTracker, type UsageOptions, type UsageSource } from './disk-usage.js';
import { type Clock, systemClock } from '../clock.js';
import { BlockCache } from '../read/block-cache.js';
import { BlockFetcher } from '../read/block-fetcher.js';
import { ObjectReader, ReaderContext, type ReadAheadPolicy } from '../read/object-reader.js';
import { type ObjectRef, objectRef } from '../read/object-ref.js';
import { FirstBytesPolicy } from '../read/first-bytes-policy.js';
import type { Chunks } from '../read/block.js';
import { UPLOAD_LIMITS } from '../store/object-store.js';
import { WriteHandle, type CommittedObject } from '../write/write-handle.js';
import { WriteMemory } from '../write/write-memory.js';
import type { StagingArea } from '../write/staging-area.js';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const BLOCK_SIZE = 1024 * 1024;
/** How long a statfs of the root waits for the first df scan before answering what it has. */
const FIRST_SCAN_WAIT_MS = 2_000;
/** Bytes fetched with a lookup by path (see BucketNamespace): one kernel read's worth. */
const FIRST_BYTES_SIZE = 128 * 1024;

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

/** What the caller puts in the filesystem for one mount (Fluid's mount `name` is the key). */
export type BucketSlot =
  | { readonly state: 'serving'; readonly mount: BucketMount; readonly store: ObjectStore }
  /** Its folder shows; everything at or below it answers `error.errno` (EACCES, EIO) until a serving slot replaces it. */
  | { readonly state: 'unavailable'; readonly mount: BucketMount; readonly error: FsError };

/** 'draining': removed, with files still open under it. */
export type BucketState = 'serving' | 'unavailable' | 'draining';

/** How long the files open under a removed bucket keep reading, by default. */
export const DEFAULT_DRAIN_GRACE_MS = 5 * 60_000;

/** Runs `fn` after `ms`; returns what cancels it. */
export type SetTimer = (fn: () => void, ms: number) => () => void;

/** One mount as the filesystem holds it, in the folder tree or draining. */
interface LiveBucket {
  /** Replaced by a retune. */
  mount: BucketMount;
  state: BucketState;
  /** Serving (and draining): where its bytes come from. */
  readonly store: ObjectStore | undefined;
  readonly namespace: BucketNamespace | undefined;
  /** Unavailable: what everything in its folder answers. */
  readonly error: FsError | undefined;
  /** Handles open under it (readers and writers). */
  handles: number;
  /** Files open for writing (or being written by another handle), by path relative to the bucket. */
  readonly openFiles: Map<string, OpenFile>;
  /** Draining: its handles' reads answer ESTALE from this time on. */
  staleAtMs: number;
  cancelDrainEnd: (() => void) | undefined;
  /** Retired and its store destroyed (or left to another bucket that still uses the same store). */
  storeDone: boolean;
}

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

/** One path open for writing: shared by every handle open on it, committed by any writer's flush. */
interface OpenFile {
  readonly bucket: LiveBucket;
  /** Where it is now (a rename moves it). */
  rel: string;
  readonly writer: WriteHandle;
  /** Handles that refer to it. */
  fds: number;
  /** Unlinked while open: its bytes go nowhere, as a deleted local file's. */
  unlinked: boolean;
  /** Time of the last change, for getattr while it is open. */
  mtimeMs: number;
  /** Written or truncated through a handle since it was opened (see flush). */
  touched: boolean;
}

/** A handle that refers to an OpenFile; `writable`: opened for writing (its flushes commit). */
interface FileHandle {
  readonly file: OpenFile;
  readonly writable: boolean;
}

/** Objects a folder rename copies at most; a larger folder answers EXDEV and `mv` copies by itself. */
export const RENAME_FOLDER_LIMIT = 1000;
/** Copies of a folder rename in flight at once. */
const RENAME_CONCURRENCY = 8;

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
  /** How long files open under a removed or replaced bucket keep reading (default DEFAULT_DRAIN_GRACE_MS). */
  readonly drainGraceMs?: number;
  /** Timers for the end of drains (default: setTimeout, unref'd; tests drive them with their clock). */
  readonly setTimer?: SetTimer;
  /** Local space for files edited in place (appends, writes before the end); undefined: none (EOPNOTSUPP). */
  readonly staging?: StagingArea;
  /** Told once per mount that a write needed staging space and there was none (the log line naming the option). */
  readonly onStagingMissing?: (mount: string) => void;
}

const WRITE_FLAGS = constants.O_WRONLY | constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_APPEND;
const EMPTY = Buffer.alloc(0);

export class Filesystem {
  private readonly folders = new FolderTree<LiveBucket>();
  /** The buckets in the folder tree, by mount name. */
  private readonly live = new Map<string, LiveBucket>();
  /** Removed buckets whose handles are still open. */
  private readonly draining = new Set<LiveBucket>();
  private settings: ProcessSettings;
  private readonly startedAtMs: number;
  /** Open handles: nothing per handle but its reader (100,000 open files must stay cheap). */
  private readonly handles = new Map<number, BucketReader>();
  /** Handles of paths open for writing (see OpenFile). */
  private readonly fileHandles = new Map<number, FileHandle>();
  private readonly writeMemory: WriteMemory;
  private readonly staging: StagingArea | undefined;
  private readonly onStagingMissing: (mount: string) => void;
  private readonly stagingMissingTold = new Set<string>();
  private nextHandle = 1;
  readonly cache: BlockCache;
  readonly fetcher: BlockFetcher;
  /** Mutable: a reload may change the read-ahead sizes (readers look them up at each refill). */
  private readonly policy: { -readonly [K in keyof ReadAheadPolicy]: ReadAheadPolicy[K] };
  private readonly usage: UsageTracker;
  private usageSources: readonly UsageSource[] = [];
  /** Whether lookups fetch first bytes (only while opens follow them). */
  private readonly firstBytesPolicy = new FirstBytesPolicy(FIRST_BYTES_SIZE);
  private readonly clock: Clock;
  /** Shared by every reader: per-handle state stays small and constant. */
  private readonly readers: ReaderContext;
  private readonly onSkippedKey: (bucket: string, key: string, why: string) => void;
  private readonly onBackgroundError: (what: string, err: unknown) => void;
  private readonly drainGraceMs: number;
  private readonly setTimer: SetTimer;

  constructor(opts: FilesystemOptions) {
    this.settings = opts.settings;
    this.startedAtMs = opts.startedAtMs;
    const clock = opts.clock ?? systemClock;
    this.clock = clock;
    const onBackgroundError = opts.onBackgroundError ?? (() => undefined);
    this.onBackgroundError = onBackgroundError;
    this.onSkippedKey = opts.onSkippedKey ?? (() => undefined);
    this.drainGraceMs = opts.drainGraceMs ?? DEFAULT_DRAIN_GRACE_MS;
    this.setTimer = opts.setTimer ?? unrefTimer;
    this.usage = new UsageTracker([], { setTimer: this.setTimer, ...opts.usage, clock, onError: (err) => onBackgroundError('df scan', err) });
    this.cache = new BlockCache(blockBudget(opts.settings.cacheSizeBytes), BLOCK_SIZE);
    this.fetcher = new BlockFetcher(this.cache, opts.settings.partSizeBytes);
    const budget = this.cache.maxBytes;
    this.policy = {
      initialWindowBytes: Math.max(BLOCK_SIZE, opts.settings.readAheadInitialBytes),
      // Windows of all open readers together stay within half the budget, so read-ahead
      // never evicts blocks that are about to be read.
      maxWindowBytes: () => Math.min(this.settings.readAheadMaxBytes, Math.floor(budget / 2 / Math.max(1, this.handles.size))),
      ...(opts.observeWindow ? { observeWindow: opts.observeWindow } : {}),
    };
    this.readers = new ReaderContext(this.fetcher, BLOCK_SIZE, this.policy, clock, {
      get: (obj) => this.cache.get(firstBytesKey(obj))?.chunks[0],
      maxBytes: FIRST_BYTES_SIZE,
    });
    // A writer waits for memory at most as long as an S3 call may take, then answers ENOMEM.
    this.writeMemory = new WriteMemory(this.cache, { maxWaitMs: opts.settings.requestTimeoutMs, clock, setTimer: this.setTimer });
    this.staging = opts.staging;
    this.onStagingMissing = opts.onStagingMissing ?? (() => undefined);
    for (const { mount, store } of opts.buckets) this.putBucket({ state: 'serving', mount, store });
  }

  get openHandles(): number {
    return this.handles.size + this.fileHandles.size;
  }

  /**
   * Adds a mount, or replaces the one of the same name, in one step (its folder is never
   * missing in between). A replacement by the same store at the same prefix keeps caches and
   * handles (a tuning or folder change); any other replacement retires the old bucket as
   * removeBucket does, with the grace `drainGraceMs`. A folder inside another mount's folder, or
   * around one, is a programming error (the caller checks the layout): it throws, and nothing
   * changes.
   */
  putBucket(slot: BucketSlot): void {
    const { mount } = slot;
    const old = this.live.get(mount.name);
    const there = this.folders.at(mount.folder);
    if (there !== undefined && there !== old) throw new Error(`mount "${mount.name}": folder /${mount.folder.join('/')} is mount "${there.mount.name}"'s`);
    const kept = old !== undefined && slot.state === 'serving' && old.state === 'serving' && old.store === slot.store && old.mount.prefix === mount.prefix;
    const bucket = kept ? old : this.liveBucket(slot);
    if (old) this.folders.remove(old.mount.folder);
    try {
      this.folders.put(mount.folder, bucket);
    } catch (err) {
      if (old) this.folders.put(old.mount.folder, old);
      throw err;
    }
    this.live.set(mount.name, bucket);
    if (kept) this.retune(bucket, mount);
    else if (old) this.retire(old, this.drainGraceMs);
    this.servingChanged();
  }

  /**
   * Takes a mount out of the namespace at once. Files open under it keep reading until they are
   * released; after `graceMs`, their reads answer ESTALE. Its store is destroyed when its last
   * handle is released, or when the grace ends.
   */
  removeBucket(name: string, graceMs: number): void {
    const bucket = this.live.get(name);
    if (!bucket) return;
    this.live.delete(name);
    this.folders.remove(bucket.mount.folder);
    this.retire(bucket, graceMs);
    this.servingChanged();
  }

  /**
   * New tuning for a mount with the same store, bucket, prefix and folder: ownership, modes,
   * TTLs and the readdir bound answer from now on; caches and open handles stay as they are.
   */
  retuneBucket(mount: BucketMount): void {
    const bucket = this.live.get(mount.name);
    if (!bucket) throw new Error(`retune of mount "${mount.name}": no such mount`);
    if (mount.prefix !== bucket.mount.prefix || mount.folder.join('/') !== bucket.mount.folder.join('/')) {
      throw new Error(`retune of mount "${mount.name}": a new prefix or folder is a new bucket (putBucket)`);
    }
    this.retune(bucket, mount);
  }

  /** The store a serving mount reads from now (undefined when it is not serving). */
  storeOf(name: string): ObjectStore | undefined {
    const bucket = this.live.get(name);
    return bucket?.state === 'serving' ? bucket.store : undefined;
  }

  /**
   * Read-ahead sizes from a reload: each reader's next window uses them (cache and part sizes
   * are fixed at start: they size structures already built).
   */
  retuneReadAhead(settings: Pick<ProcessSettings, 'readAheadInitialBytes' | 'readAheadMaxBytes'>): void {
    this.settings = { ...this.settings, readAheadInitialBytes: settings.readAheadInitialBytes, readAheadMaxBytes: settings.readAheadMaxBytes };
    this.policy.initialWindowBytes = Math.max(BLOCK_SIZE, settings.readAheadInitialBytes);
  }

  /** Each mount's state (metrics). A name both draining and live again shows its live state. */
  bucketStates(): ReadonlyMap<string, BucketState> {
    const states = new Map<string, BucketState>();
    for (const b of this.draining) states.set(b.mount.name, 'draining');
    for (const [name, b] of this.live) states.set(name, b.state);
    return states;
  }

  async getattr(path: string): Promise<Attr> {
    const r = this.folders.resolve(path);
    if (r.kind === 'none') return this.openFileAttr(path);
    if (r.kind === 'virtual') return this.virtualDirAttr();
    // The root stays a directory whatever its bucket does: the mount itself must answer.
    if (r.value.state === 'unavailable' && path === '/') return this.virtualDirAttr();
    const bucket = r.value;
    const open = bucket.openFiles.get(r.rel);
    if (open) return this.attrOf(bucket.mount, { kind: 'file', key: '', etag: '', size: open.writer.size, mtimeMs: open.mtimeMs });
    const entry = await this.namespaceOf(bucket, path)
      .lookup(r.rel)
      .catch((err: unknown) => {
        // Removed while on its way (its store destroyed under it): the path leads nowhere now,
        // unless a file is still open there.
        if (this.live.get(bucket.mount.name) === bucket) throw err;
        return undefined;
      });
    return entry ? this.attrOf(bucket.mount, entry) : this.openFileAttr(path);
  }

  /**
   * A path that leads nowhere (now): ENOENT, unless a file is still open there under a removed or
   * replaced mount. Such a file answers getattr by its old path until it is closed: the kernel
   * asks for attributes by path even for fstat (`cat` fstats its input before reading), and a
   * removal must not fail a reader. ESTALE once the grace is over. One pass over the open
   * handles, and only while a mount drains.
   */
  private openFileAttr(path: string): Attr {
    if (this.draining.size > 0) {
      const segs = path === '/' ? [] : path.slice(1).split('/');
      for (const bucket of this.draining) {
        const folder = bucket.mount.folder;
        if (segs.length <= folder.length || folder.some((seg, i) => segs[i] !== seg)) continue;
        const key = bucket.mount.prefix + segs.slice(folder.length).join('/');
        for (const [fd, h] of this.handles) {
          if (h.bucket !== bucket || h.key !== key) continue;
          if (this.isStale(bucket)) throw staleError(fd, bucket);
          return this.attrOf(bucket.mount, { kind: 'file', key, etag: '', size: h.size, mtimeMs: h.mtimeMs });
        }
      }
    }
    throw new FsError('ENOENT', `${path}: no such file or directory`);
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
    const namespace = this.namespaceOf(r.value, path);
    const self = await namespace.lookup(r.rel).catch(this.unlessGone(r.value, path));
    if (!self) throw new FsError('ENOENT', `${path}: no such file or directory`);
    if (self.kind !== 'dir') throw new FsError('ENOTDIR', `${path}: not a directory`);
    // The names of a very large folder are held until the kernel has them: room is made for them
    // in the shared budget (blocks are evicted), so that blocks plus names stay within it.
    let reserved = 0;
    const { names, entries } = await namespace
      .readdir(r.rel, (bytes) => {
        this.cache.reserve(bytes);
        reserved += bytes;
      })
      .finally(() => this.cache.unreserve(reserved))
      .catch(this.unlessGone(r.value, path));
    const mount = r.value.mount;
    // Without entries (a very large folder), names only: the kernel asks for attributes by name.
    const listed = { names, attrs: entries ? entries.map((e) => this.attrOf(mount, e)) : [] };
    return r.value.openFiles.size === 0 ? listed : this.withOpenFiles(r.value, r.rel, listed);
  }

  async open(path: string, flags: number): Promise<number> {
    const writing = (flags & WRITE_FLAGS) !== 0;
    const r = this.folders.resolve(path);
    if (r.kind === 'none') throw new FsError('ENOENT', `${path}: no such file or directory`);
    if (r.kind === 'virtual') throw new FsError(writing ? 'EROFS' : 'EISDIR', `${path}: ${writing ? 'read-only file system' : 'is a directory'}`);
    const bucket = r.value;
    if (writing) this.writable(bucket, path);
    const open = bucket.openFiles.get(r.rel);
    if (open) {
      if ((flags & constants.O_TRUNC) !== 0) await this.truncateOpen(open, 0);
      return this.fileHandle(open, writing);
    }
    const entry = await this.namespaceOf(bucket, path).lookup(r.rel).catch(this.unlessGone(bucket, path));
    if (writing && entry?.kind === 'file') {
      const file = this.openFile(bucket, r.rel, entry, (flags & constants.O_TRUNC) !== 0);
      return this.fileHandle(file, true);
    }
    if (!entry) throw new FsError('ENOENT', `${path}: no such file or directory`);
    if (entry.kind !== 'file') throw new FsError('EISDIR', `${path}: is a directory`);
    // Removed or replaced while the lookup was on its way: the path no longer leads here.
    if (this.live.get(bucket.mount.name) !== bucket) throw new FsError('ENOENT', `${path}: no such file or directory`);
    const obj = objectRef(bucket.store as ObjectStore, entry.key, entry.etag, entry.size);
    this.firstBytesPolicy.opened();
    const reader = new BucketReader(obj, this.readers, bucket, entry.mtimeMs);
    const fd = this.allocateHandle();
    this.handles.set(fd, reader);
    bucket.handles++;
    return fd;
  }

  /**
   * Bytes [pos, pos+len) of an open file, clipped at EOF: at once when they are cached, else
   * when they arrive. Views of cached data, to be copied by the caller, never kept.
   */
  read(fd: number, pos: number, len: number): Chunks | Promise<Chunks> {
    const h = this.handles.get(fd);
    if (!h) return this.readOpenFile(fd, pos, len);
    const bucket = h.bucket;
    if (bucket.staleAtMs !== Infinity && this.isStale(bucket)) throw staleError(fd, bucket);
    const out = h.read(pos, len);
    if (!(out instanceof Promise)) return out;
    // A read that fails because its mount went and the grace ended while it waited (its store
    // destroyed under it) is stale too. Only reads that wait for the network pay for this.
    return out.catch((err: unknown) => {
      throw this.isStale(bucket) ? staleError(fd, bucket, err) : err;
    });
  }

  /**
   * A read of `fd` got no answer within the caller's deadline: its next reads fail at once
   * with `error` for a moment, since the kernel retries a failed page immediately and the
   * caller would otherwise wait a second deadline.
   */
  noteReadTimeout(fd: number, error: Error): void {
    this.handles.get(fd)?.noteFailure(error);
  }

  /**
   * The last release of a file open for writing commits it (when a flush did not already) and
   * frees its memory and staging file: a failure then is logged (the kernel does not wait for a
   * release's answer; close() got its errno from the flush).
   */
  release(fd: number): void | Promise<void> {
    const h = this.handles.get(fd);
    if (!h) return this.releaseFileHandle(fd);
    this.handles.delete(fd);
    h.close();
    const bucket = h.bucket;
    bucket.handles--;
    if (bucket.state === 'draining' && bucket.handles === 0) this.drained(bucket);
  }

  /**
   * A new file (the kernel asks only after its own lookup found none). A name that exists in S3
   * after all (another node made it since) is opened as it is, not emptied: create is not O_TRUNC.
   */
  async create(path: string): Promise<number> {
    const { bucket, rel } = this.writableAt(path);
    const open = bucket.openFiles.get(rel);
    if (open) return this.fileHandle(open, true);
    const entry = await this.namespaceOf(bucket, path).lookup(rel).catch(this.unlessGone(bucket, path));
    if (entry?.kind === 'dir') throw new FsError('EISDIR', `${path}: is a directory`);
    return this.fileHandle(this.openFile(bucket, rel, entry, entry === undefined), true);
  }

  /** Writes `data` at `pos`; resolves with the byte count (all of it, or an errno). */
  async write(fd: number, pos: number, data: Buffer): Promise<number> {
    const h = this.fileHandleOf(fd);
    if (!h.writable) throw new FsError('EBADF', `handle ${fd} is not open for writing`);
    await h.file.writer.write(pos, data);
    h.file.mtimeMs = this.clock.now();
    h.file.touched = true;
    return data.length;
  }

  /**
   * close() of one descriptor, and fsync: a writer's bytes go to S3 now, and its errno comes
   * back. A file nobody wrote to yet (just created, or opened with O_TRUNC) waits for its last
   * release instead: a shell's `> f` and dd open, dup2 and close the first descriptor before the
   * first write, and committing there would upload an empty object that a failed upload later
   * leaves behind.
   */
  async flush(fd: number): Promise<void> {
    const h = this.fileHandles.get(fd);
    if (!h?.writable || !h.file.touched) return; // a reader's close, or nothing written yet: nothing to commit
    await this.commit(h.file);
  }

  /** fsync: what the file holds goes to S3 now, written to or not. */
  async fsync(fd: number): Promise<void> {
    const h = this.fileHandles.get(fd);
    if (h?.writable) await this.commit(h.file);
  }

  /** ftruncate: through the handle's OpenFile. */
  async ftruncate(fd: number, size: number): Promise<void> {
    const h = this.fileHandleOf(fd);
    if (!h.writable) throw new FsError('EBADF', `handle ${fd} is not open for writing`);
    await this.truncateOpen(h.file, size);
  }

  /** truncate(2) by path: the OpenFile when the path is open, else a change committed at once. */
  async truncate(path: string, size: number): Promise<void> {
    const { bucket, rel } = this.writableAt(path);
    if (size < 0) throw new FsError('EINVAL', `${path}: negative size`);
    const open = bucket.openFiles.get(rel);
    if (open) return this.truncateOpen(open, size);
    const entry = await this.namespaceOf(bucket, path).lookup(rel).catch(this.unlessGone(bucket, path));
    if (!entry) throw new FsError('ENOENT', `${path}: no such file or directory`);
    if (entry.kind === 'dir') throw new FsError('EISDIR', `${path}: is a directory`);
    if (size === entry.size) return;
    const fd = this.fileHandle(this.openFile(bucket, rel, entry, size === 0), true);
    try {
      await this.ftruncate(fd, size);
      await this.flush(fd);
    } finally {
      await this.release(fd);
    }
  }

  async unlink(path: string): Promise<void> {
    const { bucket, rel } = this.writableAt(path);
    const open = bucket.openFiles.get(rel);
    const entry = await this.namespaceOf(bucket, path).lookup(rel).catch(this.unlessGone(bucket, path));
    if (entry?.kind === 'dir') throw new FsError('EISDIR', `${path}: is a directory`);
    if (!entry && !open) throw new FsError('ENOENT', `${path}: no such file or directory`);
    if (open) {
      open.unlinked = true;
      bucket.openFiles.delete(rel);
    }
    if (entry) await (bucket.store as ObjectStore).deleteObject(entry.key);
    this.namespaceOf(bucket, path).noteGone(rel);
  }

  /** A `dir/` marker object, so that the empty folder exists for every node. */
  async mkdir(path: string): Promise<void> {
    const { bucket, rel } = this.writableAt(path);
    if (rel === '' || bucket.openFiles.has(rel)) throw new FsError('EEXIST', `${path}: file exists`);
    const namespace = this.namespaceOf(bucket, path);
    if (await namespace.lookup(rel).catch(this.unlessGone(bucket, path))) throw new FsError('EEXIST', `${path}: file exists`);
    await (bucket.store as ObjectStore).putObject(`${bucket.mount.prefix}${rel}/`, EMPTY);
    namespace.noteDir(rel, true);
  }

  async rmdir(path: string): Promise<void> {
    const { bucket, rel } = this.writableAt(path);
    if (rel === '') throw new FsError('EBUSY', `${path}: the folder of a mount cannot be removed`);
    const namespace = this.namespaceOf(bucket, path);
    const entry = await namespace.lookup(rel).catch(this.unlessGone(bucket, path));
    if (!entry) throw new FsError('ENOENT', `${path}: no such file or directory`);
    if (entry.kind !== 'dir') throw new FsError('ENOTDIR', `${path}: not a directory`);
    const marker = `${bucket.mount.prefix}${rel}/`;
    if (this.hasOpenFilesBelow(bucket, rel) || !(await this.isEmptyFolder(bucket.store as ObjectStore, marker))) {
      throw new FsError('ENOTEMPTY', `${path}: directory not empty`);
    }
    await (bucket.store as ObjectStore).deleteObject(marker);
    namespace.noteGone(rel);
  }

  /**
   * A file: server-side copy, then delete (not atomic: for a moment both names exist; a failure
   * between the two leaves both). A folder of up to RENAME_FOLDER_LIMIT objects: each object
   * so, all copies before any delete; a larger one answers EXDEV, so `mv` copies and deletes by
   * itself. A file being written is committed first, and keeps being written at its new name.
   */
  async rename(from: string, to: string): Promise<void> {
    const src = this.writableAt(from);
    const dst = this.writableAt(to);
    if (src.bucket !== dst.bucket) throw new FsError('EXDEV', `${from} → ${to}: rename across mounts`);
    const { bucket } = src;
    if (src.rel === dst.rel) return;
    if (src.rel === '' || dst.rel === '') throw new FsError('EBUSY', `${from} → ${to}: the folder of a mount cannot be renamed`);
    if (dst.rel.startsWith(`${src.rel}/`)) throw new FsError('EINVAL', `${from} → ${to}: a folder cannot move into itself`);
    const namespace = this.namespaceOf(bucket, from);
    const store = bucket.store as ObjectStore;
    const open = bucket.openFiles.get(src.rel);
    if (open) await this.commit(open);
    const [source, target] = await Promise.all([namespace.lookup(src.rel), namespace.lookup(dst.rel)]).catch(this.unlessGone(bucket, from));
    if (!source) throw new FsError('ENOENT', `${from}: no such file or directory`);
    if (source.kind === 'file') {
      if (target?.kind === 'dir') throw new FsError('EISDIR', `${to}: is a directory`);
      if (bucket.openFiles.has(dst.rel)) throw new FsError('EBUSY', `${to}: open for writing`);
      const dstKey = `${bucket.mount.prefix}${dst.rel}`;
      const written = await store.copyObject({ key: source.key, etag: source.etag, size: source.size }, dstKey);
      namespace.noteFile(dst.rel, { size: source.size, etag: written.etag, mtimeMs: written.mtimeMs });
      // The open file moves before the delete: a write arriving meanwhile goes to the new name.
      if (open && !open.unlinked) {
        await open.writer.moveTo(dstKey, { size: source.size, etag: written.etag });
        bucket.openFiles.delete(src.rel);
        open.rel = dst.rel;
        bucket.openFiles.set(dst.rel, open);
      }
      await store.deleteObject(source.key);
      namespace.noteGone(src.rel);
      return;
    }
    if (target?.kind === 'file') throw new FsError('ENOTDIR', `${to}: not a directory`);
    if (this.hasOpenFilesBelow(bucket, src.rel)) throw new FsError('EBUSY', `${from}: files in it are open for writing`);
    const [srcPrefix, dstPrefix] = [`${bucket.mount.prefix}${src.rel}/`, `${bucket.mount.prefix}${dst.rel}/`];
    if (target && !(await this.isEmptyFolder(store, dstPrefix))) throw new FsError('ENOTEMPTY', `${to}: directory not empty`);
    const objects = await this.folderObjects(store, srcPrefix, from);
    await inBatches(objects, RENAME_CONCURRENCY, (o) =>
      store.copyObject({ key: o.key, etag: o.etag, size: o.size }, dstPrefix + o.key.slice(srcPrefix.length)),
    );
    await inBatches(objects, RENAME_CONCURRENCY, (o) => store.deleteObject(o.key));
    namespace.forgetTree(src.rel);
    namespace.forgetTree(dst.rel);
    namespace.noteGone(src.rel);
    namespace.noteDir(dst.rel, false);
  }

  /**
   * chmod, chown, utimens: S3 keeps no modes, owners or times of ours (an object's time is its
   * upload's). They succeed and change nothing, so that `cp -a`, `tar x` and `rsync -a` work;
   * a name that does not exist still answers ENOENT.
   */
  async setattr(path: string): Promise<void> {
    const r = this.folders.resolve(path);
    if (r.kind === 'bucket') this.writable(r.value, path);
    await this.getattr(path);
  }

  /** Forget cached metadata of the object behind a handle (its etag no longer matches). */ /** Forget cached metadata of the object behind a handle (its etag no longer matches). */
  invalidate(path: string): void {
    const r = this.folders.resolve(path);
    if (r.kind === 'bucket') r.value.namespace?.invalidate(r.rel);
  }

  /**
   * Used bytes are the objects' total size (see disk-usage.ts). Only a statfs of the root waits
   * for the first scan: that is Fluid's `df` of targetPath. find, du and rm -r ask it of the
   * folder they start in (gnulib's fts checks the file system type), and a walk must not wait
   * for a listing of every bucket.
   */
  statfs(path = '/'): Promise<StatFs> {
    return this.usage.statfs(path === '/' ? FIRST_SCAN_WAIT_MS : 0);
  }

  close(): void {
    this.usage.close();
    for (const fd of [...this.handles.keys()]) void this.release(fd);
    // Bytes no flush committed are lost, as a crashed process's: abort their uploads (no orphan parts).
    for (const [fd, h] of this.fileHandles) {
      this.fileHandles.delete(fd);
      h.file.writer.discard().catch((err: unknown) => this.onBackgroundError(`discard of ${h.file.rel}`, err));
    }
    const stores = new Set<ObjectStore>();
    for (const b of [...this.live.values(), ...this.draining]) {
      b.cancelDrainEnd?.();
      if (b.store && !b.storeDone) stores.add(b.store);
      b.storeDone = true;
    }
    this.live.clear();
    this.draining.clear();
    for (const store of stores) store.destroy();
  }

  /** The bucket and relative path of `path` for a change: EROFS where nothing may change. */
  private writableAt(path: string): { bucket: LiveBucket; rel: string } {
    const r = this.folders.resolve(path);
    if (r.kind === 'none') {
      // A name beside the buckets' folders (or in a folder above them) cannot be made.
      throw new FsError(path === '/' || this.folders.resolve(parentOf(path)).kind === 'virtual' ? 'EROFS' : 'ENOENT', `${path}: cannot be changed here`);
    }
    if (r.kind === 'virtual') throw new FsError('EROFS', `${path}: the folders above the mounts are read-only`);
    this.writable(r.value, path);
    return { bucket: r.value, rel: r.rel };
  }

  /** EROFS for a read-only mount; an unavailable one's error; ENOENT once it was removed. */
  private writable(bucket: LiveBucket, path: string): void {
    this.namespaceOf(bucket, path);
    if (bucket.mount.readOnly) throw new FsError('EROFS', `${path}: mount "${bucket.mount.name}" is read-only`);
    if (this.live.get(bucket.mount.name) !== bucket) throw new FsError('ENOENT', `${path}: no such file or directory (its mount was removed)`);
  }

  /** A new OpenFile at `rel`, from the object there (if any): emptied when `truncate`. */
  private openFile(bucket: LiveBucket, rel: string, entry: FileEntry | undefined, truncate: boolean): OpenFile {
    const name = bucket.mount.name;
    const writer = new WriteHandle({
      store: bucket.store as ObjectStore,
      key: bucket.mount.prefix + rel,
      base: entry ? { size: entry.size, etag: entry.etag } : undefined,
      truncate: truncate || !entry,
      memory: this.writeMemory,
      staging: this.staging,
      partSizeBytes: Math.max(UPLOAD_LIMITS.MIN_PART_BYTES, this.settings.partSizeBytes),
      onStagingMissing: () => {
        if (this.stagingMissingTold.has(name)) return;
        this.stagingMissingTold.add(name);
        this.onStagingMissing(name);
      },
    });
    const file: OpenFile = { bucket, rel, writer, fds: 0, unlinked: false, mtimeMs: entry && !truncate ? entry.mtimeMs : this.clock.now(), touched: false };
    bucket.openFiles.set(rel, file);
    return file;
  }

  private fileHandle(file: OpenFile, writable: boolean): number {
    const fd = this.allocateHandle();
    this.fileHandles.set(fd, { file, writable });
    file.fds++;
    file.bucket.handles++;
    return fd;
  }

  private fileHandleOf(fd: number): FileHandle {
    const h = this.fileHandles.get(fd);
    if (!h) throw new FsError('EBADF', `handle ${fd} is not open`);
    return h;
  }

  private async readOpenFile(fd: number, pos: number, len: number): Promise<Chunks> {
    const data = await this.fileHandleOf(fd).file.writer.read(pos, len);
    return [data];
  }

  private async truncateOpen(file: OpenFile, size: number): Promise<void> {
    if (size < 0) throw new FsError('EINVAL', `${file.rel}: negative size`);
    await file.writer.truncate(size);
    file.mtimeMs = this.clock.now();
    file.touched = true;
  }

  /** Commits what `file` holds, if anything changed; our caches show the new object at once. */
  private async commit(file: OpenFile): Promise<void> {
    if (file.unlinked) return;
    this.noteCommitted(file, await file.writer.commit());
  }

  private noteCommitted(file: OpenFile, done: CommittedObject | undefined): void {
    if (!done || file.unlinked) return;
    file.bucket.namespace?.noteFile(file.rel, done);
  }

  private async releaseFileHandle(fd: number): Promise<void> {
    const h = this.fileHandles.get(fd);
    if (!h) return;
    this.fileHandles.delete(fd);
    const { file } = h;
    file.fds--;
    try {
      if (file.fds > 0) return;
      if (file.bucket.openFiles.get(file.rel) === file) file.bucket.openFiles.delete(file.rel);
      if (file.unlinked) await file.writer.discard();
      else this.noteCommitted(file, await file.writer.close());
    } catch (err) {
      this.onBackgroundError(`commit of ${file.bucket.mount.name}:/${file.rel} at release`, err);
    } finally {
      const bucket = file.bucket;
      bucket.handles--;
      if (bucket.state === 'draining' && bucket.handles === 0) this.drained(bucket);
    }
  }

  /** A readdir answer with the files being written in `rel` that S3 does not list yet. */
  private withOpenFiles(bucket: LiveBucket, rel: string, listed: { names: string[]; attrs: Attr[] }): { names: string[]; attrs: Attr[] } {
    const prefix = rel === '' ? '' : `${rel}/`;
    const shown = new Set(listed.names);
    for (const [path, file] of bucket.openFiles) {
      if (!path.startsWith(prefix) || path.includes('/', prefix.length)) continue;
      const name = path.slice(prefix.length);
      if (shown.has(name)) continue;
      listed.names.push(name);
      if (listed.attrs.length > 0)
        listed.attrs.push(this.attrOf(bucket.mount, { kind: 'file', key: '', etag: '', size: file.writer.size, mtimeMs: file.mtimeMs }));
    }
    return listed;
  }

  private hasOpenFilesBelow(bucket: LiveBucket, rel: string): boolean {
    for (const path of bucket.openFiles.keys()) if (path.startsWith(`${rel}/`)) return true;
    return false;
  }

  /** Whether nothing but the folder's own marker is under `prefix` (one LIST of 2 keys). */
  private async isEmptyFolder(store: ObjectStore, prefix: string): Promise<boolean> {
    const page = await store.list({ prefix, maxKeys: 2 });
    return page.prefixes.length === 0 && page.objects.every((o) => o.key === prefix);
  }

  /** Every object under `prefix`, or EXDEV past RENAME_FOLDER_LIMIT. */
  private async folderObjects(store: ObjectStore, prefix: string, path: string): Promise<{ key: string; etag: string; size: number }[]> {
    const out: { key: string; etag: string; size: number }[] = [];
    let token: string | undefined;
    do {
      const page = await store.list({ prefix, maxKeys: 1000, ...(token !== undefined ? { continuationToken: token } : {}) });
      out.push(...page.objects);
      if (out.length > RENAME_FOLDER_LIMIT) {
        throw new FsError('EXDEV', `${path}: a folder of more than ${RENAME_FOLDER_LIMIT} objects is not renamed in S3 (mv then copies it)`);
      }
      token = page.nextToken;
    } while (token !== undefined);
    return out;
  }

  private liveBucket(slot: BucketSlot): LiveBucket {
    const { mount } = slot;
    const bucket: LiveBucket = {
      mount,
      state: slot.state,
      store: slot.state === 'serving' ? slot.store : undefined,
      namespace: slot.state === 'serving' ? this.namespaceFor(slot.store, mount) : undefined,
      error: slot.state === 'unavailable' ? slot.error : undefined,
      handles: 0,
      openFiles: new Map(),
      staleAtMs: Infinity,
      cancelDrainEnd: undefined,
      storeDone: false,
    };
    return bucket;
  }

  private namespaceFor(store: ObjectStore, mount: BucketMount): BucketNamespace {
    const name = mount.name;
    return new BucketNamespace({
      store,
      prefix: mount.prefix,
      ...(mount.maxFolderEntries !== undefined ? { maxFolderEntries: mount.maxFolderEntries } : {}),
      statCacheTtlMs: mount.statCacheTtlMs,
      negativeCacheTtlMs: mount.negativeCacheTtlMs,
      dirMtimeMs: this.startedAtMs,
      onSkippedKey: (key, why) => this.onSkippedKey(name, key, why),
      firstBytesSize: () => this.firstBytesPolicy.bytes(),
      onFirstBytes: (entry, data) => this.keepFirstBytes(store, entry, data),
      clock: this.clock,
      // Background work of a bucket since removed fails against its destroyed store: not news.
      onBackgroundError: (what, err) => {
        if (this.live.get(name)?.store === store) this.onBackgroundError(`${name}: ${what}`, err);
      },
    });
  }

  /** The namespace of a serving bucket; for an unavailable one, its error about `path`. */
  private namespaceOf(bucket: LiveBucket, path: string): BucketNamespace {
    if (bucket.namespace) return bucket.namespace;
    const error = bucket.error as FsError;
    throw new FsError(error.errno, `${path}: ${error.message}`, { cause: error });
  }

  /**
   * For a request on its way in `bucket`: when it fails because the bucket was removed meanwhile
   * (its store destroyed under it), the truth is that the path leads nowhere now.
   */
  private unlessGone(bucket: LiveBucket, path: string): (err: unknown) => never {
    return (err) => {
      if (this.live.get(bucket.mount.name) === bucket) throw err;
      throw new FsError('ENOENT', `${path}: no such file or directory (its mount was removed)`, { cause: err });
    };
  }

  private retune(bucket: LiveBucket, mount: BucketMount): void {
    bucket.mount = mount;
    bucket.namespace?.retune(mount);
  }

  /** A bucket out of the tree: its handles drain, then its store goes. */
  private retire(bucket: LiveBucket, graceMs: number): void {
    if (bucket.state === 'unavailable') return; // no store, no handles
    bucket.state = 'draining';
    if (bucket.handles === 0) {
      this.endStore(bucket);
      return;
    }
    this.draining.add(bucket);
    bucket.staleAtMs = this.clock.now() + Math.max(0, graceMs);
    bucket.cancelDrainEnd = this.setTimer(() => this.graceEnded(bucket), Math.max(0, graceMs));
  }

  private graceEnded(bucket: LiveBucket): void {
    bucket.cancelDrainEnd = undefined;
    // From now on, whatever the clock says (a timer may fire a little before it).
    bucket.staleAtMs = -Infinity;
    this.endStore(bucket);
  }

  /** The last handle of a draining bucket was released. */
  private drained(bucket: LiveBucket): void {
    bucket.cancelDrainEnd?.();
    bucket.cancelDrainEnd = undefined;
    this.draining.delete(bucket);
    this.endStore(bucket);
  }

  private isStale(bucket: LiveBucket): boolean {
    return bucket.staleAtMs <= this.clock.now();
  }

  /** Destroys a retired bucket's store, once, unless another bucket still uses the same store. */
  private endStore(bucket: LiveBucket): void {
    if (bucket.storeDone || !bucket.store) return;
    bucket.storeDone = true;
    const store = bucket.store;
    for (const b of [...this.live.values(), ...this.draining]) if (b !== bucket && b.store === store && !b.storeDone) return;
    store.destroy();
  }

  /** df follows the serving buckets; a reload that changed none of them costs no new scan. */
  private servingChanged(): void {
    const sources: UsageSource[] = [];
    for (const b of this.live.values()) if (b.store) sources.push({ store: b.store, prefix: b.mount.prefix });
    const same = (a: UsageSource, b: UsageSource): boolean => a.store === b.store && a.prefix === b.prefix;
    if (sources.length === this.usageSources.length && sources.every((src) => this.usageSources.some((u) => same(u, src)))) return;
    this.usageSources = sources;
    this.usage.setSources(sources);
  }

  /**
   * First bytes live in the block cache, inside the one byte budget, and readers look them up
   * there at each read instead of holding them: however many handles are open, they cost no
   * more than the budget allows.
   */
  private keepFirstBytes(store: ObjectStore, entry: FileEntry, data: Buffer): void {
    const obj = objectRef(store, entry.key, entry.etag, entry.size);
    // A whole small object is simply its block 0; a part of a larger one waits for an open.
    if (data.length === entry.size) this.cache.insert(this.fetcher.blockKey(obj, 0), { chunks: [data], length: data.length });
    else this.cache.insert(firstBytesKey(obj), { chunks: [data], length: data.length });
  }

  private allocateHandle(): number {
    // fuse-native treats 0 as "no handle"; wrap well before 2^31.
    let fd = this.nextHandle;
    while (this.handles.has(fd) || this.fileHandles.has(fd)) fd = fd >= 0x7fffffff ? 1 : fd + 1;
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
    const first = this.live.values().next().value?.mount;
    return this.dirAttr(0o755, first?.uid ?? 0, first?.gid ?? 0, this.startedAtMs);
  }
}

function staleError(fd: number, bucket: LiveBucket, cause?: unknown): FsError {
  return new FsError(
    'ESTALE',
    `handle ${fd}: mount "${bucket.mount.name}" was removed and its grace time for open files is over`,
    cause ? { cause } : undefined,
  );
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}

/** Runs `fn` over `items`, at most `concurrency` at a time; rejects with the first failure. */
async function inBatches<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

function unrefTimer(fn: () => void, ms: number): () => void {
  const timer = setTimeout(fn, ms);
  timer.unref();
  return () => clearTimeout(timer);
}

/** Where an object's first bytes (a lookup's, not a whole block) are kept in the block cache. */
function firstBytesKey(obj: ObjectRef): string {
  return `${obj.id}\0first`;
}
