/**
 * Middlewares added to one SDK command, for what its fields cannot say: the server's Date of
 * the answer, extra signed headers, the Content-MD5 of a serialized XML body.
 */
import type { BuildMiddleware, DeserializeMiddleware, MiddlewareStack } from '@smithy/types';
import { md5Now } from './body-digest.js';
import { timeOr } from './write-answer.js';

/**
 * The server's Date of the command's answer (the SDK's output does not carry it), read from
 * the raw response; now when there was none. Call the result after the command succeeded.
 */
export function answerDate<I extends object, O extends object>(cmd: { readonly middlewareStack: MiddlewareStack<I, O> }): () => number {
  let date: string | undefined;
  const middleware: DeserializeMiddleware<I, O> = (next) => async (args) => {
    const out = await next(args);
    const headers = (out.response as { headers?: Record<string, string> } | undefined)?.headers;
    date = headers?.date ?? headers?.Date;
    return out;
  };
  cmd.middlewareStack.add(middleware, { step: 'deserialize', name: 'fluidAnswerDate' });
  return () => timeOr(date, () => Date.now());
}

/** Adds `headers` to the request (signed with it): headers the SDK has no field for. */
export function withHeaders<I extends object, O extends object>(
  cmd: { readonly middlewareStack: MiddlewareStack<I, O> },
  headers: Readonly<Record<string, string>>,
): void {
  const middleware: BuildMiddleware<I, O> = (next) => (args) => {
    const request = args.request as { headers?: Record<string, string> };
    if (request.headers) Object.assign(request.headers, headers);
    return next(args);
  };
  cmd.middlewareStack.add(middleware, { step: 'build', name: 'fluidExtraHeaders' });
}

/** Adds the Content-MD5 of the serialized body (an XML document), which the SDK has no field for. */
export function withContentMd5<I extends object, O extends object>(cmd: { readonly middlewareStack: MiddlewareStack<I, O> }): void {
  const middleware: BuildMiddleware<I, O> = (next) => (args) => {
    const request = args.request as { body?: unknown; headers?: Record<string, string> };
    const body = request.body;
    if (request.headers && (typeof body === 'string' || body instanceof Uint8Array))
      request.headers['content-md5'] = md5Now(Buffer.from(body)).toString('base64');
    return next(args);
  };
  cmd.middlewareStack.add(middleware, { step: 'build', name: 'fluidContentMd5' });
}
