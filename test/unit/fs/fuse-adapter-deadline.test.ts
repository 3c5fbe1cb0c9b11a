// Issue 8 #10/#15 at the adapter: every FUSE operation gets one deadline (ETIMEDOUT), and an open
// whose answer comes after it releases its handle (the kernel never saw it, so never will).
import t from 'tap';
import { constants } from 'node:os';
import pino from 'pino';
import { fuseOps } from '../../../src/fs/fuse-adapter.js';
import type { Filesystem } from '../../../src/fs/filesystem.js';
import { createCounters } from '../../../src/observe/counters.js';

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function answered(): { cb: (code: number, ...rest: unknown[]) => void; first: Promise<{ code: number; rest: unknown[] }> } {
  const d = deferred<{ code: number; rest: unknown[] }>();
  return { cb: (code, ...rest) => d.resolve({ code, rest }), first: d.promise };
}

t.test('an open answered after the deadline gets ETIMEDOUT and its handle is released', async (t) => {
  const opened = deferred<number>();
  const released: number[] = [];
  const releasedEvent = deferred<void>();
  const fs = {
    open: () => opened.promise,
    release: (fd: number) => {
      released.push(fd);
      releasedEvent.resolve();
    },
  } as unknown as Filesystem;
  const ops = fuseOps(fs, { log: pino({ level: 'silent' }), counters: createCounters(), readDeadlineMs: 20, opDeadlineMs: 20 }) as unknown as Record<string, (...a: unknown[]) => void>;
  const a = answered();
  ops.open?.('/f', 0, a.cb);
  const { code } = await a.first;
  t.equal(code, -constants.errno.ETIMEDOUT, 'the kernel hears ETIMEDOUT at the deadline');
  opened.resolve(7);
  await releasedEvent.promise;
  t.same(released, [7], 'the late handle is released');
});

t.test('getattr and readdir stuck past the deadline answer ETIMEDOUT once', async (t) => {
  const never = new Promise<never>(() => undefined);
  const fs = { getattr: () => never, readdir: () => never } as unknown as Filesystem;
  const ops = fuseOps(fs, { log: pino({ level: 'silent' }), counters: createCounters(), readDeadlineMs: 20, opDeadlineMs: 20 }) as unknown as Record<string, (...a: unknown[]) => void>;
  for (const op of ['getattr', 'readdir']) {
    const calls: number[] = [];
    const done = deferred<void>();
    ops[op]?.('/d', (code: number) => {
      calls.push(code);
      done.resolve();
    });
    await done.promise;
    t.same(calls, [-constants.errno.ETIMEDOUT], `${op}: one ETIMEDOUT answer`);
  }
});

t.test('a readdir in time answers names and attributes', async (t) => {
  const fs = { readdir: async () => ({ names: ['a', 'b'], attrs: [{ mode: 1 }, { mode: 2 }] }) } as unknown as Filesystem;
  const ops = fuseOps(fs, { log: pino({ level: 'silent' }), counters: createCounters(), readDeadlineMs: 1000 }) as unknown as Record<string, (...a: unknown[]) => void>;
  const a = answered();
  ops.readdir?.('/d', a.cb);
  const r = await a.first;
  t.equal(r.code, 0);
  t.same(r.rest, [['a', 'b'], [{ mode: 1 }, { mode: 2 }]]);
});
