/**
 * A read the caller gave up on (the FUSE adapter's deadline passed, see
 * test/unit/fuse/fuse-ops-deadline.test.ts): the kernel's immediate retry of that page gets
 * the same answer at once, for a moment, instead of waiting a second deadline.
 */
import t from 'tap';
import { constants } from 'node:fs';
import { errnoName, FsError } from '../../../src/fs/errno.js';
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
  fs.noteReadTimeout(fd, new FsError('ETIMEDOUT', '/big.bin: no answer from S3 within 10000 ms'));
  t.equal(await errnoOf(() => fs.read(fd, 2 * MiB, 10)), 'ETIMEDOUT', 'the retry the kernel sends at once');
  t.equal(await errnoOf(() => fs.read(fd, 0, 10)), 'ETIMEDOUT', 'any read of that handle, for a moment');
  store.expireHung();
  await t.rejects(stuck, { kind: 'timeout' }, 'the store ends the hung GET with its own deadline');
  clock.advance(2_001);
  t.ok((await read(fd, 2 * MiB, 10)).equals(big.subarray(2 * MiB, 2 * MiB + 10)), 'later reads go through');
  fs.release(fd);
});
