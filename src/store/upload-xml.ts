/**
 * The small XML documents of S3's multipart and copy calls, on the lean path: the body of
 * CompleteMultipartUpload, and the answers of CreateMultipartUpload, CompleteMultipartUpload,
 * CopyObject and UploadPartCopy. Each answer is a flat document of a few known elements, so a
 * pattern per element is enough; list-page.ts's streaming reader is for listings, which are big.
 *
 * S3 may answer Complete and Copy with 200 and then, after whitespace sent to keep the
 * connection open, an <Error> document: `readUploadAnswer` reports that as an error, never as
 * a result without an etag.
 */
import type { UploadedPart } from './object-store.js';

/** An answer of S3 to a multipart or copy call: the elements asked for, or S3's <Error>. */
export type UploadAnswer =
  { readonly ok: true; readonly fields: Readonly<Record<string, string>> } | { readonly ok: false; readonly code: string; readonly message: string };

/** The CompleteMultipartUpload request body for `parts` (in the order given). */
export function completeUploadBody(parts: readonly UploadedPart[]): Buffer {
  const items = parts.map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${escapeXml(p.etag)}</ETag></Part>`).join('');
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${items}</CompleteMultipartUpload>`,
    'utf8',
  );
}

/**
 * Reads the document `xml`: when its root is `root`, the text of each element of `names` found
 * in it (entities decoded); when its root is <Error>, S3's code and message; anything else
 * (an empty body, another root) is an error with code ''.
 */
export function readUploadAnswer(xml: string, root: string, names: readonly string[]): UploadAnswer {
  const rootName = /^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--[\s\S]*?-->\s*)*<([A-Za-z][\w.-]*)[\s>/]/.exec(xml)?.[1];
  if (rootName === 'Error') return { ok: false, code: elementText(xml, 'Code') ?? '', message: elementText(xml, 'Message') ?? '' };
  if (rootName !== root) return { ok: false, code: '', message: rootName === undefined ? 'no XML document' : `<${rootName}> instead of <${root}>` };
  const fields: Record<string, string> = {};
  for (const name of names) {
    const text = elementText(xml, name);
    if (text !== undefined) fields[name] = text;
  }
  return { ok: true, fields };
}

/** The decoded text of the first `<name>` element, undefined when there is none. */
function elementText(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}(?:\\s[^>]*)?>([^<]*)</${name}>`).exec(xml);
  return m?.[1] === undefined ? undefined : decodeXml(m[1]);
}

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

/** The five named entities and character references (RGW writes control characters so). */
export function decodeXml(s: string): string {
  return s.replace(
    /&(?:(lt|gt|amp|quot|apos)|#x([0-9a-fA-F]+)|#([0-9]+));/g,
    (m, named: string | undefined, hex: string | undefined, dec: string | undefined) => {
      if (named !== undefined) return { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }[named] ?? m;
      const code = hex !== undefined ? parseInt(hex, 16) : Number(dec);
      return code <= 0x10ffff ? String.fromCodePoint(code) : m;
    },
  );
}
