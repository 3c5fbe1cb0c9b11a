/**
 * Typed pieces of a MountPlan from resolved option winners: a bucket (with its credentials: key
 * options, debug key files or the AWS_* environment variables; anonymous when none) and the
 * process-wide settings.
 */
import { configError, ConfigErrorCode, q } from './config-error.js';
import { DEFAULTS, parseListenAddress, type OptionSpec } from './options.js';
import { readFile } from 'node:fs/promises';
import { badOption, rawValue, typed, type Context, type KnownEntry } from './resolve.js';
import { errnoCode, readSecretFile, trimOneNewline } from './secrets.js';
import type { MountSource } from './mount-source.js';
import type { BucketMount, Credentials, LogLevel, ProcessSettings, SecretSource } from './plan.js';

export type Mode = 'fluid' | 'debug';

/** Which keys a layer may set: bucket and process keys; the `cli` keys only on a debug command line. */
export function acceptFor(mode: Mode, layer: 'options' | 'cli'): (spec: OptionSpec) => boolean {
  if (layer === 'options') return (s) => s.scope !== 'cli';
  if (mode === 'debug') return () => true;
  return (s) => s.scope !== 'cli' || s.key === 'foreground';
}

export interface BucketInput {
  readonly name: string;
  readonly sourceText: string;
  readonly source: MountSource;
  readonly folder: readonly string[];
  /** Read-only whatever the options say (Fluid: accessModes or the mount's readOnly). */
  readonly forcedReadOnly: boolean;
  /** Winners of the bucket-scope (and debug key-file) keys, by canonical key. */
  readonly options: ReadonlyMap<string, KnownEntry>;
  readonly env: Readonly<Record<string, string | undefined>>;
}

function processId(kind: 'uid' | 'gid'): number {
  const get = kind === 'uid' ? process.getuid : process.getgid;
  return typeof get === 'function' ? get.call(process) : 0;
}

export async function buildBucket(ctx: Context, input: BucketInput): Promise<BucketMount> {
  const o = input.options;
  const endpoint = await typed<string>(ctx, o.get('endpoint'));
  if (input.source.scheme === 'minio' && endpoint === undefined) {
    throw configError(ConfigErrorCode.ENDPOINT_REQUIRED, `${ctx.where}: option "minio-url" (or endpoint) is required for minio:// mounts`);
  }
  const credentials = await resolveCredentials(ctx, o, input.env);
  const readOnlyOption = (await typed<boolean>(ctx, o.get('read-only'))) ?? false;
  const ca = await readCaFile(ctx, o.get('ca-file'));
  return {
    name: input.name,
    source: input.sourceText,
    bucket: input.source.bucket,
    prefix: input.source.prefix,
    folder: input.folder,
    ...(endpoint !== undefined ? { endpoint } : {}),
    region: (await typed<string>(ctx, o.get('region'))) ?? DEFAULTS.region,
    pathStyle: (await typed<boolean>(ctx, o.get('path-style'))) ?? endpoint !== undefined,
    ...(credentials !== undefined ? { credentials } : {}),
    readOnly: input.forcedReadOnly || readOnlyOption,
    uid: (await typed<number>(ctx, o.get('uid'))) ?? processId('uid'),
    gid: (await typed<number>(ctx, o.get('gid'))) ?? processId('gid'),
    fileMode: (await typed<number>(ctx, o.get('file-mode'))) ?? DEFAULTS.fileMode,
    dirMode: (await typed<number>(ctx, o.get('dir-mode'))) ?? DEFAULTS.dirMode,
    statCacheTtlMs: (await typed<number>(ctx, o.get('stat-cache-ttl'))) ?? DEFAULTS.statCacheTtlMs,
    negativeCacheTtlMs: (await typed<number>(ctx, o.get('negative-cache-ttl'))) ?? DEFAULTS.negativeCacheTtlMs,
    ...(ca !== undefined ? { ca } : {}),
    ...(o.get('max-folder-entries') !== undefined ? { maxFolderEntries: (await typed<number>(ctx, o.get('max-folder-entries'))) as number } : {}),
  };
}

/** Read at start, so a wrong path is one line now rather than a TLS error on every request. */
async function readCaFile(ctx: Context, known: KnownEntry | undefined): Promise<{ file: string; pem: string } | undefined> {
  const file = await typed<string>(ctx, known);
  if (known === undefined || file === undefined) return undefined;
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    throw badOption(ctx, known, `cannot read the CA file: ${errnoCode(err)}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw badOption(ctx, known, 'not a PEM certificate file (no BEGIN CERTIFICATE line)');
  return { file, pem };
}

/**
 * Process-wide settings. `contextOf` words errors for the layer an entry came from.
 */
export async function buildSettings(
  winners: ReadonlyMap<string, KnownEntry>,
  contextOf: (known: KnownEntry) => Context,
  mode: Mode,
  defaultCacheSizeBytes: number = DEFAULTS.cacheSizeBytes,
): Promise<ProcessSettings> {
  const num = (key: string, fallback: number) => {
    const k = winners.get(key);
    return k === undefined ? fallback : typed<number>(contextOf(k), k).then((v) => v ?? fallback);
  };
  const bool = (key: string, fallback: boolean) => {
    const k = winners.get(key);
    return k === undefined ? fallback : typed<boolean>(contextOf(k), k).then((v) => v ?? fallback);
  };
  const listenAddress = async (): Promise<{ host: string; port: number } | undefined> => {
    const k = winners.get('metrics-address');
    const text = k === undefined ? (mode === 'fluid' ? DEFAULTS.metricsAddress : 'off') : await typed<string>(contextOf(k), k);
    return text === undefined || text === 'off' ? undefined : (parseListenAddress(text) ?? undefined);
  };
  const level = winners.get('log-level');
  const logLevel = ((level && (await typed<string>(contextOf(level), level))) ?? DEFAULTS.logLevel) as LogLevel;
  return {
    logLevel,
    cacheSizeBytes: await num('cache-size', defaultCacheSizeBytes),
    readAheadMaxBytes: await num('read-ahead-max', DEFAULTS.readAheadMaxBytes),
    readAheadInitialBytes: await num('read-ahead-initial', DEFAULTS.readAheadInitialBytes),
    partSizeBytes: await num('part-size', DEFAULTS.partSizeBytes),
    allowOther: await bool('allow-other', mode === 'fluid'),
    attrTimeoutMs: await num('attr-timeout', DEFAULTS.attrTimeoutMs),
    entryTimeoutMs: await num('entry-timeout', DEFAULTS.entryTimeoutMs),
    requestTimeoutMs: await num('request-timeout', DEFAULTS.requestTimeoutMs),
    dfScanIntervalMs: await num('df-scan-interval', DEFAULTS.dfScanIntervalMs),
    metricsAddress: await listenAddress(),
  };
}

/** Freezes an object graph (plain objects and arrays) in place and returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}

/** Only bucket-scope keys and the debug key files matter per bucket. */
export function isBucketKey(spec: OptionSpec): boolean {
  return spec.scope === 'bucket' || spec.key === 'access-key-file' || spec.key === 'secret-key-file';
}

export function isProcessKey(spec: OptionSpec): boolean {
  return spec.scope === 'process';
}

/** A key option: a secret file's content, or the literal value; one trailing newline trimmed. */
async function fromOption(ctx: Context, known: KnownEntry): Promise<SecretSource> {
  const read = await rawValue(ctx, known);
  const resolved = read.file === undefined ? { value: trimOneNewline(read.value) } : read;
  if (resolved.value === '') throw badOption(ctx, known, resolved.file ? `secret file ${resolved.file} is empty` : 'empty value', resolved);
  return { option: known.entry.key, value: resolved.value, ...(resolved.file !== undefined ? { file: resolved.file } : {}) };
}

async function fromKeyFile(ctx: Context, known: KnownEntry): Promise<SecretSource> {
  const file = known.entry.value;
  const value = await readSecretFile(file, `${ctx.where}: option ${q(known.entry.key)}`, 'cannot read');
  if (value === '') throw configError(ConfigErrorCode.BAD_OPTION, `${ctx.where}: option ${q(known.entry.key)}: ${file} is empty`);
  return { option: known.entry.key, value, file };
}

/** The name to suggest for a missing half, in the same family as the given half. */
function missingName(given: string, missing: 'access-key-id' | 'secret-access-key'): string {
  if (given.startsWith('minio-')) return missing === 'access-key-id' ? 'minio-access-key' : 'minio-access-secret';
  if (given.endsWith('-file')) return missing === 'access-key-id' ? 'access-key-file' : 'secret-key-file';
  return missing;
}

async function either(ctx: Context, key: KnownEntry | undefined, file: KnownEntry | undefined): Promise<SecretSource | undefined> {
  if (key !== undefined && file !== undefined) {
    throw configError(ConfigErrorCode.BAD_OPTION, `${ctx.where}: give either option ${q(key.entry.key)} or ${q(file.entry.key)}, not both`);
  }
  if (key !== undefined) return fromOption(ctx, key);
  if (file !== undefined) return fromKeyFile(ctx, file);
  return undefined;
}

/** `o`: the bucket's winners; the key files are given on the debug command line only. */
async function resolveCredentials(ctx: Context, o: ReadonlyMap<string, KnownEntry>, env: BucketInput['env']): Promise<Credentials | undefined> {
  const id = await either(ctx, o.get('access-key-id'), o.get('access-key-file'));
  const secret = await either(ctx, o.get('secret-access-key'), o.get('secret-key-file'));
  const sessionToken = o.get('session-token');
  const token = sessionToken !== undefined ? await fromOption(ctx, sessionToken) : undefined;
  const missing = (name: string, given: string) =>
    configError(ConfigErrorCode.MISSING_CREDENTIAL, `${ctx.where}: option ${q(name)} is missing (option ${q(given)} is set)`);

  if (id !== undefined && secret !== undefined) {
    return { accessKeyId: id, secretAccessKey: secret, ...(token !== undefined ? { sessionToken: token } : {}) };
  }
  if (id !== undefined) throw missing(missingName(id.option, 'secret-access-key'), id.option);
  if (secret !== undefined) throw missing(missingName(secret.option, 'access-key-id'), secret.option);
  if (token !== undefined) throw missing('access-key-id', token.option);

  const envId = env['AWS_ACCESS_KEY_ID'];
  const envSecret = env['AWS_SECRET_ACCESS_KEY'];
  const envToken = env['AWS_SESSION_TOKEN'];
  const has = (v: string | undefined): v is string => v !== undefined && v !== '';
  if (has(envId) && has(envSecret)) {
    return {
      accessKeyId: { option: 'AWS_ACCESS_KEY_ID', value: trimOneNewline(envId) },
      secretAccessKey: { option: 'AWS_SECRET_ACCESS_KEY', value: trimOneNewline(envSecret) },
      ...(has(envToken) ? { sessionToken: { option: 'AWS_SESSION_TOKEN', value: trimOneNewline(envToken) } } : {}),
    };
  }
  if (has(envId) !== has(envSecret)) {
    const [set, unset] = has(envId) ? ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] : ['AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID'];
    throw configError(ConfigErrorCode.MISSING_CREDENTIAL, `${ctx.where}: environment variable ${unset} is missing (${set} is set, and no key option is given)`);
  }
  return undefined;
}
