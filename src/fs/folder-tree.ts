/**
 * Where each bucket sits inside the one FUSE mount. With a single root bucket every path belongs
 * to it; with several, each bucket owns a folder and the folders above them are read-only
 * virtual directories that exist only to lead there. Buckets come and go while the mount
 * serves (a config reload): `put` and `remove` change the tree in one synchronous step, so no
 * lookup ever sees a half-changed tree. No buckets at all: `/` is an empty directory.
 */
export interface Placed<T> {
  readonly folder: readonly string[];
  readonly value: T;
}

export type Resolved<T> =
  | { readonly kind: 'virtual'; readonly children: readonly string[] }
  | { readonly kind: 'bucket'; readonly value: T; readonly rel: string }
  | { readonly kind: 'none' };

interface Node<T> {
  value?: T;
  readonly children: Map<string, Node<T>>;
}

export class FolderTree<T> {
  private readonly root: Node<T> = { children: new Map() };

  constructor(placed: readonly Placed<T>[] = []) {
    for (const p of placed) this.put(p.folder, p.value);
  }

  /**
   * Places `value` at `folder`, replacing what is there. A folder inside another bucket's, or
   * one with buckets below it, is a programming error (the caller checks the layout first).
   */
  put(folder: readonly string[], value: T): void {
    // Checked before anything changes, so that a refused put leaves the tree as it was.
    let existing: Node<T> | undefined = this.root;
    for (const seg of folder) {
      if (existing.value !== undefined) throw new Error(`folder /${folder.join('/')} is inside another bucket's folder`);
      existing = existing.children.get(seg);
      if (!existing) break;
    }
    if (existing && existing.children.size > 0) throw new Error(`folder /${folder.join('/')} has other buckets' folders inside it`);
    let node = this.root;
    for (const seg of folder) {
      let next = node.children.get(seg);
      if (!next) {
        next = { children: new Map() };
        node.children.set(seg, next);
      }
      node = next;
    }
    node.value = value;
  }

  /** Takes the bucket at `folder` out, with the virtual folders that led only to it. */
  remove(folder: readonly string[]): void {
    const path: Node<T>[] = [this.root];
    for (const seg of folder) {
      const next = path[path.length - 1]?.children.get(seg);
      if (!next) return;
      path.push(next);
    }
    const node = path[path.length - 1] as Node<T>;
    delete node.value;
    for (let i = folder.length; i > 0; i--) {
      const n = path[i] as Node<T>;
      if (n.value !== undefined || n.children.size > 0) break;
      (path[i - 1] as Node<T>).children.delete(folder[i - 1] as string);
    }
  }

  /** What is placed at exactly `folder`, if anything. */
  at(folder: readonly string[]): T | undefined {
    let node: Node<T> | undefined = this.root;
    for (const seg of folder) node = node?.children.get(seg);
    return node?.value;
  }

  /** `path` is what FUSE passes: `/` or `/a/b`. */
  resolve(path: string): Resolved<T> {
    const segs = path === '/' ? [] : path.slice(1).split('/');
    let node = this.root;
    for (let i = 0; ; i++) {
      if (node.value !== undefined) return { kind: 'bucket', value: node.value, rel: segs.slice(i).join('/') };
      if (i === segs.length) return { kind: 'virtual', children: [...node.children.keys()].sort() };
      const next = node.children.get(segs[i] as string);
      if (!next) return { kind: 'none' };
      node = next;
    }
  }
}
