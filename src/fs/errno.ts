/**
 * The one place where failures become errnos. Everything below the FUSE adapter throws FsError
 * or StoreError; the adapter calls `toErrno` and nothing else decides what the kernel sees. Which
 * errno each StoreError kind becomes is a column of the catalogue (src/error-catalogue.ts).
 */
import { constants } from 'node:os';
import { STORE_ERRORS, type ErrnoName } from '../error-catalogue.js';
import { FsError } from '../fs-error.js';
import { StoreError } from '../store/store-error.js';

export type { ErrnoName, FsErrno } from '../error-catalogue.js';
export { FsError } from '../fs-error.js';

export function errnoName(err: unknown): ErrnoName {
  if (err instanceof FsError) return err.errno;
  if (err instanceof StoreError) return STORE_ERRORS[err.kind].errno;
  return 'EIO';
}

/** The negative number fuse-native expects. */
export function toErrno(err: unknown): number {
  return -constants.errno[errnoName(err)];
}

/** Which log level a failure deserves: expected answers stay at debug. */
export function logLevelOf(name: ErrnoName): 'debug' | 'warn' | 'error' {
  switch (name) {
    case 'ENOENT':
    case 'EROFS':
    case 'ENOTDIR':
    case 'EISDIR':
    case 'ENAMETOOLONG':
    case 'EINVAL':
    case 'ENOTSUP':
      return 'debug';
    case 'ESTALE':
    case 'EACCES':
    case 'ETIMEDOUT':
      return 'warn';
    default:
      return 'error';
  }
}
