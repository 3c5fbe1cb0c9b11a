import t from 'tap';
import { decodeBlock, encodeHeader, fileBytes } from '../../../src/disk/block-file.js';
import { identityOf } from '../../../src/disk/disk-key.js';
import { BS, blockBytes, keyOf } from './helpers/disk-fixture.js';

const id = identityOf(keyOf('a/b.bin'), BS);
const data = blockBytes(3);
const file = (chunks: Buffer[] = [data.subarray(0, 1000), data.subarray(1000)]) => Buffer.concat([encodeHeader(id, 3, chunks), ...chunks]);

t.test('a block written in chunks reads back byte-exact, as one view', async (t) => {
  const f = file();
  t.equal(f.length, fileBytes(id, data.length));
  const out = decodeBlock(f, id, 3, BS);
  t.ok(Buffer.isBuffer(out) && out.equals(data));
});

t.test('every check: a file that is not exactly this block is refused, with the reason', async (t) => {
  const f = file();
  const flip = (at: number) => {
    const c = Buffer.from(f);
    c[at] = (c[at] as number) ^ 1;
    return c;
  };
  t.equal(decodeBlock(flip(f.length - 1), id, 3, BS), 'checksum', 'a flipped data byte');
  t.equal(decodeBlock(flip(24), id, 3, BS), 'checksum', 'a flipped checksum byte');
  t.equal(decodeBlock(f.subarray(0, f.length - 1), id, 3, BS), `file of ${f.length - 1} bytes, ${f.length} expected`, 'truncated');
  t.equal(decodeBlock(f.subarray(0, 10), id, 3, BS), 'shorter than a header');
  t.equal(decodeBlock(Buffer.concat([f, Buffer.from([0])]), id, 3, BS), `file of ${f.length + 1} bytes, ${f.length} expected`, 'a byte too many');
  t.equal(decodeBlock(flip(0), id, 3, BS), 'bad magic');
  t.equal(decodeBlock(flip(4), id, 3, BS), 'version 0');
  t.equal(decodeBlock(f, id, 4, BS), 'another block');
  t.equal(decodeBlock(f, id, 3, BS - 1), `data length ${BS}, ${BS - 1} expected`);
  t.equal(decodeBlock(f, identityOf(keyOf('a/b.bin', 16, '"e2"'), BS), 3, BS), 'another object', 'another etag, same length');
  t.equal(decodeBlock(f, identityOf(keyOf('a/b.bin', 160), BS), 3, BS), 'header length', 'another size');
});
