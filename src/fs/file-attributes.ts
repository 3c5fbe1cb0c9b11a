/**
 * The attributes the kernel sees. S3 keeps no modes, owners or inode numbers: a file's come from
 * its mount's settings and its object's size and time, a folder's from the mount too, and the
 * virtual folders above the buckets' from the first mount and the time the mount started.
 */
import type { BucketMount } from '../config/plan.js';
import type { Entry } from './entry.js';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

export interface Attr {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly nlink: number;
  readonly blksize: number;
  readonly blocks: number;
  readonly mtime: number;
  readonly atime: number;
  readonly ctime: number;
}

/** A readdir answer: names, and their attributes unless the folder is too large to hold them. */
export interface ReaddirAnswer {
  names: string[];
  attrs: Attr[];
}

/** A name in `mount` as the namespace knows it. */
export function attrOf(mount: BucketMount, entry: Entry): Attr {
  if (entry.kind === 'dir') return dirAttr(mount.dirMode, mount.uid, mount.gid, entry.mtimeMs);
  return fileAttr(mount, entry.size, entry.mtimeMs);
}

/** A file in `mount`: also one S3 does not list (yet), such as a file open for writing. */
export function fileAttr(mount: BucketMount, size: number, mtimeMs: number): Attr {
  return {
    mode: S_IFREG | mount.fileMode,
    uid: mount.uid,
    gid: mount.gid,
    size,
    nlink: 1,
    blksize: 4096,
    blocks: Math.ceil(size / 512),
    mtime: mtimeMs,
    atime: mtimeMs,
    ctime: mtimeMs,
  };
}

export function dirAttr(mode: number, uid: number, gid: number, mtimeMs: number): Attr {
  return { mode: S_IFDIR | mode, uid, gid, size: 4096, nlink: 2, blksize: 4096, blocks: 8, mtime: mtimeMs, atime: mtimeMs, ctime: mtimeMs };
}

/** A folder above the buckets (or the root with no bucket there): owned as `first` is, root without one. */
export function virtualDirAttr(first: BucketMount | undefined, startedAtMs: number): Attr {
  return dirAttr(0o755, first?.uid ?? 0, first?.gid ?? 0, startedAtMs);
}
