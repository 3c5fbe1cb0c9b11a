/**
 * Reads /proc/self/mountinfo, the file Fluid's readiness check reads too. Reading it never
 * touches our own FUSE mount, so it is safe from inside the agent (a stat of the mount point
 * is not: it can deadlock the FUSE thread).
 */
import { readFile } from 'node:fs/promises';

export interface MountInfoLine {
  readonly mountPoint: string;
  readonly fsType: string;
  readonly source: string;
}

/** Mountinfo escapes space, tab, newline and backslash as octal. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountInfo(text: string): MountInfoLine[] {
  const out: MountInfoLine[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    if (sep < 0 || fields.length < sep + 3) continue;
    out.push({
      mountPoint: unescape(fields[4] ?? ''),
      fsType: fields[sep + 1] ?? '',
      source: unescape(fields[sep + 2] ?? ''),
    });
  }
  return out;
}

export async function mountsAt(path: string, file = '/proc/self/mountinfo'): Promise<MountInfoLine[]> {
  const text = await readFile(file, 'utf8');
  return parseMountInfo(text).filter((m) => m.mountPoint === path);
}
