/**
 * Layered option resolution: sort entries into known/unknown, pick the winner of each key
 * (later layers win), and turn a winner into a typed value with a one-line error on failure.
 */
import { configError, ConfigErrorCode, q } from './config-error.js';
import { lookupOption, parseOptionValue, type OptionEntry, type OptionSpec, type OptionValue } from './options.js';
import { resolveOptionValue, type ResolvedValue } from './secrets.js';
import { ValueError } from './units.js';

/** An entry whose key is in the vocabulary. */
export interface KnownEntry {
  readonly spec: OptionSpec;
  readonly entry: OptionEntry;
}

/** Which known keys a layer may set. */
export type Accept = (spec: OptionSpec) => boolean;

/** Canonical key → the entry of the highest layer that sets it (within a layer, the last). */
export function winners(layers: readonly (readonly OptionEntry[])[], accept: Accept): Map<string, KnownEntry> {
  const out = new Map<string, KnownEntry>();
  for (const layer of layers) {
    for (const entry of layer) {
      const spec = lookupOption(entry.key);
      if (spec !== undefined && accept(spec)) {
        out.delete(spec.key);
        out.set(spec.key, { spec, entry });
      }
    }
  }
  return out;
}

/**
 * A secret given on the command line shows in `ps` and /proc/PID/cmdline to every user of the
 * node: refuse it, and say what to use instead.
 */
export function refuseSecretsIn(layer: readonly OptionEntry[], where: string): void {
  for (const entry of layer) {
    const spec = lookupOption(entry.key);
    if (spec?.credential && spec.key !== 'access-key-id') {
      throw configError(
        ConfigErrorCode.BAD_OPTION,
        `${where}: option ${q(entry.key)} would show the secret in the process list (ps, /proc/PID/cmdline); use --secret-key-file FILE, a Fluid secret, or the env AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN`,
      );
    }
  }
}

/** `plan.unknownOptions`: each key once, first report wins. */
export class UnknownOptions {
  readonly #seen = new Set<string>();
  readonly #list: string[] = [];

  add(key: string, note: string): void {
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.#list.push(`${key} (${note})`);
  }

  /** Adds every entry of `layer` that `accept` rejects or nobody knows. */
  addUnknownIn(layer: readonly OptionEntry[], accept: Accept): void {
    for (const entry of layer) {
      const spec = lookupOption(entry.key);
      if (spec === undefined || !accept(spec)) this.add(entry.key, `from ${entry.source}`);
    }
  }

  list(): string[] {
    return [...this.#list];
  }
}

/** How errors about one option are worded. */
export interface Context {
  /** Message prefix: `mount "NAME"`, `config FILE` or `command line`. */
  readonly where: string;
  /** Add `(from SOURCE)` after the option key. */
  readonly showSource: boolean;
  readonly secretsRoot: string;
}

function optionLabel(ctx: Context, known: KnownEntry): string {
  return `option ${q(known.entry.key)}${ctx.showSource ? ` (from ${known.entry.source})` : ''}`;
}

/** An error about one option's value; the value is shown only when it cannot be a secret. */
export function badOption(ctx: Context, known: KnownEntry, why: string, resolved?: ResolvedValue) {
  const value = resolved?.value ?? known.entry.value;
  const mayShow = !known.spec.credential && resolved?.file === undefined && !value.includes('@') && value.length <= 200;
  return configError(ConfigErrorCode.BAD_OPTION, `${ctx.where}: ${optionLabel(ctx, known)}: ${why}${mayShow ? `: ${q(value)}` : ''}`);
}

/** Reads the value (a secret file when it points under the secrets root). */
export function rawValue(ctx: Context, known: KnownEntry): Promise<ResolvedValue> {
  return resolveOptionValue(ctx.where, known.entry.key, known.entry.value, ctx.secretsRoot);
}

/**
 * The typed value of a winner (undefined when the key was not given); `T` is what the spec's
 * type parses to (number for uint, octal, duration and size; boolean for bool; else string).
 */
export async function typed<T extends OptionValue>(ctx: Context, known: KnownEntry | undefined): Promise<T | undefined> {
  if (known === undefined) return undefined;
  const resolved = await rawValue(ctx, known);
  try {
    return parseOptionValue(known.spec, resolved.value) as T;
  } catch (err) {
    if (err instanceof ValueError) throw badOption(ctx, known, err.message, resolved);
    throw err;
  }
}
