// Time to first byte (child process): open a file and read its first 4 KiB, timing both.
// Run on a fresh mount with a cold page cache, so the time includes the lookup and the
// first GET the client needs.
//
//   node bench/readers/ttfb.mjs MOUNTPOINT KEY    stdout: {"openMs":n,"ms":n}
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { expectedBytes } from '../lib/content.mjs';

const [mnt, key] = process.argv.slice(2);
const buf = Buffer.alloc(4096);
const t0 = performance.now();
const fh = await open(join(mnt, key), 'r');
const t1 = performance.now();
const { bytesRead } = await fh.read(buf, 0, 4096, 0);
const t2 = performance.now();
await fh.close();
if (bytesRead !== 4096 || !buf.equals(expectedBytes(key, 0, 4096))) {
  console.error(`${key}: the first 4 KiB differ from the known content (read ${bytesRead} bytes)`);
  process.exit(1);
}
process.stdout.write(`${JSON.stringify({ openMs: t1 - t0, ms: t2 - t0 })}\n`);
