/**
 * The life of one mount, as a small state machine:
 *
 *   starting → mounted → draining → stopped
 *          ↘ failed
 *
 * Every way out goes through `stop()`: SIGTERM/SIGINT (unmount, lazily if busy), the mount
 * vanishing from outside (Fluid's preStop runs `umount targetPath`), or a fatal error. `stop()`
 * is idempotent and awaitable. Whether the mount exists is read from /proc/self/mountinfo, never
 * by touching the mount point, which could deadlock against our own FUSE thread.
 */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import Fuse from 'fuse-native';
import type { MountPlan } from '../config/plan.js';
import type { Logger } from '../observe/logger.js';
import { Filesystem } from '../fs/filesystem.js';
import { fuseOps } from '../fs/fuse-adapter.js';
import { createStore, probeAll } from './buckets.js';
import { mountsAt } from './mountinfo.js';
import { StartupError } from './startup-error.js';
import { type Counters, createCounters } from '../observe/counters.js';
import { Metrics } from '../observe/metrics.js';
import { startHttpServer } from '../observe/http-server.js';
import { probeMount } from './health.js';
import type { Server } from 'node:http';

const run = promisify(execFile);

/** The FUSE subtype: the mount shows as type `fuse.fluid-s3` (Fluid's check also matches `fuse`). */
export const FS_SUBTYPE = 'fluid-s3';
export const FS_NAME = 'fluid-s3-fuse';
const READY_TIMEOUT_MS = 5_000;
const WATCH_INTERVAL_MS = 500;
const PROBE_TIMEOUT_MS = 20_000;

export type MountState = 'starting' | 'mounted' | 'draining' | 'stopped' | 'failed';

export class MountLifecycle {
  private readonly plan: MountPlan;
  private readonly log: Logger;
  readonly counters: Counters = createCounters();
  readonly metrics: Metrics;
  private http: Server | undefined;
  private state: MountState = 'starting';
  private fs: Filesystem | undefined;
  private watcher: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private fuseStarted = false;
  private stopRequest: { reason: string; code: number } | undefined;
  private resolveDone!: (code: number) => void;
  /** Resolves with the exit code once the mount is gone. */
  readonly done: Promise<number>;

  constructor(plan: MountPlan, log: Logger) {
    this.plan = plan;
    this.log = log;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.metrics = new Metrics({
      counters: this.counters,
      state: () => this.state,
      cache: () => {
        const c = this.fs?.cache;
        return { cachedBytes: c?.cachedBytes ?? 0, reservedBytes: c?.reservedBytes ?? 0, hits: c?.stats.hits ?? 0, misses: c?.stats.misses ?? 0 };
      },
      openHandles: () => this.fs?.openHandles ?? 0,
      inflightBytes: () => this.fs?.fetcher.inflightBytes ?? 0,
    });
  }

  get currentState(): MountState {
    return this.state;
  }

  async start(): Promise<void> {
    const { plan, log } = this;
    const target = plan.targetPath;
    const startedAtMs = Date.now();

    if (plan.settings.metricsAddress) {
      // Up before the probes, so /readyz answers "not ready" rather than nothing while starting.
      this.http = await startHttpServer(
        plan.settings.metricsAddress,
        {
          metrics: this.metrics,
          ready: () => this.state === 'mounted',
          healthy: () => (this.state === 'mounted' ? probeMount(target, `fuse.${FS_SUBTYPE}`) : Promise.resolve({ ok: false, detail: `mount is ${this.state}` })),
        },
        log,
      );
    }
    const buckets = plan.buckets.map((mount) => ({ mount, store: createStore(mount, plan.settings.requestTimeoutMs, this.counters, this.metrics, log) }));
    try {
      await probeAll(buckets, Math.min(PROBE_TIMEOUT_MS, plan.settings.requestTimeoutMs));
    } catch (err) {
      for (const b of buckets) b.store.destroy();
      this.state = 'failed';
      throw err;
    }

    await this.clearStaleMount(target);
    try {
      await mkdir(target, { recursive: true });
    } catch (err) {
      throw new StartupError('TARGET', `targetPath ${target}: cannot create it: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }

    const fs = new Filesystem({
      buckets,
      settings: plan.settings,
      startedAtMs,
      onSkippedKey: (bucket, key, why) => log.warn({ mount: bucket, key }, `object key skipped: ${why}`),
      observeWindow: (bytes) => this.metrics.window(bytes),
    });
    this.fs = fs;
    const s = plan.settings;
    const fuse = new Fuse(target, fuseOps(fs, { log, counters: this.counters, readDeadlineMs: s.requestTimeoutMs, timeOp: (op) => this.metrics.fuseOp(op) }), {
      force: false,
      mkdir: false,
      allowOther: s.allowOther,
      defaultPermissions: true,
      autoCache: true,
      // fuse-native has no `ro` option; libfuse reads extra options from the same -o list.
      // This release never writes, so the kernel answers EROFS itself and mountinfo says `ro`.
      fsname: `${FS_NAME},ro`,
      subtype: FS_SUBTYPE,
      entryTimeout: s.entryTimeoutMs / 1000,
      attrTimeout: s.attrTimeoutMs / 1000,
      // The adapter's own read deadline (request-timeout) fires first; this is the last
      // resort against any other stuck operation.
      timeout: s.requestTimeoutMs + 5_000,
    });
    if (this.stopRequest) return this.finishEarly();
    this.fuseStarted = true;
    await new Promise<void>((resolve, reject) => {
      fuse.mount((err) => (err ? reject(new StartupError('FUSE', `targetPath ${target}: FUSE mount failed: ${err.message}`, { cause: err })) : resolve()));
    });
    await this.waitForMountInfo(target);
    this.state = 'mounted';
    log.info(
      { targetPath: target, fsType: `fuse.${FS_SUBTYPE}`, buckets: plan.buckets.map((b) => ({ name: b.name, source: b.source, folder: `/${b.folder.join('/')}`, readOnly: b.readOnly })) },
      'mounted',
    );
    this.watcher = setInterval(() => void this.checkStillMounted(), WATCH_INTERVAL_MS);
    // A signal that arrived while the mount call was in progress.
    const late = this.stopRequest as { reason: string; code: number } | undefined;
    if (late) void this.stop(late.reason, late.code);
  }

  /** Unmount (if still mounted) and finish with `code`. Idempotent. */
  stop(reason: string, code = 0): Promise<void> {
    if (this.state === 'starting') {
      // Before FUSE is involved there is nothing to undo: finish now. Once the mount call has
      // started, let it complete and unmount right after.
      this.stopRequest ??= { reason, code };
      if (!this.fuseStarted) this.finishEarly();
      return this.done.then(() => undefined);
    }
    if (!this.stopping) this.stopping = this.doStop(reason, code);
    return this.stopping;
  }

  private finishEarly(): void {
    if (this.state === 'stopped') return;
    this.http?.close();
    const req = this.stopRequest ?? { reason: 'stopped', code: 0 };
    this.log.info({ targetPath: this.plan.targetPath, reason: req.reason }, 'stopped before mounting');
    this.state = 'stopped';
    this.resolveDone(req.code);
  }

  private async doStop(reason: string, code: number): Promise<void> {
    const target = this.plan.targetPath;
    const wasMounted = this.state === 'mounted';
    this.state = 'draining';
    clearInterval(this.watcher);
    this.log.info({ targetPath: target, reason }, 'stopping');
    if (wasMounted && (await mountsAt(target)).some(isOurs)) {
      try {
        await run('fusermount', ['-u', target]);
      } catch {
        // Busy (a reader still has a file open): detach now, the kernel finishes when it closes.
        this.log.warn({ targetPath: target }, 'mount busy, unmounting lazily');
        await run('fusermount', ['-uz', target]).catch((err: unknown) =>
          this.log.error({ targetPath: target, err: String(err) }, 'lazy unmount failed'),
        );
      }
    }
    this.fs?.close();
    this.http?.close();
    this.http?.closeAllConnections();
    this.state = 'stopped';
    this.log.info({ targetPath: target, code, counters: this.counters }, 'stopped');
    this.resolveDone(code);
  }

  private async checkStillMounted(): Promise<void> {
    if (this.state !== 'mounted') return;
    let present: boolean;
    try {
      present = (await mountsAt(this.plan.targetPath)).some(isOurs);
    } catch {
      return;
    }
    if (!present && this.state === 'mounted') void this.stop('unmounted from outside');
  }

  private async clearStaleMount(target: string): Promise<void> {
    // A previous agent killed with SIGKILL leaves a dead FUSE mount (ENOTCONN) behind; there
    // may be more than one stacked on the same path.
    for (let i = 0; i < 8; i++) {
      const stale = await mountsAt(target);
      if (stale.length === 0) return;
      this.log.warn({ targetPath: target, fsType: stale[stale.length - 1]?.fsType }, 'unmounting a stale mount at targetPath');
      try {
        await run('fusermount', ['-uz', target]);
      } catch {
        await run('umount', ['-l', target]).catch((err: unknown) => {
          throw new StartupError('STALE_MOUNT', `targetPath ${target}: cannot unmount the stale mount there: ${String(err)}`);
        });
      }
    }
    throw new StartupError('STALE_MOUNT', `targetPath ${target}: still mounted after 8 unmounts`);
  }

  private async waitForMountInfo(target: string): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if ((await mountsAt(target)).some(isOurs)) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new StartupError('FUSE', `targetPath ${target}: the mount did not appear in /proc/self/mountinfo within ${READY_TIMEOUT_MS / 1000} s`);
  }
}

function isOurs(m: { fsType: string }): boolean {
  return m.fsType === `fuse.${FS_SUBTYPE}`;
}
