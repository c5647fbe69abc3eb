/**
 * A reason the admin API stores (rollback, routes) is kept in the alias and route history, which
 * `mlp models history` prints: one line without control characters (C0, DEL, C1), or a 400 naming
 * the field. Such a reason holding terminal escape sequences cleared the screen, set the window
 * title and faked lines of the history.
 */
import { ApiError, parseInput } from '../../../api/errors';
import { rollbackRequestSchema, writeRoutesRequestSchema } from '../../../api/schemas';

describe('the admin API refuses control characters in a reason it stores', () => {
  it.each([
    ['a rollback reason with an escape sequence', rollbackRequestSchema, { reason: 'bad fills\x1b[2J' }],
    ['a rollback reason with a newline', rollbackRequestSchema, { toVersion: 1, reason: 'bad fills\nFAKE line' }],
    ['a rollback reason with a C1 control', rollbackRequestSchema, { reason: 'bad \u009b31m fills' }],
    ['a split reason with a bell', writeRoutesRequestSchema, { mode: 'single', routes: [{ variant: 'A', version: 1, weight: 1 }], reason: 'ring\x07' }],
    ['a split reason with DEL', writeRoutesRequestSchema, { mode: 'single', routes: [{ variant: 'A', version: 1, weight: 1 }], reason: 'x\x7fy' }],
  ])('%s: 400 naming the field', (_what, schema, body) => {
    let error: unknown;
    try {
      parseInput(schema as typeof rollbackRequestSchema, body, 'body');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ statusCode: 400, code: 'invalid_request', message: expect.stringContaining('body.reason: must not contain control characters') });
  });

  it('takes a reason in any script, with emoji and punctuation, as it is', () => {
    expect(parseInput(rollbackRequestSchema, { reason: 'Société: fills 2× worse — 😀 «rollback»' }, 'body').reason).toBe('Société: fills 2× worse — 😀 «rollback»');
  });
});
