#!/usr/bin/env node
// Soak: a mixed workload against fluid-s3-fuse for a while (default 10 minutes), reporting
// errors (expected 0 without injected faults), p99 FUSE latency by operation (from the agent's
// /metrics histogram) and RSS over time (expected flat). Not part of CI.
//
//   node bench/soak.mjs [--minutes 10] [--reset-every 0]      (as root: it drops the page cache)
//
// --reset-every N: every N seconds, kill the agent's TCP connections to RGW mid-transfer (a
// low-rate fault: `ss -K` on the RGW port), which reads must survive by resuming.
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
const MiB = 1024 * 1024;
const CLI = new URL('../dist/src/cli.js', import.meta.url).pathname;

function run(cmd, argv, timeoutMs = 120_000) {
  return new Promise((resolve) => execFile(cmd, argv, { timeout: timeoutMs, maxBuffer: 1 << 28, encoding: 'buffer' }, (err, stdout, stderr) => resolve({ ok: !err, stdout, stderr: String(stderr) })));
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
  const put = async (key, body) => { objects.set(key, sha(body)); await s3.send(new PutObjectCommand({ Bucket: 'soak', Key: key, Body: body })); };
  for (let i = 0; i < 4; i++) await put(`big/${i}.bin`, randomBytes(64 * MiB));
  const small = [];
  for (let d = 0; d < 5; d++) for (let i = 0; i < 100; i++) small.push(`small/d${d}/f${i}`);
  for (let i = 0; i < small.length; i += 25) await Promise.all(small.slice(i, i + 25).map((k) => put(k, randomBytes(16 * 1024))));

  await mkdir(mnt, { recursive: true });
  agent = spawn(process.execPath, [CLI, 'mount', 's3://soak', mnt, '--endpoint', env.S3_ENDPOINT, '--cache-size', '256MiB', '--metrics-address', '127.0.0.1:0', '--stat-cache-ttl', '10s'], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let log = '';
  agent.stdout.on('data', (d) => (log += d));
  for (let i = 0; i < 100 && !/"msg":"mounted"/.test(log); i++) await sleep(100);
  const port = /"address":"127\.0\.0\.1:(\d+)","msg":"metrics listener up"/.exec(log)?.[1];
  if (!port) throw new Error(`agent did not come up: ${log}`);

  const deadline = Date.now() + minutes * 60_000;
  const counts = { seq: 0, random: 0, list: 0, small: 0, errors: 0 };
  const errors = [];
  const rss = [];
  const check = (what, ok, detail) => {
    if (!ok) {
      counts.errors++;
      if (errors.length < 20) errors.push(`${what}: ${detail}`);
    }
  };
  const loops = [
    async () => { // sequential whole-object reads, checked
      const i = counts.seq % 4;
      const r = await run('sha256sum', [`${mnt}/big/${i}.bin`]);
      check(`sha256sum big/${i}.bin`, r.ok && String(r.stdout).startsWith(objects.get(`big/${i}.bin`)), r.stderr.trim());
      counts.seq++;
    },
    async () => { // random 4 KiB reads
      const i = counts.random % 4;
      const off = Math.floor(Math.random() * (64 * MiB / 4096)) * 4096;
      const r = await run('dd', [`if=${mnt}/big/${i}.bin`, 'bs=4096', `skip=${off / 4096}`, 'count=1', 'status=none']);
      check(`dd big/${i}.bin@${off}`, r.ok && r.stdout.length === 4096, r.stderr.trim());
      counts.random++;
    },
    async () => { // listings
      const r = await run('ls', ['-lR', `${mnt}/small`]);
      check('ls -lR small', r.ok && String(r.stdout).split('\n').filter((l) => l.startsWith('-')).length === small.length, r.stderr.trim());
      counts.list++;
    },
    async () => { // small files, 8 at a time
      const batch = Array.from({ length: 8 }, () => small[Math.floor(Math.random() * small.length)]);
      const rs = await Promise.all(batch.map((k) => run('sha256sum', [`${mnt}/${k}`])));
      rs.forEach((r, j) => check(`sha256sum ${batch[j]}`, r.ok && String(r.stdout).startsWith(objects.get(batch[j])), r.stderr.trim()));
      counts.small += batch.length;
    },
  ];
  const workers = loops.map(async (loop) => { while (Date.now() < deadline) await loop(); });
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
  await Promise.all([...workers, sampler, faults]);

  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const p99 = {};
  for (const op of ['getattr', 'readdir', 'open', 'read']) {
    const rows = [...metrics.matchAll(new RegExp(`fluid_s3_fuse_fuse_op_duration_seconds_bucket\\{le="([^"]+)",op="${op}"\\} (\\d+)`, 'g'))].map((m) => [m[1], Number(m[2])]);
    const total = rows.find(([le]) => le === '+Inf')?.[1] ?? 0;
    const hit = rows.find(([, n]) => n >= total * 0.99);
    p99[op] = total ? `≤ ${hit?.[0]} s (${total} ops)` : 'no ops';
  }
  console.log(JSON.stringify({ minutes, resetEvery, counts, errors, p99, rssMiBEvery10s: rss }, null, 2));
  process.exitCode = counts.errors > 0 && !resetEvery ? 1 : 0;
} finally {
  if (agent && agent.exitCode === null) {
    agent.kill('SIGTERM');
    await new Promise((r) => agent.once('exit', r));
  }
  await run('fusermount', ['-uz', mnt]).catch(() => undefined);
  await stopRgw(join(work, 'rgw')).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
}
