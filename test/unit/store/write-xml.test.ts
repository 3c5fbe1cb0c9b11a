/**
 * Issue 12: the small pure parts of S3Store's writes:
 * - upload-xml.ts: the Complete document, the answers of create/complete/copy read as AWS and
 *   RGW write them (quotes as entities or not, spaces before the document), an <Error> after a
 *   200 told apart from a result, a document of another kind refused;
 * - body-digest.ts: the MD5 of a body however long (sliced or not), the ETag check, the
 *   multipart ETag of a set of parts.
 */
import { createHash, randomBytes } from 'node:crypto';
import t from 'tap';
import { completeUploadBody, decodeXml, readUploadAnswer } from '../../../src/store/upload-xml.js';
import { checkedEtag, isCompletedEtag, md5Of } from '../../../src/store/body-digest.js';
import { StoreError } from '../../../src/store/store-error.js';

t.test('the Complete document lists the parts, ETags escaped', async (t) => {
  t.equal(
    completeUploadBody([
      { partNumber: 1, etag: '"abc"' },
      { partNumber: 2, etag: 'd&e<f>' },
    ]).toString(),
    '<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      '<Part><PartNumber>1</PartNumber><ETag>&quot;abc&quot;</ETag></Part><Part><PartNumber>2</PartNumber><ETag>d&amp;e&lt;f&gt;</ETag></Part>' +
      '</CompleteMultipartUpload>',
  );
});

t.test('answers: results, errors after a 200, other documents', async (t) => {
  const ns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';
  t.same(
    readUploadAnswer(
      `<?xml version="1.0"?>\n<InitiateMultipartUploadResult ${ns}><Bucket>b</Bucket><Key>a&amp;b</Key><UploadId>2~x&#x2F;y</UploadId></InitiateMultipartUploadResult>`,
      'InitiateMultipartUploadResult',
      ['UploadId', 'Key'],
    ),
    {
      ok: true,
      fields: { UploadId: '2~x/y', Key: 'a&b' },
    },
  );
  t.same(
    readUploadAnswer(
      `<?xml version="1.0" encoding="UTF-8"?>\n\n      <CompleteMultipartUploadResult ${ns}><ETag>&quot;abc-2&quot;</ETag></CompleteMultipartUploadResult>`,
      'CompleteMultipartUploadResult',
      ['ETag'],
    ),
    { ok: true, fields: { ETag: '"abc-2"' } },
    'spaces before the document (S3 keeping the connection open), quotes as entities (AWS)',
  );
  t.same(
    readUploadAnswer(`<CopyObjectResult><LastModified>2025-01-01T00:00:00.000Z</LastModified><ETag>abc</ETag></CopyObjectResult>`, 'CopyObjectResult', [
      'ETag',
      'LastModified',
    ]),
    {
      ok: true,
      fields: { ETag: 'abc', LastModified: '2025-01-01T00:00:00.000Z' },
    },
  );
  t.same(readUploadAnswer('<CopyObjectResult></CopyObjectResult>', 'CopyObjectResult', ['ETag']), { ok: true, fields: {} }, 'a missing field is left out');
  t.same(
    readUploadAnswer(
      '<?xml version="1.0" encoding="UTF-8"?>\n   \n<Error><Code>InternalError</Code><Message>We &amp; you</Message></Error>',
      'CompleteMultipartUploadResult',
      ['ETag'],
    ),
    { ok: false, code: 'InternalError', message: 'We & you' },
    'an <Error> after a 200',
  );
  t.same(readUploadAnswer('', 'CopyObjectResult', ['ETag']), { ok: false, code: '', message: 'no XML document' });
  t.same(readUploadAnswer('<ListBucketResult><ETag>x</ETag></ListBucketResult>', 'CopyObjectResult', ['ETag']), {
    ok: false,
    code: '',
    message: '<ListBucketResult> instead of <CopyObjectResult>',
  });
  t.equal(decodeXml('&lt;&gt;&amp;&quot;&apos;&#65;&#x1F600;&bogus;'), '<>&"\'A😀&bogus;');
});

t.test('md5Of: the MD5 of any body, sliced or not', async (t) => {
  for (const size of [0, 1, 4 * 1024 * 1024, 4 * 1024 * 1024 + 1, 9 * 1024 * 1024 + 7]) {
    const body = randomBytes(size);
    t.same(await md5Of(body), createHash('md5').update(body).digest(), `${size} bytes`);
  }
});

t.test('checkedEtag: the body MD5 or an opaque ETag; anything else refused, as transient', async (t) => {
  const body = Buffer.from('abc');
  const md5 = createHash('md5').update(body).digest();
  const hex = md5.toString('hex');
  t.equal(checkedEtag(`"${hex}"`, md5, false, 'PUT k'), `"${hex}"`);
  t.equal(checkedEtag(`"${hex.toUpperCase()}"`, md5, false, 'PUT k'), `"${hex.toUpperCase()}"`, 'case does not matter');
  t.equal(checkedEtag('"not-an-md5"', md5, false, 'PUT k'), '"not-an-md5"', "a server's own format: nothing to compare");
  t.equal(checkedEtag('"00000000000000000000000000000000"', md5, true, 'PUT k'), '"00000000000000000000000000000000"', 'KMS: opaque');
  for (const bad of ['"00000000000000000000000000000000"', undefined, '']) {
    try {
      checkedEtag(bad, md5, false, 'PUT k');
      t.fail(`${String(bad)}: refused`);
    } catch (err) {
      t.ok(err instanceof StoreError && err.kind === 'invalid-response' && err.transient, `${String(bad)}: invalid-response, transient`);
    }
  }
});

t.test('isCompletedEtag: the MD5 of the part MD5s and the count; the count alone for opaque parts', async (t) => {
  const md5s = ['a', 'b', 'c'].map((s) => createHash('md5').update(s).digest());
  const parts = md5s.map((m, i) => ({ partNumber: i + 1, etag: `"${m.toString('hex')}"` }));
  const right = `"${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-3"`;
  t.ok(isCompletedEtag(right, parts));
  t.ok(isCompletedEtag(right.slice(1, -1), parts), 'quotes or not');
  t.notOk(isCompletedEtag(right.replace('-3', '-2'), parts), 'another count');
  t.notOk(isCompletedEtag(`"${'0'.repeat(32)}-3"`, parts), 'other parts');
  t.notOk(isCompletedEtag(parts[0]?.etag ?? '', parts), 'a plain object');
  t.ok(
    isCompletedEtag('"anything-2"', [
      { partNumber: 1, etag: '"kms1"' },
      { partNumber: 2, etag: '"kms2"' },
    ]),
    'opaque parts: the count',
  );
});
