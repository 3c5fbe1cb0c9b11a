/**
 * Command → MountPlan, one path for both modes. Fluid entrypoint: config.json's mounts, layered
 * MOUNT_OPTIONS < runtimeOptions < the mount's own options < command line flags. Debug `mount
 * SOURCE MOUNTPOINT [flags]`: one bucket at the root, the command line alone. Each bucket and the
 * process settings are one pass over the option table; only credentials, the CA file and the
 * minio endpoint rule are built apart.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { SOURCE_CLI, type Command } from './argv.js';
import { ConfigError, configError, ConfigErrorCode, q } from './config-error.js';
import { DEFAULT_CONFIG_PATHS, loadFluidConfig, type FluidMountConfig } from './fluid-config.js';
import { chooseLayout, layoutFolders, type Layout } from './mount-folders.js';
import { parseMountSource, type MountSource } from './mount-source.js';
import { DEFAULT_CACHE_SIZE, entriesOf, lookupOption, parseListenAddress, parseOptionList, parseOptionValue, VOCABULARY } from './options.js';
import type { Mode, OptionEntry, OptionScope, OptionSpec, OptionValue } from './options.js';
import { DEFAULT_SECRETS_ROOT, readSecretFile, resolveOptionValue, trimOneNewline, errnoCode, type ResolvedValue } from './secrets.js';
import { ValueError } from './units.js';
import type { BucketMount, Credentials, MountFailure, MountPlan, ProcessSettings, SecretSource } from './plan.js';

/** What the loaders may read from the outside world (injectable for tests). */
export interface LoadContext {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Default `/etc/fluid/secrets`: option values that are paths under it are read from the file. */
  readonly secretsRoot?: string;
  /** The container's memory limit in bytes (null: none); read from the cgroup when undefined. */
  readonly memoryLimitBytes?: number | null;
  /** Default `['/etc/fluid/config/config.json', '/etc/fluid/config.json']`. */
  readonly defaultConfigPaths?: readonly string[];
  /** A reload: the layout chosen at start, kept whatever the mounts are now. */
  readonly layout?: Layout;
  /** A reload: a problem of one mount goes to `plan.failures` instead of throwing. */
  readonly lenient?: boolean;
}

const MIB = 1024 * 1024;

/** The limit in bytes, or undefined when there is none (or no cgroup file to read). */
export async function cgroupMemoryLimit(root = '/sys/fs/cgroup'): Promise<number | undefined> {
  for (const file of [`${root}/memory.max`, `${root}/memory/memory.limit_in_bytes`]) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const value = Number(text.trim());
    // v2 says "max"; v1 says a huge number (2^63 rounded to pages) when unlimited.
    return Number.isFinite(value) && value > 0 && value < 2 ** 60 ? value : undefined;
  }
  return undefined;
}

/**
 * A FUSE container killed for memory takes the application's mount with it, so the cache must fit
 * the limit: three quarters of what it leaves after the process's own 192 MiB (Node, the SDK,
 * buffers in flight), between 32 MiB and 1 GiB (512 MiB → 240 MiB); 256 MiB without a limit.
 */
export function defaultCacheSize(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_CACHE_SIZE;
  return Math.min(1024 * MIB, Math.max(32 * MIB, Math.floor(((limit - 192 * MIB) * 0.75) / MIB) * MIB));
}

/** An entry whose key is in the vocabulary. */
interface KnownEntry {
  readonly spec: OptionSpec;
  readonly entry: OptionEntry;
}
type Winners = ReadonlyMap<string, KnownEntry>;

/** How errors about one option are worded: `where` is `mount "NAME"`, `config FILE` or `command line`. */
interface Context {
  readonly where: string;
  /** Add `(from SOURCE)` after the option key. */
  readonly showSource: boolean;
  readonly secretsRoot: string;
}

/** Canonical key → the entry of the highest layer that sets it (within a layer, the last). */
function winners(layers: readonly (readonly OptionEntry[])[]): Map<string, KnownEntry> {
  const out = new Map<string, KnownEntry>();
  for (const entry of layers.flat()) {
    const spec = lookupOption(entry.key);
    if (spec !== undefined) out.set(spec.key, { spec, entry });
  }
  return out;
}

/** An error about one option's value; the value is shown only when it cannot be a secret. */
function badOption(ctx: Context, known: KnownEntry, why: string, resolved?: ResolvedValue): ConfigError {
  const value = resolved?.value ?? known.entry.value;
  const mayShow = !known.spec.credential && resolved?.file === undefined && !value.includes('@') && value.length <= 200;
  const label = `option ${q(known.entry.key)}${ctx.showSource ? ` (from ${known.entry.source})` : ''}`;
  return configError(ConfigErrorCode.BAD_OPTION, `${ctx.where}: ${label}: ${why}${mayShow ? `: ${q(value)}` : ''}`);
}

const rawValue = (ctx: Context, known: KnownEntry) => resolveOptionValue(ctx.where, known.entry.key, known.entry.value, ctx.secretsRoot);

/** The typed value of a winner (a secret file read when the value points under the secrets root). */
async function typed<T extends OptionValue>(ctx: Context, known: KnownEntry): Promise<T> {
  const resolved = await rawValue(ctx, known);
  try {
    return parseOptionValue(known.spec, resolved.value) as T;
  } catch (err) {
    throw err instanceof ValueError ? badOption(ctx, known, err.message, resolved) : err;
  }
}

/** The plan fields of one scope: each table entry's winner, else its default. */
async function fieldsOf<T>(scope: OptionScope, o: Winners, contextOf: (known: KnownEntry) => Context, mode: Mode): Promise<Partial<T>> {
  const out: Record<string, OptionValue> = {};
  for (const spec of VOCABULARY.filter((s) => s.scope === scope && s.field !== undefined)) {
    const known = o.get(spec.key);
    const value = known ? await typed(contextOf(known), known) : typeof spec.default === 'function' ? spec.default(mode) : spec.default;
    if (value !== undefined) out[spec.field as string] = value;
  }
  return out as Partial<T>;
}

/** A key option: a secret file's content, or the literal value; one trailing newline trimmed. */
async function fromOption(ctx: Context, known: KnownEntry): Promise<SecretSource> {
  const read = await rawValue(ctx, known);
  const resolved = read.file === undefined ? { value: trimOneNewline(read.value) } : read;
  if (resolved.value === '') throw badOption(ctx, known, resolved.file ? `secret file ${resolved.file} is empty` : 'empty value', resolved);
  return { option: known.entry.key, ...resolved };
}

/** A debug `--*-key-file`: read whatever the path. */
async function fromKeyFile(ctx: Context, known: KnownEntry): Promise<SecretSource> {
  const file = known.entry.value;
  const value = await readSecretFile(file, `${ctx.where}: option ${q(known.entry.key)}`, 'cannot read');
  if (value === '') throw configError(ConfigErrorCode.BAD_OPTION, `${ctx.where}: option ${q(known.entry.key)}: ${file} is empty`);
  return { option: known.entry.key, value, file };
}

async function either(ctx: Context, key: KnownEntry | undefined, file: KnownEntry | undefined): Promise<SecretSource | undefined> {
  if (key !== undefined && file !== undefined) {
    throw configError(ConfigErrorCode.BAD_OPTION, `${ctx.where}: give either option ${q(key.entry.key)} or ${q(file.entry.key)}, not both`);
  }
  return key !== undefined ? fromOption(ctx, key) : file !== undefined ? fromKeyFile(ctx, file) : undefined;
}

/** The name to suggest for a missing half, in the same family as the given half. */
function missingName(given: string, missing: 'access-key-id' | 'secret-access-key'): string {
  const [id, secret] = given.startsWith('minio-')
    ? ['minio-access-key', 'minio-access-secret']
    : given.endsWith('-file')
      ? ['access-key-file', 'secret-key-file']
      : [];
  return (missing === 'access-key-id' ? id : secret) ?? missing;
}

/** Key options (or the debug key files), else the AWS_* environment variables, else anonymous. */
async function resolveCredentials(ctx: Context, o: Winners, env: LoadContext['env']): Promise<Credentials | undefined> {
  const id = await either(ctx, o.get('access-key-id'), o.get('access-key-file'));
  const secret = await either(ctx, o.get('secret-access-key'), o.get('secret-key-file'));
  const token = o.has('session-token') ? await fromOption(ctx, o.get('session-token') as KnownEntry) : undefined;
  const missing = (name: string, given: string) =>
    configError(ConfigErrorCode.MISSING_CREDENTIAL, `${ctx.where}: option ${q(name)} is missing (option ${q(given)} is set)`);
  if (id !== undefined && secret !== undefined) return { accessKeyId: id, secretAccessKey: secret, ...(token && { sessionToken: token }) };
  if (id !== undefined) throw missing(missingName(id.option, 'secret-access-key'), id.option);
  if (secret !== undefined) throw missing(missingName(secret.option, 'access-key-id'), secret.option);
  if (token !== undefined) throw missing('access-key-id', token.option);

  const fromEnv = (option: string) => (env[option] ? { option, value: trimOneNewline(env[option]) } : undefined);
  const [envId, envSecret, envToken] = [fromEnv('AWS_ACCESS_KEY_ID'), fromEnv('AWS_SECRET_ACCESS_KEY'), fromEnv('AWS_SESSION_TOKEN')];
  if (envId && envSecret) return { accessKeyId: envId, secretAccessKey: envSecret, ...(envToken && { sessionToken: envToken }) };
  const half = envId ?? envSecret;
  if (half === undefined) return undefined;
  const other = half === envId ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID';
  throw configError(
    ConfigErrorCode.MISSING_CREDENTIAL,
    `${ctx.where}: environment variable ${other} is missing (${half.option} is set, and no key option is given)`,
  );
}

/** Read at start, so a wrong path is one line now rather than a TLS error on every request. */
async function readCaFile(ctx: Context, known: KnownEntry | undefined): Promise<{ file: string; pem: string } | undefined> {
  if (known === undefined) return undefined;
  const file = await typed<string>(ctx, known);
  const pem = await readFile(file, 'utf8').catch((err: unknown) => {
    throw badOption(ctx, known, `cannot read the CA file: ${errnoCode(err)}`);
  });
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw badOption(ctx, known, 'not a PEM certificate file (no BEGIN CERTIFICATE line)');
  return { file, pem };
}

interface BucketInput {
  readonly mount: FluidMountConfig;
  readonly source: MountSource;
  readonly folder: readonly string[];
  /** Read-only whatever the options say (Fluid: accessModes or the mount's readOnly). */
  readonly forcedReadOnly: boolean;
  readonly options: Winners;
}

async function buildBucket(ctx: Context, input: BucketInput, mode: Mode, env: LoadContext['env']): Promise<BucketMount> {
  const { mount, source, options } = input;
  const f = await fieldsOf<BucketMount>('bucket', options, () => ctx, mode);
  if (source.scheme === 'minio' && f.endpoint === undefined) {
    throw configError(ConfigErrorCode.ENDPOINT_REQUIRED, `${ctx.where}: option "minio-url" (or endpoint) is required for minio:// mounts`);
  }
  const credentials = await resolveCredentials(ctx, options, env);
  const ca = await readCaFile(ctx, options.get('ca-file'));
  return {
    ...f,
    ...{ name: mount.name, source: mount.mountPoint, bucket: source.bucket, prefix: source.prefix, folder: input.folder },
    pathStyle: f.pathStyle ?? f.endpoint !== undefined,
    readOnly: input.forcedReadOnly || f.readOnly === true,
    ...(credentials && { credentials }),
    ...(ca && { ca }),
  } as BucketMount;
}

/** Freezes an object graph (plain objects and arrays) in place and returns it. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}

interface PlanInput {
  readonly mode: Mode;
  readonly targetPath: string;
  readonly mounts: readonly FluidMountConfig[];
  readonly layout: Layout;
  /** The layers every mount shares, low to high (the mounts' own layer goes before the command line). */
  readonly env: OptionEntry[];
  readonly runtime: OptionEntry[];
  readonly cli: OptionEntry[];
  /** Whether the access modes let the mount write. */
  readonly writable: boolean;
  /** `config FILE` (Fluid mode): what an error about a shared option is about. */
  readonly file?: string;
}

const mountLabel = (name: string): string => `mount ${q(name)}`;

async function buildPlan(input: PlanInput, ctx: LoadContext): Promise<MountPlan> {
  const { mode, env, runtime, cli, mounts } = input;
  const secretsRoot = ctx.secretsRoot ?? DEFAULT_SECRETS_ROOT;
  const showSource = mode === 'fluid';
  for (const { key } of cli) {
    // A secret on the command line shows in `ps` and /proc/PID/cmdline to every user of the node.
    if (lookupOption(key)?.credential && lookupOption(key)?.key !== 'access-key-id') {
      throw configError(
        ConfigErrorCode.BAD_OPTION,
        `${SOURCE_CLI}: option ${q(key)} would show the secret in the process list (ps, /proc/PID/cmdline); use --secret-key-file FILE, a Fluid secret, or the env AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN`,
      );
    }
  }

  // Options nobody understands are warned about once; the `cli` keys only count on a command line.
  const unknown = new Map<string, string>();
  const note = (key: string, why: string) => unknown.has(key) || unknown.set(key, why);
  const accepts = (isCli: boolean) => (e: OptionEntry) => {
    const spec = lookupOption(e.key);
    return spec !== undefined && (spec.scope !== 'cli' || (isCli && (mode === 'debug' || spec.key === 'foreground')));
  };
  const single = mounts.length === 1;
  const mountLayers = mounts.map((m) => entriesOf(m.options, mountLabel(m.name)));
  for (const [layer, isCli] of [[env, false], [runtime, false], ...mountLayers.map((l) => [l, false] as const), [cli, true]] as const) {
    for (const e of layer) {
      if (!accepts(isCli)(e)) note(e.key, `from ${e.source}`);
      else if (!single && e.source.startsWith('mount ') && lookupOption(e.key)?.scope === 'process')
        note(e.key, `from ${e.source}: process-wide, set it in runtimeOptions`);
    }
  }
  const [envLayer, runtimeLayer, cliLayer] = [env.filter(accepts(false)), runtime.filter(accepts(false)), cli.filter(accepts(true))];
  const fileContext = (known: KnownEntry): Context => {
    const source = known.entry.source;
    return { where: source === SOURCE_CLI || source.startsWith('mount ') ? source : `config ${input.file}`, showSource, secretsRoot };
  };
  if (ctx.lenient === true) {
    // A bad value in a layer every mount shares is a problem of the whole file, not of one mount.
    for (const known of winners([envLayer, runtimeLayer, cliLayer]).values()) if (known.spec.scope === 'bucket') await typed(fileContext(known), known);
  }

  const failures: MountFailure[] = [];
  const fail = (name: string, folder: readonly string[] | undefined, err: unknown): undefined => {
    if (ctx.lenient !== true || !(err instanceof ConfigError)) throw err;
    failures.push({ name, folder, error: err });
  };
  // Where each bucket goes, and what it is, before any file is read.
  const folders = layoutFolders(mounts, input.layout, ctx.lenient);
  const sources = mounts.map((m, i) => {
    const folder = folders[i] as string[] | ConfigError;
    if (folder instanceof ConfigError) return fail(m.name, undefined, folder);
    try {
      return parseMountSource(m.mountPoint, `${mountLabel(m.name)}: mountPoint`);
    } catch (err) {
      return fail(m.name, folder, err);
    }
  });
  const buckets: BucketMount[] = [];
  for (const [i, mount] of mounts.entries()) {
    const [source, folder] = [sources[i], folders[i] as string[]];
    if (source === undefined) continue;
    const options = winners([envLayer, runtimeLayer, (mountLayers[i] as OptionEntry[]).filter(accepts(false)), cliLayer]);
    const context = { where: mode === 'fluid' ? mountLabel(mount.name) : SOURCE_CLI, showSource, secretsRoot };
    const forcedReadOnly = !input.writable || mount.readOnly;
    await buildBucket(context, { mount, source, folder, forcedReadOnly, options }, mode, ctx.env).then(
      (bucket) => buckets.push(bucket),
      (err: unknown) => fail(mount.name, folder, err),
    );
  }

  // With several mounts, process-wide keys come from the shared layers only.
  const processWinners = winners(
    single ? [envLayer, runtimeLayer, (mountLayers[0] as OptionEntry[]).filter(accepts(false)), cliLayer] : [envLayer, runtimeLayer, cliLayer],
  );
  const s = await fieldsOf<ProcessSettings>('process', processWinners, fileContext, mode);
  const memory = ctx.memoryLimitBytes === undefined ? await cgroupMemoryLimit() : (ctx.memoryLimitBytes ?? undefined);
  // The table holds the address as text (`off` included); the listener wants its parts.
  const metricsAddress = parseListenAddress(s.metricsAddress as unknown as string) ?? undefined;
  const settings = { ...s, cacheSizeBytes: s.cacheSizeBytes ?? defaultCacheSize(memory), metricsAddress } as ProcessSettings;
  return deepFreeze<MountPlan>({
    targetPath: input.targetPath,
    layout: input.layout.kind,
    buckets,
    failures,
    settings,
    unknownOptions: [...unknown].map(([key, why]) => `${key} (${why})`),
    ...(input.file !== undefined && { configFile: input.file }),
  });
}

/** Access modes that let the FUSE mount write. */
const WRITE_MODES = new Set(['ReadWriteMany', 'ReadWriteOnce', 'ReadWriteOncePod']);

export async function loadFluidPlan(cmd: Extract<Command, { kind: 'fluid' }>, ctx: LoadContext): Promise<MountPlan> {
  const config = await loadFluidConfig(cmd.configPath, ctx.defaultConfigPaths ?? DEFAULT_CONFIG_PATHS);
  const fromEnv = ctx.env['MOUNT_POINT'] || undefined;
  const target = config.targetPath ?? fromEnv;
  const cfg = `config ${config.file}`;
  if (target === undefined) throw configError(ConfigErrorCode.TARGET_PATH, `${cfg}: no "targetPath" and no env MOUNT_POINT: nowhere to mount`);
  if (!path.isAbsolute(target)) throw configError(ConfigErrorCode.TARGET_PATH, `${cfg}: targetPath ${q(target)} is not an absolute path`);
  return buildPlan(
    {
      mode: 'fluid',
      targetPath: path.resolve(target),
      mounts: config.mounts,
      layout: ctx.layout ?? chooseLayout(config.mounts),
      env: parseOptionList(ctx.env['MOUNT_OPTIONS'] ?? '', 'MOUNT_OPTIONS'),
      runtime: entriesOf(config.runtimeOptions, 'runtimeOptions'),
      cli: entriesOf(Object.entries(cmd.flags), SOURCE_CLI),
      writable: config.accessModes.some((m) => WRITE_MODES.has(m)),
      file: config.file,
    },
    ctx,
  );
}

/** Only the command line counts here (plus AWS_* env credentials): MOUNT_OPTIONS and MOUNT_POINT belong to the Fluid mode. */
export async function loadDebugPlan(cmd: Extract<Command, { kind: 'mount' }>, ctx: LoadContext): Promise<MountPlan> {
  if (cmd.mountpoint === '') throw configError(ConfigErrorCode.ARGV, `${SOURCE_CLI}: MOUNTPOINT is empty; see --help`);
  const { bucket } = parseMountSource(cmd.source, `${SOURCE_CLI}: SOURCE`);
  const mount = { index: 0, name: bucket, mountPoint: cmd.source, options: [], readOnly: false };
  const cli = entriesOf(Object.entries(cmd.flags), SOURCE_CLI);
  return buildPlan(
    { mode: 'debug', targetPath: path.resolve(cmd.mountpoint), mounts: [mount], layout: { kind: 'root' }, env: [], runtime: [], cli, writable: true },
    ctx,
  );
}
