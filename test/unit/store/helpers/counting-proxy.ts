/**
 * A tiny forward proxy on 127.0.0.1 that counts what goes through it: CONNECT tunnels (https
 * endpoints) and absolute-URI requests (http endpoints). Closed in the test's teardown.
 */
import { createServer, request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import { closeServer } from './fake-s3.js';

export interface CountingProxy {
  readonly url: string;
  readonly connects: string[];
  readonly forwarded: string[];
  /** Proxy-Authorization headers seen. */
  readonly auth: string[];
}

export async function startCountingProxy(t: Test): Promise<CountingProxy> {
  const connects: string[] = [];
  const forwarded: string[] = [];
  const auth: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    if (typeof req.headers['proxy-authorization'] === 'string') auth.push(req.headers['proxy-authorization']);
    forwarded.push(`${req.method} ${req.url}`);
    const target = new URL(req.url ?? '');
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const up = request(
      { host: target.hostname, port: target.port, method: req.method, path: target.pathname + target.search, headers },
      (upRes: IncomingMessage) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    if (typeof req.headers['proxy-authorization'] === 'string') auth.push(req.headers['proxy-authorization']);
    connects.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const up = connect(Number(port), host ?? '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    sockets.add(up).add(client);
    const drop = (): void => {
      up.destroy();
      client.destroy();
    };
    up.on('error', drop);
    client.on('error', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await closeServer(server);
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connects, forwarded, auth };
}
