/**
 * One file open for writing: what the filesystem's write, read, truncate, flush/fsync and
 * release of a writable handle call.
 *
 * A handle is in one of these states:
 * - clean: an existing object, nothing written yet; reads go to S3 (the version opened). An
 *   empty object, and on a mount without staging space an object of at most one part, is
 *   edited as a stream of its bytes instead (streamFromClean).
 * - streaming: a new file or O_TRUNC, written from its start; uploaded while written
 *   (streaming-writer.ts). A new or truncated file is dirty from the start: even an empty file
 *   is committed. A commit that was one PUT leaves every byte in memory, so the handle goes on
 *   streaming; after a multipart commit it is clean, its base the new object.
 * - staging: everything else (a write before the end outside the bytes still in memory,
 *   append to or edit of an existing object, truncate to a non-zero size): the object is
 *   copied into a local StagingFile, edited there and uploaded from there at commit. After a
 *   commit the file stays staged: it equals the object, and the next edit needs no download.
 * - failed: an upload failed (after the store's own retries). It was aborted; the first
 *   operation after it gets its error, every later one EIO.
 * - closed: after close or discard; EBADF.
 *
 * Leaving streaming for staging when parts were uploaded needs those parts, and S3 cannot give
 * them back before the upload completes: the handle then commits what it has and stages from
 * that object. The bytes written so far thus become visible in S3 before close (a writer that
 * seeks back into uploaded parts of a file it creates does not get all-or-nothing visibility).
 * When nothing was uploaded yet, memory is copied to the staging file and nothing is committed.
 *
 * Operations on one handle may arrive concurrently (FUSE runs them in parallel): they are
 * serialised here, in arrival order.
 *
 * Never is a success reported for bytes not in S3: commit resolves only after the PUT or the
 * CompleteMultipartUpload succeeded, and a part that failed while the writer was idle surfaces
 * at its next operation (never as an unhandled rejection).
 */
import { FsError } from '../fs-error.js';
import type { ObjectStore, WrittenObject } from '../store/object-store.js';
import { CleanReader } from './clean-reader.js';
import type { AbortFailed } from './multipart-upload.js';
import { PartSchedule } from './part-schedule.js';
import { downloadInto, readObjectRange, uploadFrom, type TransferContext } from './staged-upload.js';
import type { StagingArea, StagingFile } from './staging-area.js';
import { StreamingWriter } from './streaming-writer.js';
import type { WriteMemory } from './write-memory.js';

export interface WriteHandleOptions {
  readonly store: ObjectStore;
  readonly key: string;
  /** The object in S3 now; undefined: a new file. */
  readonly base: { readonly size: number; readonly etag: string } | undefined;
  /** O_TRUNC or a new file: the file starts empty (and is dirty: even 0 bytes get committed). */
  readonly truncate: boolean;
  readonly memory: WriteMemory;
  /** undefined: no staging space; what needs it answers EOPNOTSUPP and calls onStagingMissing once per handle. */
  readonly staging: StagingArea | undefined;
  /** First part size (>= UPLOAD_LIMITS.MIN_PART_BYTES; the mount's part-size, 8 MiB default). */
  readonly partSizeBytes: number;
  /** Parts in flight per handle (default 8). */
  readonly uploadConcurrency?: number;
  readonly onStagingMissing?: () => void;
  readonly onAbortFailed?: AbortFailed;
}

export interface CommittedObject extends WrittenObject {
  readonly size: number;
}

// 8: on a link that caps each connection (20 MB/s in the slow-link bench) a file's upload goes
// as fast as its parts in flight; with 4, dd of 1 GiB ran at 69 MB/s against s3fs's 107 (8) and
// the raw SDK's 125 (8). Memory stays within the writers' share: a part waits for its buffer.
export const DEFAULT_UPLOAD_CONCURRENCY = 8;

type State =
  | { readonly kind: 'clean' }
  | { readonly kind: 'streaming'; readonly writer: StreamingWriter }
  | { readonly kind: 'staging'; readonly file: StagingFile }
  | { readonly kind: 'failed'; readonly error: unknown; reported: boolean }
  | { readonly kind: 'closed' };

export class WriteHandle {
  private readonly opts: WriteHandleOptions;
  private readonly schedule: PartSchedule;
  private readonly transfer: TransferContext;
  /** Fires at discard: waits for memory and uploads in flight end. */
  private readonly discarded = new AbortController();
  private base: { size: number; etag: string } | undefined;
  private state: State;
  private readonly cleanReader: CleanReader;
  private dirtyFlag: boolean;
  private stagingMissingTold = false;
  /** The tail of the queue of operations (each waits for the one before). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: WriteHandleOptions) {
    this.opts = opts;
    this.schedule = new PartSchedule(opts.partSizeBytes, opts.memory.writerLimitBytes / 4);
    this.transfer = {
      store: opts.store,
      key: opts.key,
      schedule: this.schedule,
      memory: opts.memory,
      concurrency: opts.uploadConcurrency ?? DEFAULT_UPLOAD_CONCURRENCY,
      signal: this.discarded.signal,
      ...(opts.onAbortFailed && { onAbortFailed: opts.onAbortFailed }),
    };
    this.cleanReader = new CleanReader(this.transfer);
    this.base = opts.base === undefined ? undefined : { size: opts.base.size, etag: opts.base.etag };
    const fresh = opts.truncate || opts.base === undefined;
    this.state = fresh ? this.newStream() : { kind: 'clean' };
    this.dirtyFlag = fresh;
  }

  /** The file's size as this handle sees it. */
  get size(): number {
    switch (this.state.kind) {
      case 'streaming':
        return this.state.writer.size;
      case 'staging':
        return this.state.file.size;
      default:
        return this.base?.size ?? 0;
    }
  }

  /** Bytes changed since the last commit (a new or truncated file starts dirty). */
  get dirty(): boolean {
    return this.dirtyFlag;
  }

  write(pos: number, data: Buffer): Promise<void> {
    return this.serialised(async () => {
      checkOffset(pos, 'write');
      // Every FUSE write passes here: the awaits below are taken only when there is work.
      if (!this.readyNow()) await this.usable();
      if (data.length === 0) return;
      this.checkFits(pos + data.length);
      if (this.state.kind === 'clean') {
        this.cleanReader.drop(); // the handle leaves clean: its memory serves the writes
        await this.streamFromClean();
      }
      const state = this.state;
      if (state.kind === 'streaming' && state.writer.canWrite(pos, data.length)) {
        await this.uploading(() => state.writer.write(pos, data));
        this.dirtyFlag = true;
        return;
      }
      const file = await this.staged();
      await file.write(pos, data);
      this.dirtyFlag = true;
    });
  }

  /**
   * `mayStage` false (a reader that is not the writer, e.g. `tail -f` of a log being written):
   * bytes already uploaded but not committed answer EBUSY instead of making the writer commit
   * what it has and stage it.
   */
  read(pos: number, len: number, mayStage = true): Promise<Buffer> {
    return this.serialised(async () => {
      checkOffset(pos, 'read');
      await this.usable();
      const end = Math.min(this.size, pos + Math.max(0, len));
      if (end <= pos) return Buffer.alloc(0);
      const state = this.state;
      if (state.kind === 'clean') {
        const base = this.base as { size: number; etag: string };
        return this.cleanReader.read(base.etag, base.size, pos, end);
      }
      if (state.kind === 'streaming' && state.writer.canRead(pos, end - pos)) return state.writer.read(pos, end - pos);
      if (state.kind === 'streaming' && !mayStage) {
        throw new FsError('EBUSY', `${this.transfer.key}: bytes ${pos}-${end - 1} are on their way to S3 and can be read once the writer closes the file`);
      }
      const file = await this.staged();
      return file.read(pos, end - pos);
    });
  }

  truncate(size: number): Promise<void> {
    return this.serialised(async () => {
      checkOffset(size, 'truncate');
      await this.usable();
      this.checkFits(size);
      if (size === this.size) return;
      this.cleanReader.drop();
      const state = this.state;
      if (size === 0) {
        // Nothing of the old bytes is needed (O_TRUNC on a file already open): start a new
        // stream; an upload going on is dropped, a staged copy freed.
        if (state.kind === 'streaming') await state.writer.abort();
        if (state.kind === 'staging') await state.file.close();
        this.state = this.newStream();
        this.dirtyFlag = true;
        return;
      }
      await this.streamFromClean();
      if (this.state.kind === 'streaming' && this.state.writer.canTruncate(size)) {
        const writer = this.state.writer;
        await this.uploading(() => writer.truncate(size));
        this.dirtyFlag = true;
        return;
      }
      const file = await this.staged();
      await file.truncate(size);
      this.dirtyFlag = true;
    });
  }

  /**
   * The file was renamed while open, just after a commit (the caller commits first): from now
   * on reads, uploads and messages use `key`, and `base` is the object there now (the copy's etag).
   */
  moveTo(key: string, base: { readonly size: number; readonly etag: string }): Promise<void> {
    return this.serialised(async () => {
      await this.usable();
      if (this.dirtyFlag) throw new FsError('EBUSY', `${this.transfer.key}: changed since its last commit; commit before moving it`);
      this.transfer.key = key;
      this.base = { size: base.size, etag: base.etag };
    });
  }

  /** Uploads the file if it is dirty; undefined when there was nothing to do. */
  commit(): Promise<CommittedObject | undefined> {
    return this.serialised(() => this.commitNow());
  }

  /** Commits, then frees the memory and the staging file; the handle is closed either way. */
  close(): Promise<CommittedObject | undefined> {
    return this.serialised(async () => {
      try {
        return await this.commitNow();
      } finally {
        await this.release();
      }
    });
  }

  /** Drops everything without a commit (shutdown): cancels waits and uploads, aborts them in S3. */
  discard(): Promise<void> {
    this.discarded.abort();
    return this.serialised(() => this.release());
  }

  private async commitNow(): Promise<CommittedObject | undefined> {
    await this.usable();
    if (!this.dirtyFlag) return undefined;
    const state = this.state;
    let written: WrittenObject;
    let size: number;
    if (state.kind === 'streaming') {
      size = state.writer.size;
      written = await this.uploading(() => state.writer.commit());
      // A file that was one PUT is still all in memory: it goes on streaming.
      if (state.writer.spent) this.state = { kind: 'clean' };
    } else if (state.kind === 'staging') {
      size = state.file.size;
      written = await this.uploading(() => uploadFrom(this.transfer, state.file));
    } else {
      return undefined;
    }
    this.base = { size, etag: written.etag };
    this.dirtyFlag = false;
    return { ...written, size };
  }

  /**
   * A clean handle whose edit can be served in memory becomes a stream of the object's bytes:
   * an empty object (nothing to fetch: `touch f` then `>> f`), and, on a mount without staging
   * space, an object of at most one part (fetched into the first part's memory), so a small
   * file can be appended to or edited there instead of answering EOPNOTSUPP. Returns whether it
   * did; not dirty by itself.
   */
  private async streamFromClean(): Promise<boolean> {
    if (this.state.kind !== 'clean') return false;
    const base = this.base as { size: number; etag: string };
    const inMemory = base.size === 0 || (this.opts.staging === undefined && base.size <= this.schedule.firstPartBytes);
    if (!inMemory) return false;
    const stream = new StreamingWriter(this.transfer);
    if (base.size > 0) {
      try {
        await this.opts.memory.acquire(base.size, this.discarded.signal);
        try {
          await stream.write(0, await readObjectRange(this.transfer, base.etag, 0, base.size));
        } finally {
          this.opts.memory.release(base.size);
        }
      } catch (err) {
        await stream.abort();
        throw err;
      }
    }
    this.state = { kind: 'streaming', writer: stream };
    return true;
  }

  /**
   * The staging file, entering staging first: from a stream (copied from memory, or committed
   * first when parts were uploaded) or from the object in S3.
   */
  private async staged(): Promise<StagingFile> {
    if (this.state.kind === 'staging') return this.state.file;
    const area = this.opts.staging;
    if (area === undefined) {
      if (!this.stagingMissingTold) {
        this.stagingMissingTold = true;
        this.opts.onStagingMissing?.();
      }
      throw new FsError('EOPNOTSUPP', `${this.transfer.key}: this write needs a local staging file and the mount has no staging space`);
    }
    const state = this.state;
    if (state.kind === 'streaming' && !state.writer.uploadedAny) {
      const file = await area.createFile();
      try {
        await state.writer.copyTo((pos, data) => file.write(pos, data));
      } catch (err) {
        await file.close();
        throw err;
      }
      await state.writer.abort();
      this.state = { kind: 'staging', file };
      return file;
    }
    if (state.kind === 'streaming') await this.commitNow();
    const base = this.base as { size: number; etag: string };
    const file = await area.createFile();
    try {
      await downloadInto(this.transfer, base.etag, base.size, file);
    } catch (err) {
      await file.close();
      throw err;
    }
    this.state = { kind: 'staging', file };
    return file;
  }

  /**
   * Runs an operation that may upload. The filesystem's own refusals (ENOMEM, EFBIG, ENOSPC)
   * leave the handle as it was; any other failure is an upload that failed: the handle was
   * aborted and answers EIO from now on.
   */
  private async uploading<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (err instanceof FsError) throw err;
      await this.fail(err);
      throw err;
    }
  }

  private async fail(error: unknown): Promise<void> {
    await this.release();
    this.state = { kind: 'failed', error, reported: true };
  }

  /** Whether `usable` would find nothing to report (checked without a promise). */
  private readyNow(): boolean {
    const state = this.state;
    if (this.discarded.signal.aborted || state.kind === 'closed' || state.kind === 'failed') return false;
    return state.kind !== 'streaming' || state.writer.failure === undefined;
  }

  /** Throws if the handle cannot take operations; a part that failed while idle surfaces here. */
  private async usable(): Promise<void> {
    const state = this.state;
    if (state.kind === 'closed') throw new FsError('EBADF', `${this.transfer.key}: the write handle is closed`);
    if (state.kind === 'failed') {
      if (!state.reported) {
        state.reported = true;
        throw state.error;
      }
      throw new FsError('EIO', `${this.transfer.key}: an upload of this file failed earlier`, { cause: state.error });
    }
    if (this.discarded.signal.aborted) throw new FsError('EBADF', `${this.transfer.key}: the write handle was discarded`);
    if (state.kind === 'streaming' && state.writer.failure !== undefined) {
      const { error } = state.writer.failure;
      // The upload is lost: abort it (after its parts in flight settled); the caller gets this
      // error, later calls EIO.
      await state.writer.abort();
      this.state = { kind: 'failed', error, reported: true };
      throw error;
    }
  }

  private checkFits(end: number): void {
    if (end > this.schedule.maxObjectBytes) {
      throw new FsError('EFBIG', `${this.transfer.key}: ${end} bytes is past the largest object an upload can hold (${this.schedule.maxObjectBytes} bytes)`);
    }
  }

  private newStream(): State {
    return { kind: 'streaming', writer: new StreamingWriter(this.transfer) };
  }

  /** Frees memory and the staging file; the handle is closed. */
  private async release(): Promise<void> {
    this.cleanReader.drop();
    const state = this.state;
    this.state = { kind: 'closed' };
    if (state.kind === 'streaming') await state.writer.abort();
    if (state.kind === 'staging') await state.file.close();
  }

  private serialised<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function checkOffset(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new FsError('EINVAL', `${what}: ${n} is not a valid offset or size`);
}
