/**
 * Ranged GET answers the read path must not trust blindly: a body that ends early (with or
 * without an error from the store), or a 200 to a ranged GET (the store rejects it). A read
 * fails with EIO; it never returns fewer bytes than asked before EOF (the kernel would take a
 * short read as the end of the file) and never hangs.
 */
import t from 'tap';
import { constants } from 'node:fs';
import { MemoryStore, ramp } from '../helpers/memory-store.js';
import { FaultStore } from '../helpers/fault-store.js';
import { KiB, MiB, settle, testFilesystem } from '../helpers/test-filesystem.js';

function setup() {
  const mem = new MemoryStore();
  const big = ramp(3 * MiB + 17, 3);
  mem.put('big.bin', big);
  const store = new FaultStore(mem);
  return { big, store, ...testFilesystem({ store }) };
}

for (const then of ['reject', 'resolve'] as const) {
  t.test(`a body cut short (the store then ${then}s): EIO, never a short read`, async (t) => {
    const { fs, big, store, read, readOutcome } = setup();
    // A random read: one exact GET.
    const fd = await fs.open('/big.bin', constants.O_RDONLY);
    store.inject({ op: 'readRange', times: 1, fault: { kind: 'short-body', bytes: 1000, then } });
    const r = await readOutcome(fd, 2 * MiB + 5, 64 * KiB);
    t.equal('errno' in r ? r.errno : `${r.bytes.length} bytes`, 'EIO', 'random read');
    t.ok((await read(fd, 2 * MiB + 5, 64 * KiB)).equals(big.subarray(2 * MiB + 5, 2 * MiB + 5 + 64 * KiB)), 'then right');
    fs.release(fd);

    // A sequential read: blocks from read-ahead, the first GET cut inside its first block.
    const fd2 = await fs.open('/big.bin', constants.O_RDONLY);
    store.inject({ op: 'readRange', times: 1, fault: { kind: 'short-body', bytes: 200 * KiB, then } });
    const errnos: string[] = [];
    let short = 0;
    for (let pos = 0; pos < big.length; pos += 128 * KiB) {
      const o = await readOutcome(fd2, pos, 128 * KiB);
      if ('errno' in o) errnos.push(o.errno);
      else if (!o.bytes.equals(big.subarray(pos, pos + 128 * KiB))) short++;
    }
    t.equal(short, 0, "no read returned other bytes than the object's");
    t.ok(errnos.length >= 1 && errnos.every((e) => e === 'EIO'), `the reads that needed the missing bytes failed with EIO (${errnos.join(',')})`);
    fs.release(fd2);
    await settle();
    t.equal(fs.fetcher.inflightBytes, 0, 'nothing left in flight');
    t.equal(fs.cache.reservedBytes, 0, 'no reservation left');
  });
}

t.test('a ranged GET answered with a 200 (the store rejects it): EIO, then the next read is right', async (t) => {
  const { fs, big, store, read, readOutcome } = setup();
  const fd = await fs.open('/big.bin', constants.O_RDONLY);
  store.inject({ op: 'readRange', times: 1, fault: { kind: 'wrong-status' } });
  const r = await readOutcome(fd, MiB + 3, 4 * KiB);
  t.equal('errno' in r && r.errno, 'EIO');
  t.ok((await read(fd, MiB + 3, 4 * KiB)).equals(big.subarray(MiB + 3, MiB + 3 + 4 * KiB)));
  fs.release(fd);
});
