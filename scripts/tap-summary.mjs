#!/usr/bin/env node
// scripts/tap-summary.mjs TAP_LOG
//
// Turns tap's closing line, e.g. `# { total: 12, pass: 10, fail: 1, skip: 1 }`, into the line
// CI here recognises: `10 passed, 1 failed, 1 skipped` (", N skipped" only when N > 0).
// Uses the LAST such line at the start of a line (subtest output is indented, so a test that
// prints something similar cannot fake it).
//
// Exit 0 and print the line when found.  Exit 1 and print nothing when the log is missing or
// has no summary (tap crashed, was killed, or never ran): the caller reports that as a failure.
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: tap-summary.mjs TAP_LOG\n');
  process.exit(2);
}

let text = '';
try {
  text = readFileSync(file, 'utf8');
} catch {
  process.exit(1);
}

const lines = text.split(/\r?\n/).filter((l) => /^# \{ *total: *\d+.*\}\s*$/.test(l));
const last = lines.at(-1);
if (last === undefined) process.exit(1);

const counts = {};
for (const m of last.matchAll(/(\w+): *(\d+)/g)) counts[m[1]] = Number(m[2]);
const pass = counts.pass ?? 0;
const fail = counts.fail ?? 0;
const skip = counts.skip ?? 0;
process.stdout.write(`${pass} passed, ${fail} failed${skip > 0 ? `, ${skip} skipped` : ''}\n`);
