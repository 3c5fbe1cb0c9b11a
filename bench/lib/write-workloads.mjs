// The write workloads of issue 12 (bench/write-run.mjs). Each one runs on a fresh mount of the
// client's own bucket (w-<client>), into a fresh prefix, with a tool in a child process (never
// the bench process: it must not touch a mount from inside a FUSE client's parent... nor block
// on one). Time is taken twice: until the tool exits, and until every object is in S3 with its
// size (SDK polling: a client may upload after close, as rclone's VFS cache does); then bytes
// are checked in S3 with the SDK (md5 of the whole 1 GiB object, of a sample of small files),
// and the bucket is emptied (and open multipart uploads counted, then aborted).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { mountClient } from './clients.mjs';
import { runChild, sleep } from './proc.mjs';
import { startRssSampler } from './rss.mjs';

export const MiB = 2 ** 20;
export const GiB = 2 ** 30;
const WRITERS = new URL('../writers/', import.meta.url).pathname;

export function shapeFor(quick) {
  return quick
    ? { bigBytes: 64 * MiB, dirs: 8, perDir: 25, fileBytes: 64 * 1024, rssWriters: 4, rssBytes: 64 * MiB }
    : { bigBytes: GiB, dirs: 8, perDir: 250, fileBytes: 64 * 1024, rssWriters: 4, rssBytes: GiB };
}

const md5 = (b) => createHash('md5').update(b).digest('hex');

async function md5File(path, start = 0, end = undefined) {
  const h = createHash('md5');
  for await (const c of createReadStream(path, { start, ...(end !== undefined && { end: end - 1 }) })) h.update(c);
  return h.digest('hex');
}

/**
 * The local inputs, made once: a file of random bytes (bigBytes), a tree of dirs × perDir files
 * of random bytes (d0/f0000 …), and a tar of that tree (members ./dK/fNNNN, no compression).
 */
export async function prepareLocal(work, shape, log) {
  const src = join(work, 'src');
  const tree = join(src, 'tree');
  await mkdir(tree, { recursive: true });
  const big = join(src, 'big.bin');
  log(`making ${shape.bigBytes / MiB} MiB of random bytes and a tree of ${shape.dirs * shape.perDir} × ${shape.fileBytes / 1024} KiB`);
  const r = await runChild('bash', ['-c', 'head -c "$1" /dev/urandom > "$2"', 'mk', String(shape.bigBytes), big]);
  if (r.code !== 0) throw new Error(`making ${big}: ${r.stderr}`);
  const bigMd5 = await md5File(big);
  const files = [];
  for (let d = 0; d < shape.dirs; d++) {
    await mkdir(join(tree, `d${d}`), { recursive: true });
    for (let f = 0; f < shape.perDir; f++) {
      const rel = `d${d}/f${String(f).padStart(4, '0')}`;
      const b = randomBytes(shape.fileBytes);
      await writeFile(join(tree, rel), b);
      files.push({ rel, size: b.length, md5: md5(b) });
    }
  }
  const tarPath = join(src, 'tree.tar');
  const t = await runChild('tar', ['cf', tarPath, '-C', tree, '.']);
  if (t.code !== 0) throw new Error(`tar cf: ${t.stderr}`);
  // the bytes every writer reads are in the page cache for all clients alike
  await runChild('bash', ['-c', 'cat "$1" > /dev/null; tar cf /dev/null -C "$2" .', 'warm', big, tree]);
  return { src, tree, big, bigMd5, files, tarPath };
}

// ---------------------------------------------------------------------------- S3 side

export async function ensureBucket(s3, Bucket) {
  try {
    await s3.send(new CreateBucketCommand({ Bucket }));
  } catch (e) {
    if (!/BucketAlreadyOwnedByYou|BucketAlreadyExists/.test(e.name)) throw e;
  }
}

export async function listAll(s3, Bucket, Prefix = '') {
  const out = [];
  let ContinuationToken;
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket, Prefix, ContinuationToken }));
    for (const o of r.Contents ?? []) out.push({ key: o.Key, size: o.Size });
    ContinuationToken = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (ContinuationToken);
  return out;
}

/** Folder markers (keys ending in /) are left out: s3fs and ours write them for mkdir, rclone does not. */
const filesOf = (list) => list.filter((o) => !o.key.endsWith('/'));

/**
 * Polls until S3 holds exactly the expected objects under prefix (keys → sizes, nothing else
 * but folder markers). Resolves the ms it took; throws after limitMs with what is wrong.
 */
async function waitInS3(s3, Bucket, prefix, expected, limitMs = 300_000) {
  const t0 = performance.now();
  let last = '';
  for (;;) {
    if (expected.size === 1) {
      const [[key, size]] = [...expected];
      try {
        const h = await s3.send(new HeadObjectCommand({ Bucket, Key: key }));
        if (h.ContentLength === size) return performance.now() - t0;
        last = `${key} has ${h.ContentLength} bytes, expected ${size}`;
      } catch (e) {
        last = `${key}: ${e.name}`;
      }
    } else {
      const got = filesOf(await listAll(s3, Bucket, prefix));
      const wrong = got.filter((o) => expected.get(o.key) !== o.size);
      if (got.length === expected.size && !wrong.length) return performance.now() - t0;
      last = `${got.length} of ${expected.size} objects; ${wrong.length} unexpected or of a wrong size (${wrong
        .slice(0, 3)
        .map((o) => `${o.key}:${o.size}`)
        .join(', ')})`;
    }
    if (performance.now() - t0 > limitMs) throw new Error(`not in S3 after ${limitMs / 1000} s of polling: ${last}`);
    await sleep(expected.size === 1 ? 50 : 200);
  }
}

async function md5Object(s3, Bucket, Key, range) {
  const r = await s3.send(new GetObjectCommand({ Bucket, Key, ...(range && { Range: `bytes=${range[0]}-${range[1] - 1}` }) }));
  const h = createHash('md5');
  for await (const c of r.Body) h.update(c);
  return h.digest('hex');
}

/** Empties the bucket; resolves the number of multipart uploads left open (aborted here). */
export async function emptyBucket(s3, Bucket) {
  const objs = await listAll(s3, Bucket);
  for (let i = 0; i < objs.length; i += 1000) {
    await s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: objs.slice(i, i + 1000).map((o) => ({ Key: o.key })), Quiet: true } }));
  }
  const ups = (await s3.send(new ListMultipartUploadsCommand({ Bucket }))).Uploads ?? [];
  for (const u of ups) await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: u.Key, UploadId: u.UploadId })).catch(() => {});
  return ups.length;
}

// ---------------------------------------------------------------------------- /proc

const TICK = 100; // CLK_TCK on Linux/x86-64 (proc.mjs reads it with getconf; 100 here)

/** CPU seconds of the main thread and of all other live threads (user, sys), from /proc/PID/task. */
async function threadCpu(pid) {
  const out = { mainUser: 0, mainSys: 0, otherUser: 0, otherSys: 0, threads: 0 };
  let tids = [];
  try {
    tids = await readdir(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const s = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      const [u, y] = [Number(f[11]) / TICK, Number(f[12]) / TICK];
      if (Number(tid) === pid) [out.mainUser, out.mainSys] = [u, y];
      else [out.otherUser, out.otherSys] = [out.otherUser + u, out.otherSys + y];
      out.threads++;
    } catch {
      /* thread gone */
    }
  }
  return out;
}

// ---------------------------------------------------------------------------- workloads

/**
 * Mounts the client writable on its bucket, runs `script` (bash -c, $1 = mountpoint, then
 * args) timed, waits for the objects in S3, checks them, unmounts, empties the bucket.
 */
async function timedWrite(ctx, name, { script, args = [], prefix, expected, check, units }) {
  const { client, s3, bucket, log } = ctx;
  const h = await mountClient(client, { ...ctx.mountOpts, writable: true, logName: `${client}.log` });
  let m;
  try {
    await runChild('sync', []);
    const load = (await readFile('/proc/loadavg', 'utf8')).split(' ')[0];
    const rss = startRssSampler(h.pid);
    const cpu0 = await h.cpu();
    const th0 = client === 'ours' ? await threadCpu(h.pid) : undefined;
    const t0 = performance.now();
    const r = await runChild('bash', ['-c', script, name, h.mnt, ...args], { timeoutMs: 900_000 });
    const toolMs = performance.now() - t0;
    if (r.code !== 0) throw new Error(`${name}: the tool exited ${r.code}: ${r.stderr.trim().slice(-800)}`);
    await waitInS3(s3, bucket, prefix, expected);
    const s3Ms = performance.now() - t0;
    const cpuS = (await h.cpu()) - cpu0;
    const th1 = th0 ? await threadCpu(h.pid) : undefined;
    const mem = await rss.stop();
    m = { toolS: toolMs / 1000, s3S: s3Ms / 1000, cpuS, peakRssMiB: mem.peakMiB, load1: Number(load) };
    if (th0) {
      m.threads = {
        mainUser: th1.mainUser - th0.mainUser,
        mainSys: th1.mainSys - th0.mainSys,
        otherUser: th1.otherUser - th0.otherUser,
        otherSys: th1.otherSys - th0.otherSys,
        n: th1.threads,
      };
    }
  } finally {
    const s = await h.stop();
    if (s?.code !== 0 && s?.code !== null) log(`warning: ${client} exited ${s?.code ?? s?.sig} after ${name}`);
    if (client === 'rclone') await runChild('rm', ['-rf', '--one-file-system', join(ctx.mountOpts.dir, 'rclone-cache')]);
  }
  // checked after the unmount (nothing the client still does can change the answer)
  m.checked = await check();
  m.openUploads = await emptyBucket(s3, bucket);
  Object.assign(m, units(m));
  return m;
}

function treeExpected(local, prefix) {
  return new Map(local.files.map((f) => [`${prefix}${f.rel}`, f.size]));
}

/** md5 of every 40th small file (50 of 2,000), read back with the SDK. */
async function checkTreeSample(ctx, prefix) {
  const { s3, bucket, local } = ctx;
  const step = Math.max(1, Math.floor(local.files.length / 50));
  let n = 0;
  for (let i = 0; i < local.files.length; i += step) {
    const f = local.files[i];
    const got = await md5Object(s3, bucket, `${prefix}${f.rel}`);
    if (got !== f.md5) throw new Error(`${ctx.client}: ${prefix}${f.rel} has md5 ${got}, expected ${f.md5}`);
    n++;
  }
  return `${local.files.length} sizes, md5 of ${n}`;
}

const treeUnits = (ctx) => (m) => {
  const n = ctx.local.files.length;
  return { filesPerS: n / m.s3S, filesPerSTool: n / m.toolS, cpuPer1k: m.cpuS / (n / 1000) };
};

export const WORKLOADS = [
  {
    name: 'seq',
    label: (sh) => `dd bs=1M of ${sh.bigBytes / MiB} MiB`,
    run: (ctx) =>
      timedWrite(ctx, 'seq', {
        script: 'dd if="$2" of="$1/x" bs=1M status=none',
        args: [ctx.local.big],
        prefix: 'x',
        expected: new Map([['x', ctx.shape.bigBytes]]),
        check: async () => {
          const got = await md5Object(ctx.s3, ctx.bucket, 'x');
          if (got !== ctx.local.bigMd5) throw new Error(`${ctx.client}: x has md5 ${got}, expected ${ctx.local.bigMd5}`);
          return 'size, md5 of all';
        },
        units: (m) => ({
          MBps: ctx.shape.bigBytes / 1e6 / m.s3S,
          MBpsTool: ctx.shape.bigBytes / 1e6 / m.toolS,
          cpuPerGiB: m.cpuS / (ctx.shape.bigBytes / GiB),
        }),
      }),
  },
  {
    name: 'cp',
    label: (sh) => `${sh.dirs * sh.perDir} × ${sh.fileBytes / 1024} KiB, 8 × cp -r (one folder each)`,
    run: (ctx) =>
      timedWrite(ctx, 'cp', {
        // one cp process per folder, 8 at once (the tree has 8 folders)
        script: 'mkdir "$1/cp" && for d in "$2"/d*; do cp -r "$d" "$1/cp/" & done; rc=0; for j in $(jobs -p); do wait "$j" || rc=1; done; exit $rc',
        args: [ctx.local.tree],
        prefix: 'cp/',
        expected: treeExpected(ctx.local, 'cp/'),
        check: () => checkTreeSample(ctx, 'cp/'),
        units: treeUnits(ctx),
      }),
  },
  {
    name: 'tar',
    label: (sh) => `tar x of ${sh.dirs * sh.perDir} × ${sh.fileBytes / 1024} KiB`,
    run: (ctx) =>
      timedWrite(ctx, 'tar', {
        script: 'mkdir "$1/tar" && tar xf "$2" -C "$1/tar"',
        args: [ctx.local.tarPath],
        prefix: 'tar/',
        expected: treeExpected(ctx.local, 'tar/'),
        check: () => checkTreeSample(ctx, 'tar/'),
        units: treeUnits(ctx),
      }),
  },
  {
    name: 'rsync',
    label: (sh) => `rsync -a of ${sh.dirs * sh.perDir} × ${sh.fileBytes / 1024} KiB into an empty folder`,
    run: (ctx) =>
      timedWrite(ctx, 'rsync', {
        script: 'rsync -a "$2/" "$1/rsync/"',
        args: [ctx.local.tree],
        prefix: 'rsync/',
        expected: treeExpected(ctx.local, 'rsync/'),
        check: () => checkTreeSample(ctx, 'rsync/'),
        units: treeUnits(ctx),
      }),
  },
  {
    name: 'rss',
    label: (sh) => `${sh.rssWriters} × dd bs=1M of ${sh.rssBytes / MiB} MiB at once`,
    run: (ctx) => {
      const { shape, local } = ctx;
      const keys = Array.from({ length: shape.rssWriters }, (_, i) => `p${i}`);
      return timedWrite(ctx, 'rss', {
        script: `for k in ${keys.join(' ')}; do dd if="$2" of="$1/$k" bs=1M count=${shape.rssBytes / MiB} status=none & done; rc=0; for j in $(jobs -p); do wait "$j" || rc=1; done; exit $rc`,
        args: [local.big],
        prefix: 'p',
        expected: new Map(keys.map((k) => [k, shape.rssBytes])),
        check: async () => {
          // the whole of p0; the first and the last 8 MiB of the others
          const want = shape.rssBytes === shape.bigBytes ? local.bigMd5 : await md5File(local.big, 0, shape.rssBytes);
          const got = await md5Object(ctx.s3, ctx.bucket, 'p0');
          if (got !== want) throw new Error(`${ctx.client}: p0 has md5 ${got}, expected ${want}`);
          const ends = [
            [0, 8 * MiB],
            [shape.rssBytes - 8 * MiB, shape.rssBytes],
          ];
          for (const k of keys.slice(1)) {
            for (const r of ends) {
              const [a, b] = [await md5Object(ctx.s3, ctx.bucket, k, r), await md5File(local.big, r[0], r[1])];
              if (a !== b) throw new Error(`${ctx.client}: ${k} bytes ${r[0]}-${r[1]} differ`);
            }
          }
          return `sizes; md5 of p0, of the first and last 8 MiB of the others`;
        },
        units: (m) => {
          const bytes = shape.rssWriters * shape.rssBytes;
          return { MBps: bytes / 1e6 / m.s3S, MBpsTool: bytes / 1e6 / m.toolS, cpuPerGiB: m.cpuS / (bytes / GiB) };
        },
      });
    },
  },
];

/** The raw SDK ceiling: the same local file as one multipart upload, 8 MiB parts, N in flight. */
export async function sdkCeiling(ctx, inflight) {
  const { endpoint, creds } = ctx.mountOpts;
  const env = { ...process.env, S3_ENDPOINT: endpoint, AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey };
  await runChild('sync', []);
  const r = await runChild(process.execPath, [join(WRITERS, 'sdk-upload.mjs'), ctx.local.big, ctx.bucket, 'x', '8', String(inflight)], { env });
  if (r.code !== 0) throw new Error(`sdk-upload exited ${r.code}: ${r.stderr.slice(-800)}`);
  const o = JSON.parse(r.stdout);
  const got = await md5Object(ctx.s3, ctx.bucket, 'x');
  if (got !== ctx.local.bigMd5) throw new Error(`sdk: x has md5 ${got}, expected ${ctx.local.bigMd5}`);
  const openUploads = await emptyBucket(ctx.s3, ctx.bucket);
  return { s3S: o.ms / 1000, MBps: o.bytes / 1e6 / (o.ms / 1000), cpuPerGiB: o.cpuS / (o.bytes / GiB), inflight, openUploads };
}
