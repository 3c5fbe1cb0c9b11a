/**
 * Issue 12: the Filesystem's write operations over the in-memory store (no FUSE): what lands in
 * the bucket, what our caches show at once, and the errno of each refusal. The WriteHandle's own
 * behaviour (parts, staging, failures) is tested in test/unit/write/.
 */
import { constants } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { MemoryStore } from '../helpers/memory-store.js';
import { FaultStore, Gate } from '../helpers/fault-store.js';
import { testFilesystem, type TestFilesystemOptions } from '../helpers/test-filesystem.js';
import { errnoName } from '../../../src/fs/errno.js';
import { StagingArea } from '../../../src/write/staging-area.js';
import { StoreError } from '../../../src/store/store-error.js';
import { RENAME_FOLDER_LIMIT } from '../../../src/fs/filesystem.js';

const { O_WRONLY, O_RDWR, O_TRUNC, O_APPEND, O_RDONLY } = constants;

async function errnoOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
    return undefined;
  } catch (err) {
    return errnoName(err);
  }
}

async function staging(t: Test, budget = 64 * 1024 * 1024): Promise<StagingArea> {
  const parent = mkdtempSync(join(tmpdir(), 'fs-writes-'));
  const area = await StagingArea.open(parent, budget);
  t.teardown(async () => {
    await area.close();
    rmSync(parent, { recursive: true, force: true });
  });
  return area;
}

function writable(store: MemoryStore | FaultStore, extra: Partial<TestFilesystemOptions> = {}) {
  return testFilesystem({ store, mount: { readOnly: false, fileMode: 0o644, dirMode: 0o755 }, ...extra });
}

const text = (store: MemoryStore, key: string): string | undefined => store.objects.get(key)?.data.toString();

t.test('create, write, close: the object is in S3 at flush; stat and readdir show the file while it is written', async (t) => {
  const store = new MemoryStore();
  store.put('dir/old.txt', 'old');
  const { fs } = writable(store);
  const fd = await fs.create('/dir/new.txt');
  t.equal((await fs.getattr('/dir/new.txt')).size, 0, 'a new file exists at once');
  t.equal(await fs.write(fd, 0, Buffer.from('hello ')), 6);
  t.equal(await fs.write(fd, 6, Buffer.from('world')), 5);
  t.equal((await fs.getattr('/dir/new.txt')).size, 11, 'stat follows the writes');
  t.same((await fs.readdir('/dir')).names.sort(), ['new.txt', 'old.txt'], 'listed before it is in S3');
  t.notOk(store.objects.has('dir/new.txt'), 'nothing in S3 before the flush');
  await fs.flush(fd);
  t.equal(text(store, 'dir/new.txt'), 'hello world');
  await fs.release(fd);
  const calls = { ...store.calls };
  const attr = await fs.getattr('/dir/new.txt');
  t.equal(attr.size, 11);
  t.equal(store.calls.head + store.calls.list, calls.head + calls.list, 'our own write is known without asking S3');
  // The new object reads back through the read path with the etag we got.
  const rd = await fs.open('/dir/new.txt', O_RDONLY);
  t.equal(Buffer.concat(await fs.read(rd, 0, 100)).toString(), 'hello world');
  await fs.release(rd);
});

t.test('an empty new file is committed too (touch); an O_TRUNC open empties an existing object', async (t) => {
  const store = new MemoryStore();
  store.put('f', 'something');
  const { fs } = writable(store);
  const fd = await fs.create('/empty');
  await fs.flush(fd);
  await fs.release(fd);
  t.equal(store.objects.get('empty')?.data.length, 0);
  const fd2 = await fs.open('/f', O_WRONLY | O_TRUNC);
  await fs.flush(fd2);
  await fs.release(fd2);
  t.equal(store.objects.get('f')?.data.length, 0);
});

t.test('an open for writing without O_TRUNC that writes nothing changes nothing', async (t) => {
  const store = new MemoryStore();
  store.put('f', 'keep');
  const { fs } = writable(store);
  const put = store.calls.put;
  const fd = await fs.open('/f', O_WRONLY);
  await fs.flush(fd);
  await fs.release(fd);
  t.equal(store.calls.put, put);
  t.equal(text(store, 'f'), 'keep');
});

t.test('append and an edit in the middle of an existing object go through staging', async (t) => {
  const store = new MemoryStore();
  store.put('log', 'line1\n');
  store.put('data', '0123456789');
  const { fs } = writable(store, { staging: await staging(t) });
  const fd = await fs.open('/log', O_WRONLY | O_APPEND);
  await fs.write(fd, 6, Buffer.from('line2\n'));
  await fs.flush(fd);
  await fs.release(fd);
  t.equal(text(store, 'log'), 'line1\nline2\n');
  const rw = await fs.open('/data', O_RDWR);
  await fs.write(rw, 3, Buffer.from('abc'));
  t.equal(Buffer.concat(await fs.read(rw, 0, 10)).toString(), '012abc6789', 'the handle reads its own bytes');
  await fs.flush(rw);
  await fs.release(rw);
  t.equal(text(store, 'data'), '012abc6789');
});

t.test('without staging space an edit of an object larger than a part answers EOPNOTSUPP, told once per mount', async (t) => {
  const store = new MemoryStore();
  const big = Buffer.alloc(9 * 1024 * 1024, 'x'); // a small one is edited in the first part's memory
  store.put('log', big);
  const told: string[] = [];
  const { fs } = writable(store, { onStagingMissing: (m) => told.push(m) });
  for (let i = 0; i < 2; i++) {
    const fd = await fs.open('/log', O_WRONLY | O_APPEND);
    t.equal(await errnoOf(fs.write(fd, big.length, Buffer.from('y'))), 'EOPNOTSUPP');
    await fs.release(fd);
  }
  t.same(told, ['bucket0']);
  t.equal(store.objects.get('log')?.data.length, big.length, 'the object is untouched');
});

t.test('a reader opened while a file is written reads the written bytes, never the old object', async (t) => {
  const store = new MemoryStore();
  store.put('f', 'old contents');
  const { fs } = writable(store);
  const w = await fs.open('/f', O_WRONLY | O_TRUNC);
  await fs.write(w, 0, Buffer.from('new'));
  const r = await fs.open('/f', O_RDONLY);
  t.equal(Buffer.concat(await fs.read(r, 0, 100)).toString(), 'new');
  await fs.flush(r);
  t.equal(text(store, 'f'), 'old contents', "a reader's close commits nothing");
  await fs.release(r);
  await fs.release(w);
  t.equal(text(store, 'f'), 'new', 'the last release commits');
});

t.test('truncate by path: to 0 and to a size, committed at once', async (t) => {
  const store = new MemoryStore();
  store.put('a', 'abcdef');
  store.put('b', 'abcdef');
  const { fs } = writable(store, { staging: await staging(t) });
  await fs.truncate('/a', 0);
  await fs.truncate('/b', 3);
  t.equal(text(store, 'a'), '');
  t.equal(text(store, 'b'), 'abc');
  t.equal((await fs.getattr('/b')).size, 3);
  t.equal(await errnoOf(fs.truncate('/missing', 0)), 'ENOENT');
});

t.test('unlink, mkdir, rmdir', async (t) => {
  const store = new MemoryStore();
  store.put('d/f', 'x');
  const { fs } = writable(store);
  await fs.unlink('/d/f');
  t.notOk(store.objects.has('d/f'));
  t.equal(await errnoOf(fs.getattr('/d/f')), 'ENOENT', 'gone from our caches at once');
  t.equal(await errnoOf(fs.unlink('/d/f')), 'ENOENT');
  await fs.mkdir('/new');
  t.ok(store.objects.has('new/'), 'a marker object');
  t.equal((await fs.getattr('/new')).mode & 0o170000, 0o040000, 'a folder at once');
  t.same((await fs.readdir('/new')).names, []);
  t.equal(await errnoOf(fs.mkdir('/new')), 'EEXIST');
  store.put('full/x', '1');
  t.equal(await errnoOf(fs.rmdir('/full')), 'ENOTEMPTY');
  t.equal(await errnoOf(fs.unlink('/full')), 'EISDIR');
  t.equal(await errnoOf(fs.rmdir('/full/x')), 'ENOTDIR');
  await fs.rmdir('/new');
  t.notOk(store.objects.has('new/'));
  t.equal(await errnoOf(fs.getattr('/new')), 'ENOENT');
  t.equal(await errnoOf(fs.rmdir('/')), 'EBUSY');
});

t.test('rmdir of a folder with a file being written in it: ENOTEMPTY', async (t) => {
  const store = new MemoryStore();
  const { fs } = writable(store);
  await fs.mkdir('/d');
  const fd = await fs.create('/d/f');
  t.equal(await errnoOf(fs.rmdir('/d')), 'ENOTEMPTY');
  await fs.release(fd);
});

t.test('rename of a file: copy then delete, our caches follow; onto a folder EISDIR', async (t) => {
  const store = new MemoryStore();
  store.put('a.tmp', 'payload');
  store.put('dir/x', '1');
  const { fs } = writable(store);
  await fs.rename('/a.tmp', '/a');
  t.equal(text(store, 'a'), 'payload');
  t.notOk(store.objects.has('a.tmp'));
  t.equal(await errnoOf(fs.getattr('/a.tmp')), 'ENOENT');
  t.equal((await fs.getattr('/a')).size, 7);
  t.equal(await errnoOf(fs.rename('/a', '/dir')), 'EISDIR');
  t.equal(await errnoOf(fs.rename('/missing', '/b')), 'ENOENT');
});

t.test('rename of a file being written commits it first and the handle writes on at the new name', async (t) => {
  const store = new MemoryStore();
  const { fs } = writable(store, { staging: await staging(t) });
  const fd = await fs.create('/.f.XXXX');
  await fs.write(fd, 0, Buffer.from('abc'));
  await fs.rename('/.f.XXXX', '/f');
  t.equal(text(store, 'f'), 'abc');
  t.notOk(store.objects.has('.f.XXXX'));
  await fs.write(fd, 3, Buffer.from('def'));
  await fs.flush(fd);
  await fs.release(fd);
  t.equal(text(store, 'f'), 'abcdef');
  t.notOk(store.objects.has('.f.XXXX'), 'nothing written back at the old name');
});

t.test('rename of a folder: every object moved; too large: EXDEV and nothing moved', async (t) => {
  const store = new MemoryStore();
  store.put('src/', '');
  store.put('src/a', 'A');
  store.put('src/sub/b', 'B');
  for (let i = 0; i <= RENAME_FOLDER_LIMIT; i++) store.put(`big/${i}`, 'x');
  store.put('other/x', '1');
  const { fs } = writable(store);
  await fs.rename('/src', '/dst');
  t.same([...store.objects.keys()].filter((k) => !/^(big|other)\//.test(k)).sort(), ['dst/', 'dst/a', 'dst/sub/b']);
  t.equal(text(store, 'dst/sub/b'), 'B');
  t.equal(await errnoOf(fs.getattr('/src')), 'ENOENT');
  t.same((await fs.readdir('/dst')).names.sort(), ['a', 'sub']);
  t.equal(await errnoOf(fs.rename('/big', '/big2')), 'EXDEV');
  t.equal([...store.objects.keys()].filter((k) => k.startsWith('big2/')).length, 0);
  t.equal(await errnoOf(fs.rename('/dst', '/other')), 'ENOTEMPTY');
  t.equal(await errnoOf(fs.rename('/dst', '/dst/in')), 'EINVAL');
});

t.test('chmod, chown, utimens succeed on what exists and change nothing; ENOENT otherwise', async (t) => {
  const store = new MemoryStore();
  store.put('f', 'x');
  const { fs } = writable(store);
  const puts = store.calls.put + store.calls.copy;
  await fs.setattr('/f');
  t.equal(store.calls.put + store.calls.copy, puts);
  t.equal(await errnoOf(fs.setattr('/nope')), 'ENOENT');
});

t.test('a read-only mount refuses every change with EROFS', async (t) => {
  const store = new MemoryStore();
  store.put('f', 'x');
  const { fs } = testFilesystem({ store }); // testMount: readOnly
  t.equal(await errnoOf(fs.create('/g')), 'EROFS');
  t.equal(await errnoOf(fs.open('/f', O_WRONLY)), 'EROFS');
  t.equal(await errnoOf(fs.unlink('/f')), 'EROFS');
  t.equal(await errnoOf(fs.mkdir('/d')), 'EROFS');
  t.equal(await errnoOf(fs.rename('/f', '/g')), 'EROFS');
  t.equal(await errnoOf(fs.truncate('/f', 0)), 'EROFS');
  t.equal(await errnoOf(fs.setattr('/f')), 'EROFS');
  t.equal(text(store, 'f'), 'x');
});

t.test('an upload that fails: flush answers its errno, no upload is left behind, the handle then answers EIO', async (t) => {
  const inner = new MemoryStore();
  const store = new FaultStore(inner);
  store.inject({ op: 'putObject', fault: { kind: 'error', error: new StoreError('server', 'PUT: 503 (injected)', { status: 503 }) } });
  const { fs } = writable(store);
  const fd = await fs.create('/f');
  await fs.write(fd, 0, Buffer.from('data'));
  t.equal(await errnoOf(fs.flush(fd)), 'EIO');
  t.equal(await errnoOf(fs.write(fd, 4, Buffer.from('more'))), 'EIO');
  await fs.release(fd);
  t.notOk(inner.objects.has('f'));
  t.equal(inner.uploads.size, 0);
});

t.test('a flush before the first write commits nothing (a shell redirect, dd); the last release does; fsync always does', async (t) => {
  const store = new MemoryStore();
  const { fs } = writable(store);
  const fd = await fs.create('/f');
  const dup = await fs.open('/f', O_WRONLY);
  await fs.flush(fd); // the first descriptor closed after dup2
  await fs.release(fd);
  t.equal(store.calls.put, 0, 'no empty object uploaded');
  await fs.write(dup, 0, Buffer.from('data'));
  await fs.flush(dup);
  t.equal(store.calls.put, 1);
  t.equal(text(store, 'f'), 'data');
  await fs.release(dup);
  const g = await fs.create('/g');
  await fs.fsync(g);
  t.equal(text(store, 'g'), '', 'fsync commits a new empty file');
  await fs.release(g);
  const h = await fs.create('/h');
  await fs.flush(h);
  t.notOk(store.objects.has('h'));
  await fs.release(h);
  t.equal(text(store, 'h'), '', 'the last release commits the empty file');
});

t.test('an answer S3 gave before our own change does not hide it: a listing in flight while a file is committed', async (t) => {
  const inner = new MemoryStore();
  inner.put('d/old', 'x');
  const store = new FaultStore(inner);
  const { fs } = writable(store);
  const gate = new Gate();
  store.inject({ op: 'list', times: 1, fault: { kind: 'delay', until: gate.promise } });
  const listing = fs.readdir('/d'); // its LIST waits at the gate
  const fd = await fs.create('/d/new');
  await fs.write(fd, 0, Buffer.from('n'));
  await fs.flush(fd);
  await fs.release(fd);
  gate.open();
  await listing;
  t.equal((await fs.getattr('/d/new')).size, 1, 'the new file is still there');
  t.same((await fs.readdir('/d')).names.sort(), ['new', 'old']);
});

t.test('create of a name that exists in S3 after all (made elsewhere since the kernel looked) opens it as it is', async (t) => {
  const store = new MemoryStore();
  store.put('f', 'made elsewhere');
  const { fs } = writable(store);
  const fd = await fs.create('/f');
  t.equal((await fs.getattr('/f')).size, 14, 'not emptied');
  await fs.flush(fd);
  await fs.release(fd);
  t.equal(text(store, 'f'), 'made elsewhere');
});

t.test('a reader of bytes a writer already sent as parts gets EBUSY; the writer is not made to stage; after close the reader sees all', async (t) => {
  const store = new MemoryStore();
  store.minPartBytes = 1; // parts of the test's 5 MiB floor are plenty
  const { fs } = writable(store, { staging: await staging(t) });
  const w = await fs.create('/big');
  const part = Buffer.alloc(5 * 1024 * 1024, 1);
  for (let i = 0; i < 5; i++) await fs.write(w, i * part.length, part); // 8 MiB parts: 2 and 3 go out, 1 stays in memory
  const r = await fs.open('/big', O_RDONLY);
  t.equal(Buffer.concat(await fs.read(r, 0, 10)).length, 10, 'the first part is in memory: readable');
  t.equal(await errnoOf(fs.read(r, 10 * 1024 * 1024, 10)), 'EBUSY', 'an uploaded part is not');
  t.equal(store.calls.complete + store.calls.put, 0, 'the writer was not made to commit');
  await fs.flush(w);
  await fs.release(w);
  t.same(Buffer.concat(await fs.read(r, 10 * 1024 * 1024, 10)), Buffer.alloc(10, 1), 'after the commit the reader reads the object');
  t.equal(store.objects.get('big')?.data.length, 25 * 1024 * 1024);
  await fs.release(r);
});
