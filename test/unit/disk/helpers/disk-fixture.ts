/** Shared pieces of the disk cache tests: keys, blocks of known bytes, folder walks, failing io. */
import fs from 'node:fs';
import path from 'node:path';
import { DiskBlockCache, type DiskBlockCacheOptions } from '../../../../src/disk/disk-block-cache.js';
import type { DiskIo } from '../../../../src/disk/disk-io.js';
import { nodeDiskIo } from '../../../../src/disk/disk-io.js';
import type { DiskKey } from '../../../../src/disk/disk-key.js';
import { ramp } from '../../helpers/memory-store.js';

export const BS = 64 * 1024;

/** A key of an object of `blocks` whole blocks. */
export function keyOf(name: string, blocks = 16, etag = '"e1"'): DiskKey {
  return { store: 's3://bucket@http://minio:9000', key: name, etag, size: blocks * BS };
}

/** The bytes of block `index` of an object made of ramp bytes (the seed tells objects apart). */
export function blockBytes(index: number, seed = 7): Buffer {
  return ramp(BS * (index + 1), seed).subarray(index * BS);
}

export function open(dir: string, more: Partial<DiskBlockCacheOptions> = {}): Promise<DiskBlockCache> {
  return DiskBlockCache.open({
    dir,
    sourceId: 'http://minio:9000/bucket',
    budgetBytes: 64 * BS,
    blockSize: BS,
    minFreeBytes: 0,
    statfsIntervalMs: 0,
    ...more,
  });
}

/** Every file under `dir`, with its size and mode. */
export function filesUnder(dir: string): { file: string; size: number; mode: number }[] {
  const out: { file: string; size: number; mode: number }[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = fs.statSync(p);
        out.push({ file: p, size: st.size, mode: st.mode & 0o777 });
      }
    }
  };
  walk(dir);
  return out;
}

/** The space a file of `size` bytes takes on the filesystem of `dir` (its size in whole allocation units). */
export function spaceOf(dir: string, size: number): number {
  const unit = fs.statfsSync(dir).bsize;
  return Math.ceil(size / unit) * unit;
}

/** The space the files under `dir` take, counted as the cache counts it. */
export function bytesUnder(dir: string): number {
  return filesUnder(dir).reduce((n, f) => n + spaceOf(dir, f.size), 0);
}

export function blockFiles(dir: string): string[] {
  return filesUnder(dir)
    .map((f) => f.file)
    .filter((f) => f.endsWith('.blk'));
}

export function errno(code: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${code}: injected`);
  e.code = code;
  return e;
}

/** The node io, with the operations named in `fail` failing with `code` while `on()` says so. */
export function failingIo(fail: readonly (keyof DiskIo)[], code: string, on: () => boolean = () => true): DiskIo & { calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const io = { ...nodeDiskIo } as DiskIo & { calls: Record<string, number> };
  for (const op of Object.keys(nodeDiskIo) as (keyof DiskIo)[]) {
    const real = nodeDiskIo[op] as (...a: unknown[]) => Promise<unknown>;
    (io as unknown as Record<string, unknown>)[op] = async (...a: unknown[]) => {
      calls[op] = (calls[op] ?? 0) + 1;
      if (fail.includes(op) && on()) throw errno(code);
      return real(...a);
    };
  }
  io.calls = calls;
  return io;
}
