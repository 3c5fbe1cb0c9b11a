// One epoch over the disk-cache bench's data set (child process): CONCURRENCY readers take
// files from one queue, the big files first (so each big file has a reader of its own), then
// the small files, shared by whoever is free. Every file is read completely (1 MiB reads) and
// checked against the manifest's per-MiB CRC-32s.
//
//   node bench/readers/epoch.mjs MANIFEST MOUNTPOINT CONCURRENCY
//   stdout: {"files":n,"bytes":n,"ms":n,"bigMs":n,"smallMs":n}
// bigMs / smallMs: when the last big / small file was done, from the start. Run with
// UV_THREADPOOL_SIZE > CONCURRENCY: each blocked read holds a libuv thread.
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ChunkChecker } from '../lib/verify.mjs';

const [manifestPath, mnt, concurrency] = process.argv.slice(2);
const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
const jobs = [...manifest.big.map((o) => ({ o, big: true })), ...manifest.small.map((o) => ({ o, big: false }))];
const t0 = performance.now();
let next = 0;
let bytes = 0;
let bigMs = 0;
let smallMs = 0;

async function readWhole(obj, buf) {
  const check = new ChunkChecker(obj, manifest.chunk);
  const fh = await open(join(mnt, obj.key), 'r');
  try {
    for (let pos = 0; ;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      check.push(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
  check.end();
  return check.bytes;
}

async function reader() {
  const buf = Buffer.allocUnsafe(manifest.chunk);
  while (next < jobs.length) {
    const { o, big } = jobs[next++];
    const n = await readWhole(o, buf);
    bytes += n;
    const at = performance.now() - t0;
    if (big) bigMs = Math.max(bigMs, at);
    else smallMs = Math.max(smallMs, at);
  }
}

await Promise.all(Array.from({ length: Number(concurrency) }, reader));
process.stdout.write(`${JSON.stringify({ files: jobs.length, bytes, ms: performance.now() - t0, bigMs, smallMs })}\n`);
