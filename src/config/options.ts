/**
 * The option vocabulary: one table shared by Fluid mount options, runtimeOptions, the env
 * MOUNT_OPTIONS and the command line, plus key normalisation and typed value parsing.
 */
import { formatBytes, parseBool, parseDurationMs, parseOctalMode, parseSizeBytes, parseUint, ValueError } from './units.js';
import type { LogLevel } from './plan.js';

/**
 * - `bucket`: applies to one bucket (may differ per mount);
 * - `process`: applies to the whole FUSE mount (ProcessSettings);
 * - `cli`: only meaningful on the command line of the debug `mount` command.
 */
export type OptionScope = 'bucket' | 'process' | 'cli';

export type OptionType = 'string' | 'url' | 'bool' | 'uint' | 'octal' | 'duration' | 'size' | 'log-level' | 'path';

export type OptionValue = string | number | boolean;

export interface OptionSpec {
  /** Canonical key. */
  readonly key: string;
  readonly aliases: readonly string[];
  readonly scope: OptionScope;
  readonly type: OptionType;
  /** The value is a secret: never shown in messages. */
  readonly credential: boolean;
  /** Default as shown by --help. */
  readonly defaultText: string;
  /** One-line description for --help. */
  readonly help: string;
  /** Extra validation of the parsed value; throws ValueError. */
  readonly check?: (value: OptionValue) => void;
}

export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

const MIB = 1024 * 1024;

/** Built-in defaults of the typed values (uid/gid/allow-other/path-style depend on context). */
export const DEFAULTS = {
  region: 'us-east-1',
  fileMode: 0o644,
  dirMode: 0o755,
  statCacheTtlMs: 60_000,
  negativeCacheTtlMs: 5_000,
  cacheSizeBytes: 256 * MIB,
  readAheadMaxBytes: 64 * MIB,
  readAheadInitialBytes: 1 * MIB,
  partSizeBytes: 8 * MIB,
  minPartSizeBytes: 1 * MIB,
  attrTimeoutMs: 1_000,
  entryTimeoutMs: 1_000,
  requestTimeoutMs: 30_000,
  dfScanIntervalMs: 3_600_000,
  logLevel: 'info' as LogLevel,
  metricsAddress: '0.0.0.0:9567',
} as const;

/** `HOST:PORT` (IPv6 hosts in brackets) → parts, or null. */
export function parseListenAddress(text: string): { host: string; port: number } | null {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text.trim());
  if (!m) return null;
  const port = Number(m[2]);
  if (port > 65535) return null;
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
}

function spec(
  key: string,
  aliases: readonly string[],
  scope: OptionScope,
  type: OptionType,
  defaultText: string,
  help: string,
  extra: { credential?: boolean; check?: (value: OptionValue) => void } = {},
): OptionSpec {
  return { key, aliases, scope, type, defaultText, help, credential: extra.credential ?? false, ...(extra.check ? { check: extra.check } : {}) };
}

export const VOCABULARY: readonly OptionSpec[] = [
  // Per bucket: where and who.
  spec('endpoint', ['url', 'minio-url'], 'bucket', 'url', 'AWS S3 (required for minio://)', 'S3 endpoint URL, http(s)://host[:port]'),
  spec('region', [], 'bucket', 'string', DEFAULTS.region, 'signing region'),
  spec('access-key-id', ['access-key', 'minio-access-key'], 'bucket', 'string', 'env AWS_ACCESS_KEY_ID, else anonymous', 'access key id', { credential: true }),
  spec(
    'secret-access-key',
    ['access-secret', 'secret-key', 'minio-access-secret'],
    'bucket',
    'string',
    'env AWS_SECRET_ACCESS_KEY, or anonymous',
    'secret access key (not on a command line)',
    { credential: true },
  ),
  spec('session-token', [], 'bucket', 'string', 'env AWS_SESSION_TOKEN', 'session token of temporary credentials', { credential: true }),
  spec('path-style', [], 'bucket', 'bool', 'true with an endpoint, else false', 'path-style addressing (endpoint/bucket/key)'),
  spec('read-only', ['ro'], 'bucket', 'bool', 'from accessModes (Fluid), false (mount)', 'read-only; `rw` in option lists means false'),
  spec('uid', [], 'bucket', 'uint', 'the process uid', 'owner uid of files and folders'),
  spec('gid', [], 'bucket', 'uint', 'the process gid', 'owner gid of files and folders'),
  spec('file-mode', [], 'bucket', 'octal', '0644', 'permission bits of files (octal)'),
  spec('dir-mode', [], 'bucket', 'octal', '0755', 'permission bits of folders (octal)'),
  spec('max-folder-entries', [], 'bucket', 'uint', '50000', 'entries readdir shows; more cost ~250 B a name while listed', {
    check: (v) => {
      if ((v as number) < 1 || (v as number) > 10_000_000) throw new ValueError('must be between 1 and 10000000');
    },
  }),
  spec('ca-file', [], 'bucket', 'path', 'system CAs, or env AWS_CA_BUNDLE', 'PEM file of the CAs of an https endpoint'),
  spec('stat-cache-ttl', [], 'bucket', 'duration', '1m', 'how long file metadata and listings are trusted'),
  spec('negative-cache-ttl', [], 'bucket', 'duration', '5s', 'how long "no such file" is trusted'),
  // Process-wide.
  spec(
    'cache-size',
    [],
    'process',
    'size',
    `${formatBytes(DEFAULTS.cacheSizeBytes)}, or 3/4 of (cgroup memory.max - 192MiB)`,
    'memory budget of the read path',
  ),
  spec('read-ahead-max', [], 'process', 'size', formatBytes(DEFAULTS.readAheadMaxBytes), 'largest read-ahead window of one open file'),
  spec('read-ahead-initial', [], 'process', 'size', formatBytes(DEFAULTS.readAheadInitialBytes), 'first read-ahead window of a sequential reader'),
  spec('part-size', [], 'process', 'size', formatBytes(DEFAULTS.partSizeBytes), 'size of one ranged GET (at least 1MiB)', {
    check: (v) => {
      if ((v as number) < DEFAULTS.minPartSizeBytes) throw new ValueError('must be at least 1MiB');
    },
  }),
  spec('allow-other', [], 'process', 'bool', 'true (Fluid), false (mount)', 'let other users see the mount'),
  spec('attr-timeout', [], 'process', 'duration', '1s', 'kernel attribute cache timeout'),
  spec('entry-timeout', [], 'process', 'duration', '1s', 'kernel entry cache timeout'),
  spec('request-timeout', [], 'process', 'duration', '30s', 'upper bound of one S3 request, retries included (100ms to 1h)', {
    check: (v) => {
      if ((v as number) < 100) throw new ValueError('must be at least 100ms (0 would fail every request)');
      if ((v as number) > 3_600_000) throw new ValueError('must be at most 1h');
    },
  }),
  spec('df-scan-interval', [], 'process', 'duration', '1h', "max age of df's Used before df lists the buckets again; 0: never"),
  spec('log-level', [], 'process', 'log-level', DEFAULTS.logLevel, LOG_LEVELS.join('|')),
  spec('metrics-address', [], 'process', 'string', `${DEFAULTS.metricsAddress} (Fluid), off (mount)`, 'HOST:PORT of /healthz, /readyz, /metrics, or off', {
    check: (v) => {
      if (parseListenAddress(String(v)) === null && String(v) !== 'off') throw new ValueError('must be HOST:PORT (e.g. 0.0.0.0:9567) or off');
    },
  }),
  // Debug command line only.
  spec('access-key-file', [], 'cli', 'path', 'none', 'mount command: read the access key id from this file'),
  spec('secret-key-file', [], 'cli', 'path', 'none', 'mount command: read the secret access key from this file'),
  spec('foreground', ['f'], 'cli', 'bool', 'true', 'accepted for goofys compatibility; always in the foreground'),
];

const BY_NAME: ReadonlyMap<string, OptionSpec> = new Map(VOCABULARY.flatMap((s) => [s.key, ...s.aliases].map((name) => [name, s] as const)));

/** Key spelling: lowercase, `_` → `-`, surrounding blanks removed. */
export function normalizeKey(key: string): string {
  return key.trim().toLowerCase().replace(/_/g, '-');
}

/** The spec of a (normalized) key or alias. */
export function lookupOption(normalizedKey: string): OptionSpec | undefined {
  return BY_NAME.get(normalizedKey);
}

const PARSERS: Readonly<Record<OptionType, (raw: string) => OptionValue>> = {
  bool: parseBool,
  uint: parseUint,
  octal: parseOctalMode,
  duration: parseDurationMs,
  size: parseSizeBytes,
  'log-level': (raw) => {
    const level = raw.trim().toLowerCase();
    if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new ValueError(`not a log level (${LOG_LEVELS.join('|')})`);
    return level;
  },
  url: (raw) => parseHttpUrl(raw),
  string: nonEmpty,
  path: nonEmpty,
};

function nonEmpty(raw: string): string {
  if (raw === '') throw new ValueError('empty value');
  return raw;
}

/** Parses a raw value according to the spec's type; throws ValueError. */
export function parseOptionValue(s: OptionSpec, raw: string): OptionValue {
  const value = PARSERS[s.type](raw);
  s.check?.(value);
  return value;
}

function parseHttpUrl(raw: string): string {
  const text = raw.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ValueError('not a URL (use http://host:port or https://host)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ValueError('must be an http:// or https:// URL');
  if (url.username !== '' || url.password !== '') throw new ValueError('must not contain a user name or password');
  if (url.search !== '' || url.hash !== '') throw new ValueError('must not contain a query or fragment');
  return text.replace(/\/+$/, '');
}

/** One `key[=value]` as written somewhere, with where it came from. */
export interface OptionEntry {
  /** Normalized key as written (an alias stays an alias). */
  readonly key: string;
  readonly value: string;
  /** `MOUNT_OPTIONS`, `runtimeOptions`, `mount "NAME"` or `command line`. */
  readonly source: string;
}

/**
 * Parses a mount-style option list `k=v,k2,ro,rw` (MOUNT_OPTIONS, `-o`): a bare key means true,
 * `rw` means read-only=false. Empty items are skipped.
 */
export function parseOptionList(text: string, source: string): OptionEntry[] {
  const entries: OptionEntry[] = [];
  /** The entry before, when it holds a credential whose value may itself contain commas. */
  let open: { key: string; value: string } | undefined;
  for (const item of text.split(',')) {
    const eq = item.indexOf('=');
    const key = normalizeKey(eq < 0 ? item : item.slice(0, eq));
    // A secret may contain commas: what follows one, up to the next known option, is part of it
    // (and is never reported as an unknown key, which would log a piece of the secret).
    if (open && !(key === 'rw' && eq < 0) && lookupOption(key) === undefined) {
      open.value += `,${item}`;
      continue;
    }
    if (open) {
      entries.push({ key: open.key, value: open.value, source });
      open = undefined;
    }
    if (item.trim() === '') continue;
    if (key === '') continue;
    if (eq >= 0 && lookupOption(key)?.credential) {
      open = { key, value: item.slice(eq + 1) };
      continue;
    }
    if (eq < 0 && key === 'rw') {
      entries.push({ key: 'read-only', value: 'false', source });
      continue;
    }
    entries.push({ key, value: eq < 0 ? 'true' : item.slice(eq + 1), source });
  }
  if (open) entries.push({ key: open.key, value: open.value, source });
  return entries;
}

/** Entries of key/value pairs (runtimeOptions, a mount's options, CLI flags), keys normalized. */
export function entriesOf(pairs: Iterable<readonly [string, string]>, source: string): OptionEntry[] {
  return [...pairs].map(([key, value]) => ({ key: normalizeKey(key), value, source }));
}
