/**
 * A hard memory cap: 16 parallel readers of large objects under a 256 MiB cache budget keep the
 * agent's RSS within budget + 150 MiB for the whole run (sampled from /proc), and every reader
 * gets the right bytes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { run } from './helpers/agent.js';
import { mountBucket } from './helpers/mount-bucket.js';
import { createTestBucket, makeClient, putObjects } from './helpers/s3.js';

const MiB = 1024 * 1024;

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : 0;
}

t.test('16 parallel readers under a 256 MiB budget stay within budget + 150 MiB', async (t) => {
  const client = makeClient();
  const bucket = await createTestBucket(t, 'memory', client);
  // 16 objects of 40 MiB: one random 8 MiB pattern with a per-object prefix, so each differs.
  const pattern = randomBytes(8 * MiB);
  const objects: Record<string, Buffer> = {};
  for (let i = 0; i < 16; i++) {
    const body = Buffer.concat([Buffer.from(`object-${i}-`), pattern, pattern, pattern, pattern, pattern]);
    objects[`big/${i}.bin`] = body;
  }
  await putObjects(client, bucket, objects);
  const { agent, dir } = await mountBucket(t, `s3://${bucket}`, ['--cache-size', '256MiB', '--log-level', 'info']);
  const pid = agent.child.pid as number;

  let peak = 0;
  let samples = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await rssBytes(pid));
      samples++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const results = await Promise.all(Object.keys(objects).map((key) => run('sha256sum', [`${dir}/${key}`], { timeoutMs: 120_000 })));
  sampling = false;
  await sampler;

  for (const [i, key] of Object.keys(objects).entries()) {
    const want = createHash('sha256')
      .update(objects[key] as Buffer)
      .digest('hex');
    t.equal(results[i]?.stdout.split(' ')[0], want, `${key}: right bytes`);
  }
  t.ok(samples > 5, `${samples} RSS samples`);
  t.ok(peak <= (256 + 150) * MiB, `peak RSS ${Math.round(peak / MiB)} MiB <= 406 MiB`);
});
