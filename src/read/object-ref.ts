import type { ObjectStore } from '../store/object-store.js';

/** One version of one object, as seen when a handle was opened. */
export interface ObjectRef {
  readonly store: ObjectStore;
  readonly key: string;
  readonly etag: string;
  readonly size: number;
  /** Cache identity: store, key and etag. */
  readonly id: string;
}

export function objectRef(store: ObjectStore, key: string, etag: string, size: number): ObjectRef {
  return { store, key, etag, size, id: `${store.label}\0${key}\0${etag}` };
}
