/**
 * How the disk cache takes a failing disk: every error is counted; the first of each kind
 * (operation and code) is reported; after `maxErrors` within `windowMs` the cache turns itself
 * off for the rest of the process and says so once. A disk that fails keeps failing (a full or
 * read-only filesystem, a dying device), and each failed attempt costs a read its time: S3 is
 * the reliable level, so the cache steps aside rather than retrying.
 */
import type { Clock } from '../clock.js';

export type DiskErrorReporter = (what: string, err: Error) => void;

export class DiskErrors {
  count = 0;
  disabled = false;
  private readonly recent: number[] = [];
  private readonly reported = new Set<string>();

  constructor(
    private readonly clock: Clock,
    private readonly report: DiskErrorReporter,
    private readonly maxErrors: number,
    private readonly windowMs: number,
  ) {}

  /** Records an error of `op`; true when it turned the cache off. */
  record(op: string, err: unknown): boolean {
    this.count++;
    const e = err instanceof Error ? err : new Error(String(err));
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    const kind = `${op} ${code}`;
    if (!this.reported.has(kind)) {
      this.reported.add(kind);
      this.safeReport(`disk cache: ${kind} (first of its kind; later ones are counted, not logged)`, e);
    }
    if (this.disabled) return false;
    const now = this.clock.now();
    this.recent.push(now);
    while (this.recent.length > 0 && (this.recent[0] as number) <= now - this.windowMs) this.recent.shift();
    if (this.recent.length < this.maxErrors) return false;
    this.disabled = true;
    this.safeReport(`disk cache: off after ${this.recent.length} errors within ${this.windowMs / 1000} s; reads go to the store`, e);
    return true;
  }

  private safeReport(what: string, err: Error): void {
    try {
      this.report(what, err);
    } catch {
      // A logger that throws must not turn a cache problem into a read failure.
    }
  }
}
