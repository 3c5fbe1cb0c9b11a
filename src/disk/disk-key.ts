/**
 * What a block on disk is a block of, and where its file goes.
 *
 * The identity is everything that could make two blocks of "the same" object differ: the store
 * (endpoint and bucket: the caller's label), the key, the etag, the size, and the block size the
 * object was cut with. A new version of an object has another etag (or size), so it can never be
 * served an old block; a block cut at another block size never stands in for this one. The file
 * name is a hash of the identity (keys are up to 1 KiB of any bytes: not a file name), and the
 * file's header carries the identity in full, checked on every read, so a hash collision is a
 * miss, never wrong bytes.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';

export interface DiskKey {
  /** The store the object is in: endpoint and bucket (ObjectStore.label, or more). */
  readonly store: string;
  readonly key: string;
  readonly etag: string;
  readonly size: number;
}

/** The identity bytes a block file's header must carry. */
export function identityOf(k: DiskKey, blockSize: number): Buffer {
  return Buffer.from(`${blockSize}\0${k.store}\0${k.key}\0${k.etag}\0${k.size}`, 'utf8');
}

/** Suffix of every finished block file; temporary files end in `.tmp` (see isOurFile). */
export const BLOCK_SUFFIX = '.blk';
export const TEMP_SUFFIX = '.tmp';

/**
 * `<2 hex>/<32 hex>.<index>.blk`, relative to the store's folder: 256 subfolders, so that no
 * folder holds a million entries.
 */
export function blockFileName(identity: Buffer, index: number): string {
  const h = createHash('sha256').update(identity).digest('hex').slice(0, 32);
  return path.join(h.slice(0, 2), `${h}.${index}${BLOCK_SUFFIX}`);
}

const OURS = /^[0-9a-f]{32}\.\d+\.blk(\.\d+\.tmp)?$/;

/** Whether a file name in a subfolder is one this module writes (the only files it ever removes). */
export function isOurFile(name: string): boolean {
  return OURS.test(name);
}

/** The folder of one mount source under the cache folder: a hash of the source, never its text. */
export function sourceFolderName(sourceId: string): string {
  return `fluid-s3-fuse-${createHash('sha256').update(sourceId).digest('hex').slice(0, 24)}`;
}
