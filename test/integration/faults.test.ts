/**
 * Faults injected between the agent and RGW (issue 5), through a real FUSE mount.
 *
 * The agent talks to RGW through the project's fault proxy (helpers/fault-proxy.ts), which the
 * test drives in-process: S3 error answers, connection resets before or inside a body, stalled
 * bodies, a server that goes down and comes back. Readers of the mount are child processes
 * (sha256sum, dd, `node -e`), started asynchronously: the test process serves the proxy and must
 * never block on the mount.
 *
 * What is promised (docs/SEMANTICS.md): transient faults cost time, never bytes; a server that
 * stays down makes reads of uncached bytes fail with EIO within request-timeout, while metadata
 * already known keeps answering, and the same mount serves again when the server is back; an
 * object overwritten under a reader makes the reader fail (ESTALE or EIO), never mix versions;
 * a stalled body never holds a FUSE read past request-timeout, and a broken or stalled body is
 * resumed from the first byte not received (src/store/s3-store.ts).
 *
 * The first test checks the proxy itself with a plain S3 client, so that a failure further down
 * is the agent's, not the proxy's. Random faults are seeded; the cases that must be exact (a cut
 * at a known byte, a stall) use rules that fire once, and report the GETs that followed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import t, { type Test } from 'tap';
import { type Agent, run, sleep, startAgent, tempDir } from './helpers/agent.js';
import { type Fault, type FaultProxy, INTERNAL_ERROR, SLOW_DOWN, seededRandom, startFaultProxy } from './helpers/fault-proxy.js';
import { createTestBucket, makeClient, putObjects, s3Env } from './helpers/s3.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

// ------------------------------------------------------------------------------------ helpers

/** A proxy in front of the test RGW, closed in teardown. */
async function proxyFor(t: Test, seed: number): Promise<FaultProxy> {
  const proxy = await startFaultProxy({ target: s3Env().endpoint, seed });
  t.teardown(() => proxy.close());
  return proxy;
}

interface Mount {
  readonly agent: Agent;
  readonly dir: string;
}

/** mountBucket (helpers/mount-bucket.ts), with the agent pointed at the proxy. */
async function mountViaProxy(t: Test, bucket: string, proxy: FaultProxy, extraArgs: readonly string[]): Promise<Mount> {
  const env = s3Env();
  const root = await tempDir(t, 'faults');
  const dir = join(root, 'mnt');
  const agent = startAgent(t, {
    args: ['mount', `s3://${bucket}`, dir, '--endpoint', proxy.url, '--log-level', 'debug', ...extraArgs],
    target: dir,
    env: { AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey },
  });
  await agent.mounted(15_000);
  return { agent, dir };
}

/** The agent's JSON log lines (pino, stdout). */
function logLines(agent: Agent): Record<string, unknown>[] {
  return agent
    .stdout()
    .split('\n')
    .flatMap((l) => {
      if (!l.startsWith('{')) return [];
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

/** A log line's time in ms (pino writes ISO times here). */
const logTime = (l: Record<string, unknown>): number => (typeof l.time === 'number' ? l.time : Date.parse(String(l.time)));

const readErrors = (agent: Agent, errno?: string): Record<string, unknown>[] =>
  logLines(agent).filter((l) => l.op === 'read' && l.errno !== undefined && (errno === undefined || l.errno === errno));

/**
 * A reader in its own process. Its argument is a JSON plan: the file, then steps, each
 * `{read: [pos, len], chunk}` (readSync in chunks of `chunk` bytes, stopping at EOF or at the
 * first error) or `{wait: ms}` (prints `paused`, then waits for a line on stdin, or `ms`).
 * It prints one JSON line per event: for a read, the bytes got, their sha256, the errno if one
 * ended it, the step's time and the longest single readSync.
 */
const READER = `
const fs = require('fs');
const crypto = require('crypto');
const os = require('os');
// libuv has no name for some errnos (ESTALE shows as "Unknown system error -116"): name them.
const errnoName = (e) => (typeof e.errno === 'number' && Object.entries(os.constants.errno).find(([, v]) => v === -e.errno)?.[0]) || e.code || String(e);
const plan = JSON.parse(process.argv[1]);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let fd;
try { fd = fs.openSync(plan.file, 'r'); } catch (e) { out({ type: 'open', err: errnoName(e) }); process.exit(0); }
out({ type: 'open' });
let lines = '';
let wake = null;
process.stdin.on('data', (d) => { lines += d; if (wake && lines.includes('\\n')) { const w = wake; wake = null; w(); } });
process.stdin.on('end', () => { if (wake) { const w = wake; wake = null; w(); } });
(async () => {
  for (const step of plan.steps) {
    if (step.wait !== undefined) {
      out({ type: 'paused' });
      await new Promise((resolve) => {
        if (lines.includes('\\n')) return resolve();
        wake = resolve;
        setTimeout(() => { wake = null; resolve(); }, step.wait);
      });
      lines = '';
      out({ type: 'resumed' });
      continue;
    }
    const [pos, len] = step.read;
    const chunk = step.chunk || 128 * 1024;
    const buf = Buffer.alloc(len);
    const t0 = process.hrtime.bigint();
    let got = 0, err, errAt, maxMs = 0;
    while (got < len) {
      const s = process.hrtime.bigint();
      try {
        const n = fs.readSync(fd, buf, got, Math.min(chunk, len - got), pos + got);
        maxMs = Math.max(maxMs, Number(process.hrtime.bigint() - s) / 1e6);
        if (n === 0) break;
        got += n;
      } catch (e) {
        maxMs = Math.max(maxMs, Number(process.hrtime.bigint() - s) / 1e6);
        err = errnoName(e);
        errAt = pos + got;
        break;
      }
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    out({ type: 'read', pos, len, got, sha: crypto.createHash('sha256').update(buf.subarray(0, got)).digest('hex'), err, errAt, ms: Math.round(ms), maxMs: Math.round(maxMs) });
  }
  fs.closeSync(fd);
  out({ type: 'end' });
  process.exit(0);
})();
`;

/**
 * true when `p` settles within `ms`, false otherwise. The timer is cleared either way: a
 * pending timer would keep the test process (and tap) waiting long after the last test.
 */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), expired]);
  } finally {
    clearTimeout(timer);
  }
}

let barriers = 0;
/**
 * Resolves once every line the agent logged so far has reached this process. The agent writes
 * its log synchronously to one pipe and logs a failed lookup (ENOENT, at debug, with its path)
 * before answering it: once the line of a lookup made now shows, so has every line before it.
 */
async function logsFlushed(m: Mount, folder = ''): Promise<void> {
  // In a folder already listed, the lookup costs no request (so it works while S3 is down).
  const path = `${folder}/.log-barrier-${++barriers}`;
  await run('stat', [`${m.dir}${path}`], { timeoutMs: 30_000 });
  const deadline = Date.now() + 10_000;
  while (!m.agent.stdout().includes(`"path":"${path}"`)) {
    if (Date.now() > deadline) throw new Error(`the agent did not log the lookup of ${path} within 10 s`);
    await sleep(20);
  }
}

type ReadStep = { read: [number, number]; chunk?: number } | { wait: number };

interface ReadEvent {
  type: 'open' | 'paused' | 'resumed' | 'read' | 'end';
  pos: number;
  len: number;
  got: number;
  sha: string;
  err?: string;
  errAt?: number;
  ms: number;
  maxMs: number;
}

interface Reader {
  readonly child: ChildProcess;
  readonly events: ReadEvent[];
  /** Resolves with the first event satisfying `pred`; rejects after `timeoutMs` or if the reader exits first. */
  waitFor(pred: (e: ReadEvent) => boolean, timeoutMs: number): Promise<ReadEvent>;
  /** Wakes a reader that is `paused`. */
  resume(): void;
  /** Resolves when the reader has exited (killed with SIGKILL after `timeoutMs`). */
  finished(timeoutMs: number): Promise<{ events: ReadEvent[]; stderr: string; killed: boolean }>;
}

function startReader(t: Test, file: string, steps: readonly ReadStep[]): Reader {
  const child = spawn(process.execPath, ['-e', READER, JSON.stringify({ file, steps })], { stdio: ['pipe', 'pipe', 'pipe'] });
  const events: ReadEvent[] = [];
  const listeners = new Set<() => void>();
  let buf = '';
  let stderr = '';
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true;
      for (const l of listeners) l();
      resolve();
    }),
  );
  child.stdin?.on('error', () => undefined);
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        events.push(JSON.parse(line) as ReadEvent);
      } catch {
        stderr += `unparsable: ${line}\n`;
      }
      for (const l of listeners) l();
    }
  });
  t.teardown(async () => {
    if (!exited) {
      child.kill('SIGKILL');
      await within(exit, 5000);
    }
  });
  return {
    child,
    events,
    waitFor(pred, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const e = events.find(pred);
          if (e) {
            done();
            resolve(e);
          } else if (exited) {
            done();
            reject(new Error(`reader exited without the awaited event: ${JSON.stringify(events)} ${stderr}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`reader: no awaited event within ${timeoutMs} ms: ${JSON.stringify(events)} ${stderr}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    resume() {
      child.stdin?.write('go\n');
    },
    async finished(timeoutMs) {
      const ok = await within(exit, timeoutMs);
      if (!ok) {
        child.kill('SIGKILL');
        await within(exit, 5000);
      }
      return { events, stderr, killed: !ok };
    },
  };
}

/** One read of [pos, pos+len) in a reader process; its `read` event. */
async function readOnce(t: Test, file: string, pos: number, len: number, timeoutMs: number, chunk = 128 * KiB): Promise<ReadEvent & { wallMs: number }> {
  const began = Date.now();
  const r = startReader(t, file, [{ read: [pos, len], chunk }]);
  const { events, stderr, killed } = await r.finished(timeoutMs);
  const wallMs = Date.now() - began;
  const ev = events.find((e) => e.type === 'read');
  if (!ev) {
    const open = events.find((e) => e.type === 'open');
    return {
      type: 'read',
      pos,
      len,
      got: 0,
      sha: '',
      err: open?.err ?? (killed ? `KILLED after ${timeoutMs} ms` : `no result (${stderr.trim()})`),
      ms: wallMs,
      maxMs: wallMs,
      wallMs,
    };
  }
  return { ...ev, wallMs };
}

/** For each body the proxy broke: the range, the bytes sent, and the range of the next GET for it. */
function resumeReport(proxy: FaultProxy): string[] {
  const recs = proxy.records;
  return recs.flatMap((r, i) => {
    if (r.fault?.kind !== 'reset-body' || !r.range) return [];
    const next = recs.slice(i + 1).find((n) => n.method === r.method && n.path === r.path && n.range?.end === r.range?.end);
    const resumed = next?.range ? `bytes=${next.range.start}-${next.range.end ?? ''}` : 'none';
    // With an RST the client may lose what was still in its receive buffer, so a resume from
    // the same start is not wrong by itself; the checksums decide.
    const verdict = next?.range && next.range.start === r.range.start && r.bodyBytes > 0 ? ' (same start)' : '';
    return [`body of GET bytes=${r.range.start}-${r.range.end ?? ''} reset after ${r.bodyBytes} bytes; next GET of that range: ${resumed}${verdict}`];
  });
}

/** The stalled GET of rule `name` and the GETs of the same object that followed it, with times. */
function afterStall(proxy: FaultProxy, name: string): string[] {
  const recs = proxy.records;
  const i = recs.findIndex((r) => r.rule === name);
  const stalled = recs[i];
  if (!stalled) return ['no GET stalled'];
  const fmt = (r: (typeof recs)[number]): string =>
    `+${r.receivedAt - stalled.receivedAt} ms GET bytes=${r.range?.start ?? ''}-${r.range?.end ?? ''} -> ${r.status ?? '-'} ${r.outcome}${r.fault ? ` (${r.fault.kind})` : ''}`;
  // The resume of the same range (same end), or another GET overlapping the stalled bytes.
  const overlaps = (r: (typeof recs)[number]): boolean =>
    r.range !== undefined &&
    stalled.range !== undefined &&
    r.range.start <= (stalled.range.end ?? Infinity) &&
    (r.range.end ?? Infinity) >= stalled.range.start;
  const later = recs
    .slice(i + 1)
    .filter((r) => r.path === stalled.path && r.method === 'GET' && overlaps(r))
    .slice(0, 6);
  return [`stalled: ${fmt(stalled)}`, ...later.map((r) => `then:    ${fmt(r)}`)];
}

/** Waits until the proxy has had no request in flight for `quietMs` (read-ahead settled), at most `maxMs`. */
async function settle(proxy: FaultProxy, quietMs = 300, maxMs = 5000): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (Date.now() < deadline) {
    const last = proxy.records.at(-1);
    const pending = proxy.records.some((r) => r.outcome === 'pending');
    if (!pending && (!last || Date.now() - (last.finishedAt ?? last.receivedAt) >= quietMs)) return;
    await sleep(50);
  }
}

// ------------------------------------------------------------------------------------ tests

t.test('the fault proxy itself, with a plain S3 client (no mount)', async (t) => {
  const direct = makeClient();
  t.teardown(() => direct.destroy());
  const bucket = await createTestBucket(t, 'faults-proxy', direct);
  const body = randomBytes(300 * KiB);
  await putObjects(direct, bucket, { 'o.bin': body });
  const proxy = await proxyFor(t, 1);
  // One attempt per request: every fault reaches the caller.
  const client = makeClient({ endpoint: proxy.url, maxAttempts: 1 });
  t.teardown(() => client.destroy());
  const get = async (range?: string): Promise<{ data?: Buffer; err?: { name?: string; code?: string; status?: number }; ms: number }> => {
    const t0 = Date.now();
    try {
      const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'o.bin', ...(range ? { Range: range } : {}) }));
      const data = Buffer.from((await res.Body?.transformToByteArray()) ?? new Uint8Array(0));
      return { data, ms: Date.now() - t0 };
    } catch (e) {
      const err = e as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
      return {
        err: {
          ...(err.name ? { name: err.name } : {}),
          ...(err.code ? { code: err.code } : {}),
          ...(err.$metadata?.httpStatusCode ? { status: err.$metadata.httpStatusCode } : {}),
        },
        ms: Date.now() - t0,
      };
    }
  };
  const once = (fault: Fault): void => void proxy.addRule({ match: { method: 'GET', range: true }, times: 1, fault });

  const plain = await get('bytes=0-');
  t.equal(plain.data && sha256(plain.data), sha256(body), 'forwards (signature made for the proxy verifies upstream)');
  once(SLOW_DOWN);
  t.match((await get('bytes=0-')).err, { name: 'SlowDown', status: 503 }, '503 SlowDown with an S3 XML body');
  once(INTERNAL_ERROR);
  t.match((await get('bytes=0-')).err, { name: 'InternalError', status: 500 }, '500 InternalError with an S3 XML body');
  t.equal((await get()).data?.length, body.length, 'a GET without Range does not match a range rule');
  once({ kind: 'reset' });
  t.ok((await get('bytes=0-')).err, 'reset before the answer: the request fails');
  once({ kind: 'reset-body', afterBytes: 1000, how: 'fin' });
  t.ok((await get('bytes=0-')).err, 'cut inside the body: reading the body fails');
  t.equal(proxy.records.at(-1)?.bodyBytes, 1000, 'after 1000 bytes');
  once({ kind: 'stall', afterBytes: 1000, stallMs: 400 });
  const stalled = await get('bytes=0-');
  t.equal(stalled.data && sha256(stalled.data), sha256(body), 'a stall that continues delivers every byte');
  t.ok(stalled.ms >= 400, `after the stall (${stalled.ms} ms)`);
  once({ kind: 'delay', ms: 300 });
  const delayed = await get('bytes=10-19');
  t.same(delayed.data, body.subarray(10, 20), 'a delayed request is answered');
  t.ok(delayed.ms >= 300, `later (${delayed.ms} ms)`);
  for (const mode of ['refuse', 'reset', 'hang'] as const) {
    await proxy.down(mode);
    type Got = Awaited<ReturnType<typeof get>>;
    const r: Got = await Promise.race([get('bytes=0-9'), sleep(1500).then((): Got => ({ err: { name: 'no answer within 1.5 s' }, ms: 1500 }))]);
    t.ok(r.err, `down (${mode}): ${r.err?.code ?? r.err?.name}`);
    await proxy.up();
    t.same((await get('bytes=0-9')).data, body.subarray(0, 10), `up again after ${mode}: on the same port`);
  }
  t.same(proxy.stats.faults, { status: 2, reset: 1, 'reset-body': 1, stall: 1, delay: 1 }, 'faults counted by kind');
  t.equal(proxy.count({ fault: 'any' }), 6);

  // Seeded: the same requests in the same order meet the same faults.
  const pattern = async (seed: number): Promise<string> => {
    const p = await proxyFor(t, seed);
    p.addRule({ match: { method: 'GET' }, probability: 0.5, fault: [SLOW_DOWN, INTERNAL_ERROR] });
    const c = makeClient({ endpoint: p.url, maxAttempts: 1 });
    try {
      for (let i = 0; i < 12; i++)
        await c
          .send(new GetObjectCommand({ Bucket: bucket, Key: 'o.bin', Range: 'bytes=0-0' }))
          .then((r) => r.Body?.transformToByteArray())
          .catch(() => undefined);
    } finally {
      c.destroy();
    }
    return p.records.map((r) => (r.fault?.kind === 'status' ? String(r.fault.status) : '.')).join('');
  };
  const a = await pattern(42);
  t.equal(await pattern(42), a, `same seed, same faults (${a})`);
  t.match(a, /\d.*\./, 'some requests faulted, some not');
});

t.test('transient faults (seeded 500/503, resets before and inside bodies) cost time, never bytes', async (t) => {
  const client = makeClient();
  t.teardown(() => client.destroy());
  const bucket = await createTestBucket(t, 'faults-transient', client);
  const big = randomBytes(24 * MiB + 4321);
  const second = randomBytes(6 * MiB + 17);
  const cutData = randomBytes(3 * MiB);
  await putObjects(client, bucket, { 'data/big.bin': big, 'data/cut.bin': cutData, 'byname/second.bin': second });
  const proxy = await proxyFor(t, 20250105);
  const { agent, dir } = await mountViaProxy(t, bucket, proxy, ['--request-timeout', '10s', '--read-ahead-max', '8MiB']);

  // Ranged GETs of object data (If-Match): a few of them fail, at random (seeded). At most two
  // faults in a row for one range, so each read can succeed within the agent's retry budget
  // (at most 4 attempts per store call, all causes together: retry-policy.ts).
  const rule = proxy.addRule({
    name: 'transient',
    match: { method: 'GET', range: true, ifMatch: true, where: (r) => !r.path.endsWith('/cut.bin') },
    probability: 0.3,
    maxConsecutive: 2,
    times: 40,
    fault: [
      INTERNAL_ERROR,
      SLOW_DOWN,
      { kind: 'reset' },
      { kind: 'reset-body', afterBytes: 64 * KiB },
      { kind: 'reset-body', afterBytes: 700 * KiB + 3 },
      { kind: 'delay', ms: 400 },
    ],
  });

  // The kernel keeps pages across opens (auto_cache): read the scattered ranges first, while
  // nothing is cached, and the whole object last.
  const ls = await run('ls', ['-l', `${dir}/data`], { timeoutMs: 15_000 });
  t.match(ls.stdout, /big\.bin/, 'listed (lookups below come from the listing, not from GETs)');

  await t.test('dd at scattered offsets', async (t) => {
    for (const skip of [3, 11, 19]) {
      const dd = await run('dd', [`if=${dir}/data/big.bin`, 'bs=1M', `skip=${skip}`, 'count=1', 'status=none'], { timeoutMs: 30_000, encoding: 'latin1' });
      t.equal(dd.code, 0, `dd skip=${skip} exits 0 (${dd.stderr.trim()})`);
      t.equal(sha256(Buffer.from(dd.stdout, 'latin1')), sha256(big.subarray(skip * MiB, (skip + 1) * MiB)), `dd skip=${skip}: bytes match`);
    }
  });

  await t.test('a node reader at random ranges', async (t) => {
    const rnd = seededRandom(99);
    const ranges: [number, number][] = [];
    for (let i = 0; i < 12; i++) ranges.push([Math.floor(rnd() * (big.length - 600 * KiB)), 1 + Math.floor(rnd() * 600 * KiB)]);
    const r = startReader(
      t,
      `${dir}/data/big.bin`,
      ranges.map(([pos, len]) => ({ read: [pos, len] as [number, number] })),
    );
    const { events, stderr } = await r.finished(60_000);
    const reads = events.filter((e) => e.type === 'read');
    t.equal(reads.length, ranges.length, `all ranges read (${stderr.trim()})`);
    reads.forEach((e, i) => {
      const [pos, len] = ranges[i] as [number, number];
      t.equal(e.err, undefined, `range ${pos}+${len}: no error`);
      t.equal(e.sha, sha256(big.subarray(pos, pos + len)), `range ${pos}+${len}: bytes match`);
    });
  });

  await t.test('a body cut after 256 KiB is resumed from its 256th KiB', async (t) => {
    // Deterministic, with a plain close (FIN), so the agent surely got the 256 KiB: the next GET
    // of the range must start there (s3-store.ts: "a resume from the first byte not yet
    // delivered"); starting over would hand the first 256 KiB to the reader a second time.
    const cut = proxy.addRule({
      name: 'cut',
      match: { method: 'GET', ifMatch: true, path: `/${bucket}/data/cut.bin` },
      times: 1,
      fault: { kind: 'reset-body', afterBytes: 256 * KiB, how: 'fin' },
    });
    const r = await readOnce(t, `${dir}/data/cut.bin`, 0, cutData.length, 30_000);
    const i = proxy.records.findIndex((x) => x.rule === 'cut');
    const broken = proxy.records[i];
    const next = proxy.records.slice(i + 1).find((x) => x.path === broken?.path && x.range?.end === broken?.range?.end);
    t.equal(cut.faults, 1, 'one GET was cut');
    t.comment(
      `cut: GET bytes=${broken?.range?.start}-${broken?.range?.end} after ${broken?.bodyBytes} bytes; next GET of that range: bytes=${next?.range?.start}-${next?.range?.end}`,
    );
    t.equal(next?.range?.start, (broken?.range?.start ?? 0) + 256 * KiB, 'the range was resumed from the first byte not received');
    t.equal(r.err, undefined, `the read succeeds (${r.err ?? ''})`);
    t.equal(r.sha, sha256(cutData), 'bytes match');
    cut.remove();
  });

  await t.test('sha256sum of the whole 24 MiB object', async (t) => {
    const r = await run('sha256sum', [`${dir}/data/big.bin`], { timeoutMs: 60_000 });
    t.equal(r.code, 0, `sha256sum exits 0 (${r.stderr.trim()})`);
    t.equal(r.stdout.split(' ')[0], sha256(big), 'bytes match');
  });

  await t.test("opened by path (no listing): the lookup's GET meets a 503, then a reset inside its body", async (t) => {
    // A lookup by path fetches the first 128 KiB with a ranged GET without If-Match (the
    // "first bytes"); its answer also gives size and etag. Deterministic: the first such GET gets a
    // 503, the next one is reset after 64 KiB of body.
    const slow = proxy.addRule({ name: 'first-bytes-503', match: { method: 'GET', range: true, ifMatch: false }, times: 1, fault: SLOW_DOWN });
    const broken = proxy.addRule({
      name: 'first-bytes-reset',
      match: { method: 'GET', range: true, ifMatch: false },
      times: 1,
      fault: { kind: 'reset-body', afterBytes: 64 * KiB },
    });
    const since = Date.now();
    const r = await readOnce(t, `${dir}/byname/second.bin`, 0, second.length, 60_000);
    slow.remove();
    broken.remove();
    await logsFlushed({ agent, dir }, '/data');
    for (const l of logLines(agent).filter((l) => l.errno !== undefined && logTime(l) >= since && !String(l.path).includes('.log-barrier-'))) {
      t.comment(`agent: ${String(l.op)} ${String(l.path)} -> ${String(l.errno)}: ${String(l.msg)}`);
    }
    t.equal(slow.faults + broken.faults, 2, "the lookup's GETs were faulted (503, then a reset inside the body)");
    t.equal(r.err, undefined, `open and read succeed (got ${r.err ?? 'no error'}${r.errAt !== undefined ? ` at ${r.errAt}` : ''})`);
    t.equal(r.got, second.length, 'whole object');
    t.equal(r.sha, sha256(second), 'bytes match');
  });

  await logsFlushed({ agent, dir }, '/data');
  // Where the agent resumed each body the proxy broke: from the first byte it did not get
  // (start + bytes received), never from the start again (that would deliver bytes twice).
  for (const line of resumeReport(proxy)) t.comment(line);
  t.ok(rule.faults >= 5, `the proxy injected ${rule.faults} faults into ${rule.matched} ranged GETs`);
  t.comment(`faults by kind: ${JSON.stringify(proxy.stats.faults)}`);
  t.ok(proxy.stats.faults.status >= 1, `S3 error answers: ${proxy.stats.faults.status}`);
  t.ok(
    proxy.stats.faults['reset-body'] + proxy.stats.faults.reset >= 1,
    `resets: ${proxy.stats.faults.reset} before, ${proxy.stats.faults['reset-body']} inside bodies`,
  );
  // EINTR answers are logged at debug: reads the kernel gave up on, or read-ahead nobody waits
  // for. Anything louder is a read that failed.
  const failed = readErrors(agent).filter((l) => l.errno !== 'EINTR');
  t.same(
    failed.map((l) => `${String(l.errno)} ${String(l.msg)}`),
    [],
    'no read failed (agent log: no EIO, ESTALE, …)',
  );
  const interrupted = readErrors(agent, 'EINTR');
  if (interrupted.length > 0) t.comment(`agent answered ${interrupted.length} read(s) with EINTR: ${interrupted.map((l) => String(l.msg)).join(' | ')}`);
  t.comment(`requests: ${proxy.stats.requests}, forwarded ${proxy.stats.forwarded}, faults ${JSON.stringify(proxy.stats.faults)}`);
});

t.test('a server that stays down: EIO in bounded time, cached metadata answers, the same mount recovers', async (t) => {
  const client = makeClient();
  t.teardown(() => client.destroy());
  const bucket = await createTestBucket(t, 'faults-down', client);
  const big = randomBytes(16 * MiB + 99);
  const small = Buffer.from('still here\n');
  await putObjects(client, bucket, { 'data/big.bin': big, 'data/small.txt': small });
  const proxy = await proxyFor(t, 7);
  const REQUEST_TIMEOUT_MS = 5000;
  const MARGIN_MS = 2500;
  const { agent, dir } = await mountViaProxy(t, bucket, proxy, ['--request-timeout', '5s', '--read-ahead-max', '2MiB', '--stat-cache-ttl', '10m']);
  const pid = agent.child.pid;
  const file = `${dir}/data/big.bin`;

  const lsBefore = await run('ls', ['-l', `${dir}/data`], { timeoutMs: 10_000 });
  t.equal(lsBefore.code, 0, 'ls while up');
  const first = await readOnce(t, file, 0, MiB, 20_000);
  t.equal(first.sha, sha256(big.subarray(0, MiB)), 'first MiB read while up');
  await settle(proxy);

  for (const mode of ['refuse', 'hang'] as const) {
    // Refused connections fail as EIO; a server that accepts and never answers is a timeout:
    // ETIMEDOUT (issue 8 #3), never EINTR.
    const expected = mode === 'refuse' ? 'EIO' : 'ETIMEDOUT';
    await t.test(`down (${mode}): a read of an uncached range answers ${expected} within request-timeout + ${MARGIN_MS} ms`, async (t) => {
      await proxy.down(mode);
      const before = proxy.stats.requests;
      const since = Date.now();
      // A fresh handle, far from anything read: random access, nothing cached.
      const pos = mode === 'refuse' ? 12 * MiB + 5 : 8 * MiB + 333;
      const r = await readOnce(t, file, pos, 128 * KiB, 40_000);
      t.comment(
        `down (${mode}): read -> ${r.err ?? 'ok'} after ${r.ms} ms (reader wall ${r.wallMs} ms), ${proxy.stats.requests - before} requests reached the proxy`,
      );
      await logsFlushed({ agent, dir }, '/data');
      for (const l of readErrors(agent).filter((l) => logTime(l) >= since)) {
        t.comment(`  agent (+${logTime(l) - since} ms): ${String(l.errno)} ${String(l.msg)}`);
      }
      t.equal(r.err, expected, `the read fails with ${expected} (SEMANTICS: EIO when S3 failed after retries, ETIMEDOUT when it did not answer in time)`);
      t.equal(r.got, 0, 'no bytes');
      t.ok(r.ms < REQUEST_TIMEOUT_MS + MARGIN_MS, `within ${REQUEST_TIMEOUT_MS} + ${MARGIN_MS} ms (took ${r.ms} ms)`);

      await sleep(1100); // past the kernel's attr/entry timeouts (1 s): the agent must answer
      const t0 = Date.now();
      const ls = await run('ls', ['-l', `${dir}/data`], { timeoutMs: 15_000 });
      const lsMs = Date.now() - t0;
      t.equal(ls.code, 0, `ls -l answers while down (${ls.stderr.trim()})`);
      t.match(ls.stdout, /big\.bin/);
      t.match(ls.stdout, /small\.txt/);
      t.ok(lsMs < 2000, `ls from the cache in ${lsMs} ms`);
      const t1 = Date.now();
      const st = await run('stat', ['-c', '%s %F', file, `${dir}/data/small.txt`], { timeoutMs: 15_000 });
      const stMs = Date.now() - t1;
      t.equal(st.code, 0, `stat answers while down (${st.stderr.trim()})`);
      t.same(st.stdout.trim().split('\n'), [`${big.length} regular file`, `${small.length} regular file`], 'sizes from the cache');
      t.ok(stMs < 2000, `stat from the cache in ${stMs} ms`);

      await proxy.up();
      const back = await readOnce(t, file, pos, 128 * KiB, 20_000);
      t.equal(back.err, undefined, `after the server is back, the same read succeeds (${back.err ?? ''})`);
      t.equal(back.sha, sha256(big.subarray(pos, pos + 128 * KiB)), 'with the right bytes');
      t.ok(back.ms < REQUEST_TIMEOUT_MS, `in ${back.ms} ms`);
    });
  }

  await t.test('the same agent serves the whole object after the outages', async (t) => {
    const r = await run('sha256sum', [file], { timeoutMs: 30_000 });
    t.equal(r.code, 0, r.stderr.trim());
    t.equal(r.stdout.split(' ')[0], sha256(big), 'bytes match');
    t.equal(agent.child.exitCode, null, 'agent still running');
    t.equal(agent.child.pid, pid, 'no restart');
    const cat = await run('cat', [`${dir}/data/small.txt`], { timeoutMs: 10_000 });
    t.equal(cat.stdout, small.toString());
  });

  await logsFlushed({ agent, dir }, '/data');
  const eio = [...readErrors(agent, 'EIO'), ...readErrors(agent, 'ETIMEDOUT')];
  t.ok(
    eio.length >= 2,
    `the agent logged ${eio.length} read EIO/ETIMEDOUT line(s): ${eio
      .map((l) => `${String(l.errno)} ${String(l.msg)}`)
      .slice(0, 4)
      .join(' | ')}`,
  );
});

t.test('an object overwritten under a reader: ESTALE or EIO, never bytes of two versions', async (t) => {
  const client = makeClient();
  t.teardown(() => client.destroy());
  const bucket = await createTestBucket(t, 'faults-overwrite', client);
  const SIZE = 24 * MiB;
  const oldData = randomBytes(SIZE);
  const newData = randomBytes(SIZE);
  await putObjects(client, bucket, { 'obj.bin': oldData });
  const proxy = await proxyFor(t, 3);
  const { agent, dir } = await mountViaProxy(t, bucket, proxy, ['--request-timeout', '10s', '--read-ahead-max', '2MiB']);
  const file = `${dir}/obj.bin`;
  const HEAD = 4 * MiB;

  const reader = startReader(t, file, [{ read: [0, HEAD] }, { wait: 20_000 }, { read: [HEAD, SIZE - HEAD] }]);
  const head = await reader.waitFor((e) => e.type === 'read', 30_000);
  await reader.waitFor((e) => e.type === 'paused', 5000);
  t.equal(head.err, undefined, 'the first part reads');
  t.equal(head.sha, sha256(oldData.subarray(0, HEAD)), 'first part: old bytes');
  await settle(proxy);

  // Overwritten directly at RGW, not through the proxy.
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'obj.bin', Body: newData }));
  const ifMatchBefore = proxy.count({ method: 'GET', ifMatch: true });
  reader.resume();
  const { events, stderr, killed } = await reader.finished(30_000);
  t.notOk(killed, `reader finished (${stderr.trim()})`);
  const rest = events.filter((e) => e.type === 'read')[1];
  t.ok(rest, 'second part attempted');
  if (rest) {
    t.comment(
      `after the overwrite: ${rest.err ?? 'no error'}, ${rest.got} bytes, ${rest.ms} ms, ${proxy.count({ method: 'GET', ifMatch: true }) - ifMatchBefore} If-Match GETs`,
    );
    const got = oldData.subarray(HEAD, HEAD + rest.got);
    t.equal(rest.sha, sha256(got), `the ${rest.got} bytes got after the overwrite are the old version's`);
    if (rest.got === SIZE - HEAD) {
      t.comment('the reader got the whole old version (all of it was cached): allowed');
    } else {
      t.ok(rest.err === 'ESTALE' || rest.err === 'EIO', `the read fails with ESTALE or EIO (got ${rest.err})`);
      t.ok(rest.got < SIZE - HEAD, 'and stops short');
      const changed = proxy.records.filter((r) => r.method === 'GET' && r.ifMatch !== undefined && r.status === 412).length;
      t.ok(changed >= 1, `RGW answered 412 to ${changed} If-Match GET(s)`);
      await logsFlushed({ agent, dir });
      const stale = logLines(agent).filter((l) => l.op === 'read' && (l.errno === 'ESTALE' || l.errno === 'EIO'));
      t.ok(
        stale.length >= 1,
        `agent logged: ${stale
          .map((l) => `${String(l.errno)} ${String(l.msg)}`)
          .slice(0, 2)
          .join(' | ')}`,
      );
    }
  }

  await t.test('a new open after the error reads the new version, whole', async (t) => {
    await sleep(1100); // the kernel's entry/attr timeouts (1 s)
    const r = await run('sha256sum', [file], { timeoutMs: 30_000 });
    t.equal(r.code, 0, r.stderr.trim());
    const sum = r.stdout.split(' ')[0];
    t.equal(sum, sha256(newData), sum === sha256(oldData) ? 'still the old version' : 'the new version');
  });
});

t.test('a stalled body (headers, then nothing) never holds a FUSE read past request-timeout', async (t) => {
  const client = makeClient();
  t.teardown(() => client.destroy());
  const bucket = await createTestBucket(t, 'faults-stall', client);
  const data = randomBytes(12 * MiB + 5);
  await putObjects(client, bucket, { 'stall.bin': data, 'seq.bin': data });
  const proxy = await proxyFor(t, 11);
  const REQUEST_TIMEOUT_MS = 5000;
  const MARGIN_MS = 2500;
  const { agent, dir } = await mountViaProxy(t, bucket, proxy, ['--request-timeout', '5s', '--read-ahead-max', '4MiB']);
  await run('ls', ['-l', dir], { timeoutMs: 10_000 }); // a listing: no lookup GETs below

  await t.test('a random read whose GET stalls after 64 KiB', async (t) => {
    const rule = proxy.addRule({
      name: 'stall-random',
      match: { method: 'GET', ifMatch: true, path: `/${bucket}/stall.bin` },
      times: 1,
      fault: { kind: 'stall', afterBytes: 64 * KiB, stallMs: 30_000, then: 'close' },
    });
    const pos = 5 * MiB + 7;
    const r = await readOnce(t, `${dir}/stall.bin`, pos, 128 * KiB, 40_000);
    t.comment(`stalled read: ${r.err ?? 'ok'} after ${r.ms} ms, ${r.got} bytes`);
    for (const line of afterStall(proxy, 'stall-random')) t.comment(line);
    t.equal(rule.faults, 1, 'the GET stalled');
    t.ok(r.maxMs < REQUEST_TIMEOUT_MS + MARGIN_MS, `no read() call took longer than ${REQUEST_TIMEOUT_MS} + ${MARGIN_MS} ms (longest ${r.maxMs} ms)`);
    if (r.err === undefined) {
      t.equal(r.sha, sha256(data.subarray(pos, pos + 128 * KiB)), 'succeeded, with the right bytes');
    } else {
      t.ok(r.err === 'EIO' || r.err === 'ETIMEDOUT', `or failed with EIO or ETIMEDOUT (a stalled server is a timeout) (got ${r.err})`);
    }
    const again = await readOnce(t, `${dir}/stall.bin`, pos, 128 * KiB, 20_000);
    t.equal(again.err, undefined, 'the next read of the range succeeds');
    t.equal(again.sha, sha256(data.subarray(pos, pos + 128 * KiB)), 'with the right bytes');
  });

  await t.test('request-timeout 12s: a sequential reader whose read-ahead GET stalls, resumed after the body idle timeout', async (t) => {
    // With request-timeout 5s the body idle timeout (min(10 s, request-timeout)) and the
    // request's own deadline expire together, and which one wins decides between "resume" and
    // "give up". Above 10 s the idle timeout comes first: the agent must resume the range from
    // the first byte it did not get, before the FUSE read's deadline.
    const TIMEOUT_MS = 12_000;
    const m = await mountViaProxy(t, bucket, proxy, ['--request-timeout', '12s', '--read-ahead-max', '4MiB']);
    await run('ls', ['-l', m.dir], { timeoutMs: 10_000 });
    const rule = proxy.addRule({
      name: 'stall-seq',
      match: { method: 'GET', ifMatch: true, path: `/${bucket}/seq.bin`, where: (r) => (r.range?.start ?? 0) >= 2 * MiB },
      times: 1,
      fault: { kind: 'stall', afterBytes: 100 * KiB, stallMs: 30_000, then: 'close' },
    });
    const r = await readOnce(t, `${m.dir}/seq.bin`, 0, data.length, 60_000);
    t.comment(`sequential read: ${r.err ?? 'ok'} at ${r.errAt ?? '-'} after ${r.ms} ms, ${r.got} bytes, longest read() ${r.maxMs} ms`);
    for (const line of afterStall(proxy, 'stall-seq')) t.comment(line);
    t.equal(rule.faults, 1, 'a read-ahead GET stalled');
    t.ok(r.maxMs < TIMEOUT_MS + MARGIN_MS, `no read() call took longer than ${TIMEOUT_MS} + ${MARGIN_MS} ms (longest ${r.maxMs} ms)`);
    const i = proxy.records.findIndex((x) => x.rule === 'stall-seq');
    const stalled = proxy.records[i];
    const resumed = proxy.records.slice(i + 1).find((x) => x.path === stalled?.path && x.range?.end === stalled?.range?.end);
    t.equal(resumed?.range?.start, (stalled?.range?.start ?? 0) + 100 * KiB, 'the stalled range was resumed from the first byte not received');
    t.equal(r.sha, sha256(data.subarray(0, r.got)), `the ${r.got} bytes got are right`);
    if (r.err !== undefined) t.ok(r.err === 'EIO' || r.err === 'ETIMEDOUT', `a failure is EIO or ETIMEDOUT (got ${r.err})`);
    else t.equal(r.got, data.length, 'whole object');
    await logsFlushed(m);
    t.comment(
      `agent read errors: ${
        readErrors(m.agent)
          .map((l) => `${String(l.errno)} ${String(l.msg)}`)
          .join(' | ') || 'none'
      }`,
    );
  });

  await logsFlushed({ agent, dir });
  t.comment(
    `agent read errors: ${
      readErrors(agent)
        .map((l) => `${String(l.errno)} ${String(l.msg)}`)
        .join(' | ') || 'none'
    }`,
  );
});
