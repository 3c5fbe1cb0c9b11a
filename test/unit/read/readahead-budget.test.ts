// Read-ahead of all handles together stays within half the block budget: many readers starting
// to stream at once must not put more in flight than the budget, whatever their windows say.
import t from 'tap';
import { MemoryStore, ramp } from '../helpers/memory-store.js';
import { MiB, settle, testFilesystem } from '../helpers/test-filesystem.js';

t.test('64 readers starting at once: read-ahead in flight within half the budget, bytes right', async (t) => {
  const store = new MemoryStore();
  store.chunkDelayMs = 5; // downloads stay in flight while the readers start
  const objects = 64;
  for (let i = 0; i < objects; i++) store.put(`f${i}`, ramp(8 * MiB, i));
  const { fs, read } = testFilesystem({ store, settings: { cacheSizeBytes: 64 * MiB, readAheadInitialBytes: 4 * MiB, readAheadMaxBytes: 8 * MiB } });
  const budget = fs.cache.maxBytes;
  const fds = await Promise.all(Array.from({ length: objects }, (_, i) => fs.open(`/f${i}`, 0)));
  let peak = 0;
  const sample = setInterval(() => (peak = Math.max(peak, fs.fetcher.inflightBytes)), 1);
  const reads = fds.map((fd) => read(fd, 0, 128 * 1024));
  await settle();
  peak = Math.max(peak, fs.fetcher.inflightBytes);
  const got = await Promise.all(reads);
  clearInterval(sample);
  // Each first read needs its own first block (fetched whatever the budget); read-ahead beyond
  // that is what the budget bounds.
  const bound = budget / 2 + objects * MiB;
  t.comment(
    `peak in flight ${(peak / MiB).toFixed(1)} MiB; budget ${budget / MiB} MiB; bound ${bound / MiB} MiB (half the budget + one block per reader); without the bound: ${objects} x 4 MiB windows`,
  );
  t.ok(peak <= bound, `in flight ${(peak / MiB).toFixed(1)} MiB <= ${bound / MiB} MiB`);
  got.forEach((b, i) => t.ok(b.equals(ramp(8 * MiB, i).subarray(0, 128 * 1024)), `reader ${i}: bytes right`));
  // Streams still finish, read-ahead resuming as the budget frees.
  const whole = await Promise.all(
    fds.slice(0, 4).map(async (fd, i) => {
      const parts: Buffer[] = [];
      for (let pos = 0; pos < 8 * MiB; pos += 128 * 1024) parts.push(await read(fd, pos, 128 * 1024));
      return Buffer.concat(parts).equals(ramp(8 * MiB, i));
    }),
  );
  t.same(whole, [true, true, true, true], 'four whole streams read right');
  for (const fd of fds) fs.release(fd);
});
