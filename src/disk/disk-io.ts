/**
 * The file operations the disk cache makes, behind one small interface so that tests can make
 * any of them fail (EIO, ENOSPC, EROFS) without a broken disk, and count them.
 */
import { close, open, read } from 'node:fs';
import fs from 'node:fs/promises';

export interface FsSpace {
  /** Bytes free to an unprivileged writer. */
  readonly availableBytes: number;
  /** Size of the filesystem. */
  readonly totalBytes: number;
  /** Its allocation unit: a file takes its size rounded up to it. Default 4 KiB. */
  readonly blockBytes?: number;
}

export interface DiskIo {
  /** The first `maxBytes` of `file` (all of it when shorter). */
  readFile(file: string, maxBytes: number): Promise<Buffer>;
  /** Creates `file` (failing if it exists) with `mode` and writes `data` into it, in order. */
  writeNew(file: string, data: readonly Buffer[], mode: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
  mkdir(dir: string, mode: number): Promise<void>;
  readdir(dir: string): Promise<string[]>;
  stat(file: string): Promise<{ size: number; mtimeMs: number }>;
  statfs(dir: string): Promise<FsSpace>;
}

export const nodeDiskIo: DiskIo = {
  // open, one read into a buffer of the size the caller expects, close: three trips to libuv's
  // pool and no FileHandle (fs/promises' readFile also stats the file, and wraps each step in a
  // promise: a disk hit is read for every small file of an epoch).
  readFile: (file, maxBytes) =>
    new Promise<Buffer>((resolve, reject) => {
      open(file, 'r', (err, fd) => {
        if (err) return reject(err);
        const buf = Buffer.allocUnsafe(maxBytes);
        read(fd, buf, 0, maxBytes, 0, (readErr, n) => {
          close(fd, () => (readErr ? reject(readErr) : resolve(n === maxBytes ? buf : buf.subarray(0, n))));
        });
      });
    }),
  async writeNew(file, data, mode) {
    const fh = await fs.open(file, 'wx', mode);
    try {
      await fh.writev(data as Buffer[]);
    } finally {
      await fh.close();
    }
  },
  rename: (from, to) => fs.rename(from, to),
  unlink: (file) => fs.unlink(file),
  async mkdir(dir, mode) {
    await fs.mkdir(dir, { recursive: true, mode });
  },
  readdir: (dir) => fs.readdir(dir),
  async stat(file) {
    const s = await fs.stat(file);
    return { size: s.size, mtimeMs: s.mtimeMs };
  },
  async statfs(dir) {
    const s = await fs.statfs(dir);
    return { availableBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize, blockBytes: s.bsize };
  },
};
