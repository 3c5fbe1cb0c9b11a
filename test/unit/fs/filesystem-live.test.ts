/**
 * Buckets added, removed, replaced and retuned while the filesystem serves (a config reload):
 * folders appear and vanish in one step, files already open keep reading their bytes until they
 * are released or the grace ends (then ESTALE), every retired store is destroyed exactly once,
 * and df follows the serving buckets.
 */
import t from 'tap';
import { constants } from 'node:fs';
import { MemoryStore, ramp } from '../helpers/memory-store.js';
import { FaultStore, Gate } from '../helpers/fault-store.js';
import { KiB, MiB, settle, testFilesystem, testMount } from '../helpers/test-filesystem.js';
import { FsError, errnoName } from '../../../src/fs/errno.js';
import { StoreError } from '../../../src/store/store-error.js';
import type { Filesystem } from '../../../src/fs/filesystem.js';

/** A MemoryStore that counts its destroy calls. */
class CountedStore extends MemoryStore {
  destroyed = 0;
  override destroy(): void {
    this.destroyed++;
  }
}

async function errnoOf(op: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof op === 'function' ? op() : op);
    return 'ok';
  } catch (err) {
    return errnoName(err);
  }
}

async function rootNames(fs: Filesystem, path = '/'): Promise<string[]> {
  return (await fs.readdir(path)).names;
}

const usedOf = (s: { blocks: number; bfree: number; frsize: number }): number => (s.blocks - s.bfree) * s.frsize;

t.test('an empty filesystem is an empty root directory, and df counts nothing', async (t) => {
  const { fs } = testFilesystem({ buckets: [] });
  t.same(await rootNames(fs), []);
  const attr = await fs.getattr('/');
  t.equal(attr.mode & 0o170000, 0o040000, 'a directory');
  t.equal(await errnoOf(fs.getattr('/x')), 'ENOENT');
  t.equal(usedOf(await fs.statfs()), 0);
  t.same([...fs.bucketStates()], []);
});

t.test('a bucket added to an empty filesystem: its folder is listed and readable at once', async (t) => {
  const { fs, read } = testFilesystem({ buckets: [] });
  const store = new CountedStore();
  store.put('d/a.txt', 'hello');
  fs.putBucket({ state: 'serving', mount: testMount('one', { folder: ['one'] }), store });
  t.same(await rootNames(fs), ['one']);
  t.same(await rootNames(fs, '/one'), ['d']);
  const fd = await fs.open('/one/d/a.txt', constants.O_RDONLY);
  t.equal((await read(fd, 0, 100)).toString(), 'hello');
  fs.release(fd);
  t.same([...fs.bucketStates()], [['one', 'serving']]);
});

t.test('an unavailable mount: its folder is listed, everything at or below it answers its errno, then it serves', async (t) => {
  const good = new MemoryStore();
  good.put('g.txt', 'good');
  const { fs, read } = testFilesystem({ buckets: [{ store: good, mount: { name: 'good', folder: ['good'] } }] });
  const mount = testMount('late', { folder: ['late'] });
  fs.putBucket({ state: 'unavailable', mount, error: new FsError('EACCES', 'mount "late": secret file /etc/fluid/secrets/late/key does not exist') });
  t.same(await rootNames(fs), ['good', 'late'], 'the folder is listed');
  t.equal(await errnoOf(fs.getattr('/late')), 'EACCES', 'the folder itself');
  t.equal(await errnoOf(fs.readdir('/late')), 'EACCES');
  t.equal(await errnoOf(fs.getattr('/late/x.txt')), 'EACCES', 'below it');
  t.equal(await errnoOf(fs.open('/late/x.txt', constants.O_RDONLY)), 'EACCES');
  try {
    await fs.getattr('/late/x.txt');
  } catch (err) {
    t.match((err as Error).message, /^\/late\/x.txt: mount "late": secret file/, 'the message names the path and the cause');
  }
  t.same(fs.bucketStates().get('late'), 'unavailable');

  fs.putBucket({ state: 'unavailable', mount, error: new FsError('EIO', 'mount "late": endpoint unreachable') });
  t.equal(await errnoOf(fs.getattr('/late/x.txt')), 'EIO', 'a new error replaces the old one');

  const store = new MemoryStore();
  store.put('x.txt', 'at last');
  fs.putBucket({ state: 'serving', mount, store });
  const fd = await fs.open('/late/x.txt', constants.O_RDONLY);
  t.equal((await read(fd, 0, 100)).toString(), 'at last');
  fs.release(fd);
  t.same(fs.bucketStates().get('late'), 'serving');
  t.equal((await fs.getattr('/good/g.txt')).size, 4, 'the other mount served throughout');
});

t.test('an unavailable mount at the root: the root stays a directory, listing it answers the errno', async (t) => {
  const { fs } = testFilesystem({ buckets: [] });
  fs.putBucket({ state: 'unavailable', mount: testMount('only'), error: new FsError('EIO', 'mount "only": no such bucket') });
  t.equal((await fs.getattr('/')).mode & 0o170000, 0o040000);
  t.equal(await errnoOf(fs.readdir('/')), 'EIO');
  t.equal(await errnoOf(fs.getattr('/a')), 'EIO');
});

t.test('removed while a handle is in the middle of a large object: the handle reads the rest byte-exact', async (t) => {
  const data = ramp(24 * MiB, 3);
  const mem = new CountedStore();
  mem.put('big.bin', data);
  mem.put('small.txt', 'small');
  const store = new FaultStore(mem);
  const other = new MemoryStore();
  other.put('o.txt', 'other');
  const { fs, read } = testFilesystem({
    buckets: [
      { store, mount: { name: 'big', folder: ['data', 'big'] } },
      { store: other, mount: { name: 'other', folder: ['data', 'other'] } },
    ],
  });
  const fd = await fs.open('/data/big/big.bin', constants.O_RDONLY);
  const chunk = 128 * KiB;
  const got: Buffer[] = [];
  for (let pos = 0; pos < 4 * MiB; pos += chunk) got.push(await read(fd, pos, chunk));

  // A read on its way when the mount goes: its GET is held until after the removal.
  const gate = new Gate();
  store.inject({ op: 'readRange', times: 1, fault: { kind: 'delay', until: gate.promise } });
  const pending = read(fd, 20 * MiB, chunk);
  await settle();
  fs.removeBucket('big', 60_000);
  t.equal(await errnoOf(fs.getattr('/data/big/small.txt')), 'ENOENT', 'new lookups: ENOENT');
  t.equal(await errnoOf(fs.open('/data/big/big.bin', constants.O_RDONLY)), 'ENOENT', 'new opens: ENOENT, the open file too');
  t.equal((await fs.getattr('/data/big/big.bin')).size, data.length, 'the open file answers getattr by its old path (the kernel fstats by path)');
  t.same(await rootNames(fs, '/data'), ['other'], 'the parent no longer lists it');
  t.same(fs.bucketStates().get('big'), 'draining');
  gate.open();
  t.ok((await pending).equals(data.subarray(20 * MiB, 20 * MiB + chunk)), 'the read in flight got its bytes');

  for (let pos = 4 * MiB; pos < data.length; pos += chunk) got.push(await read(fd, pos, chunk));
  t.ok(Buffer.concat(got).equals(data), 'every byte, in order, after the removal');
  t.equal(mem.destroyed, 0, 'the store lives while a handle reads it');
  fs.release(fd);
  t.equal(mem.destroyed, 1, 'destroyed when its last handle is released');
  t.equal(await errnoOf(fs.getattr('/data/big/big.bin')), 'ENOENT', 'released: its old path leads nowhere');
  t.equal(fs.openHandles, 0);
  t.notOk(fs.bucketStates().has('big'), 'no longer draining');
});

t.test('after the grace time: reads answer ESTALE and the store is destroyed once', async (t) => {
  const data = ramp(8 * MiB, 5);
  const store = new CountedStore();
  store.put('f.bin', data);
  const { fs, read, readOutcome, advance, pendingTimers } = testFilesystem({ buckets: [{ store, mount: { name: 'gone', folder: ['gone'] } }] });
  const fd = await fs.open('/gone/f.bin', constants.O_RDONLY);
  t.ok((await read(fd, 0, 64 * KiB)).equals(data.subarray(0, 64 * KiB)));
  fs.removeBucket('gone', 10_000);
  advance(9_999);
  t.ok((await read(fd, 1 * MiB, 64 * KiB)).equals(data.subarray(1 * MiB, 1 * MiB + 64 * KiB)), 'still within the grace');
  t.equal(store.destroyed, 0);
  advance(1);
  t.equal(store.destroyed, 1, 'destroyed at the end of the grace');
  const r = await readOutcome(fd, 2 * MiB, 64 * KiB);
  t.equal('errno' in r ? r.errno : 'bytes', 'ESTALE');
  if ('error' in r) t.match((r.error as Error).message, /mount "gone" was removed/);
  t.equal('errno' in (await readOutcome(fd, 0, 10)) ? 'ESTALE' : 'bytes', 'ESTALE', 'cached bytes too: the handle is stale');
  t.equal(await errnoOf(fs.getattr('/gone/f.bin')), 'ESTALE', 'and getattr by its old path');
  t.same(fs.bucketStates().get('gone'), 'draining', 'draining while the handle is open');
  fs.release(fd);
  t.equal(store.destroyed, 1, 'not destroyed twice');
  t.equal(fs.openHandles, 0);
  t.equal(pendingTimers(), 0, 'no timer left');
  t.same([...fs.bucketStates()], []);
});

t.test('a bucket removed with no handle open: its store is destroyed at once, no timer', async (t) => {
  const store = new CountedStore();
  const { fs, pendingTimers } = testFilesystem({ buckets: [{ store, mount: { name: 'a', folder: ['a'] } }] });
  fs.removeBucket('a', 60_000);
  t.equal(store.destroyed, 1);
  t.equal(pendingTimers(), 0);
  t.same(await rootNames(fs), []);
  fs.removeBucket('a', 60_000);
  fs.close();
  t.equal(store.destroyed, 1, 'removing twice, and close, destroy nothing more');
});

t.test('replaced by another store: old handles keep the old bytes, new opens get the new', async (t) => {
  const oldData = ramp(3 * MiB, 1);
  const newData = ramp(3 * MiB, 2);
  const oldStore = new CountedStore();
  oldStore.put('f.bin', oldData);
  const newStore = new CountedStore();
  newStore.put('f.bin', newData);
  const { fs, read, advance } = testFilesystem({ buckets: [{ store: oldStore, mount: { name: 'm', folder: ['m'] } }], drainGraceMs: 30_000 });
  const fdOld = await fs.open('/m/f.bin', constants.O_RDONLY);
  t.ok((await read(fdOld, 0, 4 * KiB)).equals(oldData.subarray(0, 4 * KiB)));
  fs.putBucket({ state: 'serving', mount: testMount('m', { folder: ['m'], bucket: 'other' }), store: newStore });
  t.same(await rootNames(fs), ['m'], 'the folder never went away');
  const fdNew = await fs.open('/m/f.bin', constants.O_RDONLY);
  t.ok((await read(fdNew, 0, newData.length)).equals(newData), 'a new open: the new bytes');
  t.ok((await read(fdOld, 0, oldData.length)).equals(oldData), 'the old handle: the old bytes');
  t.same(fs.bucketStates().get('m'), 'serving', 'the live slot wins over its draining predecessor');
  advance(30_000);
  t.equal(oldStore.destroyed, 1, 'the old store ends at the grace (option drainGraceMs)');
  t.equal(newStore.destroyed, 0);
  fs.release(fdOld);
  fs.release(fdNew);
  t.equal(oldStore.destroyed, 1);
  fs.close();
  t.equal(newStore.destroyed, 1);
});

t.test('put again with the same store and prefix: caches and handles stay, nothing destroyed', async (t) => {
  const store = new CountedStore();
  store.put('f.txt', 'same');
  const { fs, read } = testFilesystem({ buckets: [{ store, mount: { name: 'm', folder: ['m'] } }] });
  t.same(await rootNames(fs, '/m'), ['f.txt']);
  const fd = await fs.open('/m/f.txt', constants.O_RDONLY);
  const lists = store.calls.list;
  fs.putBucket({ state: 'serving', mount: testMount('m', { folder: ['moved'], fileMode: 0o400 }), store });
  t.same(await rootNames(fs), ['moved'], 'the folder moved');
  t.same(await rootNames(fs, '/moved'), ['f.txt']);
  t.equal((await fs.getattr('/moved/f.txt')).mode & 0o777, 0o400);
  t.equal(store.calls.list, lists, 'the cached listing answered');
  t.equal((await read(fd, 0, 10)).toString(), 'same');
  t.equal(store.destroyed, 0);
  fs.release(fd);
  t.equal(store.destroyed, 0);
});

t.test('retune: new modes and ownership in getattr and readdir, cached listing kept, handles untouched', async (t) => {
  const store = new MemoryStore();
  store.put('d/f.txt', 'retuned');
  const { fs, read } = testFilesystem({ buckets: [{ store, mount: { name: 'm', folder: ['m'] } }] });
  await fs.readdir('/m');
  await fs.readdir('/m/d');
  t.equal((await fs.getattr('/m/d/f.txt')).mode & 0o777, 0o444);
  const fd = await fs.open('/m/d/f.txt', constants.O_RDONLY);
  t.equal((await read(fd, 0, 100)).toString(), 'retuned');
  const calls = { ...store.calls };
  fs.retuneBucket(testMount('m', { folder: ['m'], fileMode: 0o440, dirMode: 0o750, uid: 42, gid: 43, statCacheTtlMs: 1_000 }));
  const attr = await fs.getattr('/m/d/f.txt');
  t.equal(attr.mode & 0o777, 0o440, 'the new file mode');
  t.equal(attr.uid, 42);
  t.equal(attr.gid, 43);
  t.equal((await fs.getattr('/m/d')).mode & 0o777, 0o750, 'the new dir mode');
  t.same(
    (await fs.readdir('/m/d')).attrs.map((a) => a.mode & 0o777),
    [0o440],
  );
  t.same(store.calls, calls, 'no request: the cache answered');
  t.equal((await read(fd, 0, 100)).toString(), 'retuned');
  fs.release(fd);
  t.throws(() => fs.retuneBucket(testMount('m', { folder: ['elsewhere'] })), /putBucket/, 'a new folder is not a retune');
  t.throws(() => fs.retuneBucket(testMount('nobody')), /no such mount/);
});

t.test('retune of the TTL: entries cached after it expire on the new TTL', async (t) => {
  const store = new MemoryStore();
  store.put('a.txt', 'a');
  const { fs, advance } = testFilesystem({ buckets: [{ store, mount: { name: 'm', folder: ['m'], statCacheTtlMs: 60_000 } }] });
  fs.retuneBucket(testMount('m', { folder: ['m'], statCacheTtlMs: 1_000 }));
  await fs.readdir('/m');
  const lists = store.calls.list;
  advance(500);
  await fs.readdir('/m');
  t.equal(store.calls.list, lists, 'within the new TTL: cached');
  advance(600);
  await fs.readdir('/m');
  t.equal(store.calls.list, lists + 1, 'past the new TTL (1 s, not 60 s): listed again');
});

t.test('df counts only the serving buckets', async (t) => {
  const a = new MemoryStore();
  a.put('x', Buffer.alloc(1000));
  const b = new MemoryStore();
  b.put('y', Buffer.alloc(24));
  b.put('z', Buffer.alloc(8));
  const { fs } = testFilesystem({ buckets: [{ store: a, mount: { name: 'a', folder: ['a'] } }], usage: { maxAgeMs: 60 * 60_000 } });
  t.equal(usedOf(await fs.statfs()), 1000);
  const lists = a.calls.list;
  fs.putBucket({ state: 'serving', mount: testMount('a', { folder: ['a'], fileMode: 0o400 }), store: a });
  fs.retuneBucket(testMount('a', { folder: ['a'], uid: 7 }));
  t.equal(usedOf(await fs.statfs()), 1000);
  t.equal(a.calls.list, lists, 'a reload that changes no serving bucket costs no new scan');
  fs.putBucket({ state: 'serving', mount: testMount('b', { folder: ['b'] }), store: b });
  t.equal(usedOf(await fs.statfs()), 1032, 'an added bucket counts at once');
  fs.putBucket({ state: 'unavailable', mount: testMount('c', { folder: ['c'] }), error: new FsError('EIO', 'down') });
  t.equal(usedOf(await fs.statfs()), 1032, 'an unavailable one counts nothing');
  fs.removeBucket('a', 0);
  t.equal(usedOf(await fs.statfs()), 32, 'a removed bucket counts no more');
  fs.removeBucket('b', 0);
  t.equal(usedOf(await fs.statfs()), 0);
});

t.test('a folder inside or around another mount is refused, and nothing changes', async (t) => {
  const store = new MemoryStore();
  store.put('f', 'x');
  const { fs } = testFilesystem({ buckets: [{ store, mount: { name: 'a', folder: ['a'] } }] });
  const other = new CountedStore();
  t.throws(() => fs.putBucket({ state: 'serving', mount: testMount('b', { folder: ['a', 'b'] }), store: other }), /inside another/);
  t.throws(() => fs.putBucket({ state: 'serving', mount: testMount('c', { folder: [] }), store: other }), /inside it/);
  t.throws(() => fs.putBucket({ state: 'serving', mount: testMount('d', { folder: ['a'] }), store: other }), /mount "a"/);
  t.same(await rootNames(fs), ['a']);
  t.same(await rootNames(fs, '/a'), ['f']);
  t.same([...fs.bucketStates().keys()], ['a']);
  t.equal(other.destroyed, 0, 'a refused store is the caller’s');
});

t.test('close destroys every store once, draining ones included', async (t) => {
  const a = new CountedStore();
  a.put('f', 'x');
  const b = new CountedStore();
  const { fs, pendingTimers } = testFilesystem({
    buckets: [
      { store: a, mount: { name: 'a', folder: ['a'] } },
      { store: b, mount: { name: 'b', folder: ['b'] } },
    ],
  });
  await fs.open('/a/f', constants.O_RDONLY);
  fs.removeBucket('a', 60_000);
  fs.close();
  t.equal(a.destroyed, 1);
  t.equal(b.destroyed, 1);
  t.equal(fs.openHandles, 0);
  t.equal(pendingTimers(), 0);
});

t.test('a read still on its way when the grace ends, failing with its destroyed store, answers ESTALE', async (t) => {
  const mem = new CountedStore();
  mem.put('f.bin', ramp(4 * MiB, 9));
  const store = new FaultStore(mem);
  const { fs, readOutcome, advance } = testFilesystem({ buckets: [{ store, mount: { name: 'm', folder: ['m'] } }] });
  const fd = await fs.open('/m/f.bin', constants.O_RDONLY);
  const gate = new Gate();
  store.inject({ op: 'readRange', times: 1, fault: { kind: 'delay', until: gate.promise } });
  const pending = readOutcome(fd, 3 * MiB, 64 * KiB);
  await settle();
  fs.removeBucket('m', 1_000);
  advance(1_000);
  t.equal(mem.destroyed, 1, 'the grace is over: the store is destroyed under the read');
  mem.failNextGet = new StoreError('unreachable', 'GET f.bin: the client was destroyed');
  gate.open();
  const r = await pending;
  t.equal('errno' in r ? r.errno : 'bytes', 'ESTALE', 'not EIO: the handle is stale');
  if ('error' in r) t.match((r.error as Error).message, /mount "m" was removed/);
  fs.release(fd);
  t.equal(mem.destroyed, 1);
});

t.test('a lookup on its way when its mount is removed, failing with the destroyed store, answers ENOENT', async (t) => {
  const mem = new CountedStore();
  mem.put('f.bin', 'x');
  const store = new FaultStore(mem);
  const { fs } = testFilesystem({ buckets: [{ store, mount: { name: 'm', folder: ['m'] } }] });
  const gate = new Gate();
  const destroyed = new StoreError('unreachable', 'LIST: the client was destroyed');
  store.inject({ op: 'list', times: 1, fault: { kind: 'delay', until: gate.promise.then(() => Promise.reject(destroyed)) } });
  const pending = errnoOf(fs.getattr('/m/f.bin'));
  await settle();
  fs.removeBucket('m', 60_000);
  t.equal(mem.destroyed, 1, 'no handle open: the store goes at once');
  gate.open();
  t.equal(await pending, 'ENOENT', 'not EIO: the path leads nowhere now');
});

t.test('retune of max-folder-entries: readdir shows the new bound from the cached listing', async (t) => {
  const store = new MemoryStore();
  for (const n of ['a', 'b', 'c', 'd', 'e']) store.put(`dir/${n}`, n);
  const { fs } = testFilesystem({ buckets: [{ store, mount: { name: 'm', folder: ['m'] } }] });
  t.same(await rootNames(fs, '/m/dir'), ['a', 'b', 'c', 'd', 'e']);
  const lists = store.calls.list;
  fs.retuneBucket(testMount('m', { folder: ['m'], maxFolderEntries: 2 }));
  t.same(await rootNames(fs, '/m/dir'), ['a', 'b'], 'the first 2, in key order');
  fs.retuneBucket(testMount('m', { folder: ['m'] }));
  t.same(await rootNames(fs, '/m/dir'), ['a', 'b', 'c', 'd', 'e'], 'back to the default bound');
  t.equal(store.calls.list, lists, 'from the cache');
});
