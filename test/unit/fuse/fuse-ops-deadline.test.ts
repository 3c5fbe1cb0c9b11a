// Issue 8 #10/#15 at the adapter: every FUSE operation gets one deadline (ETIMEDOUT), and an open
// whose answer comes after it releases its handle (the kernel never saw it, so never will). A
// read that timed out makes the handle's next reads fail at once; its late bytes go nowhere.
import t from 'tap';
import { constants } from 'node:os';
import pino from 'pino';
import { fuseOps } from '../../../src/fuse/fuse-ops.js';
import type { Filesystem } from '../../../src/fs/filesystem.js';
import { createCounters } from '../../../src/observe/counters.js';
import { constants as fsConstants } from 'node:fs';
import { MemoryStore, ramp } from '../helpers/memory-store.js';
import { FaultStore } from '../helpers/fault-store.js';
import { MiB, testFilesystem } from '../helpers/test-filesystem.js';

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
  const ops = fuseOps(fs, { log: pino({ level: 'silent' }), counters: createCounters(), readDeadlineMs: 20, opDeadlineMs: 20 }) as unknown as Record<
    string,
    (...a: unknown[]) => void
  >;
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
  const ops = fuseOps(fs, { log: pino({ level: 'silent' }), counters: createCounters(), readDeadlineMs: 20, opDeadlineMs: 20 }) as unknown as Record<
    string,
    (...a: unknown[]) => void
  >;
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
  const ops = fuseOps(fs, { log: pino({ level: 'silent' }), counters: createCounters(), readDeadlineMs: 1000 }) as unknown as Record<
    string,
    (...a: unknown[]) => void
  >;
  const a = answered();
  ops.readdir?.('/d', a.cb);
  const r = await a.first;
  t.equal(r.code, 0);
  t.same(r.rest, [
    ['a', 'b'],
    [{ mode: 1 }, { mode: 2 }],
  ]);
});

t.test('a read past its deadline answers ETIMEDOUT, says how long it waited, and the next reads of the handle fail at once', async (t) => {
  const mem = new MemoryStore();
  mem.put('big.bin', ramp(3 * MiB));
  const store = new FaultStore(mem);
  const { fs, clock } = testFilesystem({ store });
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
  const ops = fuseOps(fs, { log, counters: createCounters(), readDeadlineMs: 50 }) as unknown as Record<string, (...a: unknown[]) => void>;
  const fd = await fs.open('/big.bin', fsConstants.O_RDONLY);
  store.inject({ op: 'readRange', times: 1, fault: { kind: 'hang' } });
  const a = answered();
  ops.read?.('/big.bin', fd, Buffer.alloc(4096), 4096, 2 * MiB, a.cb);
  t.equal((await a.first).code, -constants.errno.ETIMEDOUT, 'the deadline answer');
  t.equal(store.hanging, 1, 'the GET still hangs: the answer came from the deadline');
  t.match(lines.join(''), /within 50 ms/, 'says how long it waited');
  const retry = answered();
  ops.read?.('/big.bin', fd, Buffer.alloc(4096), 4096, 2 * MiB, retry.cb);
  t.equal((await retry.first).code, -constants.errno.ETIMEDOUT, 'the retry the kernel sends at once fails at once');
  t.equal(store.hanging, 1, 'and asks S3 nothing');
  store.expireHung();
  clock.advance(2_001);
  const later = answered();
  const buf = Buffer.alloc(10);
  ops.read?.('/big.bin', fd, buf, 10, 2 * MiB, later.cb);
  t.equal((await later.first).code, 10, 'later reads go through');
  t.ok(buf.equals(ramp(3 * MiB).subarray(2 * MiB, 2 * MiB + 10)), 'with the right bytes');
  fs.release(fd);
});

t.test('a read copies the bytes into the kernel buffer, and never after its deadline', async (t) => {
  const late = deferred<Buffer[]>();
  const noted: number[] = [];
  const answers: (Buffer[] | Promise<Buffer[]>)[] = [[Buffer.from('ab'), Buffer.from('cde')], late.promise];
  const fs = {
    read: () => answers.shift(),
    noteReadTimeout: (fd: number) => void noted.push(fd),
  } as unknown as Filesystem;
  const counters = createCounters();
  const ops = fuseOps(fs, { log: pino({ level: 'silent' }), counters, readDeadlineMs: 20 }) as unknown as Record<string, (...a: unknown[]) => void>;
  const buf = Buffer.alloc(8);
  const cached = answered();
  ops.read?.('/f', 3, buf, 8, 0, cached.cb);
  t.equal((await cached.first).code, 5, 'the byte count');
  t.equal(buf.toString('latin1', 0, 5), 'abcde', 'the chunks, in order');
  t.equal(counters.fuseBytesRead, 5);
  const kernelBuf = Buffer.alloc(8);
  const slow = answered();
  ops.read?.('/f', 3, kernelBuf, 8, 0, slow.cb);
  t.equal((await slow.first).code, -constants.errno.ETIMEDOUT, 'the deadline answer');
  t.same(noted, [3], 'the handle is told, so that its next reads fail at once');
  late.resolve([Buffer.from('late')]);
  await new Promise((r) => setImmediate(r));
  t.ok(kernelBuf.equals(Buffer.alloc(8)), 'a late answer is not copied into a buffer the kernel may have reused');
});
