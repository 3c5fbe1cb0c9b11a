/**
 * The one place where failures become errnos. Everything below the FUSE adapter throws FsError
 * or StoreError; the adapter calls `toErrno` and nothing else decides what the kernel sees.
 */
import { constants } from 'node:os';
import { StoreError, type StoreErrorKind } from '../store/errors.js';

export type ErrnoName =
  | 'ENOENT' | 'ENOTDIR' | 'EISDIR' | 'EROFS' | 'EACCES' | 'EIO' | 'ESTALE' | 'EBADF'
  | 'ENAMETOOLONG' | 'EINVAL' | 'ETIMEDOUT' | 'ENOTSUP' | 'ENOMEM';

/** A filesystem-level answer that is not a bug: ENOENT on lookup, EROFS on write, … */
export class FsError extends Error {
  override readonly name = 'FsError';
  readonly errno: ErrnoName;
  constructor(errno: ErrnoName, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.errno = errno;
  }
}

const STORE_ERRNO: Record<StoreErrorKind, ErrnoName> = {
  'not-found': 'ENOENT',
  'no-such-bucket': 'EIO',
  'access-denied': 'EACCES',
  'precondition-failed': 'ESTALE',
  throttled: 'EIO',
  server: 'EIO',
  unreachable: 'EIO',
  // A server that accepted and never answered: never EINTR, which libc callers, Python, Go
  // and coreutils retry forever.
  timeout: 'ETIMEDOUT',
  // Aborts are ours (a reader moved on); one that reaches a caller is a bug, not a signal.
  aborted: 'EIO',
  'invalid-response': 'EIO',
  other: 'EIO',
};

export function errnoName(err: unknown): ErrnoName {
  if (err instanceof FsError) return err.errno;
  if (err instanceof StoreError) return STORE_ERRNO[err.kind];
  return 'EIO';
}

/** The negative number fuse-native expects. */
export function toErrno(err: unknown): number {
  return -constants.errno[errnoName(err)];
}

/** Which log level a failure deserves: expected answers stay at debug. */
export function logLevelOf(name: ErrnoName): 'debug' | 'warn' | 'error' {
  switch (name) {
    case 'ENOENT': case 'EROFS': case 'ENOTDIR': case 'EISDIR': case 'ENAMETOOLONG': case 'EINVAL': case 'ENOTSUP':
      return 'debug';
    case 'ESTALE': case 'EACCES': case 'ETIMEDOUT':
      return 'warn';
    default:
      return 'error';
  }
}
