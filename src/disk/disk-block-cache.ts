/**
 * The second level of the read cache: blocks of object data in files on a local disk, under the
 * memory block cache and above the store (memory → disk → S3).
 *
 * What it promises:
 * - Never wrong bytes. A block file is named by a hash of the object's identity (store, key,
 *   etag, size, block size: see disk-key.ts) and carries that identity, its index, its length
 *   and a CRC-32 in its header (block-file.ts), all checked on every read. A file that fails
 *   any check is deleted, counted, and the read is a miss. Files are written under a temporary
 *   name and renamed, so a crash leaves either the whole block or no block.
 * - Never a failed read. get() answers undefined and put() drops the block on any disk error
 *   (EIO, ENOSPC, EROFS, …); errors are counted, the first of each kind is reported, and after
 *   `maxErrors` within `errorWindowMs` the cache turns itself off (disk-errors.ts).
 * - Never slower reads. put() only queues: files are written by DISK_WRITERS background
 *   writers (four: while some wait for the disk the others' syscalls run; the agent gives libuv
 *   eight threads, so half stay free for reads), from a queue bounded in bytes; a block that
 *   finds the queue full is dropped, not buffered.
 * - Never a full disk. A hard byte budget (every file, header included, temporary ones too) and
 *   a free-space floor on the filesystem (default: keep 15% free; the kubelet evicts pods under
 *   10%), read with statfs every `statfsIntervalMs` and estimated in between. Under the floor,
 *   the cache evicts its least recently used blocks until the floor holds again and admits
 *   nothing meanwhile.
 * - Ready at once; blocks survive a restart. Each mount source has its own folder (a hash of
 *   the source id under `dir`: two runtimes with different sources never share blocks). On
 *   open, the blocks already there are indexed in the background (readdir + stat); until that
 *   ends, a get looks for the file itself (a block found is a hit), and puts are dropped so the
 *   budget is never exceeded by files not yet counted. Leftover temporary files are removed.
 *   Only files this module names (`<hash>.<index>.blk`, `….tmp`) are ever removed; folders never.
 *
 * Eviction and admission. Eviction is LRU by last use (a hit counts as a use). Plain LRU is the
 * worst policy for the common case of a data set larger than the cache read in epochs: each
 * block is evicted just before it is needed again, and every epoch downloads everything. So a
 * block used within the last `protectMs` (default 30 minutes, longer than an epoch of most
 * jobs) is never evicted to make room: when the least recently used block is that recent, the
 * new block is not admitted and the reader streams it from S3. The cache keeps what it holds
 * (the first budget's worth of the data set, which the next epoch then reads at disk speed)
 * instead of thrashing. Blocks nobody used for `protectMs` (a job that moved on to other data)
 * make room for new ones as in plain LRU. The free-space floor and a budget smaller than what a
 * restart found override the protection.
 *
 * No timers: everything happens on get/put, so close() leaves nothing behind.
 */
import path from 'node:path';
import { type Clock, systemClock } from '../clock.js';
import { decodeBlock, encodeHeader, fileBytes } from './block-file.js';
import { DiskErrors, type DiskErrorReporter } from './disk-errors.js';
import { DiskIndex } from './disk-index.js';
import { type DiskIo, type FsSpace, nodeDiskIo } from './disk-io.js';
import { type DiskKey, blockFileName, identityOf, isOurFile, sourceFolderName, TEMP_SUFFIX } from './disk-key.js';

export interface DiskBlockCacheOptions {
  /** The cache folder (e.g. the ThinRuntime tieredstore path); the cache uses a subfolder of it. */
  readonly dir: string;
  /** The mount source (endpoint, bucket, prefix): hashed into the subfolder's name. */
  readonly sourceId: string;
  /** Hard limit on the bytes of all block files, headers included. */
  readonly budgetBytes: number;
  /** The read path's block size: blocks are cached whole, and cut at this size. */
  readonly blockSize: number;
  /** Free space to leave on the filesystem: bytes, or a fraction of its size when below 1. Default 0.15. */
  readonly minFreeBytes?: number;
  /** A block used this recently is never evicted to admit another (see the module comment). Default 30 min. */
  readonly protectMs?: number;
  /** Bytes of blocks waiting to be written; more are dropped. Default max(64 MiB, 4 blocks). */
  readonly maxQueueBytes?: number;
  /** Errors within `errorWindowMs` that turn the cache off. Defaults 5 and 60 s. */
  readonly maxErrors?: number;
  readonly errorWindowMs?: number;
  /** How often the free space is read with statfs (estimated from writes in between). Default 2 s. */
  readonly statfsIntervalMs?: number;
  /** Told of the first error of each kind, and once when the cache turns itself off. */
  readonly onError?: DiskErrorReporter;
  readonly clock?: Clock;
  /** File operations (tests inject failures). */
  readonly io?: DiskIo;
}

export interface DiskCacheStats {
  hits: number;
  misses: number;
  bytesRead: number;
  bytesWritten: number;
  /** Block files written. */
  writes: number;
  evictions: number;
  /** Disk errors (reads, writes, renames, unlinks, statfs, the index scan). */
  errors: number;
  /** Block files that failed a check on read, and were deleted. */
  corrupt: number;
  /** Blocks not written: queue full, index not yet rebuilt, cache off or closing. */
  dropped: number;
  /** Blocks not admitted: the budget is full of recently used blocks, or the free-space floor. */
  notAdmitted: number;
  usedBytes: number;
  files: number;
  disabled: boolean;
  indexing: boolean;
}

interface PendingWrite {
  readonly name: string;
  readonly identity: Buffer;
  readonly index: number;
  readonly data: readonly Buffer[];
  readonly dataLen: number;
  /** The block is a whole small object (see DiskIndex). */
  readonly whole: boolean;
}

const MiB = 1024 * 1024;
/** Files written at once. */
const DISK_WRITERS = 4;

export class DiskBlockCache {
  /** The folder of this source's blocks. */
  readonly root: string;
  private readonly budget: number;
  private readonly blockSize: number;
  private readonly minFree: number;
  private readonly protectMs: number;
  private readonly maxQueueBytes: number;
  private readonly statfsIntervalMs: number;
  private readonly clock: Clock;
  private readonly io: DiskIo;
  private readonly errors: DiskErrors;
  private readonly index = new DiskIndex();
  private readonly s = { hits: 0, misses: 0, bytesRead: 0, bytesWritten: 0, writes: 0, evictions: 0, corrupt: 0, dropped: 0, notAdmitted: 0 };
  private indexing = true;
  private closed = false;
  private closing: Promise<void> | undefined;
  private scanning: Promise<void> = Promise.resolve();
  private queue: PendingWrite[] = [];
  private readonly queued = new Set<string>();
  private queuedBytes = 0;
  /** Writers running, and what flush() waits on while there are any. */
  private writers = 0;
  private idle: { promise: Promise<void>; resolve: () => void } | undefined;
  /** Space made for files being written (counted against the budget and the floor until indexed). */
  private reserved = 0;
  private readonly subfolders = new Set<string>();
  private tempSeq = 0;
  private space: { at: number; fs: FsSpace; written: number; freed: number } | undefined;

  private constructor(opts: DiskBlockCacheOptions) {
    for (const k of ['budgetBytes', 'blockSize'] as const) {
      if (!(Number.isFinite(opts[k]) && opts[k] > 0)) throw new TypeError(`disk cache: ${k} must be a positive number, got ${opts[k]}`);
    }
    if (opts.minFreeBytes !== undefined && !(opts.minFreeBytes >= 0)) throw new TypeError(`disk cache: minFreeBytes must be ≥ 0, got ${opts.minFreeBytes}`);
    this.root = path.join(opts.dir, sourceFolderName(opts.sourceId));
    this.budget = opts.budgetBytes;
    this.blockSize = opts.blockSize;
    this.minFree = opts.minFreeBytes ?? 0.15;
    this.protectMs = opts.protectMs ?? 30 * 60_000;
    this.maxQueueBytes = opts.maxQueueBytes ?? Math.max(64 * MiB, 4 * opts.blockSize);
    this.statfsIntervalMs = opts.statfsIntervalMs ?? 2_000;
    this.clock = opts.clock ?? systemClock;
    this.io = opts.io ?? nodeDiskIo;
    this.errors = new DiskErrors(this.clock, opts.onError ?? (() => undefined), opts.maxErrors ?? 5, opts.errorWindowMs ?? 60_000);
  }

  /**
   * Creates the source's folder (0700) and answers at once; the blocks already there are
   * indexed in the background. A folder that cannot be created gives a cache that is off (and
   * says why through onError), never a failed mount. Throws only for invalid options.
   */
  static async open(opts: DiskBlockCacheOptions): Promise<DiskBlockCache> {
    const c = new DiskBlockCache(opts);
    try {
      await c.io.mkdir(c.root, 0o700);
    } catch (err) {
      c.errors.record('open', err);
      c.errors.disabled = true;
      c.indexing = false;
      return c;
    }
    c.scanning = c.scan();
    return c;
  }

  /** Resolves when the index of the blocks found on open is complete. */
  whenIndexed(): Promise<void> {
    return this.scanning;
  }

  /**
   * Block `index` of `key`, if a valid file of it is on disk; undefined on a miss, a bad file
   * (deleted) or any disk error. Never rejects.
   */
  async get(key: DiskKey, index: number): Promise<Buffer | undefined> {
    const expected = Math.min(this.blockSize, key.size - index * this.blockSize);
    if (this.closed || this.errors.disabled || expected <= 0) return this.miss();
    const identity = identityOf(key, this.blockSize);
    const name = blockFileName(identity, index);
    // Outside a rebuild, the index knows every file: a block it lacks costs no disk access.
    if (!this.index.has(name) && !this.indexing) return this.miss();
    let file: Buffer;
    try {
      // One byte more than a good file has: a longer file is refused, not cut to size.
      file = await this.io.readFile(path.join(this.root, name), fileBytes(identity, expected) + 1);
    } catch (err) {
      // Gone (evicted while this read was on its way, or removed by hand) is a plain miss.
      if (isNotFound(err)) this.index.remove(name);
      else this.fail('read', err);
      return this.miss();
    }
    const data = decodeBlock(file, identity, index, expected);
    if (typeof data === 'string') {
      this.s.corrupt++;
      this.index.remove(name);
      // Awaited (rare, and cheap): once the read is answered, the bad file is gone.
      try {
        await this.io.unlink(path.join(this.root, name));
      } catch (err) {
        if (!isNotFound(err)) this.fail('unlink', err);
      }
      return this.miss();
    }
    if (this.index.has(name)) this.index.touch(name, this.clock.now());
    else if (!this.closed) this.index.add(name, this.onDisk(file.length), this.clock.now(), key.size <= this.blockSize);
    this.s.hits++;
    this.s.bytesRead += data.length;
    return data;
  }

  /**
   * Queues block `index` of `key` (the whole block: `data` must be its full length, in order)
   * to be written in the background. Returns at once; a block that cannot be queued is dropped.
   * `data` is kept, not copied, until written: the caller must not change it.
   */
  put(key: DiskKey, index: number, data: Buffer | readonly Buffer[]): void {
    const chunks = Buffer.isBuffer(data) ? [data] : data;
    const dataLen = chunks.reduce((n, c) => n + c.length, 0);
    const expected = Math.min(this.blockSize, key.size - index * this.blockSize);
    if (dataLen !== expected || expected <= 0) return;
    if (this.closed || this.errors.disabled || this.indexing || this.queuedBytes + dataLen > this.maxQueueBytes) {
      this.s.dropped++;
      return;
    }
    const identity = identityOf(key, this.blockSize);
    const name = blockFileName(identity, index);
    if (this.index.has(name) || this.queued.has(name)) return;
    this.queue.push({ name, identity, index, data: chunks, dataLen, whole: key.size <= this.blockSize });
    this.queued.add(name);
    this.queuedBytes += dataLen;
    this.kick();
  }

  /** Resolves when every block queued so far is written (or dropped). */
  async flush(): Promise<void> {
    while (this.writers > 0) {
      if (this.idle === undefined) {
        let resolve: () => void = () => undefined;
        const promise = new Promise<void>((r) => (resolve = r));
        this.idle = { promise, resolve };
      }
      await this.idle.promise;
    }
  }

  stats(): DiskCacheStats {
    return {
      ...this.s,
      errors: this.errors.count,
      usedBytes: this.index.usedBytes,
      files: this.index.size,
      disabled: this.errors.disabled,
      indexing: this.indexing,
    };
  }

  /** Drops the blocks still queued, waits for the write and the scan under way. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.s.dropped += this.queue.length;
      this.queue = [];
      this.queued.clear();
      this.queuedBytes = 0;
      await this.flush();
      await this.scanning;
    })();
    return this.closing;
  }

  private miss(): undefined {
    this.s.misses++;
    return undefined;
  }

  private fail(op: string, err: unknown): void {
    this.errors.record(op, err);
  }

  /** Starts a writer per queued block, up to DISK_WRITERS; each goes on until the queue is empty. */
  private kick(): void {
    while (this.writers < DISK_WRITERS && this.writers < this.queue.length) {
      this.writers++;
      // drain() catches each write's error; the catch keeps a writer from ever being lost.
      void this.drain()
        .catch((err: unknown) => this.fail('write', err))
        .then(() => {
          this.writers--;
          if (this.writers > 0) return;
          this.idle?.resolve();
          this.idle = undefined;
          // A block queued after the last writer's last look at the queue, before this callback.
          if (this.queue.length > 0) this.kick();
        });
    }
  }

  private async drain(): Promise<void> {
    for (let w = this.queue.shift(); w !== undefined; w = this.queue.shift()) {
      this.queued.delete(w.name);
      this.queuedBytes -= w.dataLen;
      if (this.closed || this.errors.disabled) {
        this.s.dropped++;
        continue;
      }
      try {
        await this.write(w);
      } catch (err) {
        this.fail('write', err);
      }
    }
  }

  private async write(w: PendingWrite): Promise<void> {
    if (this.index.has(w.name)) return;
    const bytes = await this.makeRoom(fileBytes(w.identity, w.dataLen), w.whole);
    if (bytes === undefined) {
      this.s.notAdmitted++;
      return;
    }
    try {
      await this.writeFile(w, bytes);
    } finally {
      this.reserved -= bytes;
    }
  }

  private async writeFile(w: PendingWrite, bytes: number): Promise<void> {
    const sub = path.dirname(w.name);
    if (!this.subfolders.has(sub)) {
      await this.io.mkdir(path.join(this.root, sub), 0o700);
      this.subfolders.add(sub);
    }
    const final = path.join(this.root, w.name);
    const temp = `${final}.${this.tempSeq++}${TEMP_SUFFIX}`;
    try {
      await this.io.writeNew(temp, [encodeHeader(w.identity, w.index, w.data), ...w.data], 0o600);
      await this.io.rename(temp, final);
    } catch (err) {
      this.io.unlink(temp).catch(() => undefined);
      throw err;
    }
    if (this.space) this.space.written += bytes;
    this.index.add(w.name, bytes, this.clock.now(), w.whole);
    this.s.writes++;
    this.s.bytesWritten += w.dataLen;
  }

  /**
   * Whether a file of `size` bytes may be written now, after evicting what the budget and the
   * floor need: the space it will take, reserved (the caller gives it back once the file is
   * indexed or failed), or undefined. The last checks and the reservation are one synchronous
   * step: two writers never both take the last room.
   */
  private async makeRoom(size: number, whole: boolean): Promise<number | undefined> {
    const free = await this.freeBytes();
    const bytes = this.onDisk(size);
    const floor = free === undefined ? undefined : this.floorOf(free.totalBytes);
    if (free !== undefined && floor !== undefined && free.available < floor) {
      // Under the floor: give back our own space, oldest first, until it holds again.
      let short = floor - free.available;
      for (let o = this.index.oldest(); o !== undefined && short > 0; o = this.index.oldest()) short -= await this.evict(o[0]);
      return undefined;
    }
    if (bytes > this.budget) return undefined;
    while (this.index.usedBytes + this.reserved + bytes > this.budget) {
      const o = this.index.oldest();
      if (o === undefined) return undefined;
      if (this.clock.now() - o[1].lastUse >= this.protectMs) {
        await this.evict(o[0]);
        continue;
      }
      // Everything is recent. A whole small object is worth more than a block of a large one,
      // which comes back at the link's speed: it may take that block's place, recent or not.
      const part = whole ? this.index.oldestPart() : undefined;
      if (part === undefined) return undefined;
      await this.evict(part[0]);
    }
    // The floor, counting what the evictions above freed and what other writers reserved meanwhile.
    const available = this.estimatedAvailable();
    if (floor !== undefined && available !== undefined && available - this.reserved - bytes < floor) return undefined;
    this.reserved += bytes;
    return bytes;
  }

  private floorOf(totalBytes: number): number {
    return this.minFree < 1 ? this.minFree * totalBytes : this.minFree;
  }

  /** Free space from the last statfs, less what was written and plus what was freed since. */
  private estimatedAvailable(): number | undefined {
    const s = this.space;
    return s === undefined ? undefined : s.fs.availableBytes - s.written + s.freed;
  }

  /** Removes a block from the index and its file from disk; answers the bytes it took. */
  private async evict(name: string): Promise<number> {
    const e = this.index.remove(name);
    if (!e) return 0;
    this.s.evictions++;
    if (this.space) this.space.freed += e.bytes;
    try {
      await this.io.unlink(path.join(this.root, name));
    } catch (err) {
      if (!isNotFound(err)) this.fail('evict', err);
    }
    return e.bytes;
  }

  /**
   * The space a file of `bytes` takes: its size rounded up to the filesystem's allocation unit
   * (a 1 MiB block and its header take 257 pages, not 256 and a bit), so that the budget and the
   * free-space estimate between two statfs hold for the space used, not the sizes written.
   */
  private onDisk(bytes: number): number {
    const unit = this.space?.fs.blockBytes ?? 1;
    return Math.ceil(bytes / unit) * unit;
  }

  /** Free space on the cache's filesystem: statfs when the last one is old, else an estimate. */
  private async freeBytes(): Promise<{ available: number; totalBytes: number } | undefined> {
    const now = this.clock.now();
    if (this.space === undefined || now - this.space.at >= this.statfsIntervalMs) {
      try {
        this.space = { at: now, fs: await this.io.statfs(this.root), written: 0, freed: 0 };
      } catch (err) {
        this.fail('statfs', err);
        this.space = undefined;
        return undefined;
      }
    }
    return { available: this.estimatedAvailable() as number, totalBytes: this.space.fs.totalBytes };
  }

  /**
   * Indexes the block files a previous run left (oldest first by mtime), removes its temporary
   * files, then evicts down to the budget (which may be smaller than last time).
   */
  private async scan(): Promise<void> {
    const found: { name: string; bytes: number; mtimeMs: number; whole: boolean }[] = [];
    // The filesystem's allocation unit, to count the files found (asked beside the listing).
    const space = this.freeBytes();
    try {
      for (const sub of await this.io.readdir(this.root)) {
        if (!/^[0-9a-f]{2}$/.test(sub)) continue;
        this.subfolders.add(sub);
        for (const f of await this.io.readdir(path.join(this.root, sub))) {
          if (this.closed) return;
          if (!isOurFile(f)) continue;
          const name = path.join(sub, f);
          try {
            if (f.endsWith(TEMP_SUFFIX)) await this.io.unlink(path.join(this.root, name));
            else {
              const st = await this.io.stat(path.join(this.root, name));
              // A file no larger than a block holds less than a block of data: a small object
              // (or, rarely, a large one's last block, counted as one).
              found.push({ name, bytes: st.size, mtimeMs: st.mtimeMs, whole: st.size <= this.blockSize });
            }
          } catch (err) {
            if (!isNotFound(err)) this.fail('index', err);
          }
        }
      }
    } catch (err) {
      this.fail('index', err);
    } finally {
      await space;
      this.index.mergeFound(found.map((f) => ({ ...f, bytes: this.onDisk(f.bytes) })));
      this.indexing = false;
    }
    while (!this.closed && this.index.usedBytes > this.budget) {
      const o = this.index.oldest();
      if (o === undefined) break;
      await this.evict(o[0]);
    }
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
