/**
 * The write half of ObjectStore for test stores that only serve reads (synthetic folders,
 * listing fakes): every write is refused as S3 refuses a read-only key, so a test that writes
 * by mistake fails loudly.
 */
import type { WrittenObject } from '../../../src/store/object-store.js';
import { StoreError } from '../../../src/store/store-error.js';

function refused(op: string, key: string): Promise<never> {
  return Promise.reject(new StoreError('access-denied', `${op} ${key}: this test store is read-only`, { status: 403, s3Code: 'AccessDenied' }));
}

export abstract class WithoutWrites {
  putObject(key: string): Promise<WrittenObject> {
    return refused('PUT', key);
  }
  createMultipartUpload(key: string): Promise<string> {
    return refused('CreateMultipartUpload', key);
  }
  uploadPart(key: string): Promise<string> {
    return refused('UploadPart', key);
  }
  completeMultipartUpload(key: string): Promise<WrittenObject> {
    return refused('CompleteMultipartUpload', key);
  }
  abortMultipartUpload(key: string): Promise<void> {
    return refused('AbortMultipartUpload', key);
  }
  copyObject(from: { readonly key: string }): Promise<WrittenObject> {
    return refused('COPY', from.key);
  }
  deleteObject(key: string): Promise<void> {
    return refused('DELETE', key);
  }
}
