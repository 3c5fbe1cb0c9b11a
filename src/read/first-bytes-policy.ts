/**
 * Whether a lookup should fetch the object's first bytes with its metadata.
 *
 * Worth it when lookups are followed by opens (a data loader opening files by path: the first
 * read then costs no round trip); a waste when they are not (`find`, `ls -l` of a folder too
 * large to list, a stat storm): each such lookup would download 128 KiB nobody reads and churn
 * that much memory. So the first bytes are fetched while at least one lookup in four is followed
 * by an open, measured over the recent past (counts halve every HALF_LIFE lookups).
 */
const HALF_LIFE = 256;
/** Lookups before the ratio is trusted. */
const WARM_UP = 32;

export class FirstBytesPolicy {
  private lookups = 0;
  private opens = 0;

  constructor(private readonly firstBytesSize: number) {}

  /** Bytes the next lookup fetches: `firstBytesSize`, or 0 for a plain metadata request. */
  bytes(): number {
    const fetch = this.lookups < WARM_UP || this.opens * 4 >= this.lookups;
    this.lookups++;
    if (this.lookups >= 2 * HALF_LIFE) {
      this.lookups /= 2;
      this.opens /= 2;
    }
    return fetch ? this.firstBytesSize : 0;
  }

  /** A file was opened (after a lookup, as opens are). */
  opened(): void {
    this.opens++;
  }
}
