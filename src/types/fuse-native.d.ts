// The part of fuse-native's API this project uses (the package ships no types).
declare module 'fuse-native' {
  interface FuseOptions {
    force?: boolean;
    mkdir?: boolean;
    allowOther?: boolean;
    defaultPermissions?: boolean;
    autoCache?: boolean;
    fsname?: string;
    subtype?: string;
    entryTimeout?: number;
    attrTimeout?: number;
    maxRead?: number;
    debug?: boolean;
    /** Per-operation timeout in ms (fuse-native answers ETIMEDOUT after it); false disables. */
    timeout?: number | false;
  }
  class Fuse {
    constructor(mnt: string, ops: Record<string, (...args: never[]) => void>, opts?: FuseOptions);
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
  }
  export = Fuse;
}
