/**
 * Server-side encryption as the writes ask it: headers on the lean path, command fields on the
 * SDK path, on every PUT, CreateMultipartUpload and copy, never on a part (S3 refuses them
 * there: the upload's own setting applies).
 */

/** The `sse` option of S3StoreOptions. */
export interface Sse {
  readonly mode: 'AES256' | 'aws:kms';
  readonly kmsKeyId?: string;
}

/** The encryption headers of a PUT, a create or a copy (never of a part). */
export function sseHeaders(sse: Sse | undefined): Record<string, string> {
  if (!sse) return {};
  return {
    'x-amz-server-side-encryption': sse.mode,
    ...(sse.mode === 'aws:kms' && sse.kmsKeyId !== undefined ? { 'x-amz-server-side-encryption-aws-kms-key-id': sse.kmsKeyId } : {}),
  };
}

/** sseHeaders as the SDK's command fields. */
export function sseFields(sse: Sse | undefined): { ServerSideEncryption?: 'AES256' | 'aws:kms'; SSEKMSKeyId?: string } {
  if (!sse) return {};
  return { ServerSideEncryption: sse.mode, ...(sse.mode === 'aws:kms' && sse.kmsKeyId !== undefined ? { SSEKMSKeyId: sse.kmsKeyId } : {}) };
}

/** With KMS, S3's ETags are not the MD5 of the bytes. */
export function opaqueEtags(sse: Sse | undefined): boolean {
  return sse?.mode === 'aws:kms';
}
