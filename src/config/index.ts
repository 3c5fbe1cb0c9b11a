/**
 * Configuration layer: command line, Fluid's config.json, MOUNT_OPTIONS, runtimeOptions and
 * secret files → one validated, deep-frozen MountPlan.
 */
export { loadDebugPlan, loadFluidPlan, type DebugCommand, type FluidCommand, type LoadContext } from './load-plan.js';
export type { Layout } from './mount-folders.js';
export { readSecret } from './secrets.js';
export { ConfigError, ConfigErrorCode, configError, q } from './config-error.js';
export { lookupOption, normalizeKey, parseOptionList, SOURCE_CLI, VOCABULARY, type OptionSpec } from './options.js';
export type * from './plan.js';
