/**
 * Command → MountPlan. Fluid entrypoint mode: config.json + MOUNT_OPTIONS + runtimeOptions +
 * flags; debug mode (`mount SOURCE MOUNTPOINT [flags]`): the command line alone, one bucket.
 * The default cache size follows the container's memory limit (cgroup v2 `memory.max`, else v1
 * `memory.limit_in_bytes`): a FUSE container killed for memory takes the application's mount
 * with it, so the cache must fit the limit.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { SOURCE_CLI, type Command } from './argv.js';
import { ConfigError, configError, ConfigErrorCode, q } from './config-error.js';
import { DEFAULT_CONFIG_PATHS, loadFluidConfig } from './fluid-config.js';
import { chooseLayout, layoutFolders, type Layout } from './mount-folders.js';
import { parseMountSource } from './mount-source.js';
import { DEFAULTS, entriesOf, lookupOption, parseOptionList, type OptionEntry, type OptionSpec } from './options.js';
import { acceptFor, buildBucket, buildSettings, deepFreeze, isBucketKey, isProcessKey } from './plan-builder.js';
import { refuseSecretsIn, typed, UnknownOptions, winners, type Context, type KnownEntry } from './resolve.js';
import { DEFAULT_SECRETS_ROOT } from './secrets.js';
import type { BucketMount, MountFailure, MountPlan } from './plan.js';

/** What the loaders may read from the outside world (injectable for tests). */
export interface LoadContext {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Default `/etc/fluid/secrets`: option values that are paths under it are read from the file. */
  readonly secretsRoot?: string;
  /**
   * The container's memory limit in bytes (null: none); read from the cgroup when undefined.
   * The default cache size is derived from it.
   */
  readonly memoryLimitBytes?: number | null;
  /** Default `['/etc/fluid/config/config.json', '/etc/fluid/config.json']`. */
  readonly defaultConfigPaths?: readonly string[];
  /** A reload: the layout chosen at start, kept whatever the mounts are now. */
  readonly layout?: Layout;
  /** A reload: a problem of one mount goes to `plan.failures` instead of throwing. */
  readonly lenient?: boolean;
}

const MIB = 1024 * 1024;
/** What the process needs besides the cache (measured: Node, the SDK, buffers in flight). */
const PROCESS_OVERHEAD = 192 * MIB;
const MIN_CACHE = 32 * MIB;
const MAX_DERIVED_CACHE = 1024 * MIB;

/** The limit in bytes, or undefined when there is none (or no cgroup file to read). */
export async function cgroupMemoryLimit(root = '/sys/fs/cgroup'): Promise<number | undefined> {
  for (const file of [`${root}/memory.max`, `${root}/memory/memory.limit_in_bytes`]) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const value = Number(text.trim());
    // v2 says "max"; v1 says a huge number (2^63 rounded to pages) when unlimited.
    if (!Number.isFinite(value) || value <= 0 || value >= 2 ** 60) return undefined;
    return value;
  }
  return undefined;
}

/**
 * Without a limit: 256 MiB. With one: three quarters of what the limit leaves after the
 * process's own needs, between 32 MiB and 1 GiB (e.g. 512 MiB → 240 MiB, 1 GiB → 624 MiB).
 */
export function defaultCacheSize(limit: number | undefined): number {
  if (limit === undefined) return DEFAULTS.cacheSizeBytes;
  const derived = Math.floor(((limit - PROCESS_OVERHEAD) * 0.75) / MIB) * MIB;
  return Math.min(MAX_DERIVED_CACHE, Math.max(MIN_CACHE, derived));
}

async function defaultCacheSizeOf(ctx: LoadContext): Promise<number> {
  return defaultCacheSize(ctx.memoryLimitBytes === undefined ? await cgroupMemoryLimit() : (ctx.memoryLimitBytes ?? undefined));
}

/** Access modes that let the FUSE mount write. */
const WRITE_MODES = new Set(['ReadWriteMany', 'ReadWriteOnce', 'ReadWriteOncePod']);

export const SOURCE_MOUNT_OPTIONS = 'MOUNT_OPTIONS';
export const SOURCE_RUNTIME = 'runtimeOptions';
export const mountSourceLabel = (name: string): string => `mount ${q(name)}`;

function targetPathOf(configured: string | undefined, env: LoadContext['env'], file: string): string {
  const fromEnv = env['MOUNT_POINT'];
  const target = configured ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined);
  if (target === undefined) {
    throw configError(ConfigErrorCode.TARGET_PATH, `config ${file}: no "targetPath" and no env MOUNT_POINT: nowhere to mount`);
  }
  if (!path.isAbsolute(target)) {
    throw configError(ConfigErrorCode.TARGET_PATH, `config ${file}: targetPath ${q(target)} is not an absolute path`);
  }
  return path.resolve(target);
}

export async function loadFluidPlan(cmd: Extract<Command, { kind: 'fluid' }>, ctx: LoadContext): Promise<MountPlan> {
  const config = await loadFluidConfig(cmd.configPath, ctx.defaultConfigPaths ?? DEFAULT_CONFIG_PATHS);
  const secretsRoot = ctx.secretsRoot ?? DEFAULT_SECRETS_ROOT;
  const cfg = `config ${config.file}`;
  const targetPath = targetPathOf(config.targetPath, ctx.env, config.file);

  const layout = ctx.layout ?? chooseLayout(config.mounts);
  const failures: MountFailure[] = [];
  const fail = (name: string, folder: readonly string[] | undefined, err: unknown) => {
    if (ctx.lenient !== true || !(err instanceof ConfigError)) throw err;
    failures.push({ name, folder, error: err });
  };
  // Where each bucket goes, and what it is, before any file is read.
  const folders = layoutFolders(config.mounts, layout, ctx.lenient);
  const sources = config.mounts.map((m, i) => {
    const folder = folders[i] as string[] | ConfigError;
    if (folder instanceof ConfigError) return fail(m.name, undefined, folder);
    try {
      return parseMountSource(m.mountPoint, `mount ${q(m.name)}: mountPoint`);
    } catch (err) {
      return fail(m.name, folder, err);
    }
  });

  const envLayer = parseOptionList(ctx.env['MOUNT_OPTIONS'] ?? '', SOURCE_MOUNT_OPTIONS);
  const runtimeLayer = entriesOf(config.runtimeOptions, SOURCE_RUNTIME);
  const cliLayer = entriesOf(Object.entries(cmd.flags), SOURCE_CLI);
  refuseSecretsIn(cliLayer, SOURCE_CLI);
  const mountLayers = config.mounts.map((m) => entriesOf(m.options, mountSourceLabel(m.name)));
  const single = config.mounts.length === 1;

  const accept = acceptFor('fluid', 'options');
  const unknown = new UnknownOptions();
  unknown.addUnknownIn(envLayer, accept);
  unknown.addUnknownIn(runtimeLayer, accept);
  for (const layer of mountLayers) {
    unknown.addUnknownIn(layer, accept);
    if (!single) {
      for (const entry of layer) {
        const spec = lookupOption(entry.key);
        if (spec !== undefined && isProcessKey(spec)) {
          unknown.add(entry.key, `from ${entry.source}: process-wide, set it in runtimeOptions`);
        }
      }
    }
  }
  unknown.addUnknownIn(cliLayer, acceptFor('fluid', 'cli'));

  const onlyBucket = (spec: OptionSpec) => spec.scope === 'bucket';
  const fileContext = (known: KnownEntry): Context => ({
    where: known.entry.source === SOURCE_CLI ? SOURCE_CLI : known.entry.source.startsWith('mount ') ? known.entry.source : cfg,
    showSource: true,
    secretsRoot,
  });
  if (ctx.lenient === true) {
    // A bad value in a layer every mount shares is a problem of the whole file, not of one mount.
    for (const known of winners([envLayer, runtimeLayer, cliLayer], onlyBucket).values()) await typed(fileContext(known), known);
  }
  const writable = config.accessModes.some((m) => WRITE_MODES.has(m));
  const buckets: BucketMount[] = [];
  for (const [i, mount] of config.mounts.entries()) {
    const source = sources[i];
    if (source === undefined) continue;
    const context: Context = { where: mountSourceLabel(mount.name), showSource: true, secretsRoot };
    try {
      buckets.push(
        await buildBucket(context, {
          name: mount.name,
          sourceText: mount.mountPoint,
          source,
          folder: folders[i] as string[],
          forcedReadOnly: !writable || mount.readOnly,
          options: winners([envLayer, runtimeLayer, mountLayers[i] as OptionEntry[], cliLayer], onlyBucket),
          env: ctx.env,
        }),
      );
    } catch (err) {
      fail(mount.name, folders[i] as string[], err);
    }
  }

  const processLayers = single ? [envLayer, runtimeLayer, mountLayers[0] as OptionEntry[], cliLayer] : [envLayer, runtimeLayer, cliLayer];
  const settings = await buildSettings(winners(processLayers, isProcessKey), fileContext, 'fluid', await defaultCacheSizeOf(ctx));

  return deepFreeze<MountPlan>({
    targetPath,
    layout: layout.kind,
    buckets,
    failures,
    settings,
    unknownOptions: unknown.list(),
    configFile: config.file,
  });
}

/**
 * Only the command line counts here (plus AWS_* env credentials): MOUNT_OPTIONS and
 * MOUNT_POINT belong to the Fluid entrypoint mode.
 */
export async function loadDebugPlan(cmd: Extract<Command, { kind: 'mount' }>, ctx: LoadContext): Promise<MountPlan> {
  const context: Context = { where: SOURCE_CLI, showSource: false, secretsRoot: ctx.secretsRoot ?? DEFAULT_SECRETS_ROOT };
  if (cmd.mountpoint === '') throw configError(ConfigErrorCode.ARGV, `${SOURCE_CLI}: MOUNTPOINT is empty; see --help`);
  const source = parseMountSource(cmd.source, `${SOURCE_CLI}: SOURCE`);
  const layer = entriesOf(Object.entries(cmd.flags), SOURCE_CLI);
  refuseSecretsIn(layer, SOURCE_CLI);

  const unknown = new UnknownOptions();
  unknown.addUnknownIn(layer, acceptFor('debug', 'cli'));

  const bucket = await buildBucket(context, {
    name: source.bucket,
    sourceText: cmd.source,
    source,
    folder: [],
    forcedReadOnly: false,
    options: winners([layer], isBucketKey),
    env: ctx.env,
  });
  const settings = await buildSettings(winners([layer], isProcessKey), () => context, 'debug', await defaultCacheSizeOf(ctx));

  return deepFreeze<MountPlan>({
    targetPath: path.resolve(cmd.mountpoint),
    layout: 'root',
    buckets: [bucket],
    failures: [],
    settings,
    unknownOptions: unknown.list(),
  });
}
