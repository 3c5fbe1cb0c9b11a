// Issue 10: what a reload of config.json asks of the config layer: the layout chosen at start is
// kept, a problem of one mount leaves that mount out (lenient) instead of refusing the file.
import t from 'tap';
import path from 'node:path';
import { loadFluidPlan, type LoadContext } from '../../../src/config/index.js';
import { k8sSecret, rejectsConfig, tempDir, writeConfig, type T } from './fixtures/helpers.js';

async function loader(t: T) {
  const dir = await tempDir(t);
  const secretsRoot = path.join(dir, 'secrets');
  await k8sSecret(secretsRoot, 'keys', { id: 'AKIAFILE\n', secret: 'SeCrEt\n' });
  let n = 0;
  return {
    secretsRoot,
    load: async (config: object, ctx: Partial<LoadContext> = {}) => {
      const file = await writeConfig(dir, `config-${n++}.json`, { targetPath: '/t', ...config });
      return loadFluidPlan({ kind: 'fluid', configPath: file, flags: {} }, { env: {}, secretsRoot, ...ctx });
    },
  };
}

const m = (name: string, extra: object = {}) => ({ name, mountPoint: `s3://bucket-${name}`, ...extra });

t.test('start-up chooses the layout: a lone mount without path is the root, else folders', async (t) => {
  const { load } = await loader(t);
  const lone = await load({ mounts: [m('a')] });
  t.equal(lone.layout, 'root');
  t.same(lone.buckets[0]?.folder, []);
  t.equal((await load({ mounts: [m('a', { path: '/' })] })).layout, 'root');
  t.equal((await load({ mounts: [m('a', { path: '/x' })] })).layout, 'folders');
  t.equal((await load({ mounts: [m('a'), m('b')] })).layout, 'folders');
  t.equal((await load({ mounts: [] })).layout, 'folders');
});

t.test('a kept folders layout: a lone mount is a folder, and path "/" is refused', async (t) => {
  const { load } = await loader(t);
  const folders = { layout: { kind: 'folders' } } as const;
  const plan = await load({ mounts: [m('a')] }, folders);
  t.equal(plan.layout, 'folders');
  t.same(plan.buckets[0]?.folder, ['a']);
  await rejectsConfig(t, () => load({ mounts: [m('a', { path: '/' })] }, folders), { code: 'LAYOUT', startsWith: 'mount "a": path "/"', has: ['root'] });
  const lenient = await load({ mounts: [m('a', { path: '/' }), m('b')] }, { ...folders, lenient: true });
  t.same(
    lenient.buckets.map((b) => [b.name, b.folder]),
    [['b', ['b']]],
  );
  t.same(
    lenient.failures.map((f) => [f.name, f.folder, f.error.code]),
    [['a', undefined, 'LAYOUT']],
  );
});

t.test('a kept root layout: the root mount stays, every other mount is refused', async (t) => {
  const { load } = await loader(t);
  const root = { layout: { kind: 'root', rootMount: 'b' } } as const;
  const want = 'mount "a": cannot be added: mount "b" is the root of targetPath (the layout chosen at start); restart the FUSE pod to show mounts in folders';
  await rejectsConfig(t, () => load({ mounts: [m('a'), m('b')] }, root), { code: 'LAYOUT', startsWith: want });

  const plan = await load({ mounts: [m('a'), m('b', { path: '/somewhere' }), m('c')] }, { ...root, lenient: true });
  t.equal(plan.layout, 'root');
  t.same(
    plan.buckets.map((b) => [b.name, b.folder]),
    [['b', []]],
    'the root mount stays at the root whatever its path says',
  );
  t.same(
    plan.failures.map((f) => [f.name, f.folder, f.error.code]),
    [
      ['a', undefined, 'LAYOUT'],
      ['c', undefined, 'LAYOUT'],
    ],
  );
  t.equal(plan.failures[0]?.error.message, want);

  const gone = await load({ mounts: [m('c'), m('d')] }, { layout: { kind: 'root', rootMount: 'b' }, lenient: true });
  t.same(
    gone.buckets.map((b) => [b.name, b.folder]),
    [['c', []]],
    'the root mount gone: the first mount takes the root',
  );
  t.equal((await load({ mounts: [] }, root)).layout, 'root', 'kept with no mount at all');
});

t.test('lenient: each problem confined to one mount is a failure of that mount, the others serve', async (t) => {
  const { load, secretsRoot } = await loader(t);
  const keys = (k: string) => ({ 'access-key': `${secretsRoot}/keys/id`, 'secret-key': `${secretsRoot}/keys/${k}` });
  const config = {
    mounts: [
      m('good', { options: keys('secret') }),
      m('badvalue', { options: { 'stat-cache-ttl': 'soon' } }),
      m('nosecret', { options: keys('absent') }),
      m('folderref', { options: { 'access-key': `${secretsRoot}/keys`, 'secret-key': `${secretsRoot}/keys/secret` } }),
      { name: 'badsource', mountPoint: 'pvc://claim/x' },
      m('clash', { path: '/good' }),
      m('halfkey', { options: { 'access-key': 'AKIAONLY' } }),
      { name: 'minio', mountPoint: 'minio://bucket-m' },
      m('bad/name'),
    ],
  };
  const plan = await load(config, { lenient: true });
  t.same(
    plan.buckets.map((b) => b.name),
    ['good'],
  );
  t.equal(plan.buckets[0]?.credentials?.secretAccessKey.value, 'SeCrEt');
  t.same(
    plan.failures.map((f) => [f.name, f.folder, f.error.code]),
    [
      // Where and what first (no file read yet), then the buckets.
      ['badsource', ['badsource'], 'BAD_MOUNT_POINT'],
      ['clash', undefined, 'LAYOUT'],
      ['bad/name', undefined, 'LAYOUT'],
      ['badvalue', ['badvalue'], 'BAD_OPTION'],
      ['nosecret', ['nosecret'], 'SECRET_FILE'],
      ['folderref', ['folderref'], 'SECRET_FILE'],
      ['halfkey', ['halfkey'], 'MISSING_CREDENTIAL'],
      ['minio', ['minio'], 'ENDPOINT_REQUIRED'],
    ],
    'every failure, with its folder when the folder is not the problem',
  );
  for (const f of plan.failures) {
    t.ok(f.error.message.startsWith(`mount ${JSON.stringify(f.name)}: `), f.error.message);
    t.notMatch(f.error.message, /SeCrEt|AKIAFILE|AKIAONLY/, 'no secret in a failure');
  }
  t.same(plan.failures.find((f) => f.name === 'folderref')?.error.message.includes('has no "key"'), true);

  await rejectsConfig(t, () => load(config), { code: 'LAYOUT', startsWith: 'mount "clash"' });
  await rejectsConfig(t, () => load({ mounts: config.mounts.slice(0, 4) }), { code: 'BAD_OPTION', startsWith: 'mount "badvalue"' });
  t.same((await load({ mounts: [m('good')] })).failures, [], 'not lenient: failures is empty');
});

t.test('lenient: problems of the whole file still throw', async (t) => {
  const { load } = await loader(t);
  const lenient = { lenient: true };
  await rejectsConfig(t, () => load({ mounts: [m('a')], runtimeOptions: { 'stat-cache-ttl': 'soon' } }, lenient), {
    code: 'BAD_OPTION',
    has: ['"stat-cache-ttl" (from runtimeOptions)'],
  });
  await rejectsConfig(t, () => load({ mounts: [m('a'), m('b')], runtimeOptions: { 'cache-size': 'big' } }, lenient), {
    code: 'BAD_OPTION',
    has: ['"cache-size"'],
  });
  await rejectsConfig(t, () => load({ mounts: [m('a')] }, { ...lenient, env: { MOUNT_OPTIONS: 'region=' } }), {
    code: 'BAD_OPTION',
    has: ['"region" (from MOUNT_OPTIONS)'],
  });
  await rejectsConfig(t, () => load({ mounts: [m('a')], targetPath: 'relative' }, lenient), { code: 'TARGET_PATH' });
  await rejectsConfig(t, () => load({ mounts: 'x' }, lenient), { code: 'CONFIG_SHAPE' });
});
