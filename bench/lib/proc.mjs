// Small process helpers: run a child to completion (with a deadline), read /proc.
import { execFileSync, spawn } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';

/**
 * Runs cmd to completion; resolves { code, stdout, stderr, ms }. A child that outlives
 * timeoutMs is killed (its whole process group: readers may have children of their own) and
 * the promise rejects, so one stuck mount cannot hang the whole bench.
 */
export function runChild(cmd, args, { env = process.env, timeoutMs = 600_000, input } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    if (input !== undefined) p.stdin.end(input);
    else p.stdin.end();
    const timer = setTimeout(() => {
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      reject(new Error(`${cmd} ${args.join(' ')}: no exit after ${timeoutMs / 1000} s; killed. stderr: ${stderr.slice(-500)}`));
    }, timeoutMs);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

/** Like runChild, but a non-zero exit is an error and stdout is parsed as one JSON document. */
export async function runJson(cmd, args, opts) {
  const r = await runChild(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().slice(-800)}`);
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`${cmd} ${args.join(' ')}: stdout is not JSON: ${r.stdout.slice(0, 300)}`);
  }
}

/** Cold page cache (and dentries/inodes) before every workload, as the issue asks. */
export async function dropCaches() {
  await writeFile('/proc/sys/vm/drop_caches', '3\n');
}

export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One field of /proc/PID/status in KiB (VmRSS, VmHWM), or undefined when the process is gone. */
export async function statusKiB(pid, field) {
  try {
    const s = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(s);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** /proc/PID/stat as { ppid, cpuS } or undefined when the process is gone. */
async function statOf(pid) {
  try {
    const s = await readFile(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: count fields after the last ')'
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // f[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17
    const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    return { ppid: Number(f[1]), cpuS: ticks / TICKS_PER_S };
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds (user + sys) used so far by process `pid` and everything it started: utime and
 * stime of /proc/PID/stat cover all its threads, live and exited; cutime and cstime add the
 * children it has waited for (a mount helper), and live descendants are added as found.
 */
export async function cpuSeconds(pid) {
  const own = await statOf(pid);
  if (!own) return undefined;
  const children = new Map();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === pid) continue;
    const st = await statOf(Number(name));
    if (st) children.set(Number(name), st);
  }
  let total = own.cpuS;
  const ours = new Set([pid]);
  // descendants: repeat until no new process joins (a child listed before its parent)
  for (let grew = true; grew;) {
    grew = false;
    for (const [p, st] of children) {
      if (!ours.has(p) && ours.has(st.ppid)) {
        ours.add(p);
        total += st.cpuS;
        grew = true;
      }
    }
  }
  return total;
}
