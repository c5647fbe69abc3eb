/**
 * A reason the admin API stores (rollback, routes) is kept in the alias and route history, which
 * `mlp models history` prints: one line without control characters. Such a reason holding terminal
 * escape sequences cleared the screen, set the window title and faked lines of the history. Control
 * characters are normalised (a run that breaks or spaces text becomes one space, invisible format
 * characters are dropped) rather than refused: a 400 in the middle of an emergency rollback helps
 * nobody. The characters are the very ones the CLI escapes when it prints stored text.
 */
import { parseInput } from '../../../api/errors';
import { rollbackRequestSchema, writeRoutesRequestSchema } from '../../../api/schemas';
import { escapeControl } from '../../../lib/quality/excerpt';
import { hasNoControlCharacters, normaliseControlCharacters } from '../../../lib/well-formed-text';

describe('the admin API takes a reason with control characters as one line', () => {
  it.each([
    ['a rollback reason with an escape sequence', rollbackRequestSchema, { reason: 'bad fills\x1b[2J' }, 'bad fills [2J'],
    ['a rollback reason with a tab and a newline', rollbackRequestSchema, { toVersion: 1, reason: 'bad\tfills\r\nFAKE line\n' }, 'bad fills FAKE line'],
    ['a rollback reason with a C1 control', rollbackRequestSchema, { reason: 'bad \u009b31m fills' }, 'bad 31m fills'],
    ['a rollback reason with a bidi override and a zero-width space', rollbackRequestSchema, { reason: 'bad \u202efi\u200blls' }, 'bad fills'],
    ['a rollback reason with a line separator', rollbackRequestSchema, { reason: 'bad\u2028fills' }, 'bad fills'],
    ['a split reason with a bell', writeRoutesRequestSchema, { mode: 'single', routes: [{ variant: 'A', version: 1, weight: 1 }], reason: 'ring\x07' }, 'ring'],
    ['a split reason with DEL', writeRoutesRequestSchema, { mode: 'single', routes: [{ variant: 'A', version: 1, weight: 1 }], reason: 'x\x7fy' }, 'x y'],
  ])('%s: normalised, not refused', (_what, schema, body, stored) => {
    expect(parseInput(schema as typeof rollbackRequestSchema, body, 'body').reason).toBe(stored);
  });

  it('refuses a reason that is nothing but control characters: it must say why', () => {
    expect(() => parseInput(rollbackRequestSchema, { reason: '\n\t\u200b' }, 'body')).toThrow(/body\.reason: must say why the model is rolled back/);
  });

  it('takes a reason in any script, with emoji and punctuation, as it is', () => {
    expect(parseInput(rollbackRequestSchema, { reason: 'Société: fills 2× worse — 😀 «rollback»' }, 'body').reason).toBe('Société: fills 2× worse — 😀 «rollback»');
  });

  it('refuses, normalises and escapes one set of characters', () => {
    for (let code = 0; code <= 0xffff; code++) {
      if (code >= 0xd800 && code <= 0xdfff) continue; // lone surrogates: refused as ill-formed, escaped
      const ch = String.fromCharCode(code);
      const text = `a${ch}b`;
      const control = !hasNoControlCharacters(text);
      expect([code.toString(16), escapeControl(text) !== text]).toEqual([code.toString(16), control]);
      expect([code.toString(16), normaliseControlCharacters(text) !== text]).toEqual([code.toString(16), control]);
      if (control) expect(hasNoControlCharacters(normaliseControlCharacters(text))).toBe(true);
    }
  });
});
