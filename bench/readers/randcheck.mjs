// Random-read byte check (child process): after fio has measured the random reads (fio
// cannot check bytes it did not write), read COUNT random BS-sized blocks of the file and
// compare each with the known content. Not timed.
//
//   node bench/readers/randcheck.mjs MOUNTPOINT KEY SIZE BS COUNT    stdout: {"checked":n}
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { expectedBytes } from '../lib/content.mjs';

const [mnt, key, sizeS, bsS, countS] = process.argv.slice(2);
const [size, bs, count] = [Number(sizeS), Number(bsS), Number(countS)];
const fh = await open(join(mnt, key), 'r');
const buf = Buffer.alloc(bs);
try {
  for (let i = 0; i < count; i++) {
    const off = Math.floor(Math.random() * (size / bs)) * bs;
    const { bytesRead } = await fh.read(buf, 0, bs, off);
    if (bytesRead !== bs || !buf.equals(expectedBytes(key, off, bs))) {
      throw new Error(`${key}: ${bs} bytes at ${off} differ from the known content (read ${bytesRead})`);
    }
  }
} finally {
  await fh.close();
}
process.stdout.write(`${JSON.stringify({ checked: count })}\n`);
