/**
 * Issue 12: what S3Store's writes put on the wire (lean path), checked by a fake S3:
 * - every body carries its Content-MD5 and its length, and arrives byte-exact (a body longer
 *   than the lean path's 1 MiB slices too);
 * - every request's SigV4 signature checks out on the server side (UNSIGNED-PAYLOAD);
 * - the multipart and copy requests: query, CompleteMultipartUpload document, copy source
 *   escaped, its If-Match under both names;
 * - server-side encryption headers on PUT, create and copy, never on parts or complete;
 * - WrittenObject: the ETag as sent, mtimeMs from the answer's Date (a copy's LastModified).
 */
import t from 'tap';
import {
  ETAG,
  WRITE_DATE,
  md5Base64,
  md5Hex,
  multipartEtag,
  pattern,
  serveComplete,
  serveCopy,
  serveCreate,
  serveNoContent,
  servePut,
  startFakeS3,
  storeFor,
  type SeenRequest,
} from './helpers/fake-s3.js';
import { expectedAuthorization } from './helpers/resign.js';
import type { ServerResponse } from 'node:http';

/** A fake that answers every write as S3 does. */
function goodAnswer(res: ServerResponse, seen: SeenRequest): void {
  if (seen.method === 'POST' && seen.query.has('uploads')) return serveCreate(res, 'up/1+2=');
  if (seen.method === 'POST') return serveComplete(res, seen);
  if (seen.method === 'DELETE') return serveNoContent(res);
  if (seen.headers['x-amz-copy-source']) return serveCopy(res, ETAG);
  return servePut(res, seen);
}

t.test('bodies go out with their Content-MD5 and length, byte-exact, and signed as sent', async (t) => {
  const auth: { got: string; expected: string; what: string }[] = [];
  const fake = await startFakeS3(
    t,
    (req, res, seen) => {
      void expectedAuthorization(req).then((expected) => {
        auth.push({ got: String(req.headers.authorization), expected, what: `${seen.method} ${req.url ?? ''}` });
        goodAnswer(res, seen);
      });
    },
    { bodies: true },
  );
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000 });
  const small = Buffer.from('hello, world');
  const big = pattern(3 * 1024 * 1024 + 5);
  const key = 'dir/a b+c&d=é%.bin';

  const w = await store.putObject(key, small);
  t.same(w, { etag: `"${md5Hex(small)}"`, mtimeMs: Date.parse(WRITE_DATE) }, 'ETag as answered, mtime from Date');
  await store.putObject(key, big);
  await store.putObject(key, Buffer.alloc(0));
  const id = await store.createMultipartUpload(key);
  t.equal(id, 'up/1+2=', 'the upload id from the answer');
  const e1 = await store.uploadPart(key, id, 1, big);
  const e2 = await store.uploadPart(key, id, 2, small);
  t.same([e1, e2], [`"${md5Hex(big)}"`, `"${md5Hex(small)}"`]);
  const done = await store.completeMultipartUpload(key, id, [
    { partNumber: 1, etag: e1 },
    { partNumber: 2, etag: e2 },
  ]);
  t.same(done, { etag: multipartEtag([e1, e2]), mtimeMs: Date.parse(WRITE_DATE) }, 'the multipart ETag, its quotes decoded');
  const copied = await store.copyObject({ key, etag: ETAG, size: 12 }, 'to/x y');
  t.same(copied, { etag: ETAG, mtimeMs: Date.parse('2025-01-02T03:04:05.000Z') }, "a copy's mtime is its LastModified");
  await store.deleteObject(key);
  await store.abortMultipartUpload(key, id);

  const r = fake.requests;
  t.same(
    r.map((s) => [s.method, s.path, Object.fromEntries(s.query)]),
    [
      ['PUT', `/bkt/${key}`, {}],
      ['PUT', `/bkt/${key}`, {}],
      ['PUT', `/bkt/${key}`, {}],
      ['POST', `/bkt/${key}`, { uploads: '' }],
      ['PUT', `/bkt/${key}`, { partNumber: '1', uploadId: id }],
      ['PUT', `/bkt/${key}`, { partNumber: '2', uploadId: id }],
      ['POST', `/bkt/${key}`, { uploadId: id }],
      ['PUT', '/bkt/to/x y', {}],
      ['DELETE', `/bkt/${key}`, {}],
      ['DELETE', `/bkt/${key}`, { uploadId: id }],
    ],
    'methods, keys and queries',
  );
  for (const s of r) {
    const label = `${s.method} ${s.path} ${s.query.toString()}`;
    const hasBody = s.method === 'PUT' ? !s.headers['x-amz-copy-source'] : s.query.has('uploadId') && s.method === 'POST';
    if (hasBody) {
      t.equal(s.headers['content-md5'], md5Base64(s.body), `${label}: Content-MD5 of the body`);
      t.equal(s.headers['content-length'], String(s.body.length), `${label}: Content-Length`);
      t.equal(s.headers['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD', `${label}: payload unsigned (Content-MD5 is signed)`);
      t.match(String(s.headers.authorization), /SignedHeaders=[^,]*content-md5/, `${label}: Content-MD5 among the signed headers`);
    }
  }
  t.ok(r[1]?.body.equals(big), 'a body longer than one slice arrives byte-exact');
  t.ok(r[4]?.body.equals(big), 'a part too');
  t.equal(r[2]?.body.length, 0, 'an empty body');
  t.equal(r[2]?.headers['content-md5'], md5Base64(Buffer.alloc(0)));
  t.equal(
    r[6]?.body.toString(),
    `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>1</PartNumber><ETag>&quot;${md5Hex(big)}&quot;</ETag></Part><Part><PartNumber>2</PartNumber><ETag>&quot;${md5Hex(small)}&quot;</ETag></Part></CompleteMultipartUpload>`,
    'the Complete document lists the parts in order',
  );
  const copy = r[7];
  t.equal(copy?.headers['x-amz-copy-source'], '/bkt/dir/a%20b%2Bc%26d%3D%C3%A9%25.bin', 'copy source: bucket and key, escaped');
  t.equal(copy?.headers['x-amz-copy-source-if-match'], ETAG, "copy condition under AWS's name");
  t.equal(copy?.headers['x-amz-copy-if-match'], ETAG, "and under RGW's");
  t.equal(auth.length, r.length);
  for (const a of auth) t.equal(a.got, a.expected, `${a.what}: the signature matches the request as received`);
  for (const s of r) t.notOk(s.headers['x-amz-server-side-encryption'], 'no encryption header unless asked');
});

t.test('server-side encryption: on PUT, create and copy, never on parts nor complete', async (t) => {
  const fake = await startFakeS3(t, (_req, res, seen) => goodAnswer(res, seen), { bodies: true });
  for (const sse of [{ mode: 'AES256' as const }, { mode: 'aws:kms' as const, kmsKeyId: 'arn:aws:kms:us-east-1:1:key/abc' }]) {
    fake.requests.length = 0;
    const store = storeFor(t, fake, { requestTimeoutMs: 5_000, sse });
    await store.putObject('k', Buffer.from('x'));
    const id = await store.createMultipartUpload('k');
    const etag = await store.uploadPart('k', id, 1, Buffer.from('y'));
    await store.completeMultipartUpload('k', id, [{ partNumber: 1, etag }]);
    await store.copyObject({ key: 'k', etag: ETAG, size: 1 }, 'k2');
    await store.deleteObject('k');
    t.same(
      fake.requests.map((s) => [
        s.method,
        Object.fromEntries(s.query),
        s.headers['x-amz-server-side-encryption'],
        s.headers['x-amz-server-side-encryption-aws-kms-key-id'],
      ]),
      [
        ['PUT', {}, sse.mode, sse.kmsKeyId],
        ['POST', { uploads: '' }, sse.mode, sse.kmsKeyId],
        ['PUT', { partNumber: '1', uploadId: 'up/1+2=' }, undefined, undefined],
        ['POST', { uploadId: 'up/1+2=' }, undefined, undefined],
        ['PUT', {}, sse.mode, sse.kmsKeyId],
        ['DELETE', {}, undefined, undefined],
      ],
      `${sse.mode}: where the headers go`,
    );
  }
});

t.test('a KMS-encrypted write answers an opaque ETag: taken as it is', async (t) => {
  const fake = await startFakeS3(t, (_req, res, seen) => servePut(res, seen, '"0123456789abcdef0123456789abcdef"'), { bodies: true });
  const store = storeFor(t, fake, { requestTimeoutMs: 5_000, sse: { mode: 'aws:kms' } });
  t.equal((await store.putObject('k', Buffer.from('x'))).etag, '"0123456789abcdef0123456789abcdef"');
  t.equal(fake.count(), 1, 'no retry');
});
