/**
 * The A/B and canary routing key (`key` in the body of POST /v1/predictions or the query of GET
 * /v1/predictions/:symbol) is hashed to pick a variant and stored in prediction_log.routing_key. It
 * took any well-formed text up to 128 characters: an escape sequence, a newline, a bidi override
 * or text that looks like another key ("desk‑7" with a non-breaking hyphen beside "desk-7") was
 * routed and stored as sent. It is printable ASCII now, refused otherwise with a 400 naming the
 * cause, never quoting the key.
 */
import { ApiError, parseInput } from '../../../api/errors';
import { predictionQuerySchema, predictionsRequestSchema } from '../../../api/schemas';

function refusal(key: string, where: 'body' | 'query'): ApiError {
  try {
    if (where === 'body') parseInput(predictionsRequestSchema, { symbols: ['AAPL'], key }, 'body');
    else parseInput(predictionQuerySchema, { key }, 'query');
  } catch (error) {
    return error as ApiError;
  }
  throw new Error(`key ${JSON.stringify(key)} was taken`);
}

describe('the routing key of a prediction request', () => {
  it.each(['client-42', 'desk 7/alpha_b.1', 'A'.repeat(128), '~!@#$%^&*()'])('takes printable ASCII: %s', (key) => {
    expect(parseInput(predictionsRequestSchema, { symbols: ['AAPL'], key }, 'body').key).toBe(key);
    expect(parseInput(predictionQuerySchema, { key }, 'query').key).toBe(key);
  });

  it.each([
    ['an escape sequence', 'client\x1b[2J', /must not hold control characters/],
    ['a newline', 'client\nFAKE', /must not hold control characters/],
    ['a tab', 'client\t1', /must not hold control characters/],
    ['DEL', 'client\x7f', /must not hold control characters/],
    ['a C1 control', 'client\u009b31m', /must not hold control characters/],
    ['a bidi override', 'client\u202e1', /must be ASCII/],
    ['a zero-width space', 'client\u200b1', /must be ASCII/],
    ['a look-alike hyphen', 'desk\u20117', /must be ASCII/],
    ['an accented letter', 'zürich', /must be ASCII/],
    ['an emoji', 'client📈', /must be ASCII/],
    ['a lone surrogate', 'client\ud83d', /must be ASCII/],
    ['129 characters', 'A'.repeat(129), /must be at most 128 characters/],
    ['nothing', '', /must not be empty/],
  ])('refuses %s with a 400 naming the cause, without quoting the key', (_what, key, cause) => {
    for (const where of ['body', 'query'] as const) {
      const error = refusal(key, where);
      expect(error).toBeInstanceOf(ApiError);
      expect(error.statusCode).toBe(400);
      expect(error.message).toMatch(new RegExp(`^${where}\\.key: `));
      expect(error.message).toMatch(cause);
      if (key.length > 0) expect(error.message).not.toContain(key);
    }
  });
});
