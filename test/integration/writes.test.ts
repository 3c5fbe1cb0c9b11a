/**
 * Issue 12: common tools, unmodified, write through a read-write mount (real FUSE, RGW), and
 * what lands in S3 is checked byte for byte with the SDK. One mount serves every subtest; each
 * works in a folder of its own.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import t from 'tap';
import { GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { run, startAgent, tempDir } from './helpers/agent.js';
import { writeConfig } from './helpers/fluid-layout.js';
import { mountBucket } from './helpers/mount-bucket.js';
import { createTestBucket, makeClient, putObjects, s3Env } from './helpers/s3.js';

const client: S3Client = makeClient();

async function objectBytes(bucket: string, key: string): Promise<Buffer | undefined> {
  try {
    const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await (res.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

async function objectMd5(bucket: string, key: string): Promise<{ md5: string; size: number }> {
  const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('md5');
  let size = 0;
  for await (const chunk of res.Body as Readable) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { md5: hash.digest('hex'), size };
}

async function keysUnder(bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key.slice(prefix.length));
    token = page.NextContinuationToken;
  } while (token);
  return keys.sort();
}

async function sh(script: string, timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run('bash', ['-euo', 'pipefail', '-c', script], { timeoutMs });
}

t.test('tools write through a read-write mount', async (t) => {
  const bucket = await createTestBucket(t, 'writes', client);
  await putObjects(client, bucket, { 'existing/log.txt': 'line1\n', 'existing/data.bin': Buffer.from('0123456789') });
  const { dir } = await mountBucket(t, `s3://${bucket}`, ['--read-write']);
  const local = await tempDir(t, 'local');

  t.test('echo >, echo >>, cat', async (t) => {
    const r = await sh(
      `mkdir "${dir}/echo" && echo hello > "${dir}/echo/f" && echo world >> "${dir}/echo/f" && echo more >> "${dir}/existing/log.txt" && cat "${dir}/echo/f"`,
    );
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, 'hello\nworld\n');
    t.equal((await objectBytes(bucket, 'echo/f'))?.toString(), 'hello\nworld\n');
    t.equal((await objectBytes(bucket, 'existing/log.txt'))?.toString(), 'line1\nmore\n');
    t.ok(await objectBytes(bucket, 'echo/'), 'mkdir left a marker');
  });

  t.test('cp and cp -a: data exact, the mode and time calls succeed', async (t) => {
    const src = join(local, 'src.bin');
    const data = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(src, data);
    const r = await sh(
      `mkdir "${dir}/cp" && cp "${src}" "${dir}/cp/plain.bin" && cp -a "${src}" "${dir}/cp/archive.bin" && cmp "${src}" "${dir}/cp/archive.bin"`,
    );
    t.equal(r.code, 0, r.stderr);
    t.same(await objectBytes(bucket, 'cp/plain.bin'), data);
    t.same(await objectBytes(bucket, 'cp/archive.bin'), data);
  });

  t.test('dd bs=1M of 1 GiB: multipart, bytes exact, no upload left', async (t) => {
    const chunk = join(local, 'chunk');
    await writeFile(chunk, randomBytes(64 * 1024 * 1024));
    const hash = createHash('md5');
    const piece = await readFile(chunk);
    for (let i = 0; i < 16; i++) hash.update(piece);
    const r = await sh(
      `for i in $(seq 16); do cat "${chunk}"; done | dd of="${dir}/big.bin" bs=1M iflag=fullblock status=none && stat -c %s "${dir}/big.bin"`,
      600_000,
    );
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout.trim(), String(1024 ** 3), 'stat sees the whole file');
    t.same(await objectMd5(bucket, 'big.bin'), { md5: hash.digest('hex'), size: 1024 ** 3 });
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    t.same(uploads.Uploads ?? [], [], 'no multipart upload left open');
  });

  t.test('tar x of nested folders, then the same tree read back', async (t) => {
    const tree = join(local, 'tree');
    const files: Record<string, Buffer> = {};
    for (const [i, rel] of ['a.txt', 'sub/b.bin', 'sub/deeper/c.txt', 'sub/deeper/d.bin', 'other/e'].entries()) {
      const data = randomBytes(1000 * (i + 1) + i);
      files[rel] = data;
      await mkdir(join(tree, rel, '..'), { recursive: true });
      await writeFile(join(tree, rel), data);
    }
    const r = await sh(
      `tar -C "${tree}" -cf "${local}/tree.tar" . && mkdir "${dir}/tar" && tar -C "${dir}/tar" -xf "${local}/tree.tar" && diff -r "${tree}" "${dir}/tar"`,
    );
    t.equal(r.code, 0, r.stderr);
    for (const [rel, data] of Object.entries(files)) t.same(await objectBytes(bucket, `tar/${rel}`), data, rel);
  });

  t.test('rsync -a (temp file + rename), then rsync --inplace over changed files', async (t) => {
    const src = join(local, 'rsync-src');
    await mkdir(join(src, 'x'), { recursive: true });
    await writeFile(join(src, 'one'), 'first version of one\n');
    await writeFile(join(src, 'x/two'), randomBytes(200_000));
    let r = await sh(`rsync -a "${src}/" "${dir}/rsync/"`);
    t.equal(r.code, 0, r.stderr);
    t.ok((await keysUnder(bucket, 'rsync/')).includes('x/two'), 'nested file there');
    t.equal((await objectBytes(bucket, 'rsync/one'))?.toString(), 'first version of one\n');
    t.notOk(
      (await keysUnder(bucket, 'rsync/')).some((k) => k.includes('.one.') || k.startsWith('.')),
      'no temp file left',
    );
    await writeFile(join(src, 'one'), 'second, longer version of one\n');
    // Another size: rsync's quick check compares size and mtime in whole seconds, and the mount
    // keeps no mtime of its own (the object's is its upload's), so a same-size change within the
    // second of the first copy would be skipped by rsync itself.
    const two = randomBytes(210_000);
    await writeFile(join(src, 'x/two'), two);
    r = await sh(`rsync -a --inplace --no-whole-file "${src}/" "${dir}/rsync/" && diff -r "${src}" "${dir}/rsync"`);
    t.equal(r.code, 0, r.stderr);
    t.equal((await objectBytes(bucket, 'rsync/one'))?.toString(), 'second, longer version of one\n');
    t.same(await objectBytes(bucket, 'rsync/x/two'), two);
  });

  t.test('mv of a file and of a folder', async (t) => {
    const r = await sh(
      `mkdir -p "${dir}/mv/folder/in" && echo f > "${dir}/mv/file" && echo g > "${dir}/mv/folder/in/g" && mv "${dir}/mv/file" "${dir}/mv/file2" && mv "${dir}/mv/folder" "${dir}/mv/moved" && ls -R "${dir}/mv"`,
    );
    t.equal(r.code, 0, r.stderr);
    const keys = await keysUnder(bucket, 'mv/');
    t.ok(keys.includes('file2') && !keys.includes('file'), 'file moved');
    t.ok(keys.includes('moved/in/g') && !keys.some((k) => k.startsWith('folder/')), 'folder moved');
    t.equal((await objectBytes(bucket, 'mv/moved/in/g'))?.toString(), 'g\n');
  });

  t.test("Python open('w'), open('a'), open('r+') with a seek back, zipfile", async (t) => {
    const py = `
import os, zipfile, sys
d = sys.argv[1]
os.makedirs(d + '/py', exist_ok=True)
with open(d + '/py/w.txt', 'w') as f: f.write('written\\n')
with open(d + '/py/w.txt', 'a') as f: f.write('appended\\n')
with open(d + '/py/w.txt', 'r+') as f:
    f.seek(0); f.write('WRITTEN'); f.seek(0, 2); f.write('end\\n')
with zipfile.ZipFile(d + '/py/arrays.npz', 'w', compression=zipfile.ZIP_STORED) as z:
    for i in range(3):
        with z.open(f'a{i}.npy', 'w', force_zip64=True) as m: m.write(bytes([i]) * (3 * 1024 * 1024))
with zipfile.ZipFile(d + '/py/arrays.npz') as z:
    assert z.testzip() is None
    print(sorted(z.namelist()))
`;
    const r = await run('python3', ['-c', py, dir], { timeoutMs: 120_000 });
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout.trim(), "['a0.npy', 'a1.npy', 'a2.npy']");
    t.equal((await objectBytes(bucket, 'py/w.txt'))?.toString(), 'WRITTEN\nappended\nend\n');
    const zip = await objectBytes(bucket, 'py/arrays.npz');
    await writeFile(join(local, 'arrays.npz'), zip as Buffer);
    const check = await run('python3', [
      '-c',
      'import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(len(z.read("a2.npy")))',
      join(local, 'arrays.npz'),
    ]);
    t.equal(check.stdout.trim(), String(3 * 1024 * 1024), check.stderr);
  });

  t.test('sqlite3 creates a database (random writes through staging)', async (t) => {
    const r = await sh(
      `mkdir "${dir}/db" && sqlite3 "${dir}/db/t.sqlite" "create table t(k integer primary key, v text); insert into t(v) select hex(randomblob(100)) from (with recursive c(x) as (select 1 union all select x+1 from c where x<2000) select x from c); select count(*) from t;"`,
    );
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout.trim(), '2000');
    await writeFile(join(local, 'copy.sqlite'), (await objectBytes(bucket, 'db/t.sqlite')) as Buffer);
    const check = await sh(`sqlite3 "${local}/copy.sqlite" "pragma integrity_check; select count(*) from t;"`);
    t.equal(check.stdout.trim(), 'ok\n2000', check.stderr);
  });

  t.test('git clone of a small repository onto the mount, then git status is clean', async (t) => {
    const repo = join(local, 'repo');
    const r = await sh(
      `git init -q "${repo}" && cd "${repo}" && for i in 1 2 3; do mkdir -p d$i && echo "file $i" > d$i/f$i; done && git add . && git -c user.email=t@e -c user.name=t commit -qm init && git clone -q "${repo}" "${dir}/clone" && cd "${dir}/clone" && git status --porcelain && git log --oneline | wc -l`,
    );
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout.trim(), '1', 'clean, one commit');
    t.equal((await objectBytes(bucket, 'clone/d2/f2'))?.toString(), 'file 2\n');
  });
});

/** The mount options field (6th) of our mount's mountinfo line: `rw,…` or `ro,…`. */
async function mountOptions(target: string): Promise<string | undefined> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' '))
    .find((f) => f[4] === target)?.[5];
}

t.test('Fluid mode: accessModes decide; a writable dataset writes into its bucket folders, a read-only one is ro in the kernel', async (t) => {
  const env = s3Env();
  const a = await createTestBucket(t, 'fluid-rw-a', client);
  const b = await createTestBucket(t, 'fluid-rw-b', client);
  const creds = { 'access-key-id': env.accessKeyId, 'secret-access-key': env.secretAccessKey };
  for (const [mode, writable] of [
    ['ReadWriteMany', true],
    ['ReadOnlyMany', false],
  ] as const) {
    t.test(mode, async (t) => {
      const dir = await tempDir(t, `fluid-${mode}`);
      const target = join(dir, 'mnt');
      const config = await writeConfig(dir, {
        mounts: [
          { mountPoint: `s3://${a}`, name: 'alpha', options: creds },
          { mountPoint: `s3://${b}`, name: 'beta', options: { ...creds, 'read-only': 'true' } },
        ],
        targetPath: target,
        runtimeOptions: { endpoint: env.endpoint },
        accessModes: [mode],
      });
      const agent = startAgent(t, { args: ['--config', config], target });
      await agent.mounted();
      t.match(await mountOptions(target), writable ? /^rw\b/ : /^ro\b/, `the kernel mount is ${writable ? 'rw' : 'ro'}`);
      const r = await sh(`echo ${mode} > "${target}/alpha/by-${mode}.txt"`);
      if (writable) {
        t.equal(r.code, 0, r.stderr);
        t.equal((await objectBytes(a, `by-${mode}.txt`))?.toString(), `${mode}\n`);
      } else t.match(r.stderr, /Read-only file system/);
      const ro = await sh(`echo x > "${target}/beta/nope.txt"`);
      t.match(ro.stderr, /Read-only file system/, 'a mount with read-only: true stays read-only');
      const root = await sh(`mkdir "${target}/new-folder-at-the-root"`);
      t.match(root.stderr, /Read-only file system/, 'the folders above the mounts are read-only');
      t.equal(await objectBytes(b, 'nope.txt'), undefined);
    });
  }
});
