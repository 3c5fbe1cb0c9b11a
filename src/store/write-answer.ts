/**
 * What a write's answer says: the fields of an XML answer (a multipart call's, a copy's), an
 * ETag as ObjectInfo keeps it, the server's Date as the object's mtime.
 */
import { StoreError } from './store-error.js';
import type { ResponseHeaders } from './lean-s3.js';
import { readUploadAnswer } from './upload-xml.js';

/** An ETag as ObjectInfo keeps it, quotes included (RGW's XML answers leave them out). */
export function quoted(etag: string): string {
  return etag.startsWith('"') ? etag : `"${etag}"`;
}

/** The server's Date (of a write's answer) in ms; now when absent or unreadable. */
export function dateOf(h: ResponseHeaders): number {
  return timeOr(h.date, () => Date.now());
}

/** `text` as a time in ms, or `fallback()` when it is absent or unreadable. */
export function timeOr(text: string | undefined, fallback: () => number): number {
  const t = text === undefined ? NaN : Date.parse(text);
  return Number.isNaN(t) ? fallback() : t;
}

/**
 * The fields `names` of an XML answer to a multipart or copy call, whose root must be `root`.
 * S3 may answer 200 and then an <Error> (Complete and Copy do, after keeping the connection
 * open): a server error, worth a retry; a document of another kind: invalid-response.
 */
export function xmlAnswer(body: Buffer, root: string, names: readonly string[], what: string): Readonly<Record<string, string>> {
  const answer = readUploadAnswer(body.toString('utf8'), root, names);
  if (answer.ok) return answer.fields;
  if (answer.code === '') throw new StoreError('invalid-response', `${what}: not the answer expected: ${answer.message}`, { transient: true });
  throw new StoreError('server', `${what}: the server failed after answering 200: ${answer.code}${answer.message ? `: ${answer.message}` : ''}`, {
    s3Code: answer.code,
    transient: true,
  });
}
