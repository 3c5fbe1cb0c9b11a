// docker/*.yaml is the seed's MinIO demo for this agent. No Kubernetes here, so these tests hold
// the manifests to what Fluid reads (field names of its v1alpha1 API, checked against
// fluid-cloudnative/fluid api/v1alpha1 and pkg/ddc/thin) and to what the agent accepts: the
// filesystem type it mounts, its option vocabulary, and, at the end, the config.json and
// MOUNT_OPTIONS that Fluid renders from them, loaded by the agent's own config loader. The files
// are read as YAML 1.1, as Kubernetes reads them: a bare `off` or `yes` there is a boolean, which
// the string checks below then refuse.
import t, { type Test } from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { DockerfileParser, Entrypoint } from 'dockerfile-ast';
import { FS_SUBTYPE } from '../../../src/mount/lifecycle.js';
import { lookupOption, normalizeKey, parseOptionValue, type OptionSpec } from '../../../src/config/options.js';
import { parseMountSource } from '../../../src/config/mount-source.js';
import { ConfigError, loadFluidPlan } from '../../../src/config/index.js';
import { USAGE } from '../../../src/cli/help-text.js';
import { sourceFolderName } from '../../../src/disk/disk-key.js';
import { k8sSecret, writeConfig } from '../config/fixtures/helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const DOCKER = path.join(ROOT, 'docker');
const FLUID_API = 'data.fluid.io/v1alpha1';

type Obj = Record<string, unknown>;

function obj(v: unknown, what: string): Obj {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Obj;
  throw new Error(`${what}: not a mapping`);
}
function arr(v: unknown, what: string): unknown[] {
  if (Array.isArray(v)) return v;
  throw new Error(`${what}: not a list`);
}
function str(v: unknown, what: string): string {
  if (typeof v === 'string') return v;
  throw new Error(`${what}: not a string (${JSON.stringify(v)})`);
}
/** A string map (options, labels, stringData): every value must be a YAML string. */
function strMap(v: unknown, what: string): Record<string, string> {
  return Object.fromEntries(Object.entries(obj(v, what)).map(([k, x]) => [k, str(x, `${what}.${k}`)]));
}

interface Manifest {
  readonly file: string;
  readonly kind: string;
  readonly apiVersion: string;
  readonly name: string;
  readonly body: Obj;
}

function loadManifests(): Manifest[] {
  const out: Manifest[] = [];
  for (const file of readdirSync(DOCKER)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    const docs = parseAllDocuments(readFileSync(path.join(DOCKER, file), 'utf8'), { version: '1.1' });
    if (!Array.isArray(docs)) throw new Error(`${file}: not YAML documents`);
    for (const doc of docs) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      if (doc.warnings.length > 0) throw new Error(`${file}: ${doc.warnings.map((e) => e.message).join('; ')}`);
      const js: unknown = doc.toJS();
      if (js === null || js === undefined) continue;
      const body = obj(js, file);
      out.push({
        file,
        body,
        kind: str(body.kind, `${file} kind`),
        apiVersion: str(body.apiVersion, `${file} apiVersion`),
        name: str(obj(body.metadata, `${file} metadata`).name, `${file} metadata.name`),
      });
    }
  }
  return out;
}

const manifests = loadManifests();
function one(kind: string, name?: string): Manifest {
  const found = manifests.filter((m) => m.kind === kind && (name === undefined || m.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0]!;
}
const spec = (m: Manifest): Obj => obj(m.body.spec, `${m.file} spec`);

const profile = one('ThinRuntimeProfile');
const dataset = one('Dataset', 'minio-demo');
const runtime = one('ThinRuntime', 'minio-demo');
const secret = one('Secret');
const profileFuse = obj(spec(profile).fuse, 'profile spec.fuse');
const runtimeFuse = obj(spec(runtime).fuse, 'runtime spec.fuse');
const datasetMounts = (d: Manifest): Obj[] => arr(spec(d).mounts, `${d.name} spec.mounts`).map((m, i) => obj(m, `${d.name} mounts[${i}]`));
const mounts = datasetMounts(dataset);
/** The dataset for pods with the FUSE container injected (sidecar and ECI pods). */
const sidecarDataset = one('Dataset', 'minio-demo-sidecar');
const sidecarRuntime = one('ThinRuntime', 'minio-demo-sidecar');
/** The writable twin (dataset-rw.yaml): same bucket, ReadWriteMany, staging on an emptyDir. */
const rwDataset = one('Dataset', 'minio-demo-rw');
const rwRuntime = one('ThinRuntime', 'minio-demo-rw');
/** The read-only twin with a disk cache on the node (dataset-cache.yaml): tieredstore + disk-cache-dir. */
const cacheDataset = one('Dataset', 'minio-demo-cache');
const cacheRuntime = one('ThinRuntime', 'minio-demo-cache');
/** A Dataset's accessModes as Fluid passes them on (config.json, PV, PVC): ReadOnlyMany when unset. */
const accessModesOf = (d: Manifest): string[] => {
  const modes = arr(spec(d).accessModes ?? [], `${d.name} accessModes`).map((m) => str(m, `${d.name} accessMode`));
  return modes.length > 0 ? modes : ['ReadOnlyMany'];
};
const kinds = (kind: string): Manifest[] => manifests.filter((m) => m.kind === kind);
const fuseOf = (r: Manifest): Obj => obj(spec(r).fuse, `${r.name} spec.fuse`);
const secretData = strMap(secret.body.stringData, 'secret stringData');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };

/** The spec of an option name as written in a manifest, or undefined when the agent does not know it. */
function optionSpec(key: string): OptionSpec | undefined {
  return lookupOption(normalizeKey(key));
}

/** Every key known, usable from Fluid (not a command-line-only option) and its value valid. */
function checkOptions(t: Test, options: Record<string, string>, where: string): void {
  for (const [key, value] of Object.entries(options)) {
    const s = optionSpec(key);
    t.ok(s, `${where}: ${key} is in the agent's vocabulary`);
    if (!s) continue;
    t.not(s.scope, 'cli', `${where}: ${key} is not a command-line-only option`);
    t.doesNotThrow(() => parseOptionValue(s, value), `${where}: ${key}=${value} is a valid value`);
  }
}

// Field names of Fluid's v1alpha1 types (json tags), to catch a misspelt field that the
// API server would drop without a word.
const FIELDS = {
  profileSpec: ['fileSystemType', 'imagePullSecrets', 'worker', 'fuse', 'volumes', 'nodePublishSecretPolicy'],
  runtimeSpec: ['profileName', 'worker', 'fuse', 'tieredstore', 'replicas', 'runAs', 'disablePrometheus', 'volumes', 'management', 'imagePullSecrets'],
  thinFuse: [
    'image',
    'imageTag',
    'imagePullPolicy',
    'imagePullSecrets',
    'ports',
    'env',
    'command',
    'args',
    'options',
    'resources',
    'nodeSelector',
    'cleanPolicy',
    'networkMode',
    'livenessProbe',
    'readinessProbe',
    'volumeMounts',
    'lifecycle',
    'podMetadata',
  ],
  datasetSpec: [
    'mounts',
    'owner',
    'nodeAffinity',
    'tolerations',
    'accessModes',
    'runtimes',
    'placement',
    'dataRestoreLocation',
    'sharedOptions',
    'sharedEncryptOptions',
  ],
  mount: ['mountPoint', 'options', 'name', 'path', 'readOnly', 'shared', 'encryptOptions'],
  encryptOption: ['name', 'valueFrom'],
  tieredstore: ['levels'],
  // api/v1alpha1/common.go Level
  level: ['mediumtype', 'volumeType', 'volumeSource', 'path', 'quota', 'quotaList', 'high', 'low'],
} as const;

function checkFields(t: Test, o: Obj, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(o)) t.ok(allowed.includes(key), `${where}.${key} is a field of Fluid's API`);
}

// ---------------------------------------------------------------------------------------- tests

t.test('the demo: every manifest parses, with the kinds and names the README applies', async (t) => {
  const seen = manifests.map((m) => `${m.file}: ${m.apiVersion} ${m.kind} ${m.name}`).sort();
  t.same(seen, [
    'app-pod-eci.yaml: v1 Pod test-minio-eci',
    'app-pod-rw.yaml: v1 Pod test-minio-rw',
    'app-pod-sidecar.yaml: v1 Pod test-minio-sidecar',
    'app-pod.yaml: v1 Pod test-minio',
    `dataset-cache.yaml: ${FLUID_API} Dataset minio-demo-cache`,
    `dataset-cache.yaml: ${FLUID_API} ThinRuntime minio-demo-cache`,
    `dataset-rw.yaml: ${FLUID_API} Dataset minio-demo-rw`,
    `dataset-rw.yaml: ${FLUID_API} ThinRuntime minio-demo-rw`,
    `dataset.yaml: ${FLUID_API} Dataset minio-demo`,
    'minio.yaml: apps/v1 Deployment minio',
    'minio.yaml: v1 Service minio',
    'secret.yaml: v1 Secret minio-secret',
    `thinruntime-sidecar.yaml: ${FLUID_API} Dataset minio-demo-sidecar`,
    `thinruntime-sidecar.yaml: ${FLUID_API} ThinRuntime minio-demo-sidecar`,
    `thinruntime.yaml: ${FLUID_API} ThinRuntime minio-demo`,
    `thinruntimeprofile.yaml: ${FLUID_API} ThinRuntimeProfile minio`,
  ]);
  t.notOk(obj(profile.body.metadata, 'profile metadata').namespace, 'the profile is cluster-scoped: no namespace');
});

t.test("the Fluid objects use only Fluid's field names", async (t) => {
  checkFields(t, spec(profile), FIELDS.profileSpec, 'ThinRuntimeProfile spec');
  checkFields(t, profileFuse, FIELDS.thinFuse, 'ThinRuntimeProfile spec.fuse');
  for (const r of kinds('ThinRuntime')) {
    checkFields(t, spec(r), FIELDS.runtimeSpec, `ThinRuntime ${r.name} spec`);
    checkFields(t, fuseOf(r), FIELDS.thinFuse, `ThinRuntime ${r.name} spec.fuse`);
    if (spec(r).tieredstore === undefined) continue;
    const tiered = obj(spec(r).tieredstore, `${r.name} tieredstore`);
    checkFields(t, tiered, FIELDS.tieredstore, `ThinRuntime ${r.name} spec.tieredstore`);
    arr(tiered.levels, `${r.name} tieredstore.levels`).forEach((l, i) =>
      checkFields(t, obj(l, 'level'), FIELDS.level, `ThinRuntime ${r.name} spec.tieredstore.levels[${i}]`),
    );
  }
  for (const d of kinds('Dataset')) {
    checkFields(t, spec(d), FIELDS.datasetSpec, `Dataset ${d.name} spec`);
    datasetMounts(d).forEach((m, i) => {
      checkFields(t, m, FIELDS.mount, `Dataset ${d.name} mounts[${i}]`);
      arr(m.encryptOptions ?? [], 'encryptOptions').forEach((e, j) =>
        checkFields(t, obj(e, 'encryptOption'), FIELDS.encryptOption, `${d.name} mounts[${i}].encryptOptions[${j}]`),
      );
    });
  }
});

t.test("the profile: the agent's filesystem type, the image, no command", async (t) => {
  t.equal(spec(profile).fileSystemType, `fuse.${FS_SUBTYPE}`, `fileSystemType is the type the agent mounts (fuse.${FS_SUBTYPE})`);
  // Fluid waits for a mountinfo line holding targetPath and this string.
  t.ok(`fuse.${FS_SUBTYPE}`.includes(str(spec(profile).fileSystemType, 'fileSystemType')), "Fluid's substring check finds the agent's mount");
  const image = str(profileFuse.image, 'fuse.image');
  t.match(image, /^\S+\/fluid-s3-fuse$/, 'fuse.image is <registry>/fluid-s3-fuse');
  t.equal(profileFuse.imageTag, pkg.version, `fuse.imageTag is the package version (${pkg.version}); bump both together`);
  t.equal(profileFuse.imagePullPolicy, 'IfNotPresent', 'imagePullPolicy IfNotPresent');
  t.equal(profileFuse.command, undefined, "no command: the image's ENTRYPOINT with no arguments is Fluid mode");
  t.equal(profileFuse.args, undefined, 'no args');
  t.equal(profileFuse.lifecycle, undefined, "Fluid's default preStop (umount targetPath) is what the agent expects");
  checkOptions(t, strMap(profileFuse.options ?? {}, 'profile fuse.options'), 'profile fuse.options (MOUNT_OPTIONS)');
});

t.test("the profile's probes run the image's own `check` on Fluid's MOUNT_POINT", async (t) => {
  const df = DockerfileParser.parse(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
  const entry = df
    .getInstructions()
    .filter((i): i is Entrypoint => i instanceof Entrypoint)
    .at(-1);
  const script = entry
    ?.getJSONStrings()
    .map((s) => s.getJSONValue())
    .find((a) => a.endsWith('.js'));
  t.ok(script, 'the Dockerfile ENTRYPOINT names the agent script');
  for (const name of ['readinessProbe', 'livenessProbe'] as const) {
    const probe = obj(profileFuse[name], `fuse.${name}`);
    const command = arr(obj(probe.exec, `${name}.exec`).command, `${name}.exec.command`).map((w) => str(w, 'command word'));
    t.same(command.slice(0, 2), ['sh', '-c'], `${name}: a shell, to expand $MOUNT_POINT`);
    t.equal(command[2], `exec node ${script ?? '?'} check "$MOUNT_POINT"`, `${name}: node ${script ?? '?'} check "$MOUNT_POINT"`);
    t.ok(Number(probe.timeoutSeconds) > 5, `${name}: timeoutSeconds above check's own 5 s stat timeout`);
  }
  const live = obj(profileFuse.livenessProbe, 'livenessProbe');
  t.ok(Number(live.initialDelaySeconds) >= 30, "liveness waits out Fluid's 30 s for the mount to appear");
  t.ok(Number(live.failureThreshold) >= 3, 'liveness restarts after 3 misses, not 1');
  t.match(USAGE, /fluid-s3-fuse check TARGETPATH/, 'the agent has the check command');
});

t.test('the datasets: a minio:// bucket, options and secret names the agent knows', async (t) => {
  t.same(
    kinds('Dataset')
      .map((d) => d.name)
      .sort(),
    [dataset.name, rwDataset.name, sidecarDataset.name, cacheDataset.name].sort(),
    'the demo dataset, its sidecar twin, its writable twin and its disk-cached twin',
  );
  for (const d of kinds('Dataset')) {
    const ms = datasetMounts(d);
    t.equal(ms.length, 1, `${d.name}: one mount, as in the seed`);
    const m = ms[0]!;
    const source = parseMountSource(str(m.mountPoint, 'mountPoint'), 'mountPoint');
    t.match(source, { scheme: 'minio', bucket: 'my-first-bucket', prefix: '' }, `${d.name}: mountPoint minio://my-first-bucket`);
    t.equal(m.name, 'minio', `${d.name}: mount name minio`);
    const options = strMap(m.options, 'mount options');
    checkOptions(t, options, `${d.name} mount options`);
    for (const key of Object.keys(options)) t.notOk(optionSpec(key)?.credential, `${d.name}: ${key}: no credential in plain options`);

    const encrypt = arr(m.encryptOptions, 'encryptOptions').map((e, i) => obj(e, `encryptOptions[${i}]`));
    t.same(encrypt.map((e) => e.name).sort(), ['minio-access-key', 'minio-access-secret'], `${d.name}: the seed's secret option names`);
    for (const e of encrypt) {
      const name = str(e.name, 'encryptOption name');
      const s = optionSpec(name);
      t.ok(s?.credential, `${d.name}: ${name} is a credential option of the vocabulary (${s?.key ?? 'unknown'})`);
      const ref = obj(obj(e.valueFrom, `${name}.valueFrom`).secretKeyRef, `${name}.secretKeyRef`);
      t.equal(ref.name, secret.name, `${d.name}: ${name} comes from the Secret ${secret.name}`);
      // Without a key, Fluid hands the secret's folder as the value: the agent refuses it.
      t.ok(str(ref.key, 'secretKeyRef.key') in secretData, `${d.name}: ${name}: key ${String(ref.key)} is given and is in secret.yaml`);
    }
  }
  t.equal(optionSpec('minio-url')?.key, 'endpoint', 'minio-url is the endpoint');
});

t.test('the runtimes: named like a dataset, the profile, tuning options in the vocabulary', async (t) => {
  for (const r of kinds('ThinRuntime')) {
    const fuse = fuseOf(r);
    t.ok(
      kinds('Dataset').some((d) => d.name === r.name),
      `ThinRuntime ${r.name} and a Dataset share a name`,
    );
    t.equal(spec(r).profileName, profile.name, `${r.name}: profileName is ${profile.name}`);
    const options = strMap(fuse.options, `${r.name} fuse.options`);
    t.ok(Object.keys(options).length > 0, `${r.name}: spec.fuse.options has an example`);
    checkOptions(t, options, `${r.name} fuse.options (runtimeOptions)`);
    for (const key of Object.keys(options)) t.notOk(optionSpec(key)?.credential, `${r.name}: ${key}: no credential in runtime options`);

    // The block cache is memory of the FUSE container: its limit must hold it and Node.js.
    const limit = str(obj(obj(fuse.resources, 'resources').limits, 'limits').memory, 'limits.memory');
    const units: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 };
    const m = /^(\d+)(Ki|Mi|Gi)$/.exec(limit);
    t.ok(m, `${r.name}: limits.memory ${limit} in Ki/Mi/Gi`);
    const cache = parseOptionValue(optionSpec('cache-size')!, options['cache-size'] ?? '256MiB') as number;
    if (m) t.ok(Number(m[1]) * units[m[2]!]! >= cache + 256 * 2 ** 20, `${r.name}: limits.memory ${limit} >= cache-size + 256MiB`);
  }
});

t.test('the sidecar runtime sets metrics-address; the DaemonSet one keeps the default', async (t) => {
  // What the address becomes is checked on the loaded plans at the end.
  t.ok(strMap(fuseOf(sidecarRuntime).options, 'sidecar fuse.options')['metrics-address'], `${sidecarRuntime.name}: metrics-address is set`);
  t.notOk(strMap(runtimeFuse.options, 'runtime fuse.options')['metrics-address'], `${runtime.name}: metrics-address is not set`);
});

// Fluid passes the Dataset's accessModes to config.json (pkg/ddc/thin/transform_config.go) and
// to the PV and PVC it makes; the agent writes only when they allow it (load-plan.ts).
t.test('minio-demo-rw asks for ReadWriteMany; minio-demo, the sidecar and the disk-cached datasets stay ReadOnlyMany', async (t) => {
  t.same(spec(rwDataset).accessModes, ['ReadWriteMany'], `${rwDataset.name}: accessModes [ReadWriteMany]`);
  t.notOk(
    datasetMounts(rwDataset).some((m) => m.readOnly === true),
    `${rwDataset.name}: no mount marked readOnly`,
  );
  for (const d of [dataset, sidecarDataset, cacheDataset]) {
    t.same(spec(d).accessModes, ['ReadOnlyMany'], `${d.name}: accessModes [ReadOnlyMany], written out (the seed demo stays read-only)`);
  }
});

const SIZE_UNITS: Readonly<Record<string, number>> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 };
/** A Kubernetes quantity in Ki/Mi/Gi (all the demo uses), in bytes; NaN otherwise. */
function quantityBytes(q: string): number {
  const m = /^(\d+)(Ki|Mi|Gi)$/.exec(q);
  return m ? Number(m[1]) * SIZE_UNITS[m[2]!]! : NaN;
}

// Fluid adds to the FUSE pod each volume of the ThinRuntime's spec.volumes that a
// spec.fuse.volumeMounts entry names, and fails on a mount naming none
// (pkg/ddc/thin/transform_volumes.go transformFuseVolumes).
t.test('the rw runtime stages on an emptyDir larger than staging-size, on disk', async (t) => {
  const options = strMap(fuseOf(rwRuntime).options, 'rw fuse.options');
  const stagingDir = options['staging-dir'];
  t.ok(stagingDir, `${rwRuntime.name}: staging-dir is set`);
  t.ok(options['staging-size'], `${rwRuntime.name}: staging-size is set`);
  const volumes = arr(spec(rwRuntime).volumes, 'rw spec.volumes').map((v) => obj(v, 'volume'));
  const volumeMounts = arr(fuseOf(rwRuntime).volumeMounts, 'rw fuse.volumeMounts').map((v) => obj(v, 'volumeMount'));
  for (const vm of volumeMounts) {
    t.ok(
      volumes.some((v) => v.name === vm.name),
      `volumeMount ${String(vm.name)} names a volume of spec.volumes`,
    );
  }
  const atStaging = volumeMounts.find((vm) => vm.mountPath === stagingDir);
  t.ok(atStaging, `a volumeMount at staging-dir ${stagingDir ?? '?'}`);
  const volume = volumes.find((v) => v.name === atStaging?.name);
  const emptyDir = obj(volume?.emptyDir, 'staging volume emptyDir');
  t.equal(emptyDir.medium, undefined, 'on the node disk, not medium Memory (a tmpfs counts against the memory limit)');
  const sizeLimit = str(emptyDir.sizeLimit, 'emptyDir.sizeLimit');
  const staging = parseOptionValue(optionSpec('staging-size')!, options['staging-size'] ?? '') as number;
  t.ok(staging > 0, `staging-size ${options['staging-size'] ?? '?'} is not 0 (appends and edits need it)`);
  // Past sizeLimit the kubelet evicts the FUSE pod; the agent's budget answers ENOSPC first.
  t.ok(quantityBytes(sizeLimit) > staging, `emptyDir sizeLimit ${sizeLimit} > staging-size ${options['staging-size'] ?? '?'}`);
  t.notOk(options.sse, 'no sse: the demo MinIO has no KMS');
});

// A ThinRuntime's tieredstore, as Fluid wires it (pkg/ddc/thin/transform_fuse.go step 16 and
// charts/thin/templates/fuse/daemonset.yaml): value.Fuse.CacheDir = levels[0].path, which the chart
// makes a hostPath volume "cache-dir" (type DirectoryOrCreate) mounted at that same path in the
// FUSE container. Only that path is used (no quota, mediumtype or volumeType reaches the
// container, nor config.json or the environment), and pkg/ddc/base/runtime.go refuses a level
// with neither quota nor quotaList.
t.test('the disk-cached runtime: one hostPath level, disk-cache-dir at its path, disk-cache-size below its quota', async (t) => {
  const levels = arr(obj(spec(cacheRuntime).tieredstore, 'tieredstore').levels, 'tieredstore.levels').map((l) => obj(l, 'level'));
  t.equal(levels.length, 1, 'one level: Fluid gives a ThinRuntime only levels[0]');
  const level = levels[0]!;
  t.ok(['SSD', 'HDD'].includes(str(level.mediumtype, 'mediumtype')), `mediumtype ${String(level.mediumtype)}: a disk (MEM would not be one)`);
  t.equal(level.volumeType ?? 'hostPath', 'hostPath', 'volumeType hostPath (the only kind the thin chart mounts)');
  const hostPath = str(level.path, 'level path');
  t.ok(path.isAbsolute(hostPath), `path ${hostPath} is absolute`);
  t.notMatch(hostPath, /,/, 'one path: the thin runtime takes the whole string as one folder');
  t.equal(level.quotaList, undefined, 'quota, not quotaList (one path)');
  const quota = quantityBytes(str(level.quota, 'level quota'));
  t.ok(quota > 0, `quota ${String(level.quota)}`);

  const options = strMap(fuseOf(cacheRuntime).options, 'cache runtime fuse.options');
  checkOptions(t, options, `${cacheRuntime.name} fuse.options`);
  for (const key of ['disk-cache-dir', 'disk-cache-size'])
    t.equal(optionSpec(key)?.scope, 'process', `${key} is process-wide: it belongs in the runtime's options`);
  t.equal(options['disk-cache-dir'], hostPath, 'disk-cache-dir is the path the level is mounted at in the FUSE container');
  const size = parseOptionValue(optionSpec('disk-cache-size')!, options['disk-cache-size'] ?? '') as number;
  t.ok(size > 0 && size <= 0.9 * quota, `disk-cache-size ${options['disk-cache-size'] ?? '?'} is below the quota ${String(level.quota)}, leaving room`);

  // The other runtimes keep the demo as it was: no disk cache.
  for (const r of kinds('ThinRuntime').filter((x) => x !== cacheRuntime)) {
    t.equal(spec(r).tieredstore, undefined, `${r.name}: no tieredstore`);
    t.notOk(strMap(fuseOf(r).options, 'options')['disk-cache-dir'], `${r.name}: no disk-cache-dir`);
  }
});

function pods(): Manifest[] {
  return manifests.filter((m) => m.kind === 'Pod');
}

/** The dataset a pod reads: the DaemonSet one for the CSI pod, the sidecar one for injected pods, the writable one for the writer. */
const DATASET_OF_POD: Readonly<Record<string, string>> = {
  'test-minio': 'minio-demo',
  'test-minio-eci': 'minio-demo-sidecar',
  'test-minio-rw': 'minio-demo-rw',
  'test-minio-sidecar': 'minio-demo-sidecar',
};
/** What each pod's shell does with /data. */
const SCRIPT_OF_POD: Readonly<Record<string, { text: string; what: string }>> = {
  'test-minio': { text: 'ls -lh /data && cat /data/testfile', what: 'lists /data and prints testfile' },
  'test-minio-eci': { text: 'ls -lh /data && cat /data/testfile', what: 'lists /data and prints testfile' },
  'test-minio-sidecar': { text: 'ls -lh /data && cat /data/testfile', what: 'lists /data and prints testfile' },
  'test-minio-rw': {
    text: 'date > /data/written-by-pod.txt && echo appended >> /data/written-by-pod.txt && cat /data/written-by-pod.txt && ls -l /data',
    what: 'writes a file (streamed), appends to it (staged), prints it and lists /data',
  },
};

t.test('the app pods mount the PVC named like their dataset at /data and read (or write) it', async (t) => {
  t.same(
    pods()
      .map((p) => p.name)
      .sort(),
    Object.keys(DATASET_OF_POD).sort(),
    'a CSI pod, an ECI pod, a sidecar pod and a CSI pod that writes',
  );
  for (const pod of pods()) {
    const s = spec(pod);
    const volumes = arr(s.volumes, `${pod.name} volumes`).map((v) => obj(v, 'volume'));
    const pvc = volumes.find((v) => v.persistentVolumeClaim !== undefined);
    const want = DATASET_OF_POD[pod.name];
    t.equal(obj(pvc?.persistentVolumeClaim, `${pod.name} pvc`).claimName, want, `${pod.name}: claimName ${want ?? '?'}`);
    t.ok(
      kinds('Dataset').some((d) => d.name === want),
      `${pod.name}: the Dataset ${want ?? '?'} is in docker/`,
    );
    const [container] = arr(s.containers, 'containers').map((c) => obj(c, 'container'));
    const mount = arr(container?.volumeMounts, 'volumeMounts')
      .map((v) => obj(v, 'volumeMount'))
      .find((v) => v.name === pvc?.name);
    t.equal(mount?.mountPath, '/data', `${pod.name}: the PVC volume at /data`);
    const script = SCRIPT_OF_POD[pod.name];
    t.match(arr(container?.args, 'args').join(' '), script?.text ?? '?', `${pod.name}: ${script?.what ?? '?'}`);
    t.equal(s.restartPolicy, 'Never', `${pod.name}: restartPolicy Never`);
  }
});

const labelsOf = (pod: Manifest): Record<string, string> => strMap(obj(pod.body.metadata, 'metadata').labels ?? {}, `${pod.name} labels`);
const annotationsOf = (pod: Manifest): Record<string, string> => strMap(obj(pod.body.metadata, 'metadata').annotations ?? {}, `${pod.name} annotations`);

t.test('the ECI pod carries the ACK sidecar labels, the CSI pod none', async (t) => {
  const labels = labelsOf(one('Pod', 'test-minio-eci'));
  t.equal(labels['alibabacloud.com/fluid-sidecar-target'], 'eci', 'alibabacloud.com/fluid-sidecar-target: eci');
  t.equal(labels['alibabacloud.com/eci'], 'true', 'alibabacloud.com/eci: "true" (a string)');
  // Fluid refuses a pod with both the platform label and serverless.fluid.io/inject.
  t.equal(labels['serverless.fluid.io/inject'], undefined, 'not together with serverless.fluid.io/inject');
  for (const name of ['test-minio', 'test-minio-rw'])
    t.equal(obj(one('Pod', name).body.metadata, 'metadata').labels, undefined, `the CSI pod ${name} has no injection label`);
});

// Label and annotation keys from Fluid's pkg/common/constants.go (InjectServerless,
// InjectAppPostStart, HostMountPathModeOnDefaultPlatformKey, HostPathModeRandomSuffix).
t.test("the sidecar pod: open-source Fluid's injection, a host folder of its own, no app-container check", async (t) => {
  const pod = one('Pod', 'test-minio-sidecar');
  const labels = labelsOf(pod);
  t.equal(labels['serverless.fluid.io/inject'], 'true', 'serverless.fluid.io/inject: "true" (a string)');
  t.equal(labels['alibabacloud.com/fluid-sidecar-target'], undefined, 'no ACK platform label beside it (Fluid refuses both)');
  // The check looks for the runtime type "thin" in the mount's type: never true of fuse.fluid-s3.
  t.equal(labels['app.poststart.fluid.io/inject'], undefined, 'no app.poststart.fluid.io/inject');
  t.notMatch(`fuse.${FS_SUBTYPE}`, /thin/, `the agent's mount type fuse.${FS_SUBTYPE} does not contain "thin"`);
  t.equal(
    annotationsOf(pod)['default.fuse-sidecar.fluid.io/host-mount-path-mode'],
    'random-suffix',
    'host-mount-path-mode random-suffix: no host folder shared with another pod',
  );
  for (const p of pods()) t.equal(labelsOf(p)['app.poststart.fluid.io/inject'], undefined, `${p.name}: no app.poststart.fluid.io/inject`);
});

t.test('MinIO, the secret and the dataset agree', async (t) => {
  const service = one('Service', 'minio');
  const ports = arr(spec(service).ports, 'ports').map((p) => Number(obj(p, 'port').port));
  const url = new URL(parseOptionValue(optionSpec('minio-url')!, strMap(mounts[0]!.options, 'options')['minio-url'] ?? '') as string);
  t.equal(url.hostname, service.name, 'minio-url names the Service');
  t.ok(ports.includes(Number(url.port)), `minio-url's port ${url.port} is a Service port`);

  const deploy = spec(one('Deployment', 'minio'));
  t.equal(obj(deploy.strategy, 'strategy').type, 'Recreate', 'strategy Recreate');
  const [container] = arr(obj(obj(deploy.template, 'template').spec, 'template spec').containers, 'containers').map((c) => obj(c, 'container'));
  t.match(container?.image, /^bitnami\/minio/, 'bitnami/minio');
  const env = Object.fromEntries(arr(container?.env, 'env').map((e) => [str(obj(e, 'env').name, 'env name'), str(obj(e, 'env').value, 'env value')]));
  t.equal(env.MINIO_ROOT_USER, secretData['minio-access-key'], 'the secret holds the MinIO user');
  t.equal(env.MINIO_ROOT_PASSWORD, secretData['minio-access-secret'], 'the secret holds the MinIO password');
  t.match(env.MINIO_DEFAULT_BUCKETS, /(^|,)my-first-bucket(:|,|$)/, "MinIO makes the dataset's bucket");
});

// Fluid (configmap mode, the default since 1.0; pkg/ddc/thin/transform_config.go and
// transform_fuse.go): each encryptOption becomes the path of the mounted secret file (the
// secret's folder joined with secretKeyRef.key, so the folder itself when key is missing), the
// ThinRuntime's fuse.options are runtimeOptions, targetPath is
// /runtime-mnt/thin/<namespace>/<dataset>/thin-fuse, and MOUNT_OPTIONS joins the profile's
// fuse.options with the runtime's (the runtime's win).
async function renderAndLoad(
  t: Test,
  datasetMountsToRender: readonly Obj[],
  datasetName: string,
  runtimeOptions: Record<string, string>,
  accessModes: readonly string[] = ['ReadOnlyMany'],
) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fluid-s3-fuse-docker-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const secretsRoot = path.join(dir, 'etc/fluid/secrets');
  await k8sSecret(secretsRoot, secret.name, secretData);

  const rendered = datasetMountsToRender.map((m) => {
    const options = { ...strMap(m.options ?? {}, 'options') };
    for (const e of arr(m.encryptOptions ?? [], 'encryptOptions').map((x) => obj(x, 'encryptOption'))) {
      const ref = obj(obj(e.valueFrom, 'valueFrom').secretKeyRef, 'secretKeyRef');
      options[str(e.name, 'name')] = path.join(secretsRoot, str(ref.name, 'secret name'), ref.key === undefined ? '' : str(ref.key, 'secret key'));
    }
    return { mountPoint: m.mountPoint, options, name: m.name, ...(m.readOnly !== undefined && { readOnly: m.readOnly }) };
  });
  const targetPath = `/runtime-mnt/thin/default/${datasetName}/thin-fuse`;
  const config = { mounts: rendered, runtimeOptions, targetPath, accessModes };
  const file = await writeConfig(dir, 'etc/fluid/config/config.json', config);
  const mountOptions = Object.entries({ ...strMap(profileFuse.options ?? {}, 'profile options'), ...runtimeOptions })
    .map(([k, v]) => (v === '' ? k : `${k}=${v}`))
    .join(',');
  const plan = await loadFluidPlan(
    { kind: 'fluid', flags: {} },
    { env: { MOUNT_OPTIONS: mountOptions, MOUNT_POINT: targetPath }, secretsRoot, defaultConfigPaths: [file] },
  );
  return { plan, targetPath };
}

t.test('what Fluid renders from the manifests loads as the plan the demo needs', async (t) => {
  const runtimeOptions = strMap(runtimeFuse.options ?? {}, 'runtime options');
  const { plan, targetPath } = await renderAndLoad(t, mounts, dataset.name, runtimeOptions, accessModesOf(dataset));
  t.equal(plan.targetPath, targetPath);
  t.equal(plan.kernelWritable, false, 'ReadOnlyMany: the kernel mount is ro');
  t.same(plan.unknownOptions, [], 'no option the agent would warn about');
  t.equal(plan.buckets.length, 1);
  t.match(plan.buckets[0], {
    name: 'minio',
    bucket: 'my-first-bucket',
    endpoint: 'http://minio:9000',
    pathStyle: true,
    readOnly: true,
    statCacheTtlMs: 5 * 60_000,
    credentials: {
      accessKeyId: { option: 'minio-access-key', value: secretData['minio-access-key'] },
      secretAccessKey: { option: 'minio-access-secret', value: secretData['minio-access-secret'] },
    },
  });
  t.match(plan.settings, { cacheSizeBytes: 512 * 2 ** 20, readAheadMaxBytes: 64 * 2 ** 20, logLevel: 'info', requestTimeoutMs: 30_000 });
  t.same(plan.settings.metricsAddress, { host: '0.0.0.0', port: 9567 }, 'the DaemonSet FUSE pod serves /metrics on the default 0.0.0.0:9567');
});

t.test('the sidecar dataset loads with no metrics listener (or one off the default port)', async (t) => {
  const runtimeOptions = strMap(fuseOf(sidecarRuntime).options ?? {}, 'sidecar runtime options');
  const { plan } = await renderAndLoad(t, datasetMounts(sidecarDataset), sidecarDataset.name, runtimeOptions, accessModesOf(sidecarDataset));
  t.same(plan.unknownOptions, [], 'no option the agent would warn about');
  t.equal(plan.kernelWritable, false, 'ReadOnlyMany: the kernel mount is ro');
  t.match(plan.buckets, [{ name: 'minio', bucket: 'my-first-bucket', endpoint: 'http://minio:9000' }]);
  const address = plan.settings.metricsAddress;
  t.ok(address === undefined || address.port !== 9567, `metrics-address ${runtimeOptions['metrics-address'] ?? '?'}: off, or not port 9567`);
  t.equal(runtimeOptions['metrics-address'], 'off', 'the example turns the listener off');
  t.equal(address, undefined, 'no listener in the application pod');
});

t.test('the rw dataset loads writable, with its staging folder and budget', async (t) => {
  const runtimeOptions = strMap(fuseOf(rwRuntime).options ?? {}, 'rw runtime options');
  const { plan } = await renderAndLoad(t, datasetMounts(rwDataset), rwDataset.name, runtimeOptions, accessModesOf(rwDataset));
  t.same(plan.unknownOptions, [], 'no option the agent would warn about');
  t.equal(plan.kernelWritable, true, 'ReadWriteMany: the kernel mount is rw');
  t.match(plan.buckets, [{ name: 'minio', bucket: 'my-first-bucket', endpoint: 'http://minio:9000', readOnly: false }]);
  t.equal(plan.settings.stagingDir, runtimeOptions['staging-dir'], `staging-dir ${runtimeOptions['staging-dir'] ?? '?'}`);
  t.equal(
    plan.settings.stagingSizeBytes,
    parseOptionValue(optionSpec('staging-size')!, runtimeOptions['staging-size'] ?? '') as number,
    `staging-size ${runtimeOptions['staging-size'] ?? '?'}`,
  );
  t.equal(plan.settings.cacheSizeBytes, 512 * 2 ** 20, "cache-size 512MiB: readers' and writers' budget");

  // What docker/README.md says: a mount marked readOnly stays read-only in a writable dataset.
  const [first] = datasetMounts(rwDataset);
  const { plan: marked } = await renderAndLoad(t, [{ ...first, readOnly: true }], rwDataset.name, runtimeOptions, accessModesOf(rwDataset));
  t.match(marked.buckets, [{ name: 'minio', readOnly: true }], 'readOnly: true on the mount: the bucket is read-only');
});

const dockerReadme = readFileSync(path.join(DOCKER, 'README.md'), 'utf8');

t.test('the disk-cached dataset loads read-only, with its disk cache in the tieredstore path', async (t) => {
  const runtimeOptions = strMap(fuseOf(cacheRuntime).options ?? {}, 'cache runtime options');
  const { plan, targetPath } = await renderAndLoad(t, datasetMounts(cacheDataset), cacheDataset.name, runtimeOptions, accessModesOf(cacheDataset));
  t.same(plan.unknownOptions, [], 'no option the agent would warn about');
  t.equal(plan.kernelWritable, false, 'ReadOnlyMany: the kernel mount is ro');
  t.match(plan.buckets, [{ name: 'minio', bucket: 'my-first-bucket', endpoint: 'http://minio:9000', readOnly: true }]);
  const level = obj(arr(obj(spec(cacheRuntime).tieredstore, 'tieredstore').levels, 'levels')[0], 'level');
  t.equal(plan.settings.diskCacheDir, level.path, `diskCacheDir ${String(level.path)}`);
  t.equal(plan.settings.diskCacheSizeBytes, 16 * 2 ** 30, 'diskCacheSizeBytes 16 GiB');
  // docker/README.md names the dataset's folder under the hostPath (for the clean-up): the agent's own name for it.
  const folder = sourceFolderName(targetPath);
  t.ok(dockerReadme.includes(`${String(level.path)}/${folder}`), `docker/README.md shows the folder ${String(level.path)}/${folder}`);
});

// docker/README.md "What we refuse" shows the line each refusal prints; these render the two
// cases from the demo dataset and check the README shows the agent's real line.

async function refusal(t: Test, mount: Obj): Promise<ConfigError | undefined> {
  try {
    await renderAndLoad(t, [mount], dataset.name, {});
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  t.fail('the mount was accepted');
  return undefined;
}

t.test('a pvc:// mount point is refused with the line docker/README.md shows', async (t) => {
  const err = await refusal(t, { ...mounts[0], mountPoint: 'pvc://my-pvc' });
  t.equal(err?.code, 'BAD_MOUNT_POINT');
  t.match(err?.message, 'pvc:// mounts are served by Fluid itself, not by this runtime');
  t.ok(err && dockerReadme.includes(`fluid-s3-fuse: ${err.message}`), `docker/README.md shows "fluid-s3-fuse: ${err?.message ?? '?'}"`);
});

t.test('a secretKeyRef without key is refused, naming the option, with the line docker/README.md shows', async (t) => {
  const [first, ...rest] = arr(mounts[0]!.encryptOptions, 'encryptOptions').map((e) => obj(e, 'encryptOption'));
  const ref = obj(obj(first!.valueFrom, 'valueFrom').secretKeyRef, 'secretKeyRef');
  const keyless = { ...first, valueFrom: { secretKeyRef: { name: ref.name } } };
  const err = await refusal(t, { ...mounts[0], encryptOptions: [keyless, ...rest] });
  t.equal(err?.code, 'SECRET_FILE');
  t.match(err?.message, `option "${str(first!.name, 'name')}"`, 'names the option');
  t.match(err?.message, 'has no "key"', 'says key is missing');
  // The README shows the line with Fluid's real path; the test's secrets root is a temp folder.
  const shown = err?.message.replace(/\S*\/etc\/fluid\/secrets\//, '/etc/fluid/secrets/');
  t.ok(shown && dockerReadme.includes(`fluid-s3-fuse: ${shown}`), `docker/README.md shows "fluid-s3-fuse: ${shown ?? '?'}"`);
});
