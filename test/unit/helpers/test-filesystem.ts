/**
 * A Filesystem for tests, driven directly (no FUSE): one or more buckets over any ObjectStore
 * (a MemoryStore, a FaultStore around one), or none (`buckets: []`), a ManualClock, settings
 * with test-sized defaults, and the background errors it reported, so tests can assert them.
 * The filesystem's timers (the end of a drain) run on the ManualClock: `advance` moves it and
 * fires what falls due.
 */
import type { BucketMount, ProcessSettings } from '../../../src/config/plan.js';
import type { ObjectStore } from '../../../src/store/object-store.js';
import { Filesystem, type FilesystemOptions } from '../../../src/fs/filesystem.js';
import { ManualClock } from '../../../src/clock.js';
import { errnoName, type ErrnoName } from '../../../src/fs/errno.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

export interface TestFilesystemOptions {
  /** One bucket shown at the root, or several, each in its folder. */
  readonly store?: ObjectStore;
  readonly buckets?: readonly { readonly store: ObjectStore; readonly mount?: Partial<BucketMount> }[];
  readonly settings?: Partial<ProcessSettings>;
  readonly mount?: Partial<BucketMount>;
  readonly clock?: ManualClock;
  readonly usage?: FilesystemOptions['usage'];
  /** Also told of background errors (they are collected in `backgroundErrors` anyway). */
  readonly onBackgroundError?: (what: string, err: unknown) => void;
  readonly drainGraceMs?: number;
  /** Staging space for writes that cannot stream (edits, appends). */
  readonly staging?: FilesystemOptions['staging'];
  readonly onStagingMissing?: FilesystemOptions['onStagingMissing'];
  readonly warmUp?: boolean;
}

export interface TestFilesystem {
  readonly fs: Filesystem;
  readonly clock: ManualClock;
  readonly backgroundErrors: { what: string; err: unknown }[];
  /** Moves the clock and runs the filesystem's timers that fall due, in time order. */
  advance(ms: number): void;
  /** Timers of the filesystem not yet fired or cancelled. */
  pendingTimers(): number;
  /** A read's bytes in one buffer, whether they came at once or later. */
  read(fd: number, pos: number, len: number): Promise<Buffer>;
  /** A read's bytes, or the errno it would answer. */
  readOutcome(fd: number, pos: number, len: number): Promise<{ bytes: Buffer } | { errno: ErrnoName; error: unknown }>;
}

export const TEST_SETTINGS: ProcessSettings = {
  logLevel: 'silent',
  cacheSizeBytes: 256 * MiB,
  readAheadMaxBytes: 16 * MiB,
  readAheadInitialBytes: 1 * MiB,
  partSizeBytes: 8 * MiB,
  allowOther: false,
  attrTimeoutMs: 1000,
  entryTimeoutMs: 1000,
  requestTimeoutMs: 10_000,
  dfScanIntervalMs: 5 * 60_000,
  stagingDir: '/nonexistent-staging',
  stagingSizeBytes: 0,
};

export function testMount(name: string, overrides: Partial<BucketMount> = {}): BucketMount {
  return {
    name,
    source: `s3://${name}`,
    bucket: name,
    prefix: '',
    folder: [],
    region: 'us-east-1',
    pathStyle: true,
    readOnly: true,
    uid: 1000,
    gid: 1000,
    fileMode: 0o444,
    dirMode: 0o555,
    statCacheTtlMs: 60_000,
    negativeCacheTtlMs: 5_000,
    ...overrides,
  };
}

/** Timers on a ManualClock: they fire only when `advance` passes their time. */
function manualTimers(clock: ManualClock) {
  let seq = 0;
  const due = new Map<number, { at: number; fn: () => void }>();
  const setTimer = (fn: () => void, ms: number): (() => void) => {
    const id = seq++;
    due.set(id, { at: clock.now() + ms, fn });
    return () => due.delete(id);
  };
  const advance = (ms: number): void => {
    const end = clock.now() + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of due) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      due.delete(next[0]);
      clock.advance(Math.max(0, next[1].at - clock.now()));
      next[1].fn();
    }
    clock.advance(end - clock.now());
  };
  return { setTimer, advance, pending: () => due.size };
}

export function testFilesystem(opts: TestFilesystemOptions = {}): TestFilesystem {
  const clock = opts.clock ?? new ManualClock();
  const timers = manualTimers(clock);
  const backgroundErrors: { what: string; err: unknown }[] = [];
  const buckets = opts.buckets ?? [{ store: opts.store as ObjectStore, mount: opts.mount ?? {} }];
  if (buckets.some((b) => b.store === undefined)) throw new Error('testFilesystem: give a store or buckets');
  const fs = new Filesystem({
    buckets: buckets.map((b, i) => ({ store: b.store, mount: testMount(b.mount?.name ?? `bucket${i}`, b.mount) })),
    settings: { ...TEST_SETTINGS, ...opts.settings },
    startedAtMs: clock.now(),
    clock,
    setTimer: timers.setTimer,
    ...(opts.drainGraceMs !== undefined ? { drainGraceMs: opts.drainGraceMs } : {}),
    ...(opts.usage ? { usage: opts.usage } : {}),
    ...(opts.staging ? { staging: opts.staging } : {}),
    ...(opts.onStagingMissing ? { onStagingMissing: opts.onStagingMissing } : {}),
    ...(opts.warmUp ? { warmUp: true } : {}),
    onBackgroundError: (what, err) => {
      backgroundErrors.push({ what, err });
      opts.onBackgroundError?.(what, err);
    },
  });
  const read = async (fd: number, pos: number, len: number): Promise<Buffer> => Buffer.concat(await fs.read(fd, pos, len));
  const readOutcome = async (fd: number, pos: number, len: number) => {
    try {
      return { bytes: await read(fd, pos, len) };
    } catch (error) {
      return { errno: errnoName(error), error };
    }
  };
  return { fs, clock, backgroundErrors, advance: timers.advance, pendingTimers: timers.pending, read, readOutcome };
}

/** Lets every promise already settled run its handlers, and timers of 0 ms fire. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}
