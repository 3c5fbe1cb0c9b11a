/**
 * Runs the system tools the agent needs (stat, realpath, mkdir, fusermount) in child processes,
 * with a bounded wait and a clean environment.
 *
 * A child process, because a call into a mount from the process serving it can deadlock its FUSE
 * thread, and a call into another agent's hung mount would hang a libuv thread for good. A clean
 * environment, because the agent's own may carry AWS_* keys that a child has no business seeing.
 * The C locale, because callers read error texts such as "Transport endpoint is not connected".
 */
import { execFile } from 'node:child_process';

export interface ToolResult {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
  /** The wait ran out and the child was killed. */
  readonly timedOut: boolean;
  /** Spawn error or exit status, for messages. */
  readonly error?: string;
}

/** PATH only (and the C locale): never the agent's credentials. */
function toolEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };
}

export function runTool(cmd: string, args: readonly string[], timeoutMs = 5_000): Promise<ToolResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', env: toolEnv(), encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve({ ok: true, stdout, stderr, timedOut: false });
      const e = err as Error & { killed?: boolean; code?: number | string };
      resolve({ ok: false, stdout, stderr, timedOut: e.killed === true, error: typeof e.code === 'number' ? `exit ${e.code}` : (e.code ?? e.message) });
    });
  });
}

/** The tool's own words for a failure, on one line. */
export function toolFailure(cmd: string, r: ToolResult): string {
  if (r.timedOut) return `${cmd} got no answer in time`;
  const said = r.stderr.trim().replace(/\s*\n\s*/g, ' ');
  return said !== '' ? said : `${cmd} failed (${r.error ?? 'unknown'})`;
}
