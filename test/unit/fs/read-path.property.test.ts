/**
 * The read path against a reference model. Random sequences of open / read at random offsets
 * and sizes / sequential runs (read-ahead) / concurrent batches / clock ticks / close, over
 * several objects of random sizes (0 to 3.5 MiB, with exact multiples of the 1 MiB block and
 * sizes around the 128 KiB a lookup fetches), with faults injected into ranged GETs by a
 * seeded FaultStore: errors of every kind, short bodies, rejected 200s, delays the driver ends,
 * hangs the store's own deadline ends, aborts the store made on its own.
 *
 * Invariants: a read gives exactly the model's bytes (clipped at EOF), or fails with an errno
 * SEMANTICS promises (EIO, ETIMEDOUT, ESTALE, EACCES), and only when a fault that could cause
 * that errno was injected into a GET covering its bytes while it ran (or the handle is in its
 * fail-fast window after a timeout); never EINTR, never wrong bytes, never a hang. When every
 * handle is closed, nothing is left in flight and the cache is within its budget.
 *
 * Replay a failure with FC_SEED=<seed printed below> (fast-check also prints the path).
 */
import t from 'tap';
import fc from 'fast-check';
import { constants } from 'node:fs';
import { StoreError, type StoreErrorKind } from '../../../src/store/store-error.js';
import { errnoName, type ErrnoName } from '../../../src/fs/errno.js';
import { MemoryStore, ramp } from '../helpers/memory-store.js';
import { type Fault, FaultStore, Gate, type InjectedFault } from '../helpers/fault-store.js';
import { KiB, MiB, settle, testFilesystem } from '../helpers/test-filesystem.js';

const SEED = Number(process.env.FC_SEED ?? (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0);
const RUNS = Number(process.env.FC_RUNS ?? 300);
const FAIL_FAST_MS = 2_000;
const PROMISED: readonly ErrnoName[] = ['EIO', 'ETIMEDOUT', 'ESTALE', 'EACCES'];
const ERROR_KINDS: readonly StoreErrorKind[] = ['server', 'throttled', 'unreachable', 'timeout', 'access-denied', 'precondition-failed', 'aborted'];

type ReadOp = { t: 'read'; h: number; at: number; len: number };
type Op =
  | { t: 'open'; obj: number }
  | ReadOp
  | { t: 'stream'; h: number; reads: number }
  | { t: 'batch'; reads: ReadOp[] }
  | { t: 'tick'; ms: number }
  | { t: 'close'; h: number };

const sizeArb = fc.oneof(
  fc.constantFrom(0, 1, 128 * KiB - 1, 128 * KiB, 128 * KiB + 1, MiB - 1, MiB, MiB + 1, 2 * MiB, 3 * MiB),
  fc.integer({ min: 0, max: 3.5 * MiB }),
);
const readArb: fc.Arbitrary<ReadOp> = fc.record({
  t: fc.constant('read' as const),
  h: fc.nat(7),
  at: fc.double({ min: 0, max: 1.05, noNaN: true }),
  len: fc.oneof(fc.integer({ min: 1, max: 4 * KiB }), fc.constant(128 * KiB), fc.integer({ min: 1, max: 300 * KiB })),
});
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('open' as const), obj: fc.nat(7) }) },
  { weight: 5, arbitrary: readArb },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('stream' as const), h: fc.nat(7), reads: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('batch' as const), reads: fc.array(readArb, { minLength: 2, maxLength: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 3_000 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('close' as const), h: fc.nat(7) }) },
);

/** The errno a fault can make a read answer, if any. */
function errnoOfFault(f: InjectedFault): ErrnoName | undefined {
  switch (f.fault) {
    case 'error':
      return errnoName(new StoreError(f.errorKind as StoreErrorKind, ''));
    case 'short-body':
    case 'wrong-status':
      return 'EIO';
    case 'hang':
      return 'ETIMEDOUT'; // ended by the store's own deadline (expireHung)
    default:
      return undefined; // a delay only delays
  }
}

/** Totals over every program, printed at the end: evidence the property exercised something. */
const totals = { programs: 0, reads: 0, bytes: 0, failed: 0, faults: 0, byErrno: {} as Record<string, number> };

interface OpenHandle {
  readonly fd: number;
  readonly obj: number;
  cursor: number;
  failFast?: { until: number; errno: ErrnoName };
}

async function runProgram(sizes: number[], faultSeed: number, faultRate: number, ops: Op[]): Promise<void> {
  const mem = new MemoryStore();
  mem.chunkSize = 48 * KiB; // blocks are cut across chunk edges
  const data = sizes.map((size, i) => ramp(size, i * 13 + 1));
  data.forEach((d, i) => mem.put(`objs/o${i}`, d));
  const store = new FaultStore(mem, { seed: faultSeed });
  const gates: Gate[] = [];
  store.inject({
    op: 'readRange',
    probability: faultRate,
    fault: (call, random): Fault => {
      const r = random();
      const span = (call.end ?? 0) - (call.start ?? 0);
      if (r < 0.3) return { kind: 'error', error: new StoreError(ERROR_KINDS[Math.floor(random() * ERROR_KINDS.length)] as StoreErrorKind, 'injected') };
      if (r < 0.45) return { kind: 'short-body', bytes: Math.floor(random() * span), then: random() < 0.5 ? 'reject' : 'resolve' };
      if (r < 0.5) return { kind: 'wrong-status' };
      if (r < 0.85) {
        const gate = new Gate();
        gates.push(gate);
        return { kind: 'delay', until: gate.promise, afterBytes: Math.floor(random() * span) };
      }
      return { kind: 'hang' };
    },
  });
  const { fs, clock } = testFilesystem({
    store,
    settings: { cacheSizeBytes: 24 * MiB, readAheadInitialBytes: MiB, readAheadMaxBytes: 4 * MiB, partSizeBytes: 2 * MiB },
  });
  const handles: (OpenHandle | undefined)[] = [];
  const problems: string[] = [];

  /** Waits for `ps`, ending delays and hangs as a real world eventually would; a read that never settles is a bug. */
  async function drive<T>(ps: Promise<T>[]): Promise<T[]> {
    let done = 0;
    for (const p of ps)
      void p.then(
        () => done++,
        () => done++,
      );
    for (let idle = 0; done < ps.length;) {
      await settle(3);
      if (done === ps.length) break;
      const gate = gates.find((g) => !g.opened);
      if (gate) gate.open();
      else if (store.hanging > 0) store.expireHung();
      else if (++idle > 50) throw new Error('a read never settled (no delay or hang left to end)');
    }
    return Promise.all(ps);
  }

  function issue(op: ReadOp): Promise<void> {
    const h = handles[op.h % Math.max(1, handles.length)];
    if (!h) return Promise.resolve();
    const model = data[h.obj] as Buffer;
    const pos = Math.floor(op.at * model.length);
    return readChecked(h, pos, op.len);
  }

  function readChecked(h: OpenHandle, pos: number, len: number): Promise<void> {
    const model = data[h.obj] as Buffer;
    const issuedAt = store.events;
    const failFast = h.failFast && clock.now() < h.failFast.until ? h.failFast.errno : undefined;
    const want = model.subarray(Math.min(pos, model.length), Math.min(model.length, pos + len));
    const where = `o${h.obj} (${model.length} bytes) fd ${h.fd} read ${pos}+${len}`;
    let out: ReturnType<typeof fs.read>;
    try {
      out = fs.read(h.fd, pos, len);
    } catch (err) {
      out = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return Promise.resolve(out).then(
      (got) => {
        const bytes = Buffer.concat(got);
        totals.reads++;
        totals.bytes += bytes.length;
        if (!bytes.equals(want))
          problems.push(`${where}: ${bytes.length} bytes, not the model's ${want.length}${bytes.length === want.length ? ' (wrong bytes)' : ''}`);
      },
      (err: unknown) => {
        const errno = errnoName(err);
        totals.reads++;
        totals.failed++;
        totals.byErrno[errno] = (totals.byErrno[errno] ?? 0) + 1;
        if (err instanceof StoreError && (err.kind === 'timeout' || err.kind === 'unreachable')) {
          h.failFast = { until: clock.now() + FAIL_FAST_MS, errno };
        }
        if (!PROMISED.includes(errno)) return void problems.push(`${where}: ${errno} is not an errno SEMANTICS promises (${String(err)})`);
        if (failFast === errno) return;
        const key = `objs/o${h.obj}`;
        const causes = store.injected.filter(
          (f) => f.key === key && (f.start ?? 0) < pos + len && pos < (f.end ?? 0) && (f.settledAt ?? Infinity) > issuedAt && errnoOfFault(f) !== undefined,
        );
        const aborted = err instanceof StoreError && err.kind === 'other' && /aborted/.test(err.message) && causes.length > 0;
        if (!aborted && !causes.some((f) => errnoOfFault(f) === errno)) {
          problems.push(
            `${where}: failed with ${errno} (${String(err)}) but no fault for it was injected (faults covering it: ${causes.map((f) => f.fault + (f.errorKind ? `/${f.errorKind}` : '')).join(', ') || 'none'})`,
          );
        }
      },
    );
  }

  for (const op of ops) {
    switch (op.t) {
      case 'open': {
        const obj = op.obj % sizes.length;
        const fd = await fs.open(`/objs/o${obj}`, constants.O_RDONLY);
        handles.push({ fd, obj, cursor: 0 });
        break;
      }
      case 'read':
        await drive([issue(op)]);
        break;
      case 'batch':
        await drive(op.reads.map(issue));
        break;
      case 'stream': {
        const h = handles[op.h % Math.max(1, handles.length)];
        if (!h) break;
        for (let i = 0; i < op.reads; i++) {
          await drive([readChecked(h, h.cursor, 128 * KiB)]);
          h.cursor += 128 * KiB;
        }
        break;
      }
      case 'tick':
        clock.advance(op.ms);
        break;
      case 'close': {
        const i = op.h % Math.max(1, handles.length);
        const h = handles[i];
        if (!h) break;
        fs.release(h.fd);
        handles.splice(i, 1);
        break;
      }
    }
  }
  for (const h of handles) if (h) fs.release(h.fd);
  // Whatever is still delayed or hanging belongs to nobody now: it must have been aborted.
  await settle(5);
  for (const g of gates) g.open();
  store.expireHung();
  await settle(5);
  if (fs.fetcher.inflightBytes !== 0) problems.push(`${fs.fetcher.inflightBytes} bytes still in flight after every handle closed`);
  if (fs.cache.reservedBytes !== 0) problems.push(`${fs.cache.reservedBytes} bytes still reserved`);
  if (fs.cache.cachedBytes > fs.cache.maxBytes) problems.push(`cache over budget: ${fs.cache.cachedBytes} > ${fs.cache.maxBytes}`);
  totals.programs++;
  totals.faults += store.injected.length;
  if (problems.length > 0) throw new Error(problems.slice(0, 5).join('\n'));
}

t.test('reads equal the model, or fail with a promised errno for an injected fault', async (t) => {
  t.comment(`fast-check seed ${SEED}, ${RUNS} runs (replay: FC_SEED=${SEED})`);
  const started = Date.now();
  await fc.assert(
    fc.asyncProperty(
      fc.array(sizeArb, { minLength: 1, maxLength: 4 }),
      fc.integer(),
      fc.constantFrom(0, 0.1, 0.3, 0.5),
      fc.array(opArb, { minLength: 4, maxLength: 36 }),
      async (sizes, faultSeed, faultRate, ops) => {
        // Open something first, so reads have a handle.
        await runProgram(sizes, faultSeed, faultRate, [{ t: 'open', obj: 0 }, ...ops]);
      },
    ),
    { seed: SEED, numRuns: RUNS, endOnFailure: false },
  );
  t.comment(
    `${totals.programs} programs in ${Date.now() - started} ms: ${totals.reads} reads (${(totals.bytes / MiB).toFixed(1)} MiB), ${totals.faults} faults injected, ${totals.failed} reads failed ${JSON.stringify(totals.byErrno)}`,
  );
  t.pass('every read matched the model or failed as promised');
});
