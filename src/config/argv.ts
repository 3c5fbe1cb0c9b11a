/** Command line → Command. Syntax only: option values are checked when the plan is built. */
import { configError, ConfigErrorCode, q } from './config-error.js';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { lookupOption, normalizeKey, parseOptionList, VOCABULARY } from './options.js';

export type Command =
  | { kind: 'fluid'; configPath?: string; flags: Readonly<Record<string, string>> }
  | { kind: 'mount'; source: string; mountpoint: string; flags: Readonly<Record<string, string>> }
  | { kind: 'check'; target: string; flags: Readonly<Record<string, string>> }
  | { kind: 'help' }
  | { kind: 'version' };

const SEE_HELP = 'see --help';
export const SOURCE_CLI = 'command line';

function argvError(message: string): never {
  throw configError(ConfigErrorCode.ARGV, `${SOURCE_CLI}: ${message}; ${SEE_HELP}`);
}

/** Flags that take the next argument as their value; any other long flag is a bare boolean. */
type FlagSpecs = NonNullable<ParseArgsConfig['options']>;
const VALUE_FLAGS: FlagSpecs = {
  ...Object.fromEntries<FlagSpecs[string]>(
    [...VOCABULARY.filter((s) => s.type !== 'bool').flatMap((s) => [s.key, ...s.aliases]), 'config'].map((n) => [n, { type: 'string' }]),
  ),
  'option-list': { type: 'string', short: 'o' },
  foreground: { type: 'boolean', short: 'f' },
};

/**
 * `argv` = process.argv.slice(2). Forms:
 * - no subcommand: Fluid entrypoint mode, `[--config PATH] [flags]`;
 * - `mount SOURCE MOUNTPOINT [flags]` (flags before or after the positionals);
 * - `--help`/`-h`/`help`, `--version`/`-V`/`version`.
 * Flags: `--key value`, `--key=value`, bare boolean `--key` (a boolean, or an unknown key, takes
 * a value only as `--key=value`), `-o k=v,k2`, `-f`; `--` ends the flags. Flag keys are
 * normalized (lowercase, `_` → `-`); aliases are kept as written. A repeated key: the last wins.
 */
export function parseArgv(argv: string[]): Command {
  const end = argv.indexOf('--');
  const flagPart = end < 0 ? argv : argv.slice(0, end);
  if (flagPart.some((a) => a === '--help' || a === '-h')) return { kind: 'help' };
  if (flagPart.some((a) => a === '--version' || a === '-V')) return { kind: 'version' };

  // parseArgs matches flag names exactly: spell each one as the vocabulary does first.
  const args = argv.map((a, i) =>
    a.startsWith('--') && (end < 0 || i < end)
      ? `--${normalizeKey(a.slice(2).split('=')[0] as string)}${a.slice(a.indexOf('=') < 0 ? a.length : a.indexOf('='))}`
      : a,
  );
  const { tokens } = parseArgs({ args, options: VALUE_FLAGS, strict: false, allowPositionals: true, tokens: true });
  const flags: Record<string, string> = Object.create(null) as Record<string, string>;
  const set = (key: string, value: string) => {
    delete flags[key]; // keep insertion order = order given, so the last alias given wins
    flags[key] = value;
  };
  const positionals: string[] = [];
  /** The unknown bare flag right before each positional (its value was probably meant): hides it. */
  const afterUnknownFlag: (string | undefined)[] = [];
  let lastUnknownBare: string | undefined;
  let configPath: string | undefined;

  for (const token of tokens) {
    const previousUnknownBare = lastUnknownBare;
    lastUnknownBare = undefined;
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') {
      positionals.push(token.value);
      afterUnknownFlag.push(previousUnknownBare);
      continue;
    }
    const raw = argv[token.index] as string;
    const written = raw.slice(2).split('=')[0] as string;
    const value = token.value;
    if (token.rawName === '-o') {
      if (value === undefined || (value === '--' && !token.inlineValue)) argvError('-o needs a value: -o key=value,key2');
      for (const entry of parseOptionList(value, SOURCE_CLI)) set(entry.key, entry.value);
    } else if (token.rawName === '-f') {
      set('foreground', 'true');
    } else if (!token.rawName.startsWith('--')) {
      argvError(`unknown flag ${q(raw)} (long options take two dashes)`);
    } else if (written === '') {
      argvError(`malformed flag ${q(raw)}`);
    } else if (VALUE_FLAGS[token.name]?.type === 'string' && (value === undefined || (!token.inlineValue && value.startsWith('--')))) {
      argvError(`--${written} needs a value (use --${written}=VALUE for a value that starts with --)`);
    } else if (token.name === 'config') {
      if (value === '') argvError('--config needs a file path');
      configPath = value;
    } else {
      if (value === undefined && lookupOption(token.name) === undefined) lastUnknownBare = `--${written}`;
      set(token.name, value ?? 'true');
    }
  }
  /** A positional for a message: not shown when it may be the value of an unknown flag. */
  const show = (index: number): string => {
    const flag = afterUnknownFlag[index];
    return flag === undefined
      ? q(positionals[index] as string)
      : `(not shown) after the unknown flag ${q(flag)}: an unknown flag takes a value only as --key=value`;
  };

  const command = positionals[0];
  if (command === undefined) {
    return { kind: 'fluid', ...(configPath !== undefined ? { configPath } : {}), flags: { ...flags } };
  }
  if (command === 'help') return { kind: 'help' };
  if (command === 'version') return { kind: 'version' };
  if (command === 'check') {
    if (positionals.length !== 2) argvError('check needs exactly one TARGETPATH: check /runtime-mnt/thin/default/dataset/thin-fuse');
    return { kind: 'check', target: positionals[1] as string, flags: { ...flags } };
  }
  if (command !== 'mount') {
    argvError(`unknown command ${show(0)} (commands: mount, check; none runs the Fluid entrypoint)`);
  }
  if (configPath !== undefined) argvError('--config is only for the Fluid entrypoint (no subcommand), not for mount');
  if (positionals.length < 3) {
    argvError(`mount needs ${positionals.length === 1 ? 'SOURCE and MOUNTPOINT' : 'MOUNTPOINT'}: mount s3://bucket[/prefix] /mnt/point`);
  }
  if (positionals.length > 3) {
    const extra = positionals[3] as string;
    const hint =
      afterUnknownFlag[3] === undefined && /^(true|false|yes|no|on|off|[01])$/i.test(extra) ? ' (a boolean flag takes a value only as --key=value)' : '';
    argvError(`unexpected argument ${show(3)}${hint}`);
  }
  return { kind: 'mount', source: positionals[1] as string, mountpoint: positionals[2] as string, flags: { ...flags } };
}
