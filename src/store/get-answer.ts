/**
 * A GET's answer, judged the same on both paths (lean-s3.ts and the SDK): a ranged answer held
 * against the range asked (range-check.ts), and a body that broke after the headers.
 */
import type { Readable } from 'node:stream';
import { StoreError } from './store-error.js';
import { type AskedRange, type RangeAnswer, checkRangeAnswer } from './range-check.js';
import type { ResponseHeaders } from './lean-s3.js';

/**
 * The answer to a ranged GET, checked against the range asked; a wrong one (a 200 with the whole
 * object, another range) is refused with its body destroyed unread: not one byte of it is used,
 * and the same server or proxy would answer the same, so it is not retried.
 */
export function acceptedRange(
  asked: AskedRange,
  res: { $metadata: { httpStatusCode?: number }; ContentRange?: string; ContentLength?: number },
  body: Readable | undefined,
  what: string,
): { length: number; total?: number } {
  try {
    return rangeVerdict(
      asked,
      {
        ...statusOf(res),
        ...(res.ContentRange !== undefined ? { contentRange: res.ContentRange } : {}),
        ...(res.ContentLength !== undefined ? { contentLength: res.ContentLength } : {}),
      },
      what,
    );
  } catch (err) {
    body?.destroy();
    throw err;
  }
}

/** checkRangeAnswer, a refusal thrown as the StoreError both paths answer with (the lean path drops the body by aborting). */
export function rangeVerdict(asked: AskedRange, answer: RangeAnswer, what: string): { length: number; total?: number } {
  const verdict = checkRangeAnswer(asked, answer);
  if (verdict.ok) return verdict;
  throw new StoreError('invalid-response', `${what}: ${verdict.reason}`, answer.status !== undefined ? { status: answer.status } : {});
}

/** What the range check needs from a lean answer's headers. */
export function rangeAnswer(status: number, h: ResponseHeaders): RangeAnswer {
  const range = h['content-range'];
  const length = h['content-length'];
  return { status, ...(range !== undefined ? { contentRange: range } : {}), ...(length !== undefined ? { contentLength: Number(length) } : {}) };
}

/** The SDK's HTTP status, when it has one. */
function statusOf(res: { $metadata: { httpStatusCode?: number } }): { status?: number } {
  return res.$metadata.httpStatusCode !== undefined ? { status: res.$metadata.httpStatusCode } : {};
}

/** A response body that failed after the headers: worth a resume (or a new attempt). */
export function bodyBroke(what: string, err: unknown, afterBytes?: number): StoreError {
  const reason = err instanceof Error ? err.message : String(err);
  return new StoreError('invalid-response', `${what}: the answer broke${afterBytes !== undefined ? ` after ${afterBytes} bytes` : ''}: ${reason}`, {
    cause: err,
    transient: true,
  });
}
