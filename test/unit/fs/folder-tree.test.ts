import t from 'tap';
import { FolderTree } from '../../../src/fs/folder-tree.js';

t.test('a root bucket owns every path', async (t) => {
  const l = new FolderTree([{ folder: [], value: 'root' }]);
  t.same(l.resolve('/'), { kind: 'bucket', value: 'root', rel: '' });
  t.same(l.resolve('/a/b'), { kind: 'bucket', value: 'root', rel: 'a/b' });
});

t.test('several buckets sit in folders under virtual directories', async (t) => {
  const l = new FolderTree([
    { folder: ['x'], value: 'X' },
    { folder: ['y', 'z'], value: 'Z' },
  ]);
  t.same(l.resolve('/'), { kind: 'virtual', children: ['x', 'y'] });
  t.same(l.resolve('/y'), { kind: 'virtual', children: ['z'] });
  t.same(l.resolve('/y/z/k'), { kind: 'bucket', value: 'Z', rel: 'k' });
  t.same(l.resolve('/x'), { kind: 'bucket', value: 'X', rel: '' });
  t.same(l.resolve('/nope'), { kind: 'none' });
});

t.test('buckets put and removed while serving: virtual folders appear and go with them', async (t) => {
  const l = new FolderTree<string>();
  t.same(l.resolve('/'), { kind: 'virtual', children: [] }, 'no bucket: an empty root');
  l.put(['g', 'a'], 'A');
  l.put(['g', 'b'], 'B');
  t.same(l.resolve('/g'), { kind: 'virtual', children: ['a', 'b'] });
  l.remove(['g', 'a']);
  t.same(l.resolve('/g'), { kind: 'virtual', children: ['b'] });
  t.same(l.resolve('/g/a'), { kind: 'none' });
  l.remove(['g', 'b']);
  t.same(l.resolve('/'), { kind: 'virtual', children: [] }, 'the virtual folder that led only to them is gone');
  t.same(l.resolve('/g'), { kind: 'none' });
  l.remove(['never', 'there']);
  l.put([], 'root');
  t.same(l.resolve('/x'), { kind: 'bucket', value: 'root', rel: 'x' });
  t.equal(l.at([]), 'root');
  l.put([], 'root2');
  t.equal(l.at([]), 'root2', 'put at the same folder replaces');
});

t.test('a folder inside or around another bucket is refused and leaves the tree as it was', async (t) => {
  const l = new FolderTree([{ folder: ['a'], value: 'A' }]);
  t.throws(() => l.put(['a', 'b'], 'B'), /inside another bucket/);
  t.throws(() => l.put([], 'R'), /inside it/);
  t.same(l.resolve('/'), { kind: 'virtual', children: ['a'] });
  t.same(l.resolve('/a/b'), { kind: 'bucket', value: 'A', rel: 'b' });
  const m = new FolderTree([{ folder: ['x', 'y'], value: 'Y' }]);
  t.throws(() => m.put(['x'], 'X'), /inside it/);
  t.same(m.resolve('/x'), { kind: 'virtual', children: ['y'] });
});
