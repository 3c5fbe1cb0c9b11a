/**
 * Locates the first syntax error of a JSON text. V8's JSON.parse messages may quote a piece of
 * the input (which can hold a literal secret), so error messages are built from this instead.
 */

export interface JsonErrorPosition {
  /** 1-based line and column of the offending character (or of the end of input). */
  readonly line: number;
  readonly column: number;
  readonly reason: string;
}

class Stop extends Error {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

const SAFE_TO_SHOW = new Set(['{', '}', '[', ']', ':', ',', '"']);

function scan(text: string): void {
  let i = 0;
  const fail = (reason: string): never => {
    throw new Stop(i, reason);
  };
  const unexpected = (): never => {
    if (i >= text.length) return fail('unexpected end of input');
    const ch = text[i] as string;
    return fail(SAFE_TO_SHOW.has(ch) ? `unexpected '${ch}'` : 'unexpected character');
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const literal = (word: string) => {
    for (const ch of word) {
      if (text[i] !== ch) unexpected();
      i++;
    }
  };
  const string = () => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail('control character in string');
      if (c === 0x5c) {
        i++;
        const e = text[i];
        if (e === 'u') {
          for (let k = 1; k <= 4; k++) {
            if (!/[0-9a-fA-F]/.test(text[i + k] ?? '')) {
              i += k;
              fail('bad \\u escape in string');
            }
          }
          i += 5;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          i++;
        } else {
          fail('bad escape in string');
        }
      } else {
        i++;
      }
    }
  };
  const number = () => {
    const m = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    m.lastIndex = i;
    if (!m.exec(text)) unexpected();
    i = m.lastIndex;
  };
  const value = (depth: number): void => {
    if (depth > 1000) fail('nested too deeply');
    ws();
    const ch = text[i];
    if (ch === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`expected a property name in double quotes`);
        string();
        ws();
        if (text[i] !== ':') fail(`expected ':' after a property name`);
        i++;
        value(depth + 1);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        fail(i >= text.length ? 'unexpected end of input' : `expected ',' or '}' after a property value`);
      }
    } else if (ch === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value(depth + 1);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        fail(i >= text.length ? 'unexpected end of input' : `expected ',' or ']' after an array element`);
      }
    } else if (ch === '"') {
      string();
    } else if (ch === 't') {
      literal('true');
    } else if (ch === 'f') {
      literal('false');
    } else if (ch === 'n') {
      literal('null');
    } else if (ch === '-' || (ch !== undefined && ch >= '0' && ch <= '9')) {
      number();
    } else {
      unexpected();
    }
  };
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  ws();
  if (i >= text.length) fail('the file is empty');
  value(0);
  ws();
  if (i < text.length) fail('unexpected text after the JSON value');
}

/** undefined when `text` is valid JSON, else where and why it is not. */
export function findJsonError(text: string): JsonErrorPosition | undefined {
  try {
    scan(text);
    return undefined;
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
    const before = text.slice(0, err.offset);
    const line = before.split('\n').length;
    const column = err.offset - (before.lastIndexOf('\n') + 1) + 1;
    return { line, column, reason: err.reason };
  }
}

/** Parses JSON (a leading byte order mark is allowed); on error returns the position instead. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: JsonErrorPosition } {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return { ok: true, value: JSON.parse(body) as unknown };
  } catch {
    return { ok: false, error: findJsonError(text) ?? { line: 1, column: 1, reason: 'invalid JSON' } };
  }
}
