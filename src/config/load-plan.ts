/**
 * Command → MountPlan, one path for both modes. Fluid entrypoint: config.json's mounts, layered
 * MOUNT_OPTIONS < runtimeOptions < the mount's own options < command line flags. Debug `mount
 * SOURCE MOUNTPOINT [flags]`: one bucket at the root, the command line alone. Each bucket and the
 * process settings are one pass over the option table; credentials, the CA file and the minio
 * endpoint rule are built apart.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, configError, ConfigErrorCode, q } from './config-error.js';
import { DEFAULT_CONFIG_PATHS, loadFluidConfig, type FluidConfig } from './fluid-config.js';
import { chooseLayout, layoutFolders, type Layout } from './mount-folders.js';
import { parseMountSource } from './mount-source.js';
import { DEFAULT_CACHE_SIZE, entriesOf, lookupOption, MIB, parseListenAddress, parseOptionList, parseOptionValue, SOURCE_CLI, VOCABULARY } from './options.js';
import type { Mode, OptionEntry, OptionScope, OptionSpec, OptionValue } from './options.js';
import { DEFAULT_SECRETS_ROOT, errnoCode, readSecretFile, resolveOptionValue, trimOneNewline, type ResolvedValue } from './secrets.js';
import { ValueError } from './units.js';
import type { BucketMount, Credentials, MountFailure, MountPlan, ProcessSettings, SecretSource } from './plan.js';

/** What the loaders may read from the outside world (injectable for tests). */
export interface LoadContext {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Default `/etc/fluid/secrets`: option values that are paths under it are read from the file. */
  readonly secretsRoot?: string;
  /** The container's memory limit in bytes (null: none); read from the cgroup when undefined. */
  readonly memoryLimitBytes?: number | null;
  readonly defaultConfigPaths?: readonly string[];
  /** A reload: the layout chosen at start, kept whatever the mounts are now. */
  readonly layout?: Layout;
  /** A reload: a problem of one mount goes to `plan.failures` instead of throwing. */
  readonly lenient?: boolean;
}

/** What the command line asks for; `flags` are `--key value` pairs, keys normalized. */
export type FluidCommand = { readonly configPath?: string; readonly flags: Readonly<Record<string, string>> };
export type DebugCommand = { readonly source: string; readonly mountpoint: string; readonly flags: Readonly<Record<string, string>> };

/** The limit in bytes, or undefined when there is none (or no cgroup file to read). */
export async function cgroupMemoryLimit(root = '/sys/fs/cgroup'): Promise<number | undefined> {
  for (const file of [`${root}/memory.max`, `${root}/memory/memory.limit_in_bytes`]) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    const value = Number(text?.trim());
    // v2 says "max"; v1 says a huge number (2^63 rounded to pages) when unlimited.
    if (text !== undefined) return value > 0 && value < 2 ** 60 ? value : undefined;
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

type KnownEntry = { readonly spec: OptionSpec; readonly entry: OptionEntry };
type Winners = ReadonlyMap<string, KnownEntry>;
/** How errors about an option are worded: `where` starts them; `showSource` adds `(from SOURCE)` after the key. */
type Context = { readonly where: string; readonly showSource: boolean; readonly secretsRoot: string };

/** An error about one option's value; the value is shown only when it cannot be a secret. */
function badOption(ctx: Context, known: KnownEntry, why: string, resolved?: ResolvedValue): ConfigError {
  const value = resolved?.value ?? known.entry.value;
  const mayShow = !known.spec.credential && resolved?.file === undefined && !value.includes('@') && value.length <= 200;
  const label = `option ${q(known.entry.key)}${ctx.showSource ? ` (from ${known.entry.source})` : ''}`;
  return configError(ConfigErrorCode.BAD_OPTION, `${ctx.where}: ${label}: ${why}${mayShow ? `: ${q(value)}` : ''}`);
}

/** The typed value of a winner (a secret file read when the value points under the secrets root). */
async function typed<T extends OptionValue>(ctx: Context, known: KnownEntry): Promise<T> {
  const resolved = await resolveOptionValue(ctx.where, known.entry.key, known.entry.value, ctx.secretsRoot);
  try {
    return parseOptionValue(known.spec, resolved.value) as T;
  } catch (err) {
    throw err instanceof ValueError ? badOption(ctx, known, err.message, resolved) : err;
  }
}

async function fieldsOf<T>(scope: OptionScope, o: Winners, contextOf: (known: KnownEntry) => Context, mode: Mode): Promise<Partial<T>> {
  const out: Record<string, OptionValue> = {};
  for (const spec of VOCABULARY.filter((s) => s.scope === scope && s.field !== undefined)) {
    const known = o.get(spec.key);
    const value = known ? await typed(contextOf(known), known) : typeof spec.default === 'function' ? spec.default(mode) : spec.default;
    if (value !== undefined) out[spec.field as string] = value;
  }
  return out as Partial<T>;
}

/** A key option (a secret file's content, or the literal less one trailing newline), or a debug key file (read whatever its path). */
async function secretOf(ctx: Context, key: KnownEntry | undefined, keyFile: KnownEntry | undefined): Promise<SecretSource | undefined> {
  if (key && keyFile)
    throw configError(ConfigErrorCode.BAD_OPTION, `${ctx.where}: give either option ${q(key.entry.key)} or ${q(keyFile.entry.key)}, not both`);
  const known = key ?? keyFile;
  if (known === undefined) return undefined;
  const read = keyFile
    ? { value: await readSecretFile(keyFile.entry.value, `${ctx.where}: option ${q(keyFile.entry.key)}`, 'cannot read'), file: keyFile.entry.value }
    : await resolveOptionValue(ctx.where, known.entry.key, known.entry.value, ctx.secretsRoot);
  const resolved = read.file === undefined ? { value: trimOneNewline(read.value) } : read;
  if (resolved.value === '') throw badOption(ctx, known, resolved.file ? `secret file ${resolved.file} is empty` : 'empty value', resolved);
  return { option: known.entry.key, ...resolved };
}

/** The name to suggest for a missing half, in the same family as the given half. */
const FAMILIES = [
  ['minio-access-key', 'minio-access-secret'],
  ['access-key-file', 'secret-key-file'],
];
const missingName = (given: string, missing: 'access-key-id' | 'secret-access-key') =>
  FAMILIES.find((family) => family.includes(given))?.[missing === 'access-key-id' ? 0 : 1] ?? missing;

/** Key options (or the debug key files), else the AWS_* environment variables, else anonymous. */
async function credentialsOf(ctx: Context, o: Winners, env: LoadContext['env']): Promise<Credentials | undefined> {
  const id = await secretOf(ctx, o.get('access-key-id'), o.get('access-key-file'));
  const secret = await secretOf(ctx, o.get('secret-access-key'), o.get('secret-key-file'));
  const token = await secretOf(ctx, o.get('session-token'), undefined);
  const missing = (name: string, given: string) =>
    configError(ConfigErrorCode.MISSING_CREDENTIAL, `${ctx.where}: option ${q(name)} is missing (option ${q(given)} is set)`);
  if (id && secret) return { accessKeyId: id, secretAccessKey: secret, ...(token && { sessionToken: token }) };
  const given = id ?? secret ?? token;
  if (given) throw missing(missingName(given.option, id ? 'secret-access-key' : 'access-key-id'), given.option);

  const fromEnv = (option: string) => (env[option] ? { option, value: trimOneNewline(env[option]) } : undefined);
  const [envId, envSecret, envToken] = [fromEnv('AWS_ACCESS_KEY_ID'), fromEnv('AWS_SECRET_ACCESS_KEY'), fromEnv('AWS_SESSION_TOKEN')];
  if (envId && envSecret) return { accessKeyId: envId, secretAccessKey: envSecret, ...(envToken && { sessionToken: envToken }) };
  if (!envId && !envSecret) return undefined;
  const [set, unset] = envId ? ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] : ['AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID'];
  throw configError(ConfigErrorCode.MISSING_CREDENTIAL, `${ctx.where}: environment variable ${unset} is missing (${set} is set, and no key option is given)`);
}

/** Read at start, so a wrong path is one line now rather than a TLS error on every request. */
async function caOf(ctx: Context, known: KnownEntry | undefined): Promise<{ file: string; pem: string } | undefined> {
  if (known === undefined) return undefined;
  const file = await typed<string>(ctx, known);
  const pem = await readFile(file, 'utf8').catch((err: unknown) => {
    throw badOption(ctx, known, `cannot read the CA file: ${errnoCode(err)}`);
  });
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw badOption(ctx, known, 'not a PEM certificate file (no BEGIN CERTIFICATE line)');
  return { file, pem };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}

const mountLabel = (name: string): string => `mount ${q(name)}`;
const WRITE_MODES = new Set(['ReadWriteMany', 'ReadWriteOnce', 'ReadWriteOncePod']);

/** What a plan is made of; in the debug mode one mount, no file, no MOUNT_OPTIONS. */
type PlanSource = Omit<FluidConfig, 'file' | 'targetPath'> & { readonly file?: string; readonly targetPath: string };
async function buildPlan(mode: Mode, config: PlanSource, flags: Record<string, string>, ctx: LoadContext): Promise<MountPlan> {
  const { mounts, file, targetPath } = config;
  const envLayer = mode === 'fluid' ? parseOptionList(ctx.env['MOUNT_OPTIONS'] ?? '', 'MOUNT_OPTIONS') : [];
  const [secretsRoot, showSource, lenient, single] = [ctx.secretsRoot ?? DEFAULT_SECRETS_ROOT, mode === 'fluid', ctx.lenient === true, mounts.length === 1];

  // Options nobody understands are warned about once; the `cli` keys count only on a command line.
  const unknown = new Map<string, string>();
  const note = (key: string, why: string) => unknown.has(key) || unknown.set(key, why);
  const accepted = (layer: OptionEntry[], isCli = false): KnownEntry[] =>
    layer.flatMap((entry) => {
      const spec = lookupOption(entry.key);
      const ok = spec !== undefined && (spec.scope !== 'cli' || (isCli && (mode === 'debug' || spec.key === 'foreground')));
      if (!ok) note(entry.key, `from ${entry.source}`);
      else if (!single && entry.source.startsWith('mount ') && spec.scope === 'process')
        note(entry.key, `from ${entry.source}: process-wide, set it in runtimeOptions`);
      return ok ? [{ spec, entry }] : [];
    });
  const [env, runtime] = [accepted(envLayer), accepted(entriesOf(config.runtimeOptions, 'runtimeOptions'))];
  const mountLayers = mounts.map((m) => accepted(entriesOf(m.options, mountLabel(m.name))));
  const flagLayer = accepted(entriesOf(Object.entries(flags), SOURCE_CLI), true);
  /** Canonical key → the entry of the highest layer that sets it (within a layer, the last). */
  const winners = (mountLayer: readonly KnownEntry[] = []): Winners => new Map([...env, ...runtime, ...mountLayer, ...flagLayer].map((k) => [k.spec.key, k]));
  // A secret on the command line shows in `ps` and /proc/PID/cmdline to every user of the node.
  const shown = flagLayer.find(({ spec }) => spec.credential && spec.key !== 'access-key-id')?.entry.key;
  if (shown !== undefined) {
    const why =
      'would show the secret in the process list (ps, /proc/PID/cmdline); use --secret-key-file FILE, a Fluid secret, or the env AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN';
    throw configError(ConfigErrorCode.BAD_OPTION, `${SOURCE_CLI}: option ${q(shown)} ${why}`);
  }
  const contextAt = (where: string): Context => ({ where, showSource, secretsRoot });
  const fileContext = ({ entry: { source } }: KnownEntry) => contextAt(source === SOURCE_CLI || source.startsWith('mount ') ? source : `config ${file}`);
  // A bad value in a layer every mount shares is a problem of the whole file, not of one mount.
  for (const known of lenient ? winners().values() : []) if (known.spec.scope === 'bucket') await typed(fileContext(known), known);

  const failures: MountFailure[] = [];
  const fail = (name: string, folder: string[] | undefined, err: unknown): undefined => {
    if (!lenient || !(err instanceof ConfigError)) throw err;
    failures.push({ name, folder, error: err });
  };
  // Where each bucket goes, and what it is, before any file is read.
  const layout = ctx.layout ?? chooseLayout(mounts);
  const folders = layoutFolders(mounts, layout, lenient);
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
  const writable = config.accessModes.some((m) => WRITE_MODES.has(m));
  for (const [i, { name, mountPoint, readOnly }] of mounts.entries()) {
    const [source, folder] = [sources[i], folders[i] as string[]];
    if (source === undefined) continue;
    const context = contextAt(showSource ? mountLabel(name) : SOURCE_CLI);
    const o = winners(mountLayers[i]);
    try {
      const f = await fieldsOf<BucketMount>('bucket', o, () => context, mode);
      if (source.scheme === 'minio' && f.endpoint === undefined) {
        throw configError(ConfigErrorCode.ENDPOINT_REQUIRED, `${context.where}: option "minio-url" (or endpoint) is required for minio:// mounts`);
      }
      const [credentials, ca] = [await credentialsOf(context, o, ctx.env), await caOf(context, o.get('ca-file'))];
      const readOnlyAnyway = !writable || readOnly; // accessModes or the mount's readOnly win over the options
      const where = { name, source: mountPoint, bucket: source.bucket, prefix: source.prefix, folder };
      const addressing = { pathStyle: f.pathStyle ?? f.endpoint !== undefined, readOnly: readOnlyAnyway || f.readOnly === true };
      buckets.push({ ...f, ...where, ...addressing, ...(credentials && { credentials }), ...(ca && { ca }) } as BucketMount);
    } catch (err) {
      fail(name, folder, err);
    }
  }

  // With several mounts, process-wide keys come from the shared layers only.
  const s = await fieldsOf<ProcessSettings>('process', winners(single ? mountLayers[0] : []), fileContext, mode);
  // A disk cache without a budget would fill the node's disk (the kubelet then evicts the pod).
  if ((s.diskCacheDir === undefined) !== (s.diskCacheSizeBytes === undefined)) {
    const [given, missing] = s.diskCacheDir === undefined ? ['disk-cache-size', 'disk-cache-dir'] : ['disk-cache-dir', 'disk-cache-size'];
    throw configError(ConfigErrorCode.BAD_OPTION, `${file === undefined ? SOURCE_CLI : `config ${file}`}: option ${q(given)} needs option ${q(missing)} too`);
  }
  const memory = ctx.memoryLimitBytes === undefined ? await cgroupMemoryLimit() : (ctx.memoryLimitBytes ?? undefined);
  // The table holds the address as text (`off` included); the listener wants its parts.
  const metricsAddress = parseListenAddress(s.metricsAddress as unknown as string) ?? undefined;
  return deepFreeze<MountPlan>({
    ...{ targetPath, layout: layout.kind, buckets, failures, kernelWritable: mode === 'fluid' ? writable : buckets.some((b) => !b.readOnly) },
    settings: { ...s, cacheSizeBytes: s.cacheSizeBytes ?? defaultCacheSize(memory), metricsAddress } as ProcessSettings,
    unknownOptions: [...unknown].map(([key, why]) => `${key} (${why})`),
    ...(file !== undefined && { configFile: file }),
  });
}

export async function loadFluidPlan(cmd: FluidCommand, ctx: LoadContext): Promise<MountPlan> {
  const config = await loadFluidConfig(cmd.configPath, ctx.defaultConfigPaths ?? DEFAULT_CONFIG_PATHS);
  const target = config.targetPath ?? (ctx.env['MOUNT_POINT'] || undefined);
  const cfg = `config ${config.file}`;
  if (target === undefined) throw configError(ConfigErrorCode.TARGET_PATH, `${cfg}: no "targetPath" and no env MOUNT_POINT: nowhere to mount`);
  if (!path.isAbsolute(target)) throw configError(ConfigErrorCode.TARGET_PATH, `${cfg}: targetPath ${q(target)} is not an absolute path`);
  return buildPlan('fluid', { ...config, targetPath: path.resolve(target) }, cmd.flags, ctx);
}

/** Only the command line counts here (plus AWS_* env credentials): MOUNT_OPTIONS and MOUNT_POINT belong to the Fluid mode. */
export async function loadDebugPlan(cmd: DebugCommand, ctx: LoadContext): Promise<MountPlan> {
  if (cmd.mountpoint === '') throw configError(ConfigErrorCode.ARGV, `${SOURCE_CLI}: MOUNTPOINT is empty; see --help`);
  const { bucket } = parseMountSource(cmd.source, `${SOURCE_CLI}: SOURCE`);
  const mounts = [{ name: bucket, mountPoint: cmd.source, options: [], readOnly: false }];
  const config = { targetPath: path.resolve(cmd.mountpoint), mounts, runtimeOptions: [], accessModes: ['ReadWriteMany'] };
  return buildPlan('debug', config, cmd.flags, { ...ctx, layout: { kind: 'root' }, lenient: false });
}
