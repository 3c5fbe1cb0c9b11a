import t from 'tap';
import { BucketNamespace } from '../../../src/fs/bucket-namespace.js';
import { ListFaultStore, settle, unreachable } from '../helpers/listing-stores.js';

function ns(store: ListFaultStore) {
  return new BucketNamespace({ store, prefix: '', statCacheTtlMs: 60_000, negativeCacheTtlMs: 5_000, dirMtimeMs: 1 });
}

const name = (i: number): string => `f${String(i).padStart(4, '0')}`;

/** A folder of 2,500 objects (three pages), and a store whose second page of any listing of it fails. */
function setup() {
  const s = new ListFaultStore();
  for (let i = 0; i < 2500; i++) s.put(`d/${name(i)}`, 'x');
  s.put('d/sub/inner', 'x');
  s.failList = (req) => (req.prefix.startsWith('d/') && req.continuationToken !== undefined && req.maxKeys !== 1 ? unreachable() : undefined);
  return s;
}

t.test('a folder listing whose second page fails is not served, in part, as complete', async (t) => {
  const s = setup();
  const n = ns(s);
  await t.rejects(n.list('d'), { kind: 'unreachable' }, 'readdir fails');
  await t.rejects(n.list('d'), { kind: 'unreachable' }, 'and fails again: nothing cached');
  s.failList = undefined;
  t.equal((await n.lookup(`d/${name(2400)}`))?.kind, 'file', 'a name of the third page is found');
  t.equal((await n.list('d')).length, 2501, 'the whole folder once the store answers');
});

t.test('a listing for lookups whose second page fails answers no lookup from its first page', async (t) => {
  const s = setup();
  const n = ns(s);
  t.equal((await n.lookup(`d/${name(0)}`))?.kind, 'file', 'first lookup: asked directly');
  // The second lookup in the folder lists it: page 2 fails.
  await t.rejects(n.lookup(`d/${name(2400)}`), { kind: 'unreachable' });
  s.failList = undefined;
  t.equal((await n.lookup(`d/${name(2401)}`))?.kind, 'file', 'not "no such file" from a partial listing');
  t.equal((await n.lookup(`d/${name(2402)}`))?.kind, 'file');
});

t.test('a flat tree listing whose second page fails caches no folder of it', async (t) => {
  const s = new ListFaultStore();
  for (let d = 0; d < 3; d++) for (let i = 0; i < 700; i++) s.put(`r/d${d}/${name(i)}`, 'x'); // 3 pages flat
  s.failList = (req) => (req.delimiter === undefined && req.continuationToken !== undefined ? unreachable() : undefined);
  const n = ns(s);
  t.equal((await n.list('r')).length, 3);
  await settle(20);
  s.failList = undefined;
  // d1 and d2 had only part of their files (or none) in the first flat page.
  t.equal((await n.list('r/d0')).length, 700);
  t.equal((await n.list('r/d1')).length, 700, 'a folder cut by the failed page is listed whole');
  t.equal((await n.lookup(`r/d2/${name(699)}`))?.kind, 'file');
});
