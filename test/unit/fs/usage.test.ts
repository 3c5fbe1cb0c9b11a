import t from 'tap';
import { UsageTracker, statfsFor } from '../../../src/fs/usage.js';
import { MemoryStore } from '../helpers/memory-store.js';
import { ManualClock } from '../../../src/clock.js';
import { StoreError } from '../../../src/store/errors.js';

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
  const u = new UsageTracker([{ store: a, prefix: 'data/' }, { store: b, prefix: '' }]);
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
  t.ok(errors.every((e) => e instanceof StoreError && e.kind === 'unreachable'), 'with the store error');

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
