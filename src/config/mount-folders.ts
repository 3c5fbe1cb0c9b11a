/**
 * Where each of several mounts appears inside the one FUSE mount (Fluid's rule): a lone mount
 * without a path (or with path `/`) is the root; otherwise each mount is the folder `path`, or
 * `/<name>` when it has no path.
 */
import { configError, ConfigErrorCode, q } from './config-error.js';

export interface LayoutInput {
  readonly name: string;
  /** The mount's `path` as given; undefined or `''` when absent. */
  readonly path?: string;
}

function isRootPath(p: string | undefined): boolean {
  return p === undefined || p === '' || /^\/+$/.test(p);
}

function checkSegment(mount: string, seg: string, field: string): void {
  if (seg === '.' || seg === '..' || seg === '' || seg.includes('\0') || seg.includes('/')) {
    throw configError(ConfigErrorCode.LAYOUT, `mount ${q(mount)}: ${field} gives the unusable folder name ${q(seg)}`);
  }
}

/** The folder (path segments under the FUSE root) of one mount. */
function folderOf(input: LayoutInput): string[] {
  const p = input.path;
  if (p === undefined || p === '') {
    checkSegment(input.name, input.name, 'its name');
    return [input.name];
  }
  const segments = p.split('/').filter((s) => s !== '');
  for (const seg of segments) checkSegment(input.name, seg, `path ${q(p)}`);
  return segments;
}

function show(folder: readonly string[]): string {
  return q(`/${folder.join('/')}`);
}

function isPrefix(outer: readonly string[], inner: readonly string[]): boolean {
  return outer.length <= inner.length && outer.every((seg, i) => inner[i] === seg);
}

/** Folders in input order; throws a LAYOUT ConfigError naming both mounts of a conflict. */
export function layoutFolders(inputs: readonly LayoutInput[]): string[][] {
  if (inputs.length === 1 && isRootPath(inputs[0]?.path)) return [[]];
  const folders = inputs.map((input) => (input.path !== undefined && input.path !== '' && isRootPath(input.path) ? [] : folderOf(input)));
  for (let j = 0; j < folders.length; j++) {
    for (let i = 0; i < j; i++) {
      const a = folders[i] as string[];
      const b = folders[j] as string[];
      const nameA = q((inputs[i] as LayoutInput).name);
      const nameB = q((inputs[j] as LayoutInput).name);
      let why: string | undefined;
      if (a.length === b.length && isPrefix(a, b)) {
        why = `both mounts use the folder ${show(a)}`;
      } else if (a.length === 0 || b.length === 0) {
        why = `mount ${a.length === 0 ? nameA : nameB} is the root (path "/") and no other mount can sit beside it`;
      } else if (isPrefix(a, b)) {
        why = `folder ${show(b)} is inside the folder ${show(a)} of mount ${nameA}`;
      } else if (isPrefix(b, a)) {
        why = `folder ${show(a)} of mount ${nameA} is inside the folder ${show(b)}`;
      }
      if (why !== undefined) {
        throw configError(ConfigErrorCode.LAYOUT, `mount ${nameB}: conflicts with mount ${nameA}: ${why}`);
      }
    }
  }
  return folders;
}
