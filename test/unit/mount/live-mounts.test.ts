import t, { type Test } from 'tap';
import pino from 'pino';
import { LiveMounts, type LiveFilesystem, type LiveMountsOptions } from '../../../src/mount/live-mounts.js';
import type { BucketMount, MountPlan } from '../../../src/config/plan.js';
import type { ObjectStore } from '../../../src/store/object-store.js';
import { StoreError } from '../../../src/store/store-error.js';
import { ConfigError } from '../../../src/config/config-error.js';
import type { FsError } from '../../../src/fs/errno.js';
import { TEST_SETTINGS, testMount } from '../helpers/test-filesystem.js';

type Slot = { state: 'serving'; mount: BucketMount; store: ObjectStore } | { state: 'unavailable'; mount: BucketMount; error: FsError };

/** Records what LiveMounts asks of the filesystem; `when` resolves on the first matching call. */
class FakeFs implements LiveFilesystem {
  readonly calls: string[] = [];
  readonly slots = new Map<string, Slot>();
  readonly draining = new Set<string>();
  private waiters: { match: (call: string) => boolean; resolve: () => void }[] = [];

  /** Folders the fake refuses, as the Filesystem refuses a folder inside another's. */
  readonly refuse = new Set<string>();

  putBucket(slot: Slot): void {
    if (this.refuse.has(slot.mount.name)) throw new Error(`folder of ${slot.mount.name} refused`);
    this.slots.set(slot.mount.name, slot);
    this.record(`put ${slot.mount.name} ${slot.state}${slot.state === 'unavailable' ? ` ${slot.error.errno}` : ''}`);
  }
  removeBucket(name: string, graceMs: number): void {
    this.slots.delete(name);
    this.draining.add(name);
    this.record(`remove ${name} ${graceMs}`);
  }
  retuneBucket(mount: BucketMount): void {
    this.record(`retune ${mount.name}`);
  }
  bucketStates(): ReadonlyMap<string, 'serving' | 'unavailable' | 'draining'> {
    const out = new Map<string, 'serving' | 'unavailable' | 'draining'>([...this.draining].map((n) => [n, 'draining'] as const));
    for (const [name, slot] of this.slots) out.set(name, slot.state);
    return out;
  }
  when(call: string): Promise<void> {
    if (this.calls.includes(call)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ match: (c) => c === call, resolve }));
  }
  private record(call: string): void {
    this.calls.push(call);
    this.waiters = this.waiters.filter((w) => (w.match(call) ? (w.resolve(), false) : true));
  }
}

class FakeStore {
  destroyed = 0;
  constructor(readonly id: number) {}
  destroy(): void {
    this.destroyed++;
  }
}

const mount = (name: string, overrides: Partial<BucketMount> = {}): BucketMount => testMount(name, { folder: [name], ...overrides });
const plan = (buckets: BucketMount[], failures: MountPlan['failures'] = []): MountPlan => ({
  targetPath: '/mnt/target',
  layout: 'folders',
  buckets,
  failures,
  settings: TEST_SETTINGS,
  unknownOptions: [],
});

interface Harness {
  live: LiveMounts;
  fs: FakeFs;
  stores: FakeStore[];
  lines: Record<string, unknown>[];
  /** The next plans loadPlan returns (the last one stays). */
  plans: (MountPlan | Error)[];
  loads: number;
  /** Probe outcome by bucket name: a queue; empty means it answers. */
  probeFailures: Map<string, Error[]>;
}

function harness(t: Test, initial: MountPlan, extra: Partial<LiveMountsOptions> = {}): Harness {
  const h = { fs: new FakeFs(), stores: [] as FakeStore[], lines: [] as Record<string, unknown>[], plans: [] as (MountPlan | Error)[], loads: 0 } as Harness;
  h.probeFailures = new Map();
  const log = pino({ level: 'info' }, { write: (line: string) => void h.lines.push(JSON.parse(line) as Record<string, unknown>) });
  h.live = new LiveMounts(
    {
      fs: h.fs,
      log,
      createStore: () => {
        const s = new FakeStore(h.stores.length);
        h.stores.push(s);
        return s as unknown as ObjectStore;
      },
      probe: async (m) => {
        const failure = h.probeFailures.get(m.bucket)?.shift();
        if (failure) throw failure;
      },
      loadPlan: async () => {
        h.loads++;
        const next = h.plans.length > 1 ? h.plans.shift() : h.plans[0];
        if (next instanceof Error) throw next;
        if (!next) throw new Error('no plan');
        return next;
      },
      drainGraceMs: 60_000,
      retryMs: { first: 1, probeMax: 4, configMax: 4 },
      ...extra,
    },
    initial,
  );
  t.teardown(() => h.live.close());
  return h;
}

const logged = (h: Harness, msg: string) => h.lines.filter((l) => l['msg'] === msg);

t.test('a mount added to an empty Dataset serves at once and is probed', async (t) => {
  const h = harness(t, plan([]));
  h.plans.push(plan([mount('a')]));
  t.equal(await h.live.reload(), 'applied');
  await h.fs.when('put a serving');
  t.equal(h.live.generation, 2);
  await t.resolves(waitUntil(() => logged(h, 'mount serving').length === 1));
  t.same(h.live.states(), { serving: 1, probing: 0, failed: 0, draining: 0 });
  t.same(logged(h, 'config applied')[0]?.['added'], ['a']);
});

t.test('a bucket that refuses the keys: its folder answers EACCES until a retry on a fresh store succeeds', async (t) => {
  const h = harness(t, plan([]));
  h.probeFailures.set('a', [new StoreError('access-denied', 'Access Denied'), new StoreError('unreachable', 'connect ECONNREFUSED')]);
  h.plans.push(plan([mount('a')]));
  await h.live.reload();
  await h.fs.when('put a unavailable EACCES');
  await h.fs.when('put a unavailable EIO');
  await waitUntil(() => h.fs.calls.filter((c) => c === 'put a serving').length === 2);
  t.same(h.fs.calls, ['put a serving', 'put a unavailable EACCES', 'put a unavailable EIO', 'put a serving']);
  const served = h.fs.slots.get('a');
  t.equal(served?.state === 'serving' && (served.store as unknown as FakeStore).id, 2, 'the third store serves');
  t.same(
    h.stores.map((s) => s.destroyed),
    [0, 1, 0],
    'the first store went with its slot (the filesystem destroys it), the failed retry store was destroyed here',
  );
  t.equal(logged(h, 'mount not serving: its bucket does not answer; retrying').length, 2);
  t.same(h.live.states(), { serving: 1, probing: 0, failed: 0, draining: 0 });
});

t.test('a new mount whose secret file is missing shows an EACCES folder and is served once the file is there', async (t) => {
  const h = harness(t, plan([]));
  const problem = {
    name: 'a',
    folder: ['a'],
    error: new ConfigError('SECRET_FILE', 'mount "a": option "access-key": cannot read secret file /etc/fluid/secrets/a/key: ENOENT'),
  };
  h.plans.push(plan([], [problem]), plan([], [problem]), plan([mount('a')]));
  await h.live.reload();
  t.same(h.fs.calls, ['put a unavailable EACCES']);
  t.same(h.live.states(), { serving: 0, probing: 0, failed: 1, draining: 0 });
  await h.fs.when('put a serving');
  t.ok(h.loads >= 3, 'the config was read again without any change event');
  t.equal(logged(h, 'mount not served: its config is wrong; retrying').length, 1, 'the same problem is logged once');
});

t.test('a config that cannot be read changes nothing; the next good one applies', async (t) => {
  const a = mount('a');
  const h = harness(t, plan([a]));
  h.plans.push(new ConfigError('CONFIG_JSON', 'config /etc/fluid/config/config.json: invalid JSON at line 1 column 2'), plan([a, mount('b')]));
  t.equal(await h.live.reload(), 'invalid');
  t.same(h.fs.calls, []);
  t.equal(h.live.generation, 1);
  t.match(logged(h, 'config not applied: the last good config keeps serving')[0], { err: /invalid JSON at line 1 column 2/, level: 50 });
  t.equal(await h.live.reload(), 'applied');
  t.equal(h.live.generation, 2);
});

t.test('removed, retuned and replaced mounts', async (t) => {
  const a = mount('a');
  const b = mount('b');
  const c = mount('c');
  const h = harness(t, plan([a, b, c]));
  h.plans.push(
    plan([
      { ...a, fileMode: 0o400 },
      { ...b, bucket: 'other' },
    ]),
  );
  await h.live.reload();
  t.same(h.fs.calls, ['remove c 60000', 'put b serving', 'retune a']);
  t.match(logged(h, 'config applied')[0], { removed: ['c'], replaced: ['b'], retuned: ['a'] }, 'one summary line');
  t.equal(h.live.states().draining, 1);
});

t.test('a broken new version of a served mount is logged once and the old one keeps serving', async (t) => {
  const a = mount('a');
  const h = harness(t, plan([a]));
  const problem = { name: 'a', folder: ['a'], error: new ConfigError('BAD_OPTION', 'mount "a": option "uid": not a non-negative integer: "x"') };
  h.plans.push(plan([], [problem]), plan([], [problem]), plan([a]));
  t.equal(await h.live.reload(), 'unchanged');
  t.equal(await h.live.reload(), 'unchanged');
  t.same(h.fs.calls, []);
  t.equal(logged(h, 'new version of the mount not applied: the last good one keeps serving').length, 1);
  t.same(h.live.states(), { serving: 1, probing: 0, failed: 0, draining: 0 });
});

t.test('reloads never overlap: changes during a reload are read once more, after it', async (t) => {
  let release!: () => void;
  let active = 0;
  let maxActive = 0;
  const gate = new Promise<void>((r) => (release = r));
  const h = harness(t, plan([]), {
    loadPlan: async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await gate;
      active--;
      h.loads++;
      return plan([mount('a')]);
    },
  });
  const results = [h.live.reload(), h.live.reload(), h.live.reload()];
  release();
  await Promise.all(results);
  t.equal(maxActive, 1);
  t.equal(h.loads, 2, 'one read for the first call, one for the calls made while it ran');
  t.same(
    h.fs.calls.filter((c) => c.startsWith('put')),
    ['put a serving'],
  );
});

t.test('settings: log level and read-ahead apply live, the rest is reported for the next start', async (t) => {
  const applied: unknown[] = [];
  const h = harness(t, plan([]), { applySettings: (s, changed) => applied.push([s.logLevel, s.readAheadMaxBytes, changed]) });
  h.plans.push({ ...plan([]), settings: { ...TEST_SETTINGS, logLevel: 'debug', readAheadMaxBytes: 1, cacheSizeBytes: 1 } });
  t.equal(await h.live.reload(), 'applied');
  t.same(applied, [['debug', 1, ['logLevel', 'readAheadMaxBytes']]]);
  t.same(logged(h, 'runtime options changed that apply at the next start of the FUSE pod')[0]?.['settings'], ['cacheSizeBytes']);
});

async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setImmediate(r));
}

t.test('a mount the filesystem refuses: its store is destroyed, the change logged, nothing served', async (t) => {
  const h = harness(t, plan([]));
  h.fs.refuse.add('a');
  h.plans.push(plan([mount('a')]));
  await h.live.reload();
  t.same(h.fs.calls, []);
  t.same(
    h.stores.map((s) => s.destroyed),
    [1],
  );
  t.match(logged(h, 'mount change not applied')[0], { change: 'add', err: /refused/ });
  t.same(h.live.states(), { serving: 0, probing: 0, failed: 0, draining: 0 });
});
