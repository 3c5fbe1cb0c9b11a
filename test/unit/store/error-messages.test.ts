/**
 * Issue 8 #11 (store side): an S3 answer with no parseable body (a 400/403/500 from a proxy, or
 * any HEAD error) is shown with its HTTP status, never as "UnknownError"/"Unknown"; and a failed
 * re-read of the secret after a refusal is not swallowed: it reaches onCredentialError.
 */
import t from 'tap';
import { readAll, rejection, serveEmpty, startFakeS3, storeFor } from './helpers/fake-s3.js';

t.test('errors with an empty body carry the HTTP status, never "Unknown"', async (t) => {
  for (const status of [400, 403, 409, 501]) {
    const fake = await startFakeS3(t, (_req, res) => serveEmpty(res, status));
    const store = storeFor(t, fake, { requestTimeoutMs: 5_000 });
    const ops: [string, () => Promise<unknown>][] = [
      ['HEAD', () => store.head('k')],
      ['LIST', () => store.list({ prefix: '' })],
      ['getFirstBytes', () => store.getFirstBytes('k', 100)],
      ['readRange', () => readAll(store, 'k', 0, 100)],
    ];
    for (const [what, op] of ops) {
      const e = await rejection(t, op());
      t.comment(`${status} ${what}: ${e.kind}: ${e.message}`);
      t.match(e.message, new RegExp(`HTTP ${status}\\b`), `${status} ${what}: the message has the status`);
      t.notMatch(e.message, /Unknown/i, `${status} ${what}: no "Unknown"`);
      t.equal(e.status, status);
    }
  }
});

t.test('a failed re-read of the secret reaches onCredentialError; the call still fails as refused', async (t) => {
  const fake = await startFakeS3(t, (_req, res) => serveEmpty(res, 403));
  const seen: unknown[] = [];
  const store = storeFor(t, fake, {
    requestTimeoutMs: 5_000,
    onAccessDenied: async () => {
      throw new Error('EACCES: permission denied, open /etc/fluid/secrets/key');
    },
    onCredentialError: (err: unknown) => seen.push(err),
  });
  const e = await rejection(t, store.head('k'));
  t.equal(e.kind, 'access-denied', e.message);
  t.equal(seen.length, 1, 'told once');
  t.match(String((seen[0] as Error).message), /EACCES/);
  t.equal(fake.count(), 1, 'no retry with keys that could not be read');
});
