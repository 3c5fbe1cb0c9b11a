/**
 * The shared byte budget of the read path: fixed-size blocks of object data, keyed by object
 * identity (store, key, etag) and block index, so an overwritten object can never be served
 * from old blocks. Blocks being downloaded are tracked here too, so two readers of one object
 * share a download instead of starting a second one.
 */
import { LRUCache } from 'lru-cache';
import type { Block } from './block.js';

export interface BlockCacheStats {
  hits: number;
  misses: number;
  /** Bytes delivered by S3 into blocks. */
  fetchedBytes: number;
}

export class BlockCache {
  readonly blockSize: number;
  readonly maxBytes: number;
  private readonly lru: LRUCache<string, Block>;
  private readonly pending = new Map<string, Promise<Block>>();
  /** Bytes promised to downloads in flight; they count against the budget before they arrive. */
  private reserved = 0;
  readonly stats: BlockCacheStats = { hits: 0, misses: 0, fetchedBytes: 0 };

  constructor(maxBytes: number, blockSize: number) {
    this.blockSize = blockSize;
    this.maxBytes = Math.max(maxBytes, blockSize * 4);
    this.lru = new LRUCache<string, Block>({ maxSize: this.maxBytes, sizeCalculation: (b) => Math.max(1, b.length) });
  }

  get(key: string): Block | undefined {
    return this.lru.get(key);
  }

  has(key: string): boolean {
    return this.lru.has(key) || this.pending.has(key);
  }

  pendingOf(key: string): Promise<Block> | undefined {
    return this.pending.get(key);
  }

  /** Registers a download; `promise` must settle, and is marked handled (nobody may wait). */
  setPending(key: string, promise: Promise<Block>): void {
    promise.catch(() => undefined);
    this.pending.set(key, promise);
  }

  /**
   * Makes room for `bytes` about to be downloaded by evicting the least recently used blocks,
   * so cached plus in-flight bytes stay within the budget.
   */
  reserve(bytes: number): void {
    this.reserved += bytes;
    while (this.lru.size > 0 && this.lru.calculatedSize + this.reserved > this.maxBytes) this.lru.pop();
  }

  /** Returns a reservation that will not turn into a cached block (failed or direct reads). */
  unreserve(bytes: number): void {
    this.reserved = Math.max(0, this.reserved - bytes);
  }

  complete(key: string, block: Block): void {
    this.pending.delete(key);
    this.stats.fetchedBytes += block.length;
    this.unreserve(block.length);
    this.lru.set(key, block);
  }

  fail(key: string): void {
    this.pending.delete(key);
  }

  get reservedBytes(): number {
    return this.reserved;
  }

  get cachedBytes(): number {
    return this.lru.calculatedSize;
  }

  get pendingBlocks(): number {
    return this.pending.size;
  }
}
