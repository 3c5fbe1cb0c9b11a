import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { nodeDiskIo, type DiskIo } from '../../../src/disk/disk-io.js';
import { blockBytes, blockFiles, bytesUnder, keyOf, open, spaceOf } from './helpers/disk-fixture.js';

async function previousRun(dir: string, blocks = 8) {
  const c = await open(dir);
  await c.whenIndexed();
  const k = keyOf('epoch.bin', 32);
  for (let i = 0; i < blocks; i++) c.put(k, i, blockBytes(i));
  await c.flush();
  await c.close();
  return k;
}

t.test('a new instance on the same folder finds the blocks of the last one, and serves them', async (t) => {
  const dir = t.testdir();
  const k = await previousRun(dir);
  const c = await open(dir);
  await c.whenIndexed();
  t.match(c.stats(), { files: 8, indexing: false });
  t.equal(c.stats().usedBytes, bytesUnder(dir));
  for (let i = 0; i < 8; i++) t.ok((await c.get(k, i))?.equals(blockBytes(i)), `block ${i}`);
  t.equal(c.stats().hits, 8);
  await c.close();
});

t.test('ready at once: while the index is rebuilt, a get finds its block on disk; puts wait for the index', async (t) => {
  const dir = t.testdir();
  const k = await previousRun(dir);
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  // The scan's stat calls are held until the test lets them go.
  const io: DiskIo = {
    ...nodeDiskIo,
    stat: async (f) => {
      await gate;
      return nodeDiskIo.stat(f);
    },
  };
  const c = await open(dir, { io });
  t.equal(c.stats().indexing, true);
  t.ok((await c.get(k, 3))?.equals(blockBytes(3)), 'a hit before the index is complete');
  t.equal(await c.get(k, 20), undefined, 'and a miss is a miss');
  c.put(k, 20, blockBytes(20));
  t.equal(c.stats().dropped, 1, 'a put during the rebuild is dropped: the budget does not yet know what is on disk');
  release();
  await c.whenIndexed();
  t.match(c.stats(), { files: 8, indexing: false, hits: 1 });
  t.equal(c.stats().usedBytes, bytesUnder(dir), 'the block found early is counted once');
  await c.close();
});

t.test('the rebuild removes its own leftover temporary files, never anything else, and evicts down to a smaller budget', async (t) => {
  const dir = t.testdir();
  const k = await previousRun(dir);
  const c0 = await open(dir);
  const [first] = blockFiles(dir);
  const sub = path.dirname(first!);
  const temp = `${first}.3.tmp`;
  fs.writeFileSync(temp, 'half a block');
  const foreign = [path.join(sub, 'notes.txt'), path.join(c0.root, 'README'), path.join(dir, 'other-app.dat')];
  for (const f of foreign) fs.writeFileSync(f, 'not ours');
  await c0.close();
  const oneFile = spaceOf(dir, fs.statSync(first!).size);
  const c = await open(dir, { budgetBytes: 5 * oneFile });
  await c.whenIndexed();
  t.notOk(fs.existsSync(temp), 'the temporary file is gone');
  for (const f of foreign) t.ok(fs.existsSync(f), `${path.basename(f)} is untouched`);
  t.equal(c.stats().files, 5);
  t.equal(blockFiles(dir).length, 5);
  t.equal(c.stats().evictions, 3);
  let hits = 0;
  for (let i = 0; i < 8; i++) if (await c.get(k, i)) hits++;
  t.equal(hits, 5);
  await c.close();
});
