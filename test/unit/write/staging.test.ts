/**
 * Staging: an existing object edited without O_TRUNC (append, a write in the middle, truncate to
 * a non-zero size) is copied to a local file, edited there and uploaded at commit; the staging
 * area keeps to its budget and its own folder.
 */
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { StagingArea } from '../../../src/write/staging-area.js';
import { Gate } from '../helpers/fault-store.js';
import { bytes, PART, recordParts, setup } from './helpers/write-setup.js';

t.test('clean: reads of an existing object go to S3, nothing is staged or committed', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const data = bytes(3000);
  s.mem.put('obj', data);
  const h = s.handle('obj');
  t.notOk(h.dirty);
  t.equal(h.size, 3000);
  t.ok((await h.read(100, 200)).equals(data.subarray(100, 300)));
  t.equal((await h.read(2900, 500)).length, 100, 'clipped at the size');
  t.equal((await h.read(5000, 10)).length, 0);
  t.equal(await h.close(), undefined, 'nothing to commit');
  t.same([s.mem.calls.put, s.mem.calls.create], [0, 0]);
  t.equal(s.staging?.usedBytes, 0);
});

t.test('append to an existing object (O_APPEND, >>)', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  s.mem.put('log', 'line 1\n');
  const h = s.handle('log');
  await h.write(h.size, Buffer.from('line 2\n'));
  t.ok(h.dirty);
  t.equal(h.size, 14);
  t.equal((await h.read(0, 100)).toString(), 'line 1\nline 2\n', 'read back from the staging file');
  const c = await h.close();
  t.equal(c?.size, 14);
  t.equal(s.object('log')?.toString(), 'line 1\nline 2\n');
  t.equal(s.staging?.usedBytes, 0, 'staging space given back');
  t.equal(s.memory.heldBytes, 0);
});

t.test('a write in the middle of a multi-part object: uploaded part by part from the staging file', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const data = bytes(3 * PART + 10);
  s.mem.put('db', data);
  const parts = recordParts(s.store);
  const h = s.handle('db', { uploadConcurrency: 2 });
  const page = bytes(100, 9);
  await h.write(PART + 50, page);
  page.copy(data, PART + 50);
  t.ok((await h.read(PART, 200)).equals(data.subarray(PART, PART + 200)));
  await h.commit();
  t.ok(s.object('db')?.equals(data), 'bytes exact');
  t.same(
    parts.map((p) => p.bytes),
    [PART, PART, PART, 10],
  );
  t.equal(s.mem.uploads.size, 0);
  t.equal(s.memory.heldBytes, 0, 'each part released after its upload');
  // The handle stays usable: its base is the committed object, the staged copy still equal to it.
  const gets = s.mem.calls.get;
  await h.write(0, Buffer.from('HDR'));
  data.write('HDR', 0);
  await h.close();
  t.equal(s.mem.calls.get, gets, 'no second download');
  t.ok(s.object('db')?.equals(data));
});

t.test('truncate to a non-zero size, shorter and longer', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const data = bytes(2 * PART);
  s.mem.put('f', data);
  const h = s.handle('f');
  await h.truncate(100);
  t.equal(h.size, 100);
  await h.commit();
  t.ok(s.object('f')?.equals(data.subarray(0, 100)));
  await h.truncate(150);
  await h.close();
  t.ok(s.object('f')?.equals(Buffer.concat([data.subarray(0, 100), Buffer.alloc(50)])), 'zeros after the old end');
});

t.test('truncate(0) of an existing object needs no download: it streams', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  s.mem.put('f', bytes(2 * PART));
  const h = s.handle('f');
  await h.truncate(0);
  await h.write(0, Buffer.from('x'));
  await h.close();
  t.equal(s.object('f')?.toString(), 'x');
  t.equal(s.mem.calls.get, 0);
});

t.test('an object changed in S3 since open: ESTALE, the handle stays clean', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  s.mem.put('f', 'v1');
  const h = s.handle('f');
  s.mem.put('f', 'v2 by someone else');
  await t.rejects(h.write(0, Buffer.from('x')), { name: 'FsError', errno: 'ESTALE' });
  await t.rejects(h.read(0, 2), { name: 'FsError', errno: 'ESTALE' });
  t.equal(s.staging?.usedBytes, 0, 'the staging file of the failed download is gone');
  t.equal(await h.close(), undefined);
  t.equal(s.object('f')?.toString(), 'v2 by someone else', 'nothing overwritten');
});

t.test('over the staging budget: ENOSPC, the object untouched, the handle usable', async (t) => {
  const s = await setup({ stagingBytes: 1000 });
  t.teardown(s.cleanup);
  s.mem.put('small', 'abc');
  s.mem.put('big', bytes(2000));
  const big = s.handle('big');
  await t.rejects(big.write(0, Buffer.from('x')), { name: 'FsError', errno: 'ENOSPC' });
  t.equal(s.staging?.usedBytes, 0);
  await big.close();
  const small = s.handle('small');
  await small.write(3, Buffer.from('def'));
  await t.rejects(small.write(990, Buffer.from('past the budget')), { name: 'FsError', errno: 'ENOSPC' });
  t.equal(small.size, 6, 'the refused write changed nothing');
  await small.close();
  t.equal(s.object('small')?.toString(), 'abcdef');
  t.equal(s.object('big')?.length, 2000);
});

t.test('without staging space: EOPNOTSUPP, onStagingMissing once per handle', async (t) => {
  const s = await setup({ stagingBytes: null });
  t.teardown(s.cleanup);
  s.mem.put('f', bytes(PART + 1));
  let told = 0;
  const h = s.handle('f', { onStagingMissing: () => told++ });
  await t.rejects(h.write(3, Buffer.from('d')), { name: 'FsError', errno: 'EOPNOTSUPP' });
  await t.rejects(h.truncate(1), { name: 'FsError', errno: 'EOPNOTSUPP' });
  t.equal(told, 1);
  t.ok((await h.read(0, 3)).equals(bytes(3)), 'reads still work');
  // Streaming needs no staging.
  const n = s.handle('new', { onStagingMissing: () => told++ });
  await n.write(0, bytes(3 * PART));
  await t.rejects(n.write(PART + 1, Buffer.from('back into an uploaded part')), { name: 'FsError', errno: 'EOPNOTSUPP' });
  t.equal(told, 2);
  await n.close();
  t.equal(s.object('new')?.length, 3 * PART, 'the stream itself committed fine');
  await h.close();
  t.equal(s.mem.calls.put + s.mem.calls.complete, 1, 'only the stream was committed');
});

t.test('without staging space, an object of at most one part is edited in memory (append, a write inside)', async (t) => {
  const s = await setup({ stagingBytes: null });
  t.teardown(s.cleanup);
  s.mem.put('log', 'line 1\n');
  let told = 0;
  const h = s.handle('log', { onStagingMissing: () => told++ });
  await h.write(h.size, Buffer.from('line 2\n'));
  await h.write(5, Buffer.from('A'));
  t.equal((await h.read(0, 100)).toString(), 'line A\nline 2\n');
  await h.close();
  t.equal(s.object('log')?.toString(), 'line A\nline 2\n');
  t.equal(told, 0);
  t.equal(s.memory.heldBytes, 0);
  // Grows past one part: streams on, as a new file would.
  const g = s.handle('log');
  const more = bytes(3 * PART);
  await g.write(g.size, more);
  await g.close();
  t.ok(s.object('log')?.equals(Buffer.concat([Buffer.from('line A\nline 2\n'), more])));
});

t.test('an empty existing object is written as a stream: no download, no staging', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  s.mem.put('touched', '');
  const h = s.handle('touched');
  t.notOk(h.dirty);
  await h.write(0, Buffer.from('hello'));
  await h.close();
  t.equal(s.object('touched')?.toString(), 'hello');
  t.same([s.mem.calls.get, s.mem.calls.put], [0, 1]);
  const untouched = s.handle('touched');
  t.equal(await untouched.close(), undefined, 'opened and closed: nothing committed');
});

t.test('switch from streaming after parts were uploaded: commit what there is, then stage from it', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const h = s.handle('zip');
  const data = bytes(3 * PART + 20);
  await h.write(0, data);
  t.equal(s.mem.calls.part, 2);
  // Back into part 2, which is in S3 only.
  await h.write(PART + 5, Buffer.from('patched'));
  data.write('patched', PART + 5);
  t.equal(s.mem.calls.complete, 1, 'the bytes so far were committed (visible)');
  t.equal(s.mem.calls.get > 0, true, 'then staged from that object');
  t.ok((await h.read(0, data.length)).equals(data));
  await h.close();
  t.ok(s.object('zip')?.equals(data), 'bytes exact');
  t.equal(s.mem.uploads.size, 0);
  t.equal(s.memory.heldBytes, 0);
});

t.test('switch from streaming before any part was uploaded: memory copied, nothing committed', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const h = s.handle('new');
  await h.write(0, bytes(PART + 10));
  await h.write(20 * PART, Buffer.from('far'));
  t.same([s.mem.calls.put, s.mem.calls.complete, s.mem.calls.get], [0, 0, 0]);
  t.equal(h.size, 20 * PART + 3);
  await h.close();
  const want = Buffer.alloc(20 * PART + 3);
  bytes(PART + 10).copy(want);
  want.write('far', 20 * PART);
  t.ok(s.object('new')?.equals(want));
});

t.test('the staging area: its own 0700 folder, removed by close, nothing else touched', async (t) => {
  const s = await setup({ stagingBytes: null });
  t.teardown(s.cleanup);
  const parent = join(s.parentDir, 'staging');
  await mkdir(parent);
  await writeFile(join(parent, 'someone-elses-file'), 'keep me');
  await mkdir(join(parent, 'fluid-s3-fuse-1-other'));
  const area = await StagingArea.open(parent, 1 << 20);
  t.match(area.dir, new RegExp(`/fluid-s3-fuse-${process.pid}-\\w{6}$`));
  t.equal((await stat(area.dir)).mode & 0o777, 0o700);
  const f = await area.createFile();
  await f.write(10, Buffer.from('hello'));
  t.equal(f.size, 15);
  t.equal(area.usedBytes, 15);
  t.same(await f.read(8, 100), Buffer.from('\0\0hello'));
  await f.truncate(12);
  t.equal(area.usedBytes, 12);
  t.same(await readdir(area.dir), [], 'files are unlinked once open');
  await area.close();
  await area.close();
  t.same((await readdir(parent)).sort(), ['fluid-s3-fuse-1-other', 'someone-elses-file'], 'only its own folder removed');
  t.equal(area.usedBytes, 0, 'files closed with the area');
});

t.test('truncate(0) of a staged file frees the staged copy and streams again', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  s.mem.put('f', bytes(2 * PART));
  const h = s.handle('f');
  await h.write(10, Buffer.from('x'));
  t.equal(s.staging?.usedBytes, 2 * PART);
  await h.truncate(0);
  t.equal(s.staging?.usedBytes, 0, 'staged copy freed');
  await h.write(0, Buffer.from('fresh'));
  await h.close();
  t.equal(s.object('f')?.toString(), 'fresh');
});

t.test("the disk's own ENOSPC or EDQUOT is ENOSPC; the file keeps its old size and budget", async (t) => {
  const fsp = await import('node:fs/promises');
  let failWith: string | undefined;
  const { StagingArea: MockedArea } = await t.mockImport<typeof import('../../../src/write/staging-area.js')>('../../../src/write/staging-area.js', {
    'node:fs/promises': {
      ...fsp,
      open: async (...args: Parameters<typeof fsp.open>) => {
        const fh = await fsp.open(...args);
        const write = fh.write.bind(fh) as (...a: unknown[]) => Promise<unknown>;
        Object.assign(fh, {
          write: (...a: unknown[]) => (failWith ? Promise.reject(Object.assign(new Error(`${failWith} (mocked)`), { code: failWith })) : write(...a)),
        });
        return fh;
      },
    },
  });
  const s = await setup({ stagingBytes: null });
  t.teardown(s.cleanup);
  const area = await MockedArea.open(s.parentDir, 1 << 20);
  t.teardown(() => area.close());
  const f = await area.createFile();
  await f.write(0, Buffer.from('abc'));
  for (const code of ['ENOSPC', 'EDQUOT']) {
    failWith = code;
    await t.rejects(f.write(3, Buffer.from('def')), { name: 'FsError', errno: 'ENOSPC' }, code);
    t.equal(f.size, 3);
    t.equal(area.usedBytes, 3);
  }
  failWith = 'EIO';
  await t.rejects(f.write(3, Buffer.from('def')), { name: 'FsError', errno: 'EIO' }, 'any other failure: EIO');
  failWith = undefined;
  t.same(await f.read(0, 10), Buffer.from('abc'));
});

t.test('staging a large object downloads its pieces in parallel, each piece once', async (t) => {
  const s = await setup();
  t.teardown(s.cleanup);
  const data = bytes(10 * PART + 3);
  s.mem.put('big', data);
  const gate = new Gate();
  s.store.inject({ op: 'readRange', fault: { kind: 'delay', until: gate.promise } });
  const ranges: [number, number][] = [];
  const origin = s.store.readRange.bind(s.store);
  s.store.readRange = (req, onChunk) => {
    ranges.push([req.start, req.end]);
    return origin(req, onChunk);
  };
  const h = s.handle('big', { uploadConcurrency: 3 });
  const w = h.write(5, Buffer.from('x'));
  while (ranges.length < 3) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.equal(ranges.length, 3, 'three GETs at once');
  gate.open();
  await w;
  t.same(
    ranges.sort((a, b) => a[0] - b[0]),
    Array.from({ length: 11 }, (_, i) => [i * PART, Math.min(data.length, (i + 1) * PART)]),
  );
  data.write('x', 5);
  t.ok((await h.read(0, data.length)).equals(data));
  await h.close();
  t.ok(s.object('big')?.equals(data));
});
