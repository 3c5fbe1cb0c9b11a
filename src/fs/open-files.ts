/**
 * Files open for writing. A file open for writing is an OpenFile, one per path, shared by every
 * handle open on that path (as an inode is): its WriteHandle (src/write/) holds the bytes until
 * a flush, fsync or the last release commits them to S3. Its bucket finds it by path
 * (LiveBucket.openFiles); this table finds it by handle. Reads of a path with an OpenFile go
 * through it, so they see what was written and never mix the old object with new bytes. Our own
 * changes update the namespace's caches at once.
 */
import type { Clock } from '../clock.js';
import type { Chunks } from '../read/block.js';
import type { ObjectStore } from '../store/object-store.js';
import type { FileEntry } from './entry.js';
import { FsError } from './errno.js';
import { type Attr, fileAttr, type ReaddirAnswer } from './file-attributes.js';
import type { LiveBucket, LiveBuckets } from './live-buckets.js';
import { WriteHandle, type CommittedObject } from '../write/write-handle.js';
import type { WriteMemory } from '../write/write-memory.js';
import type { StagingArea } from '../write/staging-area.js';

/** One path open for writing: shared by every handle open on it, committed by any writer's flush. */
export interface OpenFile {
  readonly bucket: LiveBucket;
  /** Where it is now (a rename moves it). */
  rel: string;
  readonly writer: WriteHandle;
  /** Handles that refer to it. */
  fds: number;
  /** Unlinked while open: its bytes go nowhere, as a deleted local file's. */
  unlinked: boolean;
  /** Time of the last change, for getattr while it is open. */
  mtimeMs: number;
  /** Written or truncated through a handle since it was opened (see WriteOperations.flush). */
  touched: boolean;
}

/** A handle that refers to an OpenFile; `writable`: opened for writing (its flushes commit). */
export interface FileHandle {
  readonly file: OpenFile;
  readonly writable: boolean;
}

export interface OpenFilesOptions {
  /** Each handle is counted in its bucket, so that a removed bucket knows when it has drained. */
  readonly buckets: Pick<LiveBuckets, 'opened' | 'released'>;
  /** A handle number that no reader or writer holds (the two share one number space). */
  readonly allocateHandle: () => number;
  readonly memory: WriteMemory;
  /** Local space for files edited in place; undefined: none (EOPNOTSUPP). */
  readonly staging: StagingArea | undefined;
  readonly partSizeBytes: number;
  /** Told once per mount that a write needed staging space and there was none. */
  readonly onStagingMissing: (mount: string) => void;
  /** A commit that failed at release, and discards at close: nobody waits for them. */
  readonly onBackgroundError: (what: string, err: unknown) => void;
  readonly clock: Clock;
}

export class OpenFiles {
  /** Handles of paths open for writing. */
  private readonly handles = new Map<number, FileHandle>();
  private readonly stagingMissingTold = new Set<string>();

  constructor(private readonly opts: OpenFilesOptions) {}

  /** Handles open. */
  get size(): number {
    return this.handles.size;
  }

  has(fd: number): boolean {
    return this.handles.has(fd);
  }

  get(fd: number): FileHandle | undefined {
    return this.handles.get(fd);
  }

  /** The handle `fd`, or EBADF. */
  handleOf(fd: number): FileHandle {
    const h = this.handles.get(fd);
    if (!h) throw new FsError('EBADF', `handle ${fd} is not open`);
    return h;
  }

  /** A new OpenFile at `rel`, from the object there (if any): emptied when `truncate`. */
  open(bucket: LiveBucket, rel: string, entry: FileEntry | undefined, truncate: boolean): OpenFile {
    const name = bucket.mount.name;
    const writer = new WriteHandle({
      store: bucket.store as ObjectStore,
      key: bucket.mount.prefix + rel,
      base: entry ? { size: entry.size, etag: entry.etag } : undefined,
      truncate: truncate || !entry,
      memory: this.opts.memory,
      staging: this.opts.staging,
      partSizeBytes: this.opts.partSizeBytes,
      onStagingMissing: () => {
        if (this.stagingMissingTold.has(name)) return;
        this.stagingMissingTold.add(name);
        this.opts.onStagingMissing(name);
      },
      onAbortFailed: (key, uploadId, err) =>
        this.opts.onBackgroundError(
          `abort of multipart upload ${uploadId} of ${name}:/${key.slice(bucket.mount.prefix.length)} (its parts stay in S3 until aborted)`,
          err,
        ),
    });
    const file: OpenFile = {
      bucket,
      rel,
      writer,
      fds: 0,
      unlinked: false,
      mtimeMs: entry && !truncate ? entry.mtimeMs : this.opts.clock.now(),
      touched: false,
    };
    bucket.openFiles.set(rel, file);
    return file;
  }

  /** A new handle on `file`. */
  handle(file: OpenFile, writable: boolean): number {
    const fd = this.opts.allocateHandle();
    this.handles.set(fd, { file, writable });
    file.fds++;
    this.opts.buckets.opened(file.bucket);
    return fd;
  }

  /** A handle that is not the writer's never makes the writer stage (see WriteHandle.read). */
  async read(fd: number, pos: number, len: number): Promise<Chunks> {
    const h = this.handleOf(fd);
    return [await h.file.writer.read(pos, len, h.writable)];
  }

  async write(file: OpenFile, pos: number, data: Buffer): Promise<void> {
    await file.writer.write(pos, data);
    this.changed(file);
  }

  async truncate(file: OpenFile, size: number): Promise<void> {
    if (size < 0) throw new FsError('EINVAL', `${file.rel}: negative size`);
    await file.writer.truncate(size);
    this.changed(file);
  }

  /** Commits what `file` holds, if anything changed; our caches show the new object at once. */
  async commit(file: OpenFile): Promise<void> {
    if (file.unlinked) return;
    this.noteCommitted(file, await file.writer.commit());
  }

  /**
   * The last release of a file open for writing commits it (when a flush did not already) and
   * frees its memory and staging file: a failure then is logged (the kernel does not wait for a
   * release's answer; close() got its errno from the flush).
   */
  async release(fd: number): Promise<void> {
    const h = this.handles.get(fd);
    if (!h) return;
    this.handles.delete(fd);
    const { file } = h;
    file.fds--;
    try {
      if (file.fds > 0) return;
      if (file.bucket.openFiles.get(file.rel) === file) file.bucket.openFiles.delete(file.rel);
      if (file.unlinked) await file.writer.discard();
      else this.noteCommitted(file, await file.writer.close());
    } catch (err) {
      this.opts.onBackgroundError(`commit of ${file.bucket.mount.name}:/${file.rel} at release`, err);
    } finally {
      this.opts.buckets.released(file.bucket);
    }
  }

  /** At unmount: bytes no flush committed are lost, as a crashed process's: abort their uploads (no orphan parts). */
  discardAll(): void {
    for (const [fd, h] of this.handles) {
      this.handles.delete(fd);
      h.file.writer.discard().catch((err: unknown) => this.opts.onBackgroundError(`discard of ${h.file.rel}`, err));
    }
  }

  private changed(file: OpenFile): void {
    file.mtimeMs = this.opts.clock.now();
    file.touched = true;
  }

  private noteCommitted(file: OpenFile, done: CommittedObject | undefined): void {
    if (!done || file.unlinked) return;
    file.bucket.namespace?.noteFile(file.rel, done);
  }
}

/** The attributes of a file open for writing: what it holds now, not what S3 has. */
export function attrWhileWriting(file: OpenFile): Attr {
  return fileAttr(file.bucket.mount, file.writer.size, file.mtimeMs);
}

/** A readdir answer with the files being written in `rel` that S3 does not list yet. */
export function withOpenFiles(bucket: LiveBucket, rel: string, listed: ReaddirAnswer): ReaddirAnswer {
  const prefix = rel === '' ? '' : `${rel}/`;
  const shown = new Set(listed.names);
  for (const [path, file] of bucket.openFiles) {
    if (!path.startsWith(prefix) || path.includes('/', prefix.length)) continue;
    const name = path.slice(prefix.length);
    if (shown.has(name)) continue;
    listed.names.push(name);
    if (listed.attrs.length > 0) listed.attrs.push(attrWhileWriting(file));
  }
  return listed;
}

export function hasOpenFilesBelow(bucket: LiveBucket, rel: string): boolean {
  for (const path of bucket.openFiles.keys()) if (path.startsWith(`${rel}/`)) return true;
  return false;
}
