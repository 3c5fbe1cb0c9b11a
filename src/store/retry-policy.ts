/**
 * The one retry loop of the store. Every S3Store call (head, getFirstBytes, list, readRange, probe) runs
 * its requests through one StoreCall, which owns a budget of attempts and one deadline; nothing
 * else retries (the SDK runs with maxAttempts 1).
 *
 * The numbers, for request-timeout T (default 30 s):
 * - attempts: at most 4 requests per store call, all causes together: a 5xx/SlowDown, a
 *   connection error, a timed-out attempt, the one retry after fresh credentials were loaded
 *   (a rotated secret), and each resume of a broken or stalled ranged-GET body.
 * - deadline: T for the whole call, measured from its start. A ranged GET counts it from the
 *   last byte received instead: its body may stream for longer than T on a slow link, so what
 *   is bounded is the wait for response headers and for progress, not the transfer.
 * - per attempt: max(1 s, T/3), clipped to the time left before the deadline; it covers the
 *   response headers (HEAD, LIST, ranged GET) or the whole answer (the first-bytes GET, whose
 *   body is at most 128 KiB). A server that accepts and never answers therefore costs about T,
 *   in 3 attempts, and ends as 'timeout' (ETIMEDOUT).
 * - backoff between attempts: full jitter, uniform in [0, min(2 s, 100 ms × 2^(n-1))); no
 *   attempt is started when the backoff would end past the deadline. None after a credential
 *   refresh (the new keys are tried at once).
 * - a response body that delivers no byte for max(0.5 s, min(10 s, T/3)) is abandoned and
 *   resumed (S3Store's idle timer), as one more attempt.
 * - non-transient answers (404, 403 with unchanged keys, 412, a malformed answer) are not
 *   retried; an abort by the caller ends the call at once, as 'aborted'.
 */
import { Attempt } from './attempt.js';
import { backoffMs, sleep } from './backoff.js';
import { StoreError } from './store-error.js';

export interface RetrySettings {
  /** Requests per store call, first one included. */
  readonly maxAttempts: number;
  /** The call's deadline (request-timeout). */
  readonly deadlineMs: number;
  /** One attempt's bound before it is clipped to the time left. */
  readonly attemptTimeoutMs: number;
  readonly backoffBaseMs: number;
  readonly backoffCapMs: number;
  /** Uniform in [0, 1): the jitter; seeded in tests. */
  readonly random: () => number;
  /** Milliseconds, monotonic. */
  readonly now: () => number;
}

export const DEFAULT_MAX_ATTEMPTS = 4;

/** The settings derived from request-timeout; see the numbers at the top of this module. */
export function retrySettings(requestTimeoutMs: number, overrides: Partial<RetrySettings> = {}): RetrySettings {
  return {
    maxAttempts: DEFAULT_MAX_ATTEMPTS,
    deadlineMs: requestTimeoutMs,
    attemptTimeoutMs: Math.max(1000, Math.floor(requestTimeoutMs / 3)),
    backoffBaseMs: 100,
    backoffCapMs: 2000,
    random: Math.random,
    now: () => performance.now(),
    ...overrides,
  };
}

/** How long a body may deliver no byte before it is abandoned and resumed. */
export function bodyIdleTimeoutMs(requestTimeoutMs: number): number {
  return Math.max(500, Math.min(10_000, Math.floor(requestTimeoutMs / 3)));
}

export interface RunHooks {
  /**
   * S3 refused the keys: reload them; true when they changed (a rotated secret), and the request
   * is then tried once more, at once. Called at most once per store call.
   */
  readonly refreshCredentials?: () => Promise<boolean>;
  /** Told of each failed attempt (for counters and metrics). */
  readonly onFailure?: (e: StoreError) => void;
}

/** The attempts and deadline of one store call; several requests of the call may share it. */
export class StoreCall {
  private readonly settings: RetrySettings;
  private readonly signal: AbortSignal | undefined;
  private deadline: number;
  private used = 0;
  private credentialsRefreshed = false;

  constructor(settings: RetrySettings, signal?: AbortSignal) {
    this.settings = settings;
    this.signal = signal;
    this.deadline = settings.now() + settings.deadlineMs;
  }

  get attemptsUsed(): number {
    return this.used;
  }

  /** Progress was made (bytes arrived): the deadline counts from now. */
  progress(): void {
    this.deadline = this.settings.now() + this.settings.deadlineMs;
  }

  /**
   * Runs `op` until it succeeds, fails for good, or the budget is spent; each run of `op` is one
   * attempt, with its own Attempt (signal and deadline) to pass to the SDK.
   */
  async run<T>(what: string, op: (attempt: Attempt) => Promise<T>, hooks: RunHooks = {}): Promise<T> {
    for (;;) {
      const left = this.deadline - this.settings.now();
      if (this.signal?.aborted) throw new StoreError('aborted', `${what}: aborted`);
      if (this.used >= this.settings.maxAttempts) throw new StoreError('timeout', `${what}: no attempt left`);
      if (left <= 0) throw new StoreError('timeout', `${what}: no answer within ${this.settings.deadlineMs} ms`);
      this.used++;
      const attempt = new Attempt(Math.max(1, Math.min(this.settings.attemptTimeoutMs, Math.ceil(left))), this.signal);
      let e: StoreError;
      try {
        return await op(attempt);
      } catch (err) {
        e = attempt.classify(err, what);
      } finally {
        attempt.dispose();
      }
      hooks.onFailure?.(e);
      if (e.kind === 'aborted') throw e;
      if (!this.worthAnotherAttempt()) throw e;
      if (e.kind === 'access-denied') {
        if (!hooks.refreshCredentials || this.credentialsRefreshed) throw e;
        this.credentialsRefreshed = true;
        if (!(await hooks.refreshCredentials())) throw e;
        continue;
      }
      if (!e.transient) throw e;
      const delay = backoffMs(this.used, this.settings.backoffBaseMs, this.settings.backoffCapMs, this.settings.random);
      if (this.settings.now() + delay >= this.deadline) throw e;
      try {
        await sleep(delay, this.signal);
      } catch (err) {
        throw new StoreError('aborted', `${what}: aborted`, { cause: err });
      }
    }
  }

  private worthAnotherAttempt(): boolean {
    return this.used < this.settings.maxAttempts && this.settings.now() < this.deadline;
  }
}

export class RetryPolicy {
  readonly settings: RetrySettings;

  constructor(settings: RetrySettings) {
    this.settings = settings;
  }

  /** A new budget for one store call; `signal` is the caller's (a reader that moved away). */
  begin(signal?: AbortSignal): StoreCall {
    return new StoreCall(this.settings, signal);
  }
}
