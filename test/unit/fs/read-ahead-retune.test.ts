/**
 * Read-ahead sizes changed by a reload (runtimeOptions) apply to the next windows, without a
 * restart: a sequential reader opened after the change fetches ahead no further than the new
 * maximum allows.
 */
import t from 'tap';
import { constants } from 'node:fs';
import { MemoryStore, ramp } from '../helpers/memory-store.js';
import { KiB, MiB, settle, testFilesystem } from '../helpers/test-filesystem.js';

async function fetchedForSequentialRead(retune?: { readAheadInitialBytes: number; readAheadMaxBytes: number }): Promise<number> {
  const data = ramp(64 * MiB, 9);
  const store = new MemoryStore();
  store.put('big.bin', data);
  const { fs, read } = testFilesystem({ store, settings: { readAheadInitialBytes: 1 * MiB, readAheadMaxBytes: 32 * MiB } });
  if (retune) fs.retuneReadAhead(retune);
  const fd = await fs.open('/big.bin', constants.O_RDONLY);
  for (let pos = 0; pos < 8 * MiB; pos += 128 * KiB) {
    const got = await read(fd, pos, 128 * KiB);
    if (!got.equals(data.subarray(pos, pos + 128 * KiB))) throw new Error(`bytes differ at ${pos}`);
  }
  await settle(20);
  const fetched = store.calls.getBytes;
  fs.release(fd);
  return fetched;
}

t.test('a smaller read-ahead maximum from a reload bounds how far a new reader fetches ahead', async (t) => {
  const before = await fetchedForSequentialRead();
  const after = await fetchedForSequentialRead({ readAheadInitialBytes: 1 * MiB, readAheadMaxBytes: 1 * MiB });
  t.ok(before > 16 * MiB, `with read-ahead-max 32MiB, 8 MiB read fetched ${before / MiB} MiB`);
  t.ok(after <= 8 * MiB + 2 * MiB, `with read-ahead-max 1MiB from the reload, ${after / MiB} MiB (at most the 8 MiB read + 2 windows)`);
});
