#!/usr/bin/env -S node --initial-old-space-size=64 --max-semi-space-size=8
// The heap flags above (also in the Dockerfile's ENTRYPOINT; a test keeps the two equal): with
// V8's defaults the live heap stays near 17 MB, so the old generation's limit is so close that
// V8 starts a major GC whenever that headroom is smaller than the young generation (16 MB
// semi-spaces), i.e. all the time: 135 mark-compacts in two epochs of 1 GiB read from the disk
// cache, marking on 4 threads, about 40% of the agent's CPU. A 64 MB old generation from the
// start and 8 MB semi-spaces keep the heap's worst case about where it was (64 + 3 x 8 against
// 39 + 3 x 16) and leave 31 mark-compacts in three epochs. V8 takes them only on node's command
// line: set from inside the process they come too late, the heap is already configured.
/**
 * Entry point: argv → command → plan → mount. No logic of its own beyond turning every failure
 * into one line on stderr and an exit code (2: bad input, 1: could not start; see
 * src/error-catalogue.ts).
 */
import { readFileSync } from 'node:fs';
import { ConfigError, loadDebugPlan, loadFluidPlan, type Layout } from './config/index.js';
import { parseArgv } from './cli/argv.js';
import { USAGE } from './cli/help-text.js';
import { FS_TYPE, MountLifecycle } from './mount/lifecycle.js';
import { probeMount } from './mount/health.js';
import { guardProcess } from './mount/process-guard.js';
import { injectTestFaults, TEST_FAULTS_ENV } from './mount/fault-injection.js';
import { runTool } from './mount/tool-runner.js';
import { StartupError } from './mount/startup-error.js';
import { EXIT_BAD_INPUT, EXIT_CANNOT_START } from './error-catalogue.js';
import { createLogger } from './observe/logger.js';

const NAME = 'fluid-s3-fuse';

// The SDK's multi-line "Node 20 support ends" warning would break the one-line stderr contract;
// the SDK version is pinned in package-lock.json, so the warning tells a user nothing.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// libuv's pool runs every fs call (disk cache reads and writes, staging files) and DNS lookups;
// its default of 4 threads lets a burst of block writes delay the reads of disk hits. Read once,
// when the pool first starts, which no import above does.
process.env.UV_THREADPOOL_SIZE ??= '8';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Stack traces only when asked for: `--log-level debug` (or trace) anywhere on the line. */
function wantsStack(argv: readonly string[]): boolean {
  const i = argv.findIndex((a) => a === '--log-level' || a.startsWith('--log-level='));
  if (i < 0) return /(^|,)log-level=(debug|trace)(,|$)/.test(process.env.MOUNT_OPTIONS ?? '');
  const v = argv[i]?.includes('=') ? argv[i]?.split('=')[1] : argv[i + 1];
  return v === 'debug' || v === 'trace';
}

function report(err: unknown, argv: readonly string[]): number {
  const line = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${NAME}: ${line.replace(/\s*\n\s*/g, ' ')}\n`);
  if (wantsStack(argv) && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return err instanceof ConfigError ? EXIT_BAD_INPUT : EXIT_CANNOT_START;
}

async function main(argv: string[]): Promise<number> {
  const cmd = parseArgv(argv);
  if (cmd.kind === 'help') {
    process.stdout.write(USAGE.endsWith('\n') ? USAGE : `${USAGE}\n`);
    return 0;
  }
  if (cmd.kind === 'version') {
    process.stdout.write(`${NAME} ${version()}\n`);
    return 0;
  }
  // FLUID_S3_FUSE_SECRETS_ROOT moves the secrets folder (tests, non-Fluid layouts).
  const secretsRoot = process.env.FLUID_S3_FUSE_SECRETS_ROOT;
  if (cmd.kind === 'check') {
    // mountinfo knows the mount by its real path.
    const rp = await runTool('realpath', ['-m', '--', cmd.target]);
    const report = await probeMount(rp.ok ? rp.stdout.replace(/\n$/, '') : cmd.target, FS_TYPE);
    (report.ok ? process.stdout : process.stderr).write(`${NAME}: ${report.detail}\n`);
    return report.ok ? 0 : 1;
  }
  // A copy: the AWS_* keys are removed from process.env below, and a reload must see what start saw.
  const ctx = { env: { ...process.env }, ...(secretsRoot ? { secretsRoot } : {}) };
  const plan = cmd.kind === 'fluid' ? await loadFluidPlan(cmd, ctx) : await loadDebugPlan(cmd, ctx);
  // A reload keeps the layout chosen now (a mount never moves), and a problem confined to one
  // mount leaves the others serving.
  const layout: Layout = plan.layout === 'root' ? { kind: 'root', ...(plan.buckets[0] ? { rootMount: plan.buckets[0].name } : {}) } : { kind: 'folders' };
  const reloadPlan =
    cmd.kind === 'fluid'
      ? () => loadFluidPlan({ ...cmd, ...(plan.configFile ? { configPath: plan.configFile } : {}) }, { ...ctx, layout, lenient: true })
      : undefined;
  // The plan holds the keys now; nothing started from here on (tools, libfuse's helpers) needs
  // them in its environment.
  for (const name of SECRET_ENV) delete process.env[name];
  const log = createLogger(plan.settings.logLevel);
  for (const option of plan.unknownOptions) log.warn({ option }, 'unknown option ignored');

  const life = new MountLifecycle(plan, log, reloadPlan ? { reloadPlan } : {});
  // From here on an error nobody handled is logged and counted, and the mount keeps serving.
  process.off('uncaughtException', failBeforeMount);
  guardProcess({
    log,
    count: (kind) => life.metrics.internalError(kind),
    stop: (reason, code) => void life.stop(reason, code),
  });
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(sig, () => void life.stop(sig));
  }
  process.on('SIGUSR1', () => log.info({ counters: life.counters, memory: process.memoryUsage() }, 'counters'));
  // SIGUSR2 toggles debug logging on a running mount, without a restart.
  const configuredLevel = log.level;
  process.on('SIGUSR2', () => {
    log.level = log.level !== 'debug' ? 'debug' : configuredLevel === 'debug' ? 'info' : configuredLevel;
    log.info({ logLevel: log.level }, 'log level changed');
  });
  await Promise.race([life.start(), life.done]);
  injectTestFaults(process.env[TEST_FAULTS_ENV]);
  return life.done;
}

const SECRET_ENV = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'];

/** Before anything is mounted, an error nobody handled is still one line and exit 1. */
function failBeforeMount(err: unknown): void {
  process.exit(report(err, process.argv.slice(2)));
}
process.on('uncaughtException', failBeforeMount);

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const code = report(err, process.argv.slice(2));
    if (!(err instanceof ConfigError || err instanceof StartupError) && !wantsStack(process.argv.slice(2)) && err instanceof Error) {
      // An unexpected failure: keep the one line, but say where to look.
      process.stderr.write(`${NAME}: (run with --log-level debug for details)\n`);
    }
    process.exit(code);
  },
);
