import { backtestOf } from '../../../lib/backtest/backtest';
import { resolveBacktestOptions, type BacktestInput, type BacktestOptionsInput } from '../../../lib/backtest/input';
import { BadInputError } from '../../../lib/errors';

const f = (values: number[]) => Float64Array.from(values);
const good: BacktestInput = {
  dates: ['2024-01-02', '2024-01-03', '2024-01-04', '2024-01-05'],
  symbols: [
    { symbol: 'A', open: f([10, 11, 12, 13]), close: f([10, 11, 12, 13]), score: f([0.6, 0.6, NaN, 0.4]) },
    { symbol: 'B', open: f([20, NaN, 21, 22]), close: f([20, NaN, 21, 22]), score: f([0.4, NaN, 0.7, 0.7]) },
  ],
};
const withA = (patch: Partial<BacktestInput['symbols'][number]>): BacktestInput => ({ ...good, symbols: [{ ...good.symbols[0], ...patch }, good.symbols[1]] });

/** The BadInputError a call throws, so its message and code can both be checked. */
function failureOf(run: () => unknown): BadInputError {
  try {
    run();
  } catch (error) {
    if (error instanceof BadInputError) return error;
    throw error;
  }
  throw new Error('expected a BadInputError');
}

describe('backtest options', () => {
  it('fills the defaults', () => {
    expect(resolveBacktestOptions()).toEqual({ strategy: 'long_flat', threshold: 0.5, holdingDays: 1, costBps: 1, slippageBps: 5, borrowRate: 0.005, riskFreeRate: 0, periodsPerYear: 252 });
  });

  it.each<[string, unknown, string]>([
    ['unknown strategy', { strategy: 'momentum' }, 'strategy: Invalid option: expected one of "long_flat"|"long_short"'],
    ['negative commission', { costBps: -1 }, 'costBps: Too small: expected number to be >=0'],
    ['negative slippage', { slippageBps: -5 }, 'slippageBps: Too small'],
    ['fractional holding period', { holdingDays: 1.5 }, 'holdingDays: Invalid input: expected int'],
    ['threshold of 1', { threshold: 1 }, 'threshold: Too big'],
    ['overlapping long_short bands', { strategy: 'long_short', threshold: 0.4 }, 'threshold: long_short needs threshold >= 0.5'],
    ['zero top-k', { topK: 0 }, 'topK: Too small'],
    ['misspelt option', { holdDays: 5 }, 'Unrecognized key: "holdDays"'],
  ])('rejects %s', (_, options, message) => {
    const error = failureOf(() => resolveBacktestOptions(options as BacktestOptionsInput));
    expect(error.code).toBe('INVALID_BACKTEST_OPTIONS');
    expect(error.message).toContain('Invalid backtest options: ');
    expect(error.message).toContain(message);
  });
});

describe('backtest input', () => {
  it('accepts a well-formed input with gaps and missing scores', () => {
    expect(backtestOf(good).strategy.netReturns.length).toBe(2);
  });

  it.each<[string, BacktestInput, BacktestOptionsInput, string]>([
    ['a column shorter than the calendar', withA({ score: f([0.5, 0.5, 0.5]) }), {}, 'A.score has 3 values but there are 4 dates; align every column to the common calendar'],
    ['a plain array instead of a Float64Array', withA({ open: [10, 11, 12, 13] as unknown as Float64Array }), {}, 'A.open must be a Float64Array aligned to dates'],
    ['a score that is not a probability', withA({ score: f([0.5, 1.7, 0.5, 0.5]) }), {}, 'A.score on 2024-01-03 is 1.7; expected a probability in [0, 1]'],
    ['a non-positive price', withA({ open: f([10, 0, 12, 13]) }), {}, 'A.open on 2024-01-03 is 0; expected a positive price (NaN for no bar)'],
    ['an infinite price', withA({ close: f([10, Infinity, 12, 13]) }), {}, 'A.close on 2024-01-03 is Infinity'],
    ['unsorted dates', { ...good, dates: ['2024-01-02', '2024-01-04', '2024-01-03', '2024-01-05'] }, {}, 'Backtest dates must be strictly increasing: 2024-01-04 is followed by 2024-01-03 at index 2'],
    ['too few dates', { dates: ['2024-01-02', '2024-01-03'], symbols: [{ symbol: 'A', open: f([1, 1]), close: f([1, 1]), score: f([1, 1]) }] }, {}, 'at least 3 dates'],
    ['no symbols', { ...good, symbols: [] }, {}, 'at least one symbol'],
    ['a duplicated symbol', { ...good, symbols: [good.symbols[0], good.symbols[0]] }, {}, 'Symbol A appears twice'],
    ['top-k larger than the universe', good, { topK: 3 }, 'topK is 3 but the universe has only 2 symbols'],
  ])('rejects %s', (_, input, options, message) => {
    const error = failureOf(() => backtestOf(input, options));
    expect(error.code).toBe('INVALID_BACKTEST_INPUT');
    expect(error.message).toContain(message);
  });

  it('rejects bad options before reading the input', () => {
    expect(failureOf(() => backtestOf(good, { strategy: 'short_only' as 'long_flat' })).code).toBe('INVALID_BACKTEST_OPTIONS');
  });
});
