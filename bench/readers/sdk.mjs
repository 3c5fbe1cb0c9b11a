// The ceiling (child process): the same object read with plain @aws-sdk/client-s3 GETs,
// bodies consumed and checked exactly like the mount readers check theirs.
//
//   node bench/readers/sdk.mjs MANIFEST stream            one GET of the whole object
//   node bench/readers/sdk.mjs MANIFEST parts N PART_MIB  N workers fetch PART-sized ranges
//   node bench/readers/sdk.mjs MANIFEST ttfb TRIES        a warm connection's 4 KiB ranged GET
//   node bench/readers/sdk.mjs MANIFEST ranged SIZE TRIES a warm connection's SIZE-byte GETs at
//                                                         random SIZE-aligned offsets (fio's pattern)
// S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY come from the environment (the
// endpoint is the slow-link proxy in that mode).
//   stdout: {"bytes":n,"ms":n,"cpuS":n,"cpuNetS":n} or {"ms":median,"all":[…]} for ttfb and ranged
// cpuS: this process's CPU (user + sys, all threads) over the reads; cpuNetS: the same less the
// CPU spent in the CRC check, which the mount readers pay in their own process.
import { readFile } from 'node:fs/promises';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { MiB, expectedBytes } from '../lib/content.mjs';
import { s3Client, s3FromEnv } from '../lib/s3.mjs';
import { ChunkChecker } from '../lib/verify.mjs';

const [manifestPath, mode, a, b] = process.argv.slice(2);
const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
const { bucket: Bucket, seq: obj, chunk } = manifest;
const s3 = s3Client(s3FromEnv());

let checkMicros = 0;
const cpuMicros = (u) => u.user + u.system;

async function getRange(start, end, checker) {
  const r = await s3.send(new GetObjectCommand({ Bucket, Key: obj.key, Range: `bytes=${start}-${end - 1}` }));
  for await (const piece of r.Body) {
    const c0 = process.cpuUsage();
    checker.push(piece);
    checkMicros += cpuMicros(process.cpuUsage(c0));
  }
  checker.end(end);
}

/** Runs fn and adds its CPU figures to out. */
async function measured(out, fn) {
  checkMicros = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  const cpu = cpuMicros(process.cpuUsage(c0));
  Object.assign(out, { ms, cpuS: cpu / 1e6, cpuNetS: (cpu - checkMicros) / 1e6, checkS: checkMicros / 1e6 });
}

const out = {};
if (mode === 'stream') {
  await measured(out, () => getRange(0, obj.size, new ChunkChecker(obj, chunk, 0)));
  out.bytes = obj.size;
} else if (mode === 'parts') {
  const [streams, part] = [Number(a), Number(b) * MiB];
  let next = 0;
  const worker = async () => {
    for (let start; (start = next * part) < obj.size;) {
      next++;
      const end = Math.min(start + part, obj.size);
      await getRange(start, end, new ChunkChecker(obj, chunk, start));
    }
  };
  await measured(out, () => Promise.all(Array.from({ length: streams }, worker)));
  Object.assign(out, { bytes: obj.size, streams });
} else if (mode === 'ttfb') {
  // connection already open (as a mounted client's would be): one request's latency
  await s3.send(new HeadObjectCommand({ Bucket, Key: obj.key }));
  const all = [];
  for (let i = 0; i < Number(a); i++) {
    const t0 = performance.now();
    const r = await s3.send(new GetObjectCommand({ Bucket, Key: obj.key, Range: 'bytes=0-4095' }));
    const body = Buffer.from(await r.Body.transformToByteArray());
    all.push(performance.now() - t0);
    if (!body.equals(expectedBytes(obj.key, 0, 4096))) throw new Error('ttfb: the first 4 KiB differ from the known content');
  }
  const sorted = [...all].sort((x, y) => x - y);
  Object.assign(out, { ms: sorted[Math.floor(sorted.length / 2)], all });
} else if (mode === 'ranged') {
  const [size, tries] = [Number(a), Number(b)];
  await s3.send(new HeadObjectCommand({ Bucket, Key: obj.key }));
  const all = [];
  for (let i = 0; i < tries; i++) {
    const off = Math.floor(Math.random() * Math.floor(obj.size / size)) * size;
    const t0 = performance.now();
    const r = await s3.send(new GetObjectCommand({ Bucket, Key: obj.key, Range: `bytes=${off}-${off + size - 1}` }));
    const body = Buffer.from(await r.Body.transformToByteArray());
    all.push(performance.now() - t0);
    if (!body.equals(expectedBytes(obj.key, off, size))) throw new Error(`ranged: ${size} bytes at ${off} differ from the known content`);
  }
  const sorted = [...all].sort((x, y) => x - y);
  Object.assign(out, { ms: sorted[Math.floor(sorted.length / 2)], size, all });
} else {
  console.error('usage: sdk.mjs MANIFEST stream | parts N PART_MIB | ttfb TRIES | ranged SIZE TRIES');
  process.exit(2);
}
s3.destroy();
process.stdout.write(`${JSON.stringify(out)}\n`);
