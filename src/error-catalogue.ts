/**
 * Every stable error code the agent has, with what it leads to and what it means: one table, so
 * that a code in a log line, an exit status or an errno seen by a reader can be looked up in one
 * place. docs/ERRORS.md shows the same table, and test/unit/errors/catalogue.test.ts keeps the
 * two equal.
 *
 * Two kinds of codes:
 * - codes that end the process before anything is mounted (ConfigError: exit 2, the input is
 *   wrong; StartupError: exit 1, the world is wrong: S3 refused, the target path is taken, FUSE
 *   failed). The CLI prints the one-line message and exits with the code's status.
 * - codes that reach a reader of the mount as an errno (StoreError: what S3 answered, FsError:
 *   what the filesystem itself decided). fs/errno.ts turns them into errnos with this table.
 *
 * This module imports only types, so every layer may use it without pulling in another.
 */
import type { ConfigErrorCode } from './config/index.js';
import type { StoreErrorKind } from './store/store-error.js';

/** The errnos the mount answers with. */
export type ErrnoName =
  | 'ENOENT'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'EROFS'
  | 'EACCES'
  | 'EIO'
  | 'ESTALE'
  | 'EBADF'
  | 'ENAMETOOLONG'
  | 'EINVAL'
  | 'ETIMEDOUT'
  | 'ENOTSUP'
  | 'ENOMEM'
  | 'EEXIST'
  | 'ENOTEMPTY'
  | 'EXDEV'
  | 'EPERM'
  | 'ENOSPC'
  | 'EFBIG'
  | 'EOPNOTSUPP'
  | 'ENODATA'
  | 'EBUSY';

/** Exit statuses of the CLI for a failure before the mount serves. */
export const EXIT_BAD_INPUT = 2;
export const EXIT_CANNOT_START = 1;

/** ConfigError codes are defined by src/config (ConfigErrorCode); their meanings live here. */
const CONFIG_MEANINGS = {
  ARGV: 'Command line syntax: unknown command, missing positionals, a flag without its value.',
  CONFIG_NOT_FOUND: 'Neither --config PATH nor any default config file location exists.',
  CONFIG_READ: 'The config file exists but cannot be read (EACCES, EISDIR, ...).',
  CONFIG_JSON: 'The config file is not valid JSON.',
  CONFIG_SHAPE: 'A field of the config file has the wrong type.',
  TARGET_PATH: 'Neither targetPath nor env MOUNT_POINT, or not an absolute path.',
  BAD_OPTION: 'An option has a value that cannot be parsed or is out of range.',
  SECRET_FILE: 'A secret file (or a --*-key-file) cannot be read.',
  MISSING_CREDENTIAL: 'Only one half of a credential pair was given (or a session token alone).',
  BAD_MOUNT_POINT: 'A mountPoint or SOURCE that is not s3://bucket[/prefix] or minio://bucket[/prefix] (pvc:// is served by Fluid itself).',
  ENDPOINT_REQUIRED: 'A minio:// mount without an endpoint.',
  LAYOUT: 'Two mounts on the same folder, nested folders, an unusable folder name, or a mount the layout chosen at start cannot show.',
} as const satisfies Record<ConfigErrorCode, string>;

/** The stable `code` values of StartupError (their meanings: STARTUP_MEANINGS). */
export const StartupErrorCode = {
  S3_CLIENT: 'S3_CLIENT',
  S3_PROBE: 'S3_PROBE',
  TARGET: 'TARGET',
  FUSE: 'FUSE',
} as const;
export type StartupErrorCode = (typeof StartupErrorCode)[keyof typeof StartupErrorCode];

const STARTUP_MEANINGS: Record<StartupErrorCode, string> = {
  S3_CLIENT: 'The S3 client of a mount cannot be built (e.g. an unreadable AWS_CA_BUNDLE).',
  S3_PROBE: 'A bucket did not answer the start-up listing: it is missing, refused the credentials, or is unreachable.',
  TARGET: 'targetPath cannot be used: not resolvable, another live or foreign mount there, or it cannot be created.',
  FUSE: 'The FUSE mount call failed, or the mount did not appear in /proc/self/mountinfo in time.',
};

/** What each kind of StoreError is called, and the errno a reader sees for it. */
export const STORE_ERRORS: Readonly<Record<StoreErrorKind, { readonly code: string; readonly errno: ErrnoName; readonly meaning: string }>> = {
  'not-found': { code: 'STORE_NOT_FOUND', errno: 'ENOENT', meaning: 'The object (or bucket path) does not exist.' },
  'no-such-bucket': { code: 'STORE_NO_SUCH_BUCKET', errno: 'EIO', meaning: 'The bucket does not exist.' },
  'access-denied': { code: 'STORE_ACCESS_DENIED', errno: 'EACCES', meaning: 'S3 refused the credentials or the request (HTTP 403).' },
  'precondition-failed': { code: 'STORE_PRECONDITION_FAILED', errno: 'ESTALE', meaning: 'The object changed since it was opened (If-Match failed, HTTP 412).' },
  throttled: { code: 'STORE_THROTTLED', errno: 'EIO', meaning: 'S3 asked to slow down (HTTP 429, 503, SlowDown) beyond the retries.' },
  server: { code: 'STORE_SERVER', errno: 'EIO', meaning: 'S3 answered with a server error (HTTP 5xx) beyond the retries.' },
  unreachable: { code: 'STORE_UNREACHABLE', errno: 'EIO', meaning: 'The endpoint cannot be reached (refused, reset, DNS) beyond the retries.' },
  // Never EINTR, which libc callers, Python, Go and coreutils retry forever.
  timeout: { code: 'STORE_TIMEOUT', errno: 'ETIMEDOUT', meaning: 'A server that accepted the request did not answer within request-timeout.' },
  // Aborts are ours (a reader moved on); one that reaches a caller is a bug, not a signal.
  aborted: { code: 'STORE_ABORTED', errno: 'EIO', meaning: 'The agent itself cancelled the request; reaching a reader is a bug.' },
  'invalid-response': {
    code: 'STORE_INVALID_RESPONSE',
    errno: 'EIO',
    meaning: 'S3 answered with something that breaks the protocol (wrong range, short body).',
  },
  other: { code: 'STORE_OTHER', errno: 'EIO', meaning: 'Any other S3 failure, e.g. an untrusted TLS certificate; the message says which.' },
};

/** The errnos the filesystem answers with by its own decision, and their codes. */
export const FS_ERRORS = {
  ENOENT: { code: 'FS_ENOENT', meaning: 'No such file or directory in the namespace.' },
  ENOTDIR: { code: 'FS_ENOTDIR', meaning: 'A directory operation on a file.' },
  EISDIR: { code: 'FS_EISDIR', meaning: 'A file operation (open for read) on a directory.' },
  EROFS: { code: 'FS_EROFS', meaning: 'A write to the read-only mount.' },
  EBADF: { code: 'FS_EBADF', meaning: 'A file handle that is not open.' },
  ETIMEDOUT: { code: 'FS_ETIMEDOUT', meaning: 'An operation got no answer within its deadline (request-timeout plus a margin).' },
  EACCES: {
    code: 'FS_EACCES',
    meaning: 'Anything in the folder of a mount that cannot serve yet because S3 refused it or a secret is missing; the agent keeps retrying.',
  },
  EIO: { code: 'FS_EIO', meaning: 'Anything in the folder of a mount that cannot serve yet because its bucket or endpoint fails; the agent keeps retrying.' },
  ESTALE: { code: 'FS_ESTALE', meaning: 'A read of a file opened under a mount since removed from the config, after the grace time open files get.' },
  EINVAL: { code: 'FS_EINVAL', meaning: 'An argument the operation cannot take (a negative size, a rename into itself).' },
  EEXIST: { code: 'FS_EEXIST', meaning: 'create with O_EXCL, or mkdir, of a name that exists.' },
  ENOTEMPTY: { code: 'FS_ENOTEMPTY', meaning: 'rmdir of a folder with something in it, or a rename onto one.' },
  EXDEV: { code: 'FS_EXDEV', meaning: 'rename of a folder with more objects than the rename limit, or across mounts: mv then copies and deletes by itself.' },
  EPERM: { code: 'FS_EPERM', meaning: 'link, symlink or mknod: S3 has no such thing.' },
  ENOSPC: { code: 'FS_ENOSPC', meaning: "A write needs local staging space beyond staging-size, or the staging folder's disk is full." },
  EFBIG: { code: 'FS_EFBIG', meaning: 'A file would grow past what one S3 object can hold (5 TiB, 10,000 parts).' },
  ENOMEM: { code: 'FS_ENOMEM', meaning: 'A write waited for its share of cache-size longer than request-timeout.' },
  EOPNOTSUPP: {
    code: 'FS_EOPNOTSUPP',
    meaning: 'A write that needs a local staging file (append, a write before the end, editing without O_TRUNC) on a mount without staging space.',
  },
  ENODATA: { code: 'FS_ENODATA', meaning: 'getxattr: objects carry no extended attributes.' },
  ENOTSUP: { code: 'FS_ENOTSUP', meaning: 'setxattr, and other operations S3 cannot hold.' },
  EBUSY: { code: 'FS_EBUSY', meaning: 'An operation on a file while an upload of it is being committed by another handle.' },
} as const satisfies Partial<Record<ErrnoName, { code: string; meaning: string }>>;
export type FsErrno = keyof typeof FS_ERRORS;

export interface CatalogueEntry {
  readonly code: string;
  /** The class that carries the code. */
  readonly error: 'ConfigError' | 'StartupError' | 'StoreError' | 'FsError';
  /** The CLI's exit status, for errors that end the process before the mount serves. */
  readonly exitCode?: number;
  /** The errno a reader of the mount sees. */
  readonly errno?: ErrnoName;
  readonly meaning: string;
}

export const ERROR_CATALOGUE: readonly CatalogueEntry[] = Object.freeze([
  ...Object.entries(CONFIG_MEANINGS).map(([code, meaning]) => ({ code, error: 'ConfigError' as const, exitCode: EXIT_BAD_INPUT, meaning })),
  ...Object.entries(STARTUP_MEANINGS).map(([code, meaning]) => ({ code, error: 'StartupError' as const, exitCode: EXIT_CANNOT_START, meaning })),
  ...Object.values(STORE_ERRORS).map(({ code, errno, meaning }) => ({ code, error: 'StoreError' as const, errno, meaning })),
  ...Object.entries(FS_ERRORS).map(([errno, { code, meaning }]) => ({ code, error: 'FsError' as const, errno: errno as FsErrno, meaning })),
]);
