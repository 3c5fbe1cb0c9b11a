/**
 * Is the mount there and answering? Used by /healthz and by `fluid-s3-fuse check TARGETPATH`
 * (an exec probe). The mount is asked through a child process (`stat -f`), never by this
 * process: from inside the agent a call into its own mount can deadlock the FUSE thread, and a
 * hung mount must cost the probe a timeout, not a hang.
 */
import { execFile } from 'node:child_process';
import { mountsAt } from './mountinfo.js';

export interface HealthReport {
  readonly ok: boolean;
  readonly detail: string;
}

export async function probeMount(target: string, fsType: string, timeoutMs = 5_000): Promise<HealthReport> {
  const lines = await mountsAt(target).catch(() => []);
  if (!lines.some((m) => m.fsType === fsType)) return { ok: false, detail: `${target}: no ${fsType} mount in /proc/self/mountinfo` };
  return new Promise((resolve) => {
    execFile('stat', ['-f', '-c', '%T', target], { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, _out, stderr) => {
      if (!err) resolve({ ok: true, detail: `${target}: mounted (${fsType}) and answering` });
      else if ((err as { killed?: boolean }).killed) resolve({ ok: false, detail: `${target}: no answer within ${timeoutMs} ms` });
      else resolve({ ok: false, detail: `${target}: ${String(stderr).trim() || err.message}` });
    });
  });
}
