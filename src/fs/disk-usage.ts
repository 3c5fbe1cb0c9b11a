/**
 * What `df` shows. S3 has no capacity, but Fluid's metadata sync runs `df --block-size=1` on
 * targetPath and takes "Used" as the dataset's size, so Used must be the total size of the
 * objects. That total comes from a flat listing of every bucket's prefix, made only when a
 * statfs asks and the last scan is older than `maxAgeMs` (default 1 hour; until a first scan has
 * succeeded, a statfs that may wait waits for it briefly; one that may not wait answers at once
 * and puts the scan off a little; later ones answer the last figures at once and refresh in the
 * background).
 * A scan lists at most `maxPages` pages (1,000 objects each) per bucket and then reports what it
 * counted, marked partial. So df costs at most `maxPages` LIST requests per bucket per
 * `maxAgeMs`, whatever asks how often; a failed scan keeps the last figures and is retried after
 * 1, 2, 4, … minutes (never more often than every `maxAgeMs`).
 */
import type { ObjectStore } from '../store/object-store.js';
import type { Clock } from '../clock.js';
import { StoreError } from '../store/store-error.js';

export interface UsageOptions {
  /**
   * How old a scan may be before the next statfs starts another (default 1 hour). 0: never
   * scan; Used is 0.
   */
  readonly maxAgeMs?: number;
  /** Pages (1,000 objects each) a scan may list per source before it stops and reports (default 1,000). */
  readonly maxPages?: number;
  readonly clock?: Clock;
  /** Told of a failed scan (never thrown: a df must not take the mount down). */
  readonly onError?: (err: unknown) => void;
  /** Told when a scan stopped at `maxPages`: Used counts only the objects listed. */
  readonly onPartial?: (counted: { readonly objects: number; readonly usedBytes: number }) => void;
  /** Timers (default: setTimeout, unref'd); returns the cancel function. */
  readonly setTimer?: (fn: () => void, ms: number) => () => void;
}

export const DEFAULT_DF_SCAN_INTERVAL_MS = 60 * 60_000;
export const DEFAULT_DF_SCAN_MAX_PAGES = 1_000;
/** First wait before retrying a failed scan; doubles with each failure in a row, up to `maxAgeMs`. */
const RETRY_FIRST_MS = 60_000;
/**
 * A scan asked for by a statfs that does not wait starts this much later: that caller is a walk
 * (find, du), and a listing of every bucket would compete with it for S3 and the CPU right now.
 */
export const DEFERRED_SCAN_MS = 5_000;

export interface StatFs {
  readonly bsize: number;
  readonly frsize: number;
  readonly blocks: number;
  readonly bfree: number;
  readonly bavail: number;
  readonly files: number;
  readonly ffree: number;
  readonly favail: number;
  readonly namemax: number;
}

export interface UsageSource {
  readonly store: ObjectStore;
  readonly prefix: string;
}

const MAX_BLOCKS = 0xffffffff;

/**
 * A statfs answer whose used bytes (blocks - bfree) × frsize equal `used` exactly whenever a
 * block size of at most 4 KiB divides it and the count fits the 32-bit fields; otherwise as
 * close as those fields allow.
 */
export function statfsFor(used: number, objects: number): StatFs {
  let frsize = 4096;
  while (frsize > 1 && (used % frsize !== 0 || used / frsize > MAX_BLOCKS - 1)) frsize /= 2;
  if (used / frsize > MAX_BLOCKS - 1) {
    frsize = 4096;
    while (used / frsize > MAX_BLOCKS - 1) frsize *= 2;
  }
  const usedBlocks = Math.ceil(used / frsize);
  const free = MAX_BLOCKS - usedBlocks;
  const files = Math.min(MAX_BLOCKS, Math.max(objects * 2, 1_000_000));
  const ffree = Math.max(0, files - objects);
  return { bsize: frsize, frsize, blocks: MAX_BLOCKS, bfree: free, bavail: free, files, ffree, favail: ffree, namemax: 255 };
}

export class UsageTracker {
  private sources: readonly UsageSource[];
  /** Bumped when the sources change: a scan of older sources is thrown away. */
  private generation = 0;
  private scanningGeneration = -1;
  private readonly maxAgeMs: number;
  private readonly maxPages: number;
  private readonly now: () => number;
  private readonly onError: (err: unknown) => void;
  private readonly onPartial: (counted: { readonly objects: number; readonly usedBytes: number }) => void;
  private used = 0;
  private objects = 0;
  /** A scan has succeeded at least once. */
  private scanned = false;
  /** When the next statfs may start a scan. */
  private nextScanAtMs = -Infinity;
  private failuresInRow = 0;
  private scanning: Promise<void> | undefined;
  private readonly setTimer: (fn: () => void, ms: number) => () => void;
  /** Cancels the scan a statfs that does not wait has put off. */
  private cancelDeferred: (() => void) | undefined;

  constructor(sources: readonly UsageSource[], opts: UsageOptions & { now?: () => number } = {}) {
    this.sources = sources;
    this.maxAgeMs = opts.maxAgeMs ?? DEFAULT_DF_SCAN_INTERVAL_MS;
    this.maxPages = Math.max(1, opts.maxPages ?? DEFAULT_DF_SCAN_MAX_PAGES);
    const clock = opts.clock;
    this.now = opts.now ?? (clock ? () => clock.now() : Date.now);
    this.onError = opts.onError ?? (() => undefined);
    this.onPartial = opts.onPartial ?? (() => undefined);
    this.setTimer = opts.setTimer ?? unrefTimer;
  }

  /**
   * The current answer. While no scan has succeeded, a call waits up to `firstWaitMs` for the
   * scan in flight, started by it or by an earlier call. 0: answer at once, and start a scan that
   * is due only DEFERRED_SCAN_MS later (or at once when a call that waits comes first).
   */
  async statfs(firstWaitMs = 2_000): Promise<StatFs> {
    let current = this.currentScan();
    if (this.due()) {
      if (firstWaitMs > 0) {
        this.cancelDeferred?.();
        this.cancelDeferred = undefined;
        current = this.startScan();
      } else {
        this.cancelDeferred ??= this.setTimer(() => {
          this.cancelDeferred = undefined;
          if (this.due()) void this.startScan();
        }, DEFERRED_SCAN_MS);
      }
    }
    if (current !== undefined && !this.scanned && firstWaitMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([current, new Promise((r) => (timer = setTimeout(r, firstWaitMs)))]);
      clearTimeout(timer);
    }
    return statfsFor(this.used, this.objects);
  }

  /** No scan starts after this (the filesystem is closing). */
  close(): void {
    this.cancelDeferred?.();
    this.cancelDeferred = undefined;
  }

  private currentScan(): Promise<void> | undefined {
    return this.scanning !== undefined && this.scanningGeneration === this.generation ? this.scanning : undefined;
  }

  private due(): boolean {
    return this.maxAgeMs > 0 && this.currentScan() === undefined && this.now() >= this.nextScanAtMs;
  }

  private startScan(): Promise<void> {
    // Set before the scan so that calls meanwhile do not start another.
    this.nextScanAtMs = Infinity;
    this.scanningGeneration = this.generation;
    const scan = this.scanSafely();
    this.scanning = scan;
    return scan;
  }

  /**
   * The buckets df counts changed (a mount added or removed while serving): the next statfs
   * scans them afresh and waits for that scan as for a first one, so that df follows at once.
   */
  setSources(sources: readonly UsageSource[]): void {
    this.sources = sources;
    this.generation++;
    this.scanned = false;
    this.failuresInRow = 0;
    this.nextScanAtMs = -Infinity;
    if (sources.length === 0) {
      // Nothing to list: the answer is known.
      this.used = 0;
      this.objects = 0;
    }
  }

  /**
   * A scan that never rejects: nobody waits for a rescan, so a rejection would be unhandled and
   * end the process (and leave the mount dead). A failure is reported; the last figures stay.
   */
  private async scanSafely(): Promise<void> {
    const generation = this.generation;
    try {
      const counted = await this.scan();
      if (generation !== this.generation) return; // the sources changed meanwhile: a newer scan counts
      this.used = counted.used;
      this.objects = counted.objects;
      this.scanned = true;
      this.failuresInRow = 0;
      this.nextScanAtMs = this.now() + this.maxAgeMs;
    } catch (err) {
      if (generation !== this.generation) return;
      this.failuresInRow++;
      this.nextScanAtMs = this.now() + Math.min(this.maxAgeMs, RETRY_FIRST_MS * 2 ** Math.min(30, this.failuresInRow - 1));
      tell(this.onError, err);
    } finally {
      if (this.scanningGeneration === generation) this.scanning = undefined;
    }
  }

  private async scan(): Promise<{ used: number; objects: number }> {
    let used = 0;
    let objects = 0;
    let partial = false;
    for (const { store, prefix } of this.sources) {
      let token: string | undefined;
      let pages = 0;
      const seen = new Set<string>();
      do {
        // A server that repeats a token would keep this scan going forever.
        if (token !== undefined) {
          if (seen.has(token)) throw new StoreError('invalid-response', `LIST ${prefix}: the server repeated a continuation token (page ${pages + 1})`);
          seen.add(token);
        }
        const page = await store.list({ prefix, maxKeys: 1000, ...(token !== undefined ? { continuationToken: token } : {}) });
        for (const o of page.objects) {
          if (o.key.endsWith('/')) continue; // folder markers are not data
          used += o.size;
          objects++;
        }
        token = page.nextToken;
      } while (token !== undefined && ++pages < this.maxPages);
      if (token !== undefined) partial = true;
    }
    if (partial) tell(this.onPartial, { objects, usedBytes: used });
    return { used, objects };
  }
}

function unrefTimer(fn: () => void, ms: number): () => void {
  const timer = setTimeout(fn, ms);
  timer.unref();
  return () => clearTimeout(timer);
}

/** Calls a sink whose own failure must not become an unhandled rejection either. */
function tell<T>(sink: (arg: T) => void, arg: T): void {
  try {
    sink(arg);
  } catch {
    // nothing left to tell
  }
}
