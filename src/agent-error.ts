/**
 * The base of the errors the agent reports to a person: a stable `code` for programs and tests,
 * a one-line `message` that names what is wrong (never a secret), and the `cause` chain. The CLI
 * prints the message alone; the code decides the exit status.
 */
export class AgentError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
