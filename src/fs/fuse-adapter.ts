/**
 * The thin layer between fuse-native and the Filesystem: decode arguments, call, reply.
 *
 * fuse-native's rules (DESIGN.md §6): the first callback argument must always be a number
 * (0, -errno or a byte count) or the FUSE thread hangs for good; the read buffer is valid only
 * until the callback. This is also the one place that turns failures into errnos and logs them.
 */
import type { Logger } from '../observe/logger.js';
import type { Filesystem } from './filesystem.js';
import { FsError, errnoName, logLevelOf, toErrno } from './errno.js';
import type { Counters } from '../observe/counters.js';

type Cb = (code: number, ...rest: unknown[]) => void;

/** The operation table handed to `new Fuse(mnt, ops, opts)`. */
export type FuseOps = Record<string, (...args: never[]) => void>;

export function fuseOps(fs: Filesystem, log: Logger, counters: Counters, readDeadlineMs: number): FuseOps {
  const fail = (op: string, path: string, err: unknown, cb: Cb, ...defaults: unknown[]): void => {
    const name = errnoName(err);
    const level = logLevelOf(name);
    if (log.isLevelEnabled(level)) {
      const message = err instanceof Error ? err.message : String(err);
      log[level]({ op, path, errno: name, ...(log.isLevelEnabled('debug') && err instanceof Error ? { stack: err.stack } : {}) }, message);
    }
    if (name === 'ESTALE') fs.invalidate(path);
    cb(toErrno(err), ...defaults);
  };

  /** Runs an async op and replies with its value, or with an errno. */
  const reply = <T>(op: string, path: string, cb: Cb, run: () => Promise<T> | T, ...defaults: unknown[]): void => {
    let out: Promise<T> | T;
    try {
      out = run();
    } catch (err) {
      fail(op, path, err, cb, ...defaults);
      return;
    }
    if (out instanceof Promise) out.then((v) => cb(0, v), (err: unknown) => fail(op, path, err, cb, ...defaults));
    else cb(0, out);
  };

  const readOnly = (op: string) => (path: string, ...args: unknown[]): void => {
    const cb = args[args.length - 1] as Cb;
    fail(op, path, tryReadOnly(fs, path), cb);
  };

  return {
    init: (cb: Cb) => cb(0),
    getattr: (path: string, cb: Cb) => reply('getattr', path, cb, () => fs.getattr(path)),
    fgetattr: (path: string, _fd: number, cb: Cb) => reply('getattr', path, cb, () => fs.getattr(path)),
    access: (_path: string, _mode: number, cb: Cb) => cb(0),
    statfs: (path: string, cb: Cb) => reply('statfs', path, cb, () => fs.statfs()),
    readdir: (path: string, cb: Cb) => {
      fs.readdir(path).then(
        ({ names, attrs }) => cb(0, names, attrs),
        (err: unknown) => fail('readdir', path, err, cb),
      );
    },
    open: (path: string, flags: number, cb: Cb) => reply('open', path, cb, () => fs.open(path, flags)),
    release: (_path: string, fd: number, cb: Cb) => {
      fs.release(fd);
      cb(0);
    },
    read: (path: string, fd: number, buf: Buffer, len: number, pos: number, cb: Cb) => {
      let out: number | Promise<Buffer>;
      try {
        out = fs.read(fd, buf, len, pos);
      } catch (err) {
        fail('read', path, err, cb);
        return;
      }
      counters.fuseReads++;
      if (typeof out === 'number') {
        counters.fuseBytesRead += out;
        cb(out);
        return;
      }
      // Our own deadline, inside fuse-native's: once we answered, `buf` may already carry the
      // kernel's next request, so a late result must not be copied into it.
      let live = true;
      const deadline = setTimeout(() => {
        live = false;
        fail('read', path, new FsError('EIO', `${path}: read at ${pos} took longer than ${readDeadlineMs} ms`), cb);
      }, readDeadlineMs);
      out.then(
        (data) => {
          if (!live) return;
          live = false;
          clearTimeout(deadline);
          const n = data.copy(buf, 0, 0, Math.min(len, data.length));
          counters.fuseBytesRead += n;
          cb(n);
        },
        (err: unknown) => {
          if (!live) return;
          live = false;
          clearTimeout(deadline);
          fail('read', path, err, cb);
        },
      );
    },
    write: readOnly('write'),
    create: readOnly('create'),
    unlink: readOnly('unlink'),
    mkdir: readOnly('mkdir'),
    rmdir: readOnly('rmdir'),
    rename: readOnly('rename'),
    truncate: readOnly('truncate'),
    ftruncate: readOnly('ftruncate'),
    chmod: readOnly('chmod'),
    chown: readOnly('chown'),
    utimens: readOnly('utimens'),
    symlink: readOnly('symlink'),
    link: readOnly('link'),
    mknod: readOnly('mknod'),
    setxattr: readOnly('setxattr'),
    removexattr: readOnly('removexattr'),
  };
}

function tryReadOnly(fs: Filesystem, path: string): unknown {
  try {
    fs.readOnly(path);
  } catch (err) {
    return err;
  }
  return undefined;
}
