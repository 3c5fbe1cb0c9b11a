/**
 * The memory promise for metadata: a folder of 1,000,000 objects, read with readdir, looked up
 * by name and listed flat, keeps the process within cache-size + 150 MiB.
 *
 * The scenario (helpers/listing-memory-scenario.ts) runs in a child process of plain Node over
 * JavaScript transpiled here, because this process holds the TypeScript compiler (about 250 MiB
 * RSS before any test code runs) and the agent does not. Its store generates pages on demand and
 * holds no key, so the figure is the filesystem's.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { transpileTree } from '../helpers/transpile.js';

const root = join(import.meta.dirname, '../../..');

function runScenario(out: string, args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    // Without NODE_OPTIONS: the runner's loaders (the TypeScript compiler) stay out of the child.
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const child = spawn(process.execPath, ['--expose-gc', join(out, 'test/unit/helpers/listing-memory-scenario.js'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`scenario exited ${code}: ${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop() as string) as Record<string, unknown>);
    });
  });
}

t.test('a folder of 1,000,000 objects stays within cache-size + 150 MiB', async (t) => {
  const { outDir: out, cleanup } = transpileTree(root, ['src', 'test/unit/helpers']);
  t.teardown(cleanup);
  const cacheMiB = 64;
  const bound = cacheMiB + 150;
  const r = await runScenario(out, ['1000000', String(cacheMiB * 1024 * 1024)]);
  const mib = (k: string): string => (r[k] as number).toFixed(0);
  t.comment(
    `RSS: ${mib('atStartMiB')} MiB at start, ${mib('withAnswerMiB')} MiB holding the readdir answer (${String(r.shown)} names), ` +
      `${mib('atEndMiB')} MiB at the end after GC, peak ${mib('peakMiB')} MiB; bound ${bound} MiB (cache-size ${cacheMiB} MiB + 150 MiB); requests ${JSON.stringify(r.calls)}`,
  );
  t.same(r.root, ['folder', 'top.txt']);
  t.equal(r.first, 'object-0000000-abcdefghijklmnopqrstu', 'readdir starts at the first key');
  t.equal(r.shown, 50_000, 'readdir shows the first 50,000 entries (max-folder-entries), with a warning');
  t.same(r.found, { 0: true, 1: true, 99999: true, 500000: true, 999999: true }, 'names listed and not listed are found by lookup');
  t.equal(r.missing, 'ENOENT', 'a missing name is missing');
  t.ok((r.peakMiB as number) <= bound, `peak RSS ${mib('peakMiB')} MiB <= ${bound} MiB`);
});

t.test('max-folder-entries=1000000: every name of the folder, names only; the cost printed', async (t) => {
  const { outDir: out, cleanup } = transpileTree(root, ['src', 'test/unit/helpers']);
  t.teardown(cleanup);
  const cacheMiB = 64;
  const r = await runScenario(out, ['1000000', String(cacheMiB * 1024 * 1024), '1000000']);
  const mib = (k: string): string => (r[k] as number).toFixed(0);
  const allowance = cacheMiB + 150 + Math.ceil((250 * 1_000_000) / 1024 / 1024);
  t.comment(
    `RSS: ${mib('atStartMiB')} MiB at start, ${mib('withAnswerMiB')} MiB holding the readdir answer (${String(r.shown)} names), ` +
      `${mib('atEndMiB')} MiB at the end after GC, peak ${mib('peakMiB')} MiB; documented allowance ${allowance} MiB (cache-size ${cacheMiB} MiB + 150 MiB + 250 B a name)`,
  );
  t.equal(r.shown, 1_000_000, 'readdir shows every name');
  t.equal(r.last, 'object-0999999-abcdefghijklmnopqrstu', 'up to the last key');
  t.ok((r.peakMiB as number) <= allowance, `peak RSS ${mib('peakMiB')} MiB <= ${allowance} MiB`);
});
