// Read-only: accessModes (default ReadOnlyMany), the mount's readOnly, and the read-only/ro option.
import t from 'tap';
import { loadFluidPlan } from '../../../src/config/index.js';
import { tempDir, writeConfig, type T } from './fixtures/helpers.js';

async function readOnly(t: T, cfg: { accessModes?: unknown; readOnly?: boolean; options?: Record<string, string>; env?: string }) {
  const dir = await tempDir(t);
  const file = await writeConfig(dir, 'config.json', {
    mounts: [
      {
        mountPoint: 's3://bucket-one',
        name: 'one',
        ...(cfg.readOnly !== undefined ? { readOnly: cfg.readOnly } : {}),
        ...(cfg.options ? { options: cfg.options } : {}),
      },
    ],
    targetPath: '/t',
    ...(cfg.accessModes !== undefined ? { accessModes: cfg.accessModes } : {}),
  });
  const plan = await loadFluidPlan({ kind: 'fluid', configPath: file, flags: {} }, { env: cfg.env === undefined ? {} : { MOUNT_OPTIONS: cfg.env } });
  return plan.buckets[0]?.readOnly;
}

t.test('accessModes', async (t) => {
  t.equal(await readOnly(t, {}), true, 'default ReadOnlyMany');
  t.equal(await readOnly(t, { accessModes: [] }), true, 'empty means the default');
  t.equal(await readOnly(t, { accessModes: ['ReadOnlyMany'] }), true);
  t.equal(await readOnly(t, { accessModes: ['ReadWriteMany'] }), false);
  t.equal(await readOnly(t, { accessModes: ['ReadWriteOnce'] }), false);
  t.equal(await readOnly(t, { accessModes: ['ReadWriteOncePod'] }), false);
  t.equal(await readOnly(t, { accessModes: ['ReadOnlyMany', 'ReadWriteMany'] }), false);
});

t.test('the mount or an option can still make it read-only, never writable', async (t) => {
  const rw = ['ReadWriteMany'];
  t.equal(await readOnly(t, { accessModes: rw, readOnly: true }), true, 'readOnly: true');
  t.equal(await readOnly(t, { accessModes: rw, readOnly: false }), false);
  t.equal(await readOnly(t, { accessModes: rw, options: { 'read-only': 'true' } }), true, 'read-only option');
  t.equal(await readOnly(t, { accessModes: rw, options: { ro: '' } }), true, 'bare ro in options');
  t.equal(await readOnly(t, { accessModes: rw, env: 'ro' }), true, 'ro in MOUNT_OPTIONS');
  t.equal(await readOnly(t, { accessModes: rw, env: 'ro', options: { ro: 'false' } }), false, 'the mount option overrides MOUNT_OPTIONS');
  t.equal(await readOnly(t, { accessModes: rw, env: 'rw' }), false, 'rw in MOUNT_OPTIONS');
  t.equal(await readOnly(t, { options: { 'read-only': 'false' } }), true, 'ReadOnlyMany is not overridden by an option');
  t.equal(await readOnly(t, { env: 'rw' }), true, 'nor by rw');
});
