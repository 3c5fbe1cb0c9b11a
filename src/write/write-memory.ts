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
 *
 * Part buffers are reused: a streamed file allocates a new 8 MiB buffer per part otherwise, and
 * the garbage collector then spends as much time as the copying (a 1 GiB write ran 3x faster
 * with reuse). Up to MAX_SPARES buffers of at least MIN_SPARE_BYTES whose upload succeeded stay
 * reserved in the budget as spares while writers hold memory; they count against the writers'
 * share, are dropped (given back to the budget) whenever a reservation would not fit otherwise,
 * and all of them as soon as no writer holds memory.
 */
import { type Clock, systemClock } from '../clock.js';
import { FsError } from '../fs-error.js';

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

/** At most this many spare part buffers are kept for reuse. */
export const MAX_SPARES = 4;
/** Smaller buffers are cheap to allocate: not kept. */
export const MIN_SPARE_BYTES = 1024 * 1024;

interface Waiter {
  readonly bytes: number;
  readonly deadline: number;
  /** With a buffer when one was handed over (see giveBack); its reservation comes with it. */
  readonly resolve: (handed?: Buffer) => void;
  /** A waiter of takeBuffer: a buffer of its size given back may be handed to it as it is. */
  readonly wantsBuffer: boolean;
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
  /** Part buffers kept for reuse; their bytes stay reserved in the budget. */
  private spares: Buffer[] = [];
  private spareTotal = 0;
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

  /** Bytes of spare part buffers kept for reuse (reserved in the budget, not held by a writer). */
  get spareBytes(): number {
    return this.spareTotal;
  }

  /** Writers waiting for memory now. */
  get waitingCount(): number {
    return this.waiters.length;
  }

  /**
   * Resolves when `bytes` are reserved for the caller (who must `release` them). Waits while
   * memory is short; rejects with FsError ENOMEM after maxWaitMs, at once for a request no wait
   * can satisfy (more than the writers' share), and when `signal` fires (a discarded handle).
   */
  acquire(bytes: number, signal?: AbortSignal): Promise<void> {
    return this.wait(bytes, signal, false).then(() => undefined);
  }

  private wait(bytes: number, signal: AbortSignal | undefined, wantsBuffer: boolean): Promise<Buffer | undefined> {
    if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`WriteMemory.acquire: bytes must be a non-negative integer (got ${bytes})`);
    if (bytes === 0) return Promise.resolve(undefined);
    if (bytes > this.writerLimitBytes) {
      return Promise.reject(
        new FsError('ENOMEM', `a write needs ${bytes} bytes of memory at once; writers may hold at most ${this.writerLimitBytes} bytes (3/4 of cache-size)`),
      );
    }
    if (signal?.aborted) return Promise.reject(new FsError('ENOMEM', 'the write was cancelled while it waited for memory'));
    if (this.waiters.length === 0 && this.fitsDroppingSpares(bytes)) {
      this.take(bytes);
      return Promise.resolve(undefined);
    }
    return new Promise<Buffer | undefined>((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        deadline: this.clock.now() + this.maxWaitMs,
        resolve,
        wantsBuffer,
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

  /** Reserves `bytes` now if they fit without waiting (no one is waiting either); else false. */
  tryAcquire(bytes: number): boolean {
    if (bytes > this.writerLimitBytes || this.waiters.length > 0 || !this.fitsDroppingSpares(bytes)) return false;
    this.take(bytes);
    return true;
  }

  /** Gives back bytes from `acquire`; wakes the waiters that now fit. */
  release(bytes: number): void {
    if (bytes <= 0) return;
    const back = Math.min(bytes, this.held);
    this.held -= back;
    this.budget.unreserve(back);
    if (this.held === 0) this.dropSpares();
    this.grant();
  }

  /**
   * A buffer of exactly `bytes` whose memory is reserved (as `acquire`), a spare one if there is
   * one of that size. Its contents are undefined. Give it back with `giveBack`.
   */
  async takeBuffer(bytes: number, signal?: AbortSignal): Promise<Buffer> {
    const i = this.waiters.length === 0 ? this.spares.findIndex((b) => b.length === bytes) : -1;
    if (i >= 0) {
      const buf = this.spares.splice(i, 1)[0] as Buffer;
      this.spareTotal -= bytes;
      this.held += bytes; // the reservation moves from the spare to the writer
      return buf;
    }
    return (await this.wait(bytes, signal, true)) ?? Buffer.allocUnsafe(bytes);
  }

  /**
   * Returns a buffer from `takeBuffer` (or one of `acquire`d size): kept as a spare when
   * `reusable` (no one else may still read it: its upload succeeded) and there is room, else its
   * memory is released.
   */
  giveBack(buf: Buffer, reusable: boolean): void {
    const bytes = buf.length;
    // A writer waiting for a buffer of this size takes this one, reservation and all: with many
    // writers there is nearly always one waiting, and a buffer freed for each part is garbage that
    // V8 collects late (8 writers: about 200 MiB of freed part buffers outside the budget).
    const head = this.waiters[0];
    if (reusable && head?.wantsBuffer === true && head.bytes === bytes) {
      this.waiters.shift();
      this.settle(head);
      head.resolve(buf);
      return;
    }
    const keep = reusable && bytes >= MIN_SPARE_BYTES && this.spares.length < MAX_SPARES && this.waiters.length === 0 && this.held > bytes;
    if (!keep) return this.release(bytes);
    this.held -= bytes;
    this.spares.push(buf);
    this.spareTotal += bytes;
  }

  private fits(bytes: number): boolean {
    return this.held + this.spareTotal + bytes <= this.writerLimitBytes && this.budget.reservedBytes + bytes <= this.budget.maxBytes;
  }

  /** Whether `bytes` fit, after giving the spares back if only they were in the way. */
  private fitsDroppingSpares(bytes: number): boolean {
    if (this.fits(bytes)) return true;
    if (this.spareTotal === 0) return false;
    this.dropSpares();
    return this.fits(bytes);
  }

  private dropSpares(): void {
    if (this.spareTotal === 0) return;
    this.budget.unreserve(this.spareTotal);
    this.spares = [];
    this.spareTotal = 0;
  }

  private take(bytes: number): void {
    this.held += bytes;
    this.budget.reserve(bytes);
  }

  /** Serves waiters in order while the head fits. */
  private grant(): void {
    for (let head = this.waiters[0]; head !== undefined && this.fitsDroppingSpares(head.bytes); head = this.waiters[0]) {
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
