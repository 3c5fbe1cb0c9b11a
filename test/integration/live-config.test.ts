/**
 * Following Fluid while mounted (issue 10), through real FUSE against RGW, in a container laid
 * out as Fluid and the kubelet lay it out (helpers/container.ts): config.json is changed the
 * kubelet's way (a new `..<timestamp>` folder, `..data` swapped atomically, the old folder
 * deleted) or, in the older layout, edited in place; the agent must apply each change in the
 * live mount, never remount, and never drop a byte of a file being read.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { fluidContainer, readProfile, waitFor, type Container, type ContainerAgent } from './helpers/container.js';
import { swapConfig, writeConfig, writeSecret } from './helpers/fluid-layout.js';
import { createTestBucket, makeClient, putObjects, s3Env } from './helpers/s3.js';

const profile = await readProfile();
const mountOptions = (extra = ''): string => [profile.mountOptions, 'metrics-address=127.0.0.1:0', extra].filter(Boolean).join(',');
const SECRET_DIR = '/etc/fluid/secrets';

function mountOf(name: string, bucket: string, secret: string, extra: Record<string, string> = {}): Record<string, unknown> {
  return {
    name,
    mountPoint: `minio://${bucket}`,
    options: {
      'minio-access-key': `${SECRET_DIR}/${secret}/minio-access-key`,
      'minio-access-secret': `${SECRET_DIR}/${secret}/minio-access-secret`,
      'minio-url': s3Env().endpoint,
      ...extra,
    },
  };
}

const configOf = (c: Container, mounts: unknown[]) => ({ mounts, targetPath: c.target, accessModes: ['ReadOnlyMany'] });

async function writeKeys(c: Container, secret: string): Promise<void> {
  const env = s3Env();
  await writeSecret(c.etc, secret, { 'minio-access-key': `${env.accessKeyId}\n`, 'minio-access-secret': `${env.secretAccessKey}\n` });
}

/** `cat` inside the container: the bytes, or the error text. */
async function cat(c: Container, path: string): Promise<{ ok: true; text: string } | { ok: false; error: string }> {
  const r = await c.exec('cat', [join(c.target, path)]);
  return r.code === 0 ? { ok: true, text: r.stdout } : { ok: false, error: r.stderr.trim() };
}

async function ls(c: Container, path = ''): Promise<string[] | string> {
  const r = await c.exec('ls', ['-1A', join(c.target, path)]);
  return r.code === 0 ? r.stdout.split('\n').filter(Boolean) : r.stderr.trim();
}

/** Waits until `cat path` gives `text`; returns how long it took. */
async function readable(c: Container, path: string, text: string, timeoutMs = 20_000): Promise<number> {
  const from = Date.now();
  await waitFor(`${path} reads "${text}"`, timeoutMs, async () => {
    const r = await cat(c, path);
    return r.ok && r.text === text ? true : undefined;
  });
  return Date.now() - from;
}

function logLines(agent: ContainerAgent, msg: string): Record<string, unknown>[] {
  return agent
    .stdout()
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function logged(agent: ContainerAgent, msg: string, count = 1, timeoutMs = 20_000): Promise<Record<string, unknown>[]> {
  return waitFor(`${count} log line(s) "${msg}"`, timeoutMs, async () => {
    const lines = logLines(agent, msg);
    return lines.length >= count ? lines : undefined;
  });
}

/** The agent's own mount id: it never changes while the config does (no remount). */
async function mountIds(c: Container): Promise<string[]> {
  return (await c.mountsAtTarget()).map((l) => l.id);
}

/**
 * A reader in the container that reads the first `firstBytes` of a file, reports, waits for a
 * line on stdin, then reads the rest from the same open file: sha256 of both parts.
 */
function pausedReader(c: Container, path: string, firstBytes: number) {
  const script = `exec 3<"$1" || exit 1
head -c ${firstBytes} <&3 | sha256sum
echo half
read -r _
cat <&3 | sha256sum`;
  const child = spawn('nsenter', ['-t', String(c.holderPid), '-m', '--', 'sh', '-c', script, 'sh', join(c.target, path)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    half: () => waitFor('the reader has read the first part', 20_000, async () => (out.includes('half') ? true : undefined), 20),
    finish: async () => {
      child.stdin.end('go\n');
      const code = await exited;
      return {
        code,
        sums: out
          .split('\n')
          .filter((l) => l.includes('-'))
          .map((l) => l.split(' ')[0]),
        err,
      };
    },
    kill: () => child.kill('SIGKILL'),
  };
}

/**
 * The steps of Fluid's two mount checks, run inside the container: the CSI plugin's (a
 * mountinfo line with targetPath and the type, `stat` of targetPath, then `targetPath/subPath`
 * exists) and the injected sidecar's postStart (subPath exists in some folder of targetPath's parent). Exit 0: both pass.
 */
async function fluidChecks(c: Container, subPath: string): Promise<number | null> {
  const script = `grep " $1 " /proc/self/mountinfo | grep -q " ${profile.fileSystemType} " || exit 1
stat "$1" >/dev/null || exit 1
[ -e "$1/$2" ] || exit 2
for d in "$(dirname "$1")"/*/"$2"; do [ -e "$d" ] && exit 0; done
exit 3`;
  return (await c.exec('sh', ['-c', script, 'sh', c.target, subPath])).code;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

t.test('an empty Dataset, then mounts added, retuned, replaced, removed mid-read, a broken config and a late secret', async (t) => {
  const client = makeClient();
  const blob = randomBytes(24 * 1024 * 1024 + 5);
  const [bucketA, bucketB, bucketC] = await Promise.all(['live-a', 'live-b', 'live-c'].map((h) => createTestBucket(t, h, client)));
  await putObjects(client, bucketA as string, { 'a.txt': 'from A', 'big.bin': blob });
  await putObjects(client, bucketB as string, { 'b.txt': 'from B' });
  await putObjects(client, bucketC as string, { 'c.txt': 'from C' });
  const c = await fluidContainer(t, 'live');
  await writeKeys(c, 'keys');
  await swapConfig(c.etc, configOf(c, []));

  const agent = await c.start({ MOUNT_OPTIONS: mountOptions() });
  const ready = await agent.ready(profile.fileSystemType, 30_000);
  t.pass(`"mounts": [] is served: mountinfo line after ${ready.afterMs} ms`);
  t.same(await ls(c), [], 'an empty root');
  t.equal(agent.alive(), true, 'still running');
  t.equal(logLines(agent, 'no mounts in the Dataset yet: serving an empty folder, waiting for mounts').length, 1, 'one line says it waits');
  t.equal(await fluidChecks(c, ''), 0, "Fluid's CSI and sidecar mount checks pass on the empty mount");
  const ids = await mountIds(c);

  // Added: the folder is readable within seconds of the ..data swap.
  await swapConfig(c.etc, configOf(c, [mountOf('a', bucketA as string, 'keys')]));
  const addMs = await readable(c, 'a/a.txt', 'from A');
  t.pass(`mount "a" readable ${addMs} ms after the ..data swap`);
  t.ok(addMs < 5_000, `within 5 s (${addMs} ms)`);
  t.equal(await fluidChecks(c, 'a'), 0, 'and with the subPath of the added mount');

  await swapConfig(c.etc, configOf(c, [mountOf('a', bucketA as string, 'keys'), mountOf('b', bucketB as string, 'keys')]));
  t.pass(`a second mount readable after ${await readable(c, 'b/b.txt', 'from B')} ms`);
  t.same(await ls(c), ['a', 'b']);

  // Retuned in place: the new file mode shows once the kernel's attribute cache (1 s) expires.
  await swapConfig(c.etc, configOf(c, [mountOf('a', bucketA as string, 'keys', { 'file-mode': '0400' }), mountOf('b', bucketB as string, 'keys')]));
  await waitFor('a/a.txt shows mode 400', 20_000, async () =>
    (await c.exec('stat', ['-c', '%a', join(c.target, 'a/a.txt')])).stdout.trim() === '400' ? true : undefined,
  );
  t.match(logLines(agent, 'mount retuned')[0], { mount: 'a', fields: ['fileMode'] }, 'retuned, not replaced');

  // Replaced: b now shows bucket C.
  await swapConfig(c.etc, configOf(c, [mountOf('a', bucketA as string, 'keys', { 'file-mode': '0400' }), mountOf('b', bucketC as string, 'keys')]));
  t.pass(`b shows the new bucket after ${await readable(c, 'b/c.txt', 'from C')} ms`);
  t.same(await ls(c, 'b'), ['c.txt'], 'and only it');

  // Removed while a reader is in the middle of a large file: the reader finishes with the right bytes.
  const reader = pausedReader(c, 'a/big.bin', 8 * 1024 * 1024);
  t.teardown(() => reader.kill());
  await reader.half();
  await swapConfig(c.etc, configOf(c, [mountOf('b', bucketC as string, 'keys')]));
  await waitFor('a is gone from the root', 20_000, async () => {
    const names = await ls(c);
    return Array.isArray(names) && !names.includes('a') ? true : undefined;
  });
  t.match(await cat(c, 'a/a.txt'), { ok: false, error: /No such file or directory/ }, 'a new lookup under a removed mount: ENOENT');
  const done = await reader.finish();
  t.equal(done.code, 0, `the reader exits 0 ${done.err}`);
  t.same(done.sums, [sha(blob.subarray(0, 8 * 1024 * 1024)), sha(blob.subarray(8 * 1024 * 1024))], 'both parts byte-exact across the removal');

  // A broken config: the last good one keeps serving; one error line names the file.
  const configFile = await swapConfig(c.etc, '{"mounts": [');
  t.ok(configFile.endsWith('config.json'));
  const [broken] = await logged(agent, 'config not applied: the last good config keeps serving');
  t.match(broken, { level: 'error', err: /config \/etc\/fluid\/config\/config\.json: invalid JSON/ }, 'the file and the problem');
  t.same(await cat(c, 'b/c.txt'), { ok: true, text: 'from C' }, 'still serving');

  // Fixed, with a new mount whose secret is not mounted yet: its folder answers EACCES, then serves.
  await swapConfig(c.etc, configOf(c, [mountOf('b', bucketC as string, 'keys'), mountOf('late', bucketA as string, 'late-keys')]));
  await waitFor('the late mount shows a folder', 20_000, async () => {
    const names = await ls(c);
    return Array.isArray(names) && names.includes('late') ? true : undefined;
  });
  t.match(await ls(c, 'late'), /Permission denied/, 'EACCES while its secret file is missing');
  await writeKeys(c, 'late-keys');
  const lateMs = await readable(c, 'late/a.txt', 'from A');
  t.pass(`served ${lateMs} ms after the secret file appeared`);
  t.ok(lateMs < 10_000, 'within seconds');

  t.same(await mountIds(c), ids, 'the same FUSE mount all along (never remounted)');
  t.equal(agent.alive(), true);
  const logs = agent.stdout() + agent.stderr();
  t.equal([s3Env().accessKeyId, s3Env().secretAccessKey].filter((s) => logs.includes(s)).length, 0, 'no secret value logged');
});

t.test('the older layout, edited in place, is followed by the poll; a lone root mount never moves', async (t) => {
  const client = makeClient();
  const [bucketA, bucketB] = await Promise.all(['root-a', 'root-b'].map((h) => createTestBucket(t, h, client)));
  await putObjects(client, bucketA as string, { 'a.txt': 'from A' });
  await putObjects(client, bucketB as string, { 'b.txt': 'from B' });
  const c = await fluidContainer(t, 'older');
  await writeKeys(c, 'keys');
  await writeConfig(c.etc, configOf(c, [mountOf('a', bucketA as string, 'keys')]), true);
  const agent = await c.start({ MOUNT_OPTIONS: mountOptions() });
  await agent.ready(profile.fileSystemType, 30_000);
  t.same(await cat(c, 'a.txt'), { ok: true, text: 'from A' }, 'a lone mount is the root');

  await writeConfig(c.etc, configOf(c, [mountOf('a', bucketA as string, 'keys'), mountOf('b', bucketB as string, 'keys')]), true);
  const [refused] = await logged(agent, 'mount not served: its config is wrong; retrying', 1, 30_000);
  t.match(refused, { mount: 'b', err: /mount "a" is the root of targetPath/ }, 'the second mount is refused with the reason');
  t.same(await cat(c, 'a.txt'), { ok: true, text: 'from A' }, 'the root mount did not move');
});

t.test('100 reloads while 8 readers read: no read error, no leaked handle, RSS flat', async (t) => {
  const client = makeClient();
  const bucket = await createTestBucket(t, 'reloads', client);
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 8; i++) files[`f${i}.bin`] = randomBytes(3 * 1024 * 1024 + i);
  await putObjects(client, bucket, files);
  const c = await fluidContainer(t, 'reloads');
  await writeKeys(c, 'keys');
  const config = (ttl: number) => configOf(c, [mountOf('data', bucket, 'keys', { 'stat-cache-ttl': `${ttl}s` })]);
  await swapConfig(c.etc, config(60));
  const agent = await c.start({ MOUNT_OPTIONS: mountOptions() });
  await agent.ready(profile.fileSystemType, 30_000);

  // A lone mount is the root. Eight readers, each reading its file over and over, printing each sha256.
  const readers = Object.keys(files).map((name) => {
    const script = `while [ ! -e "$2" ]; do sha256sum "$1" || echo FAILED; done`;
    const child = spawn('nsenter', ['-t', String(c.holderPid), '-m', '--', 'sh', '-c', script, 'sh', join(c.target, name), join(c.etc, 'stop')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    t.teardown(() => child.kill('SIGKILL'));
    return { name, out: () => out, exited };
  });
  const rss = async () => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${agent.nodePid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  let rssAt10 = 0;
  for (let i = 1; i <= 100; i++) {
    await swapConfig(c.etc, config(i % 2 === 0 ? 60 : 61));
    await logged(agent, 'config applied', i);
    if (i === 10) rssAt10 = await rss();
  }
  const rssAt100 = await rss();
  await writeFile(join(c.etc, 'stop'), '');
  await Promise.all(readers.map((r) => r.exited));
  for (const r of readers) {
    const sums = r.out().split('\n').filter(Boolean);
    const expected = sha(files[r.name] as Buffer);
    t.ok(sums.length > 0, `${r.name}: ${sums.length} reads`);
    t.same(
      sums.filter((l) => !l.startsWith(expected)),
      [],
      `${r.name}: every read byte-exact`,
    );
  }
  const generation = logLines(agent, 'config applied').at(-1)?.['generation'];
  t.equal(generation, 101, '100 reloads applied');
  t.ok(rssAt100 - rssAt10 < 32, `RSS flat: ${rssAt10.toFixed(0)} MiB after 10 reloads, ${rssAt100.toFixed(0)} MiB after 100`);
  const address = logLines(agent, 'metrics listener up')[0]?.['address'] as string;
  const metrics = await (await fetch(`http://${address}/metrics`)).text();
  t.match(metrics, /fluid_s3_fuse_open_handles 0\b/, 'no handle left open');
  t.match(metrics, /fluid_s3_fuse_config_generation 101\b/, 'the generation in /metrics');
  t.match(metrics, /fluid_s3_fuse_mounts\{state="serving"\} 1\b/);
  t.match(metrics, /fluid_s3_fuse_config_reloads_total\{result="applied"\} 100\b/);
});
