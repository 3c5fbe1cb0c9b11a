/**
 * The typed result of configuration. Everything upstream (config.json, MOUNT_OPTIONS,
 * runtimeOptions, flags, secret files) is reduced to one frozen MountPlan before any I/O on S3 or
 * FUSE, so the rest of the program never sees raw option strings.
 */
import type { ConfigError } from './config-error.js';
import type { LOG_LEVELS } from './options.js';

/** A credential and where it came from: the file is re-read when the secret rotates. */
export interface SecretSource {
  /** The option key as the user wrote it, e.g. `minio-access-key`: messages name it. */
  readonly option: string;
  /** Never log it. */
  readonly value: string;
  readonly file?: string;
}

export interface Credentials {
  readonly accessKeyId: SecretSource;
  readonly secretAccessKey: SecretSource;
  readonly sessionToken?: SecretSource;
}

/** One bucket (or bucket prefix) shown somewhere inside the FUSE mount. */
export interface BucketMount {
  /** Fluid mount `name`, or `mount<i>` when absent; every error line and log names it. */
  readonly name: string;
  /** The mountPoint as given, e.g. `minio://my-first-bucket/data`. */
  readonly source: string;
  readonly bucket: string;
  /** `''` or a string ending in `/`. */
  readonly prefix: string;
  /** Path segments under the FUSE root; `[]`: the root itself. */
  readonly folder: readonly string[];
  /** undefined: AWS's regional endpoint. */
  readonly endpoint?: string;
  readonly region: string;
  readonly pathStyle: boolean;
  /** undefined: anonymous access (or the SDK's default chain in debug mode). */
  readonly credentials?: Credentials;
  readonly readOnly: boolean;
  /** Server-side encryption asked for on every object written (PUT, multipart, copy). */
  readonly sse?: 'AES256' | 'aws:kms';
  readonly sseKmsKeyId?: string;
  readonly uid: number;
  readonly gid: number;
  readonly fileMode: number;
  readonly dirMode: number;
  /** How long a stat or listing, and a "does not exist", are trusted. */
  readonly statCacheTtlMs: number;
  readonly negativeCacheTtlMs: number;
  /** undefined: the filesystem's own limit (50,000, the memory promise's share). */
  readonly maxFolderEntries?: number;
  /** PEM of the CAs that signed an https endpoint. */
  readonly ca?: { readonly file: string; readonly pem: string };
}

export type LogLevel = (typeof LOG_LEVELS)[number];

/** Settings of the whole process: the one FUSE mount, its cache, its listener. */
export interface ProcessSettings {
  readonly logLevel: LogLevel;
  /** Byte budget of the shared block cache, read-ahead included. */
  readonly cacheSizeBytes: number;
  readonly readAheadMaxBytes: number;
  readonly readAheadInitialBytes: number;
  /** Size of one ranged GET. */
  readonly partSizeBytes: number;
  /** Where staged files (appends, edits in place) live: the agent's own subfolder of it. */
  readonly stagingDir: string;
  /** Byte budget of staged files; 0: no staging. */
  readonly stagingSizeBytes: number;
  /** The disk level of the block cache (issue 13): both or neither. */
  readonly diskCacheDir?: string;
  readonly diskCacheSizeBytes?: number;
  /** Lets the application container's user see the mount. */
  readonly allowOther: boolean;
  readonly attrTimeoutMs: number;
  readonly entryTimeoutMs: number;
  /** One S3 call, retries included, before the FUSE operation answers an errno. */
  readonly requestTimeoutMs: number;
  /** How old `df`'s total may get before a statfs lists the buckets again; 0: never. */
  readonly dfScanIntervalMs: number;
  /** Where /healthz, /readyz and /metrics listen; undefined: nowhere. */
  readonly metricsAddress?: { readonly host: string; readonly port: number };
}

/** A mount left out of a lenient (reload) plan: its problem touches it alone. */
export interface MountFailure {
  readonly name: string;
  /** undefined when the folder itself is the problem. */
  readonly folder: readonly string[] | undefined;
  readonly error: ConfigError;
}

export interface MountPlan {
  /** Absolute. */
  readonly targetPath: string;
  /** 'root': one bucket is targetPath itself; 'folders': each bucket is a folder in it (also with no bucket). */
  readonly layout: 'root' | 'folders';
  readonly buckets: readonly BucketMount[];
  /**
   * Whether the FUSE mount is writable in the kernel, fixed at mount time: Fluid's accessModes
   * allow writes, or (debug mount) the bucket is not read-only. A mount's `readOnly` may still
   * change on a reload: the filesystem answers EROFS for it itself.
   */
  readonly kernelWritable: boolean;
  /** Mounts left out by a lenient load; [] otherwise (the first problem throws). */
  readonly failures: readonly MountFailure[];
  readonly settings: ProcessSettings;
  /** Option keys nobody understood, with where they came from; warned about once at start. */
  readonly unknownOptions: readonly string[];
  /** The config file read (Fluid mode): the one to watch. */
  readonly configFile?: string;
}
