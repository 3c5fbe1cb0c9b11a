/**
 * The HTTP listener for probes and scraping: /healthz (the mount is there and answers),
 * /readyz (the mount is up), /metrics (Prometheus text). It never fails the mount: if the
 * address is taken (several FUSE pods share a node's network) it logs a warning and stays off.
 */
import { createServer, type Server } from 'node:http';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

export interface HttpSources {
  readonly metrics: Metrics;
  readonly ready: () => boolean;
  readonly healthy: () => Promise<{ ok: boolean; detail: string }>;
}

export async function startHttpServer(address: { host: string; port: number }, src: HttpSources, log: Logger): Promise<Server | undefined> {
  const server = createServer((req, res) => {
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    switch (path) {
      case '/metrics':
        src.metrics.text().then(
          (text) => send(200, text, src.metrics.contentType),
          (err: unknown) => send(500, `${String(err)}\n`),
        );
        return;
      case '/readyz':
        return src.ready() ? send(200, 'ready\n') : send(503, 'not ready\n');
      case '/healthz':
        src.healthy().then(
          (h) => send(h.ok ? 200 : 503, `${h.detail}\n`),
          (err: unknown) => send(503, `${String(err)}\n`),
        );
        return;
      default:
        return send(404, 'not found: try /healthz, /readyz or /metrics\n');
    }
  });
  server.keepAliveTimeout = 5_000;
  return new Promise((resolve) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      log.warn({ address: `${address.host}:${address.port}`, code: err.code }, 'metrics listener not started');
      resolve(undefined);
    });
    server.listen(address.port, address.host, () => {
      const a = server.address();
      log.info({ address: typeof a === 'object' && a ? `${a.address}:${a.port}` : String(a) }, 'metrics listener up');
      resolve(server);
    });
  });
}
