/**
 * Bytes read through the mount are the object's bytes: whole files, random ranges, the last
 * bytes, past EOF, empty objects, and names with spaces and non-ASCII characters.
 */
import { createHash, randomBytes } from 'node:crypto';
import t from 'tap';
import { run } from './helpers/agent.js';
import { seededRandom } from './helpers/fault-proxy.js';
import { mountBucket } from './helpers/mount-bucket.js';
import { createTestBucket, makeClient, putObjects } from './helpers/s3.js';

const MiB = 1024 * 1024;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

// A reader in its own process: prints sha256 of [pos, pos+len) for each pair.
const RANGE_READER = `
const fs = require('fs');
const [file, ...pairs] = process.argv.slice(1);
const fd = fs.openSync(file, 'r');
const out = [];
for (let i = 0; i < pairs.length; i += 2) {
  const pos = Number(pairs[i]), len = Number(pairs[i + 1]);
  const buf = Buffer.alloc(len);
  let got = 0;
  while (got < len) { const n = fs.readSync(fd, buf, got, len - got, pos + got); if (n === 0) break; got += n; }
  out.push(got + ':' + require('crypto').createHash('sha256').update(buf.subarray(0, got)).digest('hex'));
}
console.log(out.join('\\n'));
`;

t.test('bytes through the mount equal the objects', async (t) => {
  const client = makeClient();
  const bucket = await createTestBucket(t, 'read-bytes', client);
  const big = randomBytes(24 * MiB + 777);
  const objects: Record<string, Buffer> = {
    'small.txt': Buffer.from('fluid-minio-test'),
    empty: Buffer.alloc(0),
    'big.bin': big,
    'dir/a b ü 文件.txt': Buffer.from('unicode name'),
    'deep/x/y/z.txt': Buffer.from('deep'),
  };
  await putObjects(client, bucket, objects);
  const { dir } = await mountBucket(t, `s3://${bucket}`);

  t.test('whole files, checksummed by sha256sum in a child process', async (t) => {
    for (const [key, data] of Object.entries(objects)) {
      const r = await run('sha256sum', [`${dir}/${key}`]);
      t.equal(r.code, 0, `${key}: sha256sum exits 0 (${r.stderr.trim()})`);
      t.equal(r.stdout.split(' ')[0], sha256(data), `${key}: bytes match`);
    }
  });

  t.test('random ranges, including across block edges and the tail', async (t) => {
    const ranges: [number, number][] = [
      [0, 1],
      [MiB - 10, 20],
      [3 * MiB + 5, 128 * 1024],
      [big.length - 100, 100],
      [big.length - 50, 4096],
      [big.length, 4096],
      [big.length + MiB, 10],
    ];
    // Seeded, so a failing range can be read again: SEED=<the seed printed> replays the run.
    const seed = process.env.SEED !== undefined ? Number(process.env.SEED) : Math.floor(Math.random() * 2 ** 32);
    if (!Number.isInteger(seed)) throw new Error(`SEED must be an integer, not ${process.env.SEED}`);
    t.comment(`random ranges from seed ${seed} (SEED=${seed} replays them)`);
    const random = seededRandom(seed);
    for (let i = 0; i < 40; i++) ranges.push([Math.floor(random() * big.length), 1 + Math.floor(random() * 300_000)]);
    const r = await run(process.execPath, ['-e', RANGE_READER, `${dir}/big.bin`, ...ranges.flat().map(String)]);
    t.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    t.equal(lines.length, ranges.length);
    ranges.forEach(([pos, len], i) => {
      const want = big.subarray(Math.min(pos, big.length), Math.min(big.length, pos + len));
      t.equal(lines[i], `${want.length}:${sha256(want)}`, `range ${pos}+${len}`);
    });
  });

  t.test('reading past EOF returns no bytes; an empty object reads as empty', async (t) => {
    const past = await run('dd', [`if=${dir}/small.txt`, 'bs=4096', 'skip=10', 'count=1', 'status=none']);
    t.equal(past.code, 0);
    t.equal(past.stdout.length, 0);
    const empty = await run('cat', [`${dir}/empty`]);
    t.equal(empty.code, 0);
    t.equal(empty.stdout, '');
    const st = await run('stat', ['-c', '%s %F', `${dir}/empty`]);
    t.equal(st.stdout.trim(), '0 regular empty file');
  });

  t.test('parallel readers of one object get the same bytes', async (t) => {
    const results = await Promise.all([1, 2, 3, 4].map(() => run('sha256sum', [`${dir}/big.bin`])));
    for (const r of results) t.equal(r.stdout.split(' ')[0], sha256(big));
  });
});

t.test('a prefix mount shows only the prefix', async (t) => {
  const client = makeClient();
  const bucket = await createTestBucket(t, 'prefix', client);
  await putObjects(client, bucket, { 'data/train/a.txt': 'A', 'data/b.txt': 'B', 'other/c.txt': 'C' });
  const { dir } = await mountBucket(t, `s3://${bucket}/data`);
  const ls = await run('ls', ['-1', dir]);
  t.same(ls.stdout.trim().split('\n'), ['b.txt', 'train']);
  t.equal((await run('cat', [`${dir}/train/a.txt`])).stdout, 'A');
});
