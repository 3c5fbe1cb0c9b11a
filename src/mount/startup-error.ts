import { AgentError } from '../agent-error.js';
import type { StartupErrorCode } from '../error-catalogue.js';

/** The mount could not start for a reason outside the config file (S3 refused, FUSE failed). */
export class StartupError extends AgentError {
  override readonly name = 'StartupError';
  declare readonly code: StartupErrorCode;
  constructor(code: StartupErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
