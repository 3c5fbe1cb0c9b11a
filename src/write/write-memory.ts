/**
 * The memory writers buffer parts in, drawn from the same byte budget as the read cache: a
 * mount's memory is bounded by one number (cache-size) whether it reads or writes. A writer
 * reserves a part's bytes before it fills them and gives them back when the part's upload ended;
 * reserving evicts cached blocks, as a download does.
 *
 * Writers may hold at most three quarters of the budget. The last quarter stays for reads: a
 * mount busy writing must still serve a read (its blocks and the first read-ahead window)
 * without waiting for uploads, and a reader of the data just written must not starve because
 * writers filled the cache with parts. The read path reserves its downloads in the same budget,
 * so writers also wait while reads hold the rest.
 *
 * When the memory is short, a writer waits, first come first served (a large part at the head
 * is not overtaken by small ones forever), and fails with ENOMEM after `maxWaitMs` rather than
 * growing memory past the budget.
 */
import { type Clock, systemClock } from '../clock.js';
import { FsError } from '../fs/errno.js';

/** The read cache's budget as writers see it; BlockCache satisfies it. */
export interface SharedBudget {
  readonly maxBytes: number;
  /** Bytes promised to downloads and writers; they count against maxBytes. */
  readonly reservedBytes: number;
  reserve(bytes: number): void;
  unreserve(bytes: number): void;
}

export type SetTimer = (fn: () => void, ms: number) => () => void;

export interface WriteMemoryOptions {
  /** How long a writer waits for memory before ENOMEM. */
  readonly maxWaitMs: number;
  readonly clock?: Clock;
  /** Schedules `fn` after `ms`; returns its cancel. Tests inject one they fire themselves. */
  readonly setTimer?: SetTimer;
}

/** The share of the budget writers may hold together; the rest stays for reads. */
export const WRITER_SHARE = 3 / 4;

/**
 * How soon a waiter blocked only by reads looks again: reads give their reservations back
 * without telling writers, so the wait polls for them.
 */
const READS_RECHECK_MS = 20;

interface Waiter {
  readonly bytes: number;
  readonly deadline: number;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
  cancelTimer: () => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

export class WriteMemory {
  private readonly budget: SharedBudget;
  private readonly maxWaitMs: number;
  private readonly clock: Clock;
  private readonly setTimer: SetTimer;
  private held = 0;
  private readonly waiters: Waiter[] = [];
  private cancelRecheck: (() => void) | undefined;

  constructor(budget: SharedBudget, opts: WriteMemoryOptions) {
    if (!(opts.maxWaitMs >= 0)) throw new RangeError(`WriteMemory: maxWaitMs must be >= 0 (got ${opts.maxWaitMs})`);
    this.budget = budget;
    this.maxWaitMs = opts.maxWaitMs;
    this.clock = opts.clock ?? systemClock;
    this.setTimer = opts.setTimer ?? unrefTimer;
  }

  /** The most all writers together may hold. */
  get writerLimitBytes(): number {
    return Math.floor(this.budget.maxBytes * WRITER_SHARE);
  }

  get heldBytes(): number {
    return this.held;
  }

  /** Writers waiting for memory now. */
  get waitingCount(): number {
    return this.waiters.length;
  }

  /**
   * Resolves when `bytes` are reserved for the caller (who must `release` them). Waits while
   * memory is short; rejects with FsError ENOMEM after maxWaitMs, or at once for a request no
   * wait can satisfy; with 'aborted' semantics (ENOMEM too) when `signal` fires.
   */
  acquire(bytes: number, signal?: AbortSignal): Promise<void> {
    if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`WriteMemory.acquire: bytes must be a non-negative integer (got ${bytes})`);
    if (bytes === 0) return Promise.resolve();
    if (bytes > this.writerLimitBytes) {
      return Promise.reject(
        new FsError('ENOMEM', `a write needs ${bytes} bytes of memory at once; writers may hold at most ${this.writerLimitBytes} bytes (3/4 of cache-size)`),
      );
    }
    if (signal?.aborted) return Promise.reject(new FsError('ENOMEM', 'the write was cancelled while it waited for memory'));
    if (this.waiters.length === 0 && this.fits(bytes)) {
      this.take(bytes);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        deadline: this.clock.now() + this.maxWaitMs,
        resolve,
        reject,
        cancelTimer: () => undefined,
        signal,
        onAbort: () => this.drop(waiter, new FsError('ENOMEM', 'the write was cancelled while it waited for memory')),
      };
      waiter.cancelTimer = this.setTimer(() => this.expire(waiter), this.maxWaitMs);
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
      this.grant();
    });
  }

  /** Gives back bytes from `acquire`; wakes the waiters that now fit. */
  release(bytes: number): void {
    if (bytes <= 0) return;
    const back = Math.min(bytes, this.held);
    this.held -= back;
    this.budget.unreserve(back);
    this.grant();
  }

  private fits(bytes: number): boolean {
    return this.held + bytes <= this.writerLimitBytes && this.budget.reservedBytes + bytes <= this.budget.maxBytes;
  }

  private take(bytes: number): void {
    this.held += bytes;
    this.budget.reserve(bytes);
  }

  /** Serves waiters in order while the head fits. */
  private grant(): void {
    for (let head = this.waiters[0]; head !== undefined && this.fits(head.bytes); head = this.waiters[0]) {
      this.waiters.shift();
      this.settle(head);
      this.take(head.bytes);
      head.resolve();
    }
    this.scheduleRecheck();
  }

  /** A head that would fit the writers' share waits for reads only: look again soon. */
  private scheduleRecheck(): void {
    const head = this.waiters[0];
    const blockedByReads = head !== undefined && this.held + head.bytes <= this.writerLimitBytes;
    if (!blockedByReads) {
      this.cancelRecheck?.();
      this.cancelRecheck = undefined;
      return;
    }
    this.cancelRecheck ??= this.setTimer(() => {
      this.cancelRecheck = undefined;
      this.grant();
    }, READS_RECHECK_MS);
  }

  private expire(waiter: Waiter): void {
    // An injected timer may fire early in a test's eyes; the clock decides.
    if (this.clock.now() < waiter.deadline) {
      waiter.cancelTimer = this.setTimer(() => this.expire(waiter), waiter.deadline - this.clock.now());
      return;
    }
    this.drop(
      waiter,
      new FsError('ENOMEM', `a write waited ${this.maxWaitMs} ms for ${waiter.bytes} bytes of memory (writers hold ${this.held} of ${this.writerLimitBytes})`),
    );
  }

  private drop(waiter: Waiter, err: FsError): void {
    const i = this.waiters.indexOf(waiter);
    if (i < 0) return;
    this.waiters.splice(i, 1);
    this.settle(waiter);
    waiter.reject(err);
    // The head may have been the one blocking those behind it.
    this.grant();
  }

  private settle(waiter: Waiter): void {
    waiter.cancelTimer();
    waiter.signal?.removeEventListener('abort', waiter.onAbort);
  }
}

function unrefTimer(fn: () => void, ms: number): () => void {
  const timer = setTimeout(fn, ms);
  timer.unref();
  return () => clearTimeout(timer);
}
