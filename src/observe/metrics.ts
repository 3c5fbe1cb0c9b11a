/**
 * Every metric the agent exports, declared in one place (Prometheus text format, prom-client).
 *
 * Hot-path numbers (bytes, reads, cache hits) are plain counters incremented where they happen
 * and read only when /metrics is scraped (`collect`), so the read path pays a property
 * increment, not a label lookup. Names carry their unit; no label ever carries a path, a key or
 * a secret.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Counters } from './counters.js';

/** The states of the mount lifecycle (mount/lifecycle.ts), one label each in the state gauge. */
const MOUNT_STATES = ['starting', 'mounted', 'draining', 'stopped', 'failed'] as const;
export type MountState = (typeof MOUNT_STATES)[number];

export interface MetricSources {
  readonly counters: Counters;
  readonly state: () => MountState;
  readonly cache: () => { cachedBytes: number; reservedBytes: number; hits: number; misses: number };
  readonly openHandles: () => number;
  readonly inflightBytes: () => number;
  /** How many mounts (Fluid mount names) are in each state. */
  readonly mountStates?: () => Readonly<Record<MountHealth, number>>;
  /** Which config is served: generation 1 is the one read at start. */
  readonly config?: () => { readonly generation: number; readonly lastReloadMs?: number };
  /** The disk level of the block cache, summed over its folders; undefined: no disk cache. */
  readonly disk?: () => DiskCacheTotals;
}

/** What /metrics shows of the disk cache (the sums of every DiskBlockCache's stats). */
export interface DiskCacheTotals {
  readonly hits: number;
  readonly misses: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly evictions: number;
  readonly errors: number;
  readonly corrupt: number;
  readonly dropped: number;
  readonly notAdmitted: number;
  readonly usedBytes: number;
  readonly files: number;
  /** Folders that turned themselves off after repeated disk errors. */
  readonly disabled: number;
}

/** The state of one Fluid mount inside the FUSE mount (see mount/live-mounts.ts). */
export const MOUNT_HEALTHS = ['serving', 'probing', 'failed', 'draining'] as const;
export type MountHealth = (typeof MOUNT_HEALTHS)[number];

/** The outcome of reading a changed config: `invalid` keeps the last good one serving. */
export type ReloadResult = 'applied' | 'unchanged' | 'invalid';

/** What the store reports per request (op: HEAD, LIST, GET; status: HTTP status or error kind). */
export interface RequestObserver {
  request(op: string, status: string): void;
}

export class Metrics implements RequestObserver {
  readonly registry = new Registry();
  private readonly s3Requests: Counter<'op' | 'status'>;
  private readonly fuseErrors: Counter<'op' | 'errno'>;
  private readonly fuseLatency: Histogram<'op'>;
  private readonly windows: Histogram;
  private readonly internalErrors: Counter<'kind'>;
  private readonly backgroundErrors: Counter<'task'>;
  private readonly reloads: Counter<'result'>;

  constructor(src: MetricSources) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: 'fluid_s3_fuse_' });
    this.s3Requests = new Counter({
      name: 'fluid_s3_fuse_s3_requests_total',
      help: 'S3 requests by operation and outcome (HTTP status or error kind)',
      labelNames: ['op', 'status'],
      registers: [r],
    });
    this.fuseErrors = new Counter({
      name: 'fluid_s3_fuse_fuse_errors_total',
      help: 'FUSE operations answered with an error, by operation and errno',
      labelNames: ['op', 'errno'],
      registers: [r],
    });
    this.fuseLatency = new Histogram({
      name: 'fluid_s3_fuse_fuse_op_duration_seconds',
      help: 'Time from a FUSE request to its answer, by operation',
      labelNames: ['op'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [r],
    });
    this.windows = new Histogram({
      name: 'fluid_s3_fuse_readahead_window_bytes',
      help: 'Read-ahead window sizes chosen at each refill',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256].map((m) => m * 1024 * 1024),
      registers: [r],
    });
    this.internalErrors = new Counter({
      name: 'fluid_s3_fuse_internal_errors_total',
      help: 'Errors nobody handled (the mount kept serving), by kind',
      labelNames: ['kind'],
      registers: [r],
    });
    this.backgroundErrors = new Counter({
      name: 'fluid_s3_fuse_background_errors_total',
      help: 'Failures of work no request waits for (df scans, listing prefetch, secret re-reads), by task',
      labelNames: ['task'],
      registers: [r],
    });
    this.reloads = new Counter({
      name: 'fluid_s3_fuse_config_reloads_total',
      help: 'Changed config files read while mounted, by result (invalid: the last good config kept serving)',
      labelNames: ['result'],
      registers: [r],
    });
    const total = (name: string, help: string, value: () => number): void => {
      new Counter({
        name,
        help,
        registers: [r],
        collect() {
          this.reset();
          this.inc(value());
        },
      });
    };
    const gauge = (name: string, help: string, value: () => number): void => {
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          this.set(value());
        },
      });
    };
    const c = src.counters;
    total('fluid_s3_fuse_s3_fetched_bytes_total', 'Object bytes received from S3', () => c.s3BytesFetched);
    total('fluid_s3_fuse_fuse_read_bytes_total', 'Bytes answered to FUSE reads', () => c.fuseBytesRead);
    total('fluid_s3_fuse_fuse_reads_total', 'FUSE read requests', () => c.fuseReads);
    total('fluid_s3_fuse_cache_hits_total', 'Block lookups answered from the cache', () => src.cache().hits);
    total('fluid_s3_fuse_cache_misses_total', 'Block lookups that needed a download', () => src.cache().misses);
    gauge('fluid_s3_fuse_cache_bytes', 'Bytes held by the block cache', () => src.cache().cachedBytes);
    gauge('fluid_s3_fuse_cache_reserved_bytes', 'Bytes reserved for downloads in flight', () => src.cache().reservedBytes);
    gauge('fluid_s3_fuse_inflight_bytes', 'Bytes of ranged GETs in flight', src.inflightBytes);
    gauge('fluid_s3_fuse_open_handles', 'Open file handles', src.openHandles);
    new Gauge({
      name: 'fluid_s3_fuse_mount_state',
      help: 'Lifecycle state of the mount (1 for the current state)',
      labelNames: ['state'],
      registers: [r],
      collect() {
        const now = src.state();
        for (const s of MOUNT_STATES) this.set({ state: s }, s === now ? 1 : 0);
      },
    });
    const { mountStates, config } = src;
    if (mountStates) {
      new Gauge({
        name: 'fluid_s3_fuse_mounts',
        help: 'Dataset mounts by state (probing: its bucket does not answer yet; failed: its config is wrong; draining: removed, files still open)',
        labelNames: ['state'],
        registers: [r],
        collect() {
          const counts = mountStates();
          for (const s of MOUNT_HEALTHS) this.set({ state: s }, counts[s]);
        },
      });
    }
    const { disk } = src;
    if (disk) {
      total('fluid_s3_fuse_disk_cache_hits_total', 'Blocks read from the disk cache', () => disk().hits);
      total('fluid_s3_fuse_disk_cache_misses_total', 'Blocks looked up on disk and not found (then fetched from S3)', () => disk().misses);
      total('fluid_s3_fuse_disk_cache_read_bytes_total', 'Bytes read from the disk cache', () => disk().bytesRead);
      total('fluid_s3_fuse_disk_cache_written_bytes_total', 'Bytes written to the disk cache', () => disk().bytesWritten);
      total('fluid_s3_fuse_disk_cache_evictions_total', 'Block files evicted (budget or free-space floor)', () => disk().evictions);
      total('fluid_s3_fuse_disk_cache_errors_total', 'Disk errors of the cache (each read that S3 then served)', () => disk().errors);
      total('fluid_s3_fuse_disk_cache_corrupt_total', 'Block files that failed their check and were deleted', () => disk().corrupt);
      total('fluid_s3_fuse_disk_cache_dropped_total', 'Blocks not written: queue full, cache indexing, off or closing', () => disk().dropped);
      total(
        'fluid_s3_fuse_disk_cache_not_admitted_total',
        'Blocks not admitted: budget full of recently used blocks, or the free-space floor',
        () => disk().notAdmitted,
      );
      gauge('fluid_s3_fuse_disk_cache_bytes', 'Bytes of block files on disk', () => disk().usedBytes);
      gauge('fluid_s3_fuse_disk_cache_files', 'Block files on disk', () => disk().files);
      gauge('fluid_s3_fuse_disk_cache_disabled', 'Cache folders turned off after repeated disk errors', () => disk().disabled);
    }
    if (config) {
      gauge('fluid_s3_fuse_config_generation', 'Configs applied since start (1: the one read at start)', () => config().generation);
      gauge('fluid_s3_fuse_config_last_reload_timestamp_seconds', 'When a changed config was last read (0: never)', () => (config().lastReloadMs ?? 0) / 1000);
    }
  }

  reload(result: ReloadResult): void {
    this.reloads.inc({ result });
  }

  request(op: string, status: string): void {
    this.s3Requests.inc({ op, status });
  }

  internalError(kind: string): void {
    this.internalErrors.inc({ kind });
  }

  /** `task` is a fixed category (never a path, key or mount name). */
  backgroundError(task: string): void {
    this.backgroundErrors.inc({ task });
  }

  window(bytes: number): void {
    this.windows.observe(bytes);
  }

  /** Starts timing a FUSE operation; call the result when answering. */
  fuseOp(op: string): (errno?: string) => void {
    const end = this.fuseLatency.startTimer({ op });
    return (errno) => {
      end();
      if (errno) this.fuseErrors.inc({ op, errno });
    };
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
