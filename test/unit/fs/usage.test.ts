import t from 'tap';
import { UsageTracker, statfsFor } from '../../../src/fs/usage.js';
import { MemoryStore } from '../helpers/memory-store.js';

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
