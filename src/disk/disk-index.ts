/**
 * Which block files are on disk, their sizes, and the order they were last used in, with the sum
 * of sizes. Blocks are of two kinds, each an LRU kept in a Map's insertion order (a use moves an
 * entry to the end): `whole` blocks hold a whole small object (one block or less), the others
 * are blocks of larger objects. The kinds differ in what losing a block costs: a small file
 * comes back from S3 at a round trip per file, a large object's blocks at the link's speed with
 * parallel ranged GETs (see DiskBlockCache's admission).
 */
export interface IndexEntry {
  readonly bytes: number;
  /** When the block was last written or read (clock ms). */
  lastUse: number;
  readonly whole: boolean;
}

type Entry = [string, IndexEntry];

export class DiskIndex {
  private readonly wholes = new Map<string, IndexEntry>();
  private readonly parts = new Map<string, IndexEntry>();
  private used = 0;

  get usedBytes(): number {
    return this.used;
  }

  get size(): number {
    return this.wholes.size + this.parts.size;
  }

  get(name: string): IndexEntry | undefined {
    return this.wholes.get(name) ?? this.parts.get(name);
  }

  has(name: string): boolean {
    return this.wholes.has(name) || this.parts.has(name);
  }

  /** Marks `name` as used now: it becomes the most recently used. */
  touch(name: string, now: number): void {
    const e = this.get(name);
    if (!e) return;
    const order = this.orderOf(e);
    order.delete(name);
    e.lastUse = now;
    order.set(name, e);
  }

  /** Adds (or replaces) an entry as the most recently used. */
  add(name: string, bytes: number, now: number, whole: boolean): void {
    this.remove(name);
    const e = { bytes, lastUse: now, whole };
    this.orderOf(e).set(name, e);
    this.used += bytes;
  }

  remove(name: string): IndexEntry | undefined {
    const e = this.get(name);
    if (!e) return undefined;
    this.orderOf(e).delete(name);
    this.used -= e.bytes;
    return e;
  }

  /** The least recently used entry of either kind. */
  oldest(): Entry | undefined {
    const [w, p] = [first(this.wholes), first(this.parts)];
    if (w === undefined || p === undefined) return w ?? p;
    return w[1].lastUse <= p[1].lastUse ? w : p;
  }

  /** The least recently used block of a large object. */
  oldestPart(): Entry | undefined {
    return first(this.parts);
  }

  /**
   * Merges files found on disk by a scan (oldest first), as older than every entry already here
   * (those were used since the scan began). Names already here keep their entry.
   */
  mergeFound(found: readonly { name: string; bytes: number; mtimeMs: number; whole: boolean }[]): void {
    const sorted = [...found].sort((a, b) => a.mtimeMs - b.mtimeMs);
    const recent = [...this.wholes, ...this.parts].sort((a, b) => a[1].lastUse - b[1].lastUse);
    const recentNames = new Set(recent.map(([n]) => n));
    this.wholes.clear();
    this.parts.clear();
    this.used = 0;
    for (const f of sorted) if (!this.has(f.name) && !recentNames.has(f.name)) this.add(f.name, f.bytes, f.mtimeMs, f.whole);
    for (const [n, e] of recent) this.add(n, e.bytes, e.lastUse, e.whole);
  }

  private orderOf(e: IndexEntry): Map<string, IndexEntry> {
    return e.whole ? this.wholes : this.parts;
  }
}

function first(m: Map<string, IndexEntry>): Entry | undefined {
  for (const e of m) return e;
  return undefined;
}
