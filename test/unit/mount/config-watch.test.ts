import { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, readFile, readlink, rename, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { watchConfig, type ConfigWatchDeps, type ConfigWatchOptions, type FolderWatcher } from '../../../src/mount/config-watch.js';

const HOUR = 3_600_000;

async function tempRoot(t: Test): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'config-watch-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  return root;
}

let generation = 0;
/** The kubelet's AtomicWriter: new `..<timestamp>` folder, `..data_tmp` renamed over `..data`, user symlinks, old folder deleted. */
async function kubeletUpdate(folder: string, files: Record<string, string>): Promise<void> {
  await mkdir(folder, { recursive: true });
  const stamp = `..2026_12_02_04_40_00.${++generation}`;
  await mkdir(join(folder, stamp));
  for (const [name, content] of Object.entries(files)) await writeFile(join(folder, stamp, name), content);
  const old = await readlink(join(folder, '..data')).catch(() => undefined);
  await symlink(stamp, join(folder, '..data_tmp'));
  await rename(join(folder, '..data_tmp'), join(folder, '..data'));
  for (const name of Object.keys(files)) await symlink(join('..data', name), join(folder, name)).catch(() => undefined);
  if (old) await rm(join(folder, old), { recursive: true, force: true });
}

/** A watcher under test with its calls queued: next() waits for the next onChange, never for time. */
function start(t: Test, files: string[], extra: Partial<ConfigWatchOptions> = {}, deps?: ConfigWatchDeps) {
  const calls: string[][] = [];
  const errors: unknown[] = [];
  const waiting: ((changed: string[]) => void)[] = [];
  const watch = watchConfig(
    {
      files,
      pollIntervalMs: HOUR, // the watch must deliver unless a test says otherwise
      debounceMs: 20,
      onChange: (changed) => {
        calls.push([...changed]);
        waiting.shift()?.([...changed]);
      },
      onError: (err) => errors.push(err),
      ...extra,
    },
    deps,
  );
  t.teardown(() => watch.close());
  const next = () => new Promise<string[]>((resolve) => waiting.push(resolve));
  return { watch, calls, errors, next };
}

t.test('kubelet atomic updates: one call per real content change, none for the same content', async (t) => {
  const folder = join(await tempRoot(t), 'config');
  const config = join(folder, 'config.json');
  await kubeletUpdate(folder, { 'config.json': '{"mounts":[]}' });
  const w = start(t, [config]);
  await w.watch.checkNow();
  for (const mounts of ['[{"name":"a"}]', '[{"name":"a"},{"name":"b"}]', '[{"name":"b"}]']) {
    const call = w.next();
    await kubeletUpdate(folder, { 'config.json': `{"mounts":${mounts}}` });
    t.same(await call, [config], `change to ${mounts} delivered`);
  }
  await kubeletUpdate(folder, { 'config.json': '{"mounts":[{"name":"b"}]}' }); // same bytes, new ..data
  await w.watch.checkNow();
  t.equal(w.calls.length, 3, 'a swap with identical content fires nothing');
  const call = w.next();
  await kubeletUpdate(folder, { 'config.json': '{"mounts":[]}' });
  t.same(await call, [config], 'the watch still follows the folder after four swaps');
  t.equal(w.calls.length, 4);
  t.same(w.errors, []);
});

t.test('subPath layout: a file edited in place is a change, a touch is not', async (t) => {
  const config = join(await tempRoot(t), 'config.json');
  await writeFile(config, '{"mounts":[]}');
  const w = start(t, [config]);
  await w.watch.checkNow();
  await utimes(config, new Date(), new Date());
  await writeFile(config, '{"mounts":[]}');
  await w.watch.checkNow();
  t.equal(w.calls.length, 0, 'touch and identical rewrite: no call');
  const call = w.next();
  await writeFile(config, '{"mounts":[{"name":"a"}]}');
  t.same(await call, [config]);
  t.equal(w.calls.length, 1);
});

t.test('a secret whose folder does not exist at start: a call when it appears', async (t) => {
  const root = await tempRoot(t);
  const secret = join(root, 'secrets', 'minio', 'access-key');
  const w = start(t, [secret]);
  await w.watch.checkNow();
  const call = w.next();
  await mkdir(join(root, 'secrets', 'minio'), { recursive: true });
  await kubeletUpdate(join(root, 'secrets', 'minio'), { 'access-key': 'AKIA' });
  t.same(await call, [secret], 'seen through the watch on the nearest existing folder');
  const rotated = w.next();
  await kubeletUpdate(join(root, 'secrets', 'minio'), { 'access-key': 'AKIB' });
  t.same(await rotated, [secret], 'then followed in its own folder');
  t.same(w.errors, [], 'a missing folder is not an error');
});

t.test('existence is part of the state: deleted and created again are both calls', async (t) => {
  const file = join(await tempRoot(t), 'secret');
  await writeFile(file, 'x');
  const w = start(t, [file]);
  await w.watch.checkNow();
  let call = w.next();
  await unlink(file);
  t.same(await call, [file], 'deleted');
  call = w.next();
  await writeFile(file, 'x');
  t.same(await call, [file], 'back with the old content is still a change from missing');
  t.equal(w.calls.length, 2);
});

t.test('without inotify the poll delivers the change; the watch failure is reported once', async (t) => {
  const file = join(await tempRoot(t), 'config.json');
  await writeFile(file, 'v1');
  let attempts = 0;
  let thirdAttempt: () => void = () => undefined;
  const triedThrice = new Promise<void>((resolve) => (thirdAttempt = resolve));
  const noInotify: ConfigWatchDeps = {
    watch: () => {
      if (++attempts === 3) thirdAttempt();
      throw Object.assign(new Error('inotify unavailable'), { code: 'ENOSYS' });
    },
  };
  const w = start(t, [file], { pollIntervalMs: 15 }, noInotify);
  await w.watch.checkNow();
  const call = w.next();
  await writeFile(file, 'v2');
  t.same(await call, [file]);
  await triedThrice;
  t.equal(w.errors.length, 1, 'reported once, not at every poll');
  t.match(w.errors[0], { code: 'ENOSYS' });
});

t.test('an error event of a watch goes to onError, and the watch is opened again', async (t) => {
  const file = join(await tempRoot(t), 'config.json');
  await writeFile(file, 'v1');
  const opened: (EventEmitter & FolderWatcher)[] = [];
  const fake: ConfigWatchDeps = {
    watch: (_folder, onEvent) => {
      const watcher = Object.assign(new EventEmitter(), { close: () => undefined });
      watcher.on('change', onEvent);
      opened.push(watcher);
      return watcher;
    },
  };
  const w = start(t, [file], {}, fake);
  await w.watch.checkNow();
  opened[0]?.emit('error', new Error('inotify queue overflow'));
  t.match(w.errors, [{ message: 'inotify queue overflow' }]);
  await w.watch.checkNow();
  t.equal(opened.length, 2, 're-opened by the next check');
  const call = w.next();
  await writeFile(file, 'v2');
  opened[1]?.emit('change');
  t.same(await call, [file], 'events of the new watch are followed');
});

t.test('onChange never runs concurrently; changes during a slow call end in one more call with the last state', async (t) => {
  const file = join(await tempRoot(t), 'config.json');
  await writeFile(file, 'v1');
  let active = 0;
  let maxActive = 0;
  const seen: string[] = [];
  let release: () => void = () => undefined;
  const blocked = new Promise<void>((resolve) => (release = resolve));
  let entered: () => void = () => undefined;
  const firstEntered = new Promise<void>((resolve) => (entered = resolve));
  const w = start(t, [file], {
    onChange: async () => {
      maxActive = Math.max(maxActive, ++active);
      seen.push(await readFile(file, 'utf8'));
      if (seen.length === 1) {
        entered();
        await blocked;
      }
      active--;
    },
  });
  await w.watch.checkNow();
  await writeFile(file, 'v2');
  const first = w.watch.checkNow();
  await firstEntered;
  await writeFile(file, 'v3');
  const second = w.watch.checkNow();
  await writeFile(file, 'v4');
  const third = w.watch.checkNow();
  release();
  await Promise.all([first, second, third]);
  await w.watch.checkNow();
  t.same(seen, ['v2', 'v4'], 'exactly two calls, the second with the last state');
  t.equal(maxActive, 1);
});

t.test('several files changed before a check: one call naming each', async (t) => {
  const root = await tempRoot(t);
  const [config, key, secret] = ['config.json', 'access-key', 'secret-key'].map((name) => join(root, name)) as [string, string, string];
  for (const file of [config, key, secret]) await writeFile(file, 'v1');
  const inert: ConfigWatchDeps = { watch: () => Object.assign(new EventEmitter(), { close: () => undefined }) };
  const w = start(t, [config, key, secret], {}, inert);
  await w.watch.checkNow();
  await writeFile(secret, 'v2');
  await writeFile(config, 'v2');
  await w.watch.checkNow();
  t.same(w.calls, [[config, secret]]);
});

t.test('setFiles adds and removes files', async (t) => {
  const root = await tempRoot(t);
  const [a, b] = [join(root, 'a', 'file'), join(root, 'b', 'file')];
  await kubeletUpdate(join(root, 'a'), { file: 'a1' });
  await kubeletUpdate(join(root, 'b'), { file: 'b1' });
  const w = start(t, [a]);
  await w.watch.checkNow();
  w.watch.setFiles([a, b]);
  await w.watch.checkNow();
  t.equal(w.calls.length, 0, 'an added file starts from its current content');
  let call = w.next();
  await kubeletUpdate(join(root, 'b'), { file: 'b2' });
  t.same(await call, [b], 'an added file is followed');
  w.watch.setFiles([b]);
  await kubeletUpdate(join(root, 'a'), { file: 'a2' });
  await w.watch.checkNow();
  t.equal(w.calls.length, 1, 'a removed file is not');
  call = w.next();
  await kubeletUpdate(join(root, 'b'), { file: 'b3' });
  t.same(await call, [b]);
});

t.test('close stops the poll, the debounce and every watch; no call after close', async (t) => {
  const root = await tempRoot(t);
  const handles = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout' || kind === 'FSEventWrap').length;
  const before = handles();
  const file = join(root, 'config', 'config.json');
  await kubeletUpdate(join(root, 'config'), { 'config.json': 'v1' });
  const w = start(t, [file, join(root, 'missing', 'secret')], { pollIntervalMs: 10 });
  await w.watch.checkNow();
  t.ok(handles() > before, 'running: timers and watches are open');
  await kubeletUpdate(join(root, 'config'), { 'config.json': 'v2' }); // may leave a debounce pending
  w.watch.close();
  const callsAtClose = w.calls.length;
  await writeFile(file, 'v3');
  await w.watch.checkNow();
  await new Promise(setImmediate); // a closed watch's handle goes at the loop's next close phase
  await new Promise(setImmediate);
  t.equal(handles(), before, 'no timer and no watch left');
  t.equal(w.calls.length, callsAtClose, 'no call after close');
});
