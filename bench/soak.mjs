#!/usr/bin/env node
// Soak: a mixed workload against fluid-s3-fuse for a while (default 10 minutes), reporting
// errors (expected 0 without injected faults), p99 FUSE latency by operation (from the agent's
// /metrics histogram) and RSS over time (expected flat). Not part of CI.
//
//   node bench/soak.mjs [--minutes 10] [--reset-every 0] [--outages 0 --outage-seconds 60]
//   (as root: it drops the page cache)
//
// --reset-every N: every N seconds, kill the agent's TCP connections to RGW mid-transfer (a
// low-rate fault: `ss -K` on the RGW port), which reads must survive by resuming.
// --outages K: S3 goes down K times, evenly spread, for --outage-seconds each: the RGW process
// is frozen (SIGSTOP: connections are accepted and never answered, the harshest case, since every
// request must time out) and its connections reset, then thawed (SIGCONT). Errors during an
// outage (and for request-timeout after it) are expected and counted apart; what must hold is 0
// agent exits, and a read served again after each recovery (the time to it is reported).
import { spawn, execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startRgw, stopRgw } from './lib/rgw.mjs';
import { s3Client } from './lib/s3.mjs';
import { statusKiB, sleep } from './lib/proc.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const minutes = Number(args.minutes ?? 10);
const resetEvery = Number(args['reset-every'] ?? 0);
const outages = Number(args.outages ?? 0);
const outageSeconds = Number(args['outage-seconds'] ?? 60);
const REQUEST_TIMEOUT_S = 10;
const MiB = 1024 * 1024;
const CLI = new URL('../dist/src/cli.js', import.meta.url).pathname;

function run(cmd, argv, timeoutMs = 120_000) {
  return new Promise((resolve) =>
    execFile(cmd, argv, { timeout: timeoutMs, maxBuffer: 1 << 28, encoding: 'buffer' }, (err, stdout, stderr) =>
      resolve({ ok: !err, stdout, stderr: String(stderr) }),
    ),
  );
}
const sha = (b) => createHash('sha256').update(b).digest('hex');

const work = await mkdtemp(join(tmpdir(), 'fluid-soak-'));
const mnt = join(work, 'mnt');
let agent;
try {
  const env = await startRgw(join(work, 'rgw'), 3072);
  const s3 = s3Client({ endpoint: env.S3_ENDPOINT, accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY });
  await s3.send(new CreateBucketCommand({ Bucket: 'soak' }));
  const objects = new Map();
  const put = async (key, body) => {
    objects.set(key, sha(body));
    await s3.send(new PutObjectCommand({ Bucket: 'soak', Key: key, Body: body }));
  };
  for (let i = 0; i < 4; i++) await put(`big/${i}.bin`, randomBytes(64 * MiB));
  const small = [];
  for (let d = 0; d < 5; d++) for (let i = 0; i < 100; i++) small.push(`small/d${d}/f${i}`);
  for (let i = 0; i < small.length; i += 25) await Promise.all(small.slice(i, i + 25).map((k) => put(k, randomBytes(16 * 1024))));

  await mkdir(mnt, { recursive: true });
  agent = spawn(
    process.execPath,
    [
      CLI,
      'mount',
      's3://soak',
      mnt,
      '--endpoint',
      env.S3_ENDPOINT,
      '--cache-size',
      '256MiB',
      '--metrics-address',
      '127.0.0.1:0',
      '--stat-cache-ttl',
      '10s',
      '--request-timeout',
      `${REQUEST_TIMEOUT_S}s`,
      '--df-scan-interval',
      '30s',
    ],
    {
      env: { ...process.env, AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let log = '';
  agent.stdout.on('data', (d) => (log += d));
  const startedAt = Date.now();
  const agentExits = [];
  agent.on('exit', (code, signal) => agentExits.push({ code, signal, atS: Math.round((Date.now() - startedAt) / 1000) }));
  for (let i = 0; i < 100 && !/"msg":"mounted"/.test(log); i++) await sleep(100);
  const port = /"address":"127\.0\.0\.1:(\d+)","msg":"metrics listener up"/.exec(log)?.[1];
  if (!port) throw new Error(`agent did not come up: ${log}`);

  const deadline = Date.now() + minutes * 60_000;
  const counts = { seq: 0, random: 0, list: 0, small: 0, df: 0, errors: 0, errorsDuringOutages: 0 };
  const errors = [];
  const outageErrors = [];
  const rss = [];
  /** [start, end) of each outage plus request-timeout after it, in ms since the epoch. */
  const windows = [];
  const inOutage = (at) => windows.some(([a, b]) => at >= a && at < b);
  const check = (what, ok, detail, startedAtMs = Date.now()) => {
    if (ok) return;
    if (inOutage(startedAtMs) || inOutage(Date.now())) {
      counts.errorsDuringOutages++;
      if (outageErrors.length < 10) outageErrors.push(`${what}: ${detail}`);
      return;
    }
    counts.errors++;
    if (errors.length < 20) errors.push(`${what}: ${detail}`);
  };
  const loops = [
    async () => {
      // sequential whole-object reads, checked
      const i = counts.seq % 4;
      const t0 = Date.now();
      const r = await run('sha256sum', [`${mnt}/big/${i}.bin`]);
      check(`sha256sum big/${i}.bin`, r.ok && String(r.stdout).startsWith(objects.get(`big/${i}.bin`)), r.stderr.trim(), t0);
      counts.seq++;
    },
    async () => {
      // random 4 KiB reads
      const i = counts.random % 4;
      const off = Math.floor(Math.random() * ((64 * MiB) / 4096)) * 4096;
      const r = await run('dd', [`if=${mnt}/big/${i}.bin`, 'bs=4096', `skip=${off / 4096}`, 'count=1', 'status=none']);
      check(`dd big/${i}.bin@${off}`, r.ok && r.stdout.length === 4096, r.stderr.trim());
      counts.random++;
    },
    async () => {
      // listings
      const r = await run('ls', ['-lR', `${mnt}/small`]);
      check(
        'ls -lR small',
        r.ok &&
          String(r.stdout)
            .split('\n')
            .filter((l) => l.startsWith('-')).length === small.length,
        r.stderr.trim(),
      );
      counts.list++;
    },
    async () => {
      // small files, 8 at a time
      const batch = Array.from({ length: 8 }, () => small[Math.floor(Math.random() * small.length)]);
      const t0 = Date.now();
      const rs = await Promise.all(batch.map((k) => run('sha256sum', [`${mnt}/${k}`])));
      rs.forEach((r, j) => check(`sha256sum ${batch[j]}`, r.ok && String(r.stdout).startsWith(objects.get(batch[j])), r.stderr.trim(), t0));
      counts.small += batch.length;
    },
    async () => {
      // df, as Fluid's metadata sync and probes run it
      const t0 = Date.now();
      const r = await run('df', ['--block-size=1', mnt]);
      check('df', r.ok, r.stderr.trim(), t0);
      counts.df++;
      await sleep(2_000);
    },
  ];
  const workers = loops.map(async (loop) => {
    while (Date.now() < deadline) await loop();
  });
  const sampler = (async () => {
    while (Date.now() < deadline) {
      rss.push(Math.round((await statusKiB(agent.pid, 'VmRSS')) / 1024));
      // Drop the kernel's page cache now and then, so reads reach the agent and S3 again.
      await run('sh', ['-c', 'sync; echo 3 > /proc/sys/vm/drop_caches']);
      await sleep(10_000);
    }
  })();
  const faults = (async () => {
    if (!resetEvery) return;
    const rgwPort = new URL(env.S3_ENDPOINT).port;
    while (Date.now() < deadline) {
      await sleep(resetEvery * 1000);
      await run('ss', ['-K', 'dst', `127.0.0.1:${rgwPort}`]);
    }
  })();
  const recoveries = [];
  const outageLoop = (async () => {
    if (!outages) return;
    const rgwPid = (await run('sh', ['-c', `awk '$2 ~ /^rgw/ { print $1 }' "${join(work, 'rgw')}/pids"`])).stdout.toString().trim();
    if (!rgwPid) throw new Error('no radosgw pid');
    const rgwPort = new URL(env.S3_ENDPOINT).port;
    const every = (deadline - Date.now()) / (outages + 1);
    for (let k = 1; k <= outages; k++) {
      await sleep(every - (outageSeconds * 1000) / 2);
      const down = Date.now();
      windows.push([down, down + outageSeconds * 1000 + (REQUEST_TIMEOUT_S + 2) * 1000]);
      process.kill(Number(rgwPid), 'SIGSTOP');
      await run('ss', ['-K', 'dst', `127.0.0.1:${rgwPort}`]);
      await sleep(outageSeconds * 1000);
      process.kill(Number(rgwPid), 'SIGCONT');
      const up = Date.now();
      // Served again: a small file read through the mount (page cache dropped first).
      let recoveredAfterMs = null;
      while (Date.now() - up < 120_000) {
        await run('sh', ['-c', 'echo 3 > /proc/sys/vm/drop_caches']);
        const key = small[Math.floor(Math.random() * small.length)];
        const r = await run('sha256sum', [`${mnt}/${key}`], 30_000);
        if (r.ok && String(r.stdout).startsWith(objects.get(key))) {
          recoveredAfterMs = Date.now() - up;
          break;
        }
        await sleep(500);
      }
      recoveries.push({
        outage: k,
        downAtS: Math.round((down - startedAt) / 1000),
        seconds: outageSeconds,
        servedAgainAfterMs: recoveredAfterMs,
        agentRunning: agent.exitCode === null,
      });
    }
  })();
  await Promise.all([...workers, sampler, faults, outageLoop]);

  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const p99 = {};
  for (const op of ['getattr', 'readdir', 'open', 'read']) {
    const rows = [...metrics.matchAll(new RegExp(`fluid_s3_fuse_fuse_op_duration_seconds_bucket\\{le="([^"]+)",op="${op}"\\} (\\d+)`, 'g'))].map((m) => [
      m[1],
      Number(m[2]),
    ]);
    const total = rows.find(([le]) => le === '+Inf')?.[1] ?? 0;
    const hit = rows.find(([, n]) => n >= total * 0.99);
    p99[op] = total ? `≤ ${hit?.[0]} s (${total} ops)` : 'no ops';
  }
  console.log(JSON.stringify({ minutes, resetEvery, outages, counts, errors, outageErrors, recoveries, agentExits, p99, rssMiBEvery10s: rss }, null, 2));
  const recovered = recoveries.every((r) => r.servedAgainAfterMs !== null);
  process.exitCode = agentExits.length > 0 || !recovered || (counts.errors > 0 && !resetEvery) ? 1 : 0;
} finally {
  if (agent && agent.exitCode === null) {
    agent.kill('SIGTERM');
    await new Promise((r) => agent.once('exit', r));
  }
  await run('fusermount', ['-uz', mnt]).catch(() => undefined);
  await stopRgw(join(work, 'rgw')).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
}
