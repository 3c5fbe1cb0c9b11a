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
