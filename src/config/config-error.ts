import { AgentError } from '../agent-error.js';

/**
 * A problem with what the user gave us. `message` is one line that names the mount, the option
 * and/or the file, and never contains a secret value. The CLI prints it and exits non-zero.
 */
export class ConfigError extends AgentError {
  override readonly name = 'ConfigError';
}

/** The stable `code` values of the ConfigErrors thrown by src/config; their meanings: src/error-catalogue.ts. */
export const ConfigErrorCode = {
  ...{ ARGV: 'ARGV', CONFIG_NOT_FOUND: 'CONFIG_NOT_FOUND', CONFIG_READ: 'CONFIG_READ', CONFIG_JSON: 'CONFIG_JSON', CONFIG_SHAPE: 'CONFIG_SHAPE' },
  ...{ TARGET_PATH: 'TARGET_PATH', BAD_OPTION: 'BAD_OPTION', SECRET_FILE: 'SECRET_FILE', MISSING_CREDENTIAL: 'MISSING_CREDENTIAL' },
  ...{ BAD_MOUNT_POINT: 'BAD_MOUNT_POINT', ENDPOINT_REQUIRED: 'ENDPOINT_REQUIRED', LAYOUT: 'LAYOUT' },
} as const;
export type ConfigErrorCode = (typeof ConfigErrorCode)[keyof typeof ConfigErrorCode];

/** Builds a ConfigError whose message is guaranteed to be one line. */
export function configError(code: ConfigErrorCode, message: string): ConfigError {
  return new ConfigError(code, message.replace(/\r\n|\r|\n/g, ' '));
}

/** JSON-quotes a name, key or path for a message: escapes newlines and quotes. */
export const q = (text: string): string => JSON.stringify(text);
