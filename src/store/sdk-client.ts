/**
 * The AWS SDK's S3 client, loaded when a store first needs it. Ranged GETs, HEAD and LIST go
 * through the lean path (lean-s3.ts); the SDK serves a store behind a proxy, or one built with
 * `dataPath: 'sdk'`. Loading it costs about 300 ms of CPU and 22 MiB of memory at start, which an
 * agent whose stores all take the lean path never pays (a sidecar per pod pays it per pod).
 */
import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type * as ClientS3 from '@aws-sdk/client-s3';
import type { AwsCredentialIdentityProvider } from '@aws-sdk/types';
import type { HttpRequest } from '@smithy/types';

export interface SdkClientOptions {
  readonly region: string;
  readonly endpoint?: string;
  readonly pathStyle: boolean;
  /** undefined: anonymous, unsigned requests. */
  readonly credentials?: AwsCredentialIdentityProvider;
  readonly connectTimeoutMs: number;
  readonly httpAgent: HttpAgent;
  readonly httpsAgent: HttpsAgent;
}

export interface SdkClient {
  readonly client: ClientS3.S3Client;
  /** The module, for its Command classes. */
  readonly sdk: typeof ClientS3;
}

export async function loadSdkClient(opts: SdkClientOptions): Promise<SdkClient> {
  const [sdk, { NodeHttpHandler }] = await Promise.all([import('@aws-sdk/client-s3'), import('@smithy/node-http-handler')]);
  const client = new sdk.S3Client({
    region: opts.region,
    ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
    forcePathStyle: opts.pathStyle,
    ...(opts.credentials !== undefined
      ? { credentials: opts.credentials }
      : { credentials: { accessKeyId: '', secretAccessKey: '' }, signer: { sign: (request: HttpRequest) => Promise.resolve(request) } }),
    // Third-party servers (RGW, MinIO) reject or mishandle the SDK's newer checksum defaults.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // RetryPolicy is the only retry loop: SDK attempts under it would multiply the budget.
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      // Each attempt's deadline is its Attempt signal (clipped to the call's time left); a
      // connection that cannot even be opened fails sooner.
      connectionTimeout: opts.connectTimeoutMs,
      httpAgent: opts.httpAgent,
      httpsAgent: opts.httpsAgent,
    }),
  });
  return { client, sdk };
}
