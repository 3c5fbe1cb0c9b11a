/** Command line → Command. Syntax only: option values are checked when the plan is built. */
import { configError, ConfigErrorCode, q } from './config-error.js';
import { lookupOption, normalizeKey, parseOptionList } from './options.js';

export type Command =
  | { kind: 'fluid'; configPath?: string; flags: Readonly<Record<string, string>> }
  | { kind: 'mount'; source: string; mountpoint: string; flags: Readonly<Record<string, string>> }
  | { kind: 'check'; target: string; flags: Readonly<Record<string, string>> }
  | { kind: 'help' }
  | { kind: 'version' };

const SEE_HELP = 'see --help';

function argvError(message: string): never {
  throw configError(ConfigErrorCode.ARGV, `command line: ${message}; ${SEE_HELP}`);
}

/** True when a flag never takes the next argument as its value (booleans, unknown keys). */
function isBareFlag(key: string): boolean {
  const spec = lookupOption(key);
  return spec === undefined || spec.type === 'bool';
}

/**
 * `argv` = process.argv.slice(2). Forms:
 * - no subcommand: Fluid entrypoint mode, `[--config PATH] [flags]`;
 * - `mount SOURCE MOUNTPOINT [flags]` (flags before or after the positionals);
 * - `--help`/`-h`/`help`, `--version`/`-V`/`version`.
 * Flags: `--key value`, `--key=value`, bare boolean `--key` (a boolean takes a value only as
 * `--key=value`), `-o k=v,k2`, `-f`; `--` ends the flags. Flag keys are normalized (lowercase,
 * `_` → `-`); aliases are kept as written. A repeated key: the last one wins.
 */
export function parseArgv(argv: string[]): Command {
  const endOfFlags = argv.indexOf('--');
  const flagPart = endOfFlags < 0 ? argv : argv.slice(0, endOfFlags);
  if (flagPart.some((a) => a === '--help' || a === '-h')) return { kind: 'help' };
  if (flagPart.some((a) => a === '--version' || a === '-V')) return { kind: 'version' };

  const flags: Record<string, string> = Object.create(null) as Record<string, string>;
  const set = (key: string, value: string) => {
    delete flags[key]; // keep insertion order = order given, so the last alias given wins
    flags[key] = value;
  };
  const positionals: string[] = [];
  /** Unknown bare flag right before each positional (its value was probably meant): hides it. */
  const afterUnknownFlag: (string | undefined)[] = [];
  let lastUnknownBare: string | undefined;
  let configPath: string | undefined;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const previousUnknownBare = lastUnknownBare;
    lastUnknownBare = undefined;
    if (endOfFlags >= 0 && i >= endOfFlags) {
      if (i > endOfFlags) {
        positionals.push(arg);
        afterUnknownFlag.push(undefined);
      }
      continue;
    }
    if (arg.startsWith('--')) {
      const body = arg.slice(2);
      const eq = body.indexOf('=');
      const written = eq < 0 ? body : body.slice(0, eq);
      const key = normalizeKey(written);
      if (key === '') argvError(`malformed flag ${q(arg)}`);
      let value: string | undefined = eq < 0 ? undefined : body.slice(eq + 1);
      if (value === undefined && (key === 'config' || !isBareFlag(key))) {
        const next = argv[i + 1];
        if (next === undefined || next.startsWith('--') || (endOfFlags >= 0 && i + 1 >= endOfFlags)) {
          argvError(`--${written} needs a value (use --${written}=VALUE for a value that starts with --)`);
        }
        value = next;
        i++;
      }
      if (key === 'config') {
        if (value === '') argvError('--config needs a file path');
        configPath = value;
      } else {
        if (value === undefined && lookupOption(key) === undefined) lastUnknownBare = `--${written}`;
        set(key, value ?? 'true');
      }
    } else if (arg === '-o' || (arg.startsWith('-o') && arg.length > 2)) {
      let list = arg.slice(2);
      if (list === '') {
        const next = argv[i + 1];
        if (next === undefined || (endOfFlags >= 0 && i + 1 >= endOfFlags)) argvError('-o needs a value: -o key=value,key2');
        list = next;
        i++;
      }
      for (const entry of parseOptionList(list, 'command line')) set(entry.key, entry.value);
    } else if (arg === '-f') {
      set('foreground', 'true');
    } else if (arg.startsWith('-') && arg !== '-') {
      argvError(`unknown flag ${q(arg)} (long options take two dashes)`);
    } else {
      positionals.push(arg);
      afterUnknownFlag.push(previousUnknownBare);
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
      afterUnknownFlag[3] === undefined && /^(true|false|yes|no|on|off|[01])$/i.test(extra)
        ? ' (a boolean flag takes a value only as --key=value)'
        : '';
    argvError(`unexpected argument ${show(3)}${hint}`);
  }
  return { kind: 'mount', source: positionals[1] as string, mountpoint: positionals[2] as string, flags: { ...flags } };
}
