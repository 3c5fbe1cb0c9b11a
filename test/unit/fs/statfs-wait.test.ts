/**
 * Only a statfs of the root waits for the first df scan (Fluid's `df` of targetPath wants the
 * dataset's size). find, du and rm -r ask statfs of the folder they start in (gnulib's fts reads
 * the file system type): a walk must neither wait for a listing of every bucket nor compete with
 * one, so the scan it asked for starts a little later.
 */
import t from 'tap';
import { MemoryStore } from '../helpers/memory-store.js';
import { FaultStore, Gate } from '../helpers/fault-store.js';
import { testFilesystem } from '../helpers/test-filesystem.js';

const usedOf = (s: { blocks: number; bfree: number; frsize: number }): number => (s.blocks - s.bfree) * s.frsize;

t.test('a statfs of a folder answers while the first scan is still listing; a statfs of the root waits for it', async (t) => {
  const mem = new MemoryStore();
  mem.put('d/a', Buffer.alloc(3000));
  mem.put('d/b', Buffer.alloc(96));
  const store = new FaultStore(mem);
  const gate = new Gate();
  store.inject({ op: 'list', fault: { kind: 'delay', until: gate.promise } });
  const { fs } = testFilesystem({ store });

  let folderAnswered = false;
  const folder = fs.statfs('/d').then((s) => ((folderAnswered = true), s));
  const root = fs.statfs('/');
  let rootAnswered = false;
  void root.then(() => (rootAnswered = true));
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  t.ok(folderAnswered, 'the folder statfs answered with the gate still shut');
  t.equal(usedOf(await folder), 0, 'with what it had: nothing scanned yet');
  t.notOk(rootAnswered, 'the root statfs is still waiting for the scan');
  gate.open();
  t.equal(usedOf(await root), 3096, 'and answers the scanned total');
  t.equal(store.calls.list, 1, 'one scan for both');
  fs.close();
});

t.test('a walk alone: the scan its statfs asked for starts 5 s later, not during the walk', async (t) => {
  const mem = new MemoryStore();
  mem.put('d/a', Buffer.alloc(100));
  const { fs, advance } = testFilesystem({ store: mem });
  t.equal(usedOf(await fs.statfs('/d')), 0);
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  t.equal(mem.calls.list, 0, 'no LIST during the walk');
  advance(5_000);
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  t.equal(mem.calls.list, 1, 'the scan ran once its time came');
  t.equal(usedOf(await fs.statfs('/d')), 100, 'and later answers carry its figure');
  fs.close();
});
