/**
 * Where each part of an upload starts and how large it is. S3 takes at most 10,000 parts, so a
 * fixed part size caps the object (8 MiB × 10,000 = 78 GiB); a larger fixed size wastes memory
 * on every small file. Parts therefore grow with the object:
 *
 * - parts 1 to 1,000: the first part size P (8 MiB by default: 8 GiB in all),
 * - parts 1,001 to 2,000: 4 × P (32 GiB more),
 * - parts 2,001 to 10,000: 16 × P (1,000 GiB more),
 *
 * each at most S3's MAX_PART_BYTES, the object at most MAX_OBJECT_BYTES. With P = 8 MiB one file
 * can hold about 1 TiB, while a writer of a file under 8 GiB never buffers more than P per part.
 *
 * A part must also fit in the memory writers may hold, with room for the first part and the
 * parts in flight beside it: the handle caps parts at a quarter of the writers' share of the
 * budget (48 MiB with the default 256 MiB cache-size: about 414 GiB per file), so a small
 * cache-size means smaller large files, never a write that can only fail with ENOMEM.
 * A write past the last byte the schedule can hold is EFBIG.
 */
import { UPLOAD_LIMITS } from '../store/object-store.js';

/** The last part number of each tier and its multiple of the first part size. */
const TIERS: readonly { readonly lastPart: number; readonly factor: number }[] = [
  { lastPart: 1_000, factor: 1 },
  { lastPart: 2_000, factor: 4 },
  { lastPart: UPLOAD_LIMITS.MAX_PARTS, factor: 16 },
];

const LAST_FACTOR = 16;

export interface PartSpan {
  /** 1-based. */
  readonly number: number;
  /** First byte of the part in the object. */
  readonly start: number;
  /** Bytes the part holds when full. */
  readonly size: number;
}

export class PartSchedule {
  readonly firstPartBytes: number;
  /** The size of the largest object the schedule can hold. */
  readonly maxObjectBytes: number;

  /** The largest part (at least the first part size, at most MAX_PART_BYTES). */
  readonly maxPartBytes: number;

  /** `maxPartBytes`: the growth stops there (the memory a part may take); default S3's limit. */
  constructor(firstPartBytes: number, maxPartBytes: number = UPLOAD_LIMITS.MAX_PART_BYTES) {
    if (!Number.isSafeInteger(firstPartBytes) || firstPartBytes <= 0) {
      throw new RangeError(`PartSchedule: the first part size must be a positive integer (got ${firstPartBytes})`);
    }
    this.firstPartBytes = Math.min(firstPartBytes, UPLOAD_LIMITS.MAX_PART_BYTES);
    this.maxPartBytes = Math.min(UPLOAD_LIMITS.MAX_PART_BYTES, Math.max(this.firstPartBytes, Math.floor(maxPartBytes)));
    this.maxObjectBytes = Math.min(UPLOAD_LIMITS.MAX_OBJECT_BYTES, this.startOf(UPLOAD_LIMITS.MAX_PARTS) + this.sizeOf(UPLOAD_LIMITS.MAX_PARTS));
  }

  /** The full size of part `n`. */
  sizeOf(n: number): number {
    const factor = TIERS.find((t) => n <= t.lastPart)?.factor ?? LAST_FACTOR;
    return Math.min(this.maxPartBytes, this.firstPartBytes * factor);
  }

  /** The first byte of part `n`. */
  startOf(n: number): number {
    let start = 0;
    let firstOfTier = 1;
    for (const tier of TIERS) {
      if (n <= firstOfTier) break;
      const parts = Math.min(n, tier.lastPart + 1) - firstOfTier;
      start += parts * this.sizeOf(firstOfTier);
      firstOfTier = tier.lastPart + 1;
    }
    return start;
  }

  /** The part holding byte `pos` (pos < maxObjectBytes). */
  partAt(pos: number): PartSpan {
    let firstOfTier = 1;
    let tierStart = 0;
    for (const tier of TIERS) {
      const size = this.sizeOf(firstOfTier);
      const tierBytes = (tier.lastPart + 1 - firstOfTier) * size;
      if (pos < tierStart + tierBytes) {
        const number = firstOfTier + Math.floor((pos - tierStart) / size);
        return { number, start: this.startOf(number), size };
      }
      tierStart += tierBytes;
      firstOfTier = tier.lastPart + 1;
    }
    throw new RangeError(`PartSchedule: byte ${pos} is past the largest object (${this.maxObjectBytes} bytes)`);
  }

  /** Every part of an object of `size` bytes, the last one cut to the size. */
  *partsOf(size: number): Generator<PartSpan> {
    for (let n = 1, start = 0; start < size; start += this.sizeOf(n), n++) {
      yield { number: n, start, size: Math.min(this.sizeOf(n), size - start) };
    }
  }
}
