/**
 * getattr of a file still open under a removed mount: the kernel asks by path even for fstat, and
 * tools such as `cat` fstat their input before reading, so the open file must keep answering.
 */
import t from 'tap';
import { constants } from 'node:fs';
import { MemoryStore, ramp } from '../helpers/memory-store.js';
import { KiB, testFilesystem, testMount } from '../helpers/test-filesystem.js';
import { errnoName } from '../../../src/fs/errno.js';

const outcome = (p: Promise<unknown>) => p.then(() => 'ok', errnoName);

t.test('an open file of a removed mount answers getattr until closed, ESTALE after the grace; other names are gone', async (t) => {
  const data = ramp(300 * KiB, 3);
  const store = new MemoryStore();
  store.put('d/f.bin', data);
  store.put('d/other.bin', 'x');
  const { fs, advance } = testFilesystem({ buckets: [{ store, mount: { name: 'gone', folder: ['gone'], fileMode: 0o440 } }] });
  const fd = await fs.open('/gone/d/f.bin', constants.O_RDONLY);
  const before = await fs.getattr('/gone/d/f.bin');

  fs.removeBucket('gone', 10_000);
  const after = await fs.getattr('/gone/d/f.bin');
  t.same({ size: after.size, mode: after.mode, mtime: after.mtime }, { size: data.length, mode: 0o100440, mtime: before.mtime }, 'the open file still answers');
  t.equal(await outcome(fs.getattr('/gone/d/other.bin')), 'ENOENT', 'a name not open is gone');
  t.equal(await outcome(fs.getattr('/gone/d')), 'ENOENT', 'so is its folder');
  t.same((await fs.readdir('/')).names, [], 'and the listing');
  advance(10_000);
  t.equal(await outcome(fs.getattr('/gone/d/f.bin')), 'ESTALE', 'stale after the grace');
  fs.release(fd);
  t.equal(await outcome(fs.getattr('/gone/d/f.bin')), 'ENOENT', 'closed: gone');
});

t.test('replaced by a bucket without that name: the file open on the old one still answers', async (t) => {
  const old = new MemoryStore();
  old.put('f.txt', 'old bytes');
  const { fs } = testFilesystem({ buckets: [{ store: old, mount: { name: 'm', folder: ['m'] } }] });
  const fd = await fs.open('/m/f.txt', constants.O_RDONLY);
  fs.putBucket({ state: 'serving', mount: testMount('m', { folder: ['m'], bucket: 'new' }), store: new MemoryStore() });
  t.equal((await fs.getattr('/m/f.txt')).size, 9);
  fs.release(fd);
  t.equal(await outcome(fs.getattr('/m/f.txt')), 'ENOENT');
});
