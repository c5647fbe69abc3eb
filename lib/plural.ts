/**
 * A count with its noun for messages: `1 row`, `2 rows`, `1,259 rows` (the number as en-US writes
 * it), the plural given where it is not the noun and an `s` (`plural(n, 'series', 'series')`).
 */
export function plural(n: number, noun: string, nouns = `${noun}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? noun : nouns}`;
}
