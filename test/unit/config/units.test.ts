// Value syntax of the vocabulary: durations, sizes, booleans, octal modes, integers.
import t from 'tap';
import { parseBool, parseDurationMs, parseOctalMode, parseSizeBytes, parseUint, ValueError } from '../../../src/config/units.js';

t.test('durations', async (t) => {
  const cases: [string, number][] = [
    ['500ms', 500],
    ['30s', 30_000],
    ['1m', 60_000],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['1h2m3s4ms', 3_723_004],
    ['1.5s', 1500],
    ['0', 0],
    ['0s', 0],
    ['45', 45_000],
    ['0.25', 250],
    ['1D', 86_400_000],
    [' 10S ', 10_000],
  ];
  for (const [text, ms] of cases) t.equal(parseDurationMs(text), ms, text);
  for (const bad of ['', 'abc', '-1s', '1x', '1 m', 's', '1m-30s', '1.s', 'ms']) {
    t.throws(() => parseDurationMs(bad), ValueError, `rejects ${JSON.stringify(bad)}`);
  }
});

t.test('sizes', async (t) => {
  const K = 1024;
  const cases: [string, number][] = [
    ['0', 0],
    ['4096', 4096],
    ['100b', 100],
    ['1k', K],
    ['1K', K],
    ['8M', 8 * K * K],
    ['2G', 2 * K ** 3],
    ['1T', K ** 4],
    ['1KiB', K],
    ['64MiB', 64 * K * K],
    ['64mib', 64 * K * K],
    ['1GiB', K ** 3],
    ['1TiB', K ** 4],
    ['1KB', 1000],
    ['100MB', 100_000_000],
    ['1gb', 1e9],
    ['1.5G', 1.5 * K ** 3],
    ['256 MiB', 256 * K * K],
  ];
  for (const [text, bytes] of cases) t.equal(parseSizeBytes(text), bytes, text);
  for (const bad of ['', 'M', '-1', '1X', '1MiBs', '1e6', '1,5G', '99999999999T']) {
    t.throws(() => parseSizeBytes(bad), ValueError, `rejects ${JSON.stringify(bad)}`);
  }
});

t.test('booleans', async (t) => {
  for (const yes of ['true', 'TRUE', '1', 'yes', 'on', 'On', '']) t.equal(parseBool(yes), true, JSON.stringify(yes));
  for (const no of ['false', 'False', '0', 'no', 'off', 'OFF']) t.equal(parseBool(no), false, no);
  for (const bad of ['2', 'y', 'enable', 'truee']) t.throws(() => parseBool(bad), ValueError, bad);
});

t.test('octal modes and non-negative integers', async (t) => {
  t.equal(parseOctalMode('0644'), 0o644);
  t.equal(parseOctalMode('644'), 0o644);
  t.equal(parseOctalMode('0o755'), 0o755);
  t.equal(parseOctalMode('7777'), 0o7777);
  for (const bad of ['', '0x1ff', '888', '-644', '17777', 'rw-r--r--']) t.throws(() => parseOctalMode(bad), ValueError, bad);
  t.equal(parseUint('0'), 0);
  t.equal(parseUint('1000'), 1000);
  t.equal(parseUint('4294967295'), 4294967295);
  for (const bad of ['', '-1', '1.5', 'abc', '4294967296', '0x10']) t.throws(() => parseUint(bad), ValueError, bad);
});
