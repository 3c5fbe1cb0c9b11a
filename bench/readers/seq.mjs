// Sequential reader (child process): reads whole files in 1 MiB requests, like `dd bs=1M`,
// checking every MiB against the manifest as it goes. Several files are read at once, one
// stream each, when several are named (the 4-parallel-readers workload).
//
//   node bench/readers/seq.mjs MANIFEST MOUNTPOINT KEY...
//   stdout: {"bytes":n,"ms":n,"files":[{"key","bytes","ms"}]}
//
// Each stream keeps one read in flight and checksums the previous MiB meanwhile (two
// buffers), so the check costs the reader no time unless the CPU is saturated.
// Run with UV_THREADPOOL_SIZE >= the number of files (reads block a libuv thread each).
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ChunkChecker } from '../lib/verify.mjs';

const [manifestPath, mnt, ...keys] = process.argv.slice(2);
const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
const byKey = new Map([manifest.seq, ...manifest.par].map((o) => [o.key, o]));
const CHUNK = manifest.chunk;

async function fill(fh, buf, pos, len) {
  let n = 0;
  while (n < len) {
    const { bytesRead } = await fh.read(buf, n, len - n, pos + n);
    if (bytesRead === 0) break;
    n += bytesRead;
  }
  return n;
}

async function readOne(key) {
  const obj = byKey.get(key);
  if (!obj) throw new Error(`${key} is not in the manifest`);
  const t0 = performance.now();
  const fh = await open(join(mnt, key), 'r');
  try {
    const check = new ChunkChecker(obj, CHUNK);
    const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
    let pos = 0;
    let i = 0;
    let pending = fill(fh, bufs[0], 0, CHUNK);
    for (;;) {
      const n = await pending;
      const buf = bufs[i % 2];
      if (n === 0) break;
      pos += n;
      i++;
      pending = fill(fh, bufs[i % 2], pos, CHUNK);
      check.push(buf.subarray(0, n));
    }
    check.end();
    return { key, bytes: pos, ms: performance.now() - t0 };
  } finally {
    await fh.close();
  }
}

const t0 = performance.now();
const files = await Promise.all(keys.map(readOne));
const ms = performance.now() - t0;
process.stdout.write(`${JSON.stringify({ bytes: files.reduce((n, f) => n + f.bytes, 0), ms, files })}\n`);
