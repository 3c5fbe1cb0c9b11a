/**
 * Starts the agent as a child process (as Fluid or a user would) and guarantees, in teardown,
 * that it is gone and nothing stays mounted, whatever the test did.
 *
 * Readers of the mount run in child processes, asynchronously: a synchronous fs call into our
 * own FUSE mount from a process that also serves it would deadlock, and even from the test
 * process a hung mount must not hang the test runner.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Test } from 'tap';

export const CLI = resolve(import.meta.dirname, '../../../dist/src/cli.js');

export function testRoot(): string {
  return process.env.FLUID_S3_FUSE_TEST_ROOT ?? tmpdir();
}

export async function tempDir(t: Test, hint: string): Promise<string> {
  const dir = await mkdtemp(join(testRoot(), `${hint}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (never in the foreground of a FUSE-serving process). */
export function run(
  cmd: string,
  args: readonly string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; encoding?: 'utf8' | 'latin1' } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    execFile(
      cmd,
      args,
      {
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 256 * 1024 * 1024,
        env: opts.env ?? process.env,
        encoding: opts.encoding ?? 'utf8',
        killSignal: 'SIGKILL',
      },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number | string; signal?: NodeJS.Signals }) | null;
        resolvePromise({
          code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stdout: String(stdout),
          stderr: String(stderr),
        });
      },
    );
  });
}

export async function isMounted(path: string, mountinfo = '/proc/self/mountinfo'): Promise<string | undefined> {
  const text = await readFile(mountinfo, 'utf8');
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (f[4] === path && sep > 0) return f[sep + 1];
  }
  return undefined;
}

export async function forceUnmount(path: string): Promise<void> {
  for (let i = 0; i < 4 && (await isMounted(path)); i++) {
    await run('fusermount', ['-uz', path], { timeoutMs: 10_000 });
  }
}

export interface Agent {
  readonly child: ChildProcess;
  readonly target: string;
  stdout(): string;
  stderr(): string;
  /**
   * Resolves with the mountinfo fs type once the mount shows and the agent logged "mounted"
   * (a stale mount at the same path shows in mountinfo before the new one is up); rejects if
   * the agent exits first.
   */
  mounted(timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or signal), rejects after the timeout. */
  exited(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; afterMs: number }>;
}

export interface AgentOptions {
  args: readonly string[];
  target: string;
  env?: Record<string, string | undefined>;
  /** Run this instead of `node cli.js` (e.g. `unshare … node cli.js`); args are then its args. */
  command?: string;
  /** The agent lives in its own mount namespace: read mountinfo through its pid. */
  ownMountNamespace?: boolean;
}

export function startAgent(t: Test, opts: AgentOptions): Agent {
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  for (const [k, v] of Object.entries(opts.env ?? {})) if (v === undefined) delete env[k];
  const child = opts.command
    ? spawn(opts.command, opts.args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, [CLI, ...opts.args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const mountinfo = (): string => (opts.ownMountNamespace ? `/proc/${child.pid}/mountinfo` : '/proc/self/mountinfo');
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const startedAt = Date.now();
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; afterMs: number }>((res) =>
    child.on('exit', (code, signal) => res({ code, signal, afterMs: Date.now() - startedAt })),
  );
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const done = await Promise.race([exit, sleep(5000).then(() => undefined)]);
      if (!done) child.kill('SIGKILL');
    }
    await forceUnmount(opts.target);
  });
  return {
    child,
    target: opts.target,
    stdout: () => out,
    stderr: () => err,
    // A bound for a stuck start, not a speed check: a loaded 2-core machine can take over 10 s.
    async mounted(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const type = await isMounted(opts.target, mountinfo()).catch(() => undefined);
        if (type && out.includes('"msg":"mounted"')) return type;
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`agent exited (${child.exitCode ?? child.signalCode}) before mounting: ${err.trim() || out.trim()}`);
        }
        await sleep(25);
      }
      throw new Error(`not mounted after ${timeoutMs} ms: ${err.trim()} ${out.trim()}`);
    },
    async exited(timeoutMs = 10_000) {
      const r = await Promise.race([exit, sleep(timeoutMs).then(() => undefined)]);
      if (!r) throw new Error(`agent still running after ${timeoutMs} ms`);
      return r;
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function writeJson(path: string, value: unknown): Promise<string> {
  await writeFile(path, JSON.stringify(value));
  return path;
}
