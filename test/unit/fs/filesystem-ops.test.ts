/**
 * The Filesystem driven directly, without FUSE, over the in-memory store and over a
 * fault-injecting wrapper: what each operation answers, in bytes or errnos.
 */
import t from 'tap';
import { constants } from 'node:fs';
import { StoreError } from '../../../src/store/store-error.js';
import { errnoName } from '../../../src/fs/errno.js';
import { MemoryStore, ramp } from '../helpers/memory-store.js';
import { FaultStore, Gate } from '../helpers/fault-store.js';
import { KiB, MiB, settle, testFilesystem } from '../helpers/test-filesystem.js';

function bucket() {
  const mem = new MemoryStore();
  const big = ramp(3 * MiB + 17, 3);
  const small = Buffer.from('hello\n');
  mem.put('data/big.bin', big);
  mem.put('data/small.txt', small);
  mem.put('data/sub/deep.txt', 'deep');
  mem.put('top.txt', 'top');
  return { mem, big, small };
}

async function errnoOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return errnoName(err);
  }
  return 'no error';
}

t.test('getattr, readdir, open, read, release and statfs over the memory store', async (t) => {
  const { mem, big } = bucket();
  const { fs, read } = testFilesystem({ store: mem });
  const root = await fs.getattr('/');
  t.equal(root.mode & 0o170000, 0o040000, 'the root is a directory');
  const a = await fs.getattr('/data/big.bin');
  t.equal(a.size, big.length);
  t.equal(a.mode & 0o777, 0o444);
  t.equal(await errnoOf(fs.getattr('/nope')), 'ENOENT');
  const dir = await fs.readdir('/data');
  t.same(dir.names, ['big.bin', 'small.txt', 'sub']);
  t.equal(await errnoOf(fs.readdir('/top.txt')), 'ENOTDIR');
  t.equal(await errnoOf(fs.open('/data', constants.O_RDONLY)), 'EISDIR');
  t.equal(await errnoOf(fs.open('/top.txt', constants.O_WRONLY)), 'EROFS');

  const fd = await fs.open('/data/big.bin', constants.O_RDONLY);
  t.ok(fd >= 1, 'handles start at 1');
  const parts: Buffer[] = [];
  for (let pos = 0; pos < big.length; pos += 128 * KiB) parts.push(await read(fd, pos, 128 * KiB));
  t.ok(Buffer.concat(parts).equals(big), 'a sequential read gives every byte');
  t.ok((await read(fd, 1234567, 70000)).equals(big.subarray(1234567, 1234567 + 70000)), 'a read back');
  t.equal((await read(fd, big.length + 10, 100)).length, 0, 'past EOF: 0 bytes');
  fs.release(fd);
  t.equal(fs.openHandles, 0);
  t.equal(await errnoOf(() => fs.read(fd, 0, 1)), 'EBADF', 'a released handle');
  await settle();
  t.equal(fs.fetcher.inflightBytes, 0, 'nothing in flight after release');

  const s = await fs.statfs();
  t.equal((s.blocks - s.bfree) * s.frsize, big.length + 6 + 4 + 3, "df Used is the objects' total size");
});

t.test('faults on metadata calls answer the errno of their kind', async (t) => {
  const { mem } = bucket();
  const store = new FaultStore(mem);
  const { fs } = testFilesystem({ store });
  store.inject({
    op: ['getFirstBytes', 'list'],
    times: 1,
    fault: { kind: 'error', error: new StoreError('access-denied', 'denied (injected)', { status: 403 }) },
  });
  t.equal(await errnoOf(fs.getattr('/top.txt')), 'EACCES');
  store.inject({ op: 'list', times: 1, fault: { kind: 'error', error: new StoreError('timeout', 'no answer (injected)') } });
  t.equal(await errnoOf(fs.readdir('/data')), 'ETIMEDOUT');
  store.inject({ op: 'list', times: 1, fault: { kind: 'error', error: new StoreError('server', 'HTTP 500 (injected)', { status: 500 }) } });
  t.equal(await errnoOf(fs.readdir('/data')), 'EIO');
  t.same((await fs.readdir('/data')).names, ['big.bin', 'small.txt', 'sub'], 'the next try succeeds');
  t.equal(store.injected.length, 3);
});

t.test('a delayed lookup answers when the delay ends, no real time needed', async (t) => {
  const { mem } = bucket();
  const store = new FaultStore(mem);
  const { fs } = testFilesystem({ store });
  const gate = new Gate();
  store.inject({ op: 'getFirstBytes', fault: { kind: 'delay', until: gate.promise } });
  let answered = false;
  const p = fs.getattr('/top.txt').then((a) => ((answered = true), a));
  await settle();
  t.equal(answered, false, 'held while the gate is shut');
  gate.open();
  t.equal((await p).size, 3);
});

t.test('faults on ranged GETs: each read fails with its errno, and the next read succeeds', async (t) => {
  const { mem, big } = bucket();
  const store = new FaultStore(mem);
  const { fs, read, readOutcome, clock } = testFilesystem({ store });
  const cases: [StoreError, string][] = [
    [new StoreError('server', 'HTTP 500 (injected)', { status: 500 }), 'EIO'],
    [new StoreError('access-denied', 'HTTP 403 (injected)', { status: 403 }), 'EACCES'],
    [new StoreError('precondition-failed', 'HTTP 412 (injected)', { status: 412 }), 'ESTALE'],
    [new StoreError('invalid-response', 'bad answer (injected)'), 'EIO'],
    [new StoreError('timeout', 'no answer (injected)'), 'ETIMEDOUT'],
  ];
  const pos = 2 * MiB + 99;
  for (const [error, want] of cases) {
    // A fresh handle each time, reading far from its start: one exact GET, the one faulted.
    const fd = await fs.open('/data/big.bin', constants.O_RDONLY);
    store.inject({ op: 'readRange', times: 1, fault: { kind: 'error', error } });
    const r = await readOutcome(fd, pos, 4 * KiB);
    t.equal('errno' in r ? r.errno : 'bytes', want, `${error.kind} → ${want}`);
    clock.advance(5_000); // past the fail-fast window a timeout opens
    t.ok((await read(fd, pos, 4 * KiB)).equals(big.subarray(pos, pos + 4 * KiB)), 'then the same range reads right');
    fs.release(fd);
  }
});

t.test('a read that found the server silent fails the next reads at once, for 2 s of the injected clock', async (t) => {
  const { mem, big } = bucket();
  const store = new FaultStore(mem);
  const { fs, read, readOutcome, clock } = testFilesystem({ store });
  const fd = await fs.open('/data/big.bin', constants.O_RDONLY);
  store.inject({ op: 'readRange', times: 1, fault: { kind: 'error', error: new StoreError('unreachable', 'connect ECONNREFUSED (injected)') } });
  const first = await readOutcome(fd, 2 * MiB, 4 * KiB);
  t.equal('errno' in first && first.errno, 'EIO');
  const calls = store.calls.readRange;
  const again = await readOutcome(fd, 2 * MiB + 4 * KiB, 4 * KiB);
  t.equal('errno' in again && again.errno, 'EIO', 'the next read fails at once');
  t.equal(store.calls.readRange, calls, 'without asking the store');
  clock.advance(1_999);
  t.equal(await errnoOf(read(fd, 2 * MiB, 4 * KiB)), 'EIO', 'still within the window');
  clock.advance(2);
  t.ok((await read(fd, 2 * MiB, 4 * KiB)).equals(big.subarray(2 * MiB, 2 * MiB + 4 * KiB)), 'after 2 s the read goes to the store again');
  fs.release(fd);
});

t.test('read-ahead hanging with no reader waiting is aborted by release', async (t) => {
  const { mem, big } = bucket();
  const store = new FaultStore(mem);
  const { fs, read } = testFilesystem({ store });
  store.inject({ op: 'readRange', fault: { kind: 'hang' } });
  const fd = await fs.open('/data/big.bin', constants.O_RDONLY);
  // Served from the first bytes the lookup fetched; starts read-ahead, which hangs.
  t.ok((await read(fd, 0, 4 * KiB)).equals(big.subarray(0, 4 * KiB)));
  await settle();
  t.ok(store.hanging > 0, `read-ahead hangs (${store.hanging} GETs)`);
  t.ok(fs.fetcher.inflightBytes > 0);
  fs.release(fd);
  await settle();
  t.equal(store.hanging, 0, 'every hanging GET ended by its abort signal');
  t.equal(fs.fetcher.inflightBytes, 0, 'nothing in flight');
  t.equal(fs.cache.reservedBytes, 0, 'no reservation left');
});

t.test('background errors reach the sink the helper exposes', async (t) => {
  const { mem } = bucket();
  const store = new FaultStore(mem);
  const { fs, backgroundErrors } = testFilesystem({ store });
  store.inject({ op: 'list', fault: { kind: 'error', error: new StoreError('unreachable', 'down (injected)') } });
  await fs.statfs();
  await settle();
  t.ok(backgroundErrors.length >= 1, `reported: ${backgroundErrors.map((e) => e.what).join(', ')}`);
});
