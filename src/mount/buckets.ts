/**
 * Turns the plan's buckets into ObjectStores and proves, before anything is mounted, that each
 * one answers: a wrong key, a missing bucket or a dead endpoint is reported as one line at
 * start, not as EIO on the first `ls`.
 */
import type { AwsCredentialIdentity } from '@aws-sdk/types';
import type { BucketMount } from '../config/plan.js';
import { readSecret } from '../config/index.js';
import { S3Store } from '../store/s3-store.js';
import { RotatingCredentials } from '../store/rotating-credentials.js';
import { StoreError } from '../store/store-error.js';
import type { ObjectStore } from '../store/object-store.js';
import { StartupErrorCode } from '../error-catalogue.js';
import { StartupError } from './startup-error.js';
import type { Counters } from '../observe/counters.js';
import type { RequestObserver } from '../observe/metrics.js';
import type { Logger } from '../observe/logger.js';

/** Secret files are re-read this often, so a rotated Kubernetes secret is picked up. */
const CREDENTIAL_REFRESH_MS = 60_000;

export function describe(m: BucketMount): string {
  return `mount "${m.name}" (${m.source}${m.endpoint ? ` at ${m.endpoint}` : ''})`;
}

export function createStore(
  m: BucketMount,
  requestTimeoutMs: number,
  counters: Counters,
  observer?: RequestObserver,
  log?: Logger,
  onCredentialError?: (err: unknown) => void,
  /** Told of the store's credentials, so a changed secret file can be pushed to it at once. */
  onRotatingCredentials?: (rotating: RotatingCredentials) => void,
): S3Store {
  const creds = m.credentials;
  const rotating = creds
    ? new RotatingCredentials(async (): Promise<AwsCredentialIdentity> => {
        const [accessKeyId, secretAccessKey, sessionToken] = await Promise.all([
          readSecret(creds.accessKeyId),
          readSecret(creds.secretAccessKey),
          creds.sessionToken ? readSecret(creds.sessionToken) : Promise.resolve(undefined),
        ]);
        return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
      }, CREDENTIAL_REFRESH_MS)
    : undefined;
  if (rotating) onRotatingCredentials?.(rotating);
  const store = new S3Store({
    bucket: m.bucket,
    ...(m.ca !== undefined ? { caBundle: m.ca.pem } : {}),
    ...(onCredentialError ? { onCredentialError } : {}),
    ...(m.endpoint !== undefined ? { endpoint: m.endpoint } : {}),
    region: m.region,
    pathStyle: m.pathStyle,
    ...(m.sse !== undefined ? { sse: { mode: m.sse, ...(m.sseKmsKeyId !== undefined ? { kmsKeyId: m.sseKmsKeyId } : {}) } } : {}),
    requestTimeoutMs,
    counters,
    ...(observer ? { observer } : {}),
    // No credentials: unsigned requests (public buckets).
    ...(rotating
      ? {
          credentials: rotating.provider,
          onAccessDenied: async () => {
            const changed = await rotating.refresh();
            log?.info(
              { mount: m.name, option: creds?.accessKeyId.option, changed },
              changed ? 'S3 refused the keys; the secret has changed, retrying with the new keys' : 'S3 refused the keys; the secret is unchanged',
            );
            return changed;
          },
        }
      : {}),
  });
  log?.info({ mount: m.name, transport: store.transport }, 'S3 endpoint');
  return store;
}

export async function probeAll(buckets: readonly { mount: BucketMount; store: ObjectStore }[], timeoutMs: number): Promise<void> {
  const results = await Promise.allSettled(buckets.map(({ mount, store }) => probeOne(mount, store, timeoutMs)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

async function probeOne(m: BucketMount, store: ObjectStore, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreError('timeout', `no answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
  });
  try {
    await Promise.race([store.probe(m.prefix), timeout]);
  } catch (err) {
    throw new StartupError(StartupErrorCode.S3_PROBE, `${describe(m)}: ${reasonOf(m, err)}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

function reasonOf(m: BucketMount, err: unknown): string {
  if (!(err instanceof StoreError)) return `cannot list the bucket: ${err instanceof Error ? err.message : String(err)}`;
  const detail = err.status ? ` (HTTP ${err.status}${err.s3Code && err.s3Code !== 'Unknown' ? ` ${err.s3Code}` : ''})` : '';
  switch (err.kind) {
    case 'no-such-bucket':
      return `bucket "${m.bucket}" does not exist${detail}`;
    case 'not-found':
      return `bucket "${m.bucket}" not found${detail}`;
    case 'access-denied': {
      const c = m.credentials;
      const which = c ? `credentials from option "${c.accessKeyId.option}"${c.accessKeyId.file ? ` (file ${c.accessKeyId.file})` : ''}` : 'anonymous access';
      return `S3 refused ${which}${detail}${pathLikeHint(m)}`;
    }
    case 'unreachable':
    case 'timeout':
      return `endpoint does not answer: ${err.message.replace(/^[^:]*: /, '')}`;
    default:
      return `cannot list the bucket: ${err.message}${pathLikeHint(m)}`;
  }
}

/**
 * A key option whose value looks like a file path but was used as the key itself: only files
 * under the secrets folder are read as secrets (the rule that tells Fluid's two secret modes
 * apart), so a path elsewhere is sent to S3 as the key. Names the option, never the value.
 */
function pathLikeHint(m: BucketMount): string {
  const c = m.credentials;
  if (!c) return '';
  const literalPaths = [c.accessKeyId, c.secretAccessKey, ...(c.sessionToken ? [c.sessionToken] : [])].filter(
    (s) => s.file === undefined && s.value.startsWith('/'),
  );
  if (literalPaths.length === 0) return '';
  const names = literalPaths.map((s) => `"${s.option}"`).join(' and ');
  return `; the value of option ${names} looks like a file path but was used as the key itself: only files under the secrets folder (/etc/fluid/secrets, or FLUID_S3_FUSE_SECRETS_ROOT) are read`;
}
