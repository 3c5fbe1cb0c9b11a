/**
 * Credentials of one bucket: key options (possibly secret files), debug key files, or the
 * AWS_* environment variables; anonymous when none.
 */
import { readFile } from 'node:fs/promises';
import { configError, ConfigErrorCode, q } from './config-error.js';
import { badOption, rawValue, type Context, type KnownEntry } from './resolve.js';
import { errnoCode, trimOneNewline } from './secrets.js';
import type { Credentials, SecretSource } from './plan.js';

export interface CredentialOptions {
  readonly accessKeyId?: KnownEntry;
  readonly secretAccessKey?: KnownEntry;
  readonly sessionToken?: KnownEntry;
  /** Debug command only. */
  readonly accessKeyFile?: KnownEntry;
  readonly secretKeyFile?: KnownEntry;
}

/** A key option: a secret file's content, or the literal value; one trailing newline trimmed. */
async function fromOption(ctx: Context, known: KnownEntry): Promise<SecretSource> {
  const read = await rawValue(ctx, known);
  const resolved = read.file === undefined ? { value: trimOneNewline(read.value) } : read;
  if (resolved.value === '') throw badOption(ctx, known, resolved.file ? `secret file ${resolved.file} is empty` : 'empty value', resolved);
  return { option: known.entry.key, value: resolved.value, ...(resolved.file !== undefined ? { file: resolved.file } : {}) };
}

async function fromKeyFile(ctx: Context, known: KnownEntry): Promise<SecretSource> {
  const file = known.entry.value;
  let value: string;
  try {
    value = trimOneNewline(await readFile(file, 'utf8'));
  } catch (err) {
    throw configError(ConfigErrorCode.SECRET_FILE, `${ctx.where}: option ${q(known.entry.key)}: cannot read ${file}: ${errnoCode(err)}`);
  }
  if (value === '') throw configError(ConfigErrorCode.BAD_OPTION, `${ctx.where}: option ${q(known.entry.key)}: ${file} is empty`);
  return { option: known.entry.key, value, file };
}

/** The name to suggest for a missing half, in the same family as the given half. */
function missingName(given: string, missing: 'access-key-id' | 'secret-access-key'): string {
  if (given.startsWith('minio-')) return missing === 'access-key-id' ? 'minio-access-key' : 'minio-access-secret';
  if (given.endsWith('-file')) return missing === 'access-key-id' ? 'access-key-file' : 'secret-key-file';
  return missing;
}

async function either(ctx: Context, key: KnownEntry | undefined, file: KnownEntry | undefined): Promise<SecretSource | undefined> {
  if (key !== undefined && file !== undefined) {
    throw configError(
      ConfigErrorCode.BAD_OPTION,
      `${ctx.where}: give either option ${q(key.entry.key)} or ${q(file.entry.key)}, not both`,
    );
  }
  if (key !== undefined) return fromOption(ctx, key);
  if (file !== undefined) return fromKeyFile(ctx, file);
  return undefined;
}

export async function resolveCredentials(
  ctx: Context,
  opts: CredentialOptions,
  env: Readonly<Record<string, string | undefined>>,
): Promise<Credentials | undefined> {
  const id = await either(ctx, opts.accessKeyId, opts.accessKeyFile);
  const secret = await either(ctx, opts.secretAccessKey, opts.secretKeyFile);
  const token = opts.sessionToken !== undefined ? await fromOption(ctx, opts.sessionToken) : undefined;
  const missing = (name: string, given: string) =>
    configError(ConfigErrorCode.MISSING_CREDENTIAL, `${ctx.where}: option ${q(name)} is missing (option ${q(given)} is set)`);

  if (id !== undefined && secret !== undefined) {
    return { accessKeyId: id, secretAccessKey: secret, ...(token !== undefined ? { sessionToken: token } : {}) };
  }
  if (id !== undefined) throw missing(missingName(id.option, 'secret-access-key'), id.option);
  if (secret !== undefined) throw missing(missingName(secret.option, 'access-key-id'), secret.option);
  if (token !== undefined) throw missing('access-key-id', token.option);

  const envId = env['AWS_ACCESS_KEY_ID'];
  const envSecret = env['AWS_SECRET_ACCESS_KEY'];
  const envToken = env['AWS_SESSION_TOKEN'];
  const has = (v: string | undefined): v is string => v !== undefined && v !== '';
  if (has(envId) && has(envSecret)) {
    return {
      accessKeyId: { option: 'AWS_ACCESS_KEY_ID', value: trimOneNewline(envId) },
      secretAccessKey: { option: 'AWS_SECRET_ACCESS_KEY', value: trimOneNewline(envSecret) },
      ...(has(envToken) ? { sessionToken: { option: 'AWS_SESSION_TOKEN', value: trimOneNewline(envToken) } } : {}),
    };
  }
  if (has(envId) !== has(envSecret)) {
    const [set, unset] = has(envId) ? ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] : ['AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID'];
    throw configError(
      ConfigErrorCode.MISSING_CREDENTIAL,
      `${ctx.where}: environment variable ${unset} is missing (${set} is set, and no key option is given)`,
    );
  }
  return undefined;
}
