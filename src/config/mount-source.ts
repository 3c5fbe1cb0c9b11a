/** Parses a mount source: `minio://bucket[/prefix...]` or `s3://bucket[/prefix...]`. */
import { configError, ConfigErrorCode, q } from './config-error.js';

export interface MountSource {
  readonly scheme: 's3' | 'minio';
  readonly bucket: string;
  /** `''` or `a/b/`. */
  readonly prefix: string;
}

/** S3 bucket naming rules (as MinIO enforces them too): the first one broken. */
const BUCKET_RULES: readonly [RegExp, string][] = [
  [/^.{3,63}$/, 'a bucket name has 3 to 63 characters'],
  [/^[a-z0-9.-]+$/, 'a bucket name has only lowercase letters, digits, dots and hyphens'],
  [/^[a-z0-9].*[a-z0-9]$/, 'a bucket name starts and ends with a letter or digit'],
  [/^(?!.*\.\.)/, 'a bucket name has no two adjacent dots'],
  [/^(?!\d+\.\d+\.\d+\.\d+$)/, 'a bucket name is not an IP address'],
];

/**
 * `what` names the thing in errors, e.g. `mount "minio": mountPoint` or `command line: SOURCE`.
 * The source text is shown unless it looks like it carries credentials (`user:pass@`).
 */
export function parseMountSource(text: string, what: string): MountSource {
  const bad = (why: string) => configError(ConfigErrorCode.BAD_MOUNT_POINT, `${what} ${text.includes('@') ? '(not shown: it contains "@")' : q(text)}: ${why}`);
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/]*)\/?(.*?)\/?$/s.exec(text);
  if (!m) throw bad('expected s3://bucket[/prefix] or minio://bucket[/prefix]');
  const [scheme, bucket, path] = [(m[1] as string).toLowerCase(), m[2] as string, m[3] as string];
  if (scheme === 'pvc') throw bad('pvc:// mounts are served by Fluid itself, not by this runtime');
  if (scheme !== 's3' && scheme !== 'minio') throw bad(`unsupported scheme "${scheme}://" (use s3:// or minio://)`);
  if (bucket.includes('@')) throw bad('credentials in the mountPoint are not supported: use the key options');
  if (bucket === '') throw bad('the bucket name is empty');
  const broken = BUCKET_RULES.find(([rule]) => !rule.test(bucket));
  if (broken) throw bad(broken[1]);
  if (path === '') return { scheme, bucket, prefix: '' };
  const odd = path.split('/').find((seg) => seg === '' || seg === '.' || seg === '..');
  if (odd !== undefined) throw bad(`the prefix has an ${odd === '' ? 'empty' : `"${odd}"`} segment`);
  return { scheme, bucket, prefix: `${path}/` };
}
