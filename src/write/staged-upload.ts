/**
 * Moving whole objects between S3 and a staging file: the download that starts a staged edit
 * and the upload that commits it.
 *
 * Both go in pieces of at most one part, each piece's memory reserved in WriteMemory first, so
 * staging a 50 GiB file needs no more memory than streaming one. The download asks for the
 * version the handle knows (If-Match): an object changed since is ESTALE, never a mix.
 */
import { FsError } from '../fs-error.js';
import type { ObjectStore, WrittenObject } from '../store/object-store.js';
import { StoreError } from '../store/store-error.js';
import { MultipartUpload, type AbortFailed } from './multipart-upload.js';
import type { PartSchedule } from './part-schedule.js';
import type { StagingFile } from './staging-area.js';
import type { WriteMemory } from './write-memory.js';

export interface TransferContext {
  readonly store: ObjectStore;
  /** Changes when the file is renamed while open (WriteHandle.moveTo). */
  key: string;
  readonly schedule: PartSchedule;
  readonly memory: WriteMemory;
  readonly concurrency: number;
  readonly signal: AbortSignal;
  readonly onAbortFailed?: AbortFailed;
}

/** Bytes [start, end) of the object version `etag`, into memory the caller frees. */
export async function readObjectRange(ctx: Pick<TransferContext, 'store' | 'key' | 'signal'>, etag: string, start: number, end: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(end - start);
  let filled = 0;
  try {
    await ctx.store.readRange({ key: ctx.key, start, end, etag, signal: ctx.signal }, (chunk) => {
      chunk.copy(out, filled);
      filled += chunk.length;
    });
  } catch (err) {
    if (err instanceof StoreError && err.kind === 'precondition-failed') {
      throw new FsError('ESTALE', `${ctx.key} changed in S3 since it was opened for writing`, { cause: err });
    }
    throw err;
  }
  if (filled !== out.length) throw new FsError('EIO', `${ctx.key}: the store delivered ${filled} of ${out.length} bytes`);
  return out;
}

/**
 * Copies the object (`size` bytes, version `etag`) into `file`: pieces of one first part, up to
 * `concurrency` GETs at once (one GET at a time is bound by latency, not bandwidth).
 */
export async function downloadInto(ctx: TransferContext, etag: string, size: number, file: StagingFile): Promise<void> {
  // Reserve the whole size first: a staged copy that cannot fit fails before any download.
  await file.truncate(size);
  const step = ctx.schedule.firstPartBytes;
  let next = 0;
  let failed = false;
  const fetchPieces = async (): Promise<void> => {
    while (next < size && !failed) {
      const start = next;
      const end = Math.min(size, start + step);
      next = end;
      try {
        await ctx.memory.acquire(end - start, ctx.signal);
        try {
          await file.write(start, await readObjectRange(ctx, etag, start, end));
        } finally {
          ctx.memory.release(end - start);
        }
      } catch (err) {
        failed = true; // the others stop after their piece
        throw err;
      }
    }
  };
  const workers = Math.max(1, Math.min(ctx.concurrency, Math.ceil(size / step)));
  const results = await Promise.allSettled(Array.from({ length: workers }, fetchPieces));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
}

/** Uploads `file` as the object: one PutObject when it fits one part, else a multipart upload. */
export async function uploadFrom(ctx: TransferContext, file: StagingFile): Promise<WrittenObject> {
  const size = file.size;
  const { store, key, memory, signal } = ctx;
  if (size <= ctx.schedule.firstPartBytes) {
    await memory.acquire(size, signal);
    try {
      return await store.putObject(key, await file.read(0, size), signal);
    } finally {
      memory.release(size);
    }
  }
  const upload = new MultipartUpload(store, key, ctx.concurrency, signal, ctx.onAbortFailed);
  try {
    for (const part of ctx.schedule.partsOf(size)) {
      await upload.waitForSlot();
      await memory.acquire(part.size, signal);
      let body: Buffer;
      try {
        body = await file.read(part.start, part.size);
      } catch (err) {
        memory.release(part.size);
        throw err;
      }
      upload.start(part.number, body, () => memory.release(part.size));
    }
  } catch (err) {
    await upload.abort();
    throw err;
  }
  return upload.complete();
}
