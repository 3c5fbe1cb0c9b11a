// What the benches' Node entry points (run.mjs, write-run.mjs, disk-run.mjs) share: argument
// parsing, one RGW and the clean-up that stops it with every mount (in a finally, and on
// SIGINT/SIGTERM/SIGHUP), the slow-link proxy, the tools' versions for the results header, and the exit code.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CLIENTS, stopAllClients, writeClientConfigs } from './clients.mjs';
import { runChild } from './proc.mjs';
import { startRgw, stopRgw } from './rgw.mjs';

/** A logger that prefixes each line with `[name HH:MM:SS]`, on stderr. */
export const makeLog = (name) => (m) => process.stderr.write(`[${name} ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

/**
 * Parses argv into a copy of `defaults`. `flags` maps a switch to the key it sets to true;
 * `values` maps an option to [key, parse]. Every bench takes --workdir (required: its shell
 * script passes it) and --clients (checked against CLIENTS).
 */
export function parseArgs(argv, { script, defaults, flags = {}, values = {} }) {
  const o = { clients: CLIENTS, workdir: undefined, ...defaults };
  const all = { '--workdir': ['workdir', String], '--clients': ['clients', (v) => v.split(',')], ...values };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (flags[a]) o[flags[a]] = true;
    else if (all[a]) {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      const [key, parse] = all[a];
      o[key] = parse(argv[++i]);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!o.workdir) throw new Error(`--workdir DIR is required (bench/${script} passes it)`);
  for (const c of o.clients) if (!CLIENTS.includes(c)) throw new Error(`unknown client ${c}`);
  return o;
}

/**
 * The bench's clean-up: every mount, then the slow-link proxy, then RGW. Runs on
 * SIGINT/SIGTERM/SIGHUP too (then exits 130); call cleanup() in a finally.
 * startRgw(memstoreMb) starts RGW in DIR/rgw and resolves to its s3.env.
 */
export function benchSession(rgwDir, log) {
  let rgwStarted = false;
  const extra = [];
  const cleanup = async () => {
    await stopAllClients();
    for (const fn of extra.splice(0)) await fn().catch((e) => log(`clean-up: ${e.message}`));
    if (rgwStarted) {
      rgwStarted = false;
      await stopRgw(rgwDir).catch((e) => log(`rgw-stop: ${e.message}`));
    }
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      log(`${sig}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  return {
    cleanup,
    async startRgw(memstoreMb) {
      log(`starting RGW (memstore ${memstoreMb} MiB) in ${rgwDir}`);
      rgwStarted = true;
      return startRgw(rgwDir, memstoreMb);
    },
    /**
     * The endpoint the clients talk to: RGW's, or with o.slow the slow-link proxy's in front of
     * it (stopped at clean-up). Writes the clients' credential files for it into work.
     */
    async clientEndpoint(o, s3env, creds, work) {
      let endpoint = s3env.S3_ENDPOINT;
      if (o.slow) {
        const proxy = await startProxy(new URL(endpoint).host, o.rtt, o.perConn, work);
        extra.push(proxy.stop);
        endpoint = `http://127.0.0.1:${proxy.port}`;
        log(`slow link: proxy on ${endpoint} (rtt ${o.rtt}, ${o.perConn} per connection)`);
      }
      await writeClientConfigs(work, { endpoint, creds });
      return endpoint;
    },
  };
}

/** Versions of the tools named (s3fs, rclone, fio, radosgw), '?' where one does not answer. */
export async function toolVersions(names = ['s3fs', 'rclone', 'fio', 'radosgw']) {
  const how = {
    s3fs: [['--version'], /V([\d.]+)/],
    rclone: [['version'], /rclone v(\S+)/],
    fio: [['--version'], /fio-(\S+)/],
    radosgw: [['--version'], /version (\S+)/],
  };
  const one = async (cmd) => {
    const [args, re] = how[cmd];
    const r = await runChild(cmd, args, { timeoutMs: 20_000 }).catch(() => ({ stdout: '' }));
    return (re.exec(r.stdout + (r.stderr ?? ''))?.[1] ?? '?').trim();
  };
  return Object.fromEntries(await Promise.all(names.map(async (n) => [n, await one(n)])));
}

const SLOW_PROXY = new URL('../slow-proxy.mjs', import.meta.url).pathname;

/** The slow-link proxy as a child process; resolves when it listens. */
export function startProxy(target, rtt, perConn, dir) {
  const p = spawn(process.execPath, [SLOW_PROXY, '--target', target, '--rtt', rtt, '--per-conn', perConn], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    p.on('error', reject);
    p.on('exit', (code) => reject(new Error(`slow-proxy exited ${code} before listening`)));
    void writeFile(join(dir, 'proxy-pid'), `${p.pid}\n`);
    createInterface({ input: p.stdout }).once('line', (line) => {
      const { listening } = JSON.parse(line);
      resolve({
        port: listening,
        stop: () =>
          new Promise((r) => {
            if (p.exitCode !== null) return r();
            p.once('exit', r);
            p.kill('SIGTERM');
          }),
      });
    });
  });
}

/** Runs main and exits: 0, or 1 with the error logged. */
export function runMain(main, log) {
  main().then(
    () => process.exit(0),
    (err) => {
      log(`FAILED: ${err.stack ?? err}`);
      process.exit(1);
    },
  );
}
