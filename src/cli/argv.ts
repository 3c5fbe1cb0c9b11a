/** Command line → Command. Syntax only: option values are checked when the plan is built. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { configError, ConfigErrorCode, lookupOption, normalizeKey, parseOptionList, q, SOURCE_CLI, VOCABULARY } from '../config/index.js';
import type { DebugCommand, FluidCommand } from '../config/index.js';

export type Command =
  | ({ kind: 'fluid' } & FluidCommand)
  | ({ kind: 'mount' } & DebugCommand)
  | { kind: 'check'; target: string; flags: Readonly<Record<string, string>> }
  | { kind: 'help' }
  | { kind: 'version' };

const SEE_HELP = 'see --help';

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
  const args = argv.map((a, i) => (a.startsWith('--') && (end < 0 || i < end) ? a.replace(/^--([^=]*)/, (_, name: string) => `--${normalizeKey(name)}`) : a));
  const { tokens } = parseArgs({ args, options: VALUE_FLAGS, strict: false, allowPositionals: true, tokens: true });
  const flags: Record<string, string> = Object.create(null) as Record<string, string>;
  const set = (key: string, value: string) => {
    delete flags[key]; // keep insertion order = order given, so the last alias given wins
    flags[key] = value;
  };
  /** Each positional, and the unknown bare flag right before it: the flag's value was probably meant, so it is not shown. */
  const positionals: { value: string; afterFlag?: string | undefined }[] = [];
  let [unknownBare, configPath]: (string | undefined)[] = [];
  for (const token of tokens) {
    const afterFlag = unknownBare;
    unknownBare = undefined;
    if (token.kind === 'positional') positionals.push({ value: token.value, afterFlag });
    if (token.kind !== 'option') continue;
    const raw = argv[token.index] as string;
    const [written = '', value] = [raw.slice(2).split('=')[0], token.value];
    if (token.rawName === '-o') {
      if (value === undefined || (value === '--' && !token.inlineValue)) argvError('-o needs a value: -o key=value,key2');
      for (const entry of parseOptionList(value, SOURCE_CLI)) set(entry.key, entry.value);
    } else if (token.rawName === '-f') set('foreground', 'true');
    else if (!token.rawName.startsWith('--')) argvError(`unknown flag ${q(raw)} (long options take two dashes)`);
    else if (written === '') argvError(`malformed flag ${q(raw)}`);
    else if (VALUE_FLAGS[token.name]?.type === 'string' && (value === undefined || (!token.inlineValue && value.startsWith('--')))) {
      argvError(`--${written} needs a value (use --${written}=VALUE for a value that starts with --)`);
    } else if (token.name === 'read-write' && (value === undefined || value === 'true' || value === 'false')) {
      // `--read-write` is `-o rw`: the one key the plan reads is read-only.
      set('read-only', value === 'false' ? 'true' : 'false');
    } else if (token.name === 'config') configPath = value || argvError('--config needs a file path');
    else {
      if (value === undefined && lookupOption(token.name) === undefined) unknownBare = `--${written}`;
      set(token.name, value ?? 'true');
    }
  }
  /** A positional for a message: not shown when it may be the value of an unknown flag. */
  const show = ({ value, afterFlag }: { value: string; afterFlag?: string | undefined }): string =>
    afterFlag === undefined ? q(value) : `(not shown) after the unknown flag ${q(afterFlag)}: an unknown flag takes a value only as --key=value`;

  const [command, source, mountpoint, extra] = positionals;
  if (command === undefined) return { kind: 'fluid', ...(configPath !== undefined && { configPath }), flags: { ...flags } };
  if (command.value === 'help' || command.value === 'version') return { kind: command.value };
  if (command.value === 'check') {
    if (positionals.length !== 2) argvError('check needs exactly one TARGETPATH: check /runtime-mnt/thin/default/dataset/thin-fuse');
    return { kind: 'check', target: source?.value as string, flags: { ...flags } };
  }
  if (command.value !== 'mount') argvError(`unknown command ${show(command)} (commands: mount, check; none runs the Fluid entrypoint)`);
  if (configPath !== undefined) argvError('--config is only for the Fluid entrypoint (no subcommand), not for mount');
  if (source === undefined || mountpoint === undefined)
    argvError(`mount needs ${source ? 'MOUNTPOINT' : 'SOURCE and MOUNTPOINT'}: mount s3://bucket[/prefix] /mnt/point`);
  if (extra !== undefined) {
    const hint =
      extra.afterFlag === undefined && /^(true|false|yes|no|on|off|[01])$/i.test(extra.value) ? ' (a boolean flag takes a value only as --key=value)' : '';
    argvError(`unexpected argument ${show(extra)}${hint}`);
  }
  return { kind: 'mount', source: source.value, mountpoint: mountpoint.value, flags: { ...flags } };
}
