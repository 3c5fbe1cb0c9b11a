/**
 * Which block files are on disk, their sizes, and the order they were last used in: an LRU
 * kept in a Map's insertion order (a use moves an entry to the end), with the sum of sizes.
 */
export interface IndexEntry {
  readonly bytes: number;
  /** When the block was last written or read (clock ms). */
  lastUse: number;
}

export class DiskIndex {
  private readonly entries = new Map<string, IndexEntry>();
  private used = 0;

  get usedBytes(): number {
    return this.used;
  }

  get size(): number {
    return this.entries.size;
  }

  get(name: string): IndexEntry | undefined {
    return this.entries.get(name);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Marks `name` as used now: it becomes the most recently used. */
  touch(name: string, now: number): void {
    const e = this.entries.get(name);
    if (!e) return;
    this.entries.delete(name);
    e.lastUse = now;
    this.entries.set(name, e);
  }

  /** Adds (or replaces) an entry as the most recently used. */
  add(name: string, bytes: number, now: number): void {
    this.remove(name);
    this.entries.set(name, { bytes, lastUse: now });
    this.used += bytes;
  }

  remove(name: string): IndexEntry | undefined {
    const e = this.entries.get(name);
    if (!e) return undefined;
    this.entries.delete(name);
    this.used -= e.bytes;
    return e;
  }

  /** The least recently used entry. */
  oldest(): [string, IndexEntry] | undefined {
    for (const e of this.entries) return e;
    return undefined;
  }

  /**
   * Merges files found on disk by a scan (oldest first), as older than every entry already here
   * (those were used since the scan began). Names already here keep their entry.
   */
  mergeFound(found: readonly { name: string; bytes: number; mtimeMs: number }[]): void {
    const sorted = [...found].sort((a, b) => a.mtimeMs - b.mtimeMs);
    const recent = [...this.entries];
    const recentNames = new Set(this.entries.keys());
    this.entries.clear();
    for (const f of sorted) {
      if (this.entries.has(f.name) || recentNames.has(f.name)) continue;
      this.entries.set(f.name, { bytes: f.bytes, lastUse: f.mtimeMs });
      this.used += f.bytes;
    }
    for (const [n, e] of recent) this.entries.set(n, e);
  }
}
