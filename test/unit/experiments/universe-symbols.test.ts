/** An experiment's universe.symbols names each symbol once, as the store spells it. */
import { experimentSchema } from '../../../lib/experiments/experiment';

const base = { name: 'x', label: { kind: 'direction', horizon: 5 }, algorithms: [{ algorithm: 'logistic_regression' }] };

describe('universe.symbols', () => {
  it('refuses a symbol listed twice, also in other case or spelling, naming each duplicate', () => {
    const parsed = experimentSchema.safeParse({ ...base, universe: { symbols: ['AAPL', 'aapl', 'MSFT', 'BRK.B', 'brk-b', 'AAPL'] } });
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    expect(parsed.error.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['universe.symbols', 'AAPL (3 times), BRK.B (2 times) listed more than once (symbols are read in capitals, "-" as "."); give each symbol once'],
    ]);
  });

  it('keeps a list of distinct symbols as given, normalised', () => {
    expect(experimentSchema.parse({ ...base, universe: { symbols: ['aapl', 'MSFT'] } }).universe.symbols).toEqual(['AAPL', 'MSFT']);
  });
});
