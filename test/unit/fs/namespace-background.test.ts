import t from 'tap';
import { BucketNamespace } from '../../../src/fs/bucket-namespace.js';
import { ListFaultStore, settle, unreachable } from '../helpers/listing-stores.js';

function ns(store: ListFaultStore, onBackgroundError: (what: string, err: unknown) => void) {
  return new BucketNamespace({ store, prefix: '', statCacheTtlMs: 60_000, negativeCacheTtlMs: 5_000, dirMtimeMs: 1, onBackgroundError });
}

t.test('a failed background tree listing is reported, and the subfolders are still prefetched', async (t) => {
  const s = new ListFaultStore();
  for (let d = 0; d < 3; d++) s.put(`root/d${d}/f`, 'x');
  s.failList = (req) => (req.delimiter === undefined ? unreachable() : undefined); // flat listings fail
  const told: { what: string; err: unknown }[] = [];
  const n = ns(s, (what, err) => told.push({ what, err }));
  t.equal((await n.list('root')).length, 3);
  await settle();
  t.equal(told.length, 1, 'one report');
  t.match(told[0]?.what, /root/, `names the folder: ${told[0]?.what}`);
  t.match(told[0]?.err, { kind: 'unreachable' });
  const lists = s.calls.list;
  t.equal((await n.list('root/d1')).length, 1, 'subfolders were listed one by one instead');
  t.equal(s.calls.list, lists, 'from the prefetch');
});

t.test('a failed subfolder prefetch is reported, and the walk asks again', async (t) => {
  const s = new ListFaultStore();
  for (let d = 0; d < 20; d++) for (let i = 0; i < 300; i++) s.put(`big/d${String(d).padStart(2, '0')}/f${i}`, 'x'); // too large a tree
  s.failList = (req) => (req.prefix.startsWith('big/d0') ? unreachable() : undefined);
  const told: { what: string; err: unknown }[] = [];
  const n = ns(s, (what, err) => told.push({ what, err }));
  await n.list('big');
  await settle(20);
  t.equal(told.length, 10, 'one report per failed subfolder (d00-d09)');
  t.ok(
    told.every((x) => /big\/d0\d/.test(x.what)),
    'each names its folder',
  );
  s.failList = undefined;
  t.equal((await n.list('big/d03')).length, 300, 'nothing cached from the failure');
});
