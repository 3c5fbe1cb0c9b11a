/**
 * A Fluid FUSE container, as far as this machine can build one without a container runtime:
 *
 * - one long-lived "holder" process per test owns a private mount namespace (the container's):
 *   `unshare -m` with /etc/fluid bind-mounted from a temp folder laid out as Fluid and the
 *   kubelet lay it out (helpers/fluid-layout.ts). The holder lives across agent restarts, so a
 *   second agent finds the mount a killed one left behind, as a restarted container does.
 * - each agent is started in that namespace exactly as the image's ENTRYPOINT starts it,
 *   `tini -g -- node dist/src/cli.js` with no arguments, with only the environment a container
 *   has (PATH, HOME, NODE_ENV from the Dockerfile, MOUNT_POINT and MOUNT_OPTIONS from Fluid).
 *   tini runs as PID 1 of a fresh PID namespace (`unshare --pid --fork`), as in a container:
 *   SIGKILL to tini takes the whole process tree down with it, and tini, not node, is who the
 *   kubelet's SIGTERM reaches.
 * - readers (cat, ls, df, umount) run in child processes, asynchronously, through
 *   `nsenter -t HOLDER -m`; mountinfo is read from /proc/<agent pid>/mountinfo.
 *
 * Teardown (one per container, whatever the test did): stop every agent (SIGTERM to tini, then
 * SIGKILL), lazily unmount targetPath inside the namespace, SIGKILL the holder (the namespace
 * and any mount left in it go with it), then remove the temp folder and, if this file created
 * it, /etc/fluid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Test } from 'tap';
import { parse as parseYaml } from 'yaml';
import { CLI, run, sleep, testRoot, type RunResult } from './agent.js';

export const ETC_FLUID = '/etc/fluid';
const PROFILE = resolve(import.meta.dirname, '../../../docker/thinruntimeprofile.yaml');

export interface Profile {
  /** spec.fileSystemType: what Fluid looks for in mountinfo. */
  readonly fileSystemType: string;
  /** spec.fuse.options as Fluid hands them to the container: MOUNT_OPTIONS="k=v,k2=v2". */
  readonly mountOptions: string;
}

/** The ThinRuntimeProfile this project ships (docker/thinruntimeprofile.yaml). */
export async function readProfile(): Promise<Profile> {
  const doc = parseYaml(await readFile(PROFILE, 'utf8')) as {
    spec?: { fileSystemType?: unknown; fuse?: { options?: Record<string, unknown> } };
  };
  const fileSystemType = doc.spec?.fileSystemType;
  if (typeof fileSystemType !== 'string' || fileSystemType === '') throw new Error(`${PROFILE}: no spec.fileSystemType`);
  const options = Object.entries(doc.spec?.fuse?.options ?? {}).map(([k, v]) =>
    v === '' || v === null ? k : `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`,
  );
  return { fileSystemType, mountOptions: options.join(',') };
}

export interface MountLine {
  readonly raw: string;
  readonly id: string;
  readonly mountPoint: string;
  readonly fsType: string;
  readonly source: string;
}

/** Parses /proc/<pid>/mountinfo text into lines (the optional fields end at " - "). */
export function parseMountinfo(text: string): MountLine[] {
  const out: MountLine[] = [];
  for (const raw of text.split('\n')) {
    const f = raw.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0) continue;
    out.push({
      raw,
      id: f[0] ?? '',
      mountPoint: (f[4] ?? '').replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))),
      fsType: f[sep + 1] ?? '',
      source: f[sep + 2] ?? '',
    });
  }
  return out;
}

export interface ContainerAgent {
  /** The process started in the namespace (`unshare`, parent of tini). */
  readonly child: ChildProcess;
  /** tini: PID 1 of the agent's PID namespace (host pid). */
  readonly tiniPid: number;
  /** node dist/src/cli.js (host pid). */
  readonly nodePid: number;
  readonly startedAt: number;
  stdout(): string;
  stderr(): string;
  alive(): boolean;
  /**
   * Fluid's readiness check: a line of the agent's mountinfo holding targetPath and
   * `fileSystemType` (substrings, as Fluid greps). When an earlier agent of this container may
   * have left its mount behind, the mount must also answer `stat -f`. Resolves with the line
   * and the time since start; rejects when the agent exits first or after `timeoutMs`.
   */
  ready(fileSystemType: string, timeoutMs?: number): Promise<{ line: MountLine; afterMs: number }>;
  /** Resolves when the process tree is gone (exit code of tini, as `unshare` passes it on). */
  exited(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; afterMs: number }>;
}

export interface Container {
  /** Host folder that is /etc/fluid inside the namespace. */
  readonly etc: string;
  /** targetPath (a folder under the test's temp dir, so nothing is created at the host's /). */
  readonly target: string;
  readonly holderPid: number;
  /** Runs a command in the container's mount namespace (never in this process). */
  exec(cmd: string, args: readonly string[], timeoutMs?: number): Promise<RunResult>;
  /** The namespace's mountinfo lines at targetPath (read through the holder). */
  mountsAtTarget(): Promise<MountLine[]>;
  /** Starts `tini -g -- node cli.js` (no arguments) in the namespace, with a container's env. */
  start(env: { MOUNT_OPTIONS: string; extra?: Record<string, string> }): Promise<ContainerAgent>;
}

/** Processes of this file that hold /etc/fluid (see `claimEtcFluid`). */
const MARKER_PREFIX = '.in-use-by-container-contract-test.';
const PROCESS_START_MS = Date.now() - process.uptime() * 1000;

/**
 * Makes sure /etc/fluid exists on the host (as an empty mount point) while this test runs.
 *
 * A marker file in it makes a concurrent test's `rmdir /etc/fluid` fail (ENOTEMPTY): since Linux
 * 3.18 a successful rmdir of a folder that is a mount point only in OTHER namespaces silently
 * detaches those mounts, which would take our bind mount of /etc/fluid away mid-test (checked
 * on this machine). Returns the release function.
 *
 * (fluid-mode.test.ts creates and removes /etc/fluid too, without a marker: run together, one of
 * the two may see the other's folder; the release below then cleans up after both.)
 */
async function claimEtcFluid(): Promise<() => Promise<void>> {
  let created = false;
  if (!existsSync(ETC_FLUID)) {
    await mkdir(ETC_FLUID).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
    created = true;
  }
  // Markers of test processes that died without cleaning up.
  for (const name of await readdir(ETC_FLUID).catch(() => [] as string[])) {
    if (!name.startsWith(MARKER_PREFIX)) continue;
    const pid = Number(name.slice(MARKER_PREFIX.length));
    if (Number.isInteger(pid) && pid !== process.pid && !existsSync(`/proc/${pid}`)) await unlink(join(ETC_FLUID, name)).catch(() => undefined);
  }
  const marker = join(ETC_FLUID, `${MARKER_PREFIX}${process.pid}`);
  await writeFile(marker, 'fluid-s3-fuse test/integration/container-contract.test.ts\n');
  return async () => {
    await unlink(marker).catch(() => undefined);
    // Removed when this process made it, or when a concurrent test made it after this process
    // started (its own rmdir then failed on our marker); never a /etc/fluid that was there before.
    const born = await stat(ETC_FLUID).then(
      (s) => s.birthtimeMs,
      () => 0,
    );
    if (!created && !(born > 0 && born >= PROCESS_START_MS)) return;
    // Not while another process (another test's namespace) has something mounted there; rmdir
    // also fails (harmlessly) while another test's marker is in it.
    const others = await run('sh', ['-c', `grep -l ' ${ETC_FLUID} ' /proc/[0-9]*/mountinfo 2>/dev/null | head -1`], { timeoutMs: 10_000 });
    if (others.stdout.trim() === '') await rmdir(ETC_FLUID).catch(() => undefined);
  };
}

// Inside the new namespace: drop the FUSE mounts copied from the host (other tests' mounts;
// holding a copy would keep their connections alive after they unmount), then bind /etc/fluid.
const HOLDER_SCRIPT = `
awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) ~ /^fuse/) print $5; break } }' /proc/self/mountinfo |
  while read -r m; do umount -l -c "$(printf '%b' "$m")" 2>/dev/null; done
mount --bind "$1" ${ETC_FLUID} || exit 1
echo ready
exec sleep 600
`;

/**
 * A container for one test: its temp folder (`etc`, the future /etc/fluid), its targetPath and
 * its namespace holder. Everything is undone in the test's teardown.
 */
export async function fluidContainer(t: Test, dataset: string): Promise<Container> {
  const dir = await mkdtemp(join(testRoot(), `container-${dataset}-`));
  const etc = join(dir, 'etc-fluid');
  await mkdir(etc);
  // Fluid's targetPath is /runtime-mnt/thin/<namespace>/<dataset>/thin-fuse; kept under the
  // temp dir so the host's / is never written to.
  const target = join(dir, 'runtime-mnt', 'thin', 'default', dataset, 'thin-fuse');
  const agents: ContainerAgent[] = [];
  // Assigned once, below the teardown that reads them: a throw before then must find them
  // undefined, not in their temporal dead zone.
  /* eslint-disable prefer-const */
  let holder: ChildProcess | undefined;
  let releaseEtc: (() => Promise<void>) | undefined;
  /* eslint-enable prefer-const */

  const exec = (cmd: string, args: readonly string[], timeoutMs = 15_000): Promise<RunResult> => {
    if (!holder?.pid) throw new Error('no namespace holder');
    return run('nsenter', ['-t', String(holder.pid), '-m', '--', cmd, ...args], { timeoutMs });
  };
  const mountsAtTarget = async (): Promise<MountLine[]> => {
    const text = holder?.pid ? await readFile(`/proc/${holder.pid}/mountinfo`, 'utf8').catch(() => '') : '';
    return parseMountinfo(text).filter((l) => l.mountPoint === target);
  };

  t.teardown(async () => {
    for (const a of agents) {
      if (!a.alive()) continue;
      try {
        process.kill(a.tiniPid, 'SIGTERM');
      } catch {
        /* gone */
      }
      if (
        !(await a.exited(5_000).then(
          () => true,
          () => false,
        ))
      ) {
        for (const pid of [a.tiniPid, a.nodePid, a.child.pid]) {
          try {
            if (pid) process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
        await a.exited(5_000).catch(() => undefined);
      }
    }
    if (holder?.pid && holder.exitCode === null && holder.signalCode === null) {
      for (let i = 0; i < 3 && (await mountsAtTarget()).length > 0; i++) await exec('fusermount', ['-uz', target], 10_000).catch(() => undefined);
      const gone = new Promise((r) => holder?.once('exit', r));
      holder.kill('SIGKILL');
      await Promise.race([gone, sleep(5_000)]);
    }
    await releaseEtc?.();
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  });

  releaseEtc = await claimEtcFluid();
  holder = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', HOLDER_SCRIPT, 'sh', etc], { stdio: ['ignore', 'pipe', 'pipe'] });
  let holderOut = '';
  let holderErr = '';
  holder.stdout?.on('data', (d: Buffer) => (holderOut += d.toString()));
  holder.stderr?.on('data', (d: Buffer) => (holderErr += d.toString()));
  for (const deadline = Date.now() + 10_000; !holderOut.includes('ready'); await sleep(20)) {
    if (holder.exitCode !== null || holder.signalCode !== null || Date.now() > deadline) {
      throw new Error(`namespace holder did not start: ${holderErr.trim() || `exit ${holder.exitCode ?? holder.signalCode}`}`);
    }
  }

  const start = async (env: { MOUNT_OPTIONS: string; extra?: Record<string, string> }): Promise<ContainerAgent> => {
    // What a container has: the image's ENV, Fluid's two variables; nothing of this shell's
    // (no AWS_* keys, no S3_ENDPOINT). FLUID_S3_FUSE_TEST_ROOT lets scripts/test.sh find leaks.
    const childEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/root',
      NODE_ENV: 'production',
      MOUNT_POINT: target,
      MOUNT_OPTIONS: env.MOUNT_OPTIONS,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...(process.env.FLUID_S3_FUSE_TEST_ROOT ? { FLUID_S3_FUSE_TEST_ROOT: process.env.FLUID_S3_FUSE_TEST_ROOT } : {}),
      ...env.extra,
    };
    const predecessor = agents.length > 0;
    const startedAt = Date.now();
    const child = spawn(
      'nsenter',
      ['-t', String(holder?.pid), '-m', '--', 'unshare', '--pid', '--fork', '--kill-child', '--', 'tini', '-g', '--', process.execPath, CLI],
      { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; afterMs: number }>((res) =>
      child.on('exit', (code, signal) => res({ code, signal, afterMs: Date.now() - startedAt })),
    );
    const alive = (): boolean => child.exitCode === null && child.signalCode === null;
    // nsenter (mount namespace only) execs unshare; unshare forks tini; tini forks node.
    const childOf = async (pid: number): Promise<number | undefined> => {
      const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
      const first = Number(text.trim().split(/\s+/)[0]);
      return Number.isInteger(first) && first > 0 ? first : undefined;
    };
    let tiniPid: number | undefined;
    let nodePid: number | undefined;
    for (const deadline = Date.now() + 10_000; nodePid === undefined; await sleep(10)) {
      if (!alive() || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`agent process tree did not start: ${err.trim() || out.trim() || 'no output'}`);
      }
      tiniPid ??= await childOf(child.pid as number);
      if (tiniPid !== undefined) nodePid = await childOf(tiniPid);
    }
    const agent: ContainerAgent = {
      child,
      tiniPid: tiniPid as number,
      nodePid,
      startedAt,
      stdout: () => out,
      stderr: () => err,
      alive,
      async ready(fileSystemType, timeoutMs = 30_000) {
        const deadline = startedAt + timeoutMs;
        for (;;) {
          const text = await readFile(`/proc/${nodePid}/mountinfo`, 'utf8').catch(() => '');
          const line = parseMountinfo(text).find((l) => l.raw.includes(target) && l.raw.includes(fileSystemType));
          // After an earlier agent of this container died, its dead mount matches too (mount
          // ids are reused, so the id cannot tell them apart): the new one must also answer
          // as FUSE (between the agent clearing the stale mount and mounting, `stat -f` answers
          // for the folder underneath).
          if (line && (!predecessor || /fuse/.test((await exec('stat', ['-f', '-c', '%T', target], 5_000)).stdout))) {
            return { line, afterMs: Date.now() - startedAt };
          }
          if (!alive()) throw new Error(`agent exited (${child.exitCode ?? child.signalCode}) before its mount showed: ${err.trim()} ${out.trim()}`);
          if (Date.now() > deadline)
            throw new Error(`no "${fileSystemType}" line for ${target} in mountinfo after ${timeoutMs} ms: ${err.trim()} ${out.trim()}`);
          await sleep(25);
        }
      },
      async exited(timeoutMs = 10_000) {
        let timer: NodeJS.Timeout | undefined;
        const r = await Promise.race([
          exit,
          new Promise<undefined>((res) => {
            timer = setTimeout(() => res(undefined), timeoutMs);
          }),
        ]);
        clearTimeout(timer);
        if (!r) throw new Error(`agent still running after ${timeoutMs} ms`);
        return r;
      },
    };
    agents.push(agent);
    return agent;
  };

  return { etc, target, holderPid: holder.pid as number, exec, mountsAtTarget, start };
}

/** Polls `probe` every `everyMs` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

/** radosgw-admin against the test RGW (CEPH_CONF from scripts/rgw-start.sh's s3.env). */
export function radosgwAdmin(args: readonly string[]): Promise<RunResult> {
  const conf = process.env.CEPH_CONF;
  if (!conf) throw new Error('CEPH_CONF is not set: run tests via scripts/test.sh (it exports the RGW ceph.conf)');
  return run('radosgw-admin', ['-c', conf, ...args], { timeoutMs: 30_000 });
}
