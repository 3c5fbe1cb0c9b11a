/**
 * S3 helpers for integration tests.
 *
 * The S3 server is the one throw-away Ceph RGW that `scripts/test.sh` starts for the whole test
 * run (scripts/rgw-start.sh); its address and keys arrive in the environment (S3_ENDPOINT,
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION). Test files run in parallel against it,
 * so every test makes its own bucket with `createTestBucket`, which also empties and deletes it
 * in teardown.
 */
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { Test } from 'tap';

export interface S3Env {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

/** The test S3 server's address and credentials, from the environment scripts/test.sh sets. */
export function s3Env(): S3Env {
  const endpoint = process.env.S3_ENDPOINT;
  if (!endpoint) {
    throw new Error(
      'S3_ENDPOINT is not set: integration tests need the test S3 server; run tests via scripts/test.sh ' +
        '(e.g. `bash scripts/test.sh test/integration/rgw-smoke.test.ts`), or start one with ' +
        'scripts/rgw-start.sh DIR and `set -a; . DIR/s3.env; set +a`',
    );
  }
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw new Error('S3_ENDPOINT is set but AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not: run tests via scripts/test.sh');
  }
  return { endpoint, accessKeyId, secretAccessKey, region: process.env.AWS_REGION || 'us-east-1' };
}

/**
 * An S3 client for the test server: path-style addressing, and checksums only where S3 requires
 * them (RGW rejects the SDK's newer default trailing checksums). `overrides` are merged last.
 */
export function makeClient(overrides: Partial<S3ClientConfig> = {}): S3Client {
  const env = s3Env();
  return new S3Client({
    endpoint: env.endpoint,
    region: env.region,
    credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...overrides,
  });
}

let bucketCounter = 0;

/**
 * A bucket name no other test (in this run or a concurrent one) uses: `t-<hint>-<pid>-<n>-<rand>`,
 * lowercase letters, digits and dashes only, at most 63 characters.
 */
export function uniqueBucketName(hint: string): string {
  const suffix = `-${process.pid.toString(36)}-${(++bucketCounter).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const clean = hint
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const room = 63 - 't-'.length - suffix.length;
  const part = clean.slice(0, room).replace(/-+$/, '') || 'x';
  return `t-${part}${suffix}`;
}

/**
 * Creates a fresh, empty bucket for this test and registers a teardown that deletes every object,
 * aborts every unfinished multipart upload and deletes the bucket.  `client` defaults to a new
 * `makeClient()` (destroyed in teardown).
 */
export async function createTestBucket(t: Test, hint: string = t.name, client?: S3Client): Promise<string> {
  const own = client === undefined;
  const c = client ?? makeClient();
  const bucket = uniqueBucketName(hint);
  try {
    await c.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if (own) c.destroy();
    throw err;
  }
  t.teardown(async () => {
    try {
      await deleteBucket(c, bucket);
    } catch (err) {
      // Cleanup only: the server is thrown away after the run, so do not fail the test for it.
      process.stderr.write(`warning: could not delete test bucket ${bucket}: ${String(err)}\n`);
    } finally {
      if (own) c.destroy();
    }
  });
  return bucket;
}

/** Deletes all objects and unfinished multipart uploads of `bucket`, then the bucket itself. */
export async function deleteBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    for (;;) {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }));
      const keys = (page.Contents ?? []).map((o) => o.Key).filter((k): k is string => k !== undefined);
      if (keys.length === 0) break;
      // One DeleteObject per key: DeleteObjects needs a Content-MD5/checksum header, which
      // third-party servers handle differently; single deletes always work.
      await mapLimit(keys, 16, (Key) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key })));
    }
    for (;;) {
      const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      const uploads = page.Uploads ?? [];
      if (uploads.length === 0) break;
      await mapLimit(uploads, 16, (u) => client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId })));
      if (!page.IsTruncated) break;
    }
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchBucket') return; // the test deleted it already
    throw err;
  }
}

/** Puts every `key -> body` of `objects` into `bucket`, at most `limit` (16) requests at a time. */
export async function putObjects(client: S3Client, bucket: string, objects: Record<string, Buffer | string>, limit = 16): Promise<void> {
  await mapLimit(Object.entries(objects), limit, ([Key, Body]) => client.send(new PutObjectCommand({ Bucket: bucket, Key, Body })));
}

/** Runs `fn` over `items` with at most `limit` calls in flight; rejects with the first error. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
