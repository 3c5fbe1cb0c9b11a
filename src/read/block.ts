/**
 * One block of object data, kept as the chunks the HTTP body arrived in. Copying the chunks
 * into one contiguous buffer would cost a full extra pass over every byte (and a 1 MiB
 * allocation per block) on the one JS thread that also answers FUSE; a read answers views of
 * the chunks instead, which the FUSE adapter copies straight into the kernel's buffer.
 */
export interface Block {
  readonly chunks: readonly Buffer[];
  /** Sum of the chunks' lengths. */
  readonly length: number;
}

/**
 * The bytes a read answers, in order, as the buffers they are held in (views of cached chunks,
 * or a download's own chunks): joining them into one buffer would cost a pass over every byte.
 */
export type Chunks = readonly Buffer[];

/**
 * Appends to `out` views of the part of `block` (which starts at object offset `blockStart`)
 * that overlaps [pos, end), in order. A chunk wholly inside is pushed as it is.
 */
export function viewsOfBlock(block: Block, blockStart: number, pos: number, end: number, out: Buffer[]): void {
  const from = Math.max(pos, blockStart) - blockStart;
  const to = Math.min(end, blockStart + block.length) - blockStart;
  let chunkStart = 0;
  for (const chunk of block.chunks) {
    if (chunkStart >= to) break;
    const chunkEnd = chunkStart + chunk.length;
    if (chunkEnd > from) {
      const a = Math.max(from, chunkStart) - chunkStart;
      const b = Math.min(to, chunkEnd) - chunkStart;
      out.push(a === 0 && b === chunk.length ? chunk : chunk.subarray(a, b));
    }
    chunkStart = chunkEnd;
  }
}

/** Copies `chunks` into `dst` from its start, as far as it has room; returns the bytes copied. */
export function copyChunks(chunks: Chunks, dst: Buffer): number {
  let n = 0;
  for (const c of chunks) {
    if (n >= dst.length) break;
    n += c.copy(dst, n);
  }
  return n;
}
