/**
 * Decimal notation, as a person types a count or a number of seconds: the one rule for numbers given
 * as text, on the command line (client/number-flag.ts) and in the environment (lib/config.ts).
 * Number() alone also reads "0x10" as 16, "0b11", "1e3" and "Infinity", and "" or " " as 0:
 * `--limit=0x10` listed 16 rows, `--shadow-seconds ""` asked for no shadow phase, and
 * API_RATE_LIMIT_AUTH_FAILURES=0x0 switched a rate limit off.
 */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

/** Text in decimal notation as its number; any other text as NaN, which a number schema refuses with its own message. Non-strings pass unchanged. */
export function decimalValue(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  return DECIMAL.test(value) ? Number(value) : Number.NaN;
}
