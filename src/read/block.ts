/**
 * One block of object data, kept as the chunks the HTTP body arrived in. Copying the chunks
 * into one contiguous buffer would cost a full extra pass over every byte (and a 1 MiB
 * allocation per block) on the one JS thread that also answers FUSE; the reader copies
 * straight from the chunks into the kernel's buffer instead.
 */
export interface Block {
  readonly chunks: readonly Buffer[];
  /** Sum of the chunks' lengths. */
  readonly length: number;
}

/**
 * Copies the part of `block` (which starts at object offset `blockStart`) that overlaps
 * [pos, end) into `dst` at `pos`'s place; returns the bytes copied.
 */
export function copyFromBlock(block: Block, blockStart: number, pos: number, end: number, dst: Buffer): number {
  const from = Math.max(pos, blockStart) - blockStart;
  const to = Math.min(end, blockStart + block.length) - blockStart;
  let dstOff = blockStart + from - pos;
  let chunkStart = 0;
  for (const chunk of block.chunks) {
    const chunkEnd = chunkStart + chunk.length;
    if (chunkEnd > from) {
      const a = Math.max(from, chunkStart) - chunkStart;
      const b = Math.min(to, chunkEnd) - chunkStart;
      dstOff += chunk.copy(dst, dstOff, a, b);
    }
    chunkStart = chunkEnd;
    if (chunkStart >= to) break;
  }
  return Math.max(0, to - from);
}
