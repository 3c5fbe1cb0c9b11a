// The benchmark of issue 3, end to end: one RGW, the data, (the slow-link proxy,) every
// workload on every client for N runs, the ceiling, one table. Start it with bench/run.sh,
// which installs the tools and cleans up even after a crash of this process.
//
//   node bench/run.mjs --workdir DIR [--quick] [--slow-link --rtt 20ms --per-conn 20MB/s]
//                      [--runs N] [--clients ours,s3fs,rclone] [--only NAME,…]
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, hostname, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { CLIENT_OPTIONS } from './lib/clients.mjs';
import { MiB, datasetBytes, datasetFor } from './lib/content.mjs';
import { parquetShape } from './lib/parquet.mjs';
import { benchSession, makeLog, parseArgs as parseArgs0, runMain, toolVersions } from './lib/harness.mjs';
import { renderResults } from './lib/table.mjs';
import { WORKLOADS, ceiling } from './lib/workloads.mjs';
import { loadData } from './load-data.mjs';

const HERE = new URL('.', import.meta.url).pathname;
const BUCKET = 'bench';
const log = makeLog('bench');

function parseArgs(argv) {
  const o = parseArgs0(argv, {
    script: 'run.sh',
    defaults: { quick: false, slow: false, rtt: '20ms', perConn: '20MB/s', runs: undefined, only: undefined },
    flags: { '--quick': 'quick', '--slow-link': 'slow' },
    values: { '--rtt': ['rtt', String], '--per-conn': ['perConn', String], '--runs': ['runs', Number], '--only': ['only', (v) => v.split(',')] },
  });
  o.runs ??= o.quick ? 1 : 3;
  return o;
}

async function machineLines(o) {
  const cpu = cpus();
  const { s3fs, rclone, fio, radosgw: ceph } = await toolVersions();
  const os = (await readFile('/etc/os-release', 'utf8')).match(/PRETTY_NAME="(.*)"/)?.[1];
  return [
    `- machine: ${hostname()}, ${os}, ${cpu.length} cores (${cpu[0]?.model}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM; shared with another engineer running tests, so expect noise`,
    `- ours: git ${process.env.FLUID_BENCH_REV ?? '?'}`,
    `- software: Node ${process.version}, s3fs ${s3fs}, rclone ${rclone}, fio ${fio}, Ceph RGW ${ceph} (memstore OSD, all on 127.0.0.1)`,
    `- link: ${o.slow ? `slow-link proxy (bench/slow-proxy.mjs): rtt ${o.rtt}, ${o.perConn} per connection and direction, every client and the SDK ceiling go through it` : 'loopback (LAN case), no proxy'}`,
  ];
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const dsMode = o.quick ? 'quick' : o.slow ? 'slow' : 'lan';
  const link = o.slow ? 'slow' : 'lan';
  const cfg = { mode: link, fioRuntime: o.quick ? 5 : 20, sdkStreams: 8 };
  const work = o.workdir;
  await mkdir(work, { recursive: true });
  const session = benchSession(join(work, 'rgw'), log);
  try {
    const ds = datasetFor(dsMode);
    // RGW's memstore holds about 2x the stored bytes; leave room for RGW's own pools
    const memstoreMb = Math.ceil(((datasetBytes(ds) + parquetShape(dsMode).approxBytes) * 2.5) / MiB) + 1024;
    const s3env = await session.startRgw(memstoreMb);
    const creds = { accessKeyId: s3env.AWS_ACCESS_KEY_ID, secretAccessKey: s3env.AWS_SECRET_ACCESS_KEY };
    const manifestPath = join(work, 'manifest.json');
    log(`loading the ${dsMode} data set (${(datasetBytes(ds) / MiB).toFixed(0)} MiB)`);
    const manifest = await loadData({ bucket: BUCKET, mode: dsMode, manifestPath, s3conf: { endpoint: s3env.S3_ENDPOINT, ...creds }, log });

    const endpoint = await session.clientEndpoint(o, s3env, creds, work);

    const workloads = WORKLOADS.filter((w) => !o.only || o.only.includes(w.name));
    const runs = [];
    const loadBefore = loadavg();
    for (let r = 0; r < o.runs; r++) {
      const result = {};
      log(`run ${r + 1}/${o.runs}: raw SDK ceiling`);
      result.sdk = await ceiling({ endpoint, creds, manifestPath, cfg });
      log(`  sdk ${JSON.stringify(result.sdk)}`);
      // rotate the client order each run, so no client always runs right after the same one
      const order = o.clients.map((_, i) => o.clients[(i + r) % o.clients.length]);
      for (const client of order) {
        result[client] = {};
        for (const w of workloads) {
          const ctx = { client, manifest, manifestPath, cfg, log, mountOpts: { bucket: BUCKET, endpoint, creds, mnt: join(work, `mnt-${client}`), dir: work } };
          const m = await w.run(ctx);
          Object.assign(result[client], m);
          log(`  ${client} ${w.name}: ${JSON.stringify(m)}`);
        }
      }
      runs.push(result);
    }
    const minutes = ((Date.now() - t0) / 60000).toFixed(1);
    const header = [
      `## ${link === 'slow' ? `Slow link (${o.rtt} rtt, ${o.perConn} per connection)` : 'LAN (loopback)'}${o.quick ? ', quick data set' : ''}: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      '',
      ...(await machineLines(o)),
      `- data set (${dsMode}): ${manifest.seq.size / MiB} MiB sequential object; ${manifest.par.length} × ${manifest.sizes.parSize / MiB} MiB for the parallel readers; ${manifest.small.length} × ${manifest.sizes.smallSize / 1024} KiB in ${manifest.sizes.smallDirs} folders; ${manifest.ls.length} × ${manifest.sizes.lsSize / 1024} KiB in one folder; a Parquet table of ${(manifest.parquet.size / 1e6).toFixed(0)} MB (${manifest.parquet.groups} row groups × ${manifest.parquet.columns} INT64 columns, plain, uncompressed)`,
      `- clients: ours \`${CLIENT_OPTIONS.ours}\`; s3fs \`${CLIENT_OPTIONS.s3fs}\`; rclone \`${CLIENT_OPTIONS.rclone}\``,
      `- ${o.runs} run(s), a fresh mount and a dropped page cache for every workload; every byte read was checked against the known content; the whole bench took ${minutes} min; load average ${loadBefore.map((x) => x.toFixed(1)).join(' ')} before the runs, ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')} after`,
    ];
    const md = renderResults({ runs, manifest, cfg, header });
    process.stdout.write(`\n${md}\n`);
    const resultsDir = join(HERE, 'results');
    await mkdir(resultsDir, { recursive: true });
    const file = join(resultsDir, `${new Date().toISOString().slice(0, 10)}-${link}${o.quick ? '-quick' : ''}.md`);
    await writeFile(file, `${md}\n`);
    await writeFile(join(work, 'runs.json'), JSON.stringify(runs, null, 1));
    log(`results written to ${file} (${minutes} min)`);
  } finally {
    await session.cleanup();
  }
}

runMain(main, log);
