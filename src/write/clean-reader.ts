/**
 * Reads of a handle that has not written yet (clean): they go to the object in S3, the version
 * the handle opened (If-Match; changed since: ESTALE).
 *
 * The kernel splits a sequential read into 128 KiB requests, and a GET per request is bound by
 * its round trip. A read that starts where the previous one ended therefore fetches ahead (up
 * to READ_AHEAD_BYTES) and keeps that one block for the reads that follow; a read elsewhere
 * fetches exactly its bytes (a database's random page reads do not pay for bytes they skip).
 * The block's memory comes from WriteMemory only if it is free right now: a read never waits
 * for writers' memory, it reads exactly instead.
 */
import { readObjectRange, type TransferContext } from './staged-upload.js';

export const READ_AHEAD_BYTES = 1024 * 1024;

export class CleanReader {
  private readonly ctx: Pick<TransferContext, 'store' | 'key' | 'memory' | 'signal'>;
  private block: { readonly etag: string; readonly start: number; readonly data: Buffer } | undefined;
  /** Where the last read ended (a read starting there is sequential). */
  private lastEnd = -1;

  constructor(ctx: Pick<TransferContext, 'store' | 'key' | 'memory' | 'signal'>) {
    this.ctx = ctx;
  }

  /** Bytes [pos, end) of the object version `etag` of `size` bytes (end <= size). */
  async read(etag: string, size: number, pos: number, end: number): Promise<Buffer> {
    const sequential = pos === this.lastEnd;
    this.lastEnd = end;
    const b = this.block;
    if (b !== undefined && b.etag === etag && pos >= b.start && end <= b.start + b.data.length) {
      return Buffer.from(b.data.subarray(pos - b.start, end - b.start));
    }
    this.drop();
    const aheadEnd = Math.min(size, Math.max(end, pos + READ_AHEAD_BYTES));
    if (!sequential || aheadEnd === end || !this.ctx.memory.tryAcquire(aheadEnd - pos)) return readObjectRange(this.ctx, etag, pos, end);
    try {
      const data = await readObjectRange(this.ctx, etag, pos, aheadEnd);
      this.block = { etag, start: pos, data };
      return Buffer.from(data.subarray(0, end - pos));
    } catch (err) {
      this.ctx.memory.release(aheadEnd - pos);
      throw err;
    }
  }

  /** Frees the block kept; idempotent. */
  drop(): void {
    if (this.block === undefined) return;
    this.ctx.memory.release(this.block.data.length);
    this.block = undefined;
  }
}
