/**
 * One multipart upload in flight: parts go up in parallel (at most `concurrency` at once, the
 * caller waiting for a slot: backpressure), the upload is created with the first part that needs
 * it, and it ends either completed or aborted, never left behind.
 *
 * A part that fails does not reject anything the caller is not awaiting (a writer may be idle
 * while its parts upload): the first failure is kept and thrown by the next `waitForSlot` or
 * `complete`. It also cancels the parts still in flight, and `abort` waits for them to settle
 * before it sends AbortMultipartUpload, so no part lands after the abort (S3 would keep it).
 */
import type { ObjectStore, UploadedPart, WrittenObject } from '../store/object-store.js';

/** Told of an upload S3 still holds because its abort failed (after the store's retries). */
export type AbortFailed = (key: string, uploadId: string, err: unknown) => void;

export class MultipartUpload {
  private readonly store: ObjectStore;
  private readonly key: string;
  private readonly concurrency: number;
  private readonly controller = new AbortController();
  private uploadId: Promise<string> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly parts = new Map<number, string>();
  private failed: { readonly error: unknown } | undefined;
  private ended = false;
  private unlisten: () => void = () => undefined;

  constructor(
    store: ObjectStore,
    key: string,
    concurrency: number,
    signal?: AbortSignal,
    private readonly onAbortFailed: AbortFailed = () => undefined,
  ) {
    this.store = store;
    this.key = key;
    this.concurrency = Math.max(1, Math.floor(concurrency));
    if (signal?.aborted) this.controller.abort();
    else if (signal !== undefined) {
      // Removed when the upload ends: a handle's signal outlives many uploads.
      const onAbort = (): void => this.controller.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.unlisten = () => signal.removeEventListener('abort', onAbort);
    }
  }

  /** The first failure of a part (or of creating the upload), if any. */
  get failure(): { readonly error: unknown } | undefined {
    return this.failed;
  }

  /** Whether any part was handed to S3 (then the bytes can only be read back after completion). */
  get started(): boolean {
    return this.uploadId !== undefined;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Resolves when another part may start; throws the first failure. */
  async waitForSlot(): Promise<void> {
    while (this.inFlight.size >= this.concurrency && this.failed === undefined) await Promise.race(this.inFlight);
    if (this.failed !== undefined) throw this.failed.error;
  }

  /**
   * Starts uploading part `partNumber`; `body` must not change until `onSettled`, which is
   * called once the upload ended either way (the caller frees the body's memory there), with
   * whether it succeeded (only then is the body surely no longer read).
   */
  start(partNumber: number, body: Buffer, onSettled: (uploaded: boolean) => void): void {
    if (this.ended) throw new Error(`MultipartUpload ${this.key}: part ${partNumber} after the upload ended`);
    const signal = this.controller.signal;
    this.uploadId ??= this.store.createMultipartUpload(this.key, signal);
    const upload = this.uploadId
      .then((id) => this.store.uploadPart(this.key, id, partNumber, body, signal))
      .then(
        (etag) => {
          this.parts.set(partNumber, etag);
          return true;
        },
        (err: unknown) => {
          this.fail(err);
          return false;
        },
      )
      .then((uploaded) => {
        this.inFlight.delete(upload);
        // Never a rejection no one awaits: a failing callback fails the upload instead.
        try {
          onSettled(uploaded);
        } catch (err) {
          this.fail(err);
        }
      });
    this.inFlight.add(upload);
  }

  /** Waits for every part, then completes; on any failure aborts the upload and throws. */
  async complete(): Promise<WrittenObject> {
    await this.settleAll();
    if (this.failed !== undefined) {
      const { error } = this.failed;
      await this.abort();
      throw error;
    }
    const id = await (this.uploadId as Promise<string>);
    const parts: UploadedPart[] = [...this.parts.entries()].sort((a, b) => a[0] - b[0]).map(([partNumber, etag]) => ({ partNumber, etag }));
    try {
      const written = await this.store.completeMultipartUpload(this.key, id, parts, this.controller.signal);
      this.ended = true;
      this.unlisten();
      return written;
    } catch (err) {
      this.fail(err);
      await this.abort();
      throw err;
    }
  }

  /** Cancels the parts in flight, waits for them, and aborts the upload in S3; idempotent. */
  async abort(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.unlisten();
    this.controller.abort();
    await this.settleAll();
    const id = await this.uploadId?.catch(() => undefined);
    if (id === undefined) return;
    // The upload's parts cost storage until aborted. A failed abort is reported (key and upload
    // id, for an operator or the bucket's lifecycle rule), never thrown: the original error is
    // what the writer must see.
    await this.store.abortMultipartUpload(this.key, id).catch((err: unknown) => this.onAbortFailed(this.key, id, err));
  }

  private fail(err: unknown): void {
    this.failed ??= { error: err };
    this.controller.abort();
  }

  private async settleAll(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }
}
