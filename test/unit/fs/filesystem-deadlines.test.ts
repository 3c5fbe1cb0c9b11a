/**
 * A read the adapter gave up on (its deadline passed): the answer is ETIMEDOUT, never EINTR
 * (which callers retry forever) nor a bare EIO, and the kernel's immediate retry of that page
 * gets the same answer at once.
 */
import t from 'tap';
import { constants } from 'node:fs';
import { errnoName } from '../../../src/fs/errno.js';
import { MemoryStore, ramp } from '../helpers/memory-store.js';
import { FaultStore } from '../helpers/fault-store.js';
import { MiB, settle, testFilesystem } from '../helpers/test-filesystem.js';

async function errnoOf(run: () => unknown): Promise<string> {
  try {
    await run();
  } catch (err) {
    return errnoName(err);
  }
  return 'no error';
}

t.test('a read past its deadline answers ETIMEDOUT, and so do the next reads for a moment', async (t) => {
  const mem = new MemoryStore();
  const big = ramp(3 * MiB);
  mem.put('big.bin', big);
  const store = new FaultStore(mem);
  const { fs, clock, read } = testFilesystem({ store });
  const fd = await fs.open('/big.bin', constants.O_RDONLY);
  store.inject({ op: 'readRange', times: 1, fault: { kind: 'hang' } });
  const stuck = read(fd, 2 * MiB, 4096);
  stuck.catch(() => undefined);
  await settle();
  t.equal(store.hanging, 1, 'the read waits on a GET that never answers');

  // What the adapter does when its deadline fires.
  const err = fs.readTimedOut(fd, '/big.bin', 10_000);
  t.equal(errnoName(err), 'ETIMEDOUT', 'the deadline answer');
  t.match(err.message, /10000 ms/, 'says how long it waited');
  t.equal(await errnoOf(() => fs.read(fd, Buffer.alloc(10), 10, 2 * MiB)), 'ETIMEDOUT', 'the retry the kernel sends at once');
  store.expireHung();
  await t.rejects(stuck, { kind: 'timeout' }, 'the store ends the hung GET with its own deadline');
  clock.advance(2_001);
  t.ok((await read(fd, 2 * MiB, 10)).equals(big.subarray(2 * MiB, 2 * MiB + 10)), 'later reads go through');
  fs.release(fd);
});
