/**
 * `--json` output escapes the control and format characters text output escapes: JSON.stringify
 * escapes only C0, so a stored reason holding U+009B (CSI: a terminal acts on it as on ESC [), a
 * bidi override or a line separator reached the terminal raw through `mlp … --json`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { printableJson } from '../../lib/printable-json';
import { CONTROL_CHARACTER_CLASS } from '../../lib/well-formed-text';

/** Every character of the set, one of each range's ends and middles included. */
const EVIL = 'a\u0000\u001b[2J\u007f\u0085\u009b32m\u009f\u00ad\u061c\u180e\u200b\u200e\u200f\u2028\u2029\u202a\u202e\u2060\u2066\u206f\ufeff\ufff9\ufffb z';
const ANY_CONTROL = new RegExp(CONTROL_CHARACTER_CLASS);

describe('printableJson', () => {
  const value = { reason: EVIL, [`key ${EVIL}`]: [EVIL, 1, null, true], nested: { by: '\u009b0m\u202eevil' } };

  it('writes every control and format character as \\uXXXX, keeping the indentation', () => {
    const json = printableJson(value);
    // Only the indentation's newlines are raw control characters.
    expect(json.replace(/\n/g, '')).not.toMatch(ANY_CONTROL);
    expect(json).toContain('"reason": "a\\u0000\\u001b[2J\\u007f\\u0085\\u009b32m\\u009f\\u00ad\\u061c\\u180e\\u200b\\u200e\\u200f\\u2028\\u2029\\u202a\\u202e\\u2060\\u2066\\u206f\\ufeff\\ufff9\\ufffb z"');
    expect(json.split('\n')[1]).toBe('  "reason": "a\\u0000\\u001b[2J\\u007f\\u0085\\u009b32m\\u009f\\u00ad\\u061c\\u180e\\u200b\\u200e\\u200f\\u2028\\u2029\\u202a\\u202e\\u2060\\u2066\\u206f\\ufeff\\ufff9\\ufffb z",');
  });

  it('is the same JSON to a parser', () => {
    expect(JSON.parse(printableJson(value))).toEqual(value);
    expect(printableJson(value).replace(/\\u00(?:7f|8[0-9a-f]|9[0-9a-f]|ad)|\\u(?:061c|180e|20[0-6][0-9a-f]|feff|fff[9ab])/g, (e) => String.fromCharCode(parseInt(e.slice(2), 16)))).toBe(JSON.stringify(value, null, 2));
  });

  it('leaves other text as JSON.stringify writes it (accents, emoji, backslashes) and honours a replacer', () => {
    const plain = { name: 'Zürich 📈 C:\\data', n: 1.5 };
    expect(printableJson(plain)).toBe(JSON.stringify(plain, null, 2));
    expect(printableJson({ raw: 'x', kept: '\u009b' }, (key, v) => (key === 'raw' ? undefined : v))).toBe('{\n  "kept": "\\u009b"\n}');
    expect(printableJson(undefined)).toBe('null');
  });
});

describe('the CLI prints --json output through printableJson', () => {
  /** Every .ts file under client/. */
  function sources(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
  }

  it('no command prints JSON.stringify output of its own', () => {
    const offenders = sources(join(__dirname, '../../client'))
      .flatMap((file) => readFileSync(file, 'utf8').split('\n').map((line, i) => ({ where: `${file}:${i + 1}`, line })))
      .filter(({ line }) => /(console\.(log|error)|\.write)\(\s*JSON\.stringify/.test(line))
      .map(({ where }) => where);
    expect(offenders).toEqual([]);
  });
});
