// A plain @aws-sdk/client-s3 client, set up the way a third-party S3 server needs it. Used to
// load the data and, by bench/readers/sdk.mjs, as the "raw SDK" ceiling.
import { Agent } from 'node:http';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export function s3Client({ endpoint, accessKeyId, secretAccessKey, region = 'us-east-1', sockets = 64 }) {
  return new S3Client({
    endpoint,
    region,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    // RGW rejects or mishandles the SDK's newer default (CRC32 trailers on every request)
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: sockets }) }),
    maxAttempts: 3,
  });
}

/** Credentials and endpoint from the environment a bench process was given. */
export function s3FromEnv(env = process.env) {
  const need = ['S3_ENDPOINT', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'];
  for (const k of need) if (!env[k]) throw new Error(`${k} is not set`);
  return { endpoint: env.S3_ENDPOINT, accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, region: env.AWS_REGION || 'us-east-1' };
}
