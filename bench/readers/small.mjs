// Many small files (child process): CONCURRENCY readers share the list of the manifest's
// small files; each opens a file, reads it to EOF, checks its CRC, closes it.
//
//   node bench/readers/small.mjs MANIFEST MOUNTPOINT CONCURRENCY
//   stdout: {"files":n,"bytes":n,"ms":n}
// Run with UV_THREADPOOL_SIZE > CONCURRENCY: each blocked open/read holds a libuv thread, and
// the default 4 threads would cap the readers at 4.
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

const [manifestPath, mnt, concurrency] = process.argv.slice(2);
const { small } = JSON.parse(await readFile(manifestPath, 'utf8'));
let next = 0;
let bytes = 0;

async function reader() {
  const buf = Buffer.allocUnsafe(1024 * 1024);
  while (next < small.length) {
    const obj = small[next++];
    const fh = await open(join(mnt, obj.key), 'r');
    let n = 0;
    try {
      for (;;) {
        const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
    } finally {
      await fh.close();
    }
    if (n !== obj.size || crc32(buf.subarray(0, n)) !== obj.crcs[0]) {
      throw new Error(`${obj.key}: ${n} bytes that differ from the known content (${obj.size} bytes)`);
    }
    bytes += n;
  }
}

const t0 = performance.now();
await Promise.all(Array.from({ length: Number(concurrency) }, reader));
process.stdout.write(`${JSON.stringify({ files: small.length, bytes, ms: performance.now() - t0 })}\n`);
