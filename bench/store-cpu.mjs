#!/usr/bin/env node
// CPU of the store's ranged GETs, old path (the SDK) against the lean one (undici + SigV4),
// in one process, against one RGW (issue 11). Run after `npm run build`:
//
//   node bench/store-cpu.mjs [--gib 1] [--rounds 3] [--part-mib 8] [--parallel 1,8] [--heads 2000]
//
// Starts its own RGW (scripts/rgw-start.sh, in a temp dir, stopped and purged at the end)
// unless S3_ENDPOINT, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY name one already running.
// Each measurement reads `--gib` GiB as ranged GETs of `--part-mib` MiB through
// S3Store.readRange, `parallel` at a time, the bytes only counted (no copy); CPU is
// process.cpuUsage() (user + system, all threads) around it. The two paths take turns, the
// order alternating per round; the table shows medians. Then `--heads` HEADs per path and
// round, one at a time: CPU per 1,000. Then LIST: `--list-keys` small objects in one folder,
// listed whole in pages of 1,000 (delimiter `/`, as a readdir does) per path and round: CPU
// per 1,000 keys. `--gib 0`, `--heads 0` or `--list-keys 0` leave a part out.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startRgw, stopRgw } from './lib/rgw.mjs';

const { values: args } = parseArgs({
  options: {
    gib: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    'part-mib': { type: 'string', default: '8' },
    parallel: { type: 'string', default: '1,8' },
    'object-mib': { type: 'string', default: '256' },
    heads: { type: 'string', default: '2000' },
    'list-keys': { type: 'string', default: '10000' },
  },
});
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const partBytes = Number(args['part-mib']) * MiB;
const objectBytes = Number(args['object-mib']) * MiB;
const totalBytes = Number(args.gib) * GiB;
const rounds = Number(args.rounds);
const parallels = args.parallel.split(',').map(Number);
const headCount = Number(args.heads);
const listKeys = Number(args['list-keys']);

const dist = new URL('../dist/src/store/', import.meta.url);
const { S3Store } = await import(new URL('s3-store.js', dist).href);
const { RotatingCredentials } = await import(new URL('rotating-credentials.js', dist).href);

let rgwDir;
let env = process.env;
if (!env.S3_ENDPOINT || !env.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY) {
  rgwDir = join(await mkdtemp(join(tmpdir(), 'store-cpu-')), 'rgw');
  env = await startRgw(rgwDir, Math.ceil((objectBytes * 3) / MiB) + 1024);
}
try {
  await main(env);
} finally {
  if (rgwDir) await stopRgw(rgwDir);
}

async function main(env) {
  const region = env.AWS_REGION ?? 'us-east-1';
  const bucket = `store-cpu-${Date.now()}`;
  const credentials = { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY };
  const sdk = new S3Client({ region, endpoint: env.S3_ENDPOINT, forcePathStyle: true, credentials });
  await sdk.send(new CreateBucketCommand({ Bucket: bucket }));
  const body = Buffer.alloc(objectBytes);
  for (let i = 0; i < body.length; i += 4) body.writeUInt32LE((i * 2654435761) >>> 0, i);
  const put = await sdk.send(new PutObjectCommand({ Bucket: bucket, Key: 'big.bin', Body: body }));
  // The folder to list: names as a dataset has them, sizes small and varied.
  let nextKey = 0;
  const putKeys = async () => {
    while (nextKey < listKeys) {
      const i = nextKey++;
      await sdk.send(new PutObjectCommand({ Bucket: bucket, Key: `many/part-${String(i).padStart(6, '0')}.parquet`, Body: Buffer.alloc(i % 97) }));
    }
  };
  await Promise.all(Array.from({ length: 16 }, putKeys));
  sdk.destroy();
  const etag = put.ETag;

  // The agent's credentials: RotatingCredentials around a loader, as src/mount/buckets.ts does.
  const rotating = new RotatingCredentials(async () => credentials, 60_000);
  const stores = Object.fromEntries(
    ['sdk', 'lean'].map((dataPath) => [
      dataPath,
      new S3Store({ bucket, endpoint: env.S3_ENDPOINT, region, pathStyle: true, credentials: rotating.provider, requestTimeoutMs: 30_000, dataPath }),
    ]),
  );

  const parts = Math.floor(objectBytes / partBytes);
  async function readGiB(store, parallel) {
    const count = Math.round(totalBytes / partBytes);
    let next = 0;
    let got = 0;
    const worker = async () => {
      while (next < count) {
        const start = ((next++ * 7) % parts) * partBytes;
        await store.readRange({ key: 'big.bin', start, end: start + partBytes, etag }, (chunk) => (got += chunk.length));
      }
    };
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: parallel }, worker));
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    if (got !== count * partBytes) throw new Error(`read ${got} bytes, expected ${count * partBytes}`);
    const gib = got / GiB;
    return { cpuPerGiB: (cpu.user + cpu.system) / 1e6 / gib, userPerGiB: cpu.user / 1e6 / gib, mbps: got / 1e6 / (ms / 1000) };
  }

  // Warm-up: connections open, JIT, signing keys cached.
  if (totalBytes > 0) for (const store of Object.values(stores)) for (const p of parallels) await readGiB(store, p);

  const results = {};
  for (let r = 0; r < rounds && totalBytes > 0; r++) {
    const order = r % 2 === 0 ? ['sdk', 'lean'] : ['lean', 'sdk'];
    for (const p of parallels) {
      for (const path of order) {
        const res = await readGiB(stores[path], p);
        (results[`${path} ${p}`] ??= []).push(res);
        process.stderr.write(`round ${r + 1} ${path} ×${p}: ${res.cpuPerGiB.toFixed(2)} s CPU/GiB, ${res.mbps.toFixed(0)} MB/s\n`);
      }
    }
  }
  // HEADs: CPU per 1,000, one at a time (what a stat of an uncached file costs).
  const heads = {};
  async function headMany(store, n) {
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < n; i++) if ((await store.head('big.bin'))?.size !== objectBytes) throw new Error('HEAD: wrong size');
    const cpu = process.cpuUsage(cpu0);
    return ((cpu.user + cpu.system) / 1e6) * (1000 / n);
  }
  if (headCount > 0) for (const store of Object.values(stores)) await headMany(store, 200);
  for (let r = 0; r < rounds && headCount > 0; r++) {
    for (const path of r % 2 === 0 ? ['sdk', 'lean'] : ['lean', 'sdk']) {
      const perK = await headMany(stores[path], headCount);
      (heads[path] ??= []).push(perK);
      process.stderr.write(`round ${r + 1} ${path} HEAD: ${perK.toFixed(2)} s CPU per 1,000\n`);
    }
  }
  // LIST: the whole folder, page after page, as a readdir of it does: CPU per 1,000 keys.
  const lists = {};
  async function listFolder(store) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let keys = 0;
    let pages = 0;
    let token;
    do {
      const page = await store.list({ prefix: 'many/', delimiter: '/', maxKeys: 1000, ...(token ? { continuationToken: token } : {}) });
      keys += page.objects.length;
      pages++;
      token = page.nextToken;
    } while (token);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    if (keys !== listKeys) throw new Error(`LIST: ${keys} keys, expected ${listKeys}`);
    return { cpuPerK: ((cpu.user + cpu.system) / 1e6) * (1000 / keys), msPerPage: ms / pages };
  }
  if (listKeys > 0) for (const store of Object.values(stores)) await listFolder(store);
  for (let r = 0; r < rounds && listKeys > 0; r++) {
    for (const path of r % 2 === 0 ? ['sdk', 'lean'] : ['lean', 'sdk']) {
      const res = await listFolder(stores[path]);
      (lists[path] ??= []).push(res);
      process.stderr.write(`round ${r + 1} ${path} LIST: ${(res.cpuPerK * 1000).toFixed(1)} ms CPU per 1,000 keys, ${res.msPerPage.toFixed(1)} ms per page\n`);
    }
  }
  for (const store of Object.values(stores)) store.destroy();

  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const gets = totalBytes > 0 ? `, ${args.gib} GiB each, ${args['part-mib']} MiB ranged GETs` : '';
  console.log(`\n${rounds} rounds${gets}, node ${process.version}\n`);
  if (totalBytes > 0)
    console.log('| path | parallel GETs | CPU s/GiB (median) | of which user | MB/s (median) | lean/sdk CPU |\n|---|---:|---:|---:|---:|---:|');
  for (const p of totalBytes > 0 ? parallels : []) {
    const base = median(results[`sdk ${p}`].map((x) => x.cpuPerGiB));
    for (const path of ['sdk', 'lean']) {
      const xs = results[`${path} ${p}`];
      const cpu = median(xs.map((x) => x.cpuPerGiB));
      const row = [path === 'sdk' ? 'SDK (GetObjectCommand)' : 'lean (undici + SigV4)', p, cpu.toFixed(2), median(xs.map((x) => x.userPerGiB)).toFixed(2)];
      row.push(median(xs.map((x) => x.mbps)).toFixed(0), path === 'sdk' ? '' : `${(cpu / base).toFixed(2)}×`);
      console.log(`| ${row.join(' | ')} |`);
    }
  }
  if (headCount > 0) {
    const sdkHead = median(heads.sdk);
    const leanHead = median(heads.lean);
    console.log(`\n| HEAD, one at a time | CPU s per 1,000 (median) |\n|---|---:|`);
    console.log(
      `| SDK (HeadObjectCommand) | ${sdkHead.toFixed(2)} |\n| lean (undici + SigV4) | ${leanHead.toFixed(2)} (${(leanHead / sdkHead).toFixed(2)}×) |`,
    );
  }
  if (listKeys > 0) {
    const cpu = (path) => median(lists[path].map((x) => x.cpuPerK)) * 1000;
    const page = (path) => median(lists[path].map((x) => x.msPerPage));
    console.log(
      `\n| LIST of ${listKeys.toLocaleString('en')} keys, pages of 1,000 | CPU ms per 1,000 keys (median) | ms per page (median) | lean/SDK CPU |\n|---|---:|---:|---:|`,
    );
    console.log(`| SDK (ListObjectsV2Command) | ${cpu('sdk').toFixed(1)} | ${page('sdk').toFixed(1)} | |`);
    console.log(
      `| lean (undici + SigV4 + list-page.ts) | ${cpu('lean').toFixed(1)} | ${page('lean').toFixed(1)} | ${(cpu('lean') / cpu('sdk')).toFixed(2)}× |`,
    );
  }
}
