// Credentials: secret files (configmap mode), literal values (v0.9 secret mode), AWS_* env,
// anonymous; errors never show a secret.
import t from 'tap';
import path from 'node:path';
import { loadFluidPlan } from '../../../src/config/index.js';
import { k8sSecret, rejectsConfig, tempDir, writeConfig, type T } from './fixtures/helpers.js';

const ID = 'AKIAFROMFILE';
const SECRET = 'SeCrEtFrOmFiLe';

/** A secrets root with `minio-secret/{minio-access-key,minio-access-secret,empty}`. */
async function world(t: T) {
  const dir = await tempDir(t);
  const root = path.join(dir, 'etc/fluid/secrets');
  await k8sSecret(root, 'minio-secret', { 'minio-access-key': `${ID}\n`, 'minio-access-secret': `${SECRET}\n`, empty: '\n' });
  let n = 0;
  /** Loads a one-mount config whose options are `options(root)`. */
  const load = async (options: Record<string, string>, env: Record<string, string> = {}, mountPoint = 'minio://my-first-bucket') => {
    const file = await writeConfig(dir, `config-${n++}.json`, {
      mounts: [{ mountPoint, name: 'minio', options: { 'minio-url': 'http://minio:9000', ...options } }],
      targetPath: '/t',
    });
    return loadFluidPlan({ kind: 'fluid', configPath: file, flags: {} }, { env, secretsRoot: root });
  };
  return { dir, root, load };
}

t.test('literal secrets (Fluid v0.9 secret mode) are the value, without a file', async (t) => {
  const { load } = await world(t);
  const plan = await load({ 'minio-access-key': 'AKIALITERAL', 'minio-access-secret': 'literal/secret+value\n', 'session-token': 'tok' });
  t.same(plan.buckets[0]?.credentials, {
    accessKeyId: { option: 'minio-access-key', value: 'AKIALITERAL' },
    secretAccessKey: { option: 'minio-access-secret', value: 'literal/secret+value' },
    sessionToken: { option: 'session-token', value: 'tok' },
  });
  t.notOk('file' in plan.buckets[0]!.credentials!.accessKeyId, 'no file for a literal');
});

t.test('any option value under the secrets root is read from its file', async (t) => {
  const { root, load } = await world(t);
  await k8sSecret(root, 'conn', { url: 'http://minio.internal:9000\n', region: 'eu-central-1' });
  const b = (await load({ 'minio-url': `${root}/conn/url`, region: `${root}/conn/region` })).buckets[0];
  t.equal(b?.endpoint, 'http://minio.internal:9000');
  t.equal(b?.region, 'eu-central-1');
  t.equal(b?.credentials, undefined, 'anonymous');
});

t.test('absolute paths outside the secrets root, and .. escapes, are literal values', async (t) => {
  const { root, load } = await world(t);
  const plan = await load({ 'access-key-id': '/etc/passwd', 'secret-access-key': `${root}/../../config-0.json` });
  const creds = plan.buckets[0]?.credentials;
  t.equal(creds?.accessKeyId.value, '/etc/passwd');
  t.equal(creds?.accessKeyId.file, undefined);
  t.equal(creds?.secretAccessKey.value, `${root}/../../config-0.json`);
  t.equal(creds?.secretAccessKey.file, undefined);
});

t.test('env AWS_* credentials when no key option is given; else anonymous', async (t) => {
  const { load } = await world(t);
  t.equal((await load({})).buckets[0]?.credentials, undefined, 'anonymous');
  const env = { AWS_ACCESS_KEY_ID: 'AKIAENV', AWS_SECRET_ACCESS_KEY: 'envsecret', AWS_SESSION_TOKEN: 'envtoken' };
  t.same((await load({}, env)).buckets[0]?.credentials, {
    accessKeyId: { option: 'AWS_ACCESS_KEY_ID', value: 'AKIAENV' },
    secretAccessKey: { option: 'AWS_SECRET_ACCESS_KEY', value: 'envsecret' },
    sessionToken: { option: 'AWS_SESSION_TOKEN', value: 'envtoken' },
  });
  t.equal((await load({}, { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' })).buckets[0]?.credentials, undefined, 'empty env is unset');
});

t.test('key options win over env credentials', async (t) => {
  const { root, load } = await world(t);
  const plan = await load(
    { 'access-key-id': `${root}/minio-secret/minio-access-key`, 'secret-access-key': 'opt' },
    { AWS_ACCESS_KEY_ID: 'AKIAENV', AWS_SECRET_ACCESS_KEY: 'env' },
  );
  t.same(plan.buckets[0]?.credentials, {
    accessKeyId: { option: 'access-key-id', value: ID, file: `${root}/minio-secret/minio-access-key` },
    secretAccessKey: { option: 'secret-access-key', value: 'opt' },
  });
});

t.test('only one half of the key pair names the missing option', async (t) => {
  const { root, load } = await world(t);
  await rejectsConfig(t, () => load({ 'minio-access-key': 'AKIALITERAL' }), {
    code: 'MISSING_CREDENTIAL',
    startsWith: 'mount "minio":',
    has: ['"minio-access-secret"', 'missing'],
    hasNot: ['AKIALITERAL'],
  });
  await rejectsConfig(t, () => load({ 'secret-access-key': `${root}/minio-secret/minio-access-secret` }), {
    code: 'MISSING_CREDENTIAL',
    has: ['"access-key-id"', 'missing'],
    hasNot: [SECRET],
  });
  await rejectsConfig(t, () => load({ 'session-token': 'TOKENVALUE' }), {
    code: 'MISSING_CREDENTIAL',
    has: ['"access-key-id"'],
    hasNot: ['TOKENVALUE'],
  });
  await rejectsConfig(t, () => load({}, { AWS_ACCESS_KEY_ID: 'AKIAENV' }), {
    code: 'MISSING_CREDENTIAL',
    has: ['AWS_SECRET_ACCESS_KEY'],
    hasNot: ['AKIAENV'],
  });
});

t.test('a secret file that cannot be read: mount, option, file and errno, never contents', async (t) => {
  const { root, load } = await world(t);
  const missing = `${root}/minio-secret/minio-access-secret-typo`;
  await rejectsConfig(t, () => load({ 'minio-access-key': `${root}/minio-secret/minio-access-key`, 'minio-access-secret': missing }), {
    code: 'SECRET_FILE',
    startsWith: `mount "minio": option "minio-access-secret": cannot read secret file ${missing}: ENOENT`,
    hasNot: [ID, SECRET],
  });
  // A secretKeyRef without `key`: Fluid hands the secret's folder.
  await rejectsConfig(t, () => load({ 'minio-access-key': `${root}/minio-secret`, 'minio-access-secret': `${root}/minio-secret/minio-access-secret` }), {
    code: 'SECRET_FILE',
    startsWith: `mount "minio": option "minio-access-key": ${root}/minio-secret is a folder: the secretKeyRef of this option has no "key"`,
    hasNot: [SECRET, ID],
  });
});

t.test('an empty secret is an error that does not show values', async (t) => {
  const { root, load } = await world(t);
  await rejectsConfig(t, () => load({ 'access-key': `${root}/minio-secret/minio-access-key`, 'secret-key': `${root}/minio-secret/empty` }), {
    code: 'BAD_OPTION',
    has: ['mount "minio"', '"secret-key"', 'empty'],
    hasNot: [ID],
  });
  await rejectsConfig(t, () => load({ 'access-key': '', 'secret-key': 'LITERALSECRET' }), {
    code: 'BAD_OPTION',
    has: ['"access-key"', 'empty value'],
    hasNot: ['LITERALSECRET'],
  });
});
