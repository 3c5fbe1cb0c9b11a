/**
 * Issue 12: writers share the cache budget. Eight writers of 2 GiB files at once keep the whole
 * process within cache-size + 150 MiB, and every byte is uploaded. Run in a child `node` from
 * transpiled JavaScript, as filesystem-memory.test.ts explains (the TypeScript loader alone
 * would hold ~200 MiB).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transpileTree } from '../helpers/transpile.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const WRITERS = 8;
const FILE_MIB = Number(process.env.FILE_MIB ?? 2048);
const CACHE_MIB = 256;
const BOUND_MIB = CACHE_MIB + 150;

t.test(`${WRITERS} writers of ${FILE_MIB} MiB files stay within cache-size + 150 MiB`, { timeout: 600_000 }, async (t) => {
  const { outDir, cleanup } = transpileTree(root, ['src', 'test/unit/helpers']);
  t.teardown(cleanup);
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      [join(outDir, 'test/unit/helpers/writers-scenario.js')],
      {
        env: { ...process.env, WRITERS: String(WRITERS), FILE_MIB: String(FILE_MIB), CACHE_MIB: String(CACHE_MIB), NODE_OPTIONS: '' },
        maxBuffer: 1 << 20,
        timeout: 540_000,
      },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
    ),
  );
  const r = JSON.parse(out.trim().split('\n').pop() as string) as {
    seconds: number;
    uploadedMiB: number;
    sizes: number[];
    peakReservedMiB: number;
    peakPartsInFlight: number;
    peakRss: number;
    peakExternalMiB: number;
    peakArrayBuffersMiB: number;
    peakHeapUsedMiB: number;
  };
  t.comment(
    `${WRITERS} × ${FILE_MIB} MiB in ${r.seconds} s: peak RSS ${r.peakRss} MiB (bound ${BOUND_MIB}), peak reserved in the budget ${r.peakReservedMiB} MiB, ${r.peakPartsInFlight} parts in flight at most`,
  );
  t.comment(`peaks sampled every 50 ms: external ${r.peakExternalMiB} MiB (array buffers ${r.peakArrayBuffersMiB}), heap used ${r.peakHeapUsedMiB} MiB`);
  t.same(
    r.sizes,
    Array.from({ length: WRITERS }, () => FILE_MIB),
    'every file committed whole',
  );
  t.equal(r.uploadedMiB, WRITERS * FILE_MIB, 'every byte uploaded once');
  t.ok(r.peakReservedMiB <= CACHE_MIB, 'writers stay inside the budget');
  t.ok(r.peakRss <= BOUND_MIB, `peak RSS ${r.peakRss} MiB <= ${BOUND_MIB} MiB`);
});
