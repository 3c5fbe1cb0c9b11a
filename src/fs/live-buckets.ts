/**
 * The buckets' life in the folder tree. Buckets come and go while the mount serves (a config
 * reload; see putBucket, removeBucket, retuneBucket). A removed bucket leaves the namespace at
 * once, but files already open under it keep reading from its store until they are released, or
 * until a grace time ends (then their reads answer ESTALE); its store is destroyed at the first
 * of the two. A bucket's handles are counted here (opened, released), never listed: the
 * filesystem and its open files hold them.
 */
import type { BucketMount } from '../config/plan.js';
import type { Clock } from '../clock.js';
import type { ObjectStore } from '../store/object-store.js';
import type { BucketNamespace } from './bucket-namespace.js';
import type { UsageSource, UsageTracker } from './disk-usage.js';
import { FsError } from './errno.js';
import { FolderTree, type Resolved } from './folder-tree.js';
import type { OpenFile } from './open-files.js';

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
export interface LiveBucket {
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

export interface LiveBucketsOptions {
  readonly clock: Clock;
  /** The grace of a bucket replaced by putBucket (removeBucket is given its own). */
  readonly drainGraceMs: number;
  readonly setTimer: SetTimer;
  /** df of the serving buckets (see servingChanged). */
  readonly usage: UsageTracker;
  /** The namespace of a new serving bucket: its caches and lookups. */
  readonly newNamespace: (store: ObjectStore, mount: BucketMount) => BucketNamespace;
}

export class LiveBuckets {
  private readonly folders = new FolderTree<LiveBucket>();
  /** The buckets in the folder tree, by mount name. */
  private readonly live = new Map<string, LiveBucket>();
  /** Removed buckets whose handles are still open. */
  private readonly draining = new Set<LiveBucket>();
  private usageSources: readonly UsageSource[] = [];

  constructor(private readonly opts: LiveBucketsOptions) {}

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
    else if (old) this.retire(old, this.opts.drainGraceMs);
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

  /** Each mount's state (metrics). A name both draining and live again shows its live state. */
  bucketStates(): ReadonlyMap<string, BucketState> {
    const states = new Map<string, BucketState>();
    for (const b of this.draining) states.set(b.mount.name, 'draining');
    for (const [name, b] of this.live) states.set(name, b.state);
    return states;
  }

  /** Where `path` leads now: a bucket and the path inside it, a virtual folder, or nowhere. */
  resolve(path: string): Resolved<LiveBucket> {
    return this.folders.resolve(path);
  }

  /** Whether `bucket` is still the one its mount's name leads to (not removed or replaced). */
  isLive(bucket: LiveBucket): boolean {
    return this.live.get(bucket.mount.name) === bucket;
  }

  /** Removed buckets with handles still open under them. */
  drainingBuckets(): ReadonlySet<LiveBucket> {
    return this.draining;
  }

  /** The first mount in the tree, whose owner the virtual folders show. */
  firstMount(): BucketMount | undefined {
    return this.live.values().next().value?.mount;
  }

  /** The namespace of a serving bucket; for an unavailable one, its error about `path`. */
  namespaceOf(bucket: LiveBucket, path: string): BucketNamespace {
    if (bucket.namespace) return bucket.namespace;
    const error = bucket.error as FsError;
    throw new FsError(error.errno, `${path}: ${error.message}`, { cause: error });
  }

  /**
   * For a request on its way in `bucket`: when it fails because the bucket was removed meanwhile
   * (its store destroyed under it), the truth is that the path leads nowhere now.
   */
  unlessGone(bucket: LiveBucket, path: string): (err: unknown) => never {
    return (err) => {
      if (this.isLive(bucket)) throw err;
      throw new FsError('ENOENT', `${path}: no such file or directory (its mount was removed)`, { cause: err });
    };
  }

  isStale(bucket: LiveBucket): boolean {
    return bucket.staleAtMs <= this.opts.clock.now();
  }

  /** A handle (reader or writer) was opened under `bucket`. */
  opened(bucket: LiveBucket): void {
    bucket.handles++;
  }

  /** A handle under `bucket` was released: the last one of a draining bucket ends its drain. */
  released(bucket: LiveBucket): void {
    bucket.handles--;
    if (bucket.state === 'draining' && bucket.handles === 0) this.drained(bucket);
  }

  /** At unmount: every store is destroyed, each once; no drain outlives the filesystem. */
  close(): void {
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

  private liveBucket(slot: BucketSlot): LiveBucket {
    const { mount } = slot;
    const bucket: LiveBucket = {
      mount,
      state: slot.state,
      store: slot.state === 'serving' ? slot.store : undefined,
      namespace: slot.state === 'serving' ? this.opts.newNamespace(slot.store, mount) : undefined,
      error: slot.state === 'unavailable' ? slot.error : undefined,
      handles: 0,
      openFiles: new Map(),
      staleAtMs: Infinity,
      cancelDrainEnd: undefined,
      storeDone: false,
    };
    return bucket;
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
    bucket.staleAtMs = this.opts.clock.now() + Math.max(0, graceMs);
    bucket.cancelDrainEnd = this.opts.setTimer(() => this.graceEnded(bucket), Math.max(0, graceMs));
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
    this.opts.usage.setSources(sources);
  }
}

/** The answer of a handle whose bucket was removed and whose grace is over. */
export function staleError(fd: number, bucket: LiveBucket, cause?: unknown): FsError {
  return new FsError(
    'ESTALE',
    `handle ${fd}: mount "${bucket.mount.name}" was removed and its grace time for open files is over`,
    cause ? { cause } : undefined,
  );
}

/** The default SetTimer: a timer that does not keep the process alive. */
export function unrefTimer(fn: () => void, ms: number): () => void {
  const timer = setTimeout(fn, ms);
  timer.unref();
  return () => clearTimeout(timer);
}
