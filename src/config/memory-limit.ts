/**
 * The container's memory limit, from the cgroup (v2 `memory.max`, else v1
 * `memory.limit_in_bytes`), and the default cache size derived from it: a FUSE container killed
 * for memory takes the application's mount with it, so the cache must fit the limit.
 */
import { readFile } from 'node:fs/promises';
import { DEFAULTS } from './options.js';

const MIB = 1024 * 1024;
/** What the process needs besides the cache (measured: Node, the SDK, buffers in flight). */
const PROCESS_OVERHEAD = 192 * MIB;
const MIN_CACHE = 32 * MIB;
const MAX_DERIVED_CACHE = 1024 * MIB;

/** The limit in bytes, or undefined when there is none (or no cgroup file to read). */
export async function cgroupMemoryLimit(root = '/sys/fs/cgroup'): Promise<number | undefined> {
  for (const file of [`${root}/memory.max`, `${root}/memory/memory.limit_in_bytes`]) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const value = Number(text.trim());
    // v2 says "max"; v1 says a huge number (2^63 rounded to pages) when unlimited.
    if (!Number.isFinite(value) || value <= 0 || value >= 2 ** 60) return undefined;
    return value;
  }
  return undefined;
}

/**
 * Without a limit: 256 MiB. With one: three quarters of what the limit leaves after the
 * process's own needs, between 32 MiB and 1 GiB (e.g. 512 MiB → 240 MiB, 1 GiB → 624 MiB).
 */
export function defaultCacheSize(limit: number | undefined): number {
  if (limit === undefined) return DEFAULTS.cacheSizeBytes;
  const derived = Math.floor(((limit - PROCESS_OVERHEAD) * 0.75) / MIB) * MIB;
  return Math.min(MAX_DERIVED_CACHE, Math.max(MIN_CACHE, derived));
}
