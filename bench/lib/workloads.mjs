// The workloads. Each one gets a fresh mount (cold metadata, no client cache) and a dropped
// page cache, runs its reader in a child process (never in the bench process), checks the
// bytes or names it saw, and unmounts, whatever happens. Each returns { metric: value }.
import { join } from 'node:path';
import { mountClient } from './clients.mjs';
import { GiB } from './content.mjs';
import { bytesOfColumns } from './parquet.mjs';
import { dropCaches, runChild, runJson } from './proc.mjs';
import { startRssSampler } from './rss.mjs';

const READERS = new URL('../readers/', import.meta.url).pathname;
const node = (script, args, env = {}, timeoutMs = undefined) =>
  runJson(process.execPath, [join(READERS, script), ...args], { env: { ...process.env, ...env }, timeoutMs });

// A Parquet read that takes longer is stopped and reported as "> this" (rclone without a
// cache reopens a ranged GET per seek: minutes for the full table on a busy machine).
const PARQUET_LIMIT_S = 240;

/**
 * CPU seconds the client process spends while fn runs (sampled just before and just after
 * it, on the same mount): resolves { result, cpuS }.
 */
export async function withCpu(h, fn) {
  const before = await h.cpu();
  const result = await fn();
  return { result, cpuS: (await h.cpu()) - before };
}

/** Mount, drop caches, run fn(handle), unmount (also on failure). */
async function withFreshMount(ctx, name, fn) {
  const h = await mountClient(ctx.client, { ...ctx.mountOpts, logName: `${ctx.client}.log` });
  try {
    await dropCaches();
    return await fn(h);
  } catch (err) {
    err.message = `${ctx.client} ${name}: ${err.message}`;
    throw err;
  } finally {
    const s = await h.stop();
    if (s?.code !== 0 && s?.code !== null) ctx.log(`warning: ${ctx.client} exited ${s?.code ?? s?.sig} after ${name}`);
  }
}

async function fio(ctx, h, bs) {
  const { manifest, cfg } = ctx;
  const r = await runChild(
    'fio',
    [
      '--name=rand',
      `--filename=${join(h.mnt, manifest.seq.key)}`,
      '--readonly',
      '--direct=0',
      '--rw=randread',
      '--ioengine=psync',
      `--bs=${bs}`,
      `--size=${manifest.seq.size}`,
      `--runtime=${cfg.fioRuntime}`,
      '--time_based',
      '--output-format=json',
    ],
    { timeoutMs: (cfg.fioRuntime + 120) * 1000 },
  );
  if (r.code !== 0) throw new Error(`fio exited ${r.code}: ${r.stderr.slice(-500)}`);
  const job = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))).jobs[0];
  if (job.error) throw new Error(`fio job error ${job.error}`);
  const p50 = job.read.clat_ns?.percentile?.['50.000000'];
  return { iops: job.read.iops, bytes: job.read.io_bytes, bwBytes: job.read.bw_bytes, p50Ms: p50 === undefined ? undefined : p50 / 1e6 };
}

async function randomReads(ctx, bs, label) {
  return withFreshMount(ctx, `random ${label}`, async (h) => {
    // bytes fetched: ours counts them itself. The peers keep no such counter, and RGW's
    // rgw.get_b counts the bytes a GET asked for, not those sent (rclone asks for up to
    // 128 MiB per seek and hangs up early), so the peers get no number rather than a wrong one.
    const before = ctx.client === 'ours' ? await h.counters() : undefined;
    const { result, cpuS } = await withCpu(h, () => fio(ctx, h, bs));
    const { iops, bytes, bwBytes, p50Ms } = result;
    const after = ctx.client === 'ours' ? await h.counters() : undefined;
    const bsBytes = Number.parseInt(bs, 10) * 1024;
    // the raw GET of the same size right after fio, so that both latencies see the same load
    // on a shared machine (the ceiling's sample is taken minutes earlier)
    const raw = label === '256k' ? await rawRangedGet(ctx, bsBytes, 30) : undefined;
    // not timed: fio cannot check bytes it did not write, so check a sample of blocks here
    await node('randcheck.mjs', [h.mnt, ctx.manifest.seq.key, String(ctx.manifest.seq.size), String(bsBytes), '200']);
    const out = {
      [`rand${label}Iops`]: iops,
      [`rand${label}MiBps`]: bwBytes / 2 ** 20,
      [`rand${label}LatMs`]: p50Ms,
      [`rand${label}CpuPerGiB`]: cpuS / (bytes / GiB),
    };
    if (after) out[`rand${label}Fetched`] = (after.s3BytesFetched - before.s3BytesFetched) / bytes;
    if (raw) out[`rand${label}LatVsRaw`] = p50Ms / raw.ms;
    return out;
  });
}

/** The raw SDK's median latency of `tries` ranged GETs of `size` bytes at random aligned offsets. */
function rawRangedGet(ctx, size, tries) {
  const { endpoint, creds } = ctx.mountOpts;
  const env = { S3_ENDPOINT: endpoint, AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey };
  return node('sdk.mjs', [ctx.manifestPath, 'ranged', String(size), String(tries)], env);
}

/** The Parquet table read with hyparquet: all columns, or two of the ten (c2 and c7). */
async function parquetRead(ctx, label, columns) {
  return withFreshMount(ctx, `parquet ${label}`, async (h) => {
    const { parquet } = ctx.manifest;
    const before = ctx.client === 'ours' ? await h.counters() : undefined;
    const which = columns ? columns.map((c) => `c${c}`).join(',') : 'all';
    const needed = bytesOfColumns(parquet, columns ?? Array.from({ length: parquet.columns }, (_, c) => c));
    let timedOut = false;
    const { result: r, cpuS } = await withCpu(h, () =>
      node('parquet.mjs', [ctx.manifestPath, h.mnt, which], { UV_THREADPOOL_SIZE: '8' }, PARQUET_LIMIT_S * 1000).catch((err) => {
        if (!/no exit after/.test(err.message)) throw err;
        timedOut = true;
        return { ms: PARQUET_LIMIT_S * 1000 };
      }),
    );
    if (timedOut) {
      ctx.log(`  ${ctx.client} parquet ${label}: stopped after ${PARQUET_LIMIT_S} s`);
      return { [`pq${label}S`]: PARQUET_LIMIT_S, [`pq${label}SOver`]: true };
    }
    const after = ctx.client === 'ours' ? await h.counters() : undefined;
    const out = { [`pq${label}S`]: r.ms / 1000, [`pq${label}CpuPerGiB`]: cpuS / (needed / GiB) };
    if (after) out[`pq${label}Fetched`] = (after.s3BytesFetched - before.s3BytesFetched) / needed;
    return out;
  });
}

export const WORKLOADS = [
  {
    name: 'ttfb',
    run: (ctx) =>
      withFreshMount(ctx, 'ttfb', async (h) => {
        const { result: r, cpuS } = await withCpu(h, () => node('ttfb.mjs', [h.mnt, ctx.manifest.seq.key]));
        return { ttfbMs: r.ms, ttfbCpuMs: cpuS * 1000 };
      }),
  },
  {
    name: 'sequential',
    run: (ctx) =>
      withFreshMount(ctx, 'sequential', async (h) => {
        const { result: r, cpuS } = await withCpu(h, () => node('seq.mjs', [ctx.manifestPath, h.mnt, ctx.manifest.seq.key]));
        return { seqMBps: r.bytes / 1e6 / (r.ms / 1000), seqCpuPerGiB: cpuS / (r.bytes / GiB) };
      }),
  },
  {
    name: 'small files',
    run: (ctx) =>
      withFreshMount(ctx, 'small files', async (h) => {
        const { result: r, cpuS } = await withCpu(h, () => node('small.mjs', [ctx.manifestPath, h.mnt, '8'], { UV_THREADPOOL_SIZE: '16' }));
        return { smallFilesPerSec: r.files / (r.ms / 1000), smallCpuPer1k: cpuS / (r.files / 1000) };
      }),
  },
  {
    name: 'find',
    run: (ctx) =>
      withFreshMount(ctx, 'find', async (h) => {
        const { result: r, cpuS } = await withCpu(h, () => runChild('bash', ['-c', 'find "$1" -type f | wc -l', 'find', join(h.mnt, 'small')]));
        const n = Number(r.stdout.trim());
        if (r.code !== 0 || n !== ctx.manifest.small.length)
          throw new Error(`find counted ${r.stdout.trim()} files, expected ${ctx.manifest.small.length} (exit ${r.code}) ${r.stderr.slice(-300)}`);
        return { findS: r.ms / 1000, findCpuPer1k: cpuS / (n / 1000) };
      }),
  },
  {
    name: 'ls -l',
    run: (ctx) =>
      withFreshMount(ctx, 'ls -l', async (h) => {
        const { result: r, cpuS } = await withCpu(h, () => runChild('ls', ['-l', join(h.mnt, 'ls')], { env: { ...process.env, LC_ALL: 'C' } }));
        const files = r.stdout.split('\n').filter((l) => l.startsWith('-'));
        const wrong = files.filter((l) => Number(l.split(/\s+/)[4]) !== ctx.manifest.sizes.lsSize);
        if (r.code !== 0 || files.length !== ctx.manifest.ls.length || wrong.length) {
          throw new Error(
            `ls -l listed ${files.length} files (expected ${ctx.manifest.ls.length}), ${wrong.length} with a wrong size, exit ${r.code}: ${(wrong[0] ?? r.stderr).slice(0, 300)}`,
          );
        }
        return { lsS: r.ms / 1000, lsCpuPer1k: cpuS / (files.length / 1000) };
      }),
  },
  { name: 'random 4k', run: (ctx) => randomReads(ctx, '4k', '4k') },
  { name: 'random 64k', run: (ctx) => randomReads(ctx, '64k', '64k') },
  { name: 'random 256k', run: (ctx) => randomReads(ctx, '256k', '256k') },
  { name: 'parquet all', run: (ctx) => parquetRead(ctx, 'All') },
  { name: 'parquet 2 of 10', run: (ctx) => parquetRead(ctx, 'Two', [2, 7]) },
  {
    name: '4 parallel readers',
    run: (ctx) =>
      withFreshMount(ctx, '4 parallel readers', async (h) => {
        const rss = startRssSampler(h.pid);
        const { result: r, cpuS } = await withCpu(h, () =>
          node('seq.mjs', [ctx.manifestPath, h.mnt, ...ctx.manifest.par.map((o) => o.key)], { UV_THREADPOOL_SIZE: '8' }),
        );
        const mem = await rss.stop();
        return { parMBps: r.bytes / 1e6 / (r.ms / 1000), peakRssMiB: mem.peakMiB, parCpuPerGiB: cpuS / (r.bytes / GiB) };
      }),
  },
];

/** The raw SDK ceiling, no mount: the same big object, 1 stream and N parallel part streams. */
export async function ceiling(ctx) {
  const env = { S3_ENDPOINT: ctx.endpoint, AWS_ACCESS_KEY_ID: ctx.creds.accessKeyId, AWS_SECRET_ACCESS_KEY: ctx.creds.secretAccessKey };
  await dropCaches();
  const one = await node('sdk.mjs', [ctx.manifestPath, 'stream'], env);
  const many = await node('sdk.mjs', [ctx.manifestPath, 'parts', String(ctx.cfg.sdkStreams), '8'], env);
  const ttfb = await node('sdk.mjs', [ctx.manifestPath, 'ttfb', '5'], env);
  const ranged = await node('sdk.mjs', [ctx.manifestPath, 'ranged', String(256 * 1024), '50'], env);
  return {
    seqMBps: one.bytes / 1e6 / (one.ms / 1000),
    seqParMBps: many.bytes / 1e6 / (many.ms / 1000),
    // the SDK process's own CPU over its reads, less the CRC check (which the mount readers do
    // in their own process, not in the client's)
    seqCpuPerGiB: one.cpuNetS / (one.bytes / GiB),
    seqParCpuPerGiB: many.cpuNetS / (many.bytes / GiB),
    ttfbMs: ttfb.ms,
    rand256kLatMs: ranged.ms,
  };
}
