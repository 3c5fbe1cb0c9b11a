import { AgentError } from '../errors.js';

/** The mount could not start for a reason outside the config file (S3 refused, FUSE failed). */
export class StartupError extends AgentError {
  override readonly name = 'StartupError';
}
