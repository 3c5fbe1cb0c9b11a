/**
 * The option vocabulary: one table shared by Fluid mount options, runtimeOptions, the env
 * MOUNT_OPTIONS and the command line. An entry names the plan field it sets and its default, so
 * the plan is built by one loop over the table.
 */
import { tmpdir } from 'node:os';
import { parseBool, parseDurationMs, parseOctalMode, parseSizeBytes, parseUint, ValueError } from './units.js';
import type { BucketMount, LogLevel, ProcessSettings } from './plan.js';

/** `bucket`: one mount (may differ per mount); `process`: the whole FUSE mount; `cli`: the debug `mount` command only. */
export type OptionScope = 'bucket' | 'process' | 'cli';
export type OptionType = 'string' | 'url' | 'bool' | 'uint' | 'octal' | 'duration' | 'size' | 'log-level' | 'path' | 'listen';
export type OptionValue = string | number | boolean;
/** The Fluid entrypoint or the debug `mount` command: a few defaults differ. */
export type Mode = 'fluid' | 'debug';
export const SOURCE_CLI = 'command line';

export interface OptionSpec {
  readonly key: string;
  readonly aliases: readonly string[];
  readonly scope: OptionScope;
  readonly type: OptionType;
  /** The value is a secret: never shown in messages. */
  readonly credential: boolean;
  /** The BucketMount or ProcessSettings field it sets; none when the plan builder handles it apart. */
  readonly field?: keyof BucketMount | keyof ProcessSettings;
  /** Used when no layer sets the key; `defaultText` is how --help shows it (help-text.test.ts checks the two agree). */
  readonly default?: OptionValue | ((mode: Mode) => OptionValue);
  readonly defaultText: string;
  readonly help: string;
  /** Extra validation of the parsed value; throws ValueError. */
  readonly check?: (value: OptionValue) => void;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const MIB = 1024 * 1024;
export const DEFAULT_CACHE_SIZE = 256 * MIB;

/** `HOST:PORT` (IPv6 hosts in brackets) → parts, or null. */
export function parseListenAddress(text: string): { host: string; port: number } | null {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text.trim());
  return m && Number(m[2]) <= 65535 ? { host: (m[1] as string).replace(/^\[|\]$/g, ''), port: Number(m[2]) } : null;
}

function bounds(min: number, max: number, tooLow: string, tooHigh = tooLow): (v: OptionValue) => void {
  return (v) => {
    if ((v as number) < min || (v as number) > max) throw new ValueError((v as number) < min ? tooLow : tooHigh);
  };
}
function oneOf(values: readonly string[]): (v: OptionValue) => void {
  return (v) => {
    if (!values.includes(v as string)) throw new ValueError(`must be one of ${values.join(', ')}`);
  };
}
const ENTRIES_BOUNDS = bounds(1, 1e7, 'must be between 1 and 10000000');
const TIMEOUT_BOUNDS = bounds(100, 3_600_000, 'must be at least 100ms (0 would fail every request)', 'must be at most 1h');
const processId = (kind: 'getuid' | 'getgid') => () => process[kind]?.() ?? 0;
const fluidOr = (fluid: OptionValue, debug: OptionValue) => (mode: Mode) => (mode === 'fluid' ? fluid : debug);
const METRICS = fluidOr('0.0.0.0:9567', 'off');

type Field = OptionSpec['field'];
/** `names`: the key, then its aliases, `|`-separated; no `field`: the plan builder sets it apart. */
function row(scope: OptionScope, credential = false) {
  return (names: string, type: OptionType, defaultText: string, help: string, field?: Field, dflt?: OptionSpec['default'], check?: OptionSpec['check']) => {
    const [key = '', ...aliases] = names.split('|');
    return { key, aliases, scope, type, credential, defaultText, help, field, default: dflt, check };
  };
}
const [bucket, secret, whole, cli] = [row('bucket'), row('bucket', true), row('process'), row('cli')];

export const VOCABULARY: readonly OptionSpec[] = [
  bucket('endpoint|url|minio-url', 'url', 'AWS S3 (required for minio://)', 'S3 endpoint URL, http(s)://host[:port]', 'endpoint'),
  bucket('region', 'string', 'us-east-1', 'signing region', 'region', 'us-east-1'),
  secret('access-key-id|access-key|minio-access-key', 'string', 'env AWS_ACCESS_KEY_ID, else anonymous', 'access key id'),
  secret(
    'secret-access-key|access-secret|secret-key|minio-access-secret',
    'string',
    'env AWS_SECRET_ACCESS_KEY, or anonymous',
    'secret access key (not on a command line)',
  ),
  secret('session-token', 'string', 'env AWS_SESSION_TOKEN', 'session token of temporary credentials'),
  bucket('path-style', 'bool', 'true with an endpoint, else false', 'path-style addressing (endpoint/bucket/key)', 'pathStyle'),
  bucket('read-only|ro', 'bool', 'from accessModes (Fluid), true (mount)', 'read-only; `rw` in option lists means false', 'readOnly', fluidOr(false, true)),
  bucket('sse', 'string', 'none', 'server-side encryption of written objects: AES256 or aws:kms', 'sse', undefined, oneOf(['AES256', 'aws:kms'])),
  bucket('sse-kms-key-id', 'string', "the bucket's default key", 'KMS key id or ARN for sse=aws:kms', 'sseKmsKeyId'),
  bucket('uid', 'uint', 'the process uid', 'owner uid of files and folders', 'uid', processId('getuid')),
  bucket('gid', 'uint', 'the process gid', 'owner gid of files and folders', 'gid', processId('getgid')),
  bucket('file-mode', 'octal', '0644', 'permission bits of files (octal)', 'fileMode', 0o644),
  bucket('dir-mode', 'octal', '0755', 'permission bits of folders (octal)', 'dirMode', 0o755),
  // No default in the plan: the filesystem's own (50,000, the memory promise's share) applies.
  bucket('max-folder-entries', 'uint', '50000', 'entries readdir shows; more cost ~250 B a name while listed', 'maxFolderEntries', undefined, ENTRIES_BOUNDS),
  bucket('ca-file', 'path', 'system CAs, or env AWS_CA_BUNDLE', 'PEM file of the CAs of an https endpoint'),
  bucket('stat-cache-ttl', 'duration', '1m', 'how long file metadata and listings are trusted', 'statCacheTtlMs', 60_000),
  bucket('negative-cache-ttl', 'duration', '5s', 'how long "no such file" is trusted', 'negativeCacheTtlMs', 5_000),
  whole('cache-size', 'size', '256MiB, or 3/4 of (cgroup memory.max - 192MiB)', 'memory budget of the read path', 'cacheSizeBytes'),
  whole('read-ahead-max', 'size', '64MiB', 'largest read-ahead window of one open file', 'readAheadMaxBytes', 64 * MIB),
  whole('read-ahead-initial', 'size', '1MiB', 'first read-ahead window of a sequential reader', 'readAheadInitialBytes', MIB),
  whole('part-size', 'size', '8MiB', 'size of one ranged GET (at least 1MiB)', 'partSizeBytes', 8 * MIB, bounds(MIB, Infinity, 'must be at least 1MiB')),
  whole('staging-dir', 'path', 'the system temp folder', 'folder of staged files (edits in place; an emptyDir)', 'stagingDir', tmpdir()),
  whole('staging-size', 'size', '4GiB', 'budget of staged files; 0: none (edits: EOPNOTSUPP)', 'stagingSizeBytes', 4 * 1024 * MIB),
  whole('disk-cache-dir', 'path', 'none (off)', 'folder of the disk block cache (a tieredstore path)', 'diskCacheDir'),
  whole('disk-cache-size', 'size', 'none; required with disk-cache-dir', 'byte budget of the disk block cache', 'diskCacheSizeBytes'),
  whole('allow-other', 'bool', 'true (Fluid), false (mount)', 'let other users see the mount', 'allowOther', fluidOr(true, false)),
  whole('attr-timeout', 'duration', '1s', 'kernel attribute cache timeout', 'attrTimeoutMs', 1_000),
  whole('entry-timeout', 'duration', '1s', 'kernel entry cache timeout', 'entryTimeoutMs', 1_000),
  whole('request-timeout', 'duration', '30s', 'upper bound of one S3 request, retries included (100ms to 1h)', 'requestTimeoutMs', 30_000, TIMEOUT_BOUNDS),
  whole('df-scan-interval', 'duration', '1h', "max age of df's Used before df lists the buckets again; 0: never", 'dfScanIntervalMs', 3_600_000),
  whole('log-level', 'log-level', 'info', LOG_LEVELS.join('|'), 'logLevel', 'info'),
  whole('metrics-address', 'listen', '0.0.0.0:9567 (Fluid), off (mount)', 'HOST:PORT of /healthz, /readyz, /metrics, or off', 'metricsAddress', METRICS),
  cli('access-key-file', 'path', 'none', 'mount command: read the access key id from this file'),
  cli('secret-key-file', 'path', 'none', 'mount command: read the secret access key from this file'),
  cli('read-write', 'bool', 'false', 'mount command: a writable mount (same as -o rw)'),
  cli('foreground|f', 'bool', 'true', 'accepted for goofys compatibility; always in the foreground'),
];

const BY_NAME: ReadonlyMap<string, OptionSpec> = new Map(VOCABULARY.flatMap((s) => [s.key, ...s.aliases].map((name) => [name, s] as const)));

/** Key spelling: lowercase, `_` → `-`, surrounding blanks removed. */
export const normalizeKey = (key: string): string => key.trim().toLowerCase().replace(/_/g, '-');

export const lookupOption = (normalizedKey: string): OptionSpec | undefined => BY_NAME.get(normalizedKey);

function nonEmpty(raw: string): string {
  if (raw === '') throw new ValueError('empty value');
  return raw;
}

function parseHttpUrl(raw: string): string {
  const text = raw.trim();
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (url === undefined) throw new ValueError('not a URL (use http://host:port or https://host)');
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ValueError('must be an http:// or https:// URL');
  if (url.username !== '' || url.password !== '') throw new ValueError('must not contain a user name or password');
  if (url.search !== '' || url.hash !== '') throw new ValueError('must not contain a query or fragment');
  return text.replace(/\/+$/, '');
}

function parseLogLevel(raw: string): LogLevel {
  const level = raw.trim().toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new ValueError(`not a log level (${LOG_LEVELS.join('|')})`);
  return level;
}

function parseListen(raw: string): string {
  if (parseListenAddress(raw) === null && raw !== 'off') throw new ValueError('must be HOST:PORT (e.g. 0.0.0.0:9567) or off');
  return raw;
}

const PARSERS: Readonly<Record<OptionType, (raw: string) => OptionValue>> = {
  ...{ bool: parseBool, uint: parseUint, octal: parseOctalMode, duration: parseDurationMs, size: parseSizeBytes, 'log-level': parseLogLevel },
  ...{ url: parseHttpUrl, string: nonEmpty, path: nonEmpty, listen: parseListen },
};

/** Throws ValueError. */
export function parseOptionValue(s: OptionSpec, raw: string): OptionValue {
  const value = PARSERS[s.type](raw);
  s.check?.(value);
  return value;
}

/** One `key[=value]` as written (the key normalized, an alias kept), and where: `MOUNT_OPTIONS`, `runtimeOptions`, `mount "NAME"`, `command line`. */
export type OptionEntry = { readonly key: string; readonly value: string; readonly source: string };

/**
 * Parses a mount-style option list `k=v,k2,ro,rw` (MOUNT_OPTIONS, `-o`): a bare key means true,
 * `rw` means read-only=false. Empty items are skipped.
 */
export function parseOptionList(text: string, source: string): OptionEntry[] {
  const entries: { key: string; value: string; source: string }[] = [];
  /** The entry of a credential just read: its value may itself contain commas. */
  let secret: { value: string } | undefined;
  for (const item of text.split(',')) {
    const eq = item.indexOf('=');
    const key = normalizeKey(eq < 0 ? item : item.slice(0, eq));
    // What follows a secret, up to the next known option, is part of it (and is never reported as
    // an unknown key, which would log a piece of the secret).
    if (secret && !(key === 'rw' && eq < 0) && lookupOption(key) === undefined) {
      secret.value += `,${item}`;
      continue;
    }
    secret = undefined;
    if (key === '') continue;
    const entry = eq < 0 && key === 'rw' ? { key: 'read-only', value: 'false', source } : { key, value: eq < 0 ? 'true' : item.slice(eq + 1), source };
    entries.push(entry);
    if (eq >= 0 && lookupOption(key)?.credential) secret = entry;
  }
  return entries;
}

/** Entries of key/value pairs (runtimeOptions, a mount's options, CLI flags), keys normalized. */
export function entriesOf(pairs: Iterable<readonly [string, string]>, source: string): OptionEntry[] {
  return [...pairs].map(([key, value]) => ({ key: normalizeKey(key), value, source }));
}
