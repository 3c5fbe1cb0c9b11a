/**
 * Does a ranged GET's answer carry exactly the bytes asked for? Checked before any byte is used:
 * a proxy that drops the Range header answers 200 with the whole object, whose bytes would be
 * wrong at every offset > 0 (and would all be buffered by the first-bytes GET).
 *
 * Accepted:
 * - 206 whose Content-Range is `bytes start-(end-1)/total` (total may be `*`), and whose
 *   Content-Length, when sent, is that length;
 * - 200 only when it is exactly the bytes asked for: the range starts at 0 and Content-Length
 *   equals its length (a whole object that is the range);
 * - for the first-bytes GET (`objectMayEnd`), where the object may be shorter than the bytes
 *   asked for: a 206 that stops at the object's last byte, and a 200 of at most the bytes asked
 *   for.
 * Anything else is refused (the caller answers 'invalid-response', EIO, and drops the body).
 */
export interface AskedRange {
  /** First byte, inclusive. */
  readonly start: number;
  /** Last byte, exclusive. */
  readonly end: number;
  /** The object may end before `end` (the first-bytes GET asks for more than small objects have). */
  readonly objectMayEnd?: boolean;
}

export interface RangeAnswer {
  readonly status?: number;
  readonly contentRange?: string;
  readonly contentLength?: number;
}

export type RangeVerdict =
  { ok: true; /** Body bytes to expect. */ length: number; /** Object size, when the answer says. */ total?: number } | { ok: false; reason: string };

const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+|\*)$/;

export function checkRangeAnswer(asked: AskedRange, a: RangeAnswer): RangeVerdict {
  const want = asked.end - asked.start;
  if (a.status === 200) {
    if (a.contentLength === undefined) return { ok: false, reason: 'HTTP 200 (the whole object, of unknown length) instead of the range' };
    const fits = asked.start === 0 && (a.contentLength === want || (asked.objectMayEnd === true && a.contentLength < want));
    if (!fits) return { ok: false, reason: `HTTP 200 with the whole object (${a.contentLength} bytes) instead of the range` };
    return { ok: true, length: a.contentLength, total: a.contentLength };
  }
  if (a.status !== 206) return { ok: false, reason: `HTTP ${a.status ?? 'status unknown'} to a ranged GET` };
  const m = CONTENT_RANGE.exec(a.contentRange?.trim() ?? '');
  if (!m) return { ok: false, reason: `HTTP 206 with ${a.contentRange ? `Content-Range "${a.contentRange}"` : 'no Content-Range'}` };
  const first = Number(m[1]);
  const last = Number(m[2]);
  const total = m[3] === '*' ? undefined : Number(m[3]);
  const length = last - first + 1;
  const exact = first === asked.start && last === asked.end - 1;
  // Shorter than asked only because the object ends there.
  const objectEnds = asked.objectMayEnd === true && first === asked.start && length < want && total !== undefined && last === total - 1;
  if (!exact && !objectEnds) return { ok: false, reason: `HTTP 206 with Content-Range "${a.contentRange}"` };
  if (a.contentLength !== undefined && a.contentLength !== length) {
    return { ok: false, reason: `HTTP 206 with Content-Range "${a.contentRange}" but Content-Length ${a.contentLength}` };
  }
  return total !== undefined ? { ok: true, length, total } : { ok: true, length };
}
