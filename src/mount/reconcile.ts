/**
 * What a new config means for the mounts being served, decided by mount name and nothing else
 * (Fluid's own dynamic-mount addon matches names too). Pure: the lifecycle applies the result.
 *
 * A change of where the bytes come from or where they show (bucket, prefix, endpoint, region,
 * addressing, credentials source, CA, folder) needs a new store: the old mount drains while the
 * new one serves the same folder. Anything else (ownership, modes, TTLs, listing size, read-only
 * flag, the source's spelling) is retuned in place: caches and open files are kept.
 */
import { isDeepStrictEqual } from 'node:util';
import type { BucketMount, SecretSource } from '../config/plan.js';

/** A problem confined to one mount of a config that is otherwise good. */
export interface MountProblem {
  readonly name: string;
  /** Where the mount would show; undefined when the folder itself is the problem. */
  readonly folder: readonly string[] | undefined;
  readonly error: Error;
}

/** What is served under a name now: a mount, or a folder that answers the problem's errno. */
export type ServedMount = { readonly kind: 'mount'; readonly mount: BucketMount } | { readonly kind: 'problem'; readonly problem: MountProblem };

export type MountChange =
  | { readonly kind: 'remove'; readonly name: string }
  | { readonly kind: 'replace'; readonly mount: BucketMount; readonly fields: readonly string[] }
  | { readonly kind: 'retune'; readonly mount: BucketMount; readonly fields: readonly string[] }
  | { readonly kind: 'add'; readonly mount: BucketMount }
  /** A new problem: the mount is not served, its folder (if any) answers an errno. */
  | { readonly kind: 'unavailable'; readonly problem: MountProblem }
  /** The new version of a served mount is wrong: the last good one goes on serving. */
  | { readonly kind: 'keep'; readonly mount: BucketMount; readonly problem: MountProblem };

/** The credentials' source: a secret file is followed by rotation, a literal value is the source. */
function credentialSource(m: BucketMount): unknown {
  const of = (s: SecretSource | undefined) => (s === undefined ? undefined : { option: s.option, from: s.file ?? { value: s.value } });
  const c = m.credentials;
  return c && { id: of(c.accessKeyId), secret: of(c.secretAccessKey), token: of(c.sessionToken) };
}

const IDENTITY: Readonly<Record<string, (m: BucketMount) => unknown>> = {
  bucket: (m) => m.bucket,
  prefix: (m) => m.prefix,
  folder: (m) => m.folder,
  endpoint: (m) => m.endpoint,
  region: (m) => m.region,
  pathStyle: (m) => m.pathStyle,
  credentials: credentialSource,
  ca: (m) => m.ca,
  // The store signs its PUTs with them.
  sse: (m) => [m.sse, m.sseKmsKeyId],
};

const TUNING: readonly (keyof BucketMount)[] = [
  'source',
  'readOnly',
  'uid',
  'gid',
  'fileMode',
  'dirMode',
  'statCacheTtlMs',
  'negativeCacheTtlMs',
  'maxFolderEntries',
];

/** The names of the fields in which `a` and `b` differ (credentials by source, never by value). */
export function differences(a: BucketMount, b: BucketMount): { identity: string[]; tuning: string[] } {
  const identity = Object.entries(IDENTITY)
    .filter(([, get]) => !isDeepStrictEqual(get(a), get(b)))
    .map(([field]) => field);
  const tuning = TUNING.filter((field) => !isDeepStrictEqual(a[field], b[field]));
  return { identity, tuning };
}

/**
 * The changes that turn `current` into `next`, in the order to apply them: removals first and
 * replacements next, so that a folder freed by one can be taken by an addition.
 */
export function planChanges(
  current: ReadonlyMap<string, ServedMount>,
  next: { readonly buckets: readonly BucketMount[]; readonly failures: readonly MountProblem[] },
): MountChange[] {
  const removes: MountChange[] = [];
  const replaces: MountChange[] = [];
  const others: MountChange[] = [];
  const named = new Set([...next.buckets.map((b) => b.name), ...next.failures.map((f) => f.name)]);
  for (const name of current.keys()) if (!named.has(name)) removes.push({ kind: 'remove', name });

  for (const mount of next.buckets) {
    const now = current.get(mount.name);
    if (now === undefined || now.kind === 'problem') {
      // A folder that answered a problem's errno becomes the mount (or moves: remove it first).
      if (now !== undefined && !isDeepStrictEqual(now.problem.folder, mount.folder)) removes.push({ kind: 'remove', name: mount.name });
      others.push({ kind: 'add', mount });
      continue;
    }
    const { identity, tuning } = differences(now.mount, mount);
    if (identity.length > 0) replaces.push({ kind: 'replace', mount, fields: [...identity, ...tuning] });
    else if (tuning.length > 0) others.push({ kind: 'retune', mount, fields: tuning });
  }

  for (const problem of next.failures) {
    const now = current.get(problem.name);
    if (now?.kind === 'mount') {
      others.push({ kind: 'keep', mount: now.mount, problem });
    } else if (now === undefined || now.problem.error.message !== problem.error.message || !isDeepStrictEqual(now.problem.folder, problem.folder)) {
      if (now !== undefined) removes.push({ kind: 'remove', name: problem.name });
      others.push({ kind: 'unavailable', problem });
    }
  }
  return [...removes, ...replaces, ...others];
}
