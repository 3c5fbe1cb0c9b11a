/**
 * The thin layer between fuse-native and the Filesystem: decode arguments, call, reply.
 *
 * fuse-native's rules: the first callback argument must always be a number (0, -errno or a
 * byte count) or the FUSE thread hangs for good; the read buffer is the kernel request's and
 * valid only until the callback. This is also the one place that turns failures into errnos
 * (the table in docs/SEMANTICS.md, "Errors"), logs them at their level, times every operation,
 * and holds the read deadline.
 *
 * Writes: a mount whose buckets are all read-only is `ro` in the kernel, which answers EROFS
 * without asking; otherwise the handlers below call the Filesystem, which answers EROFS for a
 * read-only bucket itself. No xattr handler: libfuse answers ENOSYS once, and the kernel then
 * answers EOPNOTSUPP to every later xattr call without a round trip (`ls -l` asks one per file).
 * Operations that move data to S3 (write, flush, fsync, release, truncate, rename) have no
 * deadline of their own: a commit of a large staged file may take longer than any one request,
 * and each S3 call under them is bounded by request-timeout already.
 */
import { constants } from 'node:os';
import type { Logger } from '../observe/logger.js';
import type { Counters } from '../observe/counters.js';
import type { Filesystem } from '../fs/filesystem.js';
import { errnoName, FsError, logLevelOf, toErrno } from '../fs/errno.js';
import { copyChunks } from '../read/block.js';

type Cb = (code: number, ...rest: unknown[]) => void;

/** The operation table handed to `new Fuse(mnt, ops, opts)`. */
export type FuseOps = Record<string, (...args: never[]) => void>;

/** Starts timing one operation; the returned function is called with the answer's errno, if any. */
export type OpTimer = (op: string) => (errno?: string) => void;

export interface AdapterOptions {
  readonly log: Logger;
  readonly counters: Counters;
  /** An async read still unanswered after this long fails (ETIMEDOUT). */
  readonly readDeadlineMs: number;
  /**
   * Any other operation still unanswered after this long gets ETIMEDOUT: one bound per FUSE
   * operation, whatever the store's retries and the namespace's page walks add up to.
   */
  readonly opDeadlineMs?: number;
  readonly timeOp?: OpTimer;
  /**
   * Whether the kernel mount is writable (default true). A read-only mount has no flush: the
   * kernel, answered ENOSYS once, stops sending one at every close, a fifth of the operations a
   * small file read whole costs (lookup, open, read, flush, release).
   */
  readonly writable?: boolean;
}

/**
 * Hands `out`'s outcome to exactly one of `value`, `error` or, if it has not settled within `ms`,
 * `timeout`; a value that comes after the deadline goes to `late` (to undo what it did).
 */
function settleByDeadline<T>(
  out: Promise<T>,
  ms: number | undefined,
  on: { value(v: T): void; error(err: unknown): void; timeout(): void; late?(v: T): void },
): void {
  let live = true;
  const deadline =
    ms === undefined
      ? undefined
      : setTimeout(() => {
          live = false;
          on.timeout();
        }, ms);
  out.then(
    (v) => {
      if (!live) return on.late?.(v);
      live = false;
      clearTimeout(deadline);
      on.value(v);
    },
    (err: unknown) => {
      if (!live) return;
      live = false;
      clearTimeout(deadline);
      on.error(err);
    },
  );
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [-n, name]));
/** Operations that wait for uploads: no deadline here, nor in fuse-native (see lifecycle.ts). */
export const UPLOAD_OPS = ['write', 'flush', 'fsync', 'release', 'truncate', 'ftruncate', 'rename'] as const;
const UNBOUNDED = new Set<string>(UPLOAD_OPS);
const EPERM = -constants.errno.EPERM;
const untimed: OpTimer = () => () => undefined;

export function fuseOps(fs: Filesystem, opts: AdapterOptions): FuseOps {
  const { log, counters, readDeadlineMs } = opts;
  const opDeadlineMs = opts.opDeadlineMs ?? readDeadlineMs + 1_000;
  const timeOp = opts.timeOp ?? untimed;

  /** The callback, wrapped to record the operation's time and errno. */
  const timed = (op: string, cb: Cb): Cb => {
    const end = timeOp(op);
    return (code, ...rest) => {
      end(code < 0 ? (ERRNO_NAMES.get(code) ?? String(code)) : undefined);
      cb(code, ...rest);
    };
  };

  const fail = (op: string, path: string, err: unknown, cb: Cb): void => {
    const name = errnoName(err);
    const level = logLevelOf(name);
    if (log.isLevelEnabled(level)) {
      const message = err instanceof Error ? err.message : String(err);
      log[level]({ op, path, errno: name, ...(log.isLevelEnabled('debug') && err instanceof Error ? { stack: err.stack } : {}) }, message);
    }
    if (name === 'ESTALE') fs.invalidate(path);
    cb(toErrno(err));
  };

  /**
   * Runs an op and replies with its value, or with an errno; at the deadline with ETIMEDOUT.
   * `late` undoes what a result that came after the deadline did (an open's handle).
   */
  const reply = <T>(op: string, path: string, rawCb: Cb, run: () => Promise<T> | T, late?: (v: T) => void): void => {
    const cb = timed(op, rawCb);
    let out: Promise<T> | T;
    try {
      out = run();
    } catch (err) {
      fail(op, path, err, cb);
      return;
    }
    if (!(out instanceof Promise)) {
      cb(0, out);
      return;
    }
    settleByDeadline(out, UNBOUNDED.has(op) ? undefined : opDeadlineMs, {
      value: (v) => cb(0, v),
      error: (err) => fail(op, path, err, cb),
      timeout: () => fail(op, path, new FsError('ETIMEDOUT', `${path}: ${op} got no answer within ${opDeadlineMs} ms`), cb),
      ...(late ? { late } : {}),
    });
  };

  return {
    init: (cb: Cb) => cb(0),
    getattr: (path: string, cb: Cb) => reply('getattr', path, cb, () => fs.getattr(path)),
    fgetattr: (path: string, _fd: number, cb: Cb) => reply('getattr', path, cb, () => fs.getattr(path)),
    access: (_path: string, _mode: number, cb: Cb) => cb(0),
    statfs: (path: string, cb: Cb) => reply('statfs', path, cb, () => fs.statfs(path)),
    readdir: (path: string, rawCb: Cb) =>
      reply(
        'readdir',
        path,
        (code, listing) => {
          const l = listing as { names: string[]; attrs: unknown[] } | undefined;
          if (code === 0 && l) rawCb(0, l.names, l.attrs);
          else rawCb(code);
        },
        () => fs.readdir(path),
      ),
    // An open answered after its deadline never reaches the kernel, which will never release
    // the handle: release it here.
    open: (path: string, flags: number, cb: Cb) =>
      reply(
        'open',
        path,
        cb,
        () => fs.open(path, flags),
        (fd) => void fs.release(fd),
      ),
    release: (path: string, fd: number, cb: Cb) => reply('release', path, cb, () => fs.release(fd)),
    create: (path: string, _mode: number, cb: Cb) =>
      reply(
        'create',
        path,
        cb,
        () => fs.create(path),
        (fd) => void fs.release(fd),
      ),
    // fuse-native's write result is the byte count, in the first argument, like read's.
    write: (path: string, fd: number, buf: Buffer, len: number, pos: number, rawCb: Cb) =>
      reply(
        'write',
        path,
        (code, n) => rawCb(code === 0 ? (n as number) : code),
        () => fs.write(fd, pos, len === buf.length ? buf : buf.subarray(0, len)),
      ),
    ...(opts.writable === false ? {} : { flush: (path: string, fd: number, cb: Cb) => reply('flush', path, cb, () => fs.flush(fd)) }),
    fsync: (path: string, _datasync: number, fd: number, cb: Cb) => reply('fsync', path, cb, () => fs.fsync(fd)),
    truncate: (path: string, size: number, cb: Cb) => reply('truncate', path, cb, () => fs.truncate(path, size)),
    ftruncate: (path: string, fd: number, size: number, cb: Cb) => reply('ftruncate', path, cb, () => fs.ftruncate(fd, size)),
    unlink: (path: string, cb: Cb) => reply('unlink', path, cb, () => fs.unlink(path)),
    mkdir: (path: string, _mode: number, cb: Cb) => reply('mkdir', path, cb, () => fs.mkdir(path)),
    rmdir: (path: string, cb: Cb) => reply('rmdir', path, cb, () => fs.rmdir(path)),
    rename: (from: string, to: string, cb: Cb) => reply('rename', from, cb, () => fs.rename(from, to)),
    chmod: (path: string, _mode: number, cb: Cb) => reply('chmod', path, cb, () => fs.setattr(path)),
    chown: (path: string, _uid: number, _gid: number, cb: Cb) => reply('chown', path, cb, () => fs.setattr(path)),
    utimens: (path: string, _atime: number, _mtime: number, cb: Cb) => reply('utimens', path, cb, () => fs.setattr(path)),
    // S3 has no hard links, symbolic links or device files.
    link: (_from: string, _to: string, cb: Cb) => cb(EPERM),
    symlink: (_target: string, _path: string, cb: Cb) => cb(EPERM),
    mknod: (_path: string, _mode: number, _dev: number, cb: Cb) => cb(EPERM),
    read: (path: string, fd: number, buf: Buffer, len: number, pos: number, rawCb: Cb) => {
      const cb = timed('read', rawCb);
      let out: ReturnType<Filesystem['read']>;
      try {
        out = fs.read(fd, pos, len);
      } catch (err) {
        fail('read', path, err, cb);
        return;
      }
      counters.fuseReads++;
      if (!(out instanceof Promise)) {
        const n = copyChunks(out, buf);
        counters.fuseBytesRead += n;
        cb(n);
        return;
      }
      // Our own deadline, inside fuse-native's: once we answered, `buf` may already carry the
      // kernel's next request, so a late result must not be copied into it.
      settleByDeadline(out, readDeadlineMs, {
        value: (chunks) => {
          const n = copyChunks(chunks, buf);
          counters.fuseBytesRead += n;
          cb(n);
        },
        error: (err) => fail('read', path, err, cb),
        timeout: () => {
          const err = new FsError('ETIMEDOUT', `${path}: no answer from S3 within ${readDeadlineMs} ms`);
          fs.noteReadTimeout(fd, err);
          fail('read', path, err, cb);
        },
      });
    },
  };
}
