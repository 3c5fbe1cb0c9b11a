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

  complete(key: string, block: Block): void {
    this.pending.delete(key);
    this.stats.fetchedBytes += block.length;
    this.lru.set(key, block);
  }

  fail(key: string): void {
    this.pending.delete(key);
  }

  get cachedBytes(): number {
    return this.lru.calculatedSize;
  }

  get pendingBlocks(): number {
    return this.pending.size;
  }
}
