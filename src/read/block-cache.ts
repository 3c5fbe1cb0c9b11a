/**
 * The shared byte budget of the read path: blocks of object data, keyed by object identity
 * (store, key, etag) and block index, so an overwritten object can never be served from old
 * blocks. Downloads reserve their bytes here before they start, so cached plus in-flight bytes
 * stay within one budget.
 */
import { LRUCache } from 'lru-cache';
import type { Block } from './block.js';

export interface BlockCacheStats {
  hits: number;
  misses: number;
}

export class BlockCache {
  readonly blockSize: number;
  readonly maxBytes: number;
  private readonly lru: LRUCache<string, Block>;
  /** Bytes promised to downloads in flight; they count against the budget before they arrive. */
  private reserved = 0;
  readonly stats: BlockCacheStats = { hits: 0, misses: 0 };

  constructor(maxBytes: number, blockSize: number) {
    this.blockSize = blockSize;
    this.maxBytes = Math.max(maxBytes, blockSize * 4);
    this.lru = new LRUCache<string, Block>({ maxSize: this.maxBytes, sizeCalculation: (b) => Math.max(1, b.length) });
  }

  get(key: string): Block | undefined {
    return this.lru.get(key);
  }

  has(key: string): boolean {
    return this.lru.has(key);
  }

  /**
   * Makes room for `bytes` about to be downloaded by evicting the least recently used blocks.
   */
  reserve(bytes: number): void {
    this.reserved += bytes;
    while (this.lru.size > 0 && this.lru.calculatedSize + this.reserved > this.maxBytes) this.lru.pop();
  }

  /** Returns a reservation that will not turn into a cached block (a failed download). */
  unreserve(bytes: number): void {
    this.reserved = Math.max(0, this.reserved - bytes);
  }

  /** A downloaded block moves from its reservation into the cache. */
  add(key: string, block: Block): void {
    this.unreserve(block.length);
    this.lru.set(key, block);
  }

  /** Caches a block that arrived outside a download (the first bytes of a small object). */
  insert(key: string, block: Block): void {
    this.reserve(block.length);
    this.add(key, block);
  }

  get cachedBytes(): number {
    return this.lru.calculatedSize;
  }

  get reservedBytes(): number {
    return this.reserved;
  }
}
