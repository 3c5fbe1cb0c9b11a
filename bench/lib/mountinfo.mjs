// /proc/self/mountinfo: is a path mounted, and as what. Reading /proc never touches a FUSE
// mount, so it is safe while a mount is starting or stuck.
import { readFile } from 'node:fs/promises';

const unescape = (s) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));

/** [{ mountPoint, fsType, source }] of every mount this process can see. */
export async function mounts() {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const f = line.split(' ');
      const sep = f.indexOf('-');
      return { mountPoint: unescape(f[4]), fsType: f[sep + 1], source: unescape(f[sep + 2] ?? '') };
    });
}

export async function mountAt(path) {
  return (await mounts()).find((m) => m.mountPoint === path);
}

/** Every mount at or under dir (the bench's own work folder). */
export async function mountsUnder(dir) {
  return (await mounts()).filter((m) => m.mountPoint === dir || m.mountPoint.startsWith(`${dir}/`));
}
