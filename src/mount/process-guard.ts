/**
 * What happens to an error nobody handled, once the agent serves a mount.
 *
 * Node's default (print and exit) would leave a dead mount (ENOTCONN) under every application
 * that uses it. Instead: log the error with its stack, count it, and keep serving. Only when
 * such errors keep coming (the process is truly broken, not unlucky) does the agent stop, and
 * then through the normal way out: unmount first, exit non-zero.
 */
import type { Logger } from '../observe/logger.js';

export type InternalErrorKind = 'unhandled-rejection' | 'uncaught-exception';

export interface GuardOptions {
  readonly log: Logger;
  /** Counted in /metrics. */
  readonly count: (kind: InternalErrorKind) => void;
  /** Unmount and exit with `code`. */
  readonly stop: (reason: string, code: number) => void;
  /** More than `maxErrors` within `windowMs` means broken. */
  readonly maxErrors?: number;
  readonly windowMs?: number;
  readonly now?: () => number;
}

export interface ProcessGuard {
  /** Takes the handlers off `target` again. */
  uninstall(): void;
}

export function guardProcess(opts: GuardOptions, target: NodeJS.EventEmitter = process): ProcessGuard {
  const maxErrors = opts.maxErrors ?? 20;
  const windowMs = opts.windowMs ?? 60_000;
  const now = opts.now ?? Date.now;
  let recent: number[] = [];
  let stopping = false;

  const handle = (kind: InternalErrorKind, err: unknown): void => {
    opts.count(kind);
    const e = err instanceof Error ? err : new Error(String(err));
    opts.log.error({ kind, err: { type: e.name, message: e.message, stack: e.stack } }, `internal error (${kind}); still serving`);
    const t = now();
    recent = recent.filter((at) => t - at < windowMs);
    recent.push(t);
    if (recent.length > maxErrors && !stopping) {
      stopping = true;
      opts.stop(`${recent.length} internal errors within ${Math.round(windowMs / 1000)} s`, 1);
    }
  };
  const onRejection = (reason: unknown): void => handle('unhandled-rejection', reason);
  const onException = (err: unknown): void => handle('uncaught-exception', err);
  target.on('unhandledRejection', onRejection);
  target.on('uncaughtException', onException);
  return {
    uninstall: () => {
      target.off('unhandledRejection', onRejection);
      target.off('uncaughtException', onException);
    },
  };
}
