/**
 * Follows config.json and secret files while the agent runs. The kubelet never edits a ConfigMap
 * or Secret file: it writes a new `..<timestamp>` folder, renames `..data_tmp` over `..data` and
 * deletes the old folder, so a watch on the file itself dies at the first update. Hence one
 * fs.watch per FOLDER (or, while a folder does not exist yet, its nearest existing ancestor), plus
 * a poll for runtimes without inotify and for the subPath layout that inotify never reports.
 * Any event only schedules a check; the check compares sha256 digests, so noise costs a read.
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync, watch as fsWatch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface ConfigWatchOptions {
  /** Files whose content matters (config.json, secret files). May change: setFiles(). */
  readonly files: readonly string[];
  readonly pollIntervalMs?: number; // default 10_000
  readonly debounceMs?: number; // default 250
  /** Called (never concurrently, never twice for the same contents) when any file's content (or existence) changed since the last call or start. */
  readonly onChange: (changed: readonly string[]) => void | Promise<void>;
  readonly onError?: (err: unknown) => void;
}

export interface ConfigWatch {
  setFiles(files: readonly string[]): void;
  close(): void;
  /** test hook: check now */
  checkNow(): Promise<void>;
}

/** The part of fs.FSWatcher the watcher uses: tests inject one that fails. */
export interface FolderWatcher {
  close(): void;
  on(event: 'error', listener: (err: Error) => void): unknown;
}
export interface ConfigWatchDeps {
  readonly watch: (folder: string, onEvent: () => void) => FolderWatcher;
}
const nodeDeps: ConfigWatchDeps = { watch: (folder, onEvent) => fsWatch(folder, onEvent) };

/** What a check compares: a content digest, or why there is no content (missing, EISDIR, EACCES). */
async function fileState(file: string): Promise<string> {
  try {
    return createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'missing' : `unreadable:${code}`;
  }
}

/** The folder to watch for a file: its own, or the nearest ancestor that exists (a secret mounted later). */
function watchableFolder(file: string): string {
  let folder = dirname(file);
  while (!existsSync(folder) && dirname(folder) !== folder) folder = dirname(folder);
  return folder;
}

function inodeOf(folder: string): number | undefined {
  try {
    return statSync(folder).ino;
  } catch {
    return undefined;
  }
}

export function watchConfig(opts: ConfigWatchOptions, deps: ConfigWatchDeps = nodeDeps): ConfigWatch {
  let files = [...new Set(opts.files)];
  /** State last delivered (or first seen) per file; a file without an entry is new: its first state is a baseline, not a change. */
  const known = new Map<string, string>();
  // The inode tells a folder deleted and created again (whose old watch is dead) from the same folder.
  const watchers = new Map<string, { readonly watcher: FolderWatcher; readonly ino: number | undefined }>();
  const watchFailures = new Map<string, string>(); // folder → last error reported, so a poll does not repeat it
  let closed = false;
  let debounce: NodeJS.Timeout | undefined;
  let tail: Promise<void> = Promise.resolve();
  let queued = false;

  const report = (err: unknown): void => {
    try {
      opts.onError?.(err);
    } catch {
      // a failing error handler must not turn a watch error into an uncaught exception
    }
  };

  const schedule = (): void => {
    if (closed) return;
    clearTimeout(debounce);
    debounce = setTimeout(() => void check(), opts.debounceMs ?? 250);
  };

  const unwatch = (folder: string): void => {
    watchers.get(folder)?.watcher.close();
    watchers.delete(folder);
  };

  const ensureWatchers = (): void => {
    const wanted = new Set(files.map(watchableFolder));
    for (const folder of watchers.keys()) if (!wanted.has(folder)) unwatch(folder);
    for (const folder of wanted) {
      const ino = inodeOf(folder);
      const current = watchers.get(folder);
      if (current && current.ino === ino) continue;
      unwatch(folder);
      try {
        const watcher = deps.watch(folder, schedule);
        watcher.on('error', (err) => {
          report(err);
          if (watchers.get(folder)?.watcher === watcher) unwatch(folder); // the next check opens it again
        });
        watchers.set(folder, { watcher, ino });
        watchFailures.delete(folder);
      } catch (err) {
        const message = String(err);
        if (watchFailures.get(folder) !== message) report(err);
        watchFailures.set(folder, message);
      }
    }
  };

  /** One check. Watchers are (re)opened BEFORE reading, so a file written meanwhile is seen by this read or by the new watch. */
  const runOnce = async (): Promise<void> => {
    if (closed) return;
    ensureWatchers();
    const checked = [...files];
    const states = await Promise.all(checked.map(fileState));
    const changed: string[] = [];
    checked.forEach((file, i) => {
      const state = states[i] as string;
      if (!files.includes(file)) return; // dropped by setFiles meanwhile
      if (known.has(file) && known.get(file) !== state) changed.push(file);
      known.set(file, state);
    });
    if (changed.length > 0 && !closed) await opts.onChange(changed);
  };

  /** Serialised: at most one check runs and one waits; a trigger while one waits joins it (it has not read yet). */
  const check = (): Promise<void> => {
    if (closed) return Promise.resolve();
    if (queued) return tail;
    queued = true;
    tail = tail.then(async () => {
      queued = false;
      await runOnce().catch(report);
    });
    return tail;
  };

  const poll = setInterval(() => void check(), opts.pollIntervalMs ?? 10_000);
  void check(); // baseline

  return {
    setFiles(next) {
      files = [...new Set(next)];
      for (const file of known.keys()) if (!files.includes(file)) known.delete(file);
      void check(); // baseline for the new files, watchers follow the list
    },
    close() {
      closed = true;
      clearInterval(poll);
      clearTimeout(debounce);
      for (const folder of [...watchers.keys()]) unwatch(folder);
    },
    checkNow: check,
  };
}
