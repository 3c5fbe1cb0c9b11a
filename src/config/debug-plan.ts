/** Debug mode: `mount SOURCE MOUNTPOINT [flags]` → a one-bucket MountPlan. */
import path from 'node:path';
import { SOURCE_CLI, type Command } from './argv.js';
import type { LoadContext } from './context.js';
import { cgroupMemoryLimit, defaultCacheSize } from './memory-limit.js';
import { configError, ConfigErrorCode } from './config-error.js';
import { parseMountSource } from './mount-source.js';
import { entriesOf } from './options.js';
import { acceptFor, buildBucket, buildSettings, deepFreeze, isBucketKey, isProcessKey } from './plan-builder.js';
import { refuseSecretsIn, UnknownOptions, winners, type Context } from './resolve.js';
import { DEFAULT_SECRETS_ROOT } from './secrets.js';
import type { MountPlan } from './plan.js';

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
  const limit = ctx.memoryLimitBytes === undefined ? await cgroupMemoryLimit() : (ctx.memoryLimitBytes ?? undefined);
  const settings = await buildSettings(winners([layer], isProcessKey), () => context, 'debug', defaultCacheSize(limit));

  return deepFreeze<MountPlan>({
    targetPath: path.resolve(cmd.mountpoint),
    buckets: [bucket],
    settings,
    unknownOptions: unknown.list(),
  });
}
