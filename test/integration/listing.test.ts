/**
 * Listings come from ListObjectsV2 with delimiter "/": they match what S3 lists, folders exist
 * with or without marker objects, sizes and mtimes are S3's, and a key that is both a file and
 * a prefix shows as a directory.
 */
import t from 'tap';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { run } from './helpers/agent.js';
import { mountBucket } from './helpers/mount-bucket.js';
import { createTestBucket, makeClient, putObjects } from './helpers/s3.js';

async function s3Names(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const names: string[] = [];
  let token: string | undefined;
  do {
    const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }));
    for (const o of r.Contents ?? []) if (o.Key !== prefix) names.push(o.Key!.slice(prefix.length));
    for (const p of r.CommonPrefixes ?? []) names.push(p.Prefix!.slice(prefix.length, -1));
    token = r.NextContinuationToken;
  } while (token);
  return [...new Set(names)].sort();
}

t.test('listings', async (t) => {
  const client = makeClient();
  const bucket = await createTestBucket(t, 'listing', client);
  const many: Record<string, string> = {};
  for (let i = 0; i < 2100; i++) many[`many/file-${String(i).padStart(5, '0')}.txt`] = `x${i}`;
  await putObjects(client, bucket, {
    ...many,
    'marked/': '',
    'marked/inside.txt': 'in',
    'empty-marked/': '',
    'implicit/child.txt': 'c',
    both: 'a file shadowed by a folder',
    'both/inner.txt': 'inner',
    'with space.txt': 'sp',
    'ünï.txt': 'u',
  });
  const { dir } = await mountBucket(t, `s3://${bucket}`);

  t.test('a folder of 2,100 objects lists exactly what S3 lists', async (t) => {
    const r = await run('ls', ['-1', `${dir}/many`]);
    t.equal(r.code, 0, r.stderr);
    t.same(r.stdout.trim().split('\n'), await s3Names(client, bucket, 'many/'));
  });

  t.test('the root lists folders with and without markers, and odd names', async (t) => {
    const r = await run('ls', ['-1', dir]);
    t.same(r.stdout.trim().split('\n').sort(), ['both', 'empty-marked', 'implicit', 'many', 'marked', 'with space.txt', 'ünï.txt'].sort());
    t.same(r.stdout.trim().split('\n').sort(), await s3Names(client, bucket, ''));
    const types = await run('stat', ['-c', '%n %F', `${dir}/marked`, `${dir}/empty-marked`, `${dir}/implicit`]);
    t.same(
      types.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' ').slice(1).join(' ')),
      ['directory', 'directory', 'directory'],
    );
    t.equal((await run('ls', ['-A', `${dir}/empty-marked`])).stdout, '', 'an empty folder is empty');
  });

  t.test('a key that is both a file and a prefix is a directory', async (t) => {
    const st = await run('stat', ['-c', '%F', `${dir}/both`]);
    t.equal(st.stdout.trim(), 'directory');
    const cat = await run('cat', [`${dir}/both`]);
    t.not(cat.code, 0);
    t.match(cat.stderr, /Is a directory/);
    t.equal((await run('cat', [`${dir}/both/inner.txt`])).stdout, 'inner');
  });

  t.test("sizes and mtimes are S3's", async (t) => {
    const list = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'marked/inside' }));
    const obj = list.Contents![0]!;
    const st = await run('stat', ['-c', '%s %Y', `${dir}/marked/inside.txt`]);
    t.equal(st.stdout.trim(), `${obj.Size} ${Math.floor(obj.LastModified!.getTime() / 1000)}`);
    const ls = await run('ls', ['-l', `${dir}/many`]);
    t.equal(ls.code, 0);
    t.equal(ls.stdout.trim().split('\n').length, 2101, 'ls -l: total line + 2100 entries');
  });

  t.test('a name that does not exist is ENOENT', async (t) => {
    const r = await run('stat', [`${dir}/nope/nothing`]);
    t.not(r.code, 0);
    t.match(r.stderr, /No such file or directory/);
  });
});
