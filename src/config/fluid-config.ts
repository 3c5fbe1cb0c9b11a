/**
 * Finding, reading and shape-checking Fluid's ThinRuntime config.json
 * (`pkg/ddc/thin/type.go` in Fluid). No option is interpreted here.
 */
import { readFile } from 'node:fs/promises';
import * as v from 'valibot';
import { configError, ConfigErrorCode, q } from './config-error.js';
import { errnoCode } from './secrets.js';

export const DEFAULT_CONFIG_PATHS: readonly string[] = ['/etc/fluid/config/config.json', '/etc/fluid/config.json'];

export const DEFAULT_ACCESS_MODES: readonly string[] = ['ReadOnlyMany'];

export type StringPairs = readonly (readonly [string, string])[];

export interface FluidMountConfig {
  readonly index: number;
  /** `name`, or `mount<index>` when absent or empty. */
  readonly name: string;
  readonly mountPoint: string;
  /** `options` in file order; numbers and booleans turned into strings, nulls dropped. */
  readonly options: StringPairs;
  /** `path` as given; undefined when absent. */
  readonly path?: string;
  readonly readOnly: boolean;
}

export interface FluidConfig {
  readonly file: string;
  readonly mounts: readonly FluidMountConfig[];
  readonly targetPath?: string;
  readonly runtimeOptions: StringPairs;
  readonly accessModes: readonly string[];
}

export interface JsonErrorPosition {
  /** 1-based line and column of the offending character (or of the end of input). */
  readonly line: number;
  readonly column: number;
  readonly reason: string;
}

/** V8's JSON.parse messages, reworded: the original may quote the input, which can hold a secret. */
const JSON_REASONS: readonly (readonly [RegExp, string])[] = [
  [/^Unterminated string/, 'unterminated string'],
  [/^Bad control character/, 'control character in string'],
  [/^Bad Unicode escape/, 'bad \\u escape in string'],
  [/^Bad escaped character/, 'bad escape in string'],
  [/property name/, 'expected a property name in double quotes'],
  [/^Expected ':'/, "expected ':' after a property name"],
  [/^Expected ',' or '}'/, "expected ',' or '}' after a property value"],
  [/^Expected ',' or ']'/, "expected ',' or ']' after an array element"],
  [/^Unexpected non-whitespace character after JSON/, 'unexpected text after the JSON value'],
];

const unexpected = (ch: string) => ('{}[]:,"'.includes(ch) ? `unexpected '${ch}'` : 'unexpected character');

function jsonMessage(text: string): string | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** undefined when `text` is valid JSON (a leading byte order mark allowed), else where and why it is not. */
export function findJsonError(text: string): JsonErrorPosition | undefined {
  const body = text.replace(/^\ufeff/, '');
  let message = jsonMessage(body);
  if (message === undefined) return undefined;
  let offset = Number(/at position (\d+)/.exec(message)?.[1] ?? body.length);
  if (/^Unexpected token/.test(message)) {
    // No position given: find the longest prefix that is still valid JSON or only incomplete.
    const viable = (n: number) => {
      const m = jsonMessage(body.slice(0, n));
      return m === undefined || /end of JSON input/.test(m) || Number(/at position (\d+)/.exec(m)?.[1] ?? -1) >= n;
    };
    let [lo, hi] = [0, body.length];
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (viable(mid)) lo = mid;
      else hi = mid - 1;
    }
    offset = lo;
  } else if (/^Unexpected number/.test(message)) {
    // A digit after a complete number (`01`): ask what V8 expected after the number instead.
    message = jsonMessage(`${body.slice(0, offset)} ?`) ?? message;
  }
  const before = body.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  const reason =
    body.trim() === ''
      ? 'the file is empty'
      : /^Unterminated string/.test(message) || offset < body.length
        ? (JSON_REASONS.find(([re]) => re.test(message))?.[1] ?? unexpected(body[offset] as string))
        : 'unexpected end of input';
  return { line, column, reason };
}

/** Parses JSON (a leading byte order mark is allowed); on error returns the position instead. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: JsonErrorPosition } {
  const error = findJsonError(text);
  return error === undefined ? { ok: true, value: JSON.parse(text.replace(/^\ufeff/, '')) as unknown } : { ok: false, error };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/**
 * The shape of config.json. Each message says what the field must be; the issue's path and the
 * kind of value found are added when the problems are reported (never the value: it may be a
 * secret). Go writes absent fields as null, so null is "absent" everywhere.
 */
const objectOf = <T extends v.ObjectEntries>(entries: T, message: string) =>
  v.pipe(v.custom<Record<string, unknown>>(isObject, message), v.looseObject(entries, 'is required'));
const stringMap = v.pipe(
  v.custom<Record<string, unknown>>(isObject, 'must be an object of strings'),
  v.record(v.string(), v.nullish(v.union([v.string(), v.number(), v.boolean()], 'must be a string'))),
  v.transform((map): StringPairs => Object.entries(map).flatMap(([key, value]) => (value == null ? [] : [[key, String(value)] as const]))),
);
const MOUNT = objectOf(
  {
    name: v.nullish(v.string('must be a string')),
    mountPoint: v.pipe(
      v.custom<unknown>((x) => x != null && x !== '', 'is required'),
      v.string('must be a string'),
    ),
    options: v.nullish(stringMap, {}),
    path: v.nullish(v.string('must be a string')),
    readOnly: v.nullish(v.boolean('must be true or false'), false),
    shared: v.nullish(v.boolean('must be true or false')),
  },
  'must be an object',
);
const CONFIG = objectOf(
  {
    mounts: v.nullish(v.array(MOUNT, 'must be an array')),
    targetPath: v.nullish(v.string('must be a string')),
    runtimeOptions: v.nullish(stringMap, {}),
    accessModes: v.nullish(v.array(v.string(), 'must be an array of strings')),
    persistentVolumeAttrs: v.nullish(v.custom(isObject, 'must be an object')),
    persistentVolumeMountOptions: v.nullish(v.custom(isObject, 'must be an object')),
  },
  'must be a JSON object',
);

/** `mounts[i]`, or `mount "NAME"` once the mount's name is known. */
function mountLabel(root: unknown, index: number): { label: string; name?: string } {
  const raw = isObject(root) && Array.isArray(root['mounts']) ? (root['mounts'][index] as unknown) : undefined;
  const name = isObject(raw) ? raw['name'] : undefined;
  if (name != null && typeof name !== 'string') return { label: `mounts[${index}]` };
  const known = typeof name === 'string' && name !== '' ? name : `mount${index}`;
  return { label: `mount ${q(known)}`, name: known };
}

/** One problem: `mount "NAME": options["k"] must be a string, not an object`. */
function describe(root: unknown, issue: v.BaseIssue<unknown>): string {
  let keys = (issue.path ?? []).map((item) => item.key as string | number);
  let prefix = '';
  if (keys[0] === 'mounts' && typeof keys[1] === 'number' && keys.length > 2) {
    prefix = `${mountLabel(root, keys[1]).label}: `;
    keys = keys.slice(2);
  }
  const [first, ...rest] = keys;
  const field =
    first === undefined ? '' : rest.length === 0 ? `${q(String(first))} ` : `${first}${rest.map((k) => `[${typeof k === 'number' ? k : q(k)}]`).join('')} `;
  return `${prefix}${field}${issue.message}${issue.message === 'is required' ? '' : `, not ${kindOf(issue.input)}`}`;
}

/** Parses and shape-checks the text of config.json; every shape problem is reported at once. */
export function parseFluidConfig(file: string, text: string): FluidConfig {
  const cfg = `config ${file}`;
  const parsed = parseJson(text);
  if (!parsed.ok) {
    const { line, column, reason } = parsed.error;
    throw configError(ConfigErrorCode.CONFIG_JSON, `${cfg}: invalid JSON at line ${line} column ${column}: ${reason}`);
  }
  const checked = v.safeParse(CONFIG, parsed.value);
  if (!checked.success) {
    const problems = checked.issues.map((issue) => describe(parsed.value, issue));
    throw configError(ConfigErrorCode.CONFIG_SHAPE, `${cfg}: ${[...new Set(problems)].join('; ')}`);
  }
  const root = checked.output;
  return {
    file,
    // Fluid writes `[]` for a Dataset without mounts yet: a normal state, not an error.
    mounts: (root.mounts ?? []).map((m, index) => ({
      index,
      name: mountLabel(root, index).name as string,
      mountPoint: m.mountPoint,
      options: m.options,
      ...(m.path != null ? { path: m.path } : {}),
      readOnly: m.readOnly,
    })),
    ...(root.targetPath ? { targetPath: root.targetPath } : {}),
    runtimeOptions: root.runtimeOptions,
    accessModes: root.accessModes?.length ? root.accessModes : DEFAULT_ACCESS_MODES,
  };
}

/** Reads and parses `configPath` when given, else the first existing of `defaults`. */
export async function loadFluidConfig(configPath: string | undefined, defaults: readonly string[]): Promise<FluidConfig> {
  for (const file of configPath !== undefined ? [configPath] : defaults) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = errnoCode(err);
      // An absent default location is skipped; an absent --config is not replaced by a default.
      if (configPath === undefined && (code === 'ENOENT' || code === 'ENOTDIR')) continue;
      throw configError(code === 'ENOENT' ? ConfigErrorCode.CONFIG_NOT_FOUND : ConfigErrorCode.CONFIG_READ, `config ${file}: cannot read: ${code}`);
    }
    return parseFluidConfig(file, text);
  }
  throw configError(ConfigErrorCode.CONFIG_NOT_FOUND, `config: no Fluid config file at ${defaults.join(' or ')} (give one with --config PATH)`);
}
