// JSON syntax errors are located without quoting the input (V8's messages quote it).
import t from 'tap';
import { findJsonError, parseJson } from '../../../src/config/fluid-config.js';

t.test('valid JSON has no error', async (t) => {
  for (const text of ['{}', '[]', ' {"a":[1,-2.5e3,true,false,null,"x\\u00e9\\n"]}\n', '"s"', '0', '\ufeff{"bom":1}']) {
    t.equal(findJsonError(text), undefined, JSON.stringify(text));
  }
  t.same(parseJson('\ufeff{"bom":1}'), { ok: true, value: { bom: 1 } });
});

t.test('line, column and a reason that never repeats the text', async (t) => {
  t.same(findJsonError('{"a": x}'), { line: 1, column: 7, reason: 'unexpected character' });
  t.same(findJsonError('{\n  "a": 1,\n}'), { line: 3, column: 1, reason: 'expected a property name in double quotes' });
  t.same(findJsonError('[1,\n 2'), { line: 2, column: 3, reason: 'unexpected end of input' });
  t.same(findJsonError('{"a":"unterminated'), { line: 1, column: 19, reason: 'unterminated string' });
  t.same(findJsonError('{"a":"\\q"}'), { line: 1, column: 8, reason: 'bad escape in string' });
  t.same(findJsonError('{"a":01}'), { line: 1, column: 7, reason: "expected ',' or '}' after a property value" });
  t.same(findJsonError('[1 2]'), { line: 1, column: 4, reason: "expected ',' or ']' after an array element" });
  t.same(findJsonError('   '), { line: 1, column: 4, reason: 'the file is empty' });
  const parsed = parseJson('{"secret": hunter2}');
  t.equal(parsed.ok, false);
  t.notMatch(JSON.stringify(parsed), 'hunter2');
});
