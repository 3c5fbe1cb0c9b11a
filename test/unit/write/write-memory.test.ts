/**
 * Writers draw from the read cache's budget: at most 3/4 of it, waiting first come first served
 * when it is short, ENOMEM after maxWaitMs (time and timers injected: no sleeps).
 */
import t from 'tap';
import { ManualClock } from '../../../src/clock.js';
import { BlockCache } from '../../../src/read/block-cache.js';
import { WriteMemory } from '../../../src/write/write-memory.js';
import { bytes, PART, PlainBudget, setup } from './helpers/write-setup.js';

/** Timers a test fires itself; `pending` shows what is left behind. */
class ManualTimers {
  readonly pending = new Set<{ fn: () => void; ms: number }>();
  readonly setTimer = (fn: () => void, ms: number): (() => void) => {
    const timer = { fn, ms };
    this.pending.add(timer);
    return () => this.pending.delete(timer);
  };
  /** Fires every timer due within `ms` (after the clock moved). */
  fire(filter: (ms: number) => boolean = () => true): void {
    for (const timer of [...this.pending]) {
      if (!filter(timer.ms)) continue;
      this.pending.delete(timer);
      timer.fn();
    }
  }
}

const settled = async (p: Promise<unknown>): Promise<boolean> => {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setImmediate(r));
  return done;
};

t.test('writers hold at most 3/4 of the budget; the rest stays for reads', async (t) => {
  const budget = new PlainBudget(1000);
  const m = new WriteMemory(budget, { maxWaitMs: 100 });
  t.equal(m.writerLimitBytes, 750);
  await m.acquire(700);
  t.equal(m.heldBytes, 700);
  t.equal(budget.reservedBytes, 700, 'reserved in the shared budget');
  m.release(700);
  t.equal(budget.reservedBytes, 0);
  await t.rejects(m.acquire(751), { name: 'FsError', errno: 'ENOMEM' }, 'more than writers may ever hold: at once');
});

t.test('short: waits; a release wakes the waiters in order', async (t) => {
  const clock = new ManualClock();
  const timers = new ManualTimers();
  const m = new WriteMemory(new PlainBudget(1000), { maxWaitMs: 5_000, clock, setTimer: timers.setTimer });
  await m.acquire(600);
  const big = m.acquire(300);
  const small = m.acquire(10);
  t.notOk(await settled(big), 'waits');
  t.notOk(await settled(small), 'a small one does not overtake the waiting large one');
  m.release(200);
  t.ok(await settled(big), 'woken by the release');
  t.ok(await settled(small));
  t.equal(m.heldBytes, 710);
  t.equal(timers.pending.size, 0, 'no timer left behind');
});

t.test('short for maxWaitMs: ENOMEM; the waiters behind it go on', async (t) => {
  const clock = new ManualClock();
  const timers = new ManualTimers();
  const m = new WriteMemory(new PlainBudget(1000), { maxWaitMs: 5_000, clock, setTimer: timers.setTimer });
  await m.acquire(700);
  const waiting = m.acquire(100);
  waiting.catch(() => undefined);
  timers.fire(); // early: the clock has not moved
  t.notOk(await settled(waiting), 'a timer firing early does not end the wait');
  clock.advance(5_000);
  timers.fire();
  await t.rejects(waiting, { name: 'FsError', errno: 'ENOMEM' });
  t.equal(m.waitingCount, 0);
  t.equal(m.heldBytes, 700, 'nothing taken by the failed wait');
  t.equal(timers.pending.size, 0, 'no timer left behind');
});

t.test('a wait blocked by reads only looks again after them', async (t) => {
  const clock = new ManualClock();
  const timers = new ManualTimers();
  const budget = new PlainBudget(1000);
  const m = new WriteMemory(budget, { maxWaitMs: 5_000, clock, setTimer: timers.setTimer });
  budget.reserve(950); // downloads in flight
  const w = m.acquire(100);
  t.notOk(await settled(w));
  budget.unreserve(950);
  timers.fire((ms) => ms < 5_000); // the recheck, not the deadline
  t.ok(await settled(w));
  t.equal(timers.pending.size, 0);
});

t.test('a BlockCache is the budget: writers evict cached blocks', async (t) => {
  const cache = new BlockCache(1000, 100);
  cache.insert('a', Buffer.alloc(400) as never);
  const m = new WriteMemory(cache, { maxWaitMs: 100 });
  await m.acquire(700);
  t.ok(cache.cachedBytes <= 300, `blocks evicted (${cache.cachedBytes} left)`);
  m.release(700);
  t.equal(cache.reservedBytes, 0);
});

t.test('a discarded handle ends its wait for memory', async (t) => {
  const m = new WriteMemory(new PlainBudget(1000), { maxWaitMs: 60_000 });
  await m.acquire(750);
  const ac = new AbortController();
  const w = m.acquire(10, ac.signal);
  ac.abort();
  await t.rejects(w, { name: 'FsError', errno: 'ENOMEM' });
  t.equal(m.waitingCount, 0);
});

t.test('a writer short of memory waits, then ENOMEM; the handle stays usable; released memory wakes it', async (t) => {
  const clock = new ManualClock();
  const timers = new ManualTimers();
  // Writers may hold 3 parts: part 1, part 2, and one in flight.
  const s = await setup({ budgetBytes: 4 * PART, memory: { maxWaitMs: 1_000, clock, setTimer: timers.setTimer } });
  t.teardown(s.cleanup);
  const hog = s.handle('hog');
  await hog.write(0, bytes(2 * PART)); // part 1 and part 2 held
  const h = s.handle('f');
  const w = h.write(0, bytes(2 * PART));
  w.catch(() => undefined);
  t.notOk(await settled(w), 'waits');
  clock.advance(1_000);
  timers.fire();
  await t.rejects(w, { name: 'FsError', errno: 'ENOMEM' });
  // The hog commits: its memory comes back and a new write goes through.
  t.equal(h.size, PART, 'what fitted was written (a short write)');
  const again = h.write(PART, bytes(PART + 1));
  t.notOk(await settled(again), 'waits again');
  await hog.close();
  await again;
  await h.close();
  t.equal(s.memory.heldBytes, 0);
  t.equal(timers.pending.size, 0, 'no timer left behind');
});

t.test('part buffers are reused while writers hold memory, dropped when in the way or when writers are done', async (t) => {
  const MiB = 1024 * 1024;
  const budget = new PlainBudget(32 * MiB);
  const m = new WriteMemory(budget, { maxWaitMs: 100 });
  await m.acquire(MiB); // a writer's first part
  const b = await m.takeBuffer(2 * MiB);
  m.giveBack(b, true);
  t.same([m.heldBytes, m.spareBytes, budget.reservedBytes], [MiB, 2 * MiB, 3 * MiB], 'kept as a spare, still reserved');
  const again = await m.takeBuffer(2 * MiB);
  t.equal(again, b, 'the same buffer serves the next part');
  t.same([m.heldBytes, m.spareBytes], [3 * MiB, 0]);
  m.giveBack(again, false);
  t.same([m.heldBytes, m.spareBytes], [MiB, 0], 'a buffer an upload may still read is not kept');
  m.giveBack(await m.takeBuffer(2 * MiB), true);
  await m.acquire(23 * MiB - 1);
  t.same([m.spareBytes, budget.reservedBytes], [0, 24 * MiB - 1], 'spares given back for a reservation that needed them');
  m.release(23 * MiB - 1);
  m.giveBack(await m.takeBuffer(0.5 * MiB), true);
  t.equal(m.spareBytes, 0, 'small buffers are not kept');
  m.giveBack(await m.takeBuffer(MiB - 1), true);
  m.release(MiB);
  t.same([m.heldBytes, m.spareBytes, budget.reservedBytes], [0, 0, 0], 'nothing kept once no writer holds memory');
});

t.test('a streamed file reuses part buffers and leaves no spare behind', async (t) => {
  const MiB = 1024 * 1024;
  const s = await setup({ partBytes: MiB, budgetBytes: 64 * MiB });
  t.teardown(s.cleanup);
  const allocated = new Set<ArrayBufferLike>();
  const origin = s.store.uploadPart.bind(s.store);
  s.store.uploadPart = (key, id, n, body, signal) => {
    allocated.add(body.buffer);
    return origin(key, id, n, body, signal);
  };
  const h = s.handle('big', { uploadConcurrency: 1 });
  const data = bytes(8 * MiB + 5);
  for (let p = 0; p < data.length; p += 128 * 1024) await h.write(p, data.subarray(p, p + 128 * 1024));
  await h.close();
  t.ok(s.object('big')?.equals(data), 'bytes exact');
  t.ok(allocated.size < 9, `${allocated.size} buffers for 9 parts`);
  t.same([s.memory.heldBytes, s.memory.spareBytes, s.budget.reservedBytes], [0, 0, 0]);
});

t.test('a buffer given back goes as it is to a writer waiting for one of its size: no new allocation, no garbage', async (t) => {
  const MiB = 1024 * 1024;
  const budget = new PlainBudget(8 * MiB);
  const m = new WriteMemory(budget, { maxWaitMs: 1000 });
  const first = await m.takeBuffer(3 * MiB);
  const second = await m.takeBuffer(3 * MiB); // 6 of the 6 MiB writers may hold
  const waiting = m.takeBuffer(3 * MiB);
  t.notOk(await settled(waiting), 'waits: the writers hold their share');
  m.giveBack(first, true);
  t.equal(await waiting, first, 'the waiter got the very buffer given back');
  t.equal(m.heldBytes, 6 * MiB, 'its reservation came with it');
  t.equal(budget.reservedBytes, 6 * MiB);
  const other = m.takeBuffer(2 * MiB);
  m.giveBack(second, true);
  t.not(await other, second, 'a waiter for another size gets new memory');
  t.equal(m.heldBytes, 5 * MiB);
  const failed = m.takeBuffer(3 * MiB);
  m.giveBack(first, false); // its upload failed: someone may still read it
  t.not(await failed, first, 'a buffer that is not reusable is never handed on');
});
