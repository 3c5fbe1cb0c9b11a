import t from 'tap';
import { BucketNamespace } from '../../../src/fs/bucket-namespace.js';
import { ManualClock } from '../../../src/clock.js';
import { ListFaultStore } from '../helpers/listing-stores.js';

const name = (i: number): string => `f${String(i).padStart(5, '0')}`;

function ns(store: ListFaultStore, more: Partial<ConstructorParameters<typeof BucketNamespace>[0]> = {}) {
  return new BucketNamespace({ store, prefix: '', statCacheTtlMs: 60_000, negativeCacheTtlMs: 5_000, dirMtimeMs: 1, ...more });
}

t.test('a listing whose continuation token repeats ends with an invalid-response error, not a loop', async (t) => {
  const s = new ListFaultStore();
  for (let i = 0; i < 1500; i++) s.put(`d/${name(i)}`, 'x');
  const real = s.list.bind(s);
  // A broken server (or proxy) that answers the same token forever.
  s.list = async (req) => ({ ...(await real({ ...req, continuationToken: undefined })), nextToken: 'again' });
  const n = ns(s);
  await t.rejects(n.list('d'), { kind: 'invalid-response', name: 'StoreError' });
  t.ok(s.listRequests.length <= 3, `stopped after ${s.listRequests.length} requests`);
});

t.test('a folder larger than the page bound lists its first pages, warns once, and still finds the rest by name', async (t) => {
  const s = new ListFaultStore();
  for (let i = 0; i < 3500; i++) s.put(`big/${name(i)}`, 'x');
  const warned: { key: string; why: string }[] = [];
  const n = ns(s, { maxListingPages: 2, onSkippedKey: (key, why) => warned.push({ key, why }) });
  const shown = await n.list('big');
  t.equal(shown.length, 2000, 'the first two pages');
  t.equal(shown[0]?.name, name(0));
  t.equal(shown[1999]?.name, name(1999));
  t.equal((await n.list('big')).length, 2000, 'again');
  t.equal(warned.length, 1, 'one warning for the folder');
  t.match(warned[0], { key: 'big/', why: /more than 2000 entries/ });
  const lists = s.calls.list;
  t.equal((await n.lookup(`big/${name(10)}`))?.kind, 'file', 'a listed name, from the listing');
  t.equal(s.calls.list, lists, 'no request for it');
  t.equal((await n.lookup(`big/${name(3400)}`))?.kind, 'file', 'a name past the listing is asked for');
  t.equal(await n.lookup('big/none'), undefined, 'a missing name is missing');
  t.equal(await n.lookup(`big/${name(1)}x`), undefined);
});

t.test('cache TTLs run on the injected clock', async (t) => {
  const s = new ListFaultStore();
  s.put('d/a', 'x');
  const clock = new ManualClock();
  const n = ns(s, { clock });
  await n.list('d');
  clock.advance(59_000);
  await n.list('d');
  t.equal(s.calls.list, 1, 'fresh for stat-cache-ttl');
  s.put('d/b', 'x');
  clock.advance(2_000);
  t.same(
    (await n.list('d')).map((c) => c.name),
    ['a', 'b'],
    'listed again once stale',
  );
  t.equal(s.calls.list, 2);
  t.equal(await n.lookup('e'), undefined);
  s.put('e', 'now');
  t.equal(await n.lookup('e'), undefined, 'a miss is remembered');
  clock.advance(5_001);
  t.equal((await n.lookup('e'))?.kind, 'file', 'for negative-cache-ttl');
});

t.test('the listing cache holds to its byte budget', async (t) => {
  const s = new ListFaultStore();
  for (let d = 0; d < 50; d++) for (let i = 0; i < 100; i++) s.put(`d${d}/${name(i)}`, 'x');
  const n = ns(s, { listingCacheBytes: 200_000 }); // about five folders of 100 files
  for (let d = 0; d < 50; d++) await n.list(`d${d}`);
  const lists = s.calls.list;
  await n.list('d49');
  t.equal(s.calls.list, lists, 'the latest listing is cached');
  await n.list('d0');
  t.equal(s.calls.list, lists + 1, 'the oldest was evicted');
});

t.test('warned keys are remembered in a bounded table', async (t) => {
  const s = new ListFaultStore();
  for (let i = 0; i < 10; i++) s.put(`few/${'x'.repeat(256)}${i}`, 'x'); // over 255 bytes: skipped
  for (let i = 0; i < 20_000; i++) s.put(`many/${'x'.repeat(256)}${i}`, 'x');
  const clock = new ManualClock();
  let warnings = 0;
  const n = ns(s, { clock, onSkippedKey: () => warnings++ });
  t.same(await n.list('few'), []);
  clock.advance(61_000);
  t.same(await n.list('few'), []);
  t.equal(warnings, 10, 'each key warned once');
  warnings = 0;
  t.same(await n.list('many'), []);
  t.equal(warnings, 20_000);
  clock.advance(61_000);
  await n.list('many');
  t.ok(warnings > 20_000, `the table forgets old keys (${warnings - 20_000} warned again): it holds about 1 MiB`);
});
