import { EventEmitter } from 'node:events';
import pino from 'pino';
import t from 'tap';
import { guardProcess, type InternalErrorKind } from '../../../src/mount/process-guard.js';

function setup(maxErrors: number, windowMs: number) {
  const target = new EventEmitter();
  let now = 0;
  const counted: InternalErrorKind[] = [];
  const stops: { reason: string; code: number }[] = [];
  const guard = guardProcess(
    {
      log: pino({ level: 'silent' }),
      count: (kind) => counted.push(kind),
      stop: (reason, code) => stops.push({ reason, code }),
      maxErrors,
      windowMs,
      now: () => now,
    },
    target,
  );
  return { target, counted, stops, guard, advance: (ms: number) => (now += ms) };
}

t.test('an error nobody handled is counted and the agent keeps serving', async (t) => {
  const g = setup(3, 60_000);
  g.target.emit('unhandledRejection', new Error('lost'));
  g.target.emit('uncaughtException', 'not even an Error');
  t.same(g.counted, ['unhandled-rejection', 'uncaught-exception']);
  t.same(g.stops, [], 'no stop for a few errors');
  g.guard.uninstall();
  t.equal(g.target.listenerCount('unhandledRejection') + g.target.listenerCount('uncaughtException'), 0, 'uninstall removes both handlers');
});

t.test('more than maxErrors within the window stops the mount once, with exit code 1', async (t) => {
  const g = setup(3, 60_000);
  for (let i = 0; i < 6; i++) g.target.emit('uncaughtException', new Error(`boom ${i}`));
  t.equal(g.counted.length, 6, 'every error counted');
  t.equal(g.stops.length, 1, 'stopped once');
  t.equal(g.stops[0]?.code, 1);
  t.match(g.stops[0]?.reason, /^4 internal errors within 60 s$/);
});

t.test('errors spread wider than the window never stop the mount', async (t) => {
  const g = setup(3, 60_000);
  for (let i = 0; i < 20; i++) {
    g.target.emit('unhandledRejection', new Error(`slow ${i}`));
    g.advance(30_000);
  }
  t.same(g.stops, []);
});
