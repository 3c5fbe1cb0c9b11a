/**
 * Run as a child process (plain node, `--expose-gc`, from transpiled JavaScript): opens HANDLES
 * files whose lookup fetched their first bytes, reads each once, keeps every handle open, and
 * prints what the process holds then, as one JSON line. See filesystem-memory.test.ts.
 */
import { constants } from 'node:fs';
import { SyntheticFolderStore } from './synthetic-store.js';
import { KiB, MiB, settle, testFilesystem } from './test-filesystem.js';

const handles = Number(process.env.HANDLES ?? 100_000);
const cacheSizeBytes = Number(process.env.CACHE_MIB ?? 64) * MiB;
const objectBytes = 200 * KiB; // more than the 128 KiB a lookup fetches: the first bytes are a part

const gc = (globalThis as { gc?: () => void }).gc;
const mib = (n: number): number => Math.round((n / MiB) * 10) / 10;
/** After a full GC, and a moment for V8 to sweep freed buffers (their bytes leave `external` late). */
async function measure() {
  gc?.();
  await new Promise((r) => setTimeout(r, 200));
  gc?.();
  const m = process.memoryUsage();
  return { rss: mib(m.rss), heapUsed: mib(m.heapUsed), external: mib(m.external), arrayBuffers: mib(m.arrayBuffers) };
}

// A folder too large to list for a lookup (over 10,000 keys): each open by path is a lookup
// that fetches the object's first bytes. One body behind every key: the store costs nothing.
const store = new SyntheticFolderStore('many', Math.max(handles, 20_000), Buffer.alloc(objectBytes, 7));
const name = (i: number): string => store.name(i);
const { fs, read } = testFilesystem({ store, settings: { cacheSizeBytes } });
const before = await measure();

const fds: number[] = [];
let firstBytesGets = 0;
for (let i = 0; i < handles; i++) {
  const firstBytesCalls = store.calls.getFirstBytes;
  const fd = await fs.open(`/${name(i)}`, constants.O_RDONLY);
  if (store.calls.getFirstBytes > firstBytesCalls) firstBytesGets++;
  const got = await read(fd, 0, 4 * KiB);
  if (got.length !== 4 * KiB || got[0] !== 7) throw new Error(`wrong bytes for ${name(i)}`);
  fds.push(fd);
}
await settle();
const open = await measure();
const peak = process.resourceUsage().maxRSS * 1024;
const openHandles = fs.openHandles;
for (const fd of fds) fs.release(fd);
await settle();
console.log(
  JSON.stringify({
    handles,
    openHandles,
    firstBytesGets,
    cacheSizeMiB: mib(cacheSizeBytes),
    gc: gc !== undefined,
    before,
    open,
    peakRss: mib(peak),
    inflightBytes: fs.fetcher.inflightBytes,
    cachedMiB: mib(fs.cache.cachedBytes),
    blockBudgetMiB: mib(fs.cache.maxBytes),
  }),
);
