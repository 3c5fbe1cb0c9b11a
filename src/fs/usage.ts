/**
 * What `df` shows. S3 has no capacity, but Fluid's metadata sync runs `df --block-size=1` on
 * targetPath and takes "Used" as the dataset's size, so Used must be the total size of the
 * objects. That total comes from a flat listing of every bucket's prefix: started by the first
 * statfs (which waits for it briefly), then refreshed in the background when older than
 * `maxAgeMs`. A scan stops after `maxPages` pages (1,000 objects each) and reports what it
 * counted so far.
 */
import type { ObjectStore } from '../store/object-store.js';
import type { Clock } from '../clock.js';

export interface UsageOptions {
  /** How old a scan may be before the next statfs starts another. */
  readonly maxAgeMs?: number;
  /** Pages (1,000 objects each) a scan may list per source before it stops and reports. */
  readonly maxPages?: number;
  readonly clock?: Clock;
  /** Told of a failed scan (never thrown: a df must not take the mount down). */
  readonly onError?: (err: unknown) => void;
}

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
  private readonly sources: readonly UsageSource[];
  private readonly maxAgeMs: number;
  private readonly maxPages: number;
  private readonly now: () => number;
  private readonly onError: (err: unknown) => void;
  private used = 0;
  private objects = 0;
  private scannedAt = -Infinity;
  private scanning: Promise<void> | undefined;

  constructor(sources: readonly UsageSource[], opts: UsageOptions & { now?: () => number } = {}) {
    this.sources = sources;
    this.maxAgeMs = opts.maxAgeMs ?? 5 * 60_000;
    this.maxPages = opts.maxPages ?? 1_000;
    const clock = opts.clock;
    this.now = opts.now ?? (clock ? () => clock.now() : Date.now);
    this.onError = opts.onError ?? (() => undefined);
  }

  /** The current answer; the first call waits up to `firstWaitMs` for the first scan. */
  async statfs(firstWaitMs = 2_000): Promise<StatFs> {
    const first = this.scannedAt === -Infinity;
    if (!this.scanning && this.now() - this.scannedAt > this.maxAgeMs) this.scanning = this.scanSafely();
    if (first && this.scanning) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.scanning, new Promise((r) => (timer = setTimeout(r, firstWaitMs)))]);
      clearTimeout(timer);
    }
    return statfsFor(this.used, this.objects);
  }

  /**
   * A scan that never rejects: nobody waits for a rescan, so a rejection would be unhandled and
   * end the process (and leave the mount dead). A failure is reported; the last figures stay.
   */
  private async scanSafely(): Promise<void> {
    try {
      await this.scan();
    } catch (err) {
      try {
        this.onError(err);
      } catch {
        // the sink's own failure must not turn into an unhandled rejection either
      }
    } finally {
      this.scanning = undefined;
    }
  }

  private async scan(): Promise<void> {
    let used = 0;
    let objects = 0;
    for (const { store, prefix } of this.sources) {
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await store.list({ prefix, maxKeys: 1000, ...(token !== undefined ? { continuationToken: token } : {}) });
        for (const o of page.objects) {
          if (o.key.endsWith('/')) continue; // folder markers are not data
          used += o.size;
          objects++;
        }
        token = page.nextToken;
      } while (token !== undefined && ++pages < this.maxPages);
    }
    this.used = used;
    this.objects = objects;
    this.scannedAt = this.now();
  }
}
