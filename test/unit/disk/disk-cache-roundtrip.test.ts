import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { BS, blockBytes, blockFiles, filesUnder, keyOf, open } from './helpers/disk-fixture.js';

t.test('put then get: the same bytes; files 0600, folders 0700', async (t) => {
  const dir = t.testdir();
  const c = await open(dir);
  await c.whenIndexed();
  const k = keyOf('data/train-00001.parquet');
  c.put(k, 0, blockBytes(0));
  c.put(k, 5, [blockBytes(5).subarray(0, 100), blockBytes(5).subarray(100)]);
  await c.flush();
  t.ok((await c.get(k, 0))?.equals(blockBytes(0)), 'block 0 byte-exact');
  t.ok((await c.get(k, 5))?.equals(blockBytes(5)), 'block 5, put as two chunks, byte-exact');
  t.equal(await c.get(k, 6), undefined, 'a block never put is a miss');
  const files = filesUnder(dir);
  t.equal(files.length, 2);
  t.same(new Set(files.map((f) => f.mode)), new Set([0o600]), 'files are 0600');
  t.equal(fs.statSync(c.root).mode & 0o777, 0o700, 'the source folder is 0700');
  t.equal(fs.statSync(path.dirname(files[0]!.file)).mode & 0o777, 0o700, 'subfolders are 0700');
  t.match(c.stats(), { hits: 2, misses: 1, writes: 2, bytesWritten: 2 * BS, bytesRead: 2 * BS, files: 2, errors: 0, corrupt: 0 });
  t.ok(c.stats().usedBytes > 2 * BS && c.stats().usedBytes <= 2 * BS + 2 * fs.statfsSync(dir).bsize, 'usage counts headers, in whole filesystem blocks');
  await c.close();
});

t.test('another etag, size, key, store or index never hits', async (t) => {
  const dir = t.testdir();
  const c = await open(dir);
  await c.whenIndexed();
  const k = keyOf('a.bin');
  c.put(k, 1, blockBytes(1));
  await c.flush();
  t.equal(await c.get({ ...k, etag: '"e2"' }, 1), undefined, 'another etag (the object was overwritten)');
  t.equal(await c.get({ ...k, size: k.size + BS }, 1), undefined, 'another size');
  t.equal(await c.get({ ...k, key: 'b.bin' }, 1), undefined, 'another key');
  t.equal(await c.get({ ...k, store: 's3://bucket@http://other:9000' }, 1), undefined, 'another endpoint');
  t.equal(await c.get(k, 2), undefined, 'another block');
  t.ok(await c.get(k, 1), 'the block itself still hits');
  await c.close();
});

t.test('only whole blocks are cached: a short or long put is ignored; the last block of an object may be short', async (t) => {
  const dir = t.testdir();
  const c = await open(dir);
  await c.whenIndexed();
  const k = keyOf('x');
  c.put(k, 0, blockBytes(0).subarray(1));
  c.put(k, 1, Buffer.concat([blockBytes(1), Buffer.from([1])]));
  c.put(k, 99, blockBytes(0));
  const odd = { ...k, size: 2 * BS + 10 };
  c.put(odd, 2, blockBytes(2).subarray(0, 10));
  await c.flush();
  t.equal(blockFiles(dir).length, 1, 'only the tail block of the odd-sized object');
  t.ok((await c.get(odd, 2))?.equals(blockBytes(2).subarray(0, 10)));
  await c.close();
});

t.test('two sources never share a folder; the folder names no source', async (t) => {
  const dir = t.testdir();
  const a = await open(dir, { sourceId: 'http://minio:9000/bucket' });
  const b = await open(dir, { sourceId: 'http://minio:9000/bucket2' });
  t.not(a.root, b.root);
  t.equal(path.dirname(a.root), dir);
  t.notMatch(path.basename(a.root), /minio|bucket/);
  const k = keyOf('same-key');
  await a.whenIndexed();
  a.put(k, 0, blockBytes(0));
  await a.flush();
  await b.whenIndexed();
  t.equal(await b.get(k, 0), undefined, 'b does not see a block of a');
  t.ok(await a.get(k, 0));
  await a.close();
  await b.close();
});

t.test('close: queued blocks are dropped, the write under way ends, no files half-written', async (t) => {
  const dir = t.testdir();
  const c = await open(dir);
  await c.whenIndexed();
  const k = keyOf('y', 64);
  for (let i = 0; i < 20; i++) c.put(k, i, blockBytes(i));
  await c.close();
  await c.close();
  const files = filesUnder(dir);
  t.ok(
    files.every((f) => f.file.endsWith('.blk')),
    'no temporary files',
  );
  t.ok(files.length < 20, `some blocks dropped (${files.length} written)`);
  t.equal(await c.get(k, 0), undefined, 'a closed cache answers nothing');
  c.put(k, 30, blockBytes(30));
  t.equal(blockFiles(dir).length, files.length, 'nor writes');
});

t.test('a full queue drops blocks instead of buffering them', async (t) => {
  const dir = t.testdir();
  const c = await open(dir, { maxQueueBytes: 3 * BS });
  await c.whenIndexed();
  const k = keyOf('z', 64);
  for (let i = 0; i < 10; i++) c.put(k, i, blockBytes(i));
  // Up to four blocks taken by the writers at once, three waiting: the others dropped.
  t.ok(c.stats().dropped >= 3, `dropped ${c.stats().dropped}`);
  await c.flush();
  t.ok(c.stats().writes <= 7, `written ${c.stats().writes}`);
  await c.close();
});

t.test('invalid options throw, naming the option', async (t) => {
  await t.rejects(open(t.testdir(), { budgetBytes: 0 }), /budgetBytes/);
  await t.rejects(open(t.testdir(), { blockSize: Number.NaN }), /blockSize/);
});
