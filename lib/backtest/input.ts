/**
 * What a backtest reads: a trading calendar, per-symbol prices and model scores aligned to it, and
 * options that come from experiment configs (hence a zod schema with defaults).
 */
import { z } from 'zod';
import { BadInputError, describeValidationError } from '../errors';

/** One symbol's columns, each aligned to BacktestInput.dates (NaN where the symbol has no bar). */
export interface BacktestSymbolInput {
  symbol: string;
  /** Opening prices: every trade executes at an open, and positions earn open-to-open returns. */
  open: Float64Array;
  /** Closing prices; only used to mark a held position across days without an open (halts, delisting). */
  close: Float64Array;
  /**
   * The model's probability that the price goes up, known at the close of that date; NaN = no prediction.
   * A score at date t can first be traded at the open of date t + 1.
   */
  score: Float64Array;
}

export interface BacktestInput {
  /** The common trading calendar, ISO YYYY-MM-DD, strictly increasing; at least 3 dates. */
  dates: readonly string[];
  symbols: readonly BacktestSymbolInput[];
}

const bps = (d: number) => z.number().min(0).max(10_000).default(d);

export const backtestOptionsSchema = z
  .strictObject({
    /** long_flat: long or nothing. long_short: also short when the model is confident the price goes down. */
    strategy: z.enum(['long_flat', 'long_short']).default('long_flat'),
    /**
     * Long when score > threshold; in long_short also short when score < 1 − threshold; otherwise flat.
     * long_short needs threshold >= 0.5 so the two bands cannot overlap.
     */
    threshold: z.number().min(0).lt(1).default(0.5),
    /**
     * How many days each daily signal is held. The book is split into holdingDays overlapping tranches: the
     * weight traded at the open of t + 1 is the average of the targets from the scores of t, t − 1, …,
     * t − holdingDays + 1. 1 = re-evaluated every day.
     */
    holdingDays: z.number().int().min(1).max(252).default(1),
    /** Commission in basis points per unit of turnover (a full switch of the book from one symbol to another is turnover 2). */
    costBps: bps(1),
    /** Slippage (spread, impact) in basis points per unit of turnover, added to costBps. */
    slippageBps: bps(5),
    /**
     * Cross-sectional portfolio: each day long the topK highest scores above the threshold (and, in long_short,
     * short the topK lowest below 1 − threshold), each at 1/topK (long_flat) or 1/(2·topK) (long_short).
     * Without it every symbol with a signal gets 1/N of the universe. Either way gross exposure <= 1, except
     * for positions that cannot be closed because their symbol has no open that day. Ranking uses every
     * scored symbol: whether it will have an open tomorrow is not known at today's close. Equal scores
     * across the cut are admitted by a seeded draw, never by symbol order (see backtestOf).
     */
    topK: z.number().int().min(1).optional(),
    /**
     * Annual cost of borrowing the shares sold short (long_short), as a fraction of the short position's
     * value: charged each period on the short side's gross weight at borrowRate / periodsPerYear. 0.005
     * (50 bps a year) is about the general-collateral fee of large US stocks; hard-to-borrow names cost more.
     */
    borrowRate: z.number().min(0).max(1).default(0.005),
    /** Annual risk-free rate for Sharpe and Sortino. */
    riskFreeRate: z.number().min(-1).max(1).default(0),
    periodsPerYear: z.number().int().min(1).max(366).default(252),
  })
  .refine((o) => o.strategy !== 'long_short' || o.threshold >= 0.5, {
    message: 'long_short needs threshold >= 0.5 (long above it, short below 1 − threshold); lower thresholds make the bands overlap',
    path: ['threshold'],
  });

export type BacktestOptions = z.output<typeof backtestOptionsSchema>;
export type BacktestOptionsInput = z.input<typeof backtestOptionsSchema>;
export type BacktestStrategy = BacktestOptions['strategy'];

export function resolveBacktestOptions(options: BacktestOptionsInput = {}): BacktestOptions {
  const parsed = backtestOptionsSchema.safeParse(options);
  if (!parsed.success) throw new BadInputError(`Invalid backtest options: ${describeValidationError(parsed.error)}`, 'INVALID_BACKTEST_OPTIONS');
  return parsed.data;
}

const invalid = (message: string) => new BadInputError(message, 'INVALID_BACKTEST_INPUT');

/** Throws a BadInputError naming the first symbol, column and date that cannot be backtested. */
export function checkBacktestInput(input: BacktestInput, options: BacktestOptions): void {
  const { dates, symbols } = input;
  if (dates.length < 3) throw invalid(`A backtest needs at least 3 dates (score, execution open, next open), got ${dates.length}`);
  for (let t = 1; t < dates.length; t++) {
    if (!(dates[t] > dates[t - 1])) throw invalid(`Backtest dates must be strictly increasing: ${dates[t - 1]} is followed by ${dates[t]} at index ${t}; sort and deduplicate the calendar`);
  }
  if (symbols.length === 0) throw invalid('A backtest needs at least one symbol');
  if (options.topK !== undefined && options.topK > symbols.length) {
    throw invalid(`topK is ${options.topK} but the universe has only ${symbols.length} symbols; lower topK or add symbols`);
  }
  const seen = new Set<string>();
  for (const s of symbols) {
    if (seen.has(s.symbol)) throw invalid(`Symbol ${s.symbol} appears twice in the backtest input; merge its rows`);
    seen.add(s.symbol);
    for (const column of ['open', 'close', 'score'] as const) {
      const values = s[column];
      if (!(values instanceof Float64Array)) throw invalid(`${s.symbol}.${column} must be a Float64Array aligned to dates`);
      if (values.length !== dates.length) {
        throw invalid(`${s.symbol}.${column} has ${values.length} values but there are ${dates.length} dates; align every column to the common calendar (NaN where there is no bar)`);
      }
      for (let t = 0; t < values.length; t++) {
        const v = values[t];
        if (Number.isNaN(v)) continue;
        const ok = column === 'score' ? v >= 0 && v <= 1 : v > 0 && v < Infinity;
        if (!ok) {
          const expected = column === 'score' ? 'a probability in [0, 1] (NaN for no prediction); pass P(up), not a logit or a class' : 'a positive price (NaN for no bar)';
          throw invalid(`${s.symbol}.${column} on ${dates[t]} is ${v}; expected ${expected}`);
        }
      }
    }
  }
}

/**
 * A symbol's backtest column on a date grid: its opens and closes where it has a bar (NaN where it
 * has none: not listed, halted), scores all NaN for the caller to fill.
 */
export function symbolColumnOn(symbol: string, series: { dates: readonly string[]; open: ArrayLike<number>; close: ArrayLike<number> } | undefined, dateIndex: ReadonlyMap<string, number>, days: number): BacktestSymbolInput {
  const open = new Float64Array(days).fill(NaN);
  const close = new Float64Array(days).fill(NaN);
  series?.dates.forEach((d, i) => {
    const at = dateIndex.get(d);
    if (at === undefined) return;
    open[at] = series.open[i];
    close[at] = series.close[i];
  });
  return { symbol, open, close, score: new Float64Array(days).fill(NaN) };
}
