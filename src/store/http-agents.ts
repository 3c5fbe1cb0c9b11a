/**
 * The store's HTTP(S) agents: which CAs verify the server, and whether requests go through a
 * proxy. Decided once per store, from its options and the environment:
 *
 * - CA: `caBundle` (PEM, filled by the config layer from `ca-file`), else the file named by
 *   AWS_CA_BUNDLE (read only for an https endpoint). Its certificates are trusted in addition to
 *   Node's built-in list, so a bundle holding only a private CA still lets public endpoints
 *   verify. (NODE_EXTRA_CA_CERTS, which Node reads itself, is not added when a bundle is given.)
 * - Proxy: https_proxy / HTTPS_PROXY for an https endpoint, http_proxy / HTTP_PROXY for an http
 *   one (the lower-case name wins when both are set), unless no_proxy / NO_PROXY matches the
 *   endpoint's host: entries separated by commas or spaces; `*` matches every host; `host`,
 *   `.host` and `*.host` match the host and its subdomains; an IP address matches itself, an
 *   IPv4 CIDR (`10.0.0.0/8`) the addresses in it; `entry:port` only that port. Loopback
 *   addresses are not bypassed implicitly (curl does not either): put them in NO_PROXY.
 *   http:// and https:// proxies only; user:password in the proxy URL is sent as
 *   Proxy-Authorization and never logged.
 *
 * Proxy agents: https-proxy-agent (CONNECT tunnel, then TLS to the endpoint) and
 * http-proxy-agent (absolute-URI requests), both subclasses of http.Agent, which is what the
 * SDK's NodeHttpHandler takes; undici's ProxyAgent is a dispatcher and cannot be used there.
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { isIP } from 'node:net';
import { type PeerCertificate, type SecureContext, checkServerIdentity, createSecureContext, rootCertificates } from 'node:tls';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';

export type Env = Readonly<Record<string, string | undefined>>;

export interface TransportOptions {
  readonly bucket: string;
  /** undefined: AWS (`https://s3.<region>.amazonaws.com`). */
  readonly endpoint?: string;
  readonly region: string;
  readonly pathStyle: boolean;
  /** PEM certificates to trust besides Node's list (the `ca-file` option's content). */
  readonly caBundle?: string | Buffer;
  readonly maxSockets?: number;
  /** Where AWS_CA_BUNDLE and the proxy variables are read; process.env by default. */
  readonly env?: Env;
}

export interface Transport {
  readonly httpAgent: HttpAgent;
  readonly httpsAgent: HttpsAgent;
  /** The endpoint requests go to (AWS's for the region when none was given). */
  readonly endpoint: URL;
  /** Node's CA list plus the chosen bundle, when a bundle was given (for the lean path's connections). */
  readonly secureContext?: SecureContext;
  /** Requests go through a proxy. */
  readonly proxied: boolean;
  /** One line for the log: endpoint, CAs, proxy. No secret, no proxy credentials. */
  readonly description: string;
}

interface CaChoice {
  readonly pem: string;
  readonly count: number;
  readonly source: string;
}

interface ProxyChoice {
  /** The proxy to use; undefined: direct. */
  readonly url?: URL;
  /** The variable it came from (HTTPS_PROXY, http_proxy, …). */
  readonly variable?: string;
  /** The NO_PROXY entry that sent this host direct. */
  readonly bypassedBy?: string;
}

export function createTransport(opts: TransportOptions): Transport {
  const env = opts.env ?? process.env;
  const endpoint = endpointUrl(opts);
  const ca = chooseCa(opts, env, endpoint);
  const proxy = chooseProxy(opts, env, endpoint);
  const base = { keepAlive: true, maxSockets: opts.maxSockets ?? 64 };
  const secureContext = ca ? secureContextFor(ca) : undefined;
  const tls = secureContext ? { ...base, secureContext } : base;
  const https = endpoint.protocol === 'https:';
  const httpAgent = proxy.url && !https ? new HttpProxyAgent(proxy.url, base) : new HttpAgent(base);
  // The CA list serves both the endpoint (through the tunnel) and an https:// proxy itself.
  const httpsAgent: HttpsAgent = proxy.url && https ? new TunnelAgent(proxy.url, tls, secureContext) : new HttpsAgent(tls);
  return {
    httpAgent,
    httpsAgent,
    endpoint,
    ...(secureContext ? { secureContext } : {}),
    proxied: proxy.url !== undefined,
    description: describe(endpoint, ca, proxy, https),
  };
}

/**
 * HttpsProxyAgent, with the CA list also for the TLS session to the endpoint inside the
 * tunnel (it drops the agent's own options there: only the request's reach it), and the
 * endpoint's certificate checked against the endpoint's host.
 */
class TunnelAgent extends HttpsProxyAgent<string> {
  private readonly target: { secureContext?: SecureContext };

  constructor(proxy: URL, opts: ConstructorParameters<typeof HttpsProxyAgent<string>>[1], secureContext: SecureContext | undefined) {
    super(proxy, opts);
    this.target = secureContext ? { secureContext } : {};
  }

  override connect(
    req: Parameters<HttpsProxyAgent<string>['connect']>[0],
    opts: Parameters<HttpsProxyAgent<string>['connect']>[1],
  ): ReturnType<HttpsProxyAgent<string>['connect']> {
    // The certificate is checked against the endpoint's host: the tunnel's TLS options lose
    // it, and an IP address (no SNI) would then be checked as "localhost".
    if (!opts.secureEndpoint) return super.connect(req, opts);
    const host = stripBrackets(opts.host ?? '');
    return super.connect(req, { ...opts, ...this.target, checkServerIdentity: (_name: string, cert: PeerCertificate) => checkServerIdentity(host, cert) });
  }
}

/** The one log line describing TLS and proxy for a store with these options (same rules). */
export function describeTransport(opts: TransportOptions): string {
  const env = opts.env ?? process.env;
  const endpoint = endpointUrl(opts);
  return describe(endpoint, chooseCa(opts, env, endpoint), chooseProxy(opts, env, endpoint), endpoint.protocol === 'https:');
}

function describe(endpoint: URL, ca: CaChoice | undefined, proxy: ProxyChoice, https: boolean): string {
  const tls = !https
    ? 'TLS: none (http endpoint)'
    : ca
      ? `TLS: Node's CA list + ${ca.count} certificate${ca.count === 1 ? '' : 's'} from ${ca.source}`
      : "TLS: Node's CA list";
  const via = proxy.url
    ? `proxy: ${redact(proxy.url)} (from ${proxy.variable ?? 'environment'}${proxy.url.username || proxy.url.password ? ', with credentials' : ''})`
    : proxy.bypassedBy !== undefined
      ? `proxy: none (NO_PROXY entry "${proxy.bypassedBy}" matches ${endpoint.hostname})`
      : 'proxy: none';
  return `endpoint ${endpoint.origin}; ${tls}; ${via}`;
}

function redact(u: URL): string {
  return `${u.protocol}//${u.host}`;
}

function endpointUrl(opts: Pick<TransportOptions, 'endpoint' | 'region'>): URL {
  return new URL(opts.endpoint ?? `https://s3.${opts.region}.amazonaws.com`);
}

function chooseCa(opts: TransportOptions, env: Env, endpoint: URL): CaChoice | undefined {
  if (opts.caBundle !== undefined) return parsePem(String(opts.caBundle), 'ca-file');
  const file = nonEmpty(env.AWS_CA_BUNDLE);
  // An http endpoint needs no CA: a stale AWS_CA_BUNDLE must not stop it.
  if (file === undefined || endpoint.protocol !== 'https:') return undefined;
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`AWS_CA_BUNDLE=${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  return parsePem(pem, `AWS_CA_BUNDLE (${file})`);
}

function parsePem(pem: string, source: string): CaChoice {
  const count = pem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
  if (count === 0) throw new Error(`${source}: no PEM certificate in it (expected "-----BEGIN CERTIFICATE-----" blocks)`);
  return { pem, count, source };
}

function secureContextFor(ca: CaChoice): SecureContext {
  // One context for every connection: parsing the bundle per connection would cost CPU on
  // each new socket.
  try {
    return createSecureContext({ ca: [...rootCertificates, ca.pem] });
  } catch (err) {
    throw new Error(`${ca.source}: not a valid PEM certificate bundle (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  const s = v?.trim();
  return s ? s : undefined;
}

function chooseProxy(opts: TransportOptions, env: Env, endpoint: URL): ProxyChoice {
  const names = endpoint.protocol === 'https:' ? ['https_proxy', 'HTTPS_PROXY'] : ['http_proxy', 'HTTP_PROXY'];
  const variable = names.find((n) => nonEmpty(env[n]) !== undefined);
  if (variable === undefined) return {};
  const raw = nonEmpty(env[variable]) as string;
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    throw new Error(`${variable}: not a proxy URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`${variable}=${url.protocol}//${url.host}: only http:// and https:// proxies are supported`);
  }
  const noProxy = nonEmpty(env.no_proxy) ?? nonEmpty(env.NO_PROXY);
  const port = Number(endpoint.port || (endpoint.protocol === 'https:' ? 443 : 80));
  const hosts = [endpoint.hostname];
  // Virtual-hosted style: requests go to <bucket>.<host>.
  if (!opts.pathStyle && isIP(stripBrackets(endpoint.hostname)) === 0) hosts.push(`${opts.bucket}.${endpoint.hostname}`);
  if (noProxy !== undefined) {
    for (const h of hosts) {
      const entry = noProxyMatch(h, port, noProxy);
      if (entry !== undefined) return { bypassedBy: entry };
    }
  }
  return { url, variable };
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** The NO_PROXY entry matching `host:port`, if any (rules at the top of this module). */
export function noProxyMatch(host: string, port: number, noProxy: string): string | undefined {
  const h = stripBrackets(host.toLowerCase()).replace(/\.$/, '');
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return raw;
    const { name, port: entryPort } = splitHostPort(entry);
    if (entryPort !== undefined && entryPort !== port) continue;
    const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(name);
    if (cidr) {
      if (isIP(h) === 4 && inCidr(h, cidr[1] as string, Number(cidr[2]))) return raw;
      continue;
    }
    const domain = name.replace(/^\*?\./, '').replace(/\.$/, '');
    if (!domain) continue;
    if (h === domain) return raw;
    if (isIP(h) === 0 && h.endsWith(`.${domain}`)) return raw;
  }
  return undefined;
}

function splitHostPort(entry: string): { name: string; port?: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (v6) return { name: v6[1] as string, ...(v6[2] ? { port: Number(v6[2]) } : {}) };
  // A bare IPv6 address has several colons and no port.
  if (isIP(entry) === 6) return { name: entry };
  const m = /^(.*):(\d+)$/.exec(entry);
  return m ? { name: m[1] as string, port: Number(m[2]) } : { name: entry };
}

function inCidr(ip: string, base: string, bits: number): boolean {
  if (bits < 0 || bits > 32 || isIP(base) !== 4) return false;
  const toInt = (a: string): number => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const size = 2 ** (32 - bits);
  return Math.floor(toInt(ip) / size) === Math.floor(toInt(base) / size);
}
