/**
 * The live bucket table against a reference model. Random sequences of put (a new store, the
 * same store retuned, an unavailable slot), remove (with a grace of 0, 1 s or 10 s), retune,
 * open, read (also one started just before its mount is removed), release, getattr, listings
 * of the root and of a shared parent folder, and clock ticks, over three mounts (one at /m0,
 * two under /g).
 *
 * Invariants, after every step: reads give the model's bytes exactly, or ESTALE when the model
 * says the handle's mount was removed and its grace is over; lookups answer ENOENT, the slot's
 * errno, or the model's mode (a file still open under a removed mount: by its old path, until
 * released, ESTALE after the grace); listings show the model's folders; bucketStates and openHandles
 * equal the model's; each store has been destroyed as often as the model says (0 or 1). At the
 * end, with every handle released and the clock past every grace, no timer is left, and after
 * close every store has been destroyed exactly once.
 *
 * Replay a failure with FC_SEED=<seed printed below> (fast-check also prints the path).
 */
import t from 'tap';
import fc from 'fast-check';
import { constants } from 'node:fs';
import { MemoryStore, ramp } from '../helpers/memory-store.js';
import { KiB, MiB, testFilesystem, testMount } from '../helpers/test-filesystem.js';
import { FsError, errnoName } from '../../../src/fs/errno.js';
import type { BucketMount } from '../../../src/config/plan.js';

const SEED = Number(process.env.FC_SEED ?? (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0);
const RUNS = Number(process.env.FC_RUNS ?? 150);
const DRAIN_GRACE_MS = 3_000;
const FOLDERS: readonly (readonly string[])[] = [['m0'], ['g', 'm1'], ['g', 'm2']];
const MODES = [0o444, 0o440, 0o400] as const;
const GRACES = [0, 1_000, 10_000] as const;

class CountedStore extends MemoryStore {
  destroyed = 0;
  override destroy(): void {
    this.destroyed++;
  }
}

type Op =
  | { t: 'put'; m: number; kind: 'serving' | 'same' | 'unavailable'; sizes: [number, number]; mode: number; eacces: boolean }
  | { t: 'remove'; m: number; grace: number }
  | { t: 'retune'; m: number; mode: number }
  | { t: 'open'; m: number; file: number }
  | { t: 'read'; h: number; at: number; len: number }
  | { t: 'readAcrossRemove'; h: number; at: number; len: number; grace: number }
  | { t: 'release'; h: number }
  | { t: 'getattr'; m: number; file: number }
  | { t: 'list'; path: '/' | '/g' }
  | { t: 'tick'; ms: number };

const sizeArb = fc.oneof(fc.constantFrom(0, 1, 128 * KiB, MiB, MiB + 1), fc.integer({ min: 0, max: 1.5 * MiB }));
const m = fc.nat(2);
const h = fc.nat(5);
const at = fc.double({ min: 0, max: 1.05, noNaN: true });
const len = fc.oneof(fc.integer({ min: 1, max: 4 * KiB }), fc.constant(128 * KiB), fc.integer({ min: 1, max: 300 * KiB }));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('put' as const),
      m,
      kind: fc.constantFrom('serving' as const, 'serving' as const, 'same' as const, 'unavailable' as const),
      sizes: fc.tuple(sizeArb, sizeArb),
      mode: fc.constantFrom(...MODES),
      eacces: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('remove' as const), m, grace: fc.constantFrom(...GRACES) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('retune' as const), m, mode: fc.constantFrom(...MODES) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('open' as const), m, file: fc.nat(2) }) },
  { weight: 6, arbitrary: fc.record({ t: fc.constant('read' as const), h, at, len }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('readAcrossRemove' as const), h, at, len, grace: fc.constantFrom(1_000, 10_000) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('release' as const), h }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('getattr' as const), m, file: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('list' as const), path: fc.constantFrom('/' as const, '/g' as const) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.constantFrom(0, 500, 1_000, 3_000, 12_000) }) },
);

/** One slot as the model sees it: a bucket with its store, or an unavailable folder. */
interface ModelBucket {
  readonly name: string;
  readonly store: CountedStore | undefined;
  readonly files: readonly Buffer[];
  readonly errno: 'EACCES' | 'EIO' | undefined;
  mode: number;
  handles: number;
  retired: boolean;
  staleAt: number;
  graceOver: boolean;
}

interface ModelHandle {
  readonly fd: number;
  readonly bucket: ModelBucket;
  readonly file: number;
  readonly data: Buffer;
}

const totals = { programs: 0, reads: 0, bytes: 0, stale: 0, puts: 0, removes: 0 };

async function errnoOf(op: () => Promise<unknown>): Promise<string> {
  try {
    await op();
    return 'ok';
  } catch (err) {
    return errnoName(err);
  }
}

async function runProgram(ops: readonly Op[]): Promise<void> {
  const { fs, clock, advance, pendingTimers, read } = testFilesystem({ buckets: [], drainGraceMs: DRAIN_GRACE_MS });
  const live = new Map<string, ModelBucket>();
  const stores: { store: CountedStore; destroyed: number }[] = [];
  const handles: ModelHandle[] = [];
  const problems: string[] = [];
  let storeSeed = 0;
  const mountOf = (i: number, mode: number): BucketMount => testMount(`m${i}`, { folder: FOLDERS[i] as readonly string[], fileMode: mode });
  const pathOf = (i: number, file: number): string => `/${(FOLDERS[i] as readonly string[]).join('/')}/f${file}`;
  const destroyOf = (store: CountedStore | undefined): void => {
    const s = stores.find((x) => x.store === store);
    if (s) s.destroyed++;
  };
  /** Retired buckets with handles open, in the order they were retired. */
  const draining: ModelBucket[] = [];
  const retire = (b: ModelBucket, grace: number): void => {
    live.delete(b.name);
    if (!b.store) return;
    b.retired = true;
    if (b.handles === 0) destroyOf(b.store);
    else {
      b.staleAt = clock.now() + grace;
      draining.push(b);
    }
  };
  const stale = (b: ModelBucket): boolean => b.retired && clock.now() >= b.staleAt;
  const expect = (what: string, got: unknown, want: unknown): void => {
    if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  };
  const checkedRead = async (hd: ModelHandle, pos: number, n: number, wasStale: boolean): Promise<void> => {
    totals.reads++;
    let got: Buffer | string;
    try {
      got = await read(hd.fd, pos, n);
    } catch (err) {
      got = errnoName(err);
    }
    if (wasStale) {
      totals.stale++;
      expect(`read of fd ${hd.fd} (mount ${hd.bucket.name} removed, grace over)`, typeof got === 'string' ? got : `${got.length} bytes`, 'ESTALE');
      return;
    }
    const want = hd.data.subarray(pos, pos + n);
    if (typeof got === 'string') problems.push(`read of fd ${hd.fd} at ${pos}+${n}: ${got}, want ${want.length} bytes`);
    else if (!got.equals(want)) problems.push(`read of fd ${hd.fd} at ${pos}+${n}: wrong bytes (${got.length}, want ${want.length})`);
    else totals.bytes += got.length;
  };

  for (const op of ops) {
    switch (op.t) {
      case 'put': {
        totals.puts++;
        const name = `m${op.m}`;
        const old = live.get(name);
        if (op.kind === 'same') {
          if (!old?.store) break;
          fs.putBucket({ state: 'serving', mount: mountOf(op.m, op.mode), store: old.store });
          old.mode = op.mode;
          break;
        }
        if (op.kind === 'unavailable') {
          const errno = op.eacces ? 'EACCES' : 'EIO';
          fs.putBucket({ state: 'unavailable', mount: mountOf(op.m, op.mode), error: new FsError(errno, `mount "${name}": not yet`) });
          if (old) retire(old, DRAIN_GRACE_MS);
          live.set(name, { name, store: undefined, files: [], errno, mode: op.mode, handles: 0, retired: false, staleAt: Infinity, graceOver: false });
          break;
        }
        const store = new CountedStore();
        const seed = ++storeSeed;
        const files = op.sizes.map((size, i) => ramp(size, seed * 7 + i));
        files.forEach((data, i) => store.put(`f${i}`, data));
        stores.push({ store, destroyed: 0 });
        fs.putBucket({ state: 'serving', mount: mountOf(op.m, op.mode), store });
        if (old) retire(old, DRAIN_GRACE_MS);
        live.set(name, { name, store, files, errno: undefined, mode: op.mode, handles: 0, retired: false, staleAt: Infinity, graceOver: false });
        break;
      }
      case 'remove': {
        totals.removes++;
        fs.removeBucket(`m${op.m}`, op.grace);
        const b = live.get(`m${op.m}`);
        if (b) retire(b, op.grace);
        break;
      }
      case 'retune': {
        const b = live.get(`m${op.m}`);
        if (!b) {
          if (!(await errnoOf(async () => fs.retuneBucket(mountOf(op.m, op.mode)))).startsWith('E')) problems.push(`retune of absent m${op.m} did not throw`);
          break;
        }
        fs.retuneBucket(mountOf(op.m, op.mode));
        b.mode = op.mode;
        break;
      }
      case 'open': {
        const b = live.get(`m${op.m}`);
        const data = b?.files[op.file];
        const want = !b ? 'ENOENT' : b.errno ? b.errno : data === undefined ? 'ENOENT' : 'ok';
        let fd = -1;
        const got = await errnoOf(async () => {
          fd = await fs.open(pathOf(op.m, op.file), constants.O_RDONLY);
        });
        expect(`open ${pathOf(op.m, op.file)}`, got, want);
        if (got === 'ok' && b && data) {
          b.handles++;
          handles.push({ fd, bucket: b, file: op.file, data });
        } else if (got === 'ok') fs.release(fd);
        break;
      }
      case 'read': {
        const hd = handles[op.h % Math.max(1, handles.length)];
        if (!hd) break;
        await checkedRead(hd, Math.floor(op.at * hd.data.length), op.len, stale(hd.bucket));
        break;
      }
      case 'readAcrossRemove': {
        const hd = handles[op.h % Math.max(1, handles.length)];
        if (!hd) break;
        const wasStale = stale(hd.bucket);
        // The read is on its way (or answered from the cache) when its mount goes: it completes.
        const pending = checkedRead(hd, Math.floor(op.at * hd.data.length), op.len, wasStale);
        if (live.get(hd.bucket.name) === hd.bucket) {
          fs.removeBucket(hd.bucket.name, op.grace);
          retire(hd.bucket, op.grace);
        }
        await pending;
        break;
      }
      case 'release': {
        const i = op.h % Math.max(1, handles.length);
        const hd = handles[i];
        if (!hd) break;
        fs.release(hd.fd);
        handles.splice(i, 1);
        const b = hd.bucket;
        b.handles--;
        if (b.retired && b.handles === 0) {
          draining.splice(draining.indexOf(b), 1);
          if (!b.graceOver) destroyOf(b.store);
        }
        break;
      }
      case 'getattr': {
        const b = live.get(`m${op.m}`);
        const data = b?.files[op.file];
        let mode = -1;
        const got = await errnoOf(async () => {
          mode = (await fs.getattr(pathOf(op.m, op.file))).mode & 0o777;
        });
        let want = !b ? 'ENOENT' : b.errno ? b.errno : data === undefined ? 'ENOENT' : b.mode.toString(8);
        // A file still open under a removed mount answers by its old path (the kernel's fstat asks
        // by path) until it is released; ESTALE after the grace.
        const old = draining.find((d) => d.name === `m${op.m}` && handles.some((hd) => hd.bucket === d && hd.file === op.file));
        if (want === 'ENOENT' && old) want = stale(old) ? 'ESTALE' : old.mode.toString(8);
        expect(`getattr ${pathOf(op.m, op.file)}`, got === 'ok' ? mode.toString(8) : got, want);
        break;
      }
      case 'list': {
        const names = new Set<string>();
        for (const b of live.values()) {
          const folder = FOLDERS[Number(b.name.slice(1))] as readonly string[];
          if (op.path === '/') names.add(folder[0] as string);
          else if (folder[0] === 'g') names.add(folder[1] as string);
        }
        let got: string[] | string;
        try {
          got = (await fs.readdir(op.path)).names;
        } catch (err) {
          got = errnoName(err);
        }
        expect(`readdir ${op.path}`, got, op.path === '/g' && names.size === 0 ? 'ENOENT' : [...names].sort());
        break;
      }
      case 'tick': {
        advance(op.ms);
        for (const hd of handles) {
          const b = hd.bucket;
          if (b.retired && !b.graceOver && clock.now() >= b.staleAt) {
            b.graceOver = true;
            destroyOf(b.store);
          }
        }
        break;
      }
    }
    // After every step: states, handles, destroy counts.
    const states = new Map<string, string>();
    for (const hd of handles) if (hd.bucket.retired) states.set(hd.bucket.name, 'draining');
    for (const [name, b] of live) states.set(name, b.errno ? 'unavailable' : 'serving');
    expect(`bucketStates after ${op.t}`, [...fs.bucketStates()].sort(), [...states].sort());
    expect(`openHandles after ${op.t}`, fs.openHandles, handles.length);
    for (const [i, s] of stores.entries()) expect(`destroy calls of store ${i + 1} after ${op.t}`, s.store.destroyed, s.destroyed);
    if (problems.length > 0) break;
  }

  for (const hd of handles) fs.release(hd.fd);
  advance(20_000);
  expect('open handles at the end', fs.openHandles, 0);
  expect('timers left', pendingTimers(), 0);
  for (const [i, s] of stores.entries()) {
    const retired = ![...live.values()].some((b) => b.store === s.store);
    if (retired) expect(`destroy calls of retired store ${i + 1}`, s.store.destroyed, 1);
  }
  fs.close();
  for (const [i, s] of stores.entries()) expect(`destroy calls of store ${i + 1} after close`, s.store.destroyed, 1);
  totals.programs++;
  if (problems.length > 0) throw new Error(problems.slice(0, 5).join('\n'));
}

t.test('the live bucket table follows the model: bytes, errnos, states, handles, destroyed stores', async (t) => {
  t.comment(`fast-check seed ${SEED}, ${RUNS} runs (replay: FC_SEED=${SEED})`);
  const started = Date.now();
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 20, maxLength: 80 }), async (ops) => {
      // Every mount serving first, with a file open in each, so that reads have handles.
      const start: Op[] = [0, 1, 2].flatMap((i): Op[] => [
        { t: 'put', m: i, kind: 'serving', sizes: [300 * KiB, MiB + 5], mode: 0o444, eacces: false },
        { t: 'open', m: i, file: 1 },
      ]);
      await runProgram([...start, ...ops]);
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: false },
  );
  t.comment(
    `${totals.programs} programs in ${Date.now() - started} ms: ${totals.puts} puts, ${totals.removes} removes, ${totals.reads} reads (${(totals.bytes / MiB).toFixed(1)} MiB), ${totals.stale} stale`,
  );
  t.pass('every step matched the model');
});
