/** The mount could not start for a reason outside the config file (S3 refused, FUSE failed). */
export class StartupError extends Error {
  override readonly name = 'StartupError';
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
