/**
 * Configuration layer: command line, Fluid's config.json, MOUNT_OPTIONS, runtimeOptions and
 * secret files → one validated, deep-frozen MountPlan.
 */
export { parseArgv, type Command } from './argv.js';
export { loadDebugPlan, loadFluidPlan, type LoadContext } from './load-plan.js';
export type { Layout } from './mount-folders.js';
export { readSecret } from './secrets.js';
export { USAGE } from './help-text.js';
export { ConfigError, ConfigErrorCode } from './config-error.js';
export type * from './plan.js';
