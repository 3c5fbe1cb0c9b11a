/**
 * S3Store.copyObject (s3-store.ts): a server-side copy of one object version, on the lean path
 * (lean-s3.ts) or the SDK's. Up to copyThresholdBytes one CopyObject; above, a multipart upload
 * whose parts the server copies (UploadPartCopy). Either way the source is named by its ETag,
 * so that a copy never mixes two versions.
 */
import { UPLOAD_LIMITS, type UploadedPart, type WrittenObject } from './object-store.js';
import { StoreError } from './store-error.js';
import type { Attempt } from './attempt.js';
import { escapeUri } from './lean-s3.js';
import { answerDate, withHeaders } from './sdk-middleware.js';
import { dateOf, quoted, timeOr, xmlAnswer } from './write-answer.js';
import { sseFields, sseHeaders } from './server-side-encryption.js';
import { head } from './s3-reads.js';
import { abortMultipartUpload, completeMultipartUpload, createMultipartUpload, leanWrite } from './s3-writes.js';
import type { S3Context } from './s3-context.js';

/** Part size of a copy in parts (unless more parts than S3 allows would be needed). */
export const COPY_PART_BYTES = 512 * 1024 * 1024;
/** UploadPartCopy requests in flight for one copy: the server does the work, the link carries none. */
const COPY_PARTS_IN_FLIGHT = 4;

export async function copyObject(
  s: S3Context,
  from: { readonly key: string; readonly etag: string; readonly size: number },
  to: string,
): Promise<WrittenObject> {
  if (from.size > s.copyThresholdBytes) return copyInParts(s, from, to);
  const what = `COPY ${s.label}/${from.key} to ${to}`;
  return s.policy.begin().run(what, (a) => copyAttempt(s, from, to, a, what), s.hooks('COPY'));
}

async function copyAttempt(
  s: S3Context,
  from: { readonly key: string; readonly etag: string },
  to: string,
  attempt: Attempt,
  what: string,
): Promise<WrittenObject> {
  if (s.lean) {
    const answer = await leanWrite(
      s,
      s.lean,
      'COPY',
      {
        method: 'PUT',
        key: to,
        headers: { 'x-amz-copy-source': copySource(s.bucket, from.key), ...copyIfMatch(from.etag), ...sseHeaders(s.sse) },
      },
      undefined,
      attempt,
      what,
    );
    const got = xmlAnswer(answer.body, 'CopyObjectResult', ['ETag', 'LastModified'], what);
    if (!got.ETag) throw new StoreError('invalid-response', `${what}: the answer carries no ETag`, { transient: true });
    return { etag: quoted(got.ETag), mtimeMs: timeOr(got.LastModified, () => dateOf(answer.headers)) };
  }
  const { client, sdk } = await s.sdk();
  const cmd = new sdk.CopyObjectCommand({
    Bucket: s.bucket,
    Key: to,
    CopySource: copySource(s.bucket, from.key),
    CopySourceIfMatch: from.etag,
    ...sseFields(s.sse),
  });
  withHeaders(cmd, copyIfMatch(from.etag));
  const date = answerDate(cmd);
  const res = await client.send(cmd, { abortSignal: attempt.signal });
  s.observe('COPY', res.$metadata.httpStatusCode);
  const etag = res.CopyObjectResult?.ETag;
  if (!etag) throw new StoreError('invalid-response', `${what}: the answer carries no ETag`, { transient: true });
  return { etag: quoted(etag), mtimeMs: res.CopyObjectResult?.LastModified?.getTime() ?? date() };
}

/**
 * A copy of an object too big for one CopyObject: a multipart upload whose parts are copied
 * by the server (UploadPartCopy), a few at a time; aborted when a part fails, so no orphaned
 * parts stay behind. A copy never mixes two versions: each part asks the source's etag, and
 * the source is checked again before the parts are joined.
 */
async function copyInParts(s: S3Context, from: { readonly key: string; readonly etag: string; readonly size: number }, to: string): Promise<WrittenObject> {
  const partBytes = Math.max(s.copyPartBytes, Math.ceil(from.size / UPLOAD_LIMITS.MAX_PARTS));
  const count = Math.ceil(from.size / partBytes);
  const uploadId = await createMultipartUpload(s, to);
  try {
    const parts = new Array<UploadedPart>(count);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const n = next++;
        const start = n * partBytes;
        const end = Math.min(from.size, start + partBytes);
        const what = `COPY ${s.label}/${from.key} bytes ${start}-${end - 1} to ${to} part ${n + 1}`;
        const etag = await s.policy.begin().run(what, (a) => copyPartAttempt(s, from, to, uploadId, n + 1, start, end, a, what), s.hooks('COPY'));
        parts[n] = { partNumber: n + 1, etag };
      }
    };
    await Promise.all(Array.from({ length: Math.min(COPY_PARTS_IN_FLIGHT, count) }, worker));
    // RGW (16) honours no condition on UploadPartCopy: the source still being the version
    // asked once every part is copied shows that no part came from another one.
    const what = `COPY ${s.label}/${from.key} to ${to}`;
    const now = await head(s, from.key);
    if (!now) throw new StoreError('not-found', `${what}: the source was deleted during the copy`, { status: 404 });
    if (now.etag !== from.etag) throw new StoreError('precondition-failed', `${what}: the source changed during the copy`, { status: 412 });
    return await completeMultipartUpload(s, to, uploadId, parts);
  } catch (err) {
    await abortMultipartUpload(s, to, uploadId).catch(() => undefined);
    throw err;
  }
}

async function copyPartAttempt(
  s: S3Context,
  from: { readonly key: string; readonly etag: string },
  to: string,
  uploadId: string,
  partNumber: number,
  start: number,
  end: number,
  attempt: Attempt,
  what: string,
): Promise<string> {
  const range = `bytes=${start}-${end - 1}`;
  let etag: string | undefined;
  if (s.lean) {
    const answer = await leanWrite(
      s,
      s.lean,
      'COPY',
      {
        method: 'PUT',
        key: to,
        query: { partNumber: String(partNumber), uploadId },
        headers: { 'x-amz-copy-source': copySource(s.bucket, from.key), ...copyIfMatch(from.etag), 'x-amz-copy-source-range': range },
      },
      undefined,
      attempt,
      what,
    );
    etag = xmlAnswer(answer.body, 'CopyPartResult', ['ETag'], what).ETag;
  } else {
    const { client, sdk } = await s.sdk();
    const cmd = new sdk.UploadPartCopyCommand({
      Bucket: s.bucket,
      Key: to,
      UploadId: uploadId,
      PartNumber: partNumber,
      CopySource: copySource(s.bucket, from.key),
      CopySourceIfMatch: from.etag,
      CopySourceRange: range,
    });
    withHeaders(cmd, copyIfMatch(from.etag));
    const res = await client.send(cmd, { abortSignal: attempt.signal });
    s.observe('COPY', res.$metadata.httpStatusCode);
    etag = res.CopyPartResult?.ETag;
  }
  if (!etag) throw new StoreError('invalid-response', `${what}: the answer carries no ETag`, { transient: true });
  return quoted(etag);
}

/** `x-amz-copy-source`: the bucket and the key, escaped (a key may hold any character). */
function copySource(bucket: string, key: string): string {
  return `/${escapeUri(bucket)}/${key.split('/').map(escapeUri).join('/')}`;
}

/**
 * The condition of a copy, under both names: AWS's (`x-amz-copy-source-if-match`, MinIO too)
 * and the one Ceph RGW reads (`x-amz-copy-if-match`; RGW 16 ignores AWS's name and would copy
 * another version). Each server ignores the name it does not know.
 */
function copyIfMatch(etag: string): Record<string, string> {
  return { 'x-amz-copy-source-if-match': etag, 'x-amz-copy-if-match': etag };
}
