/**
 * Finding, reading and shape-checking Fluid's ThinRuntime config.json
 * (`pkg/ddc/thin/type.go` in Fluid). No option is interpreted here.
 */
import { readFile } from 'node:fs/promises';
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
  readonly shared: boolean;
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

/** Reads `configPath` when given, else the first existing of `defaults`. */
export async function readConfigFile(
  configPath: string | undefined,
  defaults: readonly string[],
): Promise<{ file: string; text: string }> {
  if (configPath !== undefined) {
    try {
      return { file: configPath, text: await readFile(configPath, 'utf8') };
    } catch (err) {
      const code = errnoCode(err);
      throw configError(
        code === 'ENOENT' ? ConfigErrorCode.CONFIG_NOT_FOUND : ConfigErrorCode.CONFIG_READ,
        `config ${configPath}: cannot read: ${code}`,
      );
    }
  }
  for (const file of defaults) {
    try {
      return { file, text: await readFile(file, 'utf8') };
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw configError(ConfigErrorCode.CONFIG_READ, `config ${file}: cannot read: ${code}`);
    }
  }
  throw configError(
    ConfigErrorCode.CONFIG_NOT_FOUND,
    `config: no Fluid config file at ${defaults.join(' or ')} (give one with --config PATH)`,
  );
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** A string map; `where` prefixes errors, `field` names it. Never shows values. */
function stringPairs(v: unknown, where: string, field: string): StringPairs {
  if (v === undefined || v === null) return [];
  if (!isObject(v)) throw configError(ConfigErrorCode.CONFIG_SHAPE, `${where}: ${q(field)} must be an object of strings, not ${kindOf(v)}`);
  const pairs: (readonly [string, string])[] = [];
  for (const [key, value] of Object.entries(v)) {
    if (value === null || value === undefined) continue;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      pairs.push([key, String(value)]);
    } else {
      throw configError(ConfigErrorCode.CONFIG_SHAPE, `${where}: ${field}[${q(key)}] must be a string, not ${kindOf(value)}`);
    }
  }
  return pairs;
}

function optionalString(v: unknown, where: string, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw configError(ConfigErrorCode.CONFIG_SHAPE, `${where}: ${q(field)} must be a string, not ${kindOf(v)}`);
  return v;
}

function optionalBool(v: unknown, where: string, field: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw configError(ConfigErrorCode.CONFIG_SHAPE, `${where}: ${q(field)} must be true or false, not ${kindOf(v)}`);
  return v;
}

function parseMount(raw: unknown, index: number, file: string): FluidMountConfig {
  const cfg = `config ${file}`;
  if (!isObject(raw)) throw configError(ConfigErrorCode.CONFIG_SHAPE, `${cfg}: mounts[${index}] must be an object, not ${kindOf(raw)}`);
  const givenName = optionalString(raw['name'], `${cfg}: mounts[${index}]`, 'name');
  const name = givenName === undefined || givenName === '' ? `mount${index}` : givenName;
  const where = `mount ${q(name)}`;
  const mountPoint = optionalString(raw['mountPoint'], where, 'mountPoint');
  if (mountPoint === undefined || mountPoint === '') {
    throw configError(ConfigErrorCode.CONFIG_SHAPE, `${where}: "mountPoint" is required (${cfg})`);
  }
  const path = optionalString(raw['path'], where, 'path');
  return {
    index,
    name,
    mountPoint,
    options: stringPairs(raw['options'], where, 'options'),
    ...(path !== undefined ? { path } : {}),
    readOnly: optionalBool(raw['readOnly'], where, 'readOnly'),
    shared: optionalBool(raw['shared'], where, 'shared'),
  };
}

/** Parses and shape-checks the text of config.json. */
export function parseFluidConfig(file: string, text: string): FluidConfig {
  const cfg = `config ${file}`;
  const parsed = parseJson(text);
  if (!parsed.ok) {
    const { line, column, reason } = parsed.error;
    throw configError(ConfigErrorCode.CONFIG_JSON, `${cfg}: invalid JSON at line ${line} column ${column}: ${reason}`);
  }
  const root = parsed.value;
  if (!isObject(root)) throw configError(ConfigErrorCode.CONFIG_SHAPE, `${cfg}: must be a JSON object, not ${kindOf(root)}`);

  const rawMounts = root['mounts'];
  if (rawMounts !== undefined && rawMounts !== null && !Array.isArray(rawMounts)) {
    throw configError(ConfigErrorCode.CONFIG_SHAPE, `${cfg}: "mounts" must be an array, not ${kindOf(rawMounts)}`);
  }
  if (!Array.isArray(rawMounts) || rawMounts.length === 0) {
    throw configError(ConfigErrorCode.NO_MOUNTS, `${cfg}: no mounts: "mounts" is ${Array.isArray(rawMounts) ? 'empty' : 'missing'}; add a mount to the dataset`);
  }
  const mounts = rawMounts.map((m: unknown, i: number) => parseMount(m, i, file));

  const targetPath = optionalString(root['targetPath'], cfg, 'targetPath');

  const rawModes = root['accessModes'];
  let accessModes: readonly string[] = DEFAULT_ACCESS_MODES;
  if (rawModes !== undefined && rawModes !== null) {
    if (!Array.isArray(rawModes) || !rawModes.every((m) => typeof m === 'string')) {
      throw configError(ConfigErrorCode.CONFIG_SHAPE, `${cfg}: "accessModes" must be an array of strings`);
    }
    if (rawModes.length > 0) accessModes = rawModes as string[];
  }

  for (const field of ['persistentVolumeAttrs', 'persistentVolumeMountOptions']) {
    const v = root[field];
    if (v !== undefined && v !== null && !isObject(v)) {
      throw configError(ConfigErrorCode.CONFIG_SHAPE, `${cfg}: ${q(field)} must be an object, not ${kindOf(v)}`);
    }
  }

  return {
    file,
    mounts,
    ...(targetPath !== undefined && targetPath !== '' ? { targetPath } : {}),
    runtimeOptions: stringPairs(root['runtimeOptions'], cfg, 'runtimeOptions'),
    accessModes,
  };
}

/** Locates, reads and parses the Fluid config. */
export async function loadFluidConfig(configPath: string | undefined, defaults: readonly string[]): Promise<FluidConfig> {
  const { file, text } = await readConfigFile(configPath, defaults);
  return parseFluidConfig(file, text);
}
