/** Every operation that would change the bucket answers EROFS, and the bucket stays unchanged. */
import t from 'tap';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { run } from './helpers/agent.js';
import { mountBucket } from './helpers/mount-bucket.js';
import { createTestBucket, makeClient, putObjects } from './helpers/s3.js';

t.test('writes answer EROFS', async (t) => {
  const client = makeClient();
  const bucket = await createTestBucket(t, 'erofs', client);
  await putObjects(client, bucket, { 'f.txt': 'keep', 'd/g.txt': 'keep' });
  const { dir } = await mountBucket(t, `s3://${bucket}`);
  const attempts: [string, string[]][] = [
    ['touch', [`${dir}/new.txt`]],
    ['mkdir', [`${dir}/newdir`]],
    ['rm', ['-f', `${dir}/f.txt`]],
    ['rmdir', [`${dir}/d`]],
    ['mv', [`${dir}/f.txt`, `${dir}/g.txt`]],
    ['sh', ['-c', `echo x >> "${dir}/f.txt"`]],
    ['sh', ['-c', `echo x > "${dir}/f.txt"`]],
    ['chmod', ['777', `${dir}/f.txt`]],
    ['truncate', ['-s', '0', `${dir}/f.txt`]],
    ['ln', ['-s', 'f.txt', `${dir}/link`]],
  ];
  for (const [cmd, args] of attempts) {
    const r = await run(cmd, args);
    t.not(r.code, 0, `${cmd} ${args.join(' ')} fails`);
    t.match(r.stderr, /Read-only file system/, `${cmd}: EROFS`);
  }
  const keys = (await client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents?.map((o) => o.Key).sort();
  t.same(keys, ['d/g.txt', 'f.txt'], 'the bucket is unchanged');
  t.equal((await run('cat', [`${dir}/f.txt`])).stdout, 'keep');
});
