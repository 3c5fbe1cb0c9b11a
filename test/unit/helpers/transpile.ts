/**
 * Turns the project's TypeScript into plain ESM JavaScript in a directory of its own, file by
 * file (no type check), so a test can run part of the program in a child `node` without the
 * TypeScript loader: the loader alone costs ~200 MiB of RSS, which would hide what a memory
 * bound is about. `node_modules` is linked in, so bare imports resolve as in the repository.
 */
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Transpiles every .ts file under each of `dirs` (relative to `root`); returns the output root and a cleanup. */
export function transpileTree(root: string, dirs: readonly string[]): { outDir: string; cleanup: () => void } {
  const outDir = mkdtempSync(join(tmpdir(), 'fluid-s3-fuse-js-'));
  writeFileSync(join(outDir, 'package.json'), JSON.stringify({ type: 'module' }));
  symlinkSync(join(root, 'node_modules'), join(outDir, 'node_modules'), 'dir');
  for (const dir of dirs) {
    for (const file of tsFiles(join(root, dir))) {
      const js = ts.transpileModule(readFileSync(file, 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
        fileName: file,
      }).outputText;
      const target = join(outDir, relative(root, file)).replace(/\.ts$/, '.js');
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, js);
    }
  }
  return { outDir, cleanup: () => rmSync(outDir, { recursive: true, force: true }) };
}
