/**
 * A problem with what the user gave us. `message` is one line that names the mount, the option
 * and/or the file, and never contains a secret value. The CLI prints it and exits non-zero.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
