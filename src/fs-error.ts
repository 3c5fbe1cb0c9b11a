/**
 * What a filesystem operation answers by its own decision (ENOENT on lookup, EROFS on a read-only
 * mount, ENOSPC past the staging budget, …), with the errno a reader sees. Its own module, below
 * every layer that decides such answers (fs, write), so that none of them imports another for it;
 * fs/errno.ts turns it, and StoreError, into the number the kernel gets.
 */
import { AgentError } from './agent-error.js';
import { FS_ERRORS, type FsErrno } from './error-catalogue.js';

export class FsError extends AgentError {
  override readonly name = 'FsError';
  readonly errno: FsErrno;
  constructor(errno: FsErrno, message: string, options?: { cause?: unknown }) {
    super(FS_ERRORS[errno].code, message, options);
    this.errno = errno;
  }
}
