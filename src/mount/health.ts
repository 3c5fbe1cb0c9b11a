/**
 * Is the mount there and answering? Used by /healthz and by `fluid-s3-fuse check TARGETPATH`
 * (an exec probe). The mount is asked through a child process (`stat -f`), never by this
 * process: from inside the agent a call into its own mount can deadlock the FUSE thread, and a
 * hung mount must cost the probe a timeout, not a hang.
 */
import { mountsAt } from './mountinfo.js';
import { runTool, toolFailure, type ToolResult } from './tool-runner.js';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';

export interface HealthReport {
  readonly ok: boolean;
  readonly detail: string;
}

/**
 * Asks the mount at `target` itself, from a child process: a statfs (`stat -f`), which the
 * kernel always sends to the agent. Not a plain `stat`: the kernel answers that from its
 * attribute cache for attr-timeout after the last lookup, even when the agent behind the mount
 * is dead.
 */
export function askMount(target: string, timeoutMs: number): Promise<ToolResult> {
  return runTool('stat', ['-f', '-c', '%T', '--', target], timeoutMs);
}

export async function probeMount(target: string, fsType: string, timeoutMs = 5_000): Promise<HealthReport> {
  let lines;
  try {
    lines = await mountsAt(target);
  } catch (err) {
    return { ok: false, detail: `${target}: cannot read /proc/self/mountinfo: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
  if (!lines.some((m) => m.fsType === fsType)) return { ok: false, detail: `${target}: no ${fsType} mount in /proc/self/mountinfo` };
  const r = await askMount(target, timeoutMs);
  if (r.ok) return { ok: true, detail: `${target}: mounted (${fsType}) and answering` };
  if (r.timedOut) return { ok: false, detail: `${target}: no answer within ${timeoutMs} ms` };
  return { ok: false, detail: `${target}: ${toolFailure('stat', r)}` };
}

/**
 * One probe at a time, its answer reused for `ttlMs`: /healthz listens on the pod network, and
 * a burst of requests must not become a burst of child processes.
 */
export function sharedHealthProbe(probe: () => Promise<HealthReport>, ttlMs = 1_000, clock: Clock = systemClock): () => Promise<HealthReport> {
  let last: { report: HealthReport; at: number } | undefined;
  let running: Promise<HealthReport> | undefined;
  return () => {
    if (last && clock.now() - last.at < ttlMs) return Promise.resolve(last.report);
    running ??= probe()
      .catch((err: unknown): HealthReport => ({ ok: false, detail: `health probe failed: ${err instanceof Error ? err.message : String(err)}` }))
      .then((report) => {
        last = { report, at: clock.now() };
        return report;
      })
      .finally(() => (running = undefined));
    return running;
  };
}
