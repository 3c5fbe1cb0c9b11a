// The three FUSE clients under test: how each is started, when it is ready, how it stops.
//
// Every client runs in the foreground as a direct child of the bench, so its PID is the
// process whose memory we sample and whose exit we wait for (no --daemon, no s3fs fork).
// Every PID is also appended to WORK/client-pids so that bench/run.sh can clean up after a
// bench that died without running its finally blocks.
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mountAt } from './mountinfo.mjs';
import { alive, cpuSeconds, runChild, sleep } from './proc.mjs';

// bench/run.sh points FLUID_BENCH_APP at a snapshot of dist/ taken at the start of the run
const APP = process.env.FLUID_BENCH_APP ?? new URL('../../', import.meta.url).pathname;
export const CLIENTS = ['ours', 's3fs', 'rclone'];

/** The options each peer runs with; printed in the results so a reader can reproduce them. */
export const CLIENT_OPTIONS = {
  ours: '--cache-size 256MiB (defaults otherwise: 8 MiB parts, read-ahead 1 MiB growing to 64 MiB)',
  // s3fs prefetches multipart_size x parallel_count bytes on a read miss, in parallel ranged
  // GETs; its default parallel_count (5) is sized for uploads. 8 x 10 MB gives it the same
  // parallelism as the 8-stream SDK ceiling and a window close to ours.
  s3fs: '-f -o ro,url=…,use_path_request_style,endpoint=us-east-1,passwd_file=…,parallel_count=8,multipart_size=10',
  // cache mode off: rclone streams reads from ranged GETs into a per-handle memory buffer,
  // which is what ours does; "full" would first copy every byte to a disk cache and measure
  // the disk. --use-server-modtime takes mtimes from the listing instead of a HEAD per file
  // (rclone's documented way to avoid those HEADs), which is fair to rclone on ls -l.
  rclone: 'mount --read-only --vfs-cache-mode off --use-server-modtime (buffer-size 16M, vfs-read-chunk-size 128M defaults)',
};

const FSTYPE = { ours: 'fuse.fluid-s3', s3fs: 'fuse.s3fs', rclone: 'fuse.rclone' };

const live = new Set();

// writable (default off; bench/write-run.mjs only): ours gets --read-write, s3fs loses `ro`,
// rclone runs with --vfs-cache-mode writes (its cache in DIR/rclone-cache) instead of
// --read-only --vfs-cache-mode off. The read bench never sets it, so it mounts as before.
//
// diskCache { dir, bytes, metricsPort } (bench/disk-run.mjs only): each client's own disk cache
// in dir with a budget of bytes, as far as it has one (see DISK_CACHE_OPTIONS); ours also
// serves /metrics on 127.0.0.1:metricsPort. cacheSize: ours' memory budget (default 256MiB).
/** The node flags of a script's `#!/usr/bin/env -S node FLAGS` line. */
function shebangFlags(file) {
  const first = readFileSync(file, 'utf8').split('\n', 1)[0];
  return /^#!\/usr\/bin\/env -S node (.+)$/.exec(first)?.[1].split(' ') ?? [];
}

function commandFor(client, { bucket, endpoint, creds, mnt, dir, writable = false, diskCache, cacheSize = '256MiB' }) {
  const baseEnv = { ...process.env };
  for (const k of Object.keys(baseEnv)) if (k.startsWith('AWS_') || k === 'S3_ENDPOINT') delete baseEnv[k];
  switch (client) {
    case 'ours':
      return {
        cmd: process.execPath,
        args: [
          // the heap flags of its shebang, as the image's ENTRYPOINT runs it; FLUID_BENCH_NODE_ARGS:
          // more Node flags for ours alone, e.g. '--cpu-prof --cpu-prof-dir=DIR'
          ...shebangFlags(join(APP, 'dist/src/cli.js')),
          ...(process.env.FLUID_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
          join(APP, 'dist/src/cli.js'),
          'mount',
          `s3://${bucket}`,
          mnt,
          '--endpoint',
          endpoint,
          '--cache-size',
          cacheSize,
          ...(writable ? ['--read-write'] : []),
          ...(diskCache
            ? ['--disk-cache-dir', diskCache.dir, '--disk-cache-size', String(diskCache.bytes), '--metrics-address', `127.0.0.1:${diskCache.metricsPort}`]
            : []),
        ],
        env: { ...baseEnv, AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey },
      };
    case 's3fs':
      return {
        cmd: 's3fs',
        args: [
          bucket,
          mnt,
          '-f',
          '-o',
          [
            ...(writable ? [] : ['ro']),
            `url=${endpoint}`,
            'use_path_request_style',
            'endpoint=us-east-1',
            `passwd_file=${join(dir, 's3fs.passwd')}`,
            'parallel_count=8',
            'multipart_size=10',
            ...(diskCache ? [`use_cache=${diskCache.dir}`, `ensure_diskfree=${diskCache.ensureDiskfreeMB}`] : []),
          ].join(','),
        ],
        env: baseEnv,
      };
    case 'rclone':
      return {
        cmd: 'rclone',
        args: [
          'mount',
          `bench:${bucket}`,
          mnt,
          '--config',
          join(dir, 'rclone.conf'),
          ...(writable
            ? ['--vfs-cache-mode', 'writes', '--cache-dir', join(dir, 'rclone-cache')]
            : diskCache
              ? ['--read-only', '--vfs-cache-mode', 'full', '--cache-dir', diskCache.dir, '--vfs-cache-max-size', `${Math.floor(diskCache.bytes / 2 ** 20)}M`]
              : ['--read-only', '--vfs-cache-mode', 'off']),
          '--use-server-modtime',
          '--log-level',
          'NOTICE',
        ],
        env: baseEnv, // AWS_CA_BUNDLE (and every other AWS_ variable) removed above
      };
    default:
      throw new Error(`unknown client ${client}`);
  }
}

/** Writes the credential files s3fs and rclone read (once per bench run). */
export async function writeClientConfigs(dir, { endpoint, creds }) {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 's3fs.passwd'), `${creds.accessKeyId}:${creds.secretAccessKey}\n`, { mode: 0o600 });
  await writeFile(
    join(dir, 'rclone.conf'),
    [
      '[bench]',
      'type = s3',
      'provider = Ceph',
      'env_auth = false',
      `access_key_id = ${creds.accessKeyId}`,
      `secret_access_key = ${creds.secretAccessKey}`,
      `endpoint = ${endpoint}`,
      'region = us-east-1',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
}

/**
 * Mounts bucket at mnt with client; resolves once mountinfo shows it. Returns a handle:
 * { client, pid, mnt, cpu(), counters(), stop() }. counters() is ours only (SIGUSR1).
 */
export async function mountClient(client, opts) {
  const { mnt, dir, logName } = opts;
  await mkdir(mnt, { recursive: true });
  const { cmd, args, env } = commandFor(client, opts);
  const log = createWriteStream(join(dir, logName ?? `${client}.log`), { flags: 'a' });
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  await appendFile(join(dir, 'client-pids'), `${child.pid} ${client} ${mnt}\n`);
  const jsonLines = [];
  let tail = '';
  let partial = '';
  child.stdout.on('data', (d) => {
    log.write(d);
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop();
    for (const l of lines) {
      if (l.startsWith('{'))
        try {
          jsonLines.push(JSON.parse(l));
        } catch {
          /* not ours */
        }
    }
    tail = (tail + d).slice(-2000);
  });
  child.stderr.on('data', (d) => {
    log.write(d);
    tail = (tail + d).slice(-2000);
  });
  let exited = null;
  const exitP = new Promise((resolve) =>
    child.on('exit', (code, sig) => {
      exited = { code, sig };
      resolve(exited);
    }),
  );

  const handle = {
    client,
    pid: child.pid,
    mnt,
    /** CPU seconds (user + sys, all threads) the client process has used so far. */
    async cpu() {
      const s = await cpuSeconds(child.pid);
      if (s === undefined) throw new Error(`${client} (pid ${child.pid}) is gone: no CPU figure`);
      return s;
    },
    /** ours: counters as of now (SIGUSR1 makes it log them). */
    async counters() {
      const before = jsonLines.filter((j) => j.msg === 'counters').length;
      process.kill(child.pid, 'SIGUSR1');
      for (let i = 0; i < 100; i++) {
        const c = jsonLines.filter((j) => j.msg === 'counters');
        if (c.length > before) return c[c.length - 1].counters;
        await sleep(50);
      }
      throw new Error('ours did not log its counters within 5 s of SIGUSR1');
    },
    /** Unmounts and waits for the process; always leaves no mount and no process behind. */
    async stop() {
      if (!live.has(handle)) return exited;
      live.delete(handle);
      // ours: SIGTERM is its documented stop (it unmounts, logs its counters, exits 0);
      // the peers: unmounting is theirs (rclone exits 143 on SIGTERM)
      if (!exited && client === 'ours') child.kill('SIGTERM');
      else if (!exited) {
        const r = await runChild('umount', [mnt], { timeoutMs: 15_000 }).catch((e) => ({ code: e.message }));
        if (r.code !== 0) child.kill('SIGTERM');
      }
      const deadline = Date.now() + 15_000;
      while (!exited && Date.now() < deadline) await sleep(50);
      if (await mountAt(mnt)) await runChild('umount', ['-l', mnt], { timeoutMs: 10_000 }).catch(() => {});
      if (!exited && alive(child.pid)) {
        child.kill('SIGKILL');
        await exitP;
      }
      log.end();
      const stopped = jsonLines.find((j) => j.msg === 'stopped');
      return { ...exited, counters: stopped?.counters };
    },
  };
  live.add(handle);

  const deadline = Date.now() + 30_000;
  for (;;) {
    const m = await mountAt(mnt);
    if (m && m.fsType === FSTYPE[client]) break;
    if (exited || Date.now() > deadline) {
      await handle.stop();
      throw new Error(`${client} did not mount ${mnt} (${exited ? `exited ${exited.code ?? exited.sig}` : 'timeout 30 s'}): ${tail.trim().slice(-600)}`);
    }
    await sleep(50);
  }
  return handle;
}

/** Stops every mount still up (the bench's finally). */
export async function stopAllClients() {
  for (const h of [...live]) await h.stop().catch(() => {});
}
