/**
 * The memory of one part being filled, reserved in WriteMemory before the bytes are copied in.
 * A part that may stay small (the first one: most files are small) grows by doubling, so a
 * 100-byte file holds 64 KiB rather than a whole part; later parts fill completely and reserve
 * their full size at once.
 */
import type { WriteMemory } from './write-memory.js';

const FIRST_CAPACITY = 64 * 1024;

export class PartBuffer {
  /** Bytes of the part filled so far. */
  length = 0;
  private buf: Buffer = Buffer.alloc(0);
  private held = 0;
  private readonly memory: WriteMemory;
  /** The full size of the part. */
  readonly capacityLimit: number;
  private readonly grows: boolean;

  constructor(memory: WriteMemory, capacityLimit: number, grows: boolean) {
    this.memory = memory;
    this.capacityLimit = capacityLimit;
    this.grows = grows;
  }

  /** The filled bytes (a view: valid until the next change). */
  get bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  /** The whole allocation, for copying into. */
  get raw(): Buffer {
    return this.buf;
  }

  /** Whether `capacity` bytes fit without `ensure` (every write but the one that starts a buffer). */
  fits(capacity: number): boolean {
    return capacity <= this.held;
  }

  /** Makes room for `capacity` bytes, reserving the memory first (may wait, may ENOMEM). */
  async ensure(capacity: number, signal?: AbortSignal): Promise<void> {
    if (capacity <= this.held) return;
    const target = this.grows ? Math.min(this.capacityLimit, Math.max(capacity, this.held * 2, FIRST_CAPACITY)) : this.capacityLimit;
    if (this.held === 0) {
      // A whole buffer at once: a spare one may serve (WriteMemory reuses part buffers).
      this.buf = await this.memory.takeBuffer(target, signal);
      this.held = target;
      return;
    }
    await this.memory.acquire(target - this.held, signal);
    const next = Buffer.allocUnsafe(target);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
    this.held = target;
  }

  /**
   * Gives the memory back; idempotent. The buffer must no longer be in use; `reusable`: no one
   * may still read it (an upload that failed or was cancelled might), so it may serve another part.
   */
  release(reusable = false): void {
    if (this.held > 0) {
      if (this.buf.length === this.held) this.memory.giveBack(this.buf, reusable);
      else this.memory.release(this.held);
    }
    this.held = 0;
    this.length = 0;
    this.buf = Buffer.alloc(0);
  }
}
