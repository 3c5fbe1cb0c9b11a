/** Parses a mount source: `minio://bucket[/prefix...]` or `s3://bucket[/prefix...]`. */
import { configError, ConfigErrorCode, q } from './config-error.js';

export type SourceScheme = 's3' | 'minio';

export interface MountSource {
  readonly scheme: SourceScheme;
  readonly bucket: string;
  /** `''` or `a/b/`. */
  readonly prefix: string;
}

/** S3 bucket naming rules (as MinIO enforces them too). */
export function bucketNameProblem(bucket: string): string | undefined {
  if (bucket === '') return 'the bucket name is empty';
  if (bucket.length < 3 || bucket.length > 63) return 'a bucket name has 3 to 63 characters';
  if (!/^[a-z0-9.-]+$/.test(bucket)) return 'a bucket name has only lowercase letters, digits, dots and hyphens';
  if (!/^[a-z0-9].*[a-z0-9]$/.test(bucket)) return 'a bucket name starts and ends with a letter or digit';
  if (bucket.includes('..')) return 'a bucket name has no two adjacent dots';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(bucket)) return 'a bucket name is not an IP address';
  return undefined;
}

/**
 * `what` names the thing in errors, e.g. `mount "minio": mountPoint` or `command line: SOURCE`.
 * The source text is shown unless it looks like it carries credentials (`user:pass@`).
 */
export function parseMountSource(text: string, what: string): MountSource {
  const shown = text.includes('@') ? '(not shown: it contains "@")' : q(text);
  const bad = (why: string) => configError(ConfigErrorCode.BAD_MOUNT_POINT, `${what} ${shown}: ${why}`);

  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/s.exec(text);
  if (!m) throw bad('expected s3://bucket[/prefix] or minio://bucket[/prefix]');
  const scheme = (m[1] as string).toLowerCase();
  if (scheme === 'pvc') throw bad('pvc:// mounts are served by Fluid itself, not by this runtime');
  if (scheme !== 's3' && scheme !== 'minio') {
    throw bad(`unsupported scheme "${scheme}://" (use s3:// or minio://)`);
  }
  const rest = m[2] as string;
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  if (bucket.includes('@')) throw bad('credentials in the mountPoint are not supported: use the key options');
  const problem = bucketNameProblem(bucket);
  if (problem) throw bad(problem);

  let path = slash < 0 ? '' : rest.slice(slash + 1);
  if (path.endsWith('/')) path = path.slice(0, -1);
  if (path === '') return { scheme, bucket, prefix: '' };
  const segments = path.split('/');
  for (const seg of segments) {
    if (seg === '' || seg === '.' || seg === '..') {
      throw bad(`the prefix has an ${seg === '' ? 'empty' : `"${seg}"`} segment`);
    }
  }
  return { scheme, bucket, prefix: `${segments.join('/')}/` };
}
