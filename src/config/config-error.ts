import { AgentError } from '../agent-error.js';

/**
 * A problem with what the user gave us. `message` is one line that names the mount, the option
 * and/or the file, and never contains a secret value. The CLI prints it and exits non-zero.
 */
export class ConfigError extends AgentError {
  override readonly name = 'ConfigError';
}

/** The stable `code` values of the ConfigErrors thrown by src/config. */
export const ConfigErrorCode = {
  /** Command line syntax: unknown command, missing positionals, a flag without its value. */
  ARGV: 'ARGV',
  /** Neither `--config PATH` nor any default config file location exists. */
  CONFIG_NOT_FOUND: 'CONFIG_NOT_FOUND',
  /** The config file exists but cannot be read (EACCES, EISDIR, ...). */
  CONFIG_READ: 'CONFIG_READ',
  /** The config file is not valid JSON. */
  CONFIG_JSON: 'CONFIG_JSON',
  /** A field of the config file has the wrong type. */
  CONFIG_SHAPE: 'CONFIG_SHAPE',
  /** Neither `targetPath` nor env MOUNT_POINT, or not an absolute path. */
  TARGET_PATH: 'TARGET_PATH',
  /** An option has a value that cannot be parsed or is out of range. */
  BAD_OPTION: 'BAD_OPTION',
  /** A secret file (or a --*-key-file) cannot be read. */
  SECRET_FILE: 'SECRET_FILE',
  /** Only one half of a credential pair was given (or a session token alone). */
  MISSING_CREDENTIAL: 'MISSING_CREDENTIAL',
  /** A mountPoint / SOURCE that is not `s3://bucket[/prefix]` or `minio://bucket[/prefix]` (e.g. `pvc://`). */
  BAD_MOUNT_POINT: 'BAD_MOUNT_POINT',
  /** A `minio://` mount without an endpoint. */
  ENDPOINT_REQUIRED: 'ENDPOINT_REQUIRED',
  /** Two mounts on the same folder, nested folders, an unusable folder name, or a mount the layout chosen at start cannot show. */
  LAYOUT: 'LAYOUT',
} as const;
export type ConfigErrorCode = (typeof ConfigErrorCode)[keyof typeof ConfigErrorCode];

/** Builds a ConfigError whose message is guaranteed to be one line. */
export function configError(code: ConfigErrorCode, message: string, cause?: unknown): ConfigError {
  const oneLine = message.replace(/\r\n|\r|\n/g, ' ');
  return cause === undefined ? new ConfigError(code, oneLine) : new ConfigError(code, oneLine, { cause });
}

/** JSON-quotes a name, key or path for a message: escapes newlines and quotes. */
export function q(text: string): string {
  return JSON.stringify(text);
}
