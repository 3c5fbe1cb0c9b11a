/**
 * Where each bucket sits inside the one FUSE mount. With a single root bucket every path belongs
 * to it; with several, each bucket owns a folder and the folders above them are read-only
 * virtual directories that exist only to lead there.
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

  constructor(placed: readonly Placed<T>[]) {
    for (const p of placed) {
      let node = this.root;
      for (const seg of p.folder) {
        let next = node.children.get(seg);
        if (!next) {
          next = { children: new Map() };
          node.children.set(seg, next);
        }
        node = next;
      }
      node.value = p.value;
    }
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
