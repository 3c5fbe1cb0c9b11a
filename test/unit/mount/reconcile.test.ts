import t from 'tap';
import { planChanges, type MountProblem, type ServedMount } from '../../../src/mount/reconcile.js';
import type { BucketMount } from '../../../src/config/plan.js';
import { testMount } from '../helpers/test-filesystem.js';

const mount = (name: string, overrides: Partial<BucketMount> = {}): BucketMount => testMount(name, { folder: [name], ...overrides });
const served = (...mounts: BucketMount[]): Map<string, ServedMount> => new Map(mounts.map((m) => [m.name, { kind: 'mount', mount: m }]));
const problem = (name: string, message: string, folder: readonly string[] | undefined = [name]): MountProblem => ({ name, folder, error: new Error(message) });
const kinds = (changes: ReturnType<typeof planChanges>) =>
  changes.map((c) => `${c.kind}:${'name' in c ? c.name : 'mount' in c ? c.mount.name : c.problem.name}`);

t.test('the same config changes nothing', async (t) => {
  const a = mount('a');
  t.same(planChanges(served(a), { buckets: [{ ...a }], failures: [] }), []);
});

t.test('added, removed and untouched mounts by name', async (t) => {
  const changes = planChanges(served(mount('a'), mount('b')), { buckets: [mount('b'), mount('c')], failures: [] });
  t.same(kinds(changes), ['remove:a', 'add:c']);
});

t.test('where the bytes come from needs a new store; the rest is retuned in place', async (t) => {
  const a = mount('a');
  const cases: [Partial<BucketMount>, string, string[]][] = [
    [{ bucket: 'other' }, 'replace', ['bucket']],
    [{ prefix: 'p/' }, 'replace', ['prefix']],
    [{ folder: ['elsewhere'] }, 'replace', ['folder']],
    [{ endpoint: 'http://10.0.0.1:9000' }, 'replace', ['endpoint']],
    [{ region: 'eu-west-1', fileMode: 0o400 }, 'replace', ['region', 'fileMode']],
    [{ fileMode: 0o400 }, 'retune', ['fileMode']],
    [{ statCacheTtlMs: 1, negativeCacheTtlMs: 2 }, 'retune', ['statCacheTtlMs', 'negativeCacheTtlMs']],
    [{ maxFolderEntries: 10 }, 'retune', ['maxFolderEntries']],
    [{ uid: 0, gid: 0 }, 'retune', ['uid', 'gid']],
  ];
  for (const [change, kind, fields] of cases) {
    const [c] = planChanges(served(a), { buckets: [{ ...a, ...change }], failures: [] });
    t.equal(c?.kind, kind, JSON.stringify(change));
    t.same(c && 'fields' in c ? c.fields : [], fields, JSON.stringify(change));
  }
});

t.test('credentials compare by source: a rotated secret file is no change, a new literal key is', async (t) => {
  const fromFile = (value: string): BucketMount =>
    mount('a', {
      credentials: {
        accessKeyId: { option: 'access-key', value, file: '/etc/fluid/secrets/s/id' },
        secretAccessKey: { option: 'access-secret', value: `${value}-secret`, file: '/etc/fluid/secrets/s/secret' },
      },
    });
  t.same(planChanges(served(fromFile('old')), { buckets: [fromFile('new')], failures: [] }), [], 'rotation is followed by the store');
  const literal = (value: string): BucketMount =>
    mount('a', { credentials: { accessKeyId: { option: 'access-key', value }, secretAccessKey: { option: 'access-secret', value } } });
  const [c] = planChanges(served(literal('k1')), { buckets: [literal('k2')], failures: [] });
  t.equal(c?.kind, 'replace');
  t.same(c && 'fields' in c ? c.fields : [], ['credentials']);
  t.notMatch(JSON.stringify(c && 'fields' in c ? c.fields : []), /k1|k2/, 'no value in the change');
});

t.test('a replacement comes before additions, removals before both', async (t) => {
  const changes = planChanges(served(mount('a'), mount('b')), {
    buckets: [mount('c', { folder: ['a'] }), mount('b', { bucket: 'other' })],
    failures: [],
  });
  t.same(kinds(changes), ['remove:a', 'replace:b', 'add:c']);
});

t.test('a broken new version of a served mount keeps the old one serving', async (t) => {
  const a = mount('a');
  const changes = planChanges(served(a), { buckets: [], failures: [problem('a', 'option "uid": not a number')] });
  t.same(kinds(changes), ['keep:a']);
  t.equal(changes[0]?.kind === 'keep' && changes[0].mount, a);
});

t.test('a new mount with a problem shows an unavailable folder once, until the problem changes or is fixed', async (t) => {
  const p = problem('n', 'cannot read secret file /etc/fluid/secrets/n/key: ENOENT');
  const first = planChanges(new Map(), { buckets: [], failures: [p] });
  t.same(kinds(first), ['unavailable:n']);
  const current = new Map<string, ServedMount>([['n', { kind: 'problem', problem: p }]]);
  t.same(planChanges(current, { buckets: [], failures: [problem('n', p.error.message)] }), [], 'the same problem again: nothing');
  t.same(kinds(planChanges(current, { buckets: [], failures: [problem('n', 'another problem')] })), ['remove:n', 'unavailable:n']);
  t.same(kinds(planChanges(current, { buckets: [mount('n')], failures: [] })), ['add:n'], 'fixed: the mount takes its folder');
  t.same(kinds(planChanges(current, { buckets: [mount('n', { folder: ['x'] })], failures: [] })), ['remove:n', 'add:n'], 'fixed elsewhere');
  t.same(kinds(planChanges(current, { buckets: [], failures: [] })), ['remove:n'], 'removed from the config');
});
