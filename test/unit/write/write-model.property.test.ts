/**
 * A reference model: random sequences of write / truncate / read / commit on one handle, over a
 * MemoryStore with small parts, against a plain Buffer. Every read equals the model; after every
 * commit the stored object equals the model. The seed is printed; WRITE_MODEL_SEED replays it.
 */
import fc from 'fast-check';
import t from 'tap';
import { FsError } from '../../../src/fs/errno.js';
import { bytes, PART, setup } from './helpers/write-setup.js';

type Op =
  | { readonly kind: 'write'; readonly at: number; readonly len: number; readonly seed: number }
  | { readonly kind: 'append'; readonly len: number; readonly seed: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'read'; readonly at: number; readonly len: number }
  | { readonly kind: 'commit' };

/** Positions as fractions of the current size (0..1.2: a bit past the end too). */
const frac = fc.integer({ min: 0, max: 1200 }).map((n) => n / 1000);
const len = fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 3 * PART }));
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('append' as const), len, seed: fc.nat(255) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('write' as const), at: frac, len, seed: fc.nat(255) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: frac }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('read' as const), at: frac, len }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'commit' as const }) },
);

const start = fc.record({
  isNew: fc.boolean(),
  existing: fc.integer({ min: 0, max: 3 * PART }),
  truncate: fc.boolean(),
  /** Without staging space, what needs it answers EOPNOTSUPP and changes nothing. */
  staging: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
});

/** Runs an operation; EOPNOTSUPP (no staging space) is an answer the model allows, changing nothing. */
async function allowed(staging: boolean, op: () => Promise<unknown>): Promise<boolean> {
  try {
    await op();
    return true;
  } catch (err) {
    if (!staging && err instanceof FsError && err.errno === 'EOPNOTSUPP') return false;
    throw err;
  }
}

const seed = Number(process.env.WRITE_MODEL_SEED ?? Math.floor(Math.random() * 2 ** 31));

t.test(`write / truncate / read / commit against a Buffer model (seed ${seed})`, async (t) => {
  t.comment(`replay with WRITE_MODEL_SEED=${seed}`);
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(start, fc.array(op, { minLength: 1, maxLength: 25 }), fc.integer({ min: 1, max: 4 }), async (begin, ops, concurrency) => {
      runs++;
      const s = await setup({ stagingBytes: begin.staging ? undefined : null });
      try {
        let model: Buffer = Buffer.alloc(0);
        if (!begin.isNew) {
          model = bytes(begin.existing, 99);
          s.mem.put('f', Buffer.from(model)); // a copy: the model changes in place
          if (begin.truncate) model = Buffer.alloc(0);
        }
        const h = s.handle('f', { truncate: begin.truncate, uploadConcurrency: concurrency });
        const check = (what: string): void => {
          if (h.size !== model.length) throw new Error(`${what}: size ${h.size}, model ${model.length}`);
        };
        for (const o of ops) {
          const pos = o.kind === 'append' || o.kind === 'commit' ? model.length : Math.floor(o.at * model.length);
          switch (o.kind) {
            case 'append':
            case 'write': {
              const data = bytes(o.len, o.seed);
              if (!(await allowed(begin.staging, () => h.write(pos, data)))) {
                check('refused');
                break;
              }
              if (pos + data.length > model.length) model = Buffer.concat([model, Buffer.alloc(pos + data.length - model.length)]);
              data.copy(model, pos);
              check(`write ${pos}+${o.len}`);
              break;
            }
            case 'truncate':
              if (!(await allowed(begin.staging, () => h.truncate(pos)))) {
                check('refused');
                break;
              }
              model = pos <= model.length ? model.subarray(0, pos) : Buffer.concat([model, Buffer.alloc(pos - model.length)]);
              check(`truncate ${pos}`);
              break;
            case 'read': {
              let got: Buffer = Buffer.alloc(0);
              if (!(await allowed(begin.staging, async () => (got = await h.read(pos, o.len))))) {
                check('refused');
                break;
              }
              const want = model.subarray(pos, Math.min(model.length, pos + o.len));
              if (!got.equals(want)) throw new Error(`read ${pos}+${o.len}: ${got.length} bytes differ from the model's ${want.length}`);
              break;
            }
            case 'commit': {
              await h.commit();
              const stored = s.object('f');
              if (!stored?.equals(model)) throw new Error(`commit: stored ${stored?.length} bytes differ from the model's ${model.length}`);
              break;
            }
          }
        }
        await h.close();
        const stored = s.object('f');
        if (!stored?.equals(model)) throw new Error(`close: stored ${stored?.length} bytes differ from the model's ${model.length}`);
        if (s.mem.uploads.size !== 0) throw new Error(`${s.mem.uploads.size} uploads left`);
        if (s.memory.heldBytes !== 0) throw new Error(`${s.memory.heldBytes} bytes of memory held`);
        if ((s.staging?.usedBytes ?? 0) !== 0) throw new Error(`${s.staging?.usedBytes} staging bytes used`);
      } finally {
        await s.cleanup();
      }
    }),
    { seed, numRuns: 150 },
  );
  t.pass(`${runs} runs`);
});
