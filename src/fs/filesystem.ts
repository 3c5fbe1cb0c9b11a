/**
 * The filesystem operations, named after FUSE's, with typed answers and typed failures
 * (FsError / StoreError). Nothing here knows fuse-native: the adapter decodes, calls, replies.
 *
 * This class is the one entry point (the adapter and the tests call it). It holds the read path
 * (a reader per handle, the block cache, first bytes, read-ahead, df) and hands each other job
 * to the module that does it:
 * - live-buckets.ts: buckets come and go while the mount serves (a config reload); a removed
 *   bucket's open files keep reading until released or until a grace time ends (then ESTALE).
 * - open-files.ts: a file open for writing is an OpenFile, one per path, shared by every handle
 *   on it (as an inode is); reads of that path go through it and see what was written.
 * - write-operations.ts: create, write, flush, fsync, truncate, unlink, mkdir, rmdir, rename;
 *   a read-only bucket answers EROFS itself.
 * - file-attributes.ts: the attributes getattr and readdir answer.
 */
import { constants } from 'node:fs';
import type { BucketMount, ProcessSettings } from '../config/plan.js';
import { UPLOAD_LIMITS, type ObjectStore } from '../store/object-store.js';
import { BucketNamespace } from './bucket-namespace.js';
import { FsError } from './errno.js';
import { type StatFs, UsageTracker, type UsageOptions } from './disk-usage.js';
import { type Attr, attrOf, type ReaddirAnswer, virtualDirAttr } from './file-attributes.js';
import { type BucketSlot, type BucketState, DEFAULT_DRAIN_GRACE_MS, LiveBuckets, type SetTimer, unrefTimer } from './live-buckets.js';
import { attrWhileWriting, OpenFiles, withOpenFiles } from './open-files.js';
import { ReadHandles } from './read-handles.js';
import { WriteOperations } from './write-operations.js';
import { type Clock, systemClock } from '../clock.js';
import { BlockCache } from '../read/block-cache.js';
import { BlockFetcher, type DiskLevel } from '../read/block-fetcher.js';
import type { Chunks } from '../read/block.js';
import { WriteMemory } from '../write/write-memory.js';
import type { StagingArea } from '../write/staging-area.js';

export type { Attr } from './file-attributes.js';
export { type BucketSlot, type BucketState, DEFAULT_DRAIN_GRACE_MS, type SetTimer } from './live-buckets.js';
export { RENAME_FOLDER_LIMIT } from './write-operations.js';

/** The read path's block: the unit of the memory cache and of the disk cache. */
export const BLOCK_SIZE = 1024 * 1024;
/** How long a statfs of the root waits for the first df scan before answering what it has. */
const FIRST_SCAN_WAIT_MS = 2_000;

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
  /** List each bucket's root as soon as it serves (a mount's first lookups then wait less); default false. */
  readonly warmUp?: boolean;
  /** How long files open under a removed or replaced bucket keep reading (default DEFAULT_DRAIN_GRACE_MS). */
  readonly drainGraceMs?: number;
  /** Timers for the end of drains (default: setTimeout, unref'd; tests drive them with their clock). */
  readonly setTimer?: SetTimer;
  /** Local space for files edited in place (appends, writes before the end); undefined: none (EOPNOTSUPP). */
  readonly staging?: StagingArea;
  /** Told once per mount that a write needed staging space and there was none (the log line naming the option). */
  readonly onStagingMissing?: (mount: string) => void;
  /** The disk level of the block cache (disk-cache-dir), cut in BLOCK_SIZE blocks; undefined: memory only. */
  readonly diskLevel?: DiskLevel;
}

const WRITE_FLAGS = constants.O_WRONLY | constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_APPEND;

export class Filesystem {
  private readonly buckets: LiveBuckets;
  /** Handles open for reading: a reader each (see read-handles.ts). */
  private readonly reads: ReadHandles;
  /** Files open for writing and their handles (see OpenFile). */
  private readonly files: OpenFiles;
  private readonly writes: WriteOperations;
  private readonly startedAtMs: number;
  private nextHandle = 1;
  readonly cache: BlockCache;
  readonly fetcher: BlockFetcher;
  private readonly usage: UsageTracker;
  private readonly clock: Clock;
  private readonly onSkippedKey: (bucket: string, key: string, why: string) => void;
  private readonly onBackgroundError: (what: string, err: unknown) => void;
  private readonly warmUp: boolean;
  /** Each serving store's endpoint and bucket, for the disk cache's keys. */
  private readonly storeIds = new WeakMap<ObjectStore, string>();

  constructor(opts: FilesystemOptions) {
    this.startedAtMs = opts.startedAtMs;
    const clock = opts.clock ?? systemClock;
    this.clock = clock;
    const onBackgroundError = opts.onBackgroundError ?? (() => undefined);
    this.onBackgroundError = onBackgroundError;
    this.onSkippedKey = opts.onSkippedKey ?? (() => undefined);
    this.warmUp = opts.warmUp === true;
    const setTimer = opts.setTimer ?? unrefTimer;
    this.usage = new UsageTracker([], { setTimer, ...opts.usage, clock, onError: (err) => onBackgroundError('df scan', err) });
    this.cache = new BlockCache(blockBudget(opts.settings.cacheSizeBytes), BLOCK_SIZE);
    // On disk, a block is named by its endpoint and bucket too: two endpoints may have a bucket
    // of the same name (the store's label says only s3://bucket).
    const diskLevel = opts.diskLevel;
    this.fetcher = new BlockFetcher(
      this.cache,
      opts.settings.partSizeBytes,
      diskLevel ? { level: diskLevel, storeId: (store) => this.storeIds.get(store) ?? store.label } : undefined,
    );
    this.buckets = new LiveBuckets({
      clock,
      drainGraceMs: opts.drainGraceMs ?? DEFAULT_DRAIN_GRACE_MS,
      setTimer,
      usage: this.usage,
      newNamespace: (store, mount) => this.namespaceFor(store, mount),
    });
    this.reads = new ReadHandles({
      cache: this.cache,
      fetcher: this.fetcher,
      settings: opts.settings,
      observeWindow: opts.observeWindow,
      clock,
      buckets: this.buckets,
      allocateHandle: () => this.allocateHandle(),
    });
    this.files = new OpenFiles({
      buckets: this.buckets,
      allocateHandle: () => this.allocateHandle(),
      // A writer waits for memory at most as long as an S3 call may take, then answers ENOMEM.
      memory: new WriteMemory(this.cache, { maxWaitMs: opts.settings.requestTimeoutMs, clock, setTimer }),
      staging: opts.staging,
      // Part size is fixed at start (a reload retunes read-ahead only).
      partSizeBytes: Math.max(UPLOAD_LIMITS.MIN_PART_BYTES, opts.settings.partSizeBytes),
      onStagingMissing: opts.onStagingMissing ?? (() => undefined),
      onBackgroundError,
      clock,
    });
    this.writes = new WriteOperations(this.buckets, this.files);
    for (const { mount, store } of opts.buckets) this.putBucket({ state: 'serving', mount, store });
  }

  get openHandles(): number {
    return this.reads.size + this.files.size;
  }

  /** Adds a mount, or replaces the one of the same name, in one step (see LiveBuckets.putBucket). */
  putBucket(slot: BucketSlot): void {
    if (slot.state === 'serving') this.storeIds.set(slot.store, `${slot.mount.endpoint ?? `aws:${slot.mount.region}`}/${slot.mount.bucket}`);
    this.buckets.putBucket(slot);
  }

  /** Takes a mount out of the namespace at once; its open files drain (see LiveBuckets.removeBucket). */
  removeBucket(name: string, graceMs: number): void {
    this.buckets.removeBucket(name, graceMs);
  }

  /** New tuning for a mount with the same store, prefix and folder (see LiveBuckets.retuneBucket). */
  retuneBucket(mount: BucketMount): void {
    this.buckets.retuneBucket(mount);
  }

  /** The store a serving mount reads from now (undefined when it is not serving). */
  storeOf(name: string): ObjectStore | undefined {
    return this.buckets.storeOf(name);
  }

  /**
   * Read-ahead sizes from a reload: each reader's next window uses them (cache and part sizes
   * are fixed at start: they size structures already built).
   */
  retuneReadAhead(settings: Pick<ProcessSettings, 'readAheadInitialBytes' | 'readAheadMaxBytes'>): void {
    this.reads.retuneReadAhead(settings);
  }

  /** Each mount's state (metrics). A name both draining and live again shows its live state. */
  bucketStates(): ReadonlyMap<string, BucketState> {
    return this.buckets.bucketStates();
  }

  async getattr(path: string): Promise<Attr> {
    const r = this.buckets.resolve(path);
    if (r.kind === 'none') return this.reads.attrByOldPath(path);
    if (r.kind === 'virtual') return this.virtualDirAttr();
    // The root stays a directory whatever its bucket does: the mount itself must answer.
    if (r.value.state === 'unavailable' && path === '/') return this.virtualDirAttr();
    const bucket = r.value;
    const open = bucket.openFiles.get(r.rel);
    if (open) return attrWhileWriting(open);
    const entry = await this.buckets
      .namespaceOf(bucket, path)
      .lookup(r.rel)
      .catch((err: unknown) => {
        // Removed while on its way (its store destroyed under it): the path leads nowhere now,
        // unless a file is still open there.
        if (this.buckets.isLive(bucket)) throw err;
        return undefined;
      });
    return entry ? attrOf(bucket.mount, entry) : this.reads.attrByOldPath(path);
  }

  /**
   * Names and attributes of a directory's children. No '.' or '..': nothing adds them (not the
   * adapter, fuse-native or the kernel), so `ls -a` shows none; callers that skip them anyway
   * (Node's fs.readdir, Python's os.listdir, find) see no difference.
   */
  async readdir(path: string): Promise<ReaddirAnswer> {
    const r = this.buckets.resolve(path);
    if (r.kind === 'none') throw new FsError('ENOENT', `${path}: no such file or directory`);
    if (r.kind === 'virtual') {
      const attr = this.virtualDirAttr();
      return { names: [...r.children], attrs: r.children.map(() => attr) };
    }
    const namespace = this.buckets.namespaceOf(r.value, path);
    const self = await namespace.lookup(r.rel).catch(this.buckets.unlessGone(r.value, path));
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
      .catch(this.buckets.unlessGone(r.value, path));
    const mount = r.value.mount;
    // Without entries (a very large folder), names only: the kernel asks for attributes by name.
    const listed = { names, attrs: entries ? entries.map((e) => attrOf(mount, e)) : [] };
    return r.value.openFiles.size === 0 ? listed : withOpenFiles(r.value, r.rel, listed);
  }

  async open(path: string, flags: number): Promise<number> {
    const writing = (flags & WRITE_FLAGS) !== 0;
    const r = this.buckets.resolve(path);
    if (r.kind === 'none') throw new FsError('ENOENT', `${path}: no such file or directory`);
    if (r.kind === 'virtual') throw new FsError(writing ? 'EROFS' : 'EISDIR', `${path}: ${writing ? 'read-only file system' : 'is a directory'}`);
    const bucket = r.value;
    if (writing) this.writes.writable(bucket, path);
    const open = bucket.openFiles.get(r.rel);
    if (open) {
      if ((flags & constants.O_TRUNC) !== 0) await this.files.truncate(open, 0);
      return this.files.handle(open, writing);
    }
    const entry = await this.buckets.namespaceOf(bucket, path).lookup(r.rel).catch(this.buckets.unlessGone(bucket, path));
    if (writing && entry?.kind === 'file') {
      const file = this.files.open(bucket, r.rel, entry, (flags & constants.O_TRUNC) !== 0);
      return this.files.handle(file, true);
    }
    if (!entry) throw new FsError('ENOENT', `${path}: no such file or directory`);
    if (entry.kind !== 'file') throw new FsError('EISDIR', `${path}: is a directory`);
    // Removed or replaced while the lookup was on its way: the path no longer leads here.
    if (!this.buckets.isLive(bucket)) throw new FsError('ENOENT', `${path}: no such file or directory`);
    return this.reads.open(bucket, entry);
  }

  /**
   * Bytes [pos, pos+len) of an open file, clipped at EOF: at once when they are cached, else
   * when they arrive. Views of cached data, to be copied by the caller, never kept.
   */
  read(fd: number, pos: number, len: number): Chunks | Promise<Chunks> {
    return this.reads.has(fd) ? this.reads.read(fd, pos, len) : this.files.read(fd, pos, len);
  }

  /**
   * A read of `fd` got no answer within the caller's deadline: its next reads fail at once
   * with `error` for a moment, since the kernel retries a failed page immediately and the
   * caller would otherwise wait a second deadline.
   */
  noteReadTimeout(fd: number, error: Error): void {
    this.reads.noteReadTimeout(fd, error);
  }

  /**
   * A reader's release frees its handle; the last release of a file open for writing commits it
   * (see OpenFiles.release: a failure then is logged, not answered).
   */
  release(fd: number): void | Promise<void> {
    if (!this.reads.release(fd)) return this.files.release(fd);
  }

  /** A new file; a name that exists in S3 after all is opened as it is (see WriteOperations.create). */
  create(path: string): Promise<number> {
    return this.writes.create(path);
  }

  /** Writes `data` at `pos`; resolves with the byte count (all of it, or an errno). */
  write(fd: number, pos: number, data: Buffer): Promise<number> {
    return this.writes.write(fd, pos, data);
  }

  /** close() of one descriptor: a writer's bytes go to S3 now, once written to (see WriteOperations.flush). */
  flush(fd: number): Promise<void> {
    return this.writes.flush(fd);
  }

  /** fsync: what the file holds goes to S3 now, written to or not. */
  fsync(fd: number): Promise<void> {
    return this.writes.fsync(fd);
  }

  /** ftruncate: through the handle's OpenFile. */
  ftruncate(fd: number, size: number): Promise<void> {
    return this.writes.ftruncate(fd, size);
  }

  /** truncate(2) by path: the OpenFile when the path is open, else a change committed at once. */
  truncate(path: string, size: number): Promise<void> {
    return this.writes.truncate(path, size);
  }

  unlink(path: string): Promise<void> {
    return this.writes.unlink(path);
  }

  /** A `dir/` marker object, so that the empty folder exists for every node. */
  mkdir(path: string): Promise<void> {
    return this.writes.mkdir(path);
  }

  rmdir(path: string): Promise<void> {
    return this.writes.rmdir(path);
  }

  /** Copy then delete, of a file or a folder of up to RENAME_FOLDER_LIMIT objects (see WriteOperations.rename). */
  rename(from: string, to: string): Promise<void> {
    return this.writes.rename(from, to);
  }

  /**
   * chmod, chown, utimens: S3 keeps no modes, owners or times of ours (an object's time is its
   * upload's). They succeed and change nothing, so that `cp -a`, `tar x` and `rsync -a` work;
   * a name that does not exist still answers ENOENT.
   */
  async setattr(path: string): Promise<void> {
    const r = this.buckets.resolve(path);
    if (r.kind === 'bucket') this.writes.writable(r.value, path);
    await this.getattr(path);
  }

  /** Forget cached metadata of the object behind a handle (its etag no longer matches). */
  invalidate(path: string): void {
    const r = this.buckets.resolve(path);
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
    this.reads.releaseAll();
    // Bytes no flush committed are lost, as a crashed process's: abort their uploads (no orphan parts).
    this.files.discardAll();
    this.buckets.close();
  }

  private namespaceFor(store: ObjectStore, mount: BucketMount): BucketNamespace {
    const name = mount.name;
    const namespace = new BucketNamespace({
      store,
      prefix: mount.prefix,
      ...(mount.maxFolderEntries !== undefined ? { maxFolderEntries: mount.maxFolderEntries } : {}),
      statCacheTtlMs: mount.statCacheTtlMs,
      negativeCacheTtlMs: mount.negativeCacheTtlMs,
      dirMtimeMs: this.startedAtMs,
      onSkippedKey: (key, why) => this.onSkippedKey(name, key, why),
      firstBytesSize: () => this.reads.firstBytesSize(),
      onFirstBytes: (entry, data) => this.reads.keepFirstBytes(store, entry, data),
      clock: this.clock,
      // Background work of a bucket since removed fails against its destroyed store: not news.
      onBackgroundError: (what, err) => {
        if (this.buckets.storeOf(name) === store) this.onBackgroundError(`${name}: ${what}`, err);
      },
    });
    if (this.warmUp) namespace.warmUp();
    return namespace;
  }

  private allocateHandle(): number {
    // fuse-native treats 0 as "no handle"; wrap well before 2^31.
    let fd = this.nextHandle;
    while (this.reads.has(fd) || this.files.has(fd)) fd = fd >= 0x7fffffff ? 1 : fd + 1;
    this.nextHandle = fd >= 0x7fffffff ? 1 : fd + 1;
    return fd;
  }

  private virtualDirAttr(): Attr {
    return virtualDirAttr(this.buckets.firstMount(), this.startedAtMs);
  }
}
