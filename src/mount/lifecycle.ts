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
import { setTimeout } from 'node:timers/promises';
import Fuse from 'fuse-native';
import type { MountPlan } from '../config/plan.js';
import type { Logger } from '../observe/logger.js';
import { BLOCK_SIZE, Filesystem } from '../fs/filesystem.js';
import { DiskBlockCache } from '../disk/disk-block-cache.js';
import { fuseOps } from '../fuse/fuse-ops.js';
import { createStore, describe, probeAll } from './buckets.js';
import { mountsAt } from './mountinfo.js';
import { StartupErrorCode } from '../error-catalogue.js';
import { StartupError } from './startup-error.js';
import { type Counters, createCounters } from '../observe/counters.js';
import { type DiskCacheTotals, Metrics, type MountState } from '../observe/metrics.js';
import { startHttpServer } from '../observe/http-server.js';
import { probeMount, sharedHealthProbe } from './health.js';
import { prepareTarget } from './target-path.js';
import { runTool, toolFailure } from './tool-runner.js';
import type { Server } from 'node:http';
import type { BucketMount } from '../config/plan.js';
import type { ObjectStore } from '../store/object-store.js';
import { LiveMounts } from './live-mounts.js';
import type { RotatingCredentials } from '../store/rotating-credentials.js';
import { watchConfig, type ConfigWatch } from './config-watch.js';
import { StagingArea } from '../write/staging-area.js';
import { UPLOAD_OPS } from '../fuse/fuse-ops.js';

/** The FUSE subtype: the mount shows as type `fuse.fluid-s3` (Fluid's check also matches `fuse`). */
export const FS_SUBTYPE = 'fluid-s3';
export const FS_NAME = 'fluid-s3-fuse';
export const FS_TYPE = `fuse.${FS_SUBTYPE}`;
/** A FUSE operation's answer comes at most this long after request-timeout: ETIMEDOUT. */
const OP_DEADLINE_MARGIN_MS = 1_000;
/** fuse-native's own timer, the last resort behind the adapter's deadlines. */
const FUSE_TIMEOUT_MARGIN_MS = 5_000;
const UNMOUNT_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 5_000;
const WATCH_INTERVAL_MS = 500;
const PROBE_TIMEOUT_MS = 20_000;
/** How long the open files of a mount removed from the config keep reading (then ESTALE). */
const DRAIN_GRACE_MS = 5 * 60_000;

export interface LifecycleOptions {
  /**
   * Reads the config again (Fluid mode): each change of the config file, or of a secret file a
   * mount uses, is applied in place (see live-mounts.ts). Absent: the plan is fixed (debug mount).
   */
  readonly reloadPlan?: () => Promise<MountPlan>;
  /** How often the config files are read even without an inotify event. */
  readonly configPollMs?: number;
}

export class MountLifecycle {
  private readonly plan: MountPlan;
  private readonly log: Logger;
  private readonly options: LifecycleOptions;
  private live: LiveMounts | undefined;
  /** Each store's credentials, to push a changed secret file to it (weak: stores come and go with reloads). */
  private readonly credentialsOf = new WeakMap<ObjectStore, RotatingCredentials>();
  private configWatch: ConfigWatch | undefined;
  readonly counters: Counters = createCounters();
  readonly metrics: Metrics;
  private http: Server | undefined;
  private state: MountState = 'starting';
  private fs: Filesystem | undefined;
  private staging: StagingArea | undefined;
  private disk: DiskBlockCache | undefined;
  private watcher: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private fuseStarted = false;
  /** targetPath with symlinks resolved (mountinfo knows the mount by it); set before mounting. */
  private mountPath: string;
  private stopRequest: { reason: string; code: number } | undefined;
  private resolveDone!: (code: number) => void;
  /** Resolves with the exit code once the mount is gone. */
  readonly done: Promise<number>;

  constructor(plan: MountPlan, log: Logger, options: LifecycleOptions = {}) {
    this.plan = plan;
    this.log = log;
    this.options = options;
    this.mountPath = plan.targetPath;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.metrics = new Metrics({
      counters: this.counters,
      state: () => this.state,
      cache: () => {
        const c = this.fs?.cache;
        return { cachedBytes: c?.cachedBytes ?? 0, reservedBytes: c?.reservedBytes ?? 0, hits: c?.stats.hits ?? 0, misses: c?.stats.misses ?? 0 };
      },
      openHandles: () => this.fs?.openHandles ?? 0,
      ...(plan.settings.diskCacheDir !== undefined ? { disk: () => diskTotals(this.disk) } : {}),
      inflightBytes: () => this.fs?.fetcher.inflightBytes ?? 0,
      mountStates: () => this.live?.states() ?? { serving: this.plan.buckets.length, probing: 0, failed: 0, draining: 0 },
      config: () => ({
        generation: this.live?.generation ?? 1,
        ...(this.live?.lastReloadAtMs !== undefined ? { lastReloadMs: this.live.lastReloadAtMs } : {}),
      }),
    });
  }

  async start(): Promise<void> {
    const { plan, log } = this;
    const startedAtMs = Date.now();

    if (plan.settings.metricsAddress) {
      // Up before the probes, so /readyz answers "not ready" rather than nothing while starting.
      const health = sharedHealthProbe(() => probeMount(this.mountPath, FS_TYPE));
      this.http = await startHttpServer(
        plan.settings.metricsAddress,
        {
          metrics: this.metrics,
          ready: () => this.state === 'mounted',
          healthy: () => (this.state === 'mounted' ? health() : Promise.resolve({ ok: false, detail: `mount is ${this.state}` })),
        },
        log,
      );
    }
    const buckets = plan.buckets.map((mount) => {
      try {
        return { mount, store: this.storeFor(mount) };
      } catch (err) {
        // e.g. an unreadable AWS_CA_BUNDLE: one line naming the mount.
        this.state = 'failed';
        throw new StartupError(StartupErrorCode.S3_CLIENT, `${describe(mount)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    });
    try {
      await probeAll(buckets, Math.min(PROBE_TIMEOUT_MS, plan.settings.requestTimeoutMs));
      this.mountPath = await prepareTarget(plan.targetPath, { fsType: FS_TYPE, log });
    } catch (err) {
      for (const b of buckets) b.store.destroy();
      this.state = 'failed';
      throw err;
    }
    const target = this.mountPath;

    const s = plan.settings;
    const writable = plan.kernelWritable;
    if (writable) this.staging = await this.openStaging();
    this.disk = await this.openDiskCache();
    const fs = new Filesystem({
      buckets,
      settings: s,
      startedAtMs,
      onSkippedKey: (bucket, key, why) => log.warn({ mount: bucket, key }, `object key skipped: ${why}`),
      observeWindow: (bytes) => this.metrics.window(bytes),
      usage: {
        maxAgeMs: s.dfScanIntervalMs,
        onPartial: ({ objects, usedBytes }) =>
          log.warn({ objects, usedBytes }, 'df: a bucket has more objects than one scan lists (1,000,000); Used counts only those listed'),
      },
      onBackgroundError: (what, err) => this.backgroundError(what, err),
      warmUp: true,
      ...(this.staging ? { staging: this.staging } : {}),
      ...(this.disk ? { diskLevel: this.disk } : {}),
      onStagingMissing: (mount) =>
        log.warn(
          { mount, option: 'staging-size' },
          'a write needs a local staging file (append, a write before the end, an edit without O_TRUNC) and there is no staging space: EOPNOTSUPP; set staging-size (and staging-dir)',
        ),
    });
    this.fs = fs;
    const fuse = new Fuse(
      target,
      fuseOps(fs, {
        log,
        counters: this.counters,
        readDeadlineMs: s.requestTimeoutMs,
        opDeadlineMs: s.requestTimeoutMs + OP_DEADLINE_MARGIN_MS,
        timeOp: (op) => this.metrics.fuseOp(op),
        writable,
      }),
      {
        force: false,
        mkdir: false,
        allowOther: s.allowOther,
        defaultPermissions: true,
        autoCache: true,
        // fuse-native has no `ro` option and drops timeouts of 0; libfuse reads extra options from
        // the same -o list. A mount that cannot write is `ro`: the kernel answers EROFS itself and
        // mountinfo says so. A writable one needs atomic_o_trunc (else libfuse 2 sends a
        // truncate to 0 before an O_TRUNC open: an extra upload of an empty object) and
        // big_writes (else writes arrive 4 KiB at a time).
        fsname: `${FS_NAME},${writable ? 'rw,big_writes,atomic_o_trunc' : 'ro'},attr_timeout=${s.attrTimeoutMs / 1000},entry_timeout=${s.entryTimeoutMs / 1000}`,
        subtype: FS_SUBTYPE,
        // The adapter's own deadlines fire first; this is the last resort against any other
        // stuck operation. Operations that wait for uploads have none (see fuse-ops.ts).
        timeout: { default: s.requestTimeoutMs + FUSE_TIMEOUT_MARGIN_MS, ...Object.fromEntries(UPLOAD_OPS.map((op) => [op, false])) },
      },
    );
    if (this.stopRequest) return this.finishEarly();
    this.fuseStarted = true;
    try {
      await new Promise<void>((resolve, reject) => {
        fuse.mount((err) =>
          err ? reject(new StartupError(StartupErrorCode.FUSE, `targetPath ${target}: FUSE mount failed: ${err.message}`, { cause: err })) : resolve(),
        );
      });
      await this.waitForMountInfo(target);
    } catch (err) {
      // Whatever failed after FUSE was asked to mount, no exit may leave a mount behind.
      await this.unmount(target, 'start-up failed');
      fs.close();
      await this.closeStaging();
      await this.closeDiskCache();
      this.state = 'failed';
      throw err;
    }
    this.state = 'mounted';
    log.info(
      {
        targetPath: target,
        ...(target !== plan.targetPath ? { configuredTargetPath: plan.targetPath } : {}),
        fsType: FS_TYPE,
        buckets: plan.buckets.map((b) => ({ name: b.name, source: b.source, folder: `/${b.folder.join('/')}`, readOnly: b.readOnly })),
      },
      'mounted',
    );
    this.watcher = setInterval(() => void this.checkStillMounted(), WATCH_INTERVAL_MS);
    this.followConfig(fs);
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

  private storeFor(mount: BucketMount): ObjectStore {
    const s = this.plan.settings;
    let rotating: RotatingCredentials | undefined;
    const store = createStore(
      mount,
      s.requestTimeoutMs,
      this.counters,
      this.metrics,
      this.log,
      (err) => this.backgroundError(`${mount.name}: secret re-read`, err),
      (r) => (rotating = r),
    );
    if (rotating) this.credentialsOf.set(store, rotating);
    return store;
  }

  /**
   * Fluid rewrites config.json in place when the Dataset's mounts change (and writes `[]` before
   * it has any): watch it, and the secret files the mounts read, and apply each change live.
   */
  private followConfig(fs: Filesystem): void {
    const { plan, log } = this;
    const reloadPlan = this.options.reloadPlan;
    if (plan.buckets.length === 0) log.info({ configFile: plan.configFile }, 'no mounts in the Dataset yet: serving an empty folder, waiting for mounts');
    if (reloadPlan === undefined || plan.configFile === undefined) return;
    const configFile = plan.configFile;
    const live = new LiveMounts(
      {
        fs,
        log,
        createStore: (mount) => this.storeFor(mount),
        probe: (mount, store) => probeAll([{ mount, store }], Math.min(PROBE_TIMEOUT_MS, plan.settings.requestTimeoutMs)),
        loadPlan: reloadPlan,
        drainGraceMs: DRAIN_GRACE_MS,
        onReload: (result) => this.metrics.reload(result),
        applySettings: (settings, changed) => {
          fs.retuneReadAhead(settings);
          if (changed.includes('logLevel')) log.level = settings.logLevel;
        },
      },
      plan,
    );
    this.live = live;
    const watchedFiles = (): string[] => [configFile, ...new Set(live.mounts().flatMap(secretFilesOf))];
    this.configWatch = watchConfig({
      files: watchedFiles(),
      ...(this.options.configPollMs !== undefined ? { pollIntervalMs: this.options.configPollMs } : {}),
      onChange: async (changed) => {
        log.info({ changed }, 'config files changed');
        await Promise.all([live.reload(), this.pushSecrets(fs, live, changed)]);
        this.configWatch?.setFiles(watchedFiles());
      },
      onError: (err) => this.backgroundError('config watch', err),
    });
    // A change made between the read at start and the watch's first look would wait for the next one.
    void live.reload();
  }

  /**
   * A secret file a serving mount reads has changed (the kubelet swapped `..data`): its store
   * re-reads the keys now, rather than at its next 403 or when its 60 s cache ends.
   */
  private async pushSecrets(fs: Filesystem, live: LiveMounts, changed: readonly string[]): Promise<void> {
    for (const mount of live.mounts()) {
      if (!secretFilesOf(mount).some((file) => changed.includes(file))) continue;
      const store = fs.storeOf(mount.name);
      const rotating = store && this.credentialsOf.get(store);
      if (!rotating) continue;
      try {
        const keysChanged = await rotating.refresh();
        this.log.info({ mount: mount.name, changed: keysChanged }, 'secret file changed: keys re-read');
      } catch (err) {
        this.backgroundError(`${mount.name}: secret re-read`, err);
      }
    }
  }

  /**
   * The staging area of a writable mount: its own folder inside staging-dir. A folder that cannot
   * be made is not fatal (reads and streamed writes need none): one warning, and edits in place
   * answer EOPNOTSUPP.
   */
  private async openStaging(): Promise<StagingArea | undefined> {
    const { stagingDir, stagingSizeBytes } = this.plan.settings;
    if (stagingSizeBytes === 0) return undefined;
    try {
      const area = await StagingArea.open(stagingDir, stagingSizeBytes);
      this.log.info({ stagingDir: area.dir, stagingSizeBytes }, 'staging area ready');
      return area;
    } catch (err) {
      this.log.warn(
        { option: 'staging-dir', stagingDir, err: err instanceof Error ? err.message : String(err) },
        'cannot make the staging folder: appends and edits in place will answer EOPNOTSUPP',
      );
      return undefined;
    }
  }

  /**
   * The disk level of the block cache (disk-cache-dir). Its folder is named after targetPath:
   * one per Fluid runtime (dataset), so two runtimes on a node never share blocks, and a
   * restarted agent finds its own. Ready at once (the index of blocks already there is rebuilt
   * in the background); a folder it cannot use turns it off with one warning, never the mount.
   */
  private async openDiskCache(): Promise<DiskBlockCache | undefined> {
    const { diskCacheDir, diskCacheSizeBytes } = this.plan.settings;
    if (diskCacheDir === undefined || diskCacheSizeBytes === undefined) return undefined;
    const disk = await DiskBlockCache.open({
      dir: diskCacheDir,
      sourceId: this.plan.targetPath,
      budgetBytes: diskCacheSizeBytes,
      blockSize: BLOCK_SIZE,
      onError: (what, err) => this.log.warn({ option: 'disk-cache-dir', diskCacheDir, err: err.message }, `disk cache: ${what}; reads go on from S3`),
    });
    this.log.info({ diskCacheDir: disk.root, diskCacheSizeBytes }, 'disk cache ready');
    return disk;
  }

  private async closeDiskCache(): Promise<void> {
    const disk = this.disk;
    this.disk = undefined;
    await disk?.close().catch((err: unknown) => this.backgroundError('disk cache close', err));
  }

  private async closeStaging(): Promise<void> {
    const area = this.staging;
    this.staging = undefined;
    await area?.close().catch((err: unknown) => this.backgroundError('staging folder removal', err));
  }

  /** Logged and counted; never thrown: nobody waits for this work. */
  private backgroundError(what: string, err: unknown): void {
    const task = what.includes(': ') ? what.slice(what.lastIndexOf(': ') + 2) : what;
    this.metrics.backgroundError(task);
    this.log.warn({ task: what, err: err instanceof Error ? err.message : String(err) }, `background ${task} failed; still serving`);
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
    const target = this.mountPath;
    const wasMounted = this.state === 'mounted' || this.state === 'failed';
    this.state = 'draining';
    clearInterval(this.watcher);
    this.configWatch?.close();
    this.live?.close();
    this.log.info({ targetPath: target, reason }, 'stopping');
    if (wasMounted) await this.unmount(target, reason);
    this.fs?.close();
    await this.closeStaging();
    await this.closeDiskCache();
    this.http?.close();
    this.http?.closeAllConnections();
    this.state = 'stopped';
    this.log.info({ targetPath: target, code, counters: this.counters }, 'stopped');
    this.resolveDone(code);
  }

  /** Our mount at `target`, if it is still there: detach it, lazily when a file is still open. */
  private async unmount(target: string, reason: string): Promise<void> {
    const ours = await mountsAt(target).then(
      (m) => m.some(isOurs),
      () => true,
    );
    if (!ours) return;
    const plain = await runTool('fusermount', ['-u', '--', target], UNMOUNT_TIMEOUT_MS);
    if (plain.ok) return;
    this.log.warn({ targetPath: target, reason, why: toolFailure('fusermount', plain) }, 'unmount refused (busy?); unmounting lazily');
    const lazy = await runTool('fusermount', ['-uz', '--', target], UNMOUNT_TIMEOUT_MS);
    if (!lazy.ok) this.log.error({ targetPath: target, why: toolFailure('fusermount', lazy) }, 'lazy unmount failed');
  }

  private async checkStillMounted(): Promise<void> {
    if (this.state !== 'mounted') return;
    let present: boolean;
    try {
      present = (await mountsAt(this.mountPath)).some(isOurs);
    } catch (err) {
      this.backgroundError('mount watch', err);
      return;
    }
    if (!present && this.state === 'mounted') void this.stop('unmounted from outside');
  }

  private async waitForMountInfo(target: string): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if ((await mountsAt(target)).some(isOurs)) return;
      await setTimeout(20);
    }
    throw new StartupError(StartupErrorCode.FUSE, `targetPath ${target}: the mount did not appear in /proc/self/mountinfo within ${READY_TIMEOUT_MS / 1000} s`);
  }
}

/** /metrics' view of the disk cache (zeros before it is open and after it closed). */
function diskTotals(disk: DiskBlockCache | undefined): DiskCacheTotals {
  const s = disk?.stats();
  const n = (v: number | undefined): number => v ?? 0;
  return {
    ...{ hits: n(s?.hits), misses: n(s?.misses), bytesRead: n(s?.bytesRead), bytesWritten: n(s?.bytesWritten), evictions: n(s?.evictions) },
    ...{ errors: n(s?.errors), corrupt: n(s?.corrupt), dropped: n(s?.dropped), notAdmitted: n(s?.notAdmitted), usedBytes: n(s?.usedBytes) },
    ...{ files: n(s?.files), disabled: s?.disabled === true ? 1 : 0 },
  };
}

function secretFilesOf(mount: BucketMount): string[] {
  const c = mount.credentials;
  return [c?.accessKeyId.file, c?.secretAccessKey.file, c?.sessionToken?.file].filter((f): f is string => f !== undefined);
}

function isOurs(m: { fsType: string }): boolean {
  return m.fsType === FS_TYPE;
}
