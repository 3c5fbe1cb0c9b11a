/**
 * Lays out a Fluid-style /etc/fluid tree in a folder: config/config.json (or the older
 * config.json) and secrets/<secret>/<key> in the layout Kubernetes uses for a mounted Secret
 * (a timestamped folder, a `..data` symlink to it, and one symlink per key through `..data`).
 */
import { mkdir, symlink, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';

export async function writeSecret(root: string, secret: string, values: Record<string, string>, stamp = '..2026_11_28_00_00_00.000000001'): Promise<void> {
  const dir = join(root, 'secrets', secret);
  await mkdir(join(dir, stamp), { recursive: true });
  for (const [k, v] of Object.entries(values)) await writeFile(join(dir, stamp, k), v);
  // Swap ..data atomically, as the kubelet does when a Secret changes.
  await symlink(stamp, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const k of Object.keys(values)) await symlink(join('..data', k), join(dir, k)).catch(() => undefined);
}

export async function writeConfig(root: string, config: unknown, older = false): Promise<string> {
  const path = older ? join(root, 'config.json') : join(root, 'config', 'config.json');
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, `${JSON.stringify(config)}\n`);
  return path;
}
