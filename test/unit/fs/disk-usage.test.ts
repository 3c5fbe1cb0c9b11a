import t from 'tap';
import { UsageTracker, statfsFor } from '../../../src/fs/disk-usage.js';
import { MemoryStore } from '../helpers/memory-store.js';
import { ManualClock } from '../../../src/clock.js';
import { StoreError } from '../../../src/store/store-error.js';

const usedOf = (s: { blocks: number; bfree: number; frsize: number }): number => (s.blocks - s.bfree) * s.frsize;

t.test('used bytes are exact for any total a 32-bit block count can carry', async (t) => {
  for (const used of [0, 1, 4095, 4096, 123_457, 5 * 1024 ** 3, 7 * 1024 ** 4, 2 ** 31 + 1]) {
    const s = statfsFor(used, 10);
    t.equal(usedOf(s), used, `used ${used} (frsize ${s.frsize})`);
    t.ok(s.blocks <= 0xffffffff && s.bfree <= s.blocks);
  }
  const huge = 2 ** 45 + 1; // 32 TiB and odd: as close as the fields allow
  const s = statfsFor(huge, 10);
  t.ok(Math.abs(usedOf(s) - huge) < s.frsize, `within one block (${s.frsize})`);
});

t.test('the tracker sums every object under each prefix, markers excluded', async (t) => {
  const a = new MemoryStore();
  a.put('data/x', Buffer.alloc(10));
  a.put('data/sub/y', Buffer.alloc(20));
  a.put('data/sub/', '');
  a.put('other/z', Buffer.alloc(1000));
  const b = new MemoryStore();
  b.put('k', Buffer.alloc(3));
  const u = new UsageTracker([
    { store: a, prefix: 'data/' },
    { store: b, prefix: '' },
  ]);
  t.equal(usedOf(await u.statfs()), 33);
});

/** A MemoryStore whose LISTs fail while `failing` is set. */
class FlakyListStore extends MemoryStore {
  failing = false;
  override async list(req: Parameters<MemoryStore['list']>[0]) {
    if (this.failing) {
      this.calls.list++;
      throw new StoreError('unreachable', 'LIST: cannot reach the server: connect ECONNREFUSED');
    }
    return super.list(req);
  }
}

/** Lets every settled promise run its handlers (and Node report unhandled rejections). */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};

t.test('a failed rescan is reported, never an unhandled rejection, and the last figures stay', async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => void process.off('unhandledRejection', onUnhandled));

  const s = new FlakyListStore();
  s.put('a', Buffer.alloc(4096));
  s.put('b', Buffer.alloc(100));
  const clock = new ManualClock();
  const errors: unknown[] = [];
  const u = new UsageTracker([{ store: s, prefix: '' }], { clock, maxAgeMs: 60_000, onError: (e) => errors.push(e) });
  t.equal(usedOf(await u.statfs()), 4196, 'first scan');

  s.failing = true;
  for (let i = 0; i < 5; i++) {
    clock.advance(61_000);
    t.equal(usedOf(await u.statfs()), 4196, `statfs ${i + 1} during the outage keeps the last good figure`);
    await settle();
  }
  t.same(unhandled, [], 'no unhandled rejection');
  t.ok(errors.length >= 1, `onError was told (${errors.length} times)`);
  t.ok(
    errors.every((e) => e instanceof StoreError && e.kind === 'unreachable'),
    'with the store error',
  );

  s.failing = false;
  clock.advance(3_600_000);
  await u.statfs();
  await settle();
  s.put('c', Buffer.alloc(4));
  clock.advance(3_600_000);
  await u.statfs();
  await settle();
  t.equal(usedOf(await u.statfs()), 4200, 'scans resume after the outage');
});

t.test('df costs at most maxPages LIST requests per bucket per interval, however often it is asked', async (t) => {
  const s = new MemoryStore();
  for (let i = 0; i < 5_500; i++) s.put(`k${String(i).padStart(5, '0')}`, Buffer.alloc(2)); // 6 pages
  const clock = new ManualClock();
  const partial: { objects: number; usedBytes: number }[] = [];
  const hour = 3_600_000;
  const u = new UsageTracker([{ store: s, prefix: '' }], { clock, maxAgeMs: hour, maxPages: 3, onPartial: (p) => partial.push(p) });
  const hours = 24;
  let calls = 0;
  for (let at = 0; at < hours * hour; at += 10_000) {
    await u.statfs(); // probes, Fluid's df and /healthz every 10 s
    await settle();
    calls++;
    clock.advance(10_000);
  }
  const promised = (hours + 1) * 3;
  t.comment(`${calls} statfs calls over ${hours} h: ${s.calls.list} LIST requests (promised at most ${promised})`);
  t.ok(s.calls.list <= promised, `at most ${promised} LIST requests`);
  t.ok(s.calls.list >= hours * 3 - 3, 'figures are refreshed once an interval');
  t.equal(usedOf(await u.statfs()), 3_000 * 2, 'Used counts what the pages allowed');
  t.same(partial[0], { objects: 3_000, usedBytes: 6_000 }, 'a scan stopped by the page bound is reported partial');
});

t.test('a failing scan is retried with backoff, not at every statfs', async (t) => {
  const s = new FlakyListStore();
  s.put('a', Buffer.alloc(8));
  s.failing = true;
  const clock = new ManualClock();
  const errors: unknown[] = [];
  const u = new UsageTracker([{ store: s, prefix: '' }], { clock, maxAgeMs: 3_600_000, onError: (e) => errors.push(e) });
  for (let at = 0; at < 3_600_000; at += 5_000) {
    await u.statfs(10);
    await settle();
    clock.advance(5_000);
  }
  // 1, 2, 4, 8, 16, 32 minutes: 6 or 7 tries in the first hour instead of 720.
  t.ok(s.calls.list <= 7, `${s.calls.list} LIST requests in an hour of outage`);
  t.equal(errors.length, s.calls.list, 'each failure reported');
  s.failing = false;
  clock.advance(3_600_000);
  await u.statfs();
  await settle();
  t.equal(usedOf(await u.statfs()), 8, 'recovers');
});

t.test('interval 0: df never lists, Used is 0', async (t) => {
  const s = new MemoryStore();
  s.put('a', Buffer.alloc(8));
  const clock = new ManualClock();
  const u = new UsageTracker([{ store: s, prefix: '' }], { clock, maxAgeMs: 0 });
  for (let i = 0; i < 10; i++) {
    t.equal(usedOf(await u.statfs()), 0);
    clock.advance(3_600_000);
  }
  t.equal(s.calls.list, 0, 'no LIST');
});

t.test('defaults: one scan an hour', async (t) => {
  const s = new MemoryStore();
  s.put('a', Buffer.alloc(8));
  const clock = new ManualClock();
  const u = new UsageTracker([{ store: s, prefix: '' }], { clock });
  await u.statfs();
  for (let i = 0; i < 59; i++) {
    clock.advance(60_000);
    await u.statfs();
    await settle();
  }
  t.equal(s.calls.list, 1, 'one LIST in the first 59 minutes');
  clock.advance(61_000);
  await u.statfs();
  await settle();
  t.equal(s.calls.list, 2, 'the next after an hour');
});

t.test('a scan whose continuation token repeats fails with invalid-response instead of looping', async (t) => {
  const s = new MemoryStore();
  s.put('a', Buffer.alloc(8));
  let lists = 0;
  s.list = async () => {
    lists++;
    return { objects: [{ key: 'a', size: 8, etag: '"x"', mtimeMs: 1 }], prefixes: [], nextToken: 'again' };
  };
  const errors: unknown[] = [];
  const u = new UsageTracker([{ store: s, prefix: '' }], { clock: new ManualClock(), onError: (e) => errors.push(e) });
  await u.statfs();
  await settle();
  t.equal(lists, 2, 'stopped at the first repeat');
  t.match(errors, [{ kind: 'invalid-response' }]);
});

/** A MemoryStore whose LISTs wait until the test opens the gate. */
class GatedListStore extends MemoryStore {
  gate: Promise<void> | undefined;
  override async list(req: Parameters<MemoryStore['list']>[0]) {
    if (this.gate) await this.gate;
    return super.list(req);
  }
}

t.test('new sources (buckets added or removed): the next statfs scans them, and a scan of the old ones is thrown away', async (t) => {
  const a = new GatedListStore();
  a.put('x', Buffer.alloc(1000));
  const b = new MemoryStore();
  b.put('y', Buffer.alloc(7));
  const clock = new ManualClock();
  const u = new UsageTracker([{ store: a, prefix: '' }], { clock, maxAgeMs: 60 * 60_000 });
  t.equal(usedOf(await u.statfs()), 1000);

  u.setSources([
    { store: a, prefix: '' },
    { store: b, prefix: '' },
  ]);
  t.equal(usedOf(await u.statfs()), 1007, 'an added source counts at the next statfs, not an hour later');

  // A scan of a and b held in its LIST of a, when b alone remains.
  let open = (): void => undefined;
  a.gate = new Promise<void>((r) => (open = r));
  u.setSources([
    { store: b, prefix: '' },
    { store: a, prefix: '' },
  ]);
  const held = u.statfs(0);
  u.setSources([{ store: b, prefix: '' }]);
  t.equal(usedOf(await u.statfs()), 7, 'the new sources are scanned at once, not after the held scan');
  open();
  await held;
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  t.equal(usedOf(await u.statfs()), 7, 'the held scan of the old sources, finished late, changes nothing');

  u.setSources([]);
  t.equal(usedOf(await u.statfs()), 0, 'no source: nothing used');
});

t.test('a statfs that may not wait answers at once and puts the first scan off; one that may wait starts it and waits', async (t) => {
  const s = new GatedListStore();
  s.put('a', Buffer.alloc(4096));
  let open = (): void => undefined;
  s.gate = new Promise<void>((r) => (open = r));
  const timers: { fn: () => void; ms: number; cancelled: boolean }[] = [];
  const setTimer = (fn: () => void, ms: number) => {
    const timer = { fn, ms, cancelled: false };
    timers.push(timer);
    return () => void (timer.cancelled = true);
  };
  const u = new UsageTracker([{ store: s, prefix: '' }], { setTimer });
  // find's statfs of the folder it walks: no waiting, and no listing of the whole bucket during the walk.
  t.equal(usedOf(await u.statfs(0)), 0, 'answered at once, before any figure');
  t.equal(usedOf(await u.statfs(0)), 0, 'again');
  t.same(
    timers.map((x) => x.ms),
    [5_000],
    'one scan put off by 5 s, however many such calls',
  );
  // Fluid's df of targetPath: starts the scan now and waits for it.
  const df = u.statfs(60_000);
  t.ok(timers[0]?.cancelled, 'the put-off scan is cancelled: this one runs now');
  open();
  t.equal(usedOf(await df), 4096, 'the waiting statfs got the scanned figure');
  t.equal(s.calls.list, 1, 'one LIST');
});

t.test('a put-off scan starts when its time comes; close cancels one not started', async (t) => {
  const s = new MemoryStore();
  s.put('a', Buffer.alloc(10));
  const timers: { fn: () => void; cancelled: boolean }[] = [];
  const setTimer = (fn: () => void) => {
    const timer = { fn, cancelled: false };
    timers.push(timer);
    return () => void (timer.cancelled = true);
  };
  const u = new UsageTracker([{ store: s, prefix: '' }], { setTimer });
  await u.statfs(0);
  t.equal(s.calls.list, 0, 'nothing listed yet');
  timers[0]?.fn();
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  t.equal(s.calls.list, 1, 'the scan ran');
  t.equal(usedOf(await u.statfs(0)), 10, 'and later calls answer its figure at once');

  const v = new UsageTracker([{ store: s, prefix: '' }], { setTimer });
  await v.statfs(0);
  v.close();
  t.ok(timers[1]?.cancelled, 'close cancels the put-off scan');
});
