// Folders of several mounts inside the one FUSE mount, and their conflicts.
import t from 'tap';
import { loadFluidPlan } from '../../../src/config/index.js';
import { layoutFolders } from '../../../src/config/mount-folders.js';
import { rejectsConfig, tempDir, writeConfig } from './fixtures/helpers.js';

t.test('one mount without path (or path /) is the root', async (t) => {
  t.same(layoutFolders([{ name: 'a' }]), [[]]);
  t.same(layoutFolders([{ name: 'a', path: '' }]), [[]]);
  t.same(layoutFolders([{ name: 'a', path: '/' }]), [[]]);
  t.same(layoutFolders([{ name: 'a', path: '/data/x/' }]), [['data', 'x']], 'a lone mount with a path goes there');
  t.same(layoutFolders([]), [], 'no mount');
});

t.test('several mounts: path, else /<name>', async (t) => {
  t.same(layoutFolders([{ name: 'a' }, { name: 'b' }]), [['a'], ['b']]);
  t.same(layoutFolders([{ name: 'a', path: '/x/a' }, { name: 'b', path: 'x//b' }, { name: 'c' }]), [['x', 'a'], ['x', 'b'], ['c']]);
  t.same(layoutFolders([{ name: 'ab' }, { name: 'a' }]), [['ab'], ['a']], 'a name prefix is not a folder prefix');
});

t.test('conflicts name both mounts', async (t) => {
  const cases: [Parameters<typeof layoutFolders>[0], string[]][] = [
    [
      [{ name: 'a' }, { name: 'b', path: '/a' }],
      ['mount "b"', 'mount "a"', 'both mounts use the folder "/a"'],
    ],
    [
      [
        { name: 'a', path: '/x' },
        { name: 'b', path: '/x/y' },
      ],
      ['mount "b"', 'mount "a"', 'inside'],
    ],
    [
      [
        { name: 'a', path: '/x/y' },
        { name: 'b', path: 'x' },
      ],
      ['mount "b"', 'mount "a"', 'inside'],
    ],
    // Beside other mounts, path "/" is refused for the mount that has it (issue 10: folders for all).
    [
      [{ name: 'a', path: '/' }, { name: 'b' }],
      ['mount "a"', 'path "/"', 'root of targetPath'],
    ],
    [
      [{ name: 'a' }, { name: 'b', path: '//' }],
      ['mount "b"', 'path "//"', 'root of targetPath'],
    ],
    [
      [
        { name: 'a', path: '/' },
        { name: 'b', path: '/' },
      ],
      ['mount "a"', 'root of targetPath'],
    ],
  ];
  for (const [inputs, has] of cases) {
    await rejectsConfig(t, () => layoutFolders(inputs), { code: 'LAYOUT', has });
  }
});

t.test('unusable folder names', async (t) => {
  const cases: [Parameters<typeof layoutFolders>[0], string[]][] = [
    [
      [{ name: 'a', path: '/x/../y' }, { name: 'b' }],
      ['mount "a"', '".."'],
    ],
    [
      [{ name: 'a', path: './y' }, { name: 'b' }],
      ['mount "a"', '"."'],
    ],
    [
      [{ name: 'a/b' }, { name: 'c' }],
      ['mount "a/b"', 'its name'],
    ],
    [[{ name: '..' }, { name: 'c' }], ['mount ".."']],
  ];
  for (const [inputs, has] of cases) {
    await rejectsConfig(t, () => layoutFolders(inputs), { code: 'LAYOUT', has });
  }
});

t.test('in a Fluid config: names default to mount<i>', async (t) => {
  const dir = await tempDir(t);
  const file = await writeConfig(dir, 'config.json', {
    mounts: [
      { mountPoint: 's3://bucket-one', name: 'images', path: '/train/images' },
      { mountPoint: 's3://bucket-two/labels' },
      { mountPoint: 's3://bucket-three', name: 'extra' },
    ],
    targetPath: '/t',
  });
  const plan = await loadFluidPlan({ kind: 'fluid', configPath: file, flags: {} }, { env: {} });
  t.same(
    plan.buckets.map((b) => [b.name, b.folder]),
    [
      ['images', ['train', 'images']],
      ['mount1', ['mount1']],
      ['extra', ['extra']],
    ],
  );

  const clash = await writeConfig(dir, 'clash.json', {
    mounts: [{ mountPoint: 's3://bucket-one', name: 'mount1' }, { mountPoint: 's3://bucket-two' }],
    targetPath: '/t',
  });
  await rejectsConfig(t, () => loadFluidPlan({ kind: 'fluid', configPath: clash, flags: {} }, { env: {} }), {
    code: 'LAYOUT',
    has: ['mount "mount1"', 'both mounts use the folder "/mount1"'],
  });
});
