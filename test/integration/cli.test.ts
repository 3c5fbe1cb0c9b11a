/** The command line itself: help, version, stack traces only on request, statfs through df. */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { CLI, run } from './helpers/agent.js';
import { mountBucket } from './helpers/mount-bucket.js';
import { createTestBucket, makeClient, putObjects } from './helpers/s3.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

t.test('--help lists the commands and the option vocabulary, exit 0', async (t) => {
  const r = await run(process.execPath, [CLI, '--help']);
  t.equal(r.code, 0);
  for (const word of [
    'mount SOURCE MOUNTPOINT',
    '--endpoint',
    '--read-only',
    '--uid',
    '--gid',
    '--file-mode',
    '--dir-mode',
    '--stat-cache-ttl',
    '--log-level',
    '--access-key-file',
    '--secret-key-file',
    '--config PATH',
  ]) {
    t.ok(r.stdout.includes(word), `mentions ${word}`);
  }
  t.equal(r.stderr, '');
});

t.test('--version prints the package version, exit 0', async (t) => {
  const r = await run(process.execPath, [CLI, '--version']);
  t.equal(r.code, 0);
  t.equal(r.stdout.trim(), `fluid-s3-fuse ${pkg.version}`);
});

t.test('a stack trace appears only with --log-level debug', async (t) => {
  const quiet = await run(process.execPath, [CLI, '--config', '/nonexistent.json']);
  t.equal(quiet.code, 2);
  t.equal(quiet.stderr.trim().split('\n').length, 1);
  const loud = await run(process.execPath, [CLI, '--config', '/nonexistent.json', '--log-level', 'debug']);
  t.equal(loud.code, 2);
  t.match(loud.stderr, /\n\s+at /, 'stack printed');
});

t.test("df reports the objects' total size as Used (Fluid's metadata sync), with a space-free fs name", async (t) => {
  const client = makeClient();
  const bucket = await createTestBucket(t, 'statfs', client);
  const objects = { f: 'x', 'd/g.bin': Buffer.alloc(5000, 1), 'd/e/h.bin': Buffer.alloc(123_457, 2), 'marker/': '' };
  await putObjects(client, bucket, objects);
  const total = 1 + 5000 + 123_457;
  const { dir } = await mountBucket(t, `s3://${bucket}`);
  const df = await run('df', ['--block-size=1', dir]);
  t.equal(df.code, 0, df.stderr);
  const line = df.stdout.trim().split('\n')[1] ?? '';
  const cols = line.split(/\s+/);
  t.equal(cols[0], 'fluid-s3-fuse', 'fs name without spaces');
  t.equal(Number(cols[2]), total, `Used = ${total} bytes: ${line}`);
  t.ok(Number(cols[1]) > total, 'Size is larger than Used');
  const st = await run('stat', ['-f', '-c', '%l', dir]);
  t.equal(st.stdout.trim(), '255', 'name max 255');
});
