/**
 * Run by test/unit/fs/metadata-memory.test.ts in a child process of plain Node (transpiled, with
 * --expose-gc), so that RSS is the filesystem's and not the test runner's TypeScript compiler's.
 *
 * A bucket with a folder of `count` objects (argv[2]), served by a store that generates pages on
 * demand: readdir of the root (its tree is then listed flat in the background), readdir of the folder (every name), lookups of
 * listed, unlisted and missing names, 50,000 lookups past the listing, readdir again.
 * Prints one JSON line: RSS figures in MiB (the peak from /proc/self/status VmHWM) and counts.
 */
import { readFileSync } from 'node:fs';
import { MiB, settle, testFilesystem } from './test-filesystem.js';
import { SyntheticFolderStore } from './listing-stores.js';

const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const rssMiB = (): number => process.memoryUsage().rss / MiB;
const peakMiB = (): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 1_000_000);
  const cacheSize = Number(process.argv[3] ?? 64 * MiB);
  const maxFolderEntries = process.argv[4] !== undefined ? Number(process.argv[4]) : undefined;
  gc();
  const atStart = rssMiB();
  const store = new SyntheticFolderStore(count);
  const { fs } = testFilesystem({ store, settings: { cacheSizeBytes: cacheSize }, ...(maxFolderEntries !== undefined ? { mount: { maxFolderEntries } } : {}) });
  const out: Record<string, unknown> = { count, atStartMiB: atStart };

  out.root = (await fs.readdir('/')).names;
  await settle(50);

  let answer: { names: string[] } | undefined = await fs.readdir('/folder');
  out.shown = answer.names.length;
  out.first = answer.names[0];
  out.last = answer.names[answer.names.length - 1];
  out.withAnswerMiB = rssMiB(); // the readdir answer still held
  answer = undefined;

  const found: Record<string, boolean> = {};
  for (const i of [0, 1, Math.floor(count / 10) - 1, Math.floor(count / 2), count - 1]) found[i] = (await fs.getattr(`/${store.keyAt(i)}`)).size > 0;
  out.found = found;
  out.missing = await fs.getattr(`/${store.keyAt(count)}`).then(
    () => 'found',
    (err: { errno?: string }) => err.errno,
  );
  for (let i = Math.floor(count * 0.6); i < Math.floor(count * 0.6) + Math.min(50_000, count / 10); i++) await fs.getattr(`/${store.keyAt(i)}`);

  answer = await fs.readdir('/folder');
  answer = undefined;
  await fs.readdir('/');
  await settle(50);

  gc();
  out.atEndMiB = rssMiB();
  out.peakMiB = peakMiB();
  out.calls = store.calls;
  fs.close();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
