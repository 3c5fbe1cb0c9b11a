/**
 * The reference model under failing uploads: random writes, truncates, reads and commits while
 * the store fails a random PutObject, UploadPart, Create or CompleteMultipartUpload for good.
 * Promised: the operation that meets the failure rejects with the store's error, every later
 * one with EIO (EBADF once closed); the stored object is always a state the file had before some
 * operation (never a mix); no upload, memory or staging space is left behind. Seeded;
 * WRITE_FAULTS_SEED replays.
 */
import fc from 'fast-check';
import t from 'tap';
import { FsError } from '../../../src/fs/errno.js';
import { StoreError } from '../../../src/store/store-error.js';
import type { StoreOp } from '../helpers/fault-store.js';
import { bytes, PART, setup } from './helpers/write-setup.js';

type Op =
  | { readonly kind: 'write'; readonly at: number; readonly len: number; readonly seed: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'read'; readonly at: number; readonly len: number }
  | { readonly kind: 'commit' };

const frac = fc.integer({ min: 0, max: 1100 }).map((n) => n / 1000);
const len = fc.integer({ min: 1, max: 3 * PART });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('write' as const), at: frac, len, seed: fc.nat(255) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: frac }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('read' as const), at: frac, len }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'commit' as const }) },
);
const failing = fc.record({
  op: fc.constantFrom<StoreOp>('putObject', 'uploadPart', 'createMultipartUpload', 'completeMultipartUpload'),
  call: fc.integer({ min: 1, max: 4 }),
});

const seed = Number(process.env.WRITE_FAULTS_SEED ?? Math.floor(Math.random() * 2 ** 31));

t.test(`failing uploads against a Buffer model (seed ${seed})`, async (t) => {
  t.comment(`replay with WRITE_FAULTS_SEED=${seed}`);
  let failedRuns = 0;
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 2 * PART }), fc.array(op, { minLength: 1, maxLength: 20 }), failing, async (existing, ops, fault) => {
      const s = await setup();
      try {
        let model: Buffer = bytes(existing, 5);
        s.mem.put('f', Buffer.from(model));
        const states = [Buffer.from(model)];
        s.store.inject({
          op: fault.op,
          calls: [fault.call],
          fault: { kind: 'error', error: new StoreError('server', 'HTTP 500 (injected)', { status: 500 }) },
        });
        const h = s.handle('f', { uploadConcurrency: 2 });
        let failed = false;
        const run = async (fn: () => Promise<void>): Promise<boolean> => {
          try {
            await fn();
            if (failed) throw new Error('an operation succeeded after the upload failed');
            return true;
          } catch (err) {
            if (!failed && err instanceof StoreError && err.kind === 'server') failed = true;
            else if (!(failed && err instanceof FsError && err.errno === 'EIO')) throw err;
            return false;
          }
        };
        for (const o of ops) {
          states.push(Buffer.from(model));
          const pos = o.kind === 'commit' ? 0 : Math.floor(o.at * model.length);
          if (o.kind === 'write') {
            const data = bytes(o.len, o.seed);
            if (await run(() => h.write(pos, data))) {
              if (pos + data.length > model.length) model = Buffer.concat([model, Buffer.alloc(pos + data.length - model.length)]);
              data.copy(model, pos);
            }
          } else if (o.kind === 'truncate') {
            if (await run(() => h.truncate(pos)))
              model = pos <= model.length ? model.subarray(0, pos) : Buffer.concat([model, Buffer.alloc(pos - model.length)]);
          } else if (o.kind === 'read') {
            await run(async () => {
              const got = await h.read(pos, o.len);
              if (!got.equals(model.subarray(pos, pos + o.len))) throw new Error(`read ${pos}+${o.len} differs from the model`);
            });
          } else if (await run(async () => void (await h.commit()))) {
            if (!s.object('f')?.equals(model)) throw new Error('commit: the stored object differs from the model');
          }
          const stored = s.object('f');
          if (!states.some((b) => stored?.equals(b)) && !stored?.equals(model)) throw new Error('the stored object is no state the file had');
        }
        await run(async () => void (await h.close()));
        if (failed) failedRuns++;
        else if (!s.object('f')?.equals(model)) throw new Error('close: the stored object differs from the model');
        const afterClose = await h.write(0, Buffer.from('x')).then(
          () => 'ok',
          (err: unknown) => (err instanceof FsError ? err.errno : String(err)),
        );
        if (afterClose !== 'EBADF') throw new Error(`a write after close: ${afterClose}`);
        if (s.mem.uploads.size !== 0) throw new Error(`${s.mem.uploads.size} uploads left`);
        if (s.memory.heldBytes !== 0 || s.budget.reservedBytes !== 0) throw new Error(`${s.memory.heldBytes} bytes of memory held`);
        if ((s.staging?.usedBytes ?? 0) !== 0) throw new Error(`${s.staging?.usedBytes} staging bytes used`);
      } finally {
        await s.cleanup();
      }
    }),
    { seed, numRuns: 150 },
  );
  t.ok(failedRuns > 0, `${failedRuns} runs met a failure`);
});
