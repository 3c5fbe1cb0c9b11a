/**
 * What the write-layer tests share: a MemoryStore with small parts (minPartBytes lowered), a
 * fault store around it, a WriteMemory over a plain budget, a staging area in a temp folder, and
 * a handle factory.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StagingArea } from '../../../../src/write/staging-area.js';
import { WriteHandle, type WriteHandleOptions } from '../../../../src/write/write-handle.js';
import { type SharedBudget, WriteMemory, type WriteMemoryOptions } from '../../../../src/write/write-memory.js';
import { FaultStore } from '../../helpers/fault-store.js';
import { MemoryStore } from '../../helpers/memory-store.js';

export const KiB = 1024;
export const PART = 4 * KiB;

/** A byte budget as BlockCache keeps it, without blocks: reservations only. */
export class PlainBudget implements SharedBudget {
  reservedBytes = 0;
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }
  reserve(bytes: number): void {
    this.reservedBytes += bytes;
  }
  unreserve(bytes: number): void {
    this.reservedBytes = Math.max(0, this.reservedBytes - bytes);
  }
}

export interface Setup {
  readonly mem: MemoryStore;
  readonly store: FaultStore;
  readonly budget: PlainBudget;
  readonly memory: WriteMemory;
  readonly parentDir: string;
  staging: StagingArea | undefined;
  handle(key: string, opts?: Partial<WriteHandleOptions>): WriteHandle;
  /** The stored object's bytes (undefined: none). */
  object(key: string): Buffer | undefined;
  /** Names in the staging area's folder (files are unlinked once open: normally none). */
  stagingFiles(): Promise<string[]>;
  cleanup(): Promise<void>;
}

export async function setup(
  opts: { partBytes?: number; budgetBytes?: number; stagingBytes?: number | null; memory?: Partial<WriteMemoryOptions> } = {},
): Promise<Setup> {
  const partBytes = opts.partBytes ?? PART;
  const mem = new MemoryStore();
  mem.minPartBytes = partBytes;
  const store = new FaultStore(mem);
  const budget = new PlainBudget(opts.budgetBytes ?? 64 * 1024 * KiB);
  const memory = new WriteMemory(budget, { maxWaitMs: 1_000, ...opts.memory });
  const parentDir = await mkdtemp(join(tmpdir(), 'write-layer-test-'));
  const staging = opts.stagingBytes === null ? undefined : await StagingArea.open(parentDir, opts.stagingBytes ?? 64 * 1024 * KiB);
  const s: Setup = {
    mem,
    store,
    budget,
    memory,
    parentDir,
    staging,
    handle: (key, o = {}) => {
      const existing = mem.objects.get(key);
      return new WriteHandle({
        store,
        key,
        base: existing ? { size: existing.data.length, etag: existing.etag } : undefined,
        truncate: false,
        memory,
        staging: s.staging,
        partSizeBytes: partBytes,
        ...o,
      });
    },
    object: (key) => mem.objects.get(key)?.data,
    stagingFiles: async () => (s.staging ? readdir(s.staging.dir) : []),
    cleanup: async () => {
      await s.staging?.close();
      await rm(parentDir, { recursive: true, force: true });
    },
  };
  return s;
}

/** Bytes whose every position differs from its neighbours' (so a misplaced byte shows). */
export function bytes(len: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (i * 7 + seed * 13 + (i >>> 8)) & 0xff;
  return b;
}

/** Records every uploadPart call's part number and body size. */
export function recordParts(store: FaultStore): { partNumber: number; bytes: number }[] {
  const parts: { partNumber: number; bytes: number }[] = [];
  const origin = store.uploadPart.bind(store);
  store.uploadPart = (key, uploadId, partNumber, body, signal) => {
    parts.push({ partNumber, bytes: body.length });
    return origin(key, uploadId, partNumber, body, signal);
  };
  return parts;
}
