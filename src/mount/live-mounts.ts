/**
 * The Dataset's mounts while the FUSE mount is up: each config Fluid writes is applied in place,
 * by mount name (see reconcile.ts), never by remounting targetPath.
 *
 * - An added (or replaced) mount serves at once; its bucket is probed in the background, and while
 *   the probe fails its folder answers EACCES (keys refused) or EIO, and the probe is retried with
 *   backoff on a fresh store.
 * - A mount whose config is wrong (an unreadable secret file, a bad option) shows an unavailable
 *   folder when it is new, and leaves its last good version serving when it is not; the config is
 *   read again with backoff until the problem is gone (a secret mounted late, a fix).
 * - A whole config that cannot be read leaves everything as it is (the last good config serves).
 * - Reloads never overlap: a change during a reload is read once more right after.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { BucketMount, MountPlan, ProcessSettings } from '../config/plan.js';
import { FsError } from '../fs/errno.js';
import type { ObjectStore } from '../store/object-store.js';
import { StoreError } from '../store/store-error.js';
import type { Logger } from '../observe/logger.js';
import type { MountHealth, ReloadResult } from '../observe/metrics.js';
import { planChanges, type MountChange, type MountProblem, type ServedMount } from './reconcile.js';

/** What of the Filesystem this needs (src/fs/filesystem.ts), so tests can drive a fake. */
export interface LiveFilesystem {
  putBucket(
    slot:
      | { readonly state: 'serving'; readonly mount: BucketMount; readonly store: ObjectStore }
      | { readonly state: 'unavailable'; readonly mount: BucketMount; readonly error: FsError },
  ): void;
  removeBucket(name: string, graceMs: number): void;
  retuneBucket(mount: BucketMount): void;
  bucketStates(): ReadonlyMap<string, 'serving' | 'unavailable' | 'draining'>;
}

export interface LiveMountsOptions {
  readonly fs: LiveFilesystem;
  readonly log: Logger;
  readonly createStore: (mount: BucketMount) => ObjectStore;
  /** Resolves when the bucket answers; rejects with a one-line reason. */
  readonly probe: (mount: BucketMount, store: ObjectStore) => Promise<void>;
  /** Reads the config again (lenient: a problem of one mount is in `failures`). */
  readonly loadPlan: () => Promise<MountPlan & { readonly failures?: readonly MountProblem[] }>;
  /** How long a removed mount's open files keep reading (then ESTALE). */
  readonly drainGraceMs: number;
  readonly onReload?: (result: ReloadResult) => void;
  /** Process-wide settings that changed and apply live (LIVE_SETTINGS), with their new values. */
  readonly applySettings?: (settings: ProcessSettings, changed: readonly (keyof ProcessSettings)[]) => void;
  /** Backoff of the retries: first delay, and the cap (config problems use the lower cap). */
  readonly retryMs?: { readonly first: number; readonly probeMax: number; readonly configMax: number };
}

const RETRY = { first: 1_000, probeMax: 30_000, configMax: 5_000 };

/** Settings a reload applies: the log level, and read-ahead sizes for the next windows. */
const LIVE_SETTINGS: readonly (keyof ProcessSettings)[] = ['logLevel', 'readAheadInitialBytes', 'readAheadMaxBytes'];

/** Settings read once at start (they size what is built at start): a change is reported, applied by a restart. */
const RESTART_SETTINGS: readonly (keyof ProcessSettings)[] = [
  'cacheSizeBytes',
  'partSizeBytes',
  'allowOther',
  'attrTimeoutMs',
  'entryTimeoutMs',
  'requestTimeoutMs',
  'dfScanIntervalMs',
  'metricsAddress',
];

export class LiveMounts {
  private readonly opts: LiveMountsOptions;
  private readonly retry: NonNullable<LiveMountsOptions['retryMs']>;
  private readonly served = new Map<string, ServedMount>();
  /** Mounts whose bucket has not answered a probe yet (the attempt number). */
  private readonly probing = new Map<string, number>();
  /** The last problem logged for a mount kept at its last good version (logged once). */
  private readonly kept = new Map<string, string>();
  private settings: ProcessSettings;
  private targetPath: string;
  private generationNo = 1;
  private lastReloadMs: number | undefined;
  private running: Promise<ReloadResult> | undefined;
  private again = false;
  private configRetries = 0;
  private configRetry: AbortController | undefined;
  private closed = false;
  private readonly aborts = new AbortController();

  /** `initial`: the plan the mount started with; its buckets already serve (probed at start). */
  constructor(opts: LiveMountsOptions, initial: MountPlan) {
    this.opts = opts;
    this.retry = opts.retryMs ?? RETRY;
    this.settings = initial.settings;
    this.targetPath = initial.targetPath;
    for (const mount of initial.buckets) this.served.set(mount.name, { kind: 'mount', mount });
  }

  get generation(): number {
    return this.generationNo;
  }

  get lastReloadAtMs(): number | undefined {
    return this.lastReloadMs;
  }

  /** The mounts served now, by name (a mount in drain is no longer one of them). */
  mounts(): BucketMount[] {
    return [...this.served.values()].flatMap((s) => (s.kind === 'mount' ? [s.mount] : []));
  }

  states(): Record<MountHealth, number> {
    const counts: Record<MountHealth, number> = { serving: 0, probing: 0, failed: 0, draining: 0 };
    for (const [name, s] of this.served) counts[s.kind === 'problem' ? 'failed' : this.probing.has(name) ? 'probing' : 'serving']++;
    for (const [name, state] of this.opts.fs.bucketStates()) if (state === 'draining' && !this.served.has(name)) counts.draining++;
    return counts;
  }

  /** Reads the config and applies what changed; never throws, never runs twice at once. */
  reload(): Promise<ReloadResult> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const run = async (): Promise<ReloadResult> => {
      let result: ReloadResult;
      do {
        this.again = false;
        result = await this.reloadOnce();
      } while (this.again && !this.closed);
      return result;
    };
    this.running = run().finally(() => (this.running = undefined));
    return this.running;
  }

  close(): void {
    this.closed = true;
    this.aborts.abort();
    this.configRetry?.abort();
  }

  private async reloadOnce(): Promise<ReloadResult> {
    if (this.closed) return 'unchanged';
    const { log } = this.opts;
    this.lastReloadMs = Date.now();
    let plan: Awaited<ReturnType<LiveMountsOptions['loadPlan']>>;
    try {
      plan = await this.opts.loadPlan();
    } catch (err) {
      log.error({ generation: this.generationNo, err: messageOf(err) }, 'config not applied: the last good config keeps serving');
      this.opts.onReload?.('invalid');
      return 'invalid';
    }
    if (this.closed) return 'unchanged';
    const failures = plan.failures ?? [];
    const changes = planChanges(this.served, { buckets: plan.buckets, failures });
    const settingsChanged = this.takeSettings(plan);
    for (const change of changes) this.apply(change);
    this.scheduleConfigRetry(failures.length > 0);
    const applied = changes.some((c) => c.kind !== 'keep') || settingsChanged;
    if (applied) {
      this.generationNo++;
      log.info({ generation: this.generationNo, ...summary(changes) }, 'config applied');
    }
    this.opts.onReload?.(applied ? 'applied' : 'unchanged');
    return applied ? 'applied' : 'unchanged';
  }

  private takeSettings(plan: MountPlan): boolean {
    const { log } = this.opts;
    if (plan.targetPath !== this.targetPath) {
      log.warn({ targetPath: this.targetPath, configured: plan.targetPath }, 'targetPath changed in the config: the mount stays where it is until a restart');
      this.targetPath = plan.targetPath;
    }
    const before = this.settings;
    const after = plan.settings;
    this.settings = after;
    const changed = (k: keyof ProcessSettings) => JSON.stringify(before[k]) !== JSON.stringify(after[k]);
    const restart = RESTART_SETTINGS.filter(changed);
    const live = LIVE_SETTINGS.filter(changed);
    if (restart.length > 0) log.warn({ settings: restart }, 'runtime options changed that apply at the next start of the FUSE pod');
    if (live.length > 0) {
      this.opts.applySettings?.(after, live);
      log.info({ settings: live }, 'runtime options applied');
    }
    return restart.length > 0 || live.length > 0;
  }

  private apply(change: MountChange): void {
    const { fs, log } = this.opts;
    try {
      switch (change.kind) {
        case 'remove':
          this.served.delete(change.name);
          this.probing.delete(change.name);
          this.kept.delete(change.name);
          fs.removeBucket(change.name, this.opts.drainGraceMs);
          log.info({ mount: change.name, graceMs: this.opts.drainGraceMs }, 'mount removed; its open files read on until closed');
          return;
        case 'retune':
          this.served.set(change.mount.name, { kind: 'mount', mount: change.mount });
          this.kept.delete(change.mount.name);
          fs.retuneBucket(change.mount);
          log.info({ mount: change.mount.name, fields: change.fields }, 'mount retuned');
          return;
        case 'add':
        case 'replace':
          this.kept.delete(change.mount.name);
          this.serve(change.mount, change.kind === 'replace' ? change.fields : undefined);
          return;
        case 'unavailable': {
          const { problem } = change;
          this.served.set(problem.name, { kind: 'problem', problem });
          this.probing.delete(problem.name);
          if (problem.folder !== undefined) fs.putBucket({ state: 'unavailable', mount: placeholder(problem), error: errorOfProblem(problem) });
          log.error({ mount: problem.name, err: problem.error.message }, 'mount not served: its config is wrong; retrying');
          return;
        }
        case 'keep':
          if (this.kept.get(change.mount.name) !== change.problem.error.message) {
            this.kept.set(change.mount.name, change.problem.error.message);
            log.error({ mount: change.mount.name, err: change.problem.error.message }, 'new version of the mount not applied: the last good one keeps serving');
          }
          return;
      }
    } catch (err) {
      // A slot the filesystem refused (e.g. its folder inside another's): the config is at fault.
      log.error({ change: change.kind, err: messageOf(err) }, 'mount change not applied');
    }
  }

  /** Shows the mount at once and probes its bucket; on failure its folder answers an errno. */
  private serve(mount: BucketMount, replacedFields: readonly string[] | undefined): void {
    const { fs, log } = this.opts;
    const store = this.opts.createStore(mount);
    try {
      fs.putBucket({ state: 'serving', mount, store });
    } catch (err) {
      // Refused (a folder inside another's): the store never served.
      store.destroy();
      throw err;
    }
    this.served.set(mount.name, { kind: 'mount', mount });
    this.probing.set(mount.name, 0);
    log.info(
      { mount: mount.name, folder: `/${mount.folder.join('/')}`, ...(replacedFields ? { changed: replacedFields } : {}) },
      replacedFields ? 'mount replaced' : 'mount added',
    );
    void this.probeUntilServing(mount, store);
  }

  private isCurrent(mount: BucketMount): boolean {
    const s = this.served.get(mount.name);
    return !this.closed && s?.kind === 'mount' && s.mount === mount;
  }

  private async probeUntilServing(mount: BucketMount, firstStore: ObjectStore): Promise<void> {
    const { fs, log } = this.opts;
    let store: ObjectStore | undefined = firstStore;
    for (let attempt = 0; ; attempt++) {
      store ??= this.opts.createStore(mount);
      let failure: unknown;
      try {
        await this.opts.probe(mount, store);
      } catch (err) {
        failure = err;
      }
      if (!this.isCurrent(mount)) {
        if (store !== firstStore) store.destroy();
        return;
      }
      if (failure === undefined) {
        if (store !== firstStore) fs.putBucket({ state: 'serving', mount, store });
        this.probing.delete(mount.name);
        log.info({ mount: mount.name, attempts: attempt + 1 }, 'mount serving');
        return;
      }
      const delayMs = Math.min(this.retry.probeMax, this.retry.first * 2 ** attempt);
      this.probing.set(mount.name, attempt + 1);
      const error = new FsError(storeErrorOf(failure)?.kind === 'access-denied' ? 'EACCES' : 'EIO', messageOf(failure));
      // The folder answers at once rather than after a request timeout; the store goes with the slot.
      fs.putBucket({ state: 'unavailable', mount, error });
      if (store !== firstStore) store.destroy();
      store = undefined;
      log.warn({ mount: mount.name, err: messageOf(failure), retryInMs: delayMs }, 'mount not serving: its bucket does not answer; retrying');
      try {
        await sleep(delayMs, undefined, { signal: this.aborts.signal });
      } catch {
        return;
      }
      if (!this.isCurrent(mount)) return;
    }
  }

  /** While a mount's config is wrong, read the config again with backoff (a late secret, a fix). */
  private scheduleConfigRetry(needed: boolean): void {
    this.configRetry?.abort();
    this.configRetry = undefined;
    if (!needed || this.closed) {
      this.configRetries = 0;
      return;
    }
    const delayMs = Math.min(this.retry.configMax, this.retry.first * 2 ** this.configRetries++);
    const abort = new AbortController();
    this.configRetry = abort;
    sleep(delayMs, undefined, { signal: abort.signal }).then(
      () => void this.reload(),
      () => undefined,
    );
  }
}

/** The folder of a mount whose config is wrong: enough of a mount to show a folder. */
function placeholder(problem: MountProblem): BucketMount {
  return {
    name: problem.name,
    source: '',
    bucket: '',
    prefix: '',
    folder: problem.folder ?? [],
    region: '',
    pathStyle: true,
    readOnly: true,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    fileMode: 0o444,
    dirMode: 0o555,
    statCacheTtlMs: 0,
    negativeCacheTtlMs: 0,
  };
}

/** Keys that cannot be read are a permission problem to the reader; anything else is EIO. */
function errorOfProblem(problem: MountProblem): FsError {
  const code = (problem.error as { code?: unknown }).code;
  const errno = code === 'SECRET_FILE' || code === 'MISSING_CREDENTIAL' ? 'EACCES' : 'EIO';
  return new FsError(errno, `mount "${problem.name}" is not served: ${problem.error.message}`);
}

/** The StoreError behind a probe's failure (the probe words it for the log, the cause stays). */
function storeErrorOf(err: unknown): StoreError | undefined {
  if (err instanceof StoreError) return err;
  return err instanceof Error && err.cause instanceof StoreError ? err.cause : undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const SUMMARY_KEY: Readonly<Record<MountChange['kind'], string>> = {
  remove: 'removed',
  replace: 'replaced',
  retune: 'retuned',
  add: 'added',
  unavailable: 'failed',
  keep: 'kept',
};

/** `{ added: [names], removed: [names], … }` for the log line of a reload. */
function summary(changes: readonly MountChange[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const c of changes) (out[SUMMARY_KEY[c.kind]] ??= []).push('name' in c ? c.name : 'mount' in c ? c.mount.name : c.problem.name);
  return out;
}
