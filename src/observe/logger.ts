/**
 * JSON logs on stdout (pino). Secrets are kept out by construction (no code logs a credential
 * value), and the redaction below is the second line of defence for fields with those names.
 */
import pino, { type Logger } from 'pino';
import type { LogLevel } from '../config/plan.js';

export type { Logger };

const REDACT = [
  'secretAccessKey',
  'accessKeyId',
  'sessionToken',
  'credentials',
  'password',
  '*.secretAccessKey',
  '*.accessKeyId',
  '*.sessionToken',
  '*.credentials',
  '*.password',
  'headers.authorization',
  '*.headers.authorization',
];

export function createLogger(level: LogLevel): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    // Synchronous: the last lines before an exit (why we stopped) must reach the log.
    pino.destination({ fd: 1, sync: true }),
  );
}
