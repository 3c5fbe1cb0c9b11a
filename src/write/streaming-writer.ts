/**
 * A file written from its start (a new file, or O_TRUNC), uploaded while it is written.
 *
 * Bytes appended fill the current part; a full part goes to S3 at once (MultipartUpload, in
 * parallel up to the handle's concurrency, the writer waiting for a slot) and its memory is
 * freed when its upload ended. The first part is the exception: it stays in memory until
 * commit, so a format that rewrites its header at the end (wav, zip's local headers, a length
 * prefix) patches memory instead of forcing a staged copy, and a file that fits in it is one
 * PutObject at commit with no multipart upload at all.
 *
 * What this writer can serve: writes and reads of the bytes still in memory (the first part and
 * the current one), appends, a gap after the end of at most one first part (filled with zeros
 * and streamed: cheaper than staging the whole file), and truncation within the memory it
 * holds. Everything else needs the parts already uploaded, which S3 cannot give back before the
 * upload completes: the handle then commits and stages (write-handle.ts).
 *
 * Memory: the first part grows with the file; every later part reserves its full size before
 * its first byte (8 MiB, then 32 MiB past 8 GiB with the default part size, then up to the
 * schedule's cap: part-schedule.ts).
 * A write that runs out of memory (ENOMEM after the wait) may have stored a prefix of its
 * bytes, as a short write would; the size says how far it got. A write's checks (EFBIG, what
 * memory can serve) come before any byte is changed.
 */
import { FsError } from '../fs-error.js';
import type { ObjectStore, WrittenObject } from '../store/object-store.js';
import { MultipartUpload, type AbortFailed } from './multipart-upload.js';
import { PartBuffer } from './part-buffer.js';
import type { PartSchedule, PartSpan } from './part-schedule.js';
import type { WriteMemory } from './write-memory.js';

export interface StreamingContext {
  readonly store: ObjectStore;
  readonly key: string;
  readonly schedule: PartSchedule;
  readonly memory: WriteMemory;
  readonly concurrency: number;
  /** Fires when the handle is discarded: waits and uploads end. */
  readonly signal: AbortSignal;
  readonly onAbortFailed?: AbortFailed;
}

const ZEROS = Buffer.alloc(1024 * 1024);

export class StreamingWriter {
  private readonly ctx: StreamingContext;
  private sizeBytes = 0;
  private readonly first: PartBuffer;
  private current: PartBuffer;
  private currentPart: PartSpan;
  private upload: MultipartUpload | undefined;
  private spentFlag = false;

  constructor(ctx: StreamingContext) {
    this.ctx = ctx;
    this.currentPart = { number: 1, start: 0, size: ctx.schedule.sizeOf(1) };
    this.first = new PartBuffer(ctx.memory, this.currentPart.size, true);
    this.current = this.first;
  }

  get size(): number {
    return this.sizeBytes;
  }

  /** Whether parts went to S3: then bytes outside memory cannot be read back before commit. */
  get uploadedAny(): boolean {
    return this.upload?.started ?? false;
  }

  /** A part upload that failed while the writer was idle; the handle fails with it. */
  get failure(): { readonly error: unknown } | undefined {
    return this.upload?.failure;
  }

  /** The largest gap after the end that is streamed as zeros (larger gaps are staged). */
  get maxZeroGap(): number {
    return this.ctx.schedule.firstPartBytes;
  }

  canWrite(pos: number, len: number): boolean {
    if (pos > this.sizeBytes) return pos - this.sizeBytes <= this.maxZeroGap;
    return this.inMemory(pos, Math.min(pos + len, this.sizeBytes));
  }

  canRead(pos: number, len: number): boolean {
    return this.inMemory(pos, Math.min(pos + len, this.sizeBytes));
  }

  canTruncate(size: number): boolean {
    if (size >= this.sizeBytes) return size - this.sizeBytes <= this.maxZeroGap;
    // Within the current part, or dropping a second part nothing of which was sent.
    return size >= this.currentPart.start || this.currentPart.number <= 2;
  }

  async write(pos: number, data: Buffer): Promise<void> {
    const end = pos + data.length;
    if (pos < this.sizeBytes) {
      const patchEnd = Math.min(end, this.sizeBytes);
      this.patch(pos, data.subarray(0, patchEnd - pos));
    }
    if (pos > this.sizeBytes) await this.appendZeros(pos - this.sizeBytes);
    if (end > this.sizeBytes) await this.append(data.subarray(this.sizeBytes - pos));
  }

  read(pos: number, len: number): Buffer {
    const end = Math.min(pos + len, this.sizeBytes);
    const out = Buffer.alloc(Math.max(0, end - pos));
    for (const [part, start] of this.memoryParts()) {
      const a = Math.max(pos, start);
      const b = Math.min(end, start + part.length);
      if (a < b) part.bytes.copy(out, a - pos, a - start, b - start);
    }
    return out;
  }

  async truncate(size: number): Promise<void> {
    if (size > this.sizeBytes) return this.appendZeros(size - this.sizeBytes);
    if (size >= this.currentPart.start) {
      this.current.length = size - this.currentPart.start;
    } else {
      // Back into the first part: the second part (never sent) goes.
      if (this.current !== this.first) this.current.release();
      this.current = this.first;
      this.currentPart = { number: 1, start: 0, size: this.ctx.schedule.sizeOf(1) };
      this.first.length = size;
    }
    this.sizeBytes = size;
  }

  /** Copies what is in memory to `write` (when no part was uploaded, a switch to staging needs no commit). */
  async copyTo(write: (pos: number, data: Buffer) => Promise<void>): Promise<void> {
    if (this.uploadedAny) throw new Error('StreamingWriter.copyTo: parts were uploaded');
    for (const [part, start] of this.memoryParts()) if (part.length > 0) await write(start, part.bytes);
  }

  /**
   * Uploads what is left and completes: one PutObject when the file fits in the first part,
   * else the last part and the first one, then CompleteMultipartUpload.
   *
   * After a PUT the writer stays usable (`spent` false): every byte is still in memory and equals
   * the object, so a writer that fsyncs and goes on appending (a log) keeps streaming instead of
   * downloading what it just wrote. After a multipart commit, or a failure (the upload then
   * aborted), it is spent.
   */
  async commit(): Promise<WrittenObject> {
    const { store, key, signal } = this.ctx;
    if (this.upload === undefined && this.sizeBytes <= this.first.capacityLimit) {
      try {
        // The view, not a copy: nothing changes the buffer until the PUT settled.
        return await store.putObject(key, this.first.bytes, signal);
      } catch (err) {
        await this.abort();
        throw err;
      }
    }
    try {
      const upload = this.multipart();
      if (this.current !== this.first && this.current.length > 0) {
        await upload.waitForSlot();
        const last = this.current;
        upload.start(this.currentPart.number, last.bytes, (uploaded) => last.release(uploaded));
      }
      await upload.waitForSlot();
      upload.start(1, this.first.bytes, (uploaded) => this.first.release(uploaded));
      return await upload.complete();
    } finally {
      await this.abort();
    }
  }

  /** Whether the writer can take no more operations (committed in parts, failed, or aborted). */
  get spent(): boolean {
    return this.spentFlag;
  }

  /** Cancels the upload (aborting it in S3) and frees the memory; idempotent. */
  async abort(): Promise<void> {
    this.spentFlag = true;
    await this.upload?.abort();
    this.current.release();
    this.first.release();
  }

  private multipart(): MultipartUpload {
    this.upload ??= new MultipartUpload(this.ctx.store, this.ctx.key, this.ctx.concurrency, this.ctx.signal, this.ctx.onAbortFailed);
    return this.upload;
  }

  /** The parts in memory with their first byte: the first part, and the current one if another. */
  private memoryParts(): [PartBuffer, number][] {
    const parts: [PartBuffer, number][] = [[this.first, 0]];
    if (this.current !== this.first) parts.push([this.current, this.currentPart.start]);
    return parts;
  }

  /** Whether bytes [a, b) of the file are all in memory. */
  private inMemory(a: number, b: number): boolean {
    if (b <= a) return true;
    const holeStart = this.first.length;
    const holeEnd = this.currentPart.start;
    return b <= holeStart || a >= holeEnd || holeEnd <= holeStart;
  }

  private patch(pos: number, data: Buffer): void {
    const end = pos + data.length;
    for (const [part, start] of this.memoryParts()) {
      const a = Math.max(pos, start);
      const b = Math.min(end, start + part.length);
      if (a < b) data.copy(part.raw, a - start, a - pos, b - pos);
    }
  }

  private async appendZeros(n: number): Promise<void> {
    for (let left = n; left > 0;) {
      const chunk = ZEROS.subarray(0, Math.min(left, ZEROS.length));
      await this.append(chunk);
      left -= chunk.length;
    }
  }

  private async append(data: Buffer): Promise<void> {
    let rest = data;
    while (rest.length > 0) {
      const room = this.currentPart.size - this.current.length;
      if (room === 0) {
        await this.nextPart();
        continue;
      }
      const n = Math.min(room, rest.length);
      // No await when the room is there: this runs for every FUSE write.
      if (!this.current.fits(this.current.length + n)) await this.current.ensure(this.current.length + n, this.ctx.signal);
      rest.copy(this.current.raw, this.current.length, 0, n);
      this.current.length += n;
      this.sizeBytes += n;
      rest = rest.subarray(n);
    }
  }

  /** The current part is full: send it (the first part stays), and start the next. */
  private async nextPart(): Promise<void> {
    const full = this.currentPart;
    if (full.number >= this.ctx.schedule.partAt(this.ctx.schedule.maxObjectBytes - 1).number) {
      throw new FsError('EFBIG', `${this.ctx.key}: past the largest object an upload can hold (${this.ctx.schedule.maxObjectBytes} bytes)`);
    }
    if (full.number >= 2) {
      const upload = this.multipart();
      await upload.waitForSlot();
      const sent = this.current;
      upload.start(full.number, sent.bytes, (uploaded) => sent.release(uploaded));
    }
    const number = full.number + 1;
    this.currentPart = { number, start: full.start + full.size, size: this.ctx.schedule.sizeOf(number) };
    this.current = new PartBuffer(this.ctx.memory, this.currentPart.size, false);
  }
}
