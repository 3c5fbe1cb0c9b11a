/**
 * The typed result of configuration: what to mount, where, with which credentials and tuning.
 * Everything upstream (config.json, MOUNT_OPTIONS, runtimeOptions, CLI flags, secret files) is
 * reduced to one frozen MountPlan before any I/O on S3 or FUSE, so the rest of the program never
 * sees raw option strings.
 */
import type { ConfigError } from './config-error.js';

/** Where a credential value came from: the file is re-read when the secret rotates. */
export interface SecretSource {
  /** The option key as the user wrote it, e.g. `minio-access-key` (for error messages). */
  readonly option: string;
  /** The resolved value. Never log it. */
  readonly value: string;
  /** Absolute path of the secret file, when the value was read from one. */
  readonly file?: string;
}

export interface Credentials {
  readonly accessKeyId: SecretSource;
  readonly secretAccessKey: SecretSource;
  readonly sessionToken?: SecretSource;
}

/** One bucket (or bucket prefix) shown somewhere inside the FUSE mount. */
export interface BucketMount {
  /** Fluid mount `name`, or `mount<i>` when absent; used in every error line and log. */
  readonly name: string;
  /** The mountPoint string as given, e.g. `minio://my-first-bucket/data`. */
  readonly source: string;
  readonly bucket: string;
  /** Key prefix inside the bucket: `''` or a string ending in `/`. */
  readonly prefix: string;
  /** Where the bucket appears inside the FUSE mount, as path segments; `[]`: the root itself. */
  readonly folder: readonly string[];
  /** e.g. `http://minio:9000`; undefined means AWS's regional endpoint. */
  readonly endpoint?: string;
  readonly region: string;
  /** Path-style addressing (`endpoint/bucket/key`); default true when an endpoint is given. */
  readonly pathStyle: boolean;
  /** undefined: anonymous access (or the SDK's default chain in debug mode). */
  readonly credentials?: Credentials;
  readonly readOnly: boolean;
  /** Ownership and permission bits reported for this bucket's entries. */
  readonly uid: number;
  readonly gid: number;
  readonly fileMode: number;
  readonly dirMode: number;
  /** How long a positive metadata answer (stat, listing) is trusted. */
  readonly statCacheTtlMs: number;
  /** How long a "does not exist" answer is trusted. */
  readonly negativeCacheTtlMs: number;
  /** Entries a readdir shows at most (undefined: 50,000, the memory promise's share). */
  readonly maxFolderEntries?: number;
  /** CA certificates (PEM) that signed an https endpoint, from option `ca-file`. */
  readonly ca?: { readonly file: string; readonly pem: string };
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** Settings of the whole process / the one FUSE mount. */
export interface ProcessSettings {
  readonly logLevel: LogLevel;
  /** Byte budget of the shared block cache (read-ahead included). */
  readonly cacheSizeBytes: number;
  /** Largest per-handle read-ahead window, and the first window of a sequential reader. */
  readonly readAheadMaxBytes: number;
  readonly readAheadInitialBytes: number;
  /** Size of one ranged GET. */
  readonly partSizeBytes: number;
  /** Let other users (e.g. the app container's uid) see the mount. */
  readonly allowOther: boolean;
  /** Kernel attribute / entry cache timeouts. */
  readonly attrTimeoutMs: number;
  readonly entryTimeoutMs: number;
  /** Upper bound for one S3 request including retries, before the FUSE op answers an errno. */
  readonly requestTimeoutMs: number;
  /** How old `df`'s total may get before a statfs lists the buckets again; 0: never list. */
  readonly dfScanIntervalMs: number;
  /** Where /healthz, /readyz and /metrics listen; undefined: no listener. */
  readonly metricsAddress?: { readonly host: string; readonly port: number };
}

/** A mount left out of a lenient (reload) plan: its problem touches it alone. */
export interface MountFailure {
  readonly name: string;
  /** Where it would appear; undefined when the folder itself is the problem. */
  readonly folder: readonly string[] | undefined;
  readonly error: ConfigError;
}

export interface MountPlan {
  /** Absolute path where the FUSE filesystem is mounted. */
  readonly targetPath: string;
  /** 'root': one bucket is targetPath itself; 'folders': each bucket is a folder in it (also with no bucket). */
  readonly layout: 'root' | 'folders';
  readonly buckets: readonly BucketMount[];
  /** Mounts left out by a lenient load; [] otherwise (the first problem throws). */
  readonly failures: readonly MountFailure[];
  readonly settings: ProcessSettings;
  /** Option keys nobody understood, with where they came from; warned about once at start. */
  readonly unknownOptions: readonly string[];
  /** The config file read (Fluid mode): the one to watch. */
  readonly configFile?: string;
}
