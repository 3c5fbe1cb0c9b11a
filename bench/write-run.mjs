// The write benchmark of issue 12, end to end: one RGW, the local inputs, the raw SDK ceiling,
// then every write workload on every client (a fresh mount and a fresh prefix each), one
// table. Start it with bench/write-run.sh, which installs the tools, builds the commit aside and
// cleans up even after a crash of this process.
//
//   node bench/write-run.mjs --workdir DIR [--quick] [--slow-link --rtt 20ms --per-conn 20MB/s] [--clients ours,s3fs,rclone] [--only seq,cp,tar,rsync,rss]
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, hostname, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { benchSession, makeLog, parseArgs as parseArgs0, runMain, toolVersions } from './lib/harness.mjs';
import { s3Client } from './lib/s3.mjs';
import { MiB, WORKLOADS, emptyBucket, ensureBucket, prepareLocal, sdkCeiling, shapeFor } from './lib/write-workloads.mjs';

const HERE = new URL('.', import.meta.url).pathname;
const log = makeLog('write-bench');

export const WRITE_OPTIONS = {
  ours: '`mount s3://w-ours MNT --endpoint URL --cache-size 256MiB --read-write` (defaults otherwise: 8 MiB parts, staging in the temp folder)',
  s3fs: "`-f -o url=…,use_path_request_style,endpoint=us-east-1,passwd_file=…,parallel_count=8,multipart_size=10` (the read bench's options without `ro`; data staged in temp files)",
  rclone:
    '`mount w-rclone: --vfs-cache-mode writes --cache-dir WORK/rclone-cache --use-server-modtime` (defaults otherwise: upload 5 s after close, `--vfs-write-back 5s`)',
};

const parseArgs = (argv) =>
  parseArgs0(argv, {
    script: 'write-run.sh',
    defaults: { quick: false, only: undefined, slow: false, rtt: '20ms', perConn: '20MB/s' },
    flags: { '--quick': 'quick', '--slow-link': 'slow' },
    values: { '--only': ['only', (v) => v.split(',')], '--rtt': ['rtt', String], '--per-conn': ['perConn', String] },
  });

const f3 = (x) => (x === undefined || !Number.isFinite(x) ? '–' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : '–');

function render({ res, shape, header, partial }) {
  const L = [];
  L.push(...header, '');
  if (partial) L.push(`**PARTIAL**: ${partial}`, '');
  L.push(
    '| workload | client | s until the tool exits | s until all in S3 | rate (on s until in S3) | CPU of the client (s per GiB or per 1,000 files) | peak RSS (MiB) | checked in S3 | load (1 min) at start |',
    '|---|---|---:|---:|---:|---:|---:|---|---:|',
  );
  for (const w of WORKLOADS) {
    const files = w.name !== 'seq' && w.name !== 'rss';
    if (w.name === 'seq' && res.sdk?.length) {
      for (const s of res.sdk)
        L.push(
          `| ${w.label(shape)} | raw SDK multipart (8 MiB parts, ${s.inflight} in flight) | | ${f3(s.s3S)} | ${f3(s.MBps)} MB/s | ${f3(s.cpuPerGiB)} | | md5 of all | |`,
        );
    }
    for (const c of Object.keys(res.clients)) {
      const m = res.clients[c][w.name];
      if (!m) continue;
      if (m.error) {
        L.push(`| ${w.label(shape)} | ${c} | failed: ${m.error.replace(/\|/g, '/').replace(/\n/g, ' ').slice(0, 300)} | | | | | | |`);
        continue;
      }
      const rate = files ? `${f3(m.filesPerS)} files/s` : `${f3(m.MBps)} MB/s`;
      const cpu = files ? f3(m.cpuPer1k) : f3(m.cpuPerGiB);
      L.push(
        `| ${w.label(shape)} | ${c} | ${f3(m.toolS)} | ${f3(m.s3S)} | ${rate} | ${cpu} | ${f3(m.peakRssMiB)} | ${m.checked}${m.openUploads ? `; ${m.openUploads} multipart upload(s) left open` : ''} | ${m.load1} |`,
      );
    }
  }
  // targets
  const get = (c, w, k) => res.clients[c]?.[w]?.[k];
  const sdkBest = Math.max(0, ...(res.sdk ?? []).map((s) => s.MBps));
  L.push('', '| target (issue 12) | ours | s3fs | rclone | ours/s3fs | ours/rclone | ours/SDK | met? |', '|---|---:|---:|---:|---:|---:|---:|---|');
  const ran = (w) => Object.values(res.clients).some((m) => m[w]);
  if (ran('seq')) {
    const [o, s, r] = ['ours', 's3fs', 'rclone'].map((c) => get(c, 'seq', 'MBps'));
    const met = o && s && r && sdkBest ? (o >= 2 * s && o >= 2 * r && o >= 0.75 * sdkBest ? 'yes' : 'no') : '?';
    L.push(
      `| ${WORKLOADS[0].label(shape)}: ≥ 2× s3fs and rclone, ≥ 0.75× raw SDK (${f3(sdkBest)} MB/s) | ${f3(o)} MB/s | ${f3(s)} | ${f3(r)} | ${ratio(o, s)} | ${ratio(o, r)} | ${ratio(o, sdkBest)} | ${met} |`,
    );
  }
  for (const w of ['cp', 'tar', 'rsync'].filter(ran)) {
    const [o, s, r] = ['ours', 's3fs', 'rclone'].map((c) => get(c, w, 'filesPerS'));
    const better = Math.max(s ?? 0, r ?? 0);
    const met = o && s && r ? (o >= 2 * better ? 'yes' : 'no') : '?';
    L.push(
      `| ${WORKLOADS.find((x) => x.name === w).label(shape)}: ≥ 2× the better peer | ${f3(o)} files/s | ${f3(s)} | ${f3(r)} | ${ratio(o, s)} | ${ratio(o, r)} | | ${met} |`,
    );
  }
  if (ran('rss')) {
    const [o, s, r] = ['ours', 's3fs', 'rclone'].map((c) => get(c, 'rss', 'peakRssMiB'));
    L.push(
      `| peak RSS, ${WORKLOADS.find((x) => x.name === 'rss').label(shape)}: ours ≤ 256 + 150 MiB | ${f3(o)} MiB | ${f3(s)} | ${f3(r)} | | | | ${o === undefined ? '?' : o <= 406 ? 'yes' : 'no'} |`,
    );
  }
  // where ours' CPU went (main thread = JS; other threads = libuv pool, V8 GC helpers, FUSE threads)
  const th = Object.entries(res.clients.ours ?? {}).filter(([, m]) => m.threads);
  if (th.length) {
    L.push(
      '',
      'Ours, CPU seconds by thread (`/proc/PID/task/*/stat`, live threads, over the timed part):',
      '',
      '| workload | main thread user | main sys | other threads user | other sys | threads |',
      '|---|---:|---:|---:|---:|---:|',
    );
    for (const [w, m] of th)
      L.push(`| ${w} | ${f3(m.threads.mainUser)} | ${f3(m.threads.mainSys)} | ${f3(m.threads.otherUser)} | ${f3(m.threads.otherSys)} | ${m.threads.n} |`);
  }
  return L.join('\n');
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const shape = shapeFor(o.quick);
  const work = o.workdir;
  await mkdir(work, { recursive: true });
  const session = benchSession(join(work, 'rgw'), log);
  // a narrowed run (--only) gets its own file, so it never overwrites the full table
  const resultsFile = join(
    HERE,
    'results',
    `2026-12-02-writes-${o.slow ? 'slow' : 'lan'}${o.quick ? '-quick' : ''}${o.only ? `-only-${o.only.join('+')}` : ''}.md`,
  );
  const res = { sdk: [], clients: {} };
  let header = [];
  const save = async (partial) => {
    await mkdir(join(HERE, 'results'), { recursive: true });
    await writeFile(resultsFile, `${render({ res, shape, header, partial })}\n`);
    await writeFile(join(work, 'results.json'), JSON.stringify(res, null, 1));
  };
  try {
    // RGW keeps about 2x the bytes in RAM; at most 4 big objects live at once (the bucket is
    // emptied after every workload); deleted tails are reclaimed by RGW's GC (faster here)
    const memstoreMb = Math.ceil((shape.rssWriters * shape.rssBytes * 2.5) / MiB) + 1024;
    process.env.EXTRA_CONF = 'rgw gc obj min wait = 10\nrgw gc processor period = 10';
    const s3env = await session.startRgw(memstoreMb);
    const creds = { accessKeyId: s3env.AWS_ACCESS_KEY_ID, secretAccessKey: s3env.AWS_SECRET_ACCESS_KEY };
    // The checks in S3 go straight to RGW; the clients and the SDK ceiling through the slow
    // link's proxy when there is one.
    const s3 = s3Client({ endpoint: s3env.S3_ENDPOINT, ...creds });
    const endpoint = await session.clientEndpoint(o, s3env, creds, work);
    const local = await prepareLocal(work, shape, log);

    const { s3fs: s3fsV, rclone: rcloneV, radosgw: cephV } = await toolVersions(['s3fs', 'rclone', 'radosgw']);
    const cpu = cpus();
    const loadBefore = loadavg();
    header = [
      `## Writes (issue 12), ${o.slow ? `slow link (${o.rtt} rtt, ${o.perConn} per connection)` : 'LAN (loopback)'}${o.quick ? ', quick shapes' : ''}: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      '',
      `- machine: ${hostname()}, ${cpu.length} cores (${cpu[0]?.model}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, shared with other engineers' builds and tests: **one run**, expect noise`,
      `- ours: git ${process.env.FLUID_BENCH_REV ?? '?'}`,
      `- software: Node ${process.version}, s3fs ${s3fsV}, rclone ${rcloneV}, Ceph RGW ${cephV} (memstore OSD, all on 127.0.0.1), ${o.slow ? `every client and the SDK ceiling through the slow-link proxy (bench/slow-proxy.mjs: rtt ${o.rtt}, ${o.perConn} per connection and direction)` : 'no proxy'}`,
      `- clients: ours ${WRITE_OPTIONS.ours}; s3fs ${WRITE_OPTIONS.s3fs}; rclone ${WRITE_OPTIONS.rclone}`,
      `- inputs: ${shape.bigBytes / MiB} MiB of random bytes and a tree of ${shape.dirs} folders × ${shape.perDir} files × ${shape.fileBytes / 1024} KiB (random), on local disk, warm in the page cache; \`sync\` before each workload`,
      "- each workload: a fresh mount of the client's own bucket, timed from the tool's spawn to its exit, and to the moment the SDK sees every object with its size (HEAD every 50 ms, or LIST every 200 ms); rates use the second (rclone uploads after close). CPU: user + sys of the client process (all threads, plus children) from `/proc/PID/stat` over that span. Bytes checked in S3 with the SDK afterwards; the bucket is then emptied.",
    ];
    const clientsRun = [];
    const workloads = WORKLOADS.filter((w) => !o.only || o.only.includes(w.name));
    for (const c of o.clients) await ensureBucket(s3, `w-${c}`);
    await ensureBucket(s3, 'w-sdk');

    if (!o.only || o.only.includes('seq')) {
      for (const inflight of [8, 4]) {
        log(`raw SDK ceiling: multipart upload, 8 MiB parts, ${inflight} in flight`);
        const sctx = { s3, bucket: 'w-sdk', local, mountOpts: { endpoint, creds } };
        const r = await sdkCeiling(sctx, inflight);
        res.sdk.push(r);
        log(`  sdk ${JSON.stringify(r)}`);
      }
      await save('running');
    }
    for (const client of o.clients) {
      res.clients[client] = {};
      const bucket = `w-${client}`;
      for (const w of workloads) {
        const ctx = { client, s3, bucket, local, shape, log, mountOpts: { bucket, endpoint, creds, mnt: join(work, `mnt-${client}`), dir: work } };
        log(`${client} ${w.name}`);
        let m;
        try {
          m = await w.run(ctx);
        } catch (err) {
          // a failed workload is reported as such; the bench goes on with the next
          log(`  ${client} ${w.name} FAILED: ${err.stack ?? err}`);
          m = { error: err.message };
          await emptyBucket(s3, bucket).catch(() => {});
        }
        res.clients[client][w.name] = m;
        log(`  ${client} ${w.name}: ${JSON.stringify(m)}`);
        await save('running');
      }
      clientsRun.push(client);
    }
    const minutes = ((Date.now() - t0) / 60000).toFixed(1);
    header.push(
      `- the whole bench took ${minutes} min; load average ${loadBefore.map((x) => x.toFixed(1)).join(' ')} before the workloads, ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')} after`,
    );
    await save(undefined);
    process.stdout.write(`\n${render({ res, shape, header })}\n`);
    log(`results written to ${resultsFile} (${minutes} min)`);
  } finally {
    await session.cleanup();
  }
}

runMain(main, log);
