/**
 * Where each mount appears inside the one FUSE mount. Start-up chooses the layout (Fluid's goofys
 * sample): a lone mount without a path (or with path `/`) is the root; otherwise each mount is
 * the folder `path`, or `/<name>` when it has no path. A reload keeps the layout chosen at start,
 * because moving a mount under a reader's feet would break every path it holds.
 */
import { configError, ConfigErrorCode, q, type ConfigError } from './config-error.js';

export interface LayoutInput {
  readonly name: string;
  /** The mount's `path` as given; undefined or `''` when absent. */
  readonly path?: string;
}

/** `rootMount`: the mount at the root (else the first one). */
export type Layout = { readonly kind: 'root'; readonly rootMount?: string } | { readonly kind: 'folders' };

function isRootPath(p: string | undefined): boolean {
  return p === undefined || p === '' || /^\/+$/.test(p);
}

/** The layout a start-up chooses for these mounts. */
export function chooseLayout(inputs: readonly LayoutInput[]): Layout {
  return inputs.length === 1 && isRootPath(inputs[0]?.path) ? { kind: 'root', rootMount: inputs[0]?.name } : { kind: 'folders' };
}

function checkSegment(mount: string, seg: string, field: string): void {
  if (seg === '.' || seg === '..' || seg === '' || seg.includes('\0') || seg.includes('/')) {
    throw configError(ConfigErrorCode.LAYOUT, `mount ${q(mount)}: ${field} gives the unusable folder name ${q(seg)}`);
  }
}

/** The folder (path segments under the FUSE root) of one mount in the folders layout. */
function folderOf(input: LayoutInput): string[] {
  const p = input.path;
  if (p === undefined || p === '') {
    checkSegment(input.name, input.name, 'its name');
    return [input.name];
  }
  if (isRootPath(p)) {
    throw configError(
      ConfigErrorCode.LAYOUT,
      `mount ${q(input.name)}: path ${q(p)} would make it the root of targetPath, which shows the mounts in folders (the layout chosen at start: a lone mount without a path is the root); give it a folder path`,
    );
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

/** Why folder `b` of mount `nameB` cannot sit beside folder `a` of mount `nameA`, if it cannot. */
function conflict(nameA: string, a: readonly string[], b: readonly string[]): string | undefined {
  if (a.length === b.length && isPrefix(a, b)) return `both mounts use the folder ${show(a)}`;
  if (isPrefix(a, b)) return `folder ${show(b)} is inside the folder ${show(a)} of mount ${q(nameA)}`;
  if (isPrefix(b, a)) return `folder ${show(a)} of mount ${q(nameA)} is inside the folder ${show(b)}`;
  return undefined;
}

/**
 * The folder of each mount in input order (`layout`: the one chosen at start, else chosen here),
 * or the LAYOUT ConfigError that keeps it out: a conflict is charged to the later mount and names
 * both. `lenient`: errors are returned in place; else the first one is thrown.
 */
export function layoutFolders(inputs: readonly LayoutInput[], layout = chooseLayout(inputs), lenient = false): (string[] | ConfigError)[] {
  const rootIndex =
    layout.kind === 'root'
      ? Math.max(
          0,
          inputs.findIndex((i) => i.name === layout.rootMount),
        )
      : -1;
  const rootName = inputs[rootIndex]?.name;
  const placed: { name: string; folder: string[] }[] = [];
  return inputs.map((input, index) => {
    try {
      if (index === rootIndex) return [];
      if (rootName !== undefined) {
        throw configError(
          ConfigErrorCode.LAYOUT,
          `mount ${q(input.name)}: cannot be added: mount ${q(rootName)} is the root of targetPath (the layout chosen at start); restart the FUSE pod to show mounts in folders`,
        );
      }
      const folder = folderOf(input);
      for (const other of placed) {
        const why = conflict(other.name, other.folder, folder);
        if (why !== undefined) throw configError(ConfigErrorCode.LAYOUT, `mount ${q(input.name)}: conflicts with mount ${q(other.name)}: ${why}`);
      }
      placed.push({ name: input.name, folder });
      return folder;
    } catch (err) {
      if (lenient) return err as ConfigError;
      throw err;
    }
  });
}
