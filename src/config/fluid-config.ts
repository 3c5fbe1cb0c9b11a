/**
 * Finding, reading and shape-checking Fluid's ThinRuntime config.json
 * (`pkg/ddc/thin/type.go` in Fluid). No option is interpreted here.
 */
import { readFile } from 'node:fs/promises';
import * as v from 'valibot';
import { configError, ConfigErrorCode, q } from './config-error.js';
import { errnoCode } from './secrets.js';

export const DEFAULT_CONFIG_PATHS: readonly string[] = ['/etc/fluid/config/config.json', '/etc/fluid/config.json'];

export type FluidConfig = ReturnType<typeof parseFluidConfig>;

/** 1-based line and column of the offending character (or of the end of input), and why. */
export type JsonErrorPosition = { readonly line: number; readonly column: number; readonly reason: string };

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

const jsonMessage = (text: string): string | undefined => {
  try {
    JSON.parse(text);
  } catch (err) {
    return (err as Error).message;
  }
};
const positionIn = (message: string) => /at position (\d+)/.exec(message)?.[1];

/** undefined when `text` is valid JSON (a leading byte order mark allowed), else where and why it is not. */
export function findJsonError(text: string): JsonErrorPosition | undefined {
  const body = text.replace(/^\ufeff/, '');
  let message = jsonMessage(body);
  if (message === undefined) return undefined;
  let offset = Number(positionIn(message) ?? body.length);
  if (/^Unexpected token/.test(message)) {
    // No position given: find the longest prefix that is still valid JSON or only incomplete.
    const viable = (n: number, m = jsonMessage(body.slice(0, n))) => m === undefined || /end of JSON input/.test(m) || Number(positionIn(m) ?? -1) >= n;
    let [lo, hi] = [0, body.length];
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      [lo, hi] = viable(mid) ? [mid, hi] : [lo, mid - 1];
    }
    offset = lo;
  } else if (/^Unexpected number/.test(message)) {
    // A digit after a complete number (`01`): ask what V8 expected after the number instead.
    message = jsonMessage(`${body.slice(0, offset)} ?`) ?? message;
  }
  const before = body.slice(0, offset);
  const unexpected = (ch: string) => ('{}[]:,"'.includes(ch) ? `unexpected '${ch}'` : 'unexpected character');
  const reason =
    body.trim() === ''
      ? 'the file is empty'
      : /^Unterminated string/.test(message) || offset < body.length
        ? (JSON_REASONS.find(([re]) => re.test(message))?.[1] ?? unexpected(body[offset] as string))
        : 'unexpected end of input';
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n'), reason };
}

/** Parses JSON (a leading byte order mark is allowed); on error returns the position instead. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: JsonErrorPosition } {
  const error = findJsonError(text);
  return error === undefined ? { ok: true, value: JSON.parse(text.replace(/^\ufeff/, '')) as unknown } : { ok: false, error };
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const kindOf = (x: unknown) => (x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x === 'object' ? 'an object' : `a ${typeof x}`);

/**
 * The shape of config.json. Each message says what the field must be; the issue's path and the
 * kind of value found are added when the problems are reported (never the value: it may be a
 * secret). Go writes absent fields as null, so null is "absent" everywhere.
 */
const objectOf = <T extends v.ObjectEntries>(entries: T, message: string) =>
  v.pipe(v.custom<Record<string, unknown>>(isObject, message), v.looseObject(entries, 'is required'));
const str = v.nullish(v.string('must be a string'));
const bool = v.nullish(v.boolean('must be true or false'));
const obj = v.nullish(v.custom(isObject, 'must be an object'));
const stringMap = v.pipe(
  v.custom<Record<string, unknown>>(isObject, 'must be an object of strings'),
  v.record(v.string(), v.nullish(v.union([v.string(), v.number(), v.boolean()], 'must be a string'))),
  v.transform((map) => Object.entries(map).flatMap(([key, value]) => (value == null ? [] : [[key, String(value)] as const]))),
);
const required = v.custom<unknown>((x) => x != null && x !== '', 'is required');
const mountPoint = v.pipe(required, v.string('must be a string'));
const MOUNT = objectOf(
  { name: str, mountPoint, options: v.nullish(stringMap, {}), path: str, readOnly: v.nullish(v.boolean('must be true or false'), false), shared: bool },
  'must be an object',
);
const CONFIG = objectOf(
  {
    ...{ mounts: v.nullish(v.array(MOUNT, 'must be an array')), targetPath: str, runtimeOptions: v.nullish(stringMap, {}) },
    ...{ accessModes: v.nullish(v.array(v.string(), 'must be an array of strings')), persistentVolumeAttrs: obj, persistentVolumeMountOptions: obj },
  },
  'must be a JSON object',
);

/** `mount "NAME"` (`mount<index>` when the name is absent or empty), or `mounts[i]` when the name is not a string. */
function mountLabel(mount: unknown, index: number): string {
  const name = isObject(mount) ? mount['name'] : undefined;
  return name != null && typeof name !== 'string' ? `mounts[${index}]` : `mount ${q(name || `mount${index}`)}`;
}

/** One problem: `mount "NAME": options["k"] must be a string, not an object`. */
function describe(issue: v.BaseIssue<unknown>): string {
  const path = issue.path ?? [];
  // A problem inside a mount starts with the mount's label; the label needs the raw mount (its name).
  const inMount = path[0]?.key === 'mounts' && path.length > 2;
  const prefix = inMount ? `${mountLabel(path[1]?.value, path[1]?.key as number)}: ` : '';
  const [first, ...rest] = path.slice(inMount ? 2 : 0).map((item) => item.key as string | number);
  const field =
    first === undefined ? '' : rest.length === 0 ? `${q(String(first))} ` : `${first}${rest.map((k) => `[${typeof k === 'number' ? k : q(k)}]`).join('')} `;
  return `${prefix}${field}${issue.message}${issue.message === 'is required' ? '' : `, not ${kindOf(issue.input)}`}`;
}

/** Parses and shape-checks the text of config.json; every shape problem is reported at once. */
export function parseFluidConfig(file: string, text: string) {
  const parsed = parseJson(text);
  if (!parsed.ok) {
    const { line, column, reason } = parsed.error;
    throw configError(ConfigErrorCode.CONFIG_JSON, `config ${file}: invalid JSON at line ${line} column ${column}: ${reason}`);
  }
  const checked = v.safeParse(CONFIG, parsed.value);
  if (!checked.success) {
    const problems = new Set(checked.issues.map(describe));
    throw configError(ConfigErrorCode.CONFIG_SHAPE, `config ${file}: ${[...problems].join('; ')}`);
  }
  const { mounts, targetPath, runtimeOptions, accessModes } = checked.output;
  return {
    file,
    // Fluid writes `[]` for a Dataset without mounts yet: a normal state, not an error. A mount's
    // `name` is `mount<index>` when absent or empty; its options keep their file order.
    mounts: (mounts ?? []).map(({ name, mountPoint, options, readOnly, path }, index) => ({
      ...{ name: name || `mount${index}`, mountPoint, options, readOnly },
      ...(path != null && { path }),
    })),
    ...(targetPath && { targetPath }),
    runtimeOptions,
    accessModes: accessModes?.length ? accessModes : ['ReadOnlyMany'],
  };
}

/** Reads and parses `configPath` when given, else the first existing of `defaults`. */
export async function loadFluidConfig(configPath: string | undefined, defaults: readonly string[]): Promise<FluidConfig> {
  for (const file of configPath !== undefined ? [configPath] : defaults) {
    const text = await readFile(file, 'utf8').catch((err: unknown) => {
      const code = errnoCode(err);
      // An absent default location is skipped; an absent --config is not replaced by a default.
      if (configPath === undefined && (code === 'ENOENT' || code === 'ENOTDIR')) return undefined;
      throw configError(code === 'ENOENT' ? ConfigErrorCode.CONFIG_NOT_FOUND : ConfigErrorCode.CONFIG_READ, `config ${file}: cannot read: ${code}`);
    });
    if (text !== undefined) return parseFluidConfig(file, text);
  }
  throw configError(ConfigErrorCode.CONFIG_NOT_FOUND, `config: no Fluid config file at ${defaults.join(' or ')} (give one with --config PATH)`);
}
