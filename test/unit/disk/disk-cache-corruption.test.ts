import fs from 'node:fs';
import t, { type Test } from 'tap';
import { encodeHeader } from '../../../src/disk/block-file.js';
import { identityOf } from '../../../src/disk/disk-key.js';
import { BS, blockBytes, blockFiles, keyOf, open } from './helpers/disk-fixture.js';

async function withOneBlock(t: Test) {
  const dir = t.testdir();
  const c = await open(dir);
  await c.whenIndexed();
  const k = keyOf('img/0001.jpg');
  c.put(k, 2, blockBytes(2));
  await c.flush();
  const [file] = blockFiles(dir);
  t.ok(file);
  return { c, k, file: file! };
}

const damage: [string, (f: string) => void][] = [
  [
    'a flipped byte',
    (f) => {
      const b = fs.readFileSync(f);
      b[b.length - 1000] = (b[b.length - 1000] as number) ^ 0x10;
      fs.writeFileSync(f, b);
    },
  ],
  ['a truncated file', (f) => fs.truncateSync(f, fs.statSync(f).size - 1)],
  ['an empty file', (f) => fs.truncateSync(f, 0)],
  ['a byte appended', (f) => fs.appendFileSync(f, Buffer.from([0]))],
  [
    'a wrong header (another object’s block under this name)',
    (f) => {
      const id = identityOf(keyOf('img/0002.jpg'), BS);
      const data = blockBytes(2);
      fs.writeFileSync(f, Buffer.concat([encodeHeader(id, 2, [data]), data]));
    },
  ],
];

for (const [what, hurt] of damage) {
  t.test(`${what}: a miss, the file deleted, counted; the block can be written again`, async (t) => {
    const { c, k, file } = await withOneBlock(t);
    hurt(file);
    t.equal(await c.get(k, 2), undefined);
    t.notOk(fs.existsSync(file), 'the file is gone');
    t.match(c.stats(), { corrupt: 1, hits: 0, misses: 1, files: 0, usedBytes: 0, errors: 0 });
    c.put(k, 2, blockBytes(2));
    await c.flush();
    t.ok((await c.get(k, 2))?.equals(blockBytes(2)), 'refilled, byte-exact');
    await c.close();
  });
}

t.test('a file removed behind the cache’s back is a plain miss, and leaves the index', async (t) => {
  const { c, k, file } = await withOneBlock(t);
  fs.unlinkSync(file);
  t.equal(await c.get(k, 2), undefined);
  t.match(c.stats(), { corrupt: 0, errors: 0, files: 0, usedBytes: 0 });
  await c.close();
});
