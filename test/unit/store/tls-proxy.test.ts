/**
 * Issue 8 #13: a private CA (caBundle / AWS_CA_BUNDLE) and HTTPS_PROXY / HTTP_PROXY / NO_PROXY
 * for the store's connections. An HTTPS fake S3 on 127.0.0.1 with a throw-away CA (openssl):
 * refused with a 'certificate' message without the CA, served with it; a counting proxy on
 * 127.0.0.1: used when the variable is set, bypassed for NO_PROXY hosts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { rejection, serveList, startFakeS3, storeFor } from './helpers/fake-s3.js';
import { startCountingProxy } from './helpers/counting-proxy.js';
import { describeTransport, noProxyMatch } from '../../../src/store/http-agents.js';

/** A CA and a server certificate for IP 127.0.0.1 signed by it, in a temporary folder. */
function throwAwayCa(): { dir: string; caFile: string; ca: string; key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'store-ca-'));
  const run = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=throw-away test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  run('req', ...ec, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  run('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'ext.cnf');
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  return { dir, caFile: join(dir, 'ca.pem'), ca: read('ca.pem'), key: read('srv.key'), cert: read('srv.pem') };
}

const pki = throwAwayCa();
t.teardown(() => rmSync(pki.dir, { recursive: true, force: true }));
const listing = { keys: [{ key: 'a.txt', size: 3 }] };

t.test('HTTPS endpoint with a private CA', async (t) => {
  const fake = await startFakeS3(t, (_req, res) => serveList(res, listing), { tls: { key: pki.key, cert: pki.cert } });

  await t.test('without the CA: refused, and the message says certificate', async (t) => {
    const store = storeFor(t, fake, { requestTimeoutMs: 3_000 });
    const e = await rejection(t, store.list({ prefix: '' }));
    t.comment(e.message);
    t.match(e.message, /certificate/);
    t.not(e.kind, 'timeout');
  });
  await t.test('with caBundle: served', async (t) => {
    const store = storeFor(t, fake, { requestTimeoutMs: 3_000, caBundle: pki.ca });
    t.same(
      (await store.list({ prefix: '' })).objects.map((o) => o.key),
      ['a.txt'],
    );
    t.match(store.transport, /1 certificate from ca-file/);
  });
  await t.test('with AWS_CA_BUNDLE: served', async (t) => {
    const store = storeFor(t, fake, { requestTimeoutMs: 3_000, env: { AWS_CA_BUNDLE: pki.caFile } });
    t.same(
      (await store.list({ prefix: '' })).objects.map((o) => o.key),
      ['a.txt'],
    );
    t.match(store.transport, /AWS_CA_BUNDLE/);
  });
  await t.test('a caBundle that is not PEM: refused at construction, saying so', async (t) => {
    t.throws(() => storeFor(t, fake, { requestTimeoutMs: 3_000, caBundle: 'hello' }), /no PEM certificate/);
  });
});

t.test('HTTP_PROXY: an http endpoint is reached through the proxy; NO_PROXY bypasses it', async (t) => {
  const fake = await startFakeS3(t, (_req, res) => serveList(res, listing));
  const proxy = await startCountingProxy(t);

  const via = storeFor(t, fake, { requestTimeoutMs: 3_000, env: { HTTP_PROXY: proxy.url } });
  t.same(
    (await via.list({ prefix: '' })).objects.map((o) => o.key),
    ['a.txt'],
  );
  t.equal(proxy.forwarded.length, 1, `through the proxy: ${proxy.forwarded.join(', ')}`);
  t.match(via.transport, /proxy: http:\/\/127\.0\.0\.1:\d+ \(from HTTP_PROXY\)/);

  const lower = storeFor(t, fake, { requestTimeoutMs: 3_000, env: { http_proxy: proxy.url, HTTP_PROXY: 'http://127.0.0.1:1' } });
  await lower.list({ prefix: '' });
  t.equal(proxy.forwarded.length, 2, 'the lower-case variable wins');

  for (const noProxy of ['127.0.0.1', `127.0.0.1:${fake.port}`, 'example.com, 127.0.0.0/8', '*']) {
    const direct = storeFor(t, fake, { requestTimeoutMs: 3_000, env: { HTTP_PROXY: proxy.url, NO_PROXY: noProxy } });
    const before = fake.count();
    await direct.list({ prefix: '' });
    t.equal(fake.count(), before + 1, `NO_PROXY=${noProxy}: answered`);
    t.equal(proxy.forwarded.length, 2, `NO_PROXY=${noProxy}: not through the proxy`);
    t.match(direct.transport, /proxy: none \(NO_PROXY entry/);
  }
  const otherPort = storeFor(t, fake, { requestTimeoutMs: 3_000, env: { HTTP_PROXY: proxy.url, no_proxy: '127.0.0.1:1' } });
  await otherPort.list({ prefix: '' });
  t.equal(proxy.forwarded.length, 3, 'NO_PROXY for another port: still through the proxy');

  const httpsOnly = storeFor(t, fake, { requestTimeoutMs: 3_000, env: { HTTPS_PROXY: proxy.url } });
  await httpsOnly.list({ prefix: '' });
  t.equal(proxy.forwarded.length, 3, 'HTTPS_PROXY alone does not apply to an http endpoint');

  const none = storeFor(t, fake, { requestTimeoutMs: 3_000 });
  await none.list({ prefix: '' });
  t.match(none.transport, /proxy: none$/, 'no variable: direct to 127.0.0.1');
});

t.test('HTTPS_PROXY with credentials: CONNECT tunnel, the private CA still verifies the endpoint', async (t) => {
  const fake = await startFakeS3(t, (_req, res) => serveList(res, listing), { tls: { key: pki.key, cert: pki.cert } });
  const proxy = await startCountingProxy(t);
  const withAuth = proxy.url.replace('http://', 'http://user:s3cr%40t@');
  const store = storeFor(t, fake, { requestTimeoutMs: 3_000, caBundle: pki.ca, env: { HTTPS_PROXY: withAuth } });
  t.same(
    (await store.list({ prefix: '' })).objects.map((o) => o.key),
    ['a.txt'],
  );
  t.same(proxy.connects, [`127.0.0.1:${fake.port}`], 'one CONNECT to the endpoint');
  t.equal(proxy.auth.length, 1, 'credentials sent to the proxy');
  t.notMatch(store.transport, /user|s3cr/, `the description hides them: ${store.transport}`);
  t.match(store.transport, /with credentials/);

  const noCa = storeFor(t, fake, { requestTimeoutMs: 3_000, env: { HTTPS_PROXY: proxy.url } });
  const e = await rejection(t, noCa.list({ prefix: '' }));
  t.match(e.message, /certificate/, 'through the tunnel too, an untrusted certificate is refused');
});

t.test('a proxy variable that is not http(s): refused at construction', async (t) => {
  t.throws(
    () => storeFor(t, { url: 'http://127.0.0.1:9' }, { requestTimeoutMs: 1_000, env: { HTTP_PROXY: 'socks5://127.0.0.1:1080' } }),
    /only http:\/\/ and https:\/\/ proxies/,
  );
});

t.test('noProxyMatch and describeTransport', async (t) => {
  t.equal(noProxyMatch('minio.corp.example', 443, '.example'), '.example');
  t.equal(noProxyMatch('minio.corp.example', 443, '*.corp.example'), '*.corp.example');
  t.equal(noProxyMatch('corp.example', 443, 'corp.example'), 'corp.example');
  t.equal(noProxyMatch('notcorp.example', 443, 'corp.example'), undefined, 'a suffix must be a whole label');
  t.equal(noProxyMatch('10.1.2.3', 9000, '10.0.0.0/8'), '10.0.0.0/8');
  t.equal(noProxyMatch('11.1.2.3', 9000, '10.0.0.0/8'), undefined);
  t.equal(noProxyMatch('[::1]', 9000, '::1'), '::1');
  t.equal(noProxyMatch('s3.local', 9000, 's3.local:9001'), undefined);
  t.equal(noProxyMatch('s3.local', 9000, ' a.b  s3.local:9000 '), 's3.local:9000');
  const aws = describeTransport({
    bucket: 'data',
    region: 'eu-west-1',
    pathStyle: false,
    env: { HTTPS_PROXY: 'http://u:p@proxy.corp:3128', NO_PROXY: 'data.s3.eu-west-1.amazonaws.com' },
  });
  t.equal(
    aws,
    'endpoint https://s3.eu-west-1.amazonaws.com; TLS: Node\'s CA list; proxy: none (NO_PROXY entry "data.s3.eu-west-1.amazonaws.com" matches s3.eu-west-1.amazonaws.com)',
    aws,
  );
  const line = describeTransport({
    bucket: 'b',
    endpoint: 'https://minio.corp:9000',
    region: 'x',
    pathStyle: true,
    caBundle: pki.ca,
    env: { https_proxy: 'http://u:p@proxy.corp:3128' },
  });
  t.equal(
    line,
    "endpoint https://minio.corp:9000; TLS: Node's CA list + 1 certificate from ca-file; proxy: http://proxy.corp:3128 (from https_proxy, with credentials)",
    line,
  );
  t.equal(
    describeTransport({ bucket: 'b', endpoint: 'http://127.0.0.1:9000', region: 'x', pathStyle: true, env: { AWS_CA_BUNDLE: '/nonexistent' } }),
    'endpoint http://127.0.0.1:9000; TLS: none (http endpoint); proxy: none',
    'AWS_CA_BUNDLE is not read for an http endpoint',
  );
  t.throws(
    () => describeTransport({ bucket: 'b', endpoint: 'https://x', region: 'x', pathStyle: true, env: { AWS_CA_BUNDLE: '/nonexistent/ca.pem' } }),
    /AWS_CA_BUNDLE=\/nonexistent\/ca.pem: cannot read it \(ENOENT\)/,
  );
});
