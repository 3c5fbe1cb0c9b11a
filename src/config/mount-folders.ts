/**
 * Where each mount appears inside the one FUSE mount. Start-up chooses the layout (Fluid's goofys
 * sample): a lone mount without a path (or with path `/`) is the root; otherwise each mount is
 * the folder `path`, or `/<name>` when it has no path. A reload keeps the layout chosen at start:
 * moving a mount under a reader's feet would break every path it holds.
 */
import { configError, ConfigErrorCode, q, type ConfigError } from './config-error.js';

/** `path`: as given, undefined or `''` when absent. */
export type LayoutInput = { readonly name: string; readonly path?: string };
/** `rootMount`: the mount at the root (else the first one). */
export type Layout = { readonly kind: 'root'; readonly rootMount?: string } | { readonly kind: 'folders' };

const isRootPath = (p: string | undefined) => p === undefined || /^\/*$/.test(p);

export function chooseLayout(inputs: readonly LayoutInput[]): Layout {
  return inputs.length === 1 && isRootPath(inputs[0]?.path) ? { kind: 'root', rootMount: inputs[0]?.name } : { kind: 'folders' };
}

/** The folder (path segments under the FUSE root) of one mount in the folders layout. */
function folderOf({ name, path }: LayoutInput): string[] {
  const layout = (why: string) => configError(ConfigErrorCode.LAYOUT, `mount ${q(name)}: ${why}`);
  if (path && isRootPath(path)) {
    throw layout(
      `path ${q(path)} would make it the root of targetPath, which shows the mounts in folders (the layout chosen at start: a lone mount without a path is the root); give it a folder path`,
    );
  }
  const segments = path ? path.split('/').filter((s) => s !== '') : [name];
  const bad = segments.find((seg) => seg === '.' || seg === '..' || seg === '' || seg.includes('\0') || seg.includes('/'));
  if (bad !== undefined) throw layout(`${path ? `path ${q(path)}` : 'its name'} gives the unusable folder name ${q(bad)}`);
  return segments;
}

const show = (folder: readonly string[]) => q(`/${folder.join('/')}`);
const isPrefix = (outer: readonly string[], inner: readonly string[]) => outer.length <= inner.length && outer.every((seg, i) => inner[i] === seg);

/**
 * The folder of each mount in input order, or the LAYOUT error that keeps it out: a conflict is
 * charged to the later mount and names both. `lenient`: errors are returned in place, else the
 * first one is thrown.
 */
export function layoutFolders(inputs: readonly LayoutInput[], layout = chooseLayout(inputs), lenient = false): (string[] | ConfigError)[] {
  const named = inputs.findIndex((i) => layout.kind === 'root' && i.name === layout.rootMount);
  const rootIndex = layout.kind === 'root' ? Math.max(0, named) : -1;
  const placed: { name: string; folder: string[] }[] = [];
  return inputs.map((input, index) => {
    const refuse = (why: string) => configError(ConfigErrorCode.LAYOUT, `mount ${q(input.name)}: ${why}`);
    try {
      if (index === rootIndex) return [];
      const root = q(inputs[rootIndex]?.name ?? '');
      if (rootIndex >= 0)
        throw refuse(`cannot be added: mount ${root} is the root of targetPath (the layout chosen at start); restart the FUSE pod to show mounts in folders`);
      const b = folderOf(input);
      for (const { name, folder: a } of placed) {
        const [aHoldsB, bHoldsA] = [isPrefix(a, b), isPrefix(b, a)];
        if (!aHoldsB && !bHoldsA) continue;
        const why =
          aHoldsB && bHoldsA
            ? `both mounts use the folder ${show(a)}`
            : aHoldsB
              ? `folder ${show(b)} is inside the folder ${show(a)} of mount ${q(name)}`
              : `folder ${show(a)} of mount ${q(name)} is inside the folder ${show(b)}`;
        throw refuse(`conflicts with mount ${q(name)}: ${why}`);
      }
      placed.push({ name: input.name, folder: b });
      return b;
    } catch (err) {
      if (lenient) return err as ConfigError;
      throw err;
    }
  });
}
