import t from 'tap';
import { RotatingCredentials } from '../../../src/store/rotating-credentials.js';

t.test('secrets are read once per refresh period, and again at once after a refusal', async (t) => {
  let now = 0;
  let reads = 0;
  let key = 'old';
  const c = new RotatingCredentials(
    async () => {
      reads++;
      return { accessKeyId: key, secretAccessKey: `${key}-secret` };
    },
    60_000,
    () => now,
  );
  for (let i = 0; i < 100; i++) t.equal((await c.provider()).accessKeyId, 'old');
  t.equal(reads, 1, 'one read for 100 requests');
  now = 61_000;
  await c.provider();
  t.equal(reads, 2, 're-read after the period');
  t.equal(await c.refresh(), false, 'unchanged secret: no retry');
  key = 'new';
  t.equal(await c.refresh(), true, 'rotated secret: retry');
  t.equal((await c.provider()).accessKeyId, 'new');
  now += 1_000;
  t.equal(await c.refresh(), true, 'another request of the same burst refused with the old keys: retry too');
  now += 10_000;
  t.equal(await c.refresh(), false, 'long after the change: the new keys are refused, no retry');
});
