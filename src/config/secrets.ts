/**
 * Secret values: Fluid hands secret options either as a file path under /etc/fluid/secrets
 * (configmap mode, the default since v1.0) or as the literal value (secret mode, v0.9).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { configError, ConfigErrorCode, q } from './config-error.js';
import type { SecretSource } from './plan.js';

export const DEFAULT_SECRETS_ROOT = '/etc/fluid/secrets';

/** Removes ONE trailing newline (`\n` or `\r\n`), as `kubectl create secret --from-file` leaves. */
export const trimOneNewline = (text: string): string => text.replace(/\r?\n$/, '');

/** The errno code of a failed fs call, e.g. `ENOENT`; never the error text. */
export function errnoCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]+$/.test(code) ? code : 'unreadable';
}

/**
 * Reads a secret file (following symlinks, as Kubernetes' `..data` layout needs). The one-line
 * error starts with `label` (mount and option) and ends with the file and the errno, never the
 * content. `fromSecretRef`: the path came from a Fluid secretKeyRef, whose folder means no `key`.
 */
export async function readSecretFile(file: string, label: string, verb: string, fromSecretRef = false): Promise<string> {
  try {
    return trimOneNewline(await readFile(file, 'utf8'));
  } catch (err) {
    const code = errnoCode(err);
    const why = code === 'EISDIR' && fromSecretRef ? `${file} is a folder: the secretKeyRef of this option has no "key"` : `${verb} ${file}: ${code}`;
    throw configError(ConfigErrorCode.SECRET_FILE, `${label}: ${why}`);
  }
}

/** An option value, and the secret file it was read from if any. */
export type ResolvedValue = { readonly value: string; readonly file?: string };

/**
 * An absolute path under `secretsRoot/` is read from its file (`..` may not escape the root);
 * any other value is literal. `where` starts the error message (`mount "NAME"`, `command line`).
 */
export async function resolveOptionValue(where: string, key: string, value: string, secretsRoot: string): Promise<ResolvedValue> {
  const root = `${path.posix.resolve(secretsRoot)}/`.replace(/\/+$/, '/');
  const file = path.posix.resolve(value);
  if (!value.startsWith(root) || !file.startsWith(root)) return { value };
  return { value: await readSecretFile(file, `${where}: option ${q(key)}`, 'cannot read secret file', true), file };
}

/** The current value of a credential: re-reads `src.file` when there is one (Kubernetes rotates secrets by swapping `..data`). */
export async function readSecret(src: SecretSource): Promise<string> {
  return src.file === undefined ? src.value : readSecretFile(src.file, `secret option ${q(src.option)}`, 'cannot read secret file', true);
}
