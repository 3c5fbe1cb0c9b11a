/**
 * The server side of SigV4 for the fake S3: the Authorization header a signer with the test's
 * keys computes for a request as the server received it (same date, same signed headers), so a
 * test can tell that what went on the wire is what was signed.
 */
import { createHash, createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Checksum, SourceData } from '@smithy/types';

/** The keys storeFor() signs with. */
export const KEYS = { accessKeyId: 'AKIDTEST', secretAccessKey: 'not-a-secret' };

class Sha256 implements Checksum {
  private readonly h;
  constructor(secret?: SourceData) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', Buffer.from(secret as string | Uint8Array));
  }
  update(d: Uint8Array): void {
    this.h.update(d);
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.h.digest());
  }
  reset(): void {}
}

/** The Authorization a signer with KEYS computes for the request as the server received it. */
export async function expectedAuthorization(req: IncomingMessage, sessionToken?: string): Promise<string> {
  const auth = String(req.headers.authorization);
  const signed = /SignedHeaders=([^,]+)/.exec(auth)?.[1]?.split(';') ?? [];
  const [rawPath, rawQuery = ''] = (req.url ?? '').split('?');
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(rawQuery)) query[k] = v;
  const headers: Record<string, string> = {};
  for (const name of signed) headers[name] = String(req.headers[name]);
  const amzDate = headers['x-amz-date'] ?? '';
  const date = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  const signer = new SignatureV4({
    credentials: { ...KEYS, ...(sessionToken ? { sessionToken } : {}) },
    region: 'us-east-1',
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false,
  });
  const out = await signer.sign(
    { method: req.method ?? 'GET', protocol: 'http:', hostname: '127.0.0.1', path: rawPath ?? '/', query, headers },
    { signingDate: date },
  );
  return String(out.headers.authorization);
}
