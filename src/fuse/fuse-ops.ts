/**
 * The thin layer between fuse-native and the Filesystem: decode arguments, call, reply.
 *
 * fuse-native's rules: the first callback argument must always be a number (0, -errno or a
 * byte count) or the FUSE thread hangs for good; the read buffer is the kernel request's and
 * valid only until the callback. This is also the one place that turns failures into errnos
 * (the table in docs/SEMANTICS.md, "Errors"), logs them at their level, times every operation,
 * and holds the read deadline.
 *
 * No write handler: the mount is `ro`, so the kernel answers EROFS to writes, creates,
 * deletes, renames and attribute changes without asking; an operation missing here would get
 * ENOSYS from libfuse, never EROFS, if it ever came.
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
}

/**
 * Hands `out`'s outcome to exactly one of `value`, `error` or, if it has not settled within `ms`,
 * `timeout`; a value that comes after the deadline goes to `late` (to undo what it did).
 */
function settleByDeadline<T>(out: Promise<T>, ms: number, on: { value(v: T): void; error(err: unknown): void; timeout(): void; late?(v: T): void }): void {
  let live = true;
  const deadline = setTimeout(() => {
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
    settleByDeadline(out, opDeadlineMs, {
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
        (fd) => fs.release(fd),
      ),
    release: (_path: string, fd: number, cb: Cb) => {
      fs.release(fd);
      cb(0);
    },
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
