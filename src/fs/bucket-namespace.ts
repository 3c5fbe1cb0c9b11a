/**
 * The metadata view of one bucket (or bucket prefix): names → entries, served from a cache fed
 * by ListObjectsV2 pages.
 *
 * Rules (also in docs/SEMANTICS.md):
 * - A prefix with at least one key under it is a directory, marker object (`dir/`) or not.
 * - When `a` is an object and `a/…` keys exist too, the directory wins and the object `a` is not
 *   shown (the same choice as mountpoint-s3): listings and lookups agree on it.
 * - A listing is trusted for `statCacheTtlMs`, and answers lookups of its children (including
 *   "no such name") for that long, so `ls -l` costs one LIST per 1000 entries, never a HEAD each.
 * - A lookup outside a fresh listing costs one HEAD and one LIST (max 1 key) in parallel; a miss
 *   is remembered for `negativeCacheTtlMs`. From the second such lookup in one directory on,
 *   the directory is listed instead (up to LOOKUP_LIST_PAGES pages), because programs that
 *   open one file of a folder usually open its siblings next (data loaders, `find -exec`).
 * - After a listing that has subfolders, the whole tree below is listed flat (no delimiter) in
 *   the background when it fits TREE_PAGES pages, and every folder in it gets its listing: a
 *   walk (`find`, `du`, a dataset scan) then costs a few requests instead of one per folder.
 *   A larger tree has its first subfolders listed one by one instead.
 * - Concurrent identical lookups and listings share one request.
 * - Memory is bounded by bytes: cached listings and lookups each have a byte budget (estimated
 *   from the lengths of names, keys and etags), a folder listing stops after `maxListingPages`
 *   pages (readdir then shows the first entries, in key order, with one warning per folder;
 *   a lookup of any other name still asks S3), and every other table is an LRU of bounded size.
 * - A listing that fails part-way caches nothing; a continuation token that repeats within one
 *   listing ends it with an 'invalid-response' error instead of a loop.
 */
import { LRUCache } from 'lru-cache';
import type { ListPage, ObjectStore } from '../store/object-store.js';
import { type Clock, systemClock } from '../clock.js';
import { StoreError } from '../store/store-error.js';
import { type DirChild, type DirEntry, type Entry, type FileEntry, nameProblem } from './entry.js';

export interface BucketNamespaceOptions {
  readonly store: ObjectStore;
  /** `''` or a key prefix ending in `/`. */
  readonly prefix: string;
  readonly statCacheTtlMs: number;
  readonly negativeCacheTtlMs: number;
  /** mtime reported for directories (S3 has none): the time the mount started. */
  readonly dirMtimeMs: number;
  /** Called once per key that cannot be shown as a name. */
  readonly onSkippedKey?: (key: string, why: string) => void;
  /**
   * A lookup that asks S3 directly fetches the object's first `firstBytesSize` bytes in the same
   * round trip (0: a plain HEAD) and hands them to `onFirstBytes`: a lookup by path is usually
   * followed by an open and a read, whose first bytes are then already here.
   */
  readonly firstBytesSize?: number | (() => number);
  readonly onFirstBytes?: (entry: FileEntry, data: Buffer) => void;
  /** Time for TTLs (tests inject a ManualClock). */
  readonly clock?: Clock;
  /** Told of each failure of background work (prefetch, tree listings); never thrown. */
  readonly onBackgroundError?: (what: string, err: unknown) => void;
  /** Byte budget of cached folder listings (estimated; default LISTING_CACHE_BYTES). */
  readonly listingCacheBytes?: number;
  /** Byte budget of cached lookups, found and not found (estimated; default LOOKUP_CACHE_BYTES). */
  readonly lookupCacheBytes?: number;
  /** Pages (1,000 entries each) a readdir lists at most with attributes; default MAX_LISTING_PAGES. */
  readonly maxListingPages?: number;
  /**
   * Entries a readdir shows at most (default: what `maxListingPages` holds). Beyond
   * `maxListingPages`, the names are streamed from S3 without attributes, up to this count.
   */
  readonly maxFolderEntries?: number;
}

interface Listing {
  /** Sorted by name (UTF-16 code units, as `<` compares). */
  readonly children: readonly DirChild[];
  /** false: the folder has more entries than these (readdir shows these; lookups of others ask S3). */
  readonly complete: boolean;
  /** Estimated heap bytes, for the byte budget. */
  readonly bytes: number;
}

export const LISTING_CACHE_BYTES = 32 * 1024 * 1024;
export const LOOKUP_CACHE_BYTES = 8 * 1024 * 1024;
/**
 * 50,000 entries. Measured on Node 20: a cached listing costs about 310 bytes an entry (16 MiB
 * here), its readdir answer about as much again while it is built and handed over; so a folder
 * of a million objects keeps the process within cache-size + 150 MiB (see metadata-memory.test).
 */
export const MAX_LISTING_PAGES = 50;
/**
 * Heap bytes of one name of such a readdir beyond its characters: the string, its array slot,
 * and the garbage of the page it came from until it is collected (measured: about 120 bytes a
 * 36-character name, held; 240 at the peak).
 */
const NAME_BYTES = 200;
/** Each small table (folder names as keys) and the set of warned keys. */
const TABLE_BYTES = 1024 * 1024;

const LIST_PAGE = 1000;
/** A directory larger than this many pages is never listed just to answer a lookup. */
const LOOKUP_LIST_PAGES = 10;
/** A folder's whole tree is listed flat (no delimiter) in the background when it fits this many pages. */
const TREE_PAGES = 5;
/** Subfolders listed in the background after a listing (a tree walk visits them next). */
const PREFETCH_SUBDIRS = 16;
/** Background listings in flight at most, for the whole bucket. */
const PREFETCH_CONCURRENCY = 4;
/** Lookups outside a listing, per directory, before the directory is listed. */
const LOOKUPS_BEFORE_LISTING = 2;

export class BucketNamespace {
  private readonly store: ObjectStore;
  private readonly prefix: string;
  /** TTLs and the readdir bound can be retuned while the mount serves (see retune). */
  private statTtl: number;
  private negativeTtl: number;
  private readonly dir: DirEntry;
  private readonly onSkippedKey: (key: string, why: string) => void;
  /** rel path ('' = root, 'a/b') → entry, or `{ kind: 'none' }` for "does not exist". */
  private readonly lookups: LRUCache<string, Entry | { kind: 'none' }>;
  /** rel dir path → its children. */
  private readonly listings: LRUCache<string, Listing>;
  private readonly pendingLookups = new Map<string, Promise<Entry | undefined>>();
  private readonly pendingListings = new Map<string, Promise<Listing | undefined>>();
  /** Directory → lookups answered without a listing lately. */
  private readonly lookupsByDir: LRUCache<string, number>;
  /** Directories found too large to list for a lookup. */
  private readonly largeDirs: LRUCache<string, true>;
  /** Keys (and folders) already warned about: remembered while the table holds them. */
  private readonly warnedKeys: LRUCache<string, true>;
  private prefetching = 0;
  /** Flat listings of whole trees in flight, by the folder they start at. */
  private readonly pendingTrees = new Map<string, Promise<boolean>>();
  /** Folders whose tree was too large to list flat. */
  private readonly largeTrees: LRUCache<string, true>;
  /** Folders whose whole tree was listed flat (their subfolders' listings came with it). */
  private readonly listedTrees: LRUCache<string, true>;
  private readonly firstBytesSize: () => number;
  private readonly onFirstBytes: (entry: FileEntry, data: Buffer) => void;
  private readonly onBackgroundError: (what: string, err: unknown) => void;
  private readonly maxListingPages: number;
  private maxFolderEntries: number;
  /** Counts our own changes (noteFile, noteDir, noteGone). */
  private changes = 0;
  /**
   * Path (and its folder) → the count at our last change of it: an answer from S3 asked for
   * before that change is older than what we know, and is not cached over it.
   */
  private readonly changedAt: LRUCache<string, number>;

  constructor(opts: BucketNamespaceOptions) {
    this.store = opts.store;
    this.prefix = opts.prefix;
    this.statTtl = Math.max(1, opts.statCacheTtlMs);
    this.negativeTtl = Math.max(1, opts.negativeCacheTtlMs);
    this.dir = { kind: 'dir', mtimeMs: opts.dirMtimeMs };
    this.onSkippedKey = opts.onSkippedKey ?? (() => undefined);
    const size = opts.firstBytesSize ?? 0;
    this.firstBytesSize = typeof size === 'number' ? () => size : size;
    this.onFirstBytes = opts.onFirstBytes ?? (() => undefined);
    this.onBackgroundError = opts.onBackgroundError ?? (() => undefined);
    this.maxListingPages = Math.max(1, opts.maxListingPages ?? MAX_LISTING_PAGES);
    this.maxFolderEntries = this.folderEntriesBound(opts.maxFolderEntries);
    const clock = opts.clock ?? systemClock;
    // TTLs run on the injected clock; a resolution of 0 reads it at every check (no timer).
    const timed = { ttl: this.statTtl, ttlAutopurge: false, ttlResolution: 0, perf: { now: () => clock.now() } } as const;
    this.lookups = new LRUCache({ ...timed, maxSize: opts.lookupCacheBytes ?? LOOKUP_CACHE_BYTES, sizeCalculation: lookupBytes });
    this.listings = new LRUCache({ ...timed, maxSize: opts.listingCacheBytes ?? LISTING_CACHE_BYTES, sizeCalculation: (l) => l.bytes });
    const table = { ...timed, maxSize: TABLE_BYTES, sizeCalculation: (_: unknown, key: string) => keyBytes(key) };
    this.lookupsByDir = new LRUCache<string, number>(table);
    this.largeDirs = new LRUCache<string, true>(table);
    this.largeTrees = new LRUCache<string, true>(table);
    this.listedTrees = new LRUCache<string, true>(table);
    this.warnedKeys = new LRUCache<string, true>({ maxSize: TABLE_BYTES, sizeCalculation: (_, key) => keyBytes(key) });
    this.changedAt = new LRUCache<string, number>({ maxSize: TABLE_BYTES, sizeCalculation: (_, key) => keyBytes(key) });
  }

  /** The entry at `rel` (segments joined by `/`, '' for the root), or undefined. */
  async lookup(rel: string): Promise<Entry | undefined> {
    if (rel === '') return this.dir;
    const cached = this.lookups.get(rel);
    if (cached) return cached.kind === 'none' ? undefined : cached;

    const slash = rel.lastIndexOf('/');
    const parent = slash < 0 ? '' : rel.slice(0, slash);
    const name = rel.slice(slash + 1);
    const listing = this.listings.get(parent) ?? (await this.siblingsListing(parent));
    if (listing) {
      const found = childNamed(listing, name);
      // A folder listed only in part knows the names it has, not the ones it lacks.
      if (found || listing.complete) return found;
    }

    let pending = this.pendingLookups.get(rel);
    if (!pending) {
      pending = this.fetchEntry(rel).finally(() => this.pendingLookups.delete(rel));
      this.pendingLookups.set(rel, pending);
    }
    return pending;
  }

  /** A listing of `dir` worth waiting for to answer a lookup in it, if any (see the rules). */
  private async siblingsListing(dir: string): Promise<Listing | undefined> {
    await this.treeCovering(dir);
    const fromTree = this.listings.get(dir);
    if (fromTree) return fromTree;
    const inFlight = this.pendingListings.get(dir);
    if (inFlight) return inFlight;
    if (this.largeDirs.has(dir)) return undefined;
    const seen = (this.lookupsByDir.get(dir) ?? 0) + 1;
    this.lookupsByDir.set(dir, seen, { ttl: this.statTtl });
    if (seen < LOOKUPS_BEFORE_LISTING) return undefined;
    return this.sharedListing(dir, LOOKUP_LIST_PAGES, false);
  }

  /** `keepPartial`: a folder larger than `maxPages` pages gives its first entries (else undefined). */
  private sharedListing(dir: string, maxPages: number, keepPartial: boolean): Promise<Listing | undefined> {
    let pending = this.pendingListings.get(dir);
    if (!pending) {
      pending = this.fetchListing(dir, maxPages, keepPartial).finally(() => this.pendingListings.delete(dir));
      this.pendingListings.set(dir, pending);
    }
    return pending;
  }

  /**
   * The children of the directory at `rel`, sorted by name: all of them, or the first
   * `maxListingPages` pages of a larger folder (warned once).
   */
  async list(rel: string): Promise<readonly DirChild[]> {
    return (await this.listing(rel)).children;
  }

  /**
   * What readdir shows: every child with its entry when the folder fits `maxListingPages`.
   * A larger folder shows the first entries of that listing, or, when `maxFolderEntries` allows
   * more, its names up to that count, listed again from S3 and not kept, without entries (a name
   * costs about 250 bytes that way while the answer is built, instead of thousands cached; a
   * lookup of each name then asks S3). `reserve` is told the estimated bytes of those names as
   * they come, so that the caller can make room for them in the shared budget.
   */
  async readdir(rel: string, reserve: (bytes: number) => void = () => undefined): Promise<{ readonly names: string[]; readonly entries?: readonly Entry[] }> {
    const listing = await this.listing(rel);
    if (listing.complete || this.maxFolderEntries <= listing.children.length) {
      const shown = listing.children.slice(0, this.maxFolderEntries);
      return { names: shown.map((c) => c.name), entries: shown.map((c) => c.entry) };
    }
    return { names: await this.streamNames(rel, reserve) };
  }

  private async listing(rel: string): Promise<Listing> {
    if (!this.listings.has(rel)) await this.treeCovering(rel);
    let listing = this.listings.get(rel) ?? (await this.pendingListings.get(rel));
    // A listing started for a lookup may have stopped early (a large directory): list it as far as allowed.
    listing ??= await this.sharedListing(rel, this.maxListingPages, true);
    if (!listing) throw new Error(`listing of "${rel}" ended early`); // keepPartial: never
    this.prefetchBelow(rel, listing);
    return listing;
  }

  /** The names of a folder too large to keep as a listing, from a fresh walk of its pages. */
  private async streamNames(rel: string, reserve: (bytes: number) => void): Promise<string[]> {
    const dirPrefix = rel === '' ? this.prefix : `${this.prefix}${rel}/`;
    const files: string[] = [];
    const dirs = new Set<string>();
    const maxPages = Math.ceil(this.maxFolderEntries / LIST_PAGE);
    const complete = await this.forEachPage(dirPrefix, '/', maxPages, (page) => {
      let bytes = 0;
      for (const obj of page.objects) bytes += NAME_BYTES + obj.key.length;
      reserve(bytes);
      for (const obj of page.objects) {
        const name = obj.key.slice(dirPrefix.length);
        if (name !== '' && !this.skip(obj.key, name)) files.push(ownString(name));
      }
      for (const p of page.prefixes) {
        const name = p.slice(dirPrefix.length, -1);
        if (!this.skip(p, name)) dirs.add(ownString(name));
      }
    });
    // A folder wins over a same-named object, as everywhere else.
    const names = dirs.size === 0 ? files : files.filter((n) => !dirs.has(n));
    for (const d of dirs) names.push(d);
    if (dirs.size > 0) names.sort();
    if (!complete || names.length > this.maxFolderEntries) {
      names.length = Math.min(names.length, this.maxFolderEntries);
      this.warnOnce(
        `${dirPrefix}\0stream`,
        dirPrefix,
        `folder has more than ${names.length} entries: readdir shows the first ${names.length} (option max-folder-entries); other names can still be opened by path`,
      );
    }
    return names;
  }

  /** Waits for a flat listing in flight that covers `rel`, if any. */
  private async treeCovering(rel: string): Promise<void> {
    for (const dir of selfAndAncestors(rel)) {
      const tree = this.pendingTrees.get(dir);
      if (tree) {
        await tree;
        return;
      }
    }
  }

  /**
   * After a listing with subfolders: list the whole tree below flat, in the background, when it
   * is small (a walk then costs a few requests instead of one per folder); else list the first
   * subfolders one by one.
   */
  private prefetchBelow(rel: string, listing: Listing): void {
    let hasDirs = false;
    for (const c of listing.children) if (c.entry.kind === 'dir') hasDirs = true;
    if (!hasDirs) return;
    if (selfAndAncestors(rel).some((dir) => this.listedTrees.has(dir) || this.pendingTrees.has(dir))) return;
    if (this.largeTrees.has(rel)) {
      this.prefetchSubdirs(rel, listing);
      return;
    }
    const tree = this.fetchTree(rel)
      .catch((err: unknown) => {
        // Nobody waits for it: tell, then fall back to listing the subfolders one by one.
        this.backgroundFailed(`flat listing of the tree below ${folderLabel(rel)}`, err);
        return false;
      })
      .finally(() => this.pendingTrees.delete(rel));
    this.pendingTrees.set(rel, tree);
    void tree.then((complete) => {
      if (!complete) this.prefetchSubdirs(rel, listing);
    });
  }

  /** Lists everything under `rel` flat and caches a listing for every folder in it. */
  private async fetchTree(rel: string): Promise<boolean> {
    const base = rel === '' ? this.prefix : `${this.prefix}${rel}/`;
    const since = this.changes;
    const files = new Map<string, Map<string, Entry>>();
    const subdirs = new Map<string, Set<string>>();
    const folder = (dir: string): void => {
      if (!subdirs.has(dir)) subdirs.set(dir, new Set());
      if (!files.has(dir)) files.set(dir, new Map());
    };
    folder(rel);
    const complete = await this.forEachPage(base, undefined, TREE_PAGES, (page) => {
      for (const obj of page.objects) {
        const segs = obj.key.slice(base.length).split('/');
        const leaf = segs.pop() as string; // '' for a folder marker
        let dir = rel;
        let shown = true;
        for (const seg of segs) {
          if (this.skip(obj.key, seg)) {
            shown = false;
            break;
          }
          (subdirs.get(dir) as Set<string>).add(seg);
          dir = dir === '' ? seg : `${dir}/${seg}`;
          folder(dir);
        }
        if (!shown || leaf === '' || this.skip(obj.key, leaf)) continue;
        (files.get(dir) as Map<string, Entry>).set(leaf, { kind: 'file', key: obj.key, size: obj.size, etag: obj.etag, mtimeMs: obj.mtimeMs });
      }
    });
    if (!complete) {
      this.largeTrees.set(rel, true, { ttl: this.statTtl });
      return false;
    }

    for (const [dir, names] of subdirs) this.commitListing(dir, files.get(dir) as Map<string, Entry>, names, true, since);
    this.listedTrees.set(rel, true, { ttl: this.statTtl });
    return true;
  }

  /**
   * Lists the first subfolders of a folder just listed, a few at a time, in the background:
   * `find`, `du` and data-loader scans walk into them next, one at a time, and would otherwise
   * pay one LIST round trip per folder in sequence.
   */
  private prefetchSubdirs(rel: string, listing: Listing): void {
    const queue: string[] = [];
    for (const { name, entry } of listing.children) {
      if (entry.kind !== 'dir') continue;
      const child = rel === '' ? name : `${rel}/${name}`;
      if (!this.listings.has(child) && !this.pendingListings.has(child) && !this.largeDirs.has(child)) queue.push(child);
      if (queue.length === PREFETCH_SUBDIRS) break;
    }
    const next = (): void => {
      while (this.prefetching < PREFETCH_CONCURRENCY && queue.length > 0) {
        const child = queue.shift() as string;
        if (this.listings.has(child) || this.pendingListings.has(child)) continue;
        this.prefetching++;
        this.sharedListing(child, LOOKUP_LIST_PAGES, false)
          // Told, and otherwise harmless: nothing was cached, so the walk will ask again.
          .catch((err: unknown) => this.backgroundFailed(`prefetch of folder ${folderLabel(child)}`, err))
          .finally(() => {
            this.prefetching--;
            next();
          });
      }
    };
    next();
  }

  /**
   * Lists the root in the background, as lookups there would after a couple of them: the first
   * lookups of a fresh mount (a path's first folder, a file at the root) are then answered
   * without a round trip of their own, and a lookup made meanwhile waits for this listing.
   * A failure is left to the lookups that follow, which ask S3 themselves.
   */
  warmUp(): void {
    this.sharedListing('', LOOKUP_LIST_PAGES, false).catch(() => undefined);
  }

  /**
   * New TTLs and readdir bound from now on (a config reload changed the mount's tuning). What is
   * cached stays, each entry with the TTL it was cached with: a retune costs no request.
   */
  retune(tuning: { readonly statCacheTtlMs: number; readonly negativeCacheTtlMs: number; readonly maxFolderEntries?: number | undefined }): void {
    this.statTtl = Math.max(1, tuning.statCacheTtlMs);
    this.negativeTtl = Math.max(1, tuning.negativeCacheTtlMs);
    this.maxFolderEntries = this.folderEntriesBound(tuning.maxFolderEntries);
  }

  private folderEntriesBound(maxFolderEntries: number | undefined): number {
    return Math.max(1, maxFolderEntries ?? this.maxListingPages * LIST_PAGE);
  }

  /**
   * Our own write of a file at `rel` (created, committed, copied here): lookups and the cached
   * listings of its folder and of the folders above it show it at once, as does every later
   * lookup, without asking S3 (other nodes see it when their TTLs end).
   */
  noteFile(rel: string, info: { readonly size: number; readonly etag: string; readonly mtimeMs: number }): void {
    this.changed(rel);
    const entry: FileEntry = { kind: 'file', key: this.keyOf(rel), size: info.size, etag: info.etag, mtimeMs: info.mtimeMs };
    this.lookups.set(rel, entry, { ttl: this.statTtl });
    this.placeInParent(rel, entry);
  }

  /** Our own mkdir (`empty`: its listing is known) or a folder our rename made: shown at once. */
  noteDir(rel: string, empty: boolean): void {
    this.changed(rel);
    this.lookups.set(rel, this.dir, { ttl: this.statTtl });
    if (empty) this.commitListing(rel, new Map(), new Set(), true);
    this.placeInParent(rel, this.dir);
  }

  /**
   * Our own unlink, rmdir or rename away: `rel` answers "no such name" at once. A folder that
   * only existed through the key removed (no marker) is gone from S3 too, but the cached
   * listing above it keeps it until its TTL: the same thing other nodes see.
   */
  noteGone(rel: string): void {
    this.changed(rel);
    this.lookups.set(rel, { kind: 'none' }, { ttl: this.negativeTtl });
    this.listings.delete(rel);
    const { parent, name } = splitRel(rel);
    const listing = this.listings.get(parent);
    if (!listing) return;
    const children = listing.children.filter((c) => c.name !== name);
    if (children.length !== listing.children.length) this.replaceListing(parent, listing, children);
  }

  /** Forget everything cached at or below the folder `rel` (a folder renamed away or onto). */
  forgetTree(rel: string): void {
    const below = `${rel}/`;
    for (const key of [...this.lookups.keys()]) if (key === rel || key.startsWith(below)) this.lookups.delete(key);
    for (const key of [...this.listings.keys()]) if (key === rel || key.startsWith(below)) this.listings.delete(key);
    for (const key of [...this.listedTrees.keys()])
      if (key === rel || key.startsWith(below) || rel.startsWith(`${key}/`) || key === '') this.listedTrees.delete(key);
  }

  private changed(rel: string): void {
    const n = ++this.changes;
    for (const dir of selfAndAncestors(rel)) this.changedAt.set(dir, n);
  }

  /** Whether we changed `rel` (or something in it, for a folder) after our change count was `since`. */
  private changedSince(rel: string, since: number): boolean {
    return (this.changedAt.get(rel) ?? 0) > since;
  }

  /** `rel` (with `entry`) in its parent's cached listing, and each missing folder above it in theirs. */
  private placeInParent(rel: string, entry: Entry): void {
    let child = rel;
    let childEntry: Entry = entry;
    while (child !== '') {
      const { parent, name } = splitRel(child);
      // A folder above a new name exists now, whatever was cached about it.
      if (parent !== '' && this.lookups.get(parent)?.kind !== 'dir') this.lookups.set(parent, this.dir, { ttl: this.statTtl });
      const listing = this.listings.get(parent);
      if (listing) {
        const children = listing.children.slice();
        const i = insertionIndex(children, name);
        const there = children[i];
        if (there?.name === name) {
          // A folder stays a folder when a same-named file is written (the folder wins, as in listings).
          if (there.entry.kind === 'dir' && childEntry.kind === 'file') return;
          children[i] = { name, entry: childEntry };
          this.replaceListing(parent, listing, children);
          if (childEntry.kind === 'file') return;
        } else {
          children.splice(i, 0, { name, entry: childEntry });
          this.replaceListing(parent, listing, children);
        }
      }
      child = parent;
      childEntry = this.dir;
    }
  }

  private replaceListing(dir: string, old: Listing, children: DirChild[]): void {
    let bytes = LISTING_BYTES;
    for (const c of children) bytes += childBytes(c.name, c.entry);
    // It keeps the time it was listed at: what it says of other names is no fresher than that.
    this.listings.set(dir, { children, complete: old.complete, bytes }, { ttl: Math.max(1, this.listings.getRemainingTTL(dir)) });
  }

  /** Forget what is known of `rel` (after a 412: the object changed). */
  invalidate(rel: string): void {
    this.lookups.delete(rel);
    const slash = rel.lastIndexOf('/');
    this.listings.delete(slash < 0 ? '' : rel.slice(0, slash));
  }

  private keyOf(rel: string): string {
    return this.prefix + rel;
  }

  private async fetchEntry(rel: string): Promise<Entry | undefined> {
    const key = this.keyOf(rel);
    const since = this.changes;
    // Both questions at once: one round trip decides file, directory or nothing.
    const firstBytesSize = this.firstBytesSize();
    const [answer, children] = await Promise.all([
      firstBytesSize > 0 ? this.store.getFirstBytes(key, firstBytesSize) : this.store.head(key).then((info) => (info ? { info, data: undefined } : undefined)),
      this.store.list({ prefix: `${key}/`, maxKeys: 1 }),
    ]);
    let entry: Entry | undefined;
    if (children.objects.length > 0 || children.prefixes.length > 0) entry = this.dir;
    else if (answer) {
      const { info, data } = answer;
      const file: FileEntry = { kind: 'file', key, size: info.size, etag: info.etag, mtimeMs: info.mtimeMs };
      if (data) this.onFirstBytes(file, data);
      entry = file;
    }
    if (this.changedSince(rel, since)) {
      // We changed it while S3 was asked: what we noted is newer than this answer.
      const noted = this.lookups.get(rel);
      return noted === undefined || noted.kind === 'none' ? undefined : noted;
    }
    if (entry) this.lookups.set(rel, entry, { ttl: this.statTtl });
    else this.lookups.set(rel, { kind: 'none' }, { ttl: this.negativeTtl });
    return entry;
  }

  /**
   * Lists `rel` whole; or, after `maxPages` pages, gives up (undefined), or with `keepPartial`
   * gives what it listed, marked incomplete.
   */
  private async fetchListing(rel: string, maxPages: number, keepPartial: boolean): Promise<Listing | undefined> {
    const dirPrefix = rel === '' ? this.prefix : `${this.prefix}${rel}/`;
    const since = this.changes;
    const files = new Map<string, Entry>();
    const dirs = new Set<string>();
    const complete = await this.forEachPage(dirPrefix, '/', maxPages, (page) => {
      for (const obj of page.objects) {
        const name = obj.key.slice(dirPrefix.length);
        if (name === '') continue; // the directory's own marker object
        if (this.skip(obj.key, name)) continue;
        files.set(name, { kind: 'file', key: obj.key, size: obj.size, etag: obj.etag, mtimeMs: obj.mtimeMs });
      }
      for (const p of page.prefixes) {
        const name = p.slice(dirPrefix.length, -1);
        if (this.skip(p, name)) continue;
        dirs.add(name);
      }
    });
    if (!complete) {
      this.largeDirs.set(rel, true, { ttl: this.statTtl });
      if (!keepPartial) return undefined;
      const shown = files.size + dirs.size;
      this.warnOnce(
        `${dirPrefix}\0listing`,
        dirPrefix,
        this.maxFolderEntries > shown
          ? `folder has more than ${shown} entries: readdir lists its names afresh each time, without attributes, up to max-folder-entries (${this.maxFolderEntries})`
          : `folder has more than ${shown} entries: readdir shows the first ${shown}; set option max-folder-entries to show more (about 250 bytes of memory a name while listed); other names can still be opened by path`,
      );
    }
    return this.commitListing(rel, files, dirs, complete, since);
  }

  /**
   * Hands each ListObjectsV2 page of `prefix` to `onPage`; false when there were more than
   * `maxPages`. A continuation token seen before in this listing would loop forever: it ends the
   * listing with an 'invalid-response' error.
   */
  private async forEachPage(prefix: string, delimiter: string | undefined, maxPages: number, onPage: (page: ListPage) => void): Promise<boolean> {
    let token: string | undefined;
    const seen = new Set<string>();
    for (let pages = 0; pages < maxPages; pages++) {
      if (token !== undefined) {
        if (seen.has(token)) throw new StoreError('invalid-response', `LIST ${prefix}: the server repeated a continuation token (page ${pages + 1})`);
        seen.add(token);
      }
      const page = await this.store.list({
        prefix,
        maxKeys: LIST_PAGE,
        ...(delimiter !== undefined ? { delimiter } : {}),
        ...(token !== undefined ? { continuationToken: token } : {}),
      });
      onPage(page);
      token = page.nextToken;
      if (token === undefined) return true;
    }
    return false;
  }

  /**
   * Caches the listing of `dir` (it answers lookups of its children too): a folder wins over a
   * same-named object. A listing larger than the whole budget is returned but not kept, and so
   * is one asked for before our own change of something in `dir` (change count `since`).
   */
  private commitListing(dir: string, files: ReadonlyMap<string, Entry>, dirs: ReadonlySet<string>, complete: boolean, since = Infinity): Listing {
    const names = [...files.keys()];
    for (const name of dirs) if (!files.has(name)) names.push(name);
    names.sort();
    let bytes = LISTING_BYTES;
    const children = names.map((name): DirChild => {
      const entry = dirs.has(name) ? this.dir : (files.get(name) as Entry);
      bytes += childBytes(name, entry);
      return { name, entry };
    });
    const listing: Listing = { children, complete, bytes };
    if (!this.changedSince(dir, since)) this.listings.set(dir, listing, { ttl: this.statTtl });
    return listing;
  }

  private backgroundFailed(what: string, err: unknown): void {
    try {
      this.onBackgroundError(what, err);
    } catch {
      // a failing sink must not turn into an unhandled rejection
    }
  }

  private skip(key: string, name: string): boolean {
    const why = nameProblem(name);
    if (why === undefined) return false;
    this.warnOnce(key, key, why);
    return true;
  }

  /** Tells `onSkippedKey` once per `id` (while the bounded table remembers it). */
  private warnOnce(id: string, key: string, why: string): void {
    if (this.warnedKeys.has(id)) return;
    this.warnedKeys.set(id, true);
    this.onSkippedKey(key, why);
  }
}

/** `a/b/c` → parent `a/b`, name `c`; `c` → parent `` (the root). */
function splitRel(rel: string): { parent: string; name: string } {
  const slash = rel.lastIndexOf('/');
  return { parent: slash < 0 ? '' : rel.slice(0, slash), name: rel.slice(slash + 1) };
}

/** Where `name` is, or goes, in sorted children (same order as `<`). */
function insertionIndex(children: readonly DirChild[], name: string): number {
  let lo = 0;
  let hi = children.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((children[mid] as DirChild).name < name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The child of `listing` called `name`, by binary search. */
function childNamed(listing: Listing, name: string): Entry | undefined {
  const c = listing.children;
  let lo = 0;
  let hi = c.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const at = (c[mid] as DirChild).name;
    if (at === name) return (c[mid] as DirChild).entry;
    if (at < name) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

/*
 * Heap estimates, for the byte budgets. Measured on Node 20 (64-bit): a string costs a 16-byte
 * header plus one byte a character (two outside Latin-1), rounded to 8; an object 24 bytes plus
 * 8 a field; a double outside the small-integer range a 16-byte box. They err on the high side.
 */
const LISTING_BYTES = 200;
const STRING_HEADER = 24;
function stringBytes(s: string): number {
  return STRING_HEADER + (/[\u0100-\uffff]/.test(s) ? 2 : 1) * s.length;
}
/** A listing row: the DirChild (40) and its array slot (8), the name (a slice of the key, 32, or its own string), the entry. */
function childBytes(name: string, entry: Entry): number {
  return 48 + Math.max(32, stringBytes(name)) + (entry.kind === 'file' ? fileBytes(entry) : 0);
}
/** A FileEntry: the object (5 fields, 64), two number boxes (32), key and etag. */
function fileBytes(e: FileEntry): number {
  return 96 + stringBytes(e.key) + stringBytes(e.etag);
}
/** A cached lookup: the cache's own slots (about 100), the path, the entry. */
function lookupBytes(v: Entry | { kind: 'none' }, rel: string): number {
  return 100 + stringBytes(rel) + (v.kind === 'file' ? fileBytes(v) : 0);
}
/** A row of a table keyed by a folder path or an object key. */
function keyBytes(key: string): number {
  return 100 + stringBytes(key);
}

/** How a folder is named in a report. */
function folderLabel(rel: string): string {
  return rel === '' ? 'the root' : `"${rel}/"`;
}

/**
 * A copy of `s` that holds no reference to a longer string: V8 makes a slice of 13 characters
 * or more a view that keeps its whole parent (here: the object key) alive.
 */
function ownString(s: string): string {
  return s.length < 13 ? s : Buffer.from(s, 'utf8').toString('utf8');
}

/** `a/b/c` → `a/b/c`, `a/b`, `a`, `` (the root). */
function selfAndAncestors(rel: string): string[] {
  const out = [rel];
  for (let dir = rel; dir !== '';) {
    const slash = dir.lastIndexOf('/');
    dir = slash < 0 ? '' : dir.slice(0, slash);
    out.push(dir);
  }
  return out;
}
