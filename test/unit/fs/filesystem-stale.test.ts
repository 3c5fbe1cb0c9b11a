/**
 * An object deleted or replaced while a handle has it open: reads of bytes not yet cached
 * answer ESTALE (never ENOENT: the file was opened, it exists for the reader), and never bytes
 * of another version.
 */
import t from 'tap';
import { constants } from 'node:fs';
import { StoreError } from '../../../src/store/store-error.js';
import { MemoryStore, ramp } from '../helpers/memory-store.js';
import { FaultStore } from '../helpers/fault-store.js';
import { KiB, MiB, testFilesystem } from '../helpers/test-filesystem.js';

t.test('an object deleted while open reads as ESTALE', async (t) => {
  const mem = new MemoryStore();
  const data = ramp(4 * MiB);
  mem.put('d/obj.bin', data);
  const { fs, read, readOutcome } = testFilesystem({ store: mem });
  const fd = await fs.open('/d/obj.bin', constants.O_RDONLY);
  t.ok((await read(fd, 0, 4 * KiB)).equals(data.subarray(0, 4 * KiB)), 'the first bytes, fetched with the lookup');
  mem.delete('d/obj.bin');
  const r = await readOutcome(fd, 3 * MiB, 64 * KiB);
  t.equal('errno' in r ? r.errno : 'bytes', 'ESTALE', 'an uncached range after the delete');
  if ('error' in r) t.match(String((r.error as Error).message), /deleted since it was opened/);
  fs.release(fd);
});

t.test('an object replaced while open reads as ESTALE, never bytes of the new version', async (t) => {
  const mem = new MemoryStore();
  mem.put('obj.bin', ramp(4 * MiB, 1));
  const { fs, readOutcome } = testFilesystem({ store: mem });
  const fd = await fs.open('/obj.bin', constants.O_RDONLY);
  mem.put('obj.bin', ramp(4 * MiB, 2));
  const r = await readOutcome(fd, 2 * MiB, 64 * KiB);
  t.equal('errno' in r ? r.errno : 'bytes', 'ESTALE');
  fs.release(fd);
});

t.test('a store that answers a ranged GET of an open object with not-found still gives ESTALE', async (t) => {
  // S3 answers 404 NoSuchKey, not 412, for a deleted key even with If-Match; the read path
  // never shows ENOENT for an open handle whatever the store says.
  const mem = new MemoryStore();
  mem.put('obj.bin', ramp(4 * MiB, 1));
  const store = new FaultStore(mem);
  const { fs, readOutcome } = testFilesystem({ store });
  const fd = await fs.open('/obj.bin', constants.O_RDONLY);
  for (const pos of [2 * MiB + 1, 0]) {
    store.inject({
      op: 'readRange',
      times: 1,
      fault: { kind: 'error', error: new StoreError('not-found', 'GET obj.bin: not found (injected)', { status: 404 }) },
    });
    const r = await readOutcome(fd, pos, 2 * MiB);
    t.equal('errno' in r ? r.errno : 'bytes', 'ESTALE', `read at ${pos}`);
  }
  fs.release(fd);
});
