// A slow link in user space (this kernel has no `tc netem`): a TCP proxy on 127.0.0.1 that
// forwards to RGW, delaying every chunk by rtt/2 in each direction and capping each
// connection's bandwidth, per direction, with a token bucket.
//
//   node bench/slow-proxy.mjs --target 127.0.0.1:7481 --rtt 20ms --per-conn 20MB/s [--listen 127.0.0.1:0]
//   stdout: {"listening":PORT} once ready; runs until SIGTERM/SIGINT.
//
// The model, per direction of a connection: a chunk leaves once the bucket has paid for it
// (rate per-conn, burst 64 KiB: it is delivered when its last byte would have been sent) and
// arrives rtt/2 later. Both times only grow, so chunks keep their order. A new connection's
// first request also waits one rtt, the TCP handshake a real link would cost. When more than
// a few bandwidth-delay products are queued the sending socket is paused, so TCP flow control
// reaches RGW instead of the proxy buffering a whole object.
import { createConnection, createServer } from 'node:net';

function parseArgs(argv) {
  const a = { listen: '127.0.0.1:0' };
  for (let i = 0; i < argv.length; i += 2) a[argv[i].replace(/^--/, '')] = argv[i + 1];
  if (!a.target || !a.rtt || !a['per-conn']) {
    console.error('usage: slow-proxy.mjs --target HOST:PORT --rtt 20ms --per-conn 20MB/s [--listen HOST:PORT]');
    process.exit(2);
  }
  return a;
}

export function parseDurationMs(s) {
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(s);
  if (!m) throw new Error(`bad duration ${s} (e.g. 20ms, 0.5s)`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

/** Bytes per ms; MB = 10^6 bytes (as network links are quoted), MiB = 2^20. */
export function parseRate(s) {
  const m = /^(\d+(?:\.\d+)?)(B|KB|MB|GB|KiB|MiB|GiB)\/s$/.exec(s);
  if (!m) throw new Error(`bad rate ${s} (e.g. 20MB/s)`);
  const unit = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30 }[m[2]];
  return (Number(m[1]) * unit) / 1000;
}

const BURST = 64 * 1024;

/** One direction of one connection: src → (bucket, delay) → dst. */
class SlowPipe {
  constructor(src, dst, { delayMs, bytesPerMs, notBefore }) {
    Object.assign(this, { src, dst, delayMs, bytesPerMs });
    this.queue = []; // { buf | end: true, due }
    this.queued = 0;
    this.tokens = BURST;
    this.tokensAt = notBefore; // tokens are known as of this time; nothing leaves before it
    this.timer = null;
    this.high = Math.max(1024 * 1024, 4 * bytesPerMs * delayMs);
    this.dstBlocked = false;
    src.on('data', (buf) => this.#push(buf));
    src.on('end', () => this.#enqueue({ end: true }, this.tokensAt));
    dst.on('drain', () => {
      this.dstBlocked = false;
      this.#flow();
    });
  }

  #push(buf) {
    const now = performance.now();
    // refill the bucket up to now (or up to when the previous chunk left, if later)
    const t = Math.max(now, this.tokensAt);
    this.tokens = Math.min(BURST, this.tokens + (t - this.tokensAt) * this.bytesPerMs);
    this.tokens -= buf.length;
    let depart = t;
    if (this.tokens < 0) {
      depart = t - this.tokens / this.bytesPerMs; // wait until the debt is paid
      this.tokens = 0;
    }
    this.tokensAt = depart;
    this.queued += buf.length;
    this.#enqueue({ buf }, depart);
    this.#flow();
  }

  #enqueue(item, depart) {
    item.due = Math.max(depart, performance.now()) + this.delayMs;
    this.queue.push(item);
    if (!this.timer) this.#arm();
  }

  #arm() {
    const head = this.queue[0];
    if (!head) return;
    this.timer = setTimeout(() => this.#deliver(), Math.max(0, head.due - performance.now()));
  }

  #deliver() {
    this.timer = null;
    // timers fire up to ~1 ms late; deliver everything due by now in one go
    const now = performance.now();
    while (this.queue.length && this.queue[0].due <= now + 0.5) {
      const item = this.queue.shift();
      if (item.end) {
        this.dst.end();
        continue;
      }
      this.queued -= item.buf.length;
      if (!this.dst.destroyed && !this.dst.write(item.buf)) this.dstBlocked = true;
    }
    this.#flow();
    this.#arm();
  }

  /** Backpressure: pause the source while too much is queued or the destination is full. */
  #flow() {
    const stop = this.queued > this.high || this.dstBlocked;
    if (stop && !this.src.isPaused()) this.src.pause();
    else if (!stop && this.src.isPaused()) this.src.resume();
  }

  close() {
    clearTimeout(this.timer);
    this.queue = [];
  }
}

export function startProxy({ listen, target, rttMs, bytesPerMs }) {
  const [thost, tport] = target.split(':');
  const [lhost, lport] = listen.split(':');
  const sockets = new Set();
  let conns = 0;
  // allowHalfOpen: a peer's FIN is forwarded (late, like its data) instead of closing our
  // other direction while bytes are still queued for it
  const server = createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
    conns++;
    const accepted = performance.now();
    const upstream = createConnection({ host: thost, port: Number(tport), noDelay: true, allowHalfOpen: true });
    const pipes = [
      new SlowPipe(client, upstream, { delayMs: rttMs / 2, bytesPerMs, notBefore: accepted + rttMs }),
      new SlowPipe(upstream, client, { delayMs: rttMs / 2, bytesPerMs, notBefore: accepted }),
    ];
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', (hadError) => {
        sockets.delete(s);
        // a reset on one side resets the other; a clean close travels as a queued FIN
        if (hadError) {
          for (const p of pipes) p.close();
          client.destroy();
          upstream.destroy();
        }
      });
    }
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(Number(lport), lhost, () => {
      resolve({
        port: server.address().port,
        connections: () => conns,
        close: () =>
          new Promise((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const a = parseArgs(process.argv.slice(2));
  const proxy = await startProxy({ listen: a.listen, target: a.target, rttMs: parseDurationMs(a.rtt), bytesPerMs: parseRate(a['per-conn']) });
  process.stdout.write(`${JSON.stringify({ listening: proxy.port })}\n`);
  const stop = async () => {
    process.stderr.write(`[slow-proxy] ${proxy.connections()} connections served\n`);
    await proxy.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
