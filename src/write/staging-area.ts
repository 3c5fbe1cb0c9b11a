/**
 * Local files for the writes a streaming upload cannot take (a write before the end, editing an
 * existing object): the object is copied here, changed in place, and uploaded from here at
 * commit.
 *
 * The area is a folder of its own, made inside the configured parent with mkdtemp
 * (`fluid-s3-fuse-<pid>-XXXXXX`, mode 0700: staged bytes are the users' data), so that two
 * agents, or a restarted one, never share or remove each other's files, and close() removes
 * this folder and nothing else. Each file is unlinked as soon as it is open: the bytes live as
 * long as the descriptor, and a crashed agent leaves no staged copies behind on the disk.
 *
 * The area has its own byte budget (a Kubernetes emptyDir has a sizeLimit, and the node's disk is
 * shared): the files' sizes count against it, and a write or truncate that would pass it fails
 * with ENOSPC before it touches the file. The disk's own ENOSPC or EDQUOT is ENOSPC too.
 */
import { mkdir, mkdtemp, open, rm, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { FsError } from '../fs-error.js';

export interface StagingFile {
  readonly size: number;
  write(pos: number, data: Buffer): Promise<void>;
  /** Bytes [pos, pos + len) clipped at the size. */
  read(pos: number, len: number): Promise<Buffer>;
  truncate(size: number): Promise<void>;
  /** Frees the file and its share of the budget; idempotent. */
  close(): Promise<void>;
}

export class StagingArea {
  /** The area's own folder (removed by close). */
  readonly dir: string;
  readonly budgetBytes: number;
  private used = 0;
  private nextFile = 1;
  private readonly open = new Set<LocalStagingFile>();
  private closed = false;

  private constructor(dir: string, budgetBytes: number) {
    this.dir = dir;
    this.budgetBytes = budgetBytes;
  }

  /** Makes the area's own folder inside `parentDir` (created if missing). */
  static async open(parentDir: string, budgetBytes: number): Promise<StagingArea> {
    if (!(budgetBytes >= 0)) throw new RangeError(`StagingArea: budgetBytes must be >= 0 (got ${budgetBytes})`);
    await mkdir(parentDir, { recursive: true, mode: 0o700 });
    const dir = await mkdtemp(join(parentDir, `fluid-s3-fuse-${process.pid}-`));
    return new StagingArea(dir, budgetBytes);
  }

  get usedBytes(): number {
    return this.used;
  }

  async createFile(): Promise<StagingFile> {
    if (this.closed) throw new FsError('ENOSPC', 'the staging area is closed');
    const path = join(this.dir, `staged-${this.nextFile++}`);
    let fh: FileHandle;
    try {
      fh = await open(path, 'wx+', 0o600);
    } catch (err) {
      throw asStagingError(err, `cannot create a staging file in ${this.dir}`);
    }
    await unlink(path).catch(() => undefined);
    const file = new LocalStagingFile(this, fh);
    this.open.add(file);
    return file;
  }

  /** Closes every file still open and removes the area's folder; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.open].map((f) => f.close()));
    await rm(this.dir, { recursive: true, force: true });
  }

  /** @internal A file grows or shrinks from `from` to `to` bytes; ENOSPC past the budget. */
  resize(from: number, to: number): void {
    const next = this.used - from + to;
    if (to > from && next > this.budgetBytes) {
      throw new FsError('ENOSPC', `staging needs ${next} bytes; staging-size is ${this.budgetBytes} bytes (${this.dir})`);
    }
    this.used = next;
  }

  /** @internal */
  forget(file: LocalStagingFile): void {
    this.open.delete(file);
  }
}

class LocalStagingFile implements StagingFile {
  private length = 0;
  private fh: FileHandle | undefined;
  private readonly area: StagingArea;

  constructor(area: StagingArea, fh: FileHandle) {
    this.area = area;
    this.fh = fh;
  }

  get size(): number {
    return this.length;
  }

  async write(pos: number, data: Buffer): Promise<void> {
    const fh = this.handle();
    if (data.length === 0) return; // as pwrite: an empty write does not extend the file
    const end = Math.max(this.length, pos + data.length);
    this.area.resize(this.length, end);
    const before = this.length;
    this.length = end;
    try {
      for (let done = 0; done < data.length;) {
        const { bytesWritten } = await fh.write(data, done, data.length - done, pos + done);
        done += bytesWritten;
      }
    } catch (err) {
      // What the disk refused is not there: give the budget back, keep the old size.
      this.area.resize(end, before);
      this.length = before;
      await fh.truncate(before).catch(() => undefined);
      throw asStagingError(err, `writing the staging file in ${this.area.dir}`);
    }
  }

  async read(pos: number, len: number): Promise<Buffer> {
    const fh = this.handle();
    const n = Math.max(0, Math.min(len, this.length - pos));
    const buf = Buffer.allocUnsafe(n);
    for (let done = 0; done < n;) {
      const { bytesRead } = await fh.read(buf, done, n - done, pos + done);
      if (bytesRead === 0) {
        // The disk file ended early (it never should: truncate sets its length): zeros.
        buf.fill(0, done);
        break;
      }
      done += bytesRead;
    }
    return buf;
  }

  async truncate(size: number): Promise<void> {
    const fh = this.handle();
    this.area.resize(this.length, size);
    const before = this.length;
    this.length = size;
    try {
      await fh.truncate(size);
    } catch (err) {
      this.area.resize(size, before);
      this.length = before;
      throw asStagingError(err, `truncating the staging file in ${this.area.dir}`);
    }
  }

  async close(): Promise<void> {
    const fh = this.fh;
    if (fh === undefined) return;
    this.fh = undefined;
    this.area.resize(this.length, 0);
    this.length = 0;
    this.area.forget(this);
    await fh.close().catch(() => undefined);
  }

  private handle(): FileHandle {
    if (this.fh === undefined) throw new FsError('EBADF', 'the staging file is closed');
    return this.fh;
  }
}

/** The disk's ENOSPC and EDQUOT are the reader's ENOSPC; anything else an EIO with its cause. */
function asStagingError(err: unknown, what: string): FsError {
  if (err instanceof FsError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new FsError('ENOSPC', `${what}: the disk is full (${code})`, { cause: err });
  return new FsError('EIO', `${what}: ${(err as Error | undefined)?.message ?? String(err)}`, { cause: err });
}
