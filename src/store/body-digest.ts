/**
 * The MD5 side of writes: the Content-MD5 every request body carries, and the check of the
 * ETag S3 answers against it. With Content-MD5 the server refuses a body damaged on the way;
 * the ETag check catches a server or proxy that ignores the header and stores other bytes.
 */
import { createHash } from 'node:crypto';
import { StoreError } from './store-error.js';
import type { UploadedPart } from './object-store.js';

/** Hashed in one go below this; a longer body is hashed in slices of this size. */
const SLICE = 4 * 1024 * 1024;

/**
 * The MD5 of `body`. A long body (a part may be 5 GiB, about 8 s of MD5) is hashed a slice at a
 * time with a turn of the event loop between slices: this thread also answers FUSE, and a read
 * must not wait for a whole upload's hash.
 */
export async function md5Of(body: Buffer): Promise<Buffer> {
  const hash = createHash('md5');
  if (body.length <= SLICE) return hash.update(body).digest();
  for (let at = 0; at < body.length; at += SLICE) {
    if (at > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    hash.update(body.subarray(at, Math.min(body.length, at + SLICE)));
  }
  return hash.digest();
}

/** The MD5 of a short body (an XML document), at once. */
export function md5Now(body: Buffer): Buffer {
  return createHash('md5').update(body).digest();
}

/** An ETag without its quotes, lower case. */
function bare(etag: string): string {
  return etag.replace(/^"|"$/g, '').toLowerCase();
}

/** A plain MD5 ETag (not a multipart one, `…-N`, nor a server's own format). */
function isMd5Etag(etag: string): boolean {
  return /^[0-9a-f]{32}$/.test(bare(etag));
}

/**
 * The ETag of a PUT or a part, refused when missing, or when it is a plain MD5 other than the
 * body's: S3 and RGW answer the body's MD5 unless the object is encrypted with KMS (then the
 * ETag is opaque, and `opaque` says not to compare). A mismatch may be a fault on the way: the
 * same bytes sent again may well arrive intact, so it is transient.
 */
export function checkedEtag(etag: string | undefined, md5: Buffer, opaque: boolean, what: string): string {
  if (!etag) throw new StoreError('invalid-response', `${what}: the answer carries no ETag`, { transient: true });
  if (!opaque && isMd5Etag(etag) && bare(etag) !== md5.toString('hex')) {
    throw new StoreError('invalid-response', `${what}: the server stored other bytes than sent (ETag ${etag}, MD5 of the body ${md5.toString('hex')})`, {
      transient: true,
    });
  }
  return etag;
}

/**
 * Whether `etag` can be the ETag of the upload completed from `parts`: S3's multipart ETag is
 * the MD5 of the parts' MD5s followed by `-<part count>`; when the parts' ETags are not all
 * plain MD5s (KMS), only the count can be compared.
 */
export function isCompletedEtag(etag: string, parts: readonly UploadedPart[]): boolean {
  const want = `-${parts.length}`;
  const got = bare(etag);
  if (!got.endsWith(want)) return false;
  if (!parts.every((p) => isMd5Etag(p.etag))) return true;
  const md5s = Buffer.concat(parts.map((p) => Buffer.from(bare(p.etag), 'hex')));
  return got === `${createHash('md5').update(md5s).digest('hex')}${want}`;
}
