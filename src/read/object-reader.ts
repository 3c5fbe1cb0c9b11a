/**
 * The read side of one open handle: answers FUSE reads from cached blocks and keeps a read-ahead
 * window in flight while the reader stays sequential.
 *
 * One sequential reader keeps only one or two 128 KiB FUSE reads in flight, so the kernel will
 * not parallelise a stream: this class does. The window starts small (fast first byte), doubles
 * each time half of it has been consumed, and is split by the fetcher into parallel ranged GETs
 * of the part size. Small jumps (the kernel reorders its read-ahead) keep the stream sequential;
 * a larger jump resets the window, and a reader that is not sequential fetches only the bytes
 * it reads: the reads that miss the cache in one turn of the event loop (the kernel's pieces of
 * one large application read) as one exact GET per span.
 */
import type { BlockFetcher, Owner } from './block-fetcher.js';
import type { ObjectRef } from './object-ref.js';
import { type Block, type Chunks, viewsOfBlock } from './block.js';
import { StoreError } from '../store/store-error.js';
import { type Clock, systemClock } from '../clock.js';

export interface ReadAheadPolicy {
  readonly initialWindowBytes: number;
  /** The largest window this reader may use right now (shrinks when many readers share the budget). */
  maxWindowBytes(): number;
  /** Told each window chosen at a refill (metrics). */
  observeWindow?(bytes: number): void;
}

/**
 * How far a read may land before or after the previous one and still count as sequential: the
 * kernel keeps a couple of 128 KiB reads in flight and may deliver them out of order.
 */
const JUMP_TOLERANCE = 512 * 1024;
/**
 * A window is fetched as up to this many parallel GETs (never larger than the part size): on a
 * link that caps each connection, throughput grows with the number of connections.
 */
const GETS_PER_WINDOW = 16;
/** How long a read that found the server silent makes the next reads of the handle fail at once. */
const FAIL_FAST_MS = 2_000;
/** Consecutive near reads before read-ahead starts (a read at offset 0 starts it at once). */
const SEQUENTIAL_AFTER = 2;
/**
 * Reads of one burst this far apart still share a GET: fetching the gap costs less than a
 * second round trip.
 */
const BURST_GAP = 64 * 1024;
/** The answer to a read at or past EOF. */
const NO_BYTES: Chunks = Object.freeze([]);

/** Where the first bytes a lookup fetched are kept: a bounded cache shared by all readers. */
export interface FirstBytes {
  /** The first bytes of `obj` (this version), if still cached. */
  get(obj: ObjectRef): Buffer | undefined;
  /** How many bytes a lookup fetches: reads ending past this never ask. */
  readonly maxBytes: number;
}

/**
 * What all readers of one filesystem share. One object, so that an open handle holds one
 * reference to it instead of one per field: per-handle state must stay small and constant
 * (100,000 open files).
 */
export class ReaderContext {
  constructor(
    readonly fetcher: BlockFetcher,
    readonly blockSize: number,
    readonly policy: ReadAheadPolicy,
    /** Time for the fail-fast window (tests inject a ManualClock). */
    readonly clock: Clock = systemClock,
    /**
     * Where the first bytes a lookup fetched are. Readers look them up at each read and never
     * hold them: 100,000 open handles must not pin 100,000 × 128 KiB outside any budget.
     */
    readonly firstBytes?: FirstBytes,
  ) {}
}

interface PendingRead {
  readonly pos: number;
  readonly end: number;
  readonly resolve: (chunks: Chunks) => void;
  readonly reject: (err: unknown) => void;
}

export class ObjectReader {
  protected readonly obj: ObjectRef;
  private readonly ctx: ReaderContext;
  /** Identity of this reader's downloads (the reader itself at first); replaced on a seek so the old ones can be dropped. */
  private owner: Owner = this;
  /** End of the furthest read of the current run, -1 before the first read. */
  private lastEnd = -1;
  /** Reads in a row that landed near the previous one. */
  private streak = 0;
  /** The last read that failed because the server did not answer, for FAIL_FAST_MS. */
  private lastFailure: { error: Error; at: number } | undefined;
  /** A sequential read had to wait for the network since the last refill. */
  private starved = false;
  private window: number;
  /** Everything before this offset has been requested. */
  private frontier = 0;
  sequential = false;
  private closed = false;
  /** Reads waiting for the end of this turn of the event loop (joinBurst). */
  private burst: PendingRead[] = [];

  constructor(obj: ObjectRef, ctx: ReaderContext) {
    this.obj = obj;
    this.ctx = ctx;
    this.window = ctx.policy.initialWindowBytes;
  }

  /**
   * Bytes [pos, pos+len) (clipped at EOF), at once when every block needed is cached (most
   * reads of a stream are; a Promise costs microseconds), else when they arrive. They are views
   * of cached chunks, never copied here: the caller copies them where they must go.
   */
  read(pos: number, len: number): Chunks | Promise<Chunks> {
    // The kernel asks again at once for a page whose read failed; when the server did not
    // answer, answering that retry at once keeps the caller's wait at one deadline, not two.
    if (this.lastFailure && this.ctx.clock.now() - this.lastFailure.at < FAIL_FAST_MS) throw this.lastFailure.error;
    const out = this.readNow(pos, len);
    if (!(out instanceof Promise)) return out;
    return out.catch((err: unknown) => {
      // Aborts are the read path's own (a seek, a release): one that reaches a read of an open
      // handle means its download went away under it. Fetch again, once.
      if (isAbort(err) && !this.closed) return this.readAgain(pos, len);
      if (err instanceof StoreError && (err.kind === 'timeout' || err.kind === 'unreachable')) this.noteFailure(err);
      throw err;
    });
  }

  private async readAgain(pos: number, len: number): Promise<Chunks> {
    try {
      return await this.readNow(pos, len);
    } catch (err) {
      if (!isAbort(err) || this.closed) throw err;
      throw new StoreError('other', `GET ${this.obj.key}: the download was aborted twice under an open handle`, { cause: err });
    }
  }

  /**
   * A read of this handle failed for want of an answer (the store's timeout, or the caller's
   * deadline): its next reads fail at once with `error` for FAIL_FAST_MS.
   */
  noteFailure(error: Error): void {
    this.lastFailure = { error, at: this.ctx.clock.now() };
  }

  private readNow(pos: number, len: number): Chunks | Promise<Chunks> {
    const size = this.obj.size;
    if (pos >= size || len <= 0) return NO_BYTES;
    const end = Math.min(size, pos + len);
    const fb = this.ctx.firstBytes;
    const head = fb !== undefined && end <= fb.maxBytes ? fb.get(this.obj) : undefined;
    if (head && end <= head.length) {
      // The first bytes came with the lookup: answer now, and start read-ahead as usual.
      this.planReadAhead(pos, end);
      return [head.subarray(pos, end)];
    }
    if (this.lastEnd < 0 && pos === 0 && end === size && !this.ctx.fetcher.isCachedOrComing(this.obj, 0)) {
      // A small file read whole by its first read: one exact GET, no blocks, no read-ahead.
      this.lastEnd = end;
      return this.ctx.fetcher.readRange(this.obj, 0, end, this.owner);
    }
    // A stream going on needs no check: read-ahead has its blocks on their way, and blockAt
    // fetches one it missed. Only other reads pay for looking before they join a burst.
    if (!(this.sequential && this.nearLast(pos)) && !this.allCachedOrComing(pos, end)) return this.joinBurst(pos, end);
    this.planReadAhead(pos, end);
    return this.blockViews(pos, end);
  }

  /** Within the kernel's reordering of the end of the reads so far (see JUMP_TOLERANCE). */
  private nearLast(pos: number): boolean {
    return this.lastEnd >= 0 && pos >= this.lastEnd - JUMP_TOLERANCE && pos <= this.lastEnd + JUMP_TOLERANCE;
  }

  private allCachedOrComing(pos: number, end: number): boolean {
    const bs = this.ctx.blockSize;
    for (let i = Math.floor(pos / bs); i <= Math.floor((end - 1) / bs); i++) if (!this.ctx.fetcher.isCachedOrComing(this.obj, i)) return false;
    return true;
  }

  /**
   * A read whose bytes are neither cached nor on their way waits for the end of this turn of the
   * event loop: the kernel splits one large application read (a Parquet column chunk, a 256 KiB
   * pread) into 128 KiB requests that arrive together, and those are fetched as one GET.
   */
  private joinBurst(pos: number, end: number): Promise<Chunks> {
    return new Promise<Chunks>((resolve, reject) => {
      this.burst.push({ pos, end, resolve, reject });
      if (this.burst.length === 1) setImmediate(this.flushBurst);
    });
  }

  private readonly flushBurst = (): void => {
    const reads = this.burst.sort((a, b) => a.pos - b.pos);
    this.burst = [];
    if (this.closed) {
      for (const r of reads) r.reject(new StoreError('aborted', 'the handle was released'));
      return;
    }
    const maxRun = Math.max(this.ctx.blockSize, this.ctx.fetcher.partBytes);
    let run: PendingRead[] = [];
    let runEnd = 0;
    for (const r of reads) {
      const runStart = run[0]?.pos;
      if (runStart !== undefined && (r.pos > runEnd + BURST_GAP || r.end - runStart > maxRun)) {
        this.fetchRun(run, runEnd);
        run = [];
      }
      run.push(r);
      runEnd = run.length === 1 ? r.end : Math.max(runEnd, r.end);
    }
    if (run.length > 0) this.fetchRun(run, runEnd);
  };

  /** One burst of reads close together, in offset order: a stream goes on from the cache, else one exact GET for them all. */
  private fetchRun(run: readonly PendingRead[], end: number): void {
    const start = (run[0] as PendingRead).pos;
    this.planReadAhead(start, end);
    if (this.sequential || this.allCachedOrComing(start, end)) {
      for (const r of run) {
        try {
          const out = this.blockViews(r.pos, r.end);
          if (out instanceof Promise) out.then(r.resolve, r.reject);
          else r.resolve(out);
        } catch (err) {
          r.reject(err);
        }
      }
      return;
    }
    // Each read is answered as soon as its own bytes are here, not when the whole run is.
    const byEnd = [...run].sort((a, b) => a.end - b.end);
    let answered = 0;
    const answer = (chunks: Chunks, received: number): void => {
      for (let r = byEnd[answered]; r !== undefined && r.end - start <= received; r = byEnd[++answered]) {
        const views: Buffer[] = [];
        viewsOfBlock({ chunks, length: received }, start, r.pos, r.end, views);
        r.resolve(views);
      }
    };
    this.ctx.fetcher.readRange(this.obj, start, end, this.owner, answer).then(
      (chunks) => answer(chunks, end - start),
      (err: unknown) => {
        for (const r of byEnd.slice(answered)) r.reject(err);
      },
    );
  }

  private blockViews(pos: number, end: number): Chunks | Promise<Chunks> {
    const bs = this.ctx.blockSize;
    const first = Math.floor(pos / bs);
    const last = Math.floor((end - 1) / bs);
    const views: Buffer[] = [];
    for (let i = first; i <= last; i++) {
      const b = this.ctx.fetcher.blockAt(this.obj, i, Math.min(bs, end - i * bs), this.owner);
      if (b instanceof Promise) {
        if (this.sequential) this.starved = true;
        return this.readSlow(pos, end, views, i, b);
      }
      viewsOfBlock(b, i * bs, pos, end, views);
    }
    return views;
  }

  close(): void {
    this.closed = true;
    this.ctx.fetcher.release(this.owner);
  }

  /** Goes on from block `from`, which is on its way, adding views to those of the blocks before it. */
  private async readSlow(pos: number, end: number, views: Buffer[], from: number, waiting: Promise<Block>): Promise<Chunks> {
    const bs = this.ctx.blockSize;
    const last = Math.floor((end - 1) / bs);
    let next: Block | Promise<Block> = waiting;
    for (let i = from; i <= last; i++) {
      if (i !== from) next = this.ctx.fetcher.blockAt(this.obj, i, Math.min(bs, end - i * bs), this.owner);
      viewsOfBlock(await next, i * bs, pos, end, views);
    }
    return views;
  }

  private planReadAhead(pos: number, end: number): void {
    const nearLast = this.nearLast(pos);
    if (this.lastEnd < 0 && pos === 0)
      this.streak = SEQUENTIAL_AFTER; // reading from the start
    else if (nearLast) this.streak++;
    else this.streak = 0;
    this.lastEnd = nearLast ? Math.max(this.lastEnd, end) : end;
    if (this.streak < SEQUENTIAL_AFTER) {
      // A seek, or not yet a stream: start over, small, from here, and drop read-ahead that
      // was meant for the old position.
      if (this.sequential) {
        this.ctx.fetcher.release(this.owner);
        this.owner = {};
      }
      this.sequential = false;
      this.window = this.ctx.policy.initialWindowBytes;
      this.frontier = end;
      return;
    }
    this.sequential = true;
    const started = this.frontier > 0;
    if (this.frontier < pos) this.frontier = pos;
    if (this.frontier - end >= this.window / 2 || this.frontier >= this.obj.size) return;
    if (started) {
      // Refill at half empty; a reader that caught up with the downloads (a slow or distant
      // link) grows the window faster than one that is merely keeping pace.
      const growth = this.frontier <= end || this.starved ? 4 : 2;
      this.window = Math.min(this.window * growth, Math.max(this.ctx.blockSize, this.ctx.policy.maxWindowBytes()));
    }
    this.starved = false;
    this.ctx.policy.observeWindow?.(this.window);
    const target = Math.min(this.obj.size, end + this.window);
    const bs = this.ctx.blockSize;
    // Several GETs per window from the start, so a link that caps each connection is used in
    // parallel even while the window is small.
    const runBlocks = Math.max(1, Math.floor(this.window / GETS_PER_WINDOW / bs));
    const stopped = this.ctx.fetcher.prefetch(this.obj, Math.floor(this.frontier / bs), Math.floor((target - 1) / bs), this.owner, runBlocks);
    // Where the budget stopped read-ahead, the next read tries again from there.
    this.frontier = Math.min(target, Math.max(this.frontier, stopped * bs));
  }
}

function isAbort(err: unknown): boolean {
  return err instanceof StoreError && err.kind === 'aborted';
}
