/**
 * The writes of S3Store (s3-store.ts): PUT, a multipart upload (create, part, complete, abort)
 * and DELETE, each on the lean path (lean-s3.ts) or the SDK's, each body with its Content-MD5
 * and each answered ETag checked against it (body-digest.ts).
 *
 * Every write runs through the same RetryPolicy as reads, one StoreCall per request (a part,
 * a complete), the caller's signal aborting it. All of them are safe to send again: the same
 * bytes to the same key or part, and the outcomes a repeat may meet (the upload already
 * completed or aborted, the key already deleted) are taken for what they mean. A lost answer
 * to CreateMultipartUpload leaves one upload nobody completes: the bucket's lifecycle rule for
 * incomplete uploads (or an abort by a later tool) frees it; there is no way to find it here.
 * An upload is bounded by its progress rather than by one attempt's deadline (upload-progress.ts).
 */
import type { ObjectInfo, UploadedPart, WrittenObject } from './object-store.js';
import { StoreError } from './store-error.js';
import type { Attempt } from './attempt.js';
import type { StoreCall } from './retry-policy.js';
import type { LeanRequest, LeanS3, ResponseHeaders } from './lean-s3.js';
import { checkedEtag, isCompletedEtag, md5Now, md5Of } from './body-digest.js';
import { completeUploadBody } from './upload-xml.js';
import { ProgressWatch, sdkBody } from './upload-progress.js';
import { answerDate, withContentMd5 } from './sdk-middleware.js';
import { dateOf, quoted, xmlAnswer } from './write-answer.js';
import { opaqueEtags, sseFields, sseHeaders } from './server-side-encryption.js';
import { headAttempt } from './s3-reads.js';
import type { S3Context } from './s3-context.js';

/** The answers of writes are empty or short XML documents; a longer one is refused. */
const MAX_WRITE_ANSWER = 1024 * 1024;

export interface WriteAnswer {
  readonly status: number;
  readonly headers: ResponseHeaders;
  readonly body: Buffer;
}

export async function putObject(s: S3Context, key: string, body: Buffer, signal?: AbortSignal): Promise<WrittenObject> {
  const md5 = await md5Of(body);
  const what = `PUT ${s.label}/${key}`;
  const call = s.policy.begin(signal);
  return call.run(what, (a) => putAttempt(s, key, body, md5, call, a, what), s.hooks('PUT'));
}

async function putAttempt(s: S3Context, key: string, body: Buffer, md5: Buffer, call: StoreCall, attempt: Attempt, what: string): Promise<WrittenObject> {
  if (s.lean) {
    const answer = await leanWrite(
      s,
      s.lean,
      'PUT',
      { method: 'PUT', key, body, headers: { 'content-md5': md5.toString('base64'), ...sseHeaders(s.sse) } },
      call,
      attempt,
      what,
    );
    return { etag: checkedEtag(answer.headers.etag, md5, opaqueEtags(s.sse), what), mtimeMs: dateOf(answer.headers) };
  }
  const { client, sdk } = await s.sdk();
  const watch = new ProgressWatch(attempt, call, what);
  try {
    const cmd = new sdk.PutObjectCommand({
      Bucket: s.bucket,
      Key: key,
      Body: sdkBody(body, watch),
      ContentLength: body.length,
      ContentMD5: md5.toString('base64'),
      ...sseFields(s.sse),
    });
    const date = answerDate(cmd);
    const res = await client.send(cmd, { abortSignal: watch.signal });
    s.observe('PUT', res.$metadata.httpStatusCode);
    return { etag: checkedEtag(res.ETag, md5, opaqueEtags(s.sse), what), mtimeMs: date() };
  } catch (err) {
    throw watch.cause(err);
  } finally {
    watch.dispose();
  }
}

export async function createMultipartUpload(s: S3Context, key: string, signal?: AbortSignal): Promise<string> {
  const what = `POST ${s.label}/${key} (create multipart upload)`;
  const call = s.policy.begin(signal);
  return call.run(what, (a) => createAttempt(s, key, call, a, what), s.hooks('POST'));
}

async function createAttempt(s: S3Context, key: string, call: StoreCall, attempt: Attempt, what: string): Promise<string> {
  let uploadId: string | undefined;
  if (s.lean) {
    const answer = await leanWrite(s, s.lean, 'POST', { method: 'POST', key, query: { uploads: '' }, headers: sseHeaders(s.sse) }, call, attempt, what);
    uploadId = xmlAnswer(answer.body, 'InitiateMultipartUploadResult', ['UploadId'], what).UploadId;
  } else {
    const { client, sdk } = await s.sdk();
    const res = await client.send(new sdk.CreateMultipartUploadCommand({ Bucket: s.bucket, Key: key, ...sseFields(s.sse) }), {
      abortSignal: attempt.signal,
    });
    s.observe('POST', res.$metadata.httpStatusCode);
    uploadId = res.UploadId;
  }
  if (!uploadId) throw new StoreError('invalid-response', `${what}: the answer carries no upload id`, { transient: true });
  return uploadId;
}

export async function uploadPart(s: S3Context, key: string, uploadId: string, partNumber: number, body: Buffer, signal?: AbortSignal): Promise<string> {
  const md5 = await md5Of(body);
  const what = `PUT ${s.label}/${key} part ${partNumber}`;
  const call = s.policy.begin(signal);
  return call.run(what, (a) => partAttempt(s, key, uploadId, partNumber, body, md5, call, a, what), s.hooks('PUT'));
}

async function partAttempt(
  s: S3Context,
  key: string,
  uploadId: string,
  partNumber: number,
  body: Buffer,
  md5: Buffer,
  call: StoreCall,
  attempt: Attempt,
  what: string,
): Promise<string> {
  // No encryption headers: S3 refuses them on a part (the upload's own settings apply).
  if (s.lean) {
    const answer = await leanWrite(
      s,
      s.lean,
      'PUT',
      { method: 'PUT', key, query: { partNumber: String(partNumber), uploadId }, body, headers: { 'content-md5': md5.toString('base64') } },
      call,
      attempt,
      what,
    );
    return checkedEtag(answer.headers.etag, md5, opaqueEtags(s.sse), what);
  }
  const { client, sdk } = await s.sdk();
  const watch = new ProgressWatch(attempt, call, what);
  try {
    const res = await client.send(
      new sdk.UploadPartCommand({
        Bucket: s.bucket,
        Key: key,
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: sdkBody(body, watch),
        ContentLength: body.length,
        ContentMD5: md5.toString('base64'),
      }),
      { abortSignal: watch.signal },
    );
    s.observe('PUT', res.$metadata.httpStatusCode);
    return checkedEtag(res.ETag, md5, opaqueEtags(s.sse), what);
  } catch (err) {
    throw watch.cause(err);
  } finally {
    watch.dispose();
  }
}

export async function completeMultipartUpload(
  s: S3Context,
  key: string,
  uploadId: string,
  parts: readonly UploadedPart[],
  signal?: AbortSignal,
): Promise<WrittenObject> {
  const what = `POST ${s.label}/${key} (complete multipart upload of ${parts.length} parts)`;
  const call = s.policy.begin(signal);
  let sent = 0;
  return call.run(
    what,
    async (attempt) => {
      sent++;
      try {
        return await completeAttempt(s, key, uploadId, parts, call, attempt, what);
      } catch (err) {
        const e = attempt.classify(err, what);
        // An earlier attempt may have completed the upload and lost its answer: S3 then knows
        // the upload no more. The object under the key tells: its ETag is that of these parts.
        if (sent > 1 && e.kind === 'not-found' && e.s3Code === 'NoSuchUpload') {
          const done = await completedObject(s, key, parts, attempt);
          if (done) return done;
        }
        throw e;
      }
    },
    s.hooks('POST'),
  );
}

async function completeAttempt(
  s: S3Context,
  key: string,
  uploadId: string,
  parts: readonly UploadedPart[],
  call: StoreCall,
  attempt: Attempt,
  what: string,
): Promise<WrittenObject> {
  if (s.lean) {
    const body = completeUploadBody(parts);
    const answer = await leanWrite(
      s,
      s.lean,
      'POST',
      { method: 'POST', key, query: { uploadId }, body, headers: { 'content-md5': md5Now(body).toString('base64'), 'content-type': 'application/xml' } },
      call,
      attempt,
      what,
    );
    const etag = xmlAnswer(answer.body, 'CompleteMultipartUploadResult', ['ETag'], what).ETag;
    if (!etag) throw new StoreError('invalid-response', `${what}: the answer carries no ETag`, { transient: true });
    return { etag: quoted(etag), mtimeMs: dateOf(answer.headers) };
  }
  const { client, sdk } = await s.sdk();
  const cmd = new sdk.CompleteMultipartUploadCommand({
    Bucket: s.bucket,
    Key: key,
    UploadId: uploadId,
    MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
  });
  withContentMd5(cmd);
  const date = answerDate(cmd);
  // The SDK turns a 200 with an <Error> body into a 503 (throttled here: transient as well).
  const res = await client.send(cmd, { abortSignal: attempt.signal });
  s.observe('POST', res.$metadata.httpStatusCode);
  if (!res.ETag) throw new StoreError('invalid-response', `${what}: the answer carries no ETag`, { transient: true });
  return { etag: quoted(res.ETag), mtimeMs: date() };
}

/** The object an earlier, answerless Complete of `parts` made, or undefined when the key holds something else. */
async function completedObject(s: S3Context, key: string, parts: readonly UploadedPart[], attempt: Attempt): Promise<WrittenObject | undefined> {
  let info: ObjectInfo;
  try {
    info = await headAttempt(s, key, attempt);
  } catch {
    return undefined;
  }
  return isCompletedEtag(info.etag, parts) ? { etag: info.etag, mtimeMs: info.mtimeMs || Date.now() } : undefined;
}

export async function abortMultipartUpload(s: S3Context, key: string, uploadId: string): Promise<void> {
  const what = `DELETE ${s.label}/${key} (abort multipart upload)`;
  try {
    await s.policy.begin().run(what, (a) => deleteAttempt(s, key, { uploadId }, a, what), s.hooks('DELETE'));
  } catch (err) {
    // Already aborted or completed (a repeat of a lost answer, or S3's own clean-up).
    if (err instanceof StoreError && err.kind === 'not-found') return;
    throw err;
  }
}

export async function deleteObject(s: S3Context, key: string): Promise<void> {
  const what = `DELETE ${s.label}/${key}`;
  try {
    await s.policy.begin().run(what, (a) => deleteAttempt(s, key, undefined, a, what), s.hooks('DELETE'));
  } catch (err) {
    // S3 answers 204 for a missing key; a server that answers 404 means the same.
    if (err instanceof StoreError && err.kind === 'not-found') return;
    throw err;
  }
}

async function deleteAttempt(s: S3Context, key: string, upload: { uploadId: string } | undefined, attempt: Attempt, what: string): Promise<void> {
  if (s.lean) {
    await leanWrite(s, s.lean, 'DELETE', { method: 'DELETE', key, ...(upload ? { query: upload } : {}) }, undefined, attempt, what);
    return;
  }
  const { client, sdk } = await s.sdk();
  const res = upload
    ? await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: s.bucket, Key: key, UploadId: upload.uploadId }), { abortSignal: attempt.signal })
    : await client.send(new sdk.DeleteObjectCommand({ Bucket: s.bucket, Key: key }), { abortSignal: attempt.signal });
  s.observe('DELETE', res.$metadata.httpStatusCode);
}

/**
 * One write request on the lean path; resolves with the answer (its body collected, at most
 * MAX_WRITE_ANSWER bytes). Bounded by progress (ProgressWatch) once the body goes out or the
 * answer starts.
 */
export async function leanWrite(
  s: S3Context,
  lean: LeanS3,
  op: string,
  req: LeanRequest,
  call: StoreCall | undefined,
  attempt: Attempt,
  what: string,
): Promise<WriteAnswer> {
  let answer: { status: number; headers: ResponseHeaders } | undefined;
  const parts: Buffer[] = [];
  let size = 0;
  const watch = new ProgressWatch(attempt, call, what);
  const progress = watch.tick;
  try {
    await lean.exchange(
      req,
      {
        onBodySent: progress,
        onHeaders: (status, headers) => {
          progress();
          s.observe(op, status);
          answer = { status, headers };
        },
        onData: (chunk) => {
          progress();
          size += chunk.length;
          if (size > MAX_WRITE_ANSWER) throw new StoreError('invalid-response', `${what}: the answer is longer than ${MAX_WRITE_ANSWER} bytes`);
          parts.push(chunk);
        },
      },
      watch.signal,
    );
  } finally {
    watch.dispose();
  }
  if (!answer) throw new StoreError('invalid-response', `${what}: no answer`, { transient: true });
  return { ...answer, body: Buffer.concat(parts, size) };
}
