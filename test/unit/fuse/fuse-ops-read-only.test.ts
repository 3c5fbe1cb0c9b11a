// A read-only kernel mount answers no flush (libfuse says ENOSYS once, and the kernel stops
// sending one at every close); a writable one needs it, for the commit at close.
import t from 'tap';
import pino from 'pino';
import { fuseOps } from '../../../src/fuse/fuse-ops.js';
import type { Filesystem } from '../../../src/fs/filesystem.js';
import { createCounters } from '../../../src/observe/counters.js';

const flushed: number[] = [];
const fs = { flush: async (fd: number) => void flushed.push(fd) } as unknown as Filesystem;
const base = { log: pino({ level: 'silent' }), counters: createCounters(), readDeadlineMs: 1_000 };

t.test('read-only: no flush operation at all', async (t) => {
  const ops = fuseOps(fs, { ...base, writable: false }) as Record<string, unknown>;
  t.equal(ops['flush'], undefined);
  t.type(ops['release'], 'function', 'release stays: it frees the handle');
  t.type(ops['read'], 'function');
});

t.test('writable (and the default): flush reaches the filesystem', async (t) => {
  for (const opts of [{ ...base, writable: true }, base]) {
    const ops = fuseOps(fs, opts) as unknown as Record<string, (...a: unknown[]) => void>;
    const code = await new Promise<number>((resolve) => ops['flush']?.('/f', 7, (c: number) => resolve(c)));
    t.equal(code, 0);
  }
  t.same(flushed, [7, 7]);
});
