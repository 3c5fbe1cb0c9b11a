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
    /**
     * Timeout in ms after which fuse-native answers ETIMEDOUT; false disables. An object gives
     * one per operation name, `default` for the others.
     */
    timeout?: number | false | ({ default?: number } & Record<string, number | false | undefined>);
  }
  class Fuse {
    constructor(mnt: string, ops: Record<string, (...args: never[]) => void>, opts?: FuseOptions);
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
  }
  export = Fuse;
}
