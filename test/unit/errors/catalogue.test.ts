/**
 * docs/ERRORS.md and src/error-catalogue.ts say the same thing: every code in the catalogue is
 * documented with its exit status, errno and meaning, and every documented code exists.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { ERROR_CATALOGUE, StartupErrorCode, STORE_ERRORS, type CatalogueEntry } from '../../../src/error-catalogue.js';
import { ConfigErrorCode } from '../../../src/config/index.js';
import { AgentError } from '../../../src/agent-error.js';
import { StoreError } from '../../../src/store/store-error.js';
import { errnoName, FsError, type FsErrno } from '../../../src/fs/errno.js';
import { StartupError } from '../../../src/mount/startup-error.js';

const DOC = new URL('../../../docs/ERRORS.md', import.meta.url);

/** A table row as its cells, trimmed and without code quotes, so column padding does not matter. */
function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split('|')
    .map((c) => c.trim().replace(/^`(.*)`$/, '$1'));
}

/** One catalogue entry in the form a documented row is compared in. */
function row(e: CatalogueEntry): string {
  return JSON.stringify([e.code, e.error, e.exitCode === undefined ? '' : String(e.exitCode), e.errno ?? '', e.meaning]);
}

function documentedRows(): string[] {
  const lines = readFileSync(DOC, 'utf8').split('\n');
  const start = lines.findIndex((l) => JSON.stringify(cells(l)) === JSON.stringify(['Code', 'Error', 'Exit', 'Errno', 'Meaning']));
  if (start < 0) throw new Error('docs/ERRORS.md has no table headed Code | Error | Exit | Errno | Meaning');
  const rows: string[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.trim().startsWith('|')) break;
    rows.push(JSON.stringify(cells(line)));
  }
  return rows;
}

t.test('every catalogued code is documented as it is, and every documented code is catalogued', async (t) => {
  const documented = documentedRows();
  const expected = ERROR_CATALOGUE.map(row);
  t.same(
    expected.filter((r) => !documented.includes(r)),
    [],
    'catalogued but not documented (or documented differently)',
  );
  t.same(
    documented.filter((r) => !expected.includes(r)),
    [],
    'documented but not in the catalogue',
  );
  t.equal(documented.length, expected.length, 'no row documented twice');
});

t.test('codes are unique, and each class has its exit status or errno', async (t) => {
  const codes = ERROR_CATALOGUE.map((e) => e.code);
  t.equal(new Set(codes).size, codes.length, 'no code twice');
  for (const e of ERROR_CATALOGUE) {
    if (e.error === 'ConfigError') t.equal(e.exitCode, 2, `${e.code} exits 2`);
    if (e.error === 'StartupError') t.equal(e.exitCode, 1, `${e.code} exits 1`);
    if (e.error === 'StoreError' || e.error === 'FsError') t.ok(e.errno && e.exitCode === undefined, `${e.code} has an errno`);
  }
});

t.test('the catalogue holds every ConfigErrorCode and StartupErrorCode', async (t) => {
  const of = (error: CatalogueEntry['error']): string[] =>
    ERROR_CATALOGUE.filter((e) => e.error === error)
      .map((e) => e.code)
      .sort();
  t.same(of('ConfigError'), Object.values(ConfigErrorCode).sort());
  t.same(of('StartupError'), Object.values(StartupErrorCode).sort());
});

t.test('errors carry their catalogued code and answer with the catalogued errno', async (t) => {
  for (const [kind, { code, errno }] of Object.entries(STORE_ERRORS)) {
    const err = new StoreError(kind as keyof typeof STORE_ERRORS, 'x');
    t.ok(err instanceof AgentError, `StoreError ${kind} is an AgentError`);
    t.equal(err.code, code);
    t.equal(errnoName(err), errno, `StoreError ${kind} → ${errno}`);
  }
  for (const e of ERROR_CATALOGUE.filter((x) => x.error === 'FsError')) {
    const err = new FsError(e.errno as FsErrno, 'x');
    t.ok(err instanceof AgentError, `FsError ${e.errno} is an AgentError`);
    t.equal(err.code, e.code);
    t.equal(errnoName(err), e.errno);
  }
  const startup = new StartupError(StartupErrorCode.FUSE, 'x');
  t.equal(startup.code, 'FUSE');
  t.ok(startup instanceof AgentError);
});
