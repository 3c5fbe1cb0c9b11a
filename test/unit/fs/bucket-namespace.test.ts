import t from 'tap';
import { BucketNamespace } from '../../../src/fs/bucket-namespace.js';
import { MemoryStore } from '../helpers/memory-store.js';

function ns(store: MemoryStore, prefix = '', onSkippedKey?: (k: string, why: string) => void) {
  return new BucketNamespace({ store, prefix, statCacheTtlMs: 60_000, negativeCacheTtlMs: 5_000, dirMtimeMs: 1, ...(onSkippedKey ? { onSkippedKey } : {}) });
}

t.test('folders come from prefixes, with or without marker objects', async (t) => {
  const s = new MemoryStore();
  s.put('marked/', '');
  s.put('implicit/deep/file.txt', 'x');
  s.put('top.txt', 'hello');
  const n = ns(s);
  const names = (await n.list('')).map((c) => `${c.name}:${c.entry.kind}`);
  t.same(names, ['implicit:dir', 'marked:dir', 'top.txt:file']);
  t.same(await n.list('marked'), [], 'an empty folder with a marker lists as empty');
  t.equal((await n.lookup('implicit/deep'))?.kind, 'dir');
});

t.test('a name that is both a file and a prefix is a directory, in listings and lookups', async (t) => {
  const s = new MemoryStore();
  s.put('a', 'file');
  s.put('a/b', 'inner');
  t.equal((await ns(s).lookup('a'))?.kind, 'dir', 'lookup without a listing');
  const n = ns(s);
  t.same(
    (await n.list('')).map((c) => c.entry.kind),
    ['dir'],
    'listing shows one entry',
  );
  t.equal((await n.lookup('a'))?.kind, 'dir');
});

t.test('a listing answers lookups of its children without more requests', async (t) => {
  const s = new MemoryStore();
  for (let i = 0; i < 2500; i++) s.put(`d/f${String(i).padStart(4, '0')}`, 'x');
  const n = ns(s);
  const children = await n.list('d');
  t.equal(children.length, 2500, 'all pages read');
  const lists = s.calls.list;
  const heads = s.calls.head;
  for (const c of children) await n.lookup(`d/${c.name}`);
  t.equal(await n.lookup('d/missing'), undefined, 'absent name answered from the listing');
  t.equal(s.calls.head, heads, 'no HEAD per entry');
  t.equal(s.calls.list, lists, 'no LIST per entry');
  t.equal(lists, 3, 'three pages of 1000');
});

t.test('a miss is cached and concurrent lookups share one request', async (t) => {
  const s = new MemoryStore();
  const n = ns(s);
  await Promise.all([n.lookup('nope'), n.lookup('nope'), n.lookup('nope')]);
  t.equal(s.calls.head, 1);
  await n.lookup('nope');
  t.equal(s.calls.head, 1, 'negative answer cached');
});

t.test('keys a filesystem cannot show are skipped with one warning each', async (t) => {
  const s = new MemoryStore();
  s.put('ok.txt', 'x');
  s.put('x'.repeat(300), 'long');
  s.put('dir//double', 'x');
  s.put('./dot', 'x');
  s.put('line\nbreak.txt', 'x');
  const warned: string[] = [];
  const n = ns(s, '', (k) => warned.push(k));
  t.same(
    (await n.list('')).map((c) => c.name),
    ['dir', 'ok.txt'],
  );
  t.same(
    (await n.list('dir')).map((c) => c.name),
    [],
  );
  const again: string[] = [];
  await ns(s, '', (k) => again.push(k)).list('');
  await new Promise((r) => setTimeout(r, 20)); // background listings of subfolders
  // A key is reported as the prefix a folder listing shows or as the whole key a tree listing
  // shows, never twice by one mount, and every unshowable key is reported.
  const bad = ['./dot', 'dir//double', 'x'.repeat(300), 'line\nbreak.txt'];
  for (const [label, list] of [
    ['first mount', warned],
    ['second mount', again],
  ] as const) {
    t.equal(new Set(list).size, list.length, `${label}: no key warned twice`);
    t.ok(
      list.every((k) => bad.some((b) => b.startsWith(k))),
      `${label}: only unshowable keys`,
    );
    t.ok(
      bad.every((b) => list.some((k) => b.startsWith(k))),
      `${label}: every unshowable key`,
    );
  }
});

t.test('a prefix mount sees only its prefix', async (t) => {
  const s = new MemoryStore();
  s.put('data/a.txt', 'a');
  s.put('other/b.txt', 'b');
  const n = ns(s, 'data/');
  t.same(
    (await n.list('')).map((c) => c.name),
    ['a.txt'],
  );
  t.equal(await n.lookup('other'), undefined);
  const e = await n.lookup('a.txt');
  t.equal(e?.kind === 'file' ? e.key : '', 'data/a.txt');
});

t.test('looking up siblings lists their folder once instead of a HEAD each', async (t) => {
  const s = new MemoryStore();
  for (let i = 0; i < 300; i++) s.put(`train/img${i}.jpg`, 'x');
  const n = ns(s);
  await n.lookup('train/img0.jpg');
  t.equal(s.calls.head, 1, 'the first lookup asks directly');
  for (let i = 1; i < 300; i++) t.equal((await n.lookup(`train/img${i}.jpg`))?.kind, 'file');
  t.equal(await n.lookup('train/none.jpg'), undefined);
  t.equal(s.calls.head, 1, 'no more HEADs');
  t.equal(s.calls.list, 2, 'one LIST for the first lookup, one listing page for the rest');
});

t.test('a folder too large to list for a lookup is not listed for lookups', async (t) => {
  const s = new MemoryStore();
  for (let i = 0; i < 10_050; i++) s.put(`big/f${i}`, 'x');
  const n = ns(s);
  for (let i = 0; i < 5; i++) t.equal((await n.lookup(`big/f${i}`))?.kind, 'file');
  const lists = s.calls.list;
  t.ok(lists <= 5 + 10, `gave up after 10 pages (${lists} LIST calls)`);
  t.equal((await n.list('big')).length, 10_050, 'readdir still lists it all');
});

t.test('listing a folder lists its small tree flat in the background; a walk then costs nothing more', async (t) => {
  const s = new MemoryStore();
  for (let d = 0; d < 20; d++) for (let i = 0; i < 3; i++) s.put(`root/d${String(d).padStart(2, '0')}/sub/f${i}`, 'x');
  s.put('root/empty-marker/', '');
  s.put('root/top.txt', 'x');
  const n = ns(s);
  t.equal((await n.list('root')).length, 22);
  await new Promise((r) => setTimeout(r, 20));
  const lists = s.calls.list;
  t.equal(lists, 2, 'the folder, then one flat page for its whole tree');
  for (let d = 0; d < 20; d++) {
    const dir = `root/d${String(d).padStart(2, '0')}`;
    t.same(
      (await n.list(dir)).map((c) => `${c.name}:${c.entry.kind}`),
      ['sub:dir'],
    );
    t.equal((await n.list(`${dir}/sub`)).length, 3);
    t.equal((await n.lookup(`${dir}/sub/f1`))?.kind, 'file');
  }
  t.same(await n.list('root/empty-marker'), []);
  t.equal(s.calls.list, lists, 'the walk is served from the tree listing');
});

t.test('a tree too large to list flat falls back to listing the first subfolders', async (t) => {
  const s = new MemoryStore();
  for (let d = 0; d < 20; d++) for (let i = 0; i < 300; i++) s.put(`big/d${String(d).padStart(2, '0')}/f${i}`, 'x');
  const n = ns(s);
  await n.list('big');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(s.calls.list, 1 + 5 + 16, 'the folder, 5 flat pages given up, then 16 subfolders');
  const lists = s.calls.list;
  t.equal((await n.list('big/d03')).length, 300);
  t.equal(s.calls.list, lists, 'a prefetched subfolder costs nothing');
});
