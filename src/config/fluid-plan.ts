/** Fluid entrypoint mode: config.json + MOUNT_OPTIONS + runtimeOptions + flags → MountPlan. */
import path from 'node:path';
import { SOURCE_CLI, type Command } from './argv.js';
import { configError, ConfigErrorCode, q } from './config-error.js';
import { DEFAULT_CONFIG_PATHS, loadFluidConfig } from './fluid-config.js';
import { layoutFolders } from './mount-folders.js';
import { parseMountSource, type MountSource } from './mount-source.js';
import { entriesOf, lookupOption, parseOptionList, type OptionEntry, type OptionSpec } from './options.js';
import { acceptFor, buildBucket, buildSettings, deepFreeze, isProcessKey } from './plan-builder.js';
import { refuseSecretsIn, UnknownOptions, winners, type Context, type KnownEntry } from './resolve.js';
import { DEFAULT_SECRETS_ROOT } from './secrets.js';
import type { LoadContext } from './context.js';
import { cgroupMemoryLimit, defaultCacheSize } from './memory-limit.js';
import type { BucketMount, MountPlan } from './plan.js';

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

  // Where each bucket goes, and what it is, before any file is read.
  const folders = layoutFolders(config.mounts);
  const sources = config.mounts.map((m) => parseMountSource(m.mountPoint, `mount ${q(m.name)}: mountPoint`));

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
  const writable = config.accessModes.some((m) => WRITE_MODES.has(m));
  const buckets: BucketMount[] = [];
  for (const [i, mount] of config.mounts.entries()) {
    const context: Context = { where: mountSourceLabel(mount.name), showSource: true, secretsRoot };
    buckets.push(
      await buildBucket(context, {
        name: mount.name,
        sourceText: mount.mountPoint,
        source: sources[i] as MountSource,
        folder: folders[i] as string[],
        forcedReadOnly: !writable || mount.readOnly,
        options: winners([envLayer, runtimeLayer, mountLayers[i] as OptionEntry[], cliLayer], onlyBucket),
        env: ctx.env,
      }),
    );
  }

  const processLayers = single
    ? [envLayer, runtimeLayer, mountLayers[0] as OptionEntry[], cliLayer]
    : [envLayer, runtimeLayer, cliLayer];
  const settings = await buildSettings(
    winners(processLayers, isProcessKey),
    (known: KnownEntry): Context => ({
      where: known.entry.source === SOURCE_CLI ? SOURCE_CLI : known.entry.source.startsWith('mount ') ? known.entry.source : cfg,
      showSource: true,
      secretsRoot,
    }),
    'fluid',
    defaultCacheSize(ctx.memoryLimitBytes === undefined ? await cgroupMemoryLimit() : (ctx.memoryLimitBytes ?? undefined)),
  );

  return deepFreeze<MountPlan>({
    targetPath,
    buckets,
    settings,
    unknownOptions: unknown.list(),
    configFile: config.file,
  });
}
