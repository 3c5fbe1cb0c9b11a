/**
 * What an upload's progress looks like, and what bounds it: ProgressWatch turns each sign of
 * progress of a write request (body bytes taken by the socket, the answer's headers and bytes)
 * into a stall timer and a move of the call's deadline; sdkBody lets a long body show its
 * progress on the SDK path.
 */
import { Readable } from 'node:stream';
import { StoreError } from './store-error.js';
import type { Attempt } from './attempt.js';
import type { StoreCall } from './retry-policy.js';

/**
 * The bound of a write attempt once it makes progress. An upload of a big part over a slow link
 * may take longer than an attempt's deadline, and what must be bounded is a stall: from the
 * first tick on, the attempt's own timer stops (headersReceived is the way to stop it) and this
 * one, of the same length and refreshed by each tick, bounds each wait instead: for the socket
 * to take more of the body, for the answer after it, for the next bytes of an answer (S3 keeps
 * a long Complete's or copy's connection open with spaces). Each tick also moves the call's
 * deadline (progress). `signal` is the one to send with: the attempt's, or this bound's.
 */
export class ProgressWatch {
  private readonly stop = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private stalled: StoreError | undefined;

  constructor(
    private readonly attempt: Attempt,
    private readonly call: StoreCall | undefined,
    private readonly what: string,
  ) {
    if (attempt.signal.aborted) this.onAttemptAbort();
    else attempt.signal.addEventListener('abort', this.onAttemptAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.stop.signal;
  }

  readonly tick = (): void => {
    if (this.timer) {
      this.timer.refresh();
    } else {
      this.attempt.headersReceived();
      const ms = this.attempt.timeoutMs;
      this.timer = setTimeout(() => {
        this.stalled = new StoreError('timeout', `${this.what}: no progress for ${ms} ms`);
        this.stop.abort(this.stalled);
      }, ms);
    }
    this.call?.progress();
  };

  /**
   * What a request sent with `signal` failed of: the stall when this bound ended it (the SDK
   * reports any abort as a bare AbortError, which would read as the caller's).
   */
  cause(err: unknown): unknown {
    return this.stalled !== undefined && !this.attempt.abortedByCaller ? this.stalled : err;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.attempt.signal.removeEventListener('abort', this.onAttemptAbort);
  }

  private readonly onAttemptAbort = (): void => this.stop.abort(this.attempt.signal.reason);
}

/** Slices of a long body, so that its progress shows (see LeanS3's BODY_SLICE). */
const SDK_BODY_SLICE = 1024 * 1024;

/**
 * A body for the SDK: a short one as it is; a long one as a stream of views (no copy) that
 * ticks `watch` as the request takes each slice, one at a time (the SDK reports no progress
 * of its own, and a Buffer is written in one go).
 */
export function sdkBody(body: Buffer, watch: ProgressWatch): Buffer | Readable {
  if (body.length <= SDK_BODY_SLICE) return body;
  function* slices(): Generator<Buffer> {
    for (let at = 0; at < body.length; at += SDK_BODY_SLICE) {
      watch.tick();
      yield body.subarray(at, Math.min(body.length, at + SDK_BODY_SLICE));
    }
  }
  return Readable.from(slices(), { objectMode: false, highWaterMark: 1 });
}
