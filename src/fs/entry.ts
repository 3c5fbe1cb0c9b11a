/** What the namespace knows about one name. */
export interface FileEntry {
  readonly kind: 'file';
  /** Full key in the bucket. */
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly mtimeMs: number;
}

export interface DirEntry {
  readonly kind: 'dir';
  readonly mtimeMs: number;
}

export type Entry = FileEntry | DirEntry;

/** One row of a directory listing. */
export interface DirChild {
  readonly name: string;
  readonly entry: Entry;
}

const MAX_NAME_BYTES = 255;

/**
 * Whether an object-key segment can be shown as a file name. Keys S3 allows but a filesystem
 * cannot show as they are (`.`, `..`, empty segments from `//`, control characters such as a
 * newline that break `ls` output and scripts, over 255 bytes) are skipped.
 */
export function nameProblem(name: string): string | undefined {
  if (name === '') return 'empty path segment';
  if (name === '.' || name === '..') return `"${name}" is reserved`;
  // eslint-disable-next-line no-control-regex -- control characters are what this looks for
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'contains a control character';
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) return `longer than ${MAX_NAME_BYTES} bytes`;
  return undefined;
}
