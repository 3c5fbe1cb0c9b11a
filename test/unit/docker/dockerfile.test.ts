// The Dockerfile cannot be built on the machines this project is tested on (no Docker daemon),
// so these tests keep it true to the tree instead: what it copies exists or is made by its
// build stage, its ENTRYPOINT is the file tsc emits from src/cli.ts, its base is a supported
// Node.js LTS, it installs exactly the Debian packages whose programs the agent and Fluid run,
// and .dockerignore keeps the context to what the build needs.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Cmd, Copy, DockerfileParser, Entrypoint, From, Run, Workdir, type Instruction } from 'dockerfile-ast';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const read = (rel: string): string => readFileSync(path.join(ROOT, rel), 'utf8');

interface Stage {
  readonly from: From;
  readonly instructions: readonly Instruction[];
}

/** The stages of the Dockerfile, each with its instructions after its FROM. */
function parseStages(text: string): Stage[] {
  const stages: { from: From; instructions: Instruction[] }[] = [];
  for (const ins of DockerfileParser.parse(text).getInstructions()) {
    if (ins instanceof From) stages.push({ from: ins, instructions: [] });
    else stages.at(-1)?.instructions.push(ins);
  }
  return stages;
}

const stages = parseStages(read('Dockerfile'));
const buildStage = stages.find((s) => s.from.getBuildStage() === 'build');
const runtimeStage = stages.at(-1);

function ofType<T extends Instruction>(stage: Stage | undefined, type: abstract new (...args: never[]) => T): T[] {
  return (stage?.instructions ?? []).filter((i): i is T => i instanceof type);
}

/** The WORKDIR in force at an instruction (absolute paths only, as this Dockerfile uses). */
function workdirAt(stage: Stage, ins: Instruction): string {
  let dir = '/';
  for (const i of stage.instructions) {
    if (i === ins) break;
    if (i instanceof Workdir) dir = path.posix.resolve(dir, i.getArguments()[0]?.getValue() ?? '.');
  }
  return dir;
}

/** A RUN line as shell commands: its words split at `&&`, `||` and `;`. */
function commandsOf(run: Run): string[][] {
  const commands: string[][] = [[]];
  for (const word of run.getArguments().map((a) => a.getValue())) {
    if (word === '&&' || word === '||' || word === ';') commands.push([]);
    else commands.at(-1)?.push(word);
  }
  return commands.filter((c) => c.length > 0);
}

const runCommands = (stage: Stage | undefined): string[][] => ofType(stage, Run).flatMap(commandsOf);
const startsWith = (cmd: readonly string[], prefix: readonly string[]): boolean => prefix.every((w, i) => cmd[i] === w);

interface TsConfig {
  compilerOptions: { outDir: string; rootDir: string };
  include: string[];
}
const tsconfig = JSON.parse(read('tsconfig.json')) as TsConfig;
const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string> };

// ------------------------------------------------------------------------------ .dockerignore

interface IgnoreRule {
  readonly negate: boolean;
  readonly re: RegExp;
}

/** .dockerignore patterns (Go filepath.Match plus `**`, `!` exceptions, last match wins). */
function parseDockerignore(text: string): IgnoreRule[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = path.posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+/, '');
      let re = '';
      for (let i = 0; i < pattern.length; i++) {
        const c = pattern[i]!;
        if (c === '*' && pattern[i + 1] === '*') {
          i += 1;
          if (pattern[i + 1] === '/') {
            i += 1;
            re += '(?:.*/)?';
          } else re += '.*';
        } else if (c === '*') re += '[^/]*';
        else if (c === '?') re += '[^/]';
        else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { negate, re: new RegExp(`^${re}$`) };
    });
}

/** Whether a path of the context (relative, `/`-separated) is left out: it or a parent matches. */
function ignored(rules: readonly IgnoreRule[], file: string): boolean {
  const parts = file.split('/');
  let out = false;
  for (const rule of rules) {
    if (parts.some((_, i) => rule.re.test(parts.slice(0, i + 1).join('/')))) out = !rule.negate;
  }
  return out;
}

const ignoreRules = parseDockerignore(read('.dockerignore'));

// ---------------------------------------------------------------------------------------- tests

t.test('two stages on one supported Node.js LTS, Debian bookworm slim, for the arch fuse-native ships', async (t) => {
  t.equal(stages.length, 2, 'a build stage and a runtime stage');
  t.ok(buildStage, 'a stage named build');
  t.not(buildStage, runtimeStage, 'the runtime stage is the last one');
  for (const { from } of stages) {
    const where = `FROM ${from.getImage()}`;
    t.equal(from.getImageName(), 'node', `${where}: the official node image`);
    // 22 and 24 are the LTS lines in support; Node 20 (what CI tests on) is end of life.
    // bookworm, because trixie renamed libfuse2 (libfuse2t64) and the apt line would break.
    t.match(from.getImageTag() ?? '', /^(22|24)(\.\d+){0,2}-bookworm-slim$/, `${where}: Node 22 or 24 on bookworm-slim`);
    // fuse-native 2.2.6 has a prebuild for linux-x64 only.
    t.equal(from.getPlatformFlag()?.getValue(), 'linux/amd64', `${where}: --platform=linux/amd64`);
  }
  t.ok(existsSync(path.join(ROOT, 'node_modules/fuse-native/prebuilds/linux-x64')), 'fuse-native has a linux-x64 prebuild');
  t.equal(buildStage?.from.getImage(), runtimeStage?.from.getImage(), 'node_modules is installed by the Node that runs it');
});

t.test('the build stage installs from the lockfile, compiles with tsconfig.json, drops devDependencies', async (t) => {
  const cmds = runCommands(buildStage);
  const at = (prefix: readonly string[]): number => cmds.findIndex((c) => startsWith(c, prefix));
  const ci = at(['npm', 'ci']);
  const tsc = at(['npx', 'tsc', '-p', 'tsconfig.json']);
  const prune = cmds.findIndex((c) => (startsWith(c, ['npm', 'prune']) || startsWith(c, ['npm', 'ci'])) && c.includes('--omit=dev'));
  t.ok(ci >= 0, 'runs npm ci (the lockfile, exactly)');
  t.notOk(cmds[ci]?.includes('--omit=dev'), 'the first npm ci keeps devDependencies (typescript)');
  t.ok(tsc > ci, 'runs `npx tsc -p tsconfig.json` after npm ci');
  t.ok(prune > tsc, 'then removes devDependencies (npm prune --omit=dev)');
  // The one install script of the lockfile is fuse-native's node-gyp-build: it would compile
  // when the prebuild cannot load here, with a toolchain the slim image lacks.
  t.ok(cmds[ci]?.includes('--ignore-scripts'), 'npm ci --ignore-scripts: the prebuild is used, nothing compiles');
  const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { hasInstallScript?: boolean }> };
  const withScripts = Object.entries(lock.packages)
    .filter(([, p]) => p.hasInstallScript)
    .map(([name]) => name);
  t.same(withScripts, ['node_modules/fuse-native'], 'fuse-native is the only package with an install script');
});

t.test('every COPY from the context names a file of the repository that .dockerignore lets in', async (t) => {
  const copies = stages.flatMap((s) => ofType(s, Copy)).filter((c) => !c.getFromFlag());
  t.ok(copies.length > 0, 'the build copies from the context');
  for (const copy of copies) {
    const sources = copy
      .getArguments()
      .map((a) => a.getValue())
      .slice(0, -1);
    t.ok(sources.length > 0, `${copy.toString()}: has a source`);
    for (const src of sources) {
      const rel = path.posix.normalize(src).replace(/\/$/, '');
      t.ok(existsSync(path.join(ROOT, rel)), `${rel} exists`);
      t.notOk(ignored(ignoreRules, rel), `${rel} is not excluded by .dockerignore`);
    }
  }
  const contextSources = copies.flatMap((c) =>
    c
      .getArguments()
      .map((a) => a.getValue())
      .slice(0, -1),
  );
  for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'src']) {
    t.ok(contextSources.includes(needed), `the build stage gets ${needed}`);
  }
  // tsconfig compiles src/ only: nothing else of the repository is needed.
  t.same(tsconfig.include, ['src/**/*.ts'], 'tsconfig.json compiles src/ only');
});

t.test('COPY --from=build takes only what the build stage makes: dist/, node_modules, package.json', async (t) => {
  const copies = ofType(runtimeStage, Copy).filter((c) => c.getFromFlag());
  const buildDir = buildStage ? workdirAt(buildStage, buildStage.instructions.at(-1)!) : '?';
  const made = new Set([tsconfig.compilerOptions.outDir, 'node_modules', 'package.json'].map((p) => path.posix.join(buildDir, p)));
  t.equal(copies.length, 3, 'three copies from the build stage');
  for (const copy of copies) {
    t.equal(copy.getFromFlag()?.getValue(), 'build', `${copy.toString()}: from the build stage`);
    for (const src of copy
      .getArguments()
      .map((a) => a.getValue())
      .slice(0, -1)) {
      t.ok(made.has(path.posix.normalize(src).replace(/\/$/, '')), `${src} is made by the build stage (${[...made].join(', ')})`);
    }
  }
});

t.test("ENTRYPOINT: tini -g, then node with the flags of src/cli.ts's shebang on the file tsc emits from it; no CMD", async (t) => {
  const [entry, ...more] = ofType(runtimeStage, Entrypoint);
  t.ok(entry, 'the runtime stage has an ENTRYPOINT');
  t.equal(more.length, 0, 'only one');
  if (!entry || !runtimeStage || !buildStage) return;
  const argv = entry.getJSONStrings().map((s) => s.getJSONValue());
  t.ok(argv.length > 0, 'exec (JSON) form: the agent gets signals, no shell in between');

  // Where tsc puts src/cli.ts (outDir + its path under rootDir), and where the runtime stage
  // copies the build stage's outDir to.
  const { outDir, rootDir } = tsconfig.compilerOptions;
  const emitted = path.posix.join(outDir, path.posix.relative(rootDir, 'src/cli.ts').replace(/\.ts$/, '.js'));
  t.equal(emitted, 'dist/src/cli.js', 'tsc emits src/cli.ts as dist/src/cli.js');
  t.ok(existsSync(path.join(ROOT, 'src/cli.ts')), 'src/cli.ts exists');
  t.equal(pkg.bin['fluid-s3-fuse'], emitted, 'package.json bin is the same file');

  const buildOut = path.posix.join(workdirAt(buildStage, buildStage.instructions.at(-1)!), outDir);
  const distCopy = ofType(runtimeStage, Copy).find((c) => c.getArguments()[0]?.getValue().replace(/\/$/, '') === buildOut);
  t.ok(distCopy, `the runtime stage copies ${buildOut}`);
  if (!distCopy) return;
  const dest = path.posix.resolve(workdirAt(runtimeStage, distCopy), distCopy.getArguments().at(-1)!.getValue());
  const script = path.posix.join(dest, path.posix.relative(outDir, emitted));

  // node's flags are those of src/cli.ts's shebang (`#!/usr/bin/env -S node FLAGS`): one list.
  const shebang = read('src/cli.ts').split('\n')[0] ?? '';
  const flags = /^#!\/usr\/bin\/env -S node((?: --[a-z-]+=\d+)*)$/.exec(shebang)?.[1]?.trim().split(' ') ?? [];
  t.ok(flags.length > 0, `src/cli.ts starts with #!/usr/bin/env -S node and its heap flags: ${shebang}`);
  const accepted = spawnSync(process.execPath, [...flags, '-e', '0'], { encoding: 'utf8' });
  t.equal(accepted.status, 0, `node accepts ${flags.join(' ')}${accepted.stderr ? `: ${accepted.stderr}` : ''}`);
  const expected = ['/usr/bin/tini', '-g', '--', 'node', ...flags, script];
  t.same(argv, expected, `ENTRYPOINT ${JSON.stringify(expected)}`);
  t.equal(ofType(runtimeStage, Cmd).length, 0, 'no CMD: no arguments is Fluid mode');

  // The runtime stage runs the entrypoint once, after libfuse2 and node_modules are in place,
  // so an addon that does not load fails the build.
  const runs = ofType(runtimeStage, Run);
  const smoke = runs.findIndex((r) => commandsOf(r).some((c) => startsWith(c, ['node', script, '--version'])));
  const apt = runs.findIndex((r) => commandsOf(r).some((c) => startsWith(c, ['apt-get', 'install'])));
  t.ok(smoke > apt && apt >= 0, `RUN node ${script} --version after the apt-get install`);
  const nodeModules = runtimeStage.instructions.findIndex((i) => i instanceof Copy && i.getArguments().some((a) => a.getValue().endsWith('/node_modules')));
  t.ok(runtimeStage.instructions.indexOf(runs[smoke]!) > nodeModules, 'and after node_modules is copied');
});

// What runs inside the FUSE container, and which bookworm package has it (`dpkg -S` on Debian 12).
const PROVIDERS: Readonly<Record<string, { readonly pkg: string; readonly who: string }>> = {
  fusermount: { pkg: 'fuse', who: 'the agent (stale and busy unmounts)' },
  'libfuse.so.2': { pkg: 'libfuse2', who: "fuse-native's prebuild (NEEDED libfuse.so.2)" },
  tini: { pkg: 'tini', who: 'ENTRYPOINT (PID 1)' },
  bash: { pkg: 'bash', who: "Fluid's sidecar postStart mount check" },
  df: { pkg: 'coreutils', who: "Fluid's metadata sync (df --block-size=1)" },
  stat: { pkg: 'coreutils', who: 'the agent (`check` and /healthz ask the mount with stat -f; the stale-mount check)' },
  realpath: { pkg: 'coreutils', who: 'the agent (targetPath with symlinks resolved)' },
  mkdir: { pkg: 'coreutils', who: 'the agent (mkdir -p targetPath, from a child process)' },
  cat: { pkg: 'coreutils', who: "Fluid's postStart check" },
  expr: { pkg: 'coreutils', who: "Fluid's postStart check" },
  sleep: { pkg: 'coreutils', who: "Fluid's postStart check" },
  date: { pkg: 'coreutils', who: "Fluid's postStart check" },
  grep: { pkg: 'grep', who: "Fluid's postStart check and metadata sync" },
  umount: { pkg: 'mount', who: "Fluid's default preStop, and the agent's lazy unmount" },
  mountpoint: { pkg: 'util-linux', who: 'debugging a mount from `kubectl exec`' },
};

t.test('the runtime stage installs exactly the packages of what the agent and Fluid run', async (t) => {
  const runs = ofType(runtimeStage, Run).filter((r) => commandsOf(r).some((c) => startsWith(c, ['apt-get', 'install'])));
  t.equal(runs.length, 1, 'one apt-get RUN');
  const cmds = runs[0] ? commandsOf(runs[0]) : [];
  const install = cmds.find((c) => startsWith(c, ['apt-get', 'install'])) ?? [];
  const packages = install.slice(2).filter((w) => !w.startsWith('-'));
  t.ok(install.includes('-y'), 'apt-get install -y');
  t.ok(install.includes('--no-install-recommends'), '--no-install-recommends');
  t.ok(startsWith(cmds[0] ?? [], ['apt-get', 'update']), 'apt-get update first, in the same layer');
  t.ok(
    cmds.some((c) => startsWith(c, ['rm', '-rf']) && c.includes('/var/lib/apt/lists/*')),
    'the apt lists are removed in the same layer',
  );
  const wanted = [...new Set(Object.values(PROVIDERS).map((p) => p.pkg))].sort();
  t.same([...packages].sort(), wanted, `installs ${wanted.join(' ')}`);
  t.equal(new Set(packages).size, packages.length, 'no package twice');

  // Every program the agent's source starts is provided for.
  const started = new Set<string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) {
        for (const m of readFileSync(p, 'utf8').matchAll(/\b(?:run|runTool|execFile|execFileSync|spawn|spawnSync)\(\s*'([\w.-]+)'/g)) started.add(m[1]!);
      }
    }
  };
  walk(path.join(ROOT, 'src'));
  t.ok(started.size > 0, `the agent starts ${[...started].join(', ')}`);
  for (const prog of started) {
    if (prog === 'node') continue;
    t.ok(PROVIDERS[prog] && packages.includes(PROVIDERS[prog].pkg), `${prog} (started by src/) comes from an installed package`);
  }
});

t.test('.dockerignore keeps node_modules, dist, tests, benchmarks and .git out of the context', async (t) => {
  for (const out of [
    'node_modules/pino/package.json',
    'dist/src/cli.js',
    'test/unit/docker/dockerfile.test.ts',
    'bench/run.sh',
    '.git/HEAD',
    'coverage/x',
    '.tap/x',
  ]) {
    t.ok(ignored(ignoreRules, out), `${out} is left out`);
  }
  for (const kept of ['package.json', 'package-lock.json', 'tsconfig.json', 'src/cli.ts', 'src/config/options.ts', 'README.md']) {
    t.notOk(ignored(ignoreRules, kept), `${kept} is sent`);
  }
});

t.test('the .dockerignore matcher', async (t) => {
  const rules = parseDockerignore('# c\nnode_modules\n**/*.log\ndocs\n!docs/keep.md\n/abs\n');
  t.ok(ignored(rules, 'node_modules'));
  t.ok(ignored(rules, 'node_modules/a/b.js'));
  t.notOk(ignored(rules, 'src/node_modules_like.ts'));
  t.ok(ignored(rules, 'a/b/c.log'));
  t.ok(ignored(rules, 'c.log'));
  t.ok(ignored(rules, 'docs/x.md'));
  t.notOk(ignored(rules, 'docs/keep.md'));
  t.ok(ignored(rules, 'abs/x'));
});
