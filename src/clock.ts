/**
 * Time as the filesystem sees it. Injected so that tests of TTLs, fail-fast windows and
 * deadlines advance time themselves instead of sleeping.
 */
export interface Clock {
  /** Milliseconds, monotonic enough for intervals (Date.now() in production). */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told: for tests. */
export class ManualClock implements Clock {
  private t: number;
  constructor(startMs = 1_700_000_000_000) {
    this.t = startMs;
  }
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
