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

/**
 * Every open handle holds one, so it holds no more than it must: the identity string is built
 * when asked (a few concatenations per read) rather than kept per handle.
 */
class Ref implements ObjectRef {
  constructor(
    readonly store: ObjectStore,
    readonly key: string,
    readonly etag: string,
    readonly size: number,
  ) {}

  get id(): string {
    return `${this.store.label}\0${this.key}\0${this.etag}`;
  }
}

export function objectRef(store: ObjectStore, key: string, etag: string, size: number): ObjectRef {
  return new Ref(store, key, etag, size);
}
