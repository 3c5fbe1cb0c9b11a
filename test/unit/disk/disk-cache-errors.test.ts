import t from 'tap';
import { ManualClock } from '../../../src/clock.js';
import { BS, blockBytes, failingIo, keyOf, open } from './helpers/disk-fixture.js';

for (const code of ['EIO', 'ENOSPC', 'EROFS']) {
  t.test(`${code} on every write: put never throws, the cache turns itself off after 5 errors, and says so once`, async (t) => {
    const dir = t.testdir();
    const reports: string[] = [];
    const io = failingIo(['writeNew'], code);
    const c = await open(dir, { io, onError: (what) => reports.push(what) });
    await c.whenIndexed();
    const k = keyOf('w', 64);
    for (let i = 0; i < 8; i++) {
      c.put(k, i, blockBytes(i));
      await c.flush();
    }
    t.match(c.stats(), { errors: 5, disabled: true, writes: 0, files: 0 });
    t.equal(io.calls.writeNew, 5, 'no write tried once off');
    t.equal(reports.length, 2, 'reported: the first error, then turning off');
    t.match(reports[0], new RegExp(`write ${code}`));
    t.match(reports[1], /off after 5 errors/);
    t.equal(await c.get(k, 0), undefined, 'an off cache answers misses');
    await c.close();
  });
}

t.test('EIO on reads: get answers undefined, never rejects; off after 5', async (t) => {
  const dir = t.testdir();
  let failing = false;
  const io = failingIo(['readFile'], 'EIO', () => failing);
  const c = await open(dir, { io });
  await c.whenIndexed();
  const k = keyOf('r');
  c.put(k, 0, blockBytes(0));
  await c.flush();
  t.ok(await c.get(k, 0));
  failing = true;
  for (let i = 0; i < 6; i++) t.equal(await c.get(k, 0), undefined);
  t.match(c.stats(), { errors: 5, disabled: true });
  t.equal(io.calls.readFile, 6, 'the sixth get did not touch the disk');
  await c.close();
});

t.test('errors spread out in time do not turn the cache off', async (t) => {
  const dir = t.testdir();
  const clock = new ManualClock();
  let failing = false;
  const io = failingIo(['writeNew'], 'EIO', () => failing);
  const c = await open(dir, { io, clock });
  await c.whenIndexed();
  const k = keyOf('s', 64);
  for (let i = 0; i < 12; i++) {
    failing = i % 2 === 0;
    c.put(k, i, blockBytes(i));
    await c.flush();
    clock.advance(20_000);
  }
  t.match(c.stats(), { errors: 6, disabled: false, writes: 6 });
  await c.close();
});

t.test('a statfs, rename or evict that fails: counted, the read path unaffected', async (t) => {
  const dir = t.testdir();
  const io = failingIo(['rename', 'statfs'], 'EIO');
  const c = await open(dir, { io, budgetBytes: 4 * BS });
  await c.whenIndexed();
  const k = keyOf('x');
  c.put(k, 0, blockBytes(0));
  await c.flush();
  t.equal(c.stats().files, 0);
  t.equal(c.stats().errors, 3, 'statfs (at the index rebuild and before the write) and rename');
  t.equal(await c.get(k, 0), undefined);
  await c.close();
});

t.test('a cache folder that cannot be created: a cache that is off, not a failed mount', async (t) => {
  const dir = t.testdir();
  const reports: string[] = [];
  const io = failingIo(['mkdir'], 'EROFS');
  const c = await open(dir, { io, onError: (w) => reports.push(w) });
  t.match(c.stats(), { disabled: true, indexing: false });
  await c.whenIndexed();
  const k = keyOf('y');
  c.put(k, 0, blockBytes(0));
  t.equal(await c.get(k, 0), undefined);
  t.equal(reports.length, 1);
  t.match(reports[0], /open EROFS/);
  await c.close();
});

t.test('an onError that throws changes nothing', async (t) => {
  const dir = t.testdir();
  const io = failingIo(['writeNew'], 'EIO');
  const c = await open(dir, {
    io,
    onError: () => {
      throw new Error('logger broke');
    },
  });
  await c.whenIndexed();
  c.put(keyOf('z'), 0, blockBytes(0));
  await c.flush();
  t.equal(c.stats().errors, 1);
  await c.close();
});
