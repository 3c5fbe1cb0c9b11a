/**
 * The operations that change a bucket: create, write, flush, fsync, truncate, unlink, mkdir,
 * rmdir, rename. Bytes go through the path's OpenFile (open-files.ts); names change in S3 at
 * once (a marker object, a delete, copies) and in the namespace's caches with them. A read-only
 * bucket answers EROFS itself (a mount whose buckets are all read-only is `ro` in the kernel,
 * which answers without asking), and so do the folders above the buckets.
 */
import type { ObjectStore } from '../store/object-store.js';
import { FsError } from './errno.js';
import type { LiveBucket, LiveBuckets } from './live-buckets.js';
import { hasOpenFilesBelow, type OpenFiles } from './open-files.js';

/** Objects a folder rename copies at most; a larger folder answers EXDEV and `mv` copies by itself. */
export const RENAME_FOLDER_LIMIT = 1000;
/** Copies of a folder rename in flight at once. */
const RENAME_CONCURRENCY = 8;

const EMPTY = Buffer.alloc(0);

export class WriteOperations {
  constructor(
    private readonly buckets: LiveBuckets,
    private readonly files: OpenFiles,
  ) {}

  /**
   * A new file (the kernel asks only after its own lookup found none). A name that exists in S3
   * after all (another node made it since) is opened as it is, not emptied: create is not O_TRUNC.
   */
  async create(path: string): Promise<number> {
    const { bucket, rel } = this.writableAt(path);
    const open = bucket.openFiles.get(rel);
    if (open) return this.files.handle(open, true);
    const entry = await this.buckets.namespaceOf(bucket, path).lookup(rel).catch(this.buckets.unlessGone(bucket, path));
    if (entry?.kind === 'dir') throw new FsError('EISDIR', `${path}: is a directory`);
    return this.files.handle(this.files.open(bucket, rel, entry, entry === undefined), true);
  }

  /** Writes `data` at `pos`; resolves with the byte count (all of it, or an errno). */
  async write(fd: number, pos: number, data: Buffer): Promise<number> {
    const h = this.files.handleOf(fd);
    if (!h.writable) throw new FsError('EBADF', `handle ${fd} is not open for writing`);
    await this.files.write(h.file, pos, data);
    return data.length;
  }

  /**
   * close() of one descriptor, and fsync: a writer's bytes go to S3 now, and its errno comes
   * back. A file nobody wrote to yet (just created, or opened with O_TRUNC) waits for its last
   * release instead: a shell's `> f` and dd open, dup2 and close the first descriptor before the
   * first write, and committing there would upload an empty object that a failed upload later
   * leaves behind.
   */
  async flush(fd: number): Promise<void> {
    const h = this.files.get(fd);
    if (!h?.writable || !h.file.touched) return; // a reader's close, or nothing written yet: nothing to commit
    await this.files.commit(h.file);
  }

  /** fsync: what the file holds goes to S3 now, written to or not. */
  async fsync(fd: number): Promise<void> {
    const h = this.files.get(fd);
    if (h?.writable) await this.files.commit(h.file);
  }

  /** ftruncate: through the handle's OpenFile. */
  async ftruncate(fd: number, size: number): Promise<void> {
    const h = this.files.handleOf(fd);
    if (!h.writable) throw new FsError('EBADF', `handle ${fd} is not open for writing`);
    await this.files.truncate(h.file, size);
  }

  /** truncate(2) by path: the OpenFile when the path is open, else a change committed at once. */
  async truncate(path: string, size: number): Promise<void> {
    const { bucket, rel } = this.writableAt(path);
    if (size < 0) throw new FsError('EINVAL', `${path}: negative size`);
    const open = bucket.openFiles.get(rel);
    if (open) return this.files.truncate(open, size);
    const entry = await this.buckets.namespaceOf(bucket, path).lookup(rel).catch(this.buckets.unlessGone(bucket, path));
    if (!entry) throw new FsError('ENOENT', `${path}: no such file or directory`);
    if (entry.kind === 'dir') throw new FsError('EISDIR', `${path}: is a directory`);
    if (size === entry.size) return;
    const fd = this.files.handle(this.files.open(bucket, rel, entry, size === 0), true);
    try {
      await this.ftruncate(fd, size);
      await this.flush(fd);
    } finally {
      await this.files.release(fd);
    }
  }

  async unlink(path: string): Promise<void> {
    const { bucket, rel } = this.writableAt(path);
    const open = bucket.openFiles.get(rel);
    const entry = await this.buckets.namespaceOf(bucket, path).lookup(rel).catch(this.buckets.unlessGone(bucket, path));
    if (entry?.kind === 'dir') throw new FsError('EISDIR', `${path}: is a directory`);
    if (!entry && !open) throw new FsError('ENOENT', `${path}: no such file or directory`);
    if (open) {
      open.unlinked = true;
      bucket.openFiles.delete(rel);
    }
    if (entry) await (bucket.store as ObjectStore).deleteObject(entry.key);
    this.buckets.namespaceOf(bucket, path).noteGone(rel);
  }

  /** A `dir/` marker object, so that the empty folder exists for every node. */
  async mkdir(path: string): Promise<void> {
    const { bucket, rel } = this.writableAt(path);
    if (rel === '' || bucket.openFiles.has(rel)) throw new FsError('EEXIST', `${path}: file exists`);
    const namespace = this.buckets.namespaceOf(bucket, path);
    if (await namespace.lookup(rel).catch(this.buckets.unlessGone(bucket, path))) throw new FsError('EEXIST', `${path}: file exists`);
    await (bucket.store as ObjectStore).putObject(`${bucket.mount.prefix}${rel}/`, EMPTY);
    namespace.noteDir(rel, true);
  }

  async rmdir(path: string): Promise<void> {
    const { bucket, rel } = this.writableAt(path);
    if (rel === '') throw new FsError('EBUSY', `${path}: the folder of a mount cannot be removed`);
    const namespace = this.buckets.namespaceOf(bucket, path);
    const entry = await namespace.lookup(rel).catch(this.buckets.unlessGone(bucket, path));
    if (!entry) throw new FsError('ENOENT', `${path}: no such file or directory`);
    if (entry.kind !== 'dir') throw new FsError('ENOTDIR', `${path}: not a directory`);
    const marker = `${bucket.mount.prefix}${rel}/`;
    if (hasOpenFilesBelow(bucket, rel) || !(await isEmptyFolder(bucket.store as ObjectStore, marker))) {
      throw new FsError('ENOTEMPTY', `${path}: directory not empty`);
    }
    await (bucket.store as ObjectStore).deleteObject(marker);
    namespace.noteGone(rel);
  }

  /**
   * A file: server-side copy, then delete (not atomic: for a moment both names exist; a failure
   * between the two leaves both). A folder of up to RENAME_FOLDER_LIMIT objects: each object
   * so, all copies before any delete; a larger one answers EXDEV, so `mv` copies and deletes by
   * itself. A file being written is committed first, and keeps being written at its new name.
   */
  async rename(from: string, to: string): Promise<void> {
    const src = this.writableAt(from);
    const dst = this.writableAt(to);
    if (src.bucket !== dst.bucket) throw new FsError('EXDEV', `${from} → ${to}: rename across mounts`);
    const { bucket } = src;
    if (src.rel === dst.rel) return;
    if (src.rel === '' || dst.rel === '') throw new FsError('EBUSY', `${from} → ${to}: the folder of a mount cannot be renamed`);
    if (dst.rel.startsWith(`${src.rel}/`)) throw new FsError('EINVAL', `${from} → ${to}: a folder cannot move into itself`);
    const namespace = this.buckets.namespaceOf(bucket, from);
    const store = bucket.store as ObjectStore;
    const open = bucket.openFiles.get(src.rel);
    if (open) await this.files.commit(open);
    const [source, target] = await Promise.all([namespace.lookup(src.rel), namespace.lookup(dst.rel)]).catch(this.buckets.unlessGone(bucket, from));
    if (!source) throw new FsError('ENOENT', `${from}: no such file or directory`);
    if (source.kind === 'file') {
      if (target?.kind === 'dir') throw new FsError('EISDIR', `${to}: is a directory`);
      if (bucket.openFiles.has(dst.rel)) throw new FsError('EBUSY', `${to}: open for writing`);
      const dstKey = `${bucket.mount.prefix}${dst.rel}`;
      const written = await store.copyObject({ key: source.key, etag: source.etag, size: source.size }, dstKey);
      namespace.noteFile(dst.rel, { size: source.size, etag: written.etag, mtimeMs: written.mtimeMs });
      // The open file moves before the delete: a write arriving meanwhile goes to the new name.
      if (open && !open.unlinked) {
        await open.writer.moveTo(dstKey, { size: source.size, etag: written.etag });
        bucket.openFiles.delete(src.rel);
        open.rel = dst.rel;
        bucket.openFiles.set(dst.rel, open);
      }
      await store.deleteObject(source.key);
      namespace.noteGone(src.rel);
      return;
    }
    if (target?.kind === 'file') throw new FsError('ENOTDIR', `${to}: not a directory`);
    if (hasOpenFilesBelow(bucket, src.rel)) throw new FsError('EBUSY', `${from}: files in it are open for writing`);
    const [srcPrefix, dstPrefix] = [`${bucket.mount.prefix}${src.rel}/`, `${bucket.mount.prefix}${dst.rel}/`];
    if (target && !(await isEmptyFolder(store, dstPrefix))) throw new FsError('ENOTEMPTY', `${to}: directory not empty`);
    const objects = await folderObjects(store, srcPrefix, from);
    await inBatches(objects, RENAME_CONCURRENCY, (o) =>
      store.copyObject({ key: o.key, etag: o.etag, size: o.size }, dstPrefix + o.key.slice(srcPrefix.length)),
    );
    await inBatches(objects, RENAME_CONCURRENCY, (o) => store.deleteObject(o.key));
    namespace.forgetTree(src.rel);
    namespace.forgetTree(dst.rel);
    namespace.noteGone(src.rel);
    namespace.noteDir(dst.rel, false);
  }

  /** EROFS for a read-only mount; an unavailable one's error; ENOENT once it was removed. */
  writable(bucket: LiveBucket, path: string): void {
    this.buckets.namespaceOf(bucket, path);
    if (bucket.mount.readOnly) throw new FsError('EROFS', `${path}: mount "${bucket.mount.name}" is read-only`);
    if (!this.buckets.isLive(bucket)) throw new FsError('ENOENT', `${path}: no such file or directory (its mount was removed)`);
  }

  /** The bucket and relative path of `path` for a change: EROFS where nothing may change. */
  private writableAt(path: string): { bucket: LiveBucket; rel: string } {
    const r = this.buckets.resolve(path);
    if (r.kind === 'none') {
      // A name beside the buckets' folders (or in a folder above them) cannot be made.
      throw new FsError(path === '/' || this.buckets.resolve(parentOf(path)).kind === 'virtual' ? 'EROFS' : 'ENOENT', `${path}: cannot be changed here`);
    }
    if (r.kind === 'virtual') throw new FsError('EROFS', `${path}: the folders above the mounts are read-only`);
    this.writable(r.value, path);
    return { bucket: r.value, rel: r.rel };
  }
}

/** Whether nothing but the folder's own marker is under `prefix` (one LIST of 2 keys). */
async function isEmptyFolder(store: ObjectStore, prefix: string): Promise<boolean> {
  const page = await store.list({ prefix, maxKeys: 2 });
  return page.prefixes.length === 0 && page.objects.every((o) => o.key === prefix);
}

/** Every object under `prefix`, or EXDEV past RENAME_FOLDER_LIMIT. */
async function folderObjects(store: ObjectStore, prefix: string, path: string): Promise<{ key: string; etag: string; size: number }[]> {
  const out: { key: string; etag: string; size: number }[] = [];
  let token: string | undefined;
  do {
    const page = await store.list({ prefix, maxKeys: 1000, ...(token !== undefined ? { continuationToken: token } : {}) });
    out.push(...page.objects);
    if (out.length > RENAME_FOLDER_LIMIT) {
      throw new FsError('EXDEV', `${path}: a folder of more than ${RENAME_FOLDER_LIMIT} objects is not renamed in S3 (mv then copies it)`);
    }
    token = page.nextToken;
  } while (token !== undefined);
  return out;
}

/** Runs `fn` over `items`, at most `concurrency` at a time; rejects with the first failure. */
async function inBatches<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}
