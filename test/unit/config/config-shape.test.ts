// config.json problems: invalid JSON, wrong shapes, no targetPath; no mounts is fine.
import t from 'tap';
import path from 'node:path';
import { loadFluidPlan } from '../../../src/config/index.js';
import { rejectsConfig, tempDir, writeConfig } from './fixtures/helpers.js';

const mount = { mountPoint: 's3://good-bucket', name: 'data' };

async function load(t: Parameters<typeof tempDir>[0], content: unknown, env: Record<string, string> = {}) {
  const dir = await tempDir(t);
  const file = await writeConfig(dir, 'config.json', content);
  return { file, run: () => loadFluidPlan({ kind: 'fluid', configPath: file, flags: {} }, { env, secretsRoot: path.join(dir, 'secrets') }) };
}

t.test('unparsable JSON: one line with the file and position, never the text', async (t) => {
  const cases: [string, string][] = [
    ['{"mounts": [', 'line 1 column 13: unexpected end of input'],
    ['{\n  "mounts": [],\n  "targetPath": /x\n}', 'line 3 column 17'],
    ['{"mounts":[{"mountPoint":"s3://b","options":{"secret-key":"hunter2hunter2" "x":1}}]}', "expected ',' or '}'"],
    ['{"mounts":[]}}', 'unexpected text after the JSON value'],
    ['', 'the file is empty'],
    ['{"a":"b\nc"}', 'control character in string'],
    ["{'mounts':[]}", 'property name in double quotes'],
  ];
  for (const [text, has] of cases) {
    const { file, run } = await load(t, text);
    await rejectsConfig(t, run, { code: 'CONFIG_JSON', startsWith: `config ${file}: invalid JSON at line`, has: [has], hasNot: ['hunter2'] });
  }
});

t.test('wrong shapes name the field', async (t) => {
  const cases: [unknown, string, string][] = [
    [[], 'CONFIG_SHAPE', 'must be a JSON object'],
    ['"just a string"', 'CONFIG_SHAPE', 'must be a JSON object'],
    [{ mounts: {} }, 'CONFIG_SHAPE', '"mounts" must be an array'],
    [{ mounts: ['s3://x'] }, 'CONFIG_SHAPE', 'mounts[0] must be an object'],
    [{ mounts: [{ name: 'data' }], targetPath: '/t' }, 'CONFIG_SHAPE', 'mount "data": "mountPoint" is required'],
    [{ mounts: [{ mountPoint: 7 }], targetPath: '/t' }, 'CONFIG_SHAPE', 'mount "mount0": "mountPoint" must be a string'],
    [{ mounts: [{ ...mount, options: ['a'] }], targetPath: '/t' }, 'CONFIG_SHAPE', 'mount "data": "options" must be an object'],
    [{ mounts: [{ ...mount, options: { 'secret-key': { v: 'hunter2' } } }], targetPath: '/t' }, 'CONFIG_SHAPE', 'options["secret-key"] must be a string'],
    [{ mounts: [{ ...mount, path: 3 }], targetPath: '/t' }, 'CONFIG_SHAPE', '"path" must be a string'],
    [{ mounts: [{ ...mount, readOnly: 'yes' }], targetPath: '/t' }, 'CONFIG_SHAPE', '"readOnly" must be true or false'],
    [{ mounts: [{ ...mount, name: 5 }], targetPath: '/t' }, 'CONFIG_SHAPE', 'mounts[0]: "name" must be a string'],
    [{ mounts: [mount], targetPath: 5 }, 'CONFIG_SHAPE', '"targetPath" must be a string'],
    [{ mounts: [mount], targetPath: '/t', runtimeOptions: 'a=b' }, 'CONFIG_SHAPE', '"runtimeOptions" must be an object'],
    [{ mounts: [mount], targetPath: '/t', accessModes: 'ReadWriteMany' }, 'CONFIG_SHAPE', '"accessModes" must be an array of strings'],
    [{ mounts: [mount], targetPath: '/t', persistentVolumeAttrs: [] }, 'CONFIG_SHAPE', '"persistentVolumeAttrs" must be an object'],
  ];
  for (const [content, code, has] of cases) {
    const { run } = await load(t, typeof content === 'string' ? content : JSON.stringify(content));
    await rejectsConfig(t, run, { code, has: [has], hasNot: ['hunter2'] });
  }
});

t.test('no mounts is a normal state: an empty plan in folders', async (t) => {
  for (const content of [{ targetPath: '/t' }, { mounts: [], targetPath: '/t' }, { mounts: null, targetPath: '/t' }]) {
    const { file, run } = await load(t, content);
    const plan = await run();
    t.same(plan.buckets, [], JSON.stringify(content));
    t.equal(plan.layout, 'folders');
    t.same(plan.failures, []);
    t.equal(plan.configFile, file, 'the file read, for the watcher');
  }
});

t.test('targetPath falls back to env MOUNT_POINT; neither is an error', async (t) => {
  {
    const { run } = await load(t, { mounts: [mount] }, { MOUNT_POINT: '/runtime-mnt/thin/x/' });
    t.equal((await run()).targetPath, '/runtime-mnt/thin/x', 'normalised');
  }
  {
    const { run } = await load(t, { mounts: [mount], targetPath: '/from/config' }, { MOUNT_POINT: '/from/env' });
    t.equal((await run()).targetPath, '/from/config', 'the config wins');
  }
  {
    const { file, run } = await load(t, { mounts: [mount] });
    await rejectsConfig(t, run, { code: 'TARGET_PATH', startsWith: `config ${file}:`, has: ['targetPath', 'MOUNT_POINT'] });
  }
  {
    const { run } = await load(t, { mounts: [mount], targetPath: 'relative/dir' });
    await rejectsConfig(t, run, { code: 'TARGET_PATH', has: ['"relative/dir"', 'absolute'] });
  }
});

t.test('Go nulls, numbers and booleans, extra fields are accepted', async (t) => {
  const { run } = await load(t, {
    mounts: [
      {
        mountPoint: 's3://good-bucket',
        name: '',
        path: null,
        readOnly: null,
        shared: false,
        options: { uid: 1000, 'allow-other': false, region: null, encryptOptions: undefined },
      },
    ],
    targetPath: '/t',
    runtimeOptions: null,
    accessModes: null,
    persistentVolumeAttrs: null,
    persistentVolumeMountOptions: { x: ['ro'] },
    somethingNew: 1,
  });
  const plan = await run();
  t.equal(plan.buckets[0]?.name, 'mount0', 'an empty name defaults to mount<i>');
  t.equal(plan.buckets[0]?.uid, 1000);
  t.equal(plan.buckets[0]?.region, 'us-east-1');
  t.equal(plan.settings.allowOther, false);
  t.equal(plan.buckets[0]?.readOnly, true);
});

t.test('every shape problem is reported at once, each with its path, in one line', async (t) => {
  const { file, run } = await load(t, {
    mounts: [{ mountPoint: 7, options: { 'secret-key': ['hunter2'] } }, { name: 3 }, { name: 'ok', readOnly: 'yes' }],
    targetPath: 5,
    runtimeOptions: { uid: {} },
    accessModes: 'ReadWriteMany',
  });
  const err = await rejectsConfig(t, run, { code: 'CONFIG_SHAPE', hasNot: ['hunter2'] });
  t.equal(
    err?.message,
    `config ${file}: ` +
      [
        'mount "mount0": "mountPoint" must be a string, not a number',
        'mount "mount0": options["secret-key"] must be a string, not an array',
        'mounts[1]: "name" must be a string, not a number',
        'mounts[1]: "mountPoint" is required',
        'mount "ok": "mountPoint" is required',
        'mount "ok": "readOnly" must be true or false, not a string',
        '"targetPath" must be a string, not a number',
        'runtimeOptions["uid"] must be a string, not an object',
        '"accessModes" must be an array of strings, not a string',
      ].join('; '),
  );
});
