/**
 * Value parsers of the option vocabulary. Each returns the typed value or throws a ValueError
 * whose message says why without repeating the value (the caller decides whether it may be shown).
 */
export class ValueError extends Error {
  override readonly name = 'ValueError';
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Node's timers hold at most 2^31-1 ms (about 24.8 days); a larger delay fires after 1 ms, which
 * would turn a long TTL or timeout into none at all. 24 days is the largest whole-day value below.
 */
const MAX_DURATION_MS = 24 * 86_400_000;

/** `500ms`, `30s`, `1m`, `1m30s`, `2h`, `1.5h`, `0`; a plain number means seconds. Whole milliseconds. */
export function parseDurationMs(raw: string): number {
  const lower = raw.trim().toLowerCase();
  const text = /^\d+(\.\d+)?$/.test(lower) ? `${lower}s` : lower;
  if (text === '') throw new ValueError('empty duration');
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(text)) throw new ValueError('not a duration (use e.g. 500ms, 30s, 1m30s, 2h; a plain number is seconds)');
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  const ms = parts.reduce((sum, [, n, unit]) => sum + Number(n) * (DURATION_UNITS_MS[unit as string] as number), 0);
  if (!Number.isFinite(ms) || ms > MAX_DURATION_MS) throw new ValueError('too long: at most 24d');
  return Math.round(ms);
}

const KIB = 1024;
/** Single letters and the `iB` forms are binary, the `B` forms decimal. */
const SIZE_UNITS: Readonly<Record<string, number>> = {
  ...{ '': 1, b: 1, k: KIB, m: KIB ** 2, g: KIB ** 3, t: KIB ** 4, kib: KIB, mib: KIB ** 2, gib: KIB ** 3, tib: KIB ** 4 },
  ...{ kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12 },
};

/** Byte sizes: plain bytes, `K/M/G/T`, `KiB/MiB/GiB/TiB`, `KB/MB/GB/TB`, any case, a space allowed before the unit, fractions allowed. */
export function parseSizeBytes(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(raw.trim().toLowerCase());
  const unit = m ? SIZE_UNITS[m[2] as string] : undefined;
  if (!m || unit === undefined) throw new ValueError('not a size (use e.g. 1048576, 512K, 64MiB, 1G, 100MB)');
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new ValueError('size too large');
  return bytes;
}

/** true/false/1/0/yes/no/on/off (case-insensitive); an empty value (a bare key) means true. */
export function parseBool(raw: string): boolean {
  const text = raw.trim().toLowerCase();
  if (['', 'true', '1', 'yes', 'on'].includes(text)) return true;
  if (['false', '0', 'no', 'off'].includes(text)) return false;
  throw new ValueError('not a boolean (use true/false, yes/no, on/off or 1/0)');
}

/** A non-negative decimal integer (uid, gid). */
export function parseUint(raw: string): number {
  const text = raw.trim();
  if (!/^\d+$/.test(text)) throw new ValueError('not a non-negative integer');
  if (Number(text) > 0xffffffff) throw new ValueError('out of range');
  return Number(text);
}

/** Permission bits in octal: `644`, `0644`, `0o644`; at most 07777. */
export function parseOctalMode(raw: string): number {
  const m = /^(?:0o)?([0-7]+)$/i.exec(raw.trim());
  if (!m) throw new ValueError('not an octal mode (use e.g. 0644)');
  const n = parseInt(m[1] as string, 8);
  if (n > 0o7777) throw new ValueError('out of range (at most 07777)');
  return n;
}
