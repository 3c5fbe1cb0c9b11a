/**
 * A fault-injecting HTTP proxy for tests, in front of the test S3 server (RGW).
 *
 * It listens on 127.0.0.1 (port 0 = any free port), re-issues each request to the upstream
 * server and pipes the answer back, so every fault applies to exactly one request, whatever
 * connection (keep-alive or not) it arrived on. The Host header is forwarded unchanged, so
 * SigV4 signatures made for the proxy's address still verify upstream.
 *
 * Controlled in-process by the test:
 * - rules (`addRule`): which requests (method, path, Range, If-Match, any predicate) get which
 *   fault, always or at random (seeded: the same sequence of requests gets the same faults),
 *   with caps on the number of faults, in total and in a row for one range;
 * - `down(mode)` / `up()`: the server goes away entirely and comes back on the same port;
 * - counters and a record of every request for assertions.
 *
 * Faults: an S3 error answer (500 InternalError, 503 SlowDown, … with a proper XML body); a
 * connection reset before the answer or after N bytes of the body; a body that stalls after N
 * bytes (headers sent) for a while, then goes on, resets or closes; a latency spike before the
 * request is forwarded.
 *
 * Nothing here touches a FUSE mount: it is safe to run in the test process.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

// ------------------------------------------------------------------------------------ types

/** What happens to one request. */
export type Fault =
  /** An S3 error answer with an XML body; nothing is forwarded. */
  | { readonly kind: 'status'; readonly status: number; readonly code?: string; readonly message?: string }
  /** The connection is reset (RST) as soon as the request arrived; nothing is answered. */
  | { readonly kind: 'reset' }
  /**
   * Forwarded; the status line, headers and `afterBytes` of the body go out, then the
   * connection is reset (`how: 'rst'`, the default; the client may lose bytes still in its
   * receive buffer) or closed (`'fin'`: the client surely gets the `afterBytes`, then a body
   * shorter than its Content-Length).
   */
  | { readonly kind: 'reset-body'; readonly afterBytes: number; readonly how?: 'rst' | 'fin' }
  /**
   * Forwarded; headers and `afterBytes` of the body go out, then nothing for `stallMs`; then the
   * rest of the body (`continue`, the default), a reset, or a plain close.
   */
  | { readonly kind: 'stall'; readonly afterBytes: number; readonly stallMs: number; readonly then?: 'continue' | 'reset' | 'close' }
  /** Forwarded after `ms` (a latency spike). */
  | { readonly kind: 'delay'; readonly ms: number };

export type FaultKind = Fault['kind'];

/** 500 InternalError, as S3 sends it. */
export const INTERNAL_ERROR: Fault = { kind: 'status', status: 500, code: 'InternalError', message: 'We encountered an internal error. Please try again.' };
/** 503 SlowDown, as S3 sends it. */
export const SLOW_DOWN: Fault = { kind: 'status', status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' };

/** One request as the proxy saw it. */
export interface RequestInfo {
  /** 1, 2, … in order of arrival. */
  readonly seq: number;
  readonly method: string;
  /** Path without the query string, still URL-encoded (`/bucket/key`). */
  readonly path: string;
  /** The query string without `?` (`list-type=2&prefix=…`), '' when none. */
  readonly query: string;
  readonly headers: IncomingHttpHeaders;
  /** The Range header, parsed (`bytes=a-b` or `bytes=a-`), if any. */
  readonly range?: { readonly start: number; readonly end?: number };
  readonly ifMatch?: string;
}

export interface Match {
  /** One method or several (`GET`, `HEAD`, …). */
  readonly method?: string | readonly string[];
  /** The path (exact string, or a RegExp tested on the path). */
  readonly path?: string | RegExp;
  /** true: only requests with a Range header; false: only without. */
  readonly range?: boolean;
  /** true: only requests with If-Match; false: only without. */
  readonly ifMatch?: boolean;
  /** Any further condition. */
  readonly where?: (req: RequestInfo) => boolean;
}

export interface RuleOptions {
  readonly name?: string;
  readonly match?: Match;
  /** The fault, or several: one is picked at random (seeded) for each faulted request. */
  readonly fault: Fault | readonly Fault[];
  /** Chance that a matching request gets the fault (default 1), drawn from the seeded generator. */
  readonly probability?: number;
  /** Let this many matching requests through before faulting any (default 0). */
  readonly skip?: number;
  /** Stop after this many faults (default: no limit). */
  readonly times?: number;
  /**
   * At most this many faults in a row for one streak key (default: no limit); the next request
   * with that key then goes through. With the default key (method, path, end of the range) this
   * bounds the faults one ranged read meets, however often the client resumes it.
   */
  readonly maxConsecutive?: number;
  readonly streakKey?: (req: RequestInfo) => string;
}

export interface Rule {
  readonly name: string;
  /** Matching requests seen. */
  readonly matched: number;
  /** Faults applied. */
  readonly faults: number;
  remove(): void;
}

/** What happened to one request. */
export interface RequestRecord extends RequestInfo {
  readonly receivedAt: number;
  /** The fault applied, if any, and the rule that chose it. */
  fault?: Fault;
  rule?: string;
  /** 'down' when the proxy was down (hang mode) and the request was never forwarded. */
  outcome: 'pending' | 'answered' | 'fault' | 'client-closed' | 'upstream-error' | 'down';
  /** Status sent to the client, if any. */
  status?: number;
  /** Body bytes sent to the client. */
  bodyBytes: number;
  finishedAt?: number;
}

/**
 * How the proxy is down:
 * - `refuse`: the port is closed (new connections: ECONNREFUSED); existing connections are
 *   destroyed, in-flight answers cut;
 * - `reset`: connections are accepted and reset at once; existing ones are destroyed;
 * - `hang`: connections are accepted and requests read but never answered (a black hole);
 *   answers already in flight go on. `up()` destroys the held requests' connections.
 */
export type DownMode = 'refuse' | 'reset' | 'hang';

export interface FaultProxyOptions {
  /** Upstream base URL, e.g. http://127.0.0.1:7480 (http only). */
  readonly target: string;
  /** Seed of the random generator used by rules (default 1). */
  readonly seed?: number;
  /** Port to listen on (default 0: any free port). */
  readonly port?: number;
}

export interface FaultProxyStats {
  /** Requests received (all, including faulted and held ones). */
  requests: number;
  /** Requests forwarded upstream. */
  forwarded: number;
  /** Faults applied, by kind. */
  faults: Record<FaultKind, number>;
  /** Connections accepted, and connections refused or reset while down. */
  connections: number;
  droppedConnections: number;
  upstreamErrors: number;
}

export interface FaultProxy {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  readonly stats: FaultProxyStats;
  /** Every request, in order of arrival. */
  readonly records: readonly RequestRecord[];
  addRule(opts: RuleOptions): Rule;
  clearRules(): void;
  /** Records matching `m` (and an optional fault kind). */
  count(m?: Match & { fault?: FaultKind | 'any' | 'none' }): number;
  readonly isDown: boolean;
  down(mode?: DownMode): Promise<void>;
  up(): Promise<void>;
  /** Stops listening and destroys every connection (idempotent). */
  close(): Promise<void>;
}

// ------------------------------------------------------------------------------------ helpers

/** mulberry32: a small, fast, seeded PRNG; [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function parseRange(h: string | undefined): RequestInfo['range'] {
  const m = /^bytes=(\d+)-(\d*)$/.exec(h?.trim() ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), ...(m[2] ? { end: Number(m[2]) } : {}) };
}

export function matches(m: Match | undefined, r: RequestInfo): boolean {
  if (!m) return true;
  if (m.method !== undefined) {
    const methods = typeof m.method === 'string' ? [m.method] : m.method;
    if (!methods.some((x) => x.toUpperCase() === r.method)) return false;
  }
  if (m.path !== undefined && !(typeof m.path === 'string' ? m.path === r.path : m.path.test(r.path))) return false;
  if (m.range !== undefined && m.range !== (r.range !== undefined || r.headers.range !== undefined)) return false;
  if (m.ifMatch !== undefined && m.ifMatch !== (r.ifMatch !== undefined)) return false;
  if (m.where && !m.where(r)) return false;
  return true;
}

const xmlEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The XML error document S3 sends. */
export function s3ErrorBody(code: string, message: string, resource: string, requestId: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message>` +
    `<Resource>${xmlEscape(resource)}</Resource><RequestId>${requestId}</RequestId></Error>`
  );
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

function forwardHeaders(h: IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

function resetSocket(s: Socket | null | undefined): void {
  if (!s || s.destroyed) return;
  // An RST, as a crashed server or a middlebox would send; plain destroy if not supported.
  if (typeof s.resetAndDestroy === 'function') s.resetAndDestroy();
  else s.destroy();
}

// ------------------------------------------------------------------------------------ proxy

interface RuleState {
  readonly opts: RuleOptions;
  readonly name: string;
  matched: number;
  faults: number;
  readonly streaks: Map<string, number>;
}

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(opts.target);
  if (target.protocol !== 'http:') throw new Error(`fault proxy: only http:// upstreams (${opts.target})`);
  const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  const random = seededRandom(opts.seed ?? 1);
  const rules: RuleState[] = [];
  const records: RequestRecord[] = [];
  const stats: FaultProxyStats = {
    requests: 0,
    forwarded: 0,
    faults: { status: 0, reset: 0, 'reset-body': 0, stall: 0, delay: 0 },
    connections: 0,
    droppedConnections: 0,
    upstreamErrors: 0,
  };
  const sockets = new Set<Socket>();
  const held = new Set<Socket>(); // connections with a request held while down (hang)
  const timers = new Set<NodeJS.Timeout>();
  let downMode: DownMode | undefined;
  let closed = false;
  let seq = 0;
  let ruleCounter = 0;

  const later = (ms: number, fn: () => void): NodeJS.Timeout => {
    const tm = setTimeout(() => {
      timers.delete(tm);
      fn();
    }, ms);
    timers.add(tm);
    return tm;
  };
  const cancel = (tm: NodeJS.Timeout | undefined): void => {
    if (!tm) return;
    clearTimeout(tm);
    timers.delete(tm);
  };

  const server = http.createServer({ keepAlive: true });
  server.keepAliveTimeout = 30_000;
  server.headersTimeout = 60_000;
  server.requestTimeout = 0;

  server.on('connection', (s: Socket) => {
    stats.connections++;
    if (downMode === 'reset') {
      stats.droppedConnections++;
      resetSocket(s);
      return;
    }
    sockets.add(s);
    s.on('close', () => {
      sockets.delete(s);
      held.delete(s);
    });
    s.on('error', () => undefined);
  });
  server.on('clientError', (_err, s) => s.destroy());

  const choose = (info: RequestInfo): { fault: Fault; rule: string } | undefined => {
    for (const r of rules) {
      const o = r.opts;
      if (!matches(o.match, info)) continue;
      r.matched++;
      if (r.matched <= (o.skip ?? 0)) continue;
      if (o.times !== undefined && r.faults >= o.times) continue;
      // Always draw, so the decisions depend only on the order of matching requests.
      const draw = random();
      const key = (o.streakKey ?? defaultStreakKey)(info);
      const streak = r.streaks.get(key) ?? 0;
      const hit = draw < (o.probability ?? 1) && (o.maxConsecutive === undefined || streak < o.maxConsecutive);
      if (!hit) {
        r.streaks.delete(key);
        continue;
      }
      r.streaks.set(key, streak + 1);
      r.faults++;
      const list = Array.isArray(o.fault) ? (o.fault as readonly Fault[]) : [o.fault as Fault];
      const fault = list[Math.min(list.length - 1, Math.floor(random() * list.length))] as Fault;
      return { fault, rule: r.name };
    }
    return undefined;
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rangeHeader = typeof req.headers.range === 'string' ? req.headers.range : undefined;
    const range = parseRange(rangeHeader);
    const ifMatch = typeof req.headers['if-match'] === 'string' ? req.headers['if-match'] : undefined;
    const info: RequestInfo = {
      seq: ++seq,
      method: (req.method ?? 'GET').toUpperCase(),
      path: q < 0 ? url : url.slice(0, q),
      query: q < 0 ? '' : url.slice(q + 1),
      headers: req.headers,
      ...(range ? { range } : {}),
      ...(ifMatch !== undefined ? { ifMatch } : {}),
    };
    const rec: RequestRecord = { ...info, receivedAt: Date.now(), outcome: 'pending', bodyBytes: 0 };
    records.push(rec);
    stats.requests++;
    const done = (outcome: RequestRecord['outcome']): void => {
      if (rec.outcome !== 'pending') return;
      rec.outcome = outcome;
      rec.finishedAt = Date.now();
    };
    res.on('close', () => done(res.writableFinished ? 'answered' : 'client-closed'));

    if (downMode === 'hang') {
      // Read the request (so the client thinks it was sent), answer nothing.
      rec.outcome = 'down';
      held.add(req.socket);
      req.resume();
      return;
    }

    const chosen = choose(info);
    if (chosen) {
      rec.fault = chosen.fault;
      rec.rule = chosen.rule;
      stats.faults[chosen.fault.kind]++;
    }
    const fault = chosen?.fault;

    if (fault?.kind === 'status') {
      req.resume();
      const requestId = `fault-${info.seq}`;
      const code = fault.code ?? (fault.status === 503 ? 'SlowDown' : 'InternalError');
      const body = info.method === 'HEAD' ? '' : s3ErrorBody(code, fault.message ?? code, info.path, requestId);
      rec.status = fault.status;
      res.writeHead(fault.status, {
        'content-type': 'application/xml',
        'content-length': Buffer.byteLength(body),
        'x-amz-request-id': requestId,
        ...(fault.status === 503 ? { 'retry-after': '1' } : {}),
      });
      res.end(body);
      done('fault');
      return;
    }
    if (fault?.kind === 'reset') {
      req.resume();
      done('fault');
      resetSocket(req.socket);
      return;
    }
    if (fault?.kind === 'delay') {
      const tm = later(fault.ms, () => forward(req, res, rec, undefined));
      res.on('close', () => cancel(tm));
      return;
    }
    forward(req, res, rec, fault);
  });

  const forward = (req: IncomingMessage, res: ServerResponse, rec: RequestRecord, fault: Fault | undefined): void => {
    if (res.destroyed || closed) return;
    stats.forwarded++;
    const up = http.request({
      protocol: 'http:',
      hostname: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: forwardHeaders(req.headers),
      agent: upstreamAgent,
    });
    let finished = false;
    const kill = (): void => {
      finished = true;
      up.destroy();
    };
    res.on('close', () => {
      if (!finished) kill();
    });
    up.on('error', () => {
      if (finished) return;
      finished = true;
      stats.upstreamErrors++;
      rec.outcome = 'upstream-error';
      rec.finishedAt = Date.now();
      if (!res.headersSent) {
        const body = s3ErrorBody('BadGateway', 'fault proxy: upstream failed', rec.path, `proxy-${rec.seq}`);
        res.writeHead(502, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      } else {
        res.destroy();
      }
    });
    up.on('response', (ures) => {
      rec.status = ures.statusCode ?? 502;
      const headers = forwardHeaders(ures.headers);
      res.writeHead(ures.statusCode ?? 502, ures.statusMessage, headers);
      const cut = fault && (fault.kind === 'reset-body' || fault.kind === 'stall') ? fault.afterBytes : Infinity;
      let sent = 0;
      let tripped = false;
      const trip = (): void => {
        tripped = true;
        ures.pause();
        // Let the bytes already written reach the client before acting.
        const act = (): void => {
          if (!fault || res.destroyed) return;
          if (fault.kind === 'reset-body') {
            done('fault');
            kill();
            if ((fault.how ?? 'rst') === 'rst') resetSocket(res.socket);
            else res.socket?.destroySoon();
            return;
          }
          if (fault.kind !== 'stall') return;
          const tm = later(fault.stallMs, () => {
            if (res.destroyed) return;
            const then = fault.then ?? 'continue';
            if (then === 'continue') {
              ures.resume();
              return;
            }
            done('fault');
            kill();
            if (then === 'reset') resetSocket(res.socket);
            else res.socket?.destroy();
          });
          res.on('close', () => cancel(tm));
        };
        later(20, act);
      };
      const done = (outcome: RequestRecord['outcome']): void => {
        if (rec.outcome !== 'pending') return;
        rec.outcome = outcome;
        rec.finishedAt = Date.now();
      };
      if (cut <= 0) trip();
      ures.on('data', (chunk: Buffer) => {
        if (res.destroyed) return;
        if (!tripped && sent + chunk.length >= cut) {
          const part = chunk.subarray(0, cut - sent);
          const rest = chunk.subarray(cut - sent);
          sent += part.length;
          rec.bodyBytes = sent;
          if (part.length > 0) res.write(part);
          trip();
          // What is left of this chunk goes out after a stall that continues.
          if (rest.length > 0) ures.unshift(rest);
          return;
        }
        sent += chunk.length;
        rec.bodyBytes = sent;
        if (!res.write(chunk)) {
          ures.pause();
          res.once('drain', () => {
            if (!tripped || (fault?.kind === 'stall' && (fault.then ?? 'continue') === 'continue')) ures.resume();
          });
        }
      });
      ures.on('end', () => {
        finished = true;
        if (!res.destroyed) res.end();
      });
      ures.on('error', () => {
        finished = true;
        res.destroy();
      });
    });
    req.pipe(up);
  };

  const listen = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', onError);
        resolve((server.address() as AddressInfo).port);
      });
    });

  const port = await listen(opts.port ?? 0);

  const destroyAll = (): void => {
    for (const s of sockets) {
      stats.droppedConnections++;
      s.destroy();
    }
    sockets.clear();
    held.clear();
  };

  const proxy: FaultProxy = {
    url: `http://127.0.0.1:${port}`,
    port,
    stats,
    records,
    get isDown() {
      return downMode !== undefined;
    },
    addRule(o: RuleOptions): Rule {
      const state: RuleState = { opts: o, name: o.name ?? `rule-${++ruleCounter}`, matched: 0, faults: 0, streaks: new Map() };
      rules.push(state);
      return {
        name: state.name,
        get matched() {
          return state.matched;
        },
        get faults() {
          return state.faults;
        },
        remove() {
          const i = rules.indexOf(state);
          if (i >= 0) rules.splice(i, 1);
        },
      };
    },
    clearRules() {
      rules.length = 0;
    },
    count(m = {}) {
      return records.filter((r) => {
        if (!matches(m, r)) return false;
        if (m.fault === undefined) return true;
        if (m.fault === 'any') return r.fault !== undefined;
        if (m.fault === 'none') return r.fault === undefined;
        return r.fault?.kind === m.fault;
      }).length;
    },
    async down(mode: DownMode = 'refuse') {
      if (closed) throw new Error('fault proxy is closed');
      if (downMode !== undefined) throw new Error(`fault proxy is already down (${downMode})`);
      downMode = mode;
      if (mode === 'refuse') {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          destroyAll();
        });
      } else if (mode === 'reset') {
        destroyAll();
      }
      // hang: keep what is in flight; new requests are held.
    },
    async up() {
      if (closed) throw new Error('fault proxy is closed');
      const was = downMode;
      if (was === undefined) return;
      if (was === 'hang') {
        for (const s of held) s.destroy();
        held.clear();
      }
      if (was === 'refuse') await listen(port);
      downMode = undefined;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const tm of timers) clearTimeout(tm);
      timers.clear();
      const closing = server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
      destroyAll();
      server.closeAllConnections();
      upstreamAgent.destroy();
      await closing;
    },
  };
  return proxy;
}

/** Method, path and end of the range: a ranged read resumed from a later start keeps its key. */
export function defaultStreakKey(r: RequestInfo): string {
  return `${r.method} ${r.path} ${r.range?.end ?? '-'}`;
}
