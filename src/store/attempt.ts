/**
 * One attempt of one S3 request: the signal handed to the SDK, aborted either by the attempt's
 * own deadline or by the caller's signal — and the memory of which of the two it was.
 *
 * The SDK turns every abort into the same AbortError, whatever the reason; told apart here, a
 * request that got no answer in time is a 'timeout' (ETIMEDOUT, worth a retry), and only a
 * caller that moved away (a reader that seeked elsewhere) is 'aborted'.
 */
import { StoreError, toStoreError } from './store-error.js';

export class Attempt {
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
  private readonly controller = new AbortController();
  private readonly caller: AbortSignal | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timedOut = false;

  constructor(timeoutMs: number, caller?: AbortSignal) {
    this.timeoutMs = timeoutMs;
    this.caller = caller;
    this.signal = this.controller.signal;
    if (caller?.aborted) this.controller.abort(caller.reason);
    else caller?.addEventListener('abort', this.onCallerAbort, { once: true });
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(new StoreError('timeout', `no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  }

  /**
   * The response headers arrived: the deadline no longer applies (a body may stream for longer
   * on a slow link; its own idle timer bounds a stall). The caller's abort still does.
   */
  headersReceived(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  get abortedByCaller(): boolean {
    return this.caller?.aborted === true;
  }

  /** `err` as a StoreError, with an abort told apart: the caller's, or this attempt's deadline. */
  classify(err: unknown, what: string): StoreError {
    if (this.abortedByCaller) return err instanceof StoreError && err.kind === 'aborted' ? err : new StoreError('aborted', `${what}: aborted`, { cause: err });
    if (this.timedOut) return new StoreError('timeout', `${what}: no answer within ${this.timeoutMs} ms`, { cause: err });
    return toStoreError(err, what);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.caller?.removeEventListener('abort', this.onCallerAbort);
  }

  private readonly onCallerAbort = (): void => {
    this.controller.abort(this.caller?.reason);
  };
}
