/**
 * Getting targetPath ready to mount on without ever harming what is not ours.
 *
 * A mount already at targetPath may be another agent's live mount, another pod's mount seen
 * through Bidirectional propagation, a tmpfs or an NFS share: none of them is ours to remove.
 * Only a mount of our own type that answers ENOTCONN when asked (askMount: a statfs from a
 * child process; the agent behind it died: a crash or SIGKILL) is stale, and is then detached
 * lazily. Every look at the
 * path goes through a child process with a timeout, since a hung mount there would otherwise
 * hang this process.
 */
import type { Logger } from '../observe/logger.js';
import { askMount } from './health.js';
import { mountsAt } from './mountinfo.js';
import { StartupErrorCode } from '../error-catalogue.js';
import { StartupError } from './startup-error.js';
import { runTool, toolFailure } from './tool-runner.js';

const NOT_CONNECTED = 'Transport endpoint is not connected';
/** Mounts stacked on one path by repeated crashes, cleared at most. */
const MAX_STALE_MOUNTS = 8;

export interface TargetCheck {
  /** The mount type that is ours, e.g. `fuse.fluid-s3`. */
  readonly fsType: string;
  readonly log: Logger;
  readonly timeoutMs?: number;
}

function targetError(target: string, why: string): StartupError {
  return new StartupError(StartupErrorCode.TARGET, `targetPath ${target}: ${why}`);
}

/**
 * The real path of `target` (symlinks resolved: mountinfo and the kernel know the mount by it),
 * created if missing, with our own stale mounts cleared. Throws one line for anything else there.
 */
export async function prepareTarget(target: string, check: TargetCheck): Promise<string> {
  const timeoutMs = check.timeoutMs ?? 5_000;
  // -m: no component needs to exist, and a dead mount on the way is no error.
  const rp = await runTool('realpath', ['-m', '--', target], timeoutMs);
  if (!rp.ok) throw targetError(target, `cannot resolve it: ${toolFailure('realpath', rp)}`);
  const real = rp.stdout.replace(/\n$/, '');
  const shown = real === target ? target : `${target} (${real})`;

  for (let cleared = 0; ; cleared++) {
    const here = await mountsAt(real);
    const top = here[here.length - 1];
    if (!top) break;
    if (top.fsType !== check.fsType) {
      throw targetError(shown, `already a mount point (${top.fsType} from ${top.source}) that is not a fluid-s3-fuse mount; refusing to touch it`);
    }
    const st = await askMount(real, timeoutMs);
    if (st.ok) throw targetError(shown, 'another fluid-s3-fuse agent is serving a live mount there; refusing to start over it');
    if (st.timedOut) throw targetError(shown, `a fluid-s3-fuse mount there does not answer within ${timeoutMs} ms (a hung agent?); refusing to touch it`);
    if (!st.stderr.includes(NOT_CONNECTED))
      throw targetError(shown, `a fluid-s3-fuse mount there answers with an error other than ENOTCONN (${toolFailure('stat', st)}); refusing to touch it`);
    if (cleared >= MAX_STALE_MOUNTS) throw targetError(shown, `still mounted after clearing ${MAX_STALE_MOUNTS} stale mounts`);
    check.log.warn({ targetPath: real, fsType: top.fsType }, 'clearing a stale mount of a dead agent at targetPath (ENOTCONN)');
    const um = await runTool('fusermount', ['-uz', '--', real], timeoutMs);
    if (!um.ok) {
      const umount = await runTool('umount', ['-l', '--', real], timeoutMs);
      if (!umount.ok) throw targetError(shown, `cannot unmount the stale mount there: ${toolFailure('umount', umount)}`);
    }
  }

  const mk = await runTool('mkdir', ['-p', '--', real], timeoutMs);
  if (!mk.ok) throw targetError(shown, `cannot create it: ${toolFailure('mkdir', mk)}`);
  return real;
}
