/**
 * Lays out a Fluid-style /etc/fluid tree in a folder: config/config.json (or the older
 * config.json) and secrets/<secret>/<key> in the layout Kubernetes uses for a mounted Secret
 * (a timestamped folder, a `..data` symlink to it, and one symlink per key through `..data`).
 */
import { mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
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

let configVersion = 0;

/**
 * Writes config/config.json (a value as JSON, a string as it is) as the kubelet updates a ConfigMap volume: a new `..<timestamp>`
 * folder, `..data_tmp` renamed over `..data` (one atomic switch), `config.json` a symlink through
 * `..data`, and the old folder deleted. Returns the path of config.json.
 */
export async function swapConfig(root: string, config: unknown): Promise<string> {
  const dir = join(root, 'config');
  const stamp = `..2026_12_02_00_00_00.${String(++configVersion).padStart(9, '0')}`;
  await mkdir(join(dir, stamp), { recursive: true });
  await writeFile(join(dir, stamp, 'config.json'), typeof config === 'string' ? config : `${JSON.stringify(config)}\n`);
  const previous = await readlink(join(dir, '..data')).catch(() => undefined);
  await symlink(stamp, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  await symlink(join('..data', 'config.json'), join(dir, 'config.json')).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  if (previous !== undefined) await rm(join(dir, previous), { recursive: true, force: true });
  return join(dir, 'config.json');
}
