/**
 * A fresh mount lists each bucket's root at once (Filesystem option warmUp, set by the agent):
 * the first lookups of a path's first folder or of a file at the root then cost no round trip
 * of their own, a lookup made while that listing is on its way waits for it, and a listing that
 * fails leaves the lookups to ask S3 as before.
 */
import t from 'tap';
import { BucketNamespace } from '../../../src/fs/bucket-namespace.js';
import { ListFaultStore, settle, unreachable } from '../helpers/listing-stores.js';
import { MemoryStore } from '../helpers/memory-store.js';
import { testFilesystem } from '../helpers/test-filesystem.js';

function ns(store: ListFaultStore) {
  return new BucketNamespace({ store, prefix: '', statCacheTtlMs: 60_000, negativeCacheTtlMs: 5_000, dirMtimeMs: 1 });
}

function store(): ListFaultStore {
  const s = new ListFaultStore();
  s.put('seq/big.bin', 'x'.repeat(100));
  s.put('top.txt', 'hello');
  return s;
}

t.test('after the warm-up, lookups at the root cost no request: a folder, a file, a missing name', async (t) => {
  const s = store();
  const n = ns(s);
  n.warmUp();
  await settle();
  t.equal(s.calls.list, 1, 'one LIST: the root');
  t.match(await n.lookup('seq'), { kind: 'dir' });
  t.match(await n.lookup('top.txt'), { kind: 'file', size: 5 });
  t.equal(await n.lookup('missing'), undefined);
  t.same([s.calls.list, s.calls.get, s.calls.head], [1, 0, 0], 'nothing more asked of S3');
});

t.test('a lookup made while the warm-up listing is on its way waits for it', async (t) => {
  const s = store();
  const n = ns(s);
  n.warmUp();
  t.match(await n.lookup('seq'), { kind: 'dir' });
  t.same([s.calls.list, s.calls.get, s.calls.head], [1, 0, 0]);
});

t.test('a warm-up that fails is silent, and lookups ask S3 themselves', async (t) => {
  const s = store();
  s.failList = (_req, n) => (n === 1 ? unreachable() : undefined);
  const n = ns(s);
  n.warmUp();
  await settle();
  t.match(await n.lookup('top.txt'), { kind: 'file', size: 5 });
  t.ok(s.calls.get + s.calls.head > 0, 'asked S3 for the file');
});

t.test('the Filesystem warms each bucket up only when asked to', async (t) => {
  const cold = new MemoryStore();
  cold.put('a', 'x');
  testFilesystem({ store: cold });
  await settle();
  t.equal(cold.calls.list, 0, 'default: no request at start');
  const warm = new MemoryStore();
  warm.put('a', 'x');
  const { fs } = testFilesystem({ store: warm, warmUp: true });
  await settle();
  t.equal(warm.calls.list, 1, 'warmUp: the root listed once');
  t.match(await fs.getattr('/a'), { size: 1 });
  t.same([warm.calls.list, warm.calls.get, warm.calls.head], [1, 0, 0], 'and the lookup answered from it');
});
