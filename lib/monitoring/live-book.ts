/**
 * The live period traded as the version's backtest traded its evaluation period: the same engine
 * (lib/backtest), the backtest options recorded with its experiment (strategy, threshold, top-k,
 * holding days, costs), the scores of its matured live predictions and the stored bars. Its drawdown
 * is the one that can be held against the backtest's promised drawdown.
 *
 * The signal check beside it (live-performance.ts liveStrategyOf: long every up-call, averaged over
 * every symbol, each day's return divided by the horizon, no costs) is another strategy: on 100
 * symbols in a market falling 0.8% a day for 25 days it fell 8.6% while the top-20 book the backtest
 * had promised 12% for fell 23.5%, and the alarm, which compared the two, said "ok".
 */
import { z } from 'zod';
import { backtestOf } from '../backtest/backtest';
import { backtestOptionsSchema, symbolColumnOn, type BacktestOptions, type BacktestOptionsInput } from '../backtest/input';
import { BadInputError } from '../errors';
import type { BarSeries } from '../market-data/bar';
import { neweyWestDefaultLags, neweyWestMean } from '../stats/dependent-inference';
import { roundSignificant } from './binning';
import type { OutcomeSample } from './live-performance';

export type LiveBook =
  | {
      status: 'traded';
      /** The strategy as the reasons name it, e.g. "long_flat top 20, 6 bps per unit of turnover". */
      strategy: string;
      options: BacktestOptions;
      /** Symbols with live predictions, and the periods (open to next open) the book was held. */
      symbols: number;
      sessions: number;
      totalReturn: number;
      /** Positive fraction of the net equity's peak. */
      maxDrawdown: number;
      meanDailyReturn: number;
      /**
       * The standard error of meanDailyReturn over the book's daily net returns (bookReturnEstimateOf),
       * what the promised mean return is judged against; absent in books stored before it was measured.
       */
      meanDailyReturnEstimate?: BookReturnEstimate;
      averageExposure: number;
      totalCosts: number;
    }
  | { status: 'unavailable'; reason: string };

/** Newey–West standard error of a book's mean daily net return, its Student t degrees of freedom and lags. */
export interface BookReturnEstimate {
  standardError: number;
  degreesOfFreedom: number;
  lags: number;
  /**
   * The squared standard error over the one of independent days (s²/n): how much the days'
   * dependence widens a mean of this strategy's returns; absent in books stored before it was kept.
   */
  varianceInflation?: number;
}

/**
 * The mean daily net return's standard error: Newey–West with at least holdingDays − 1 lags (a
 * signal held h days is in the book on h consecutive days, so their returns share positions) and
 * the short-sample correction the evidence uses (lib/stats/dependent-inference.ts). NaN (stored as
 * null) on fewer than 2 sessions.
 */
export function bookReturnEstimateOf(netReturns: Float64Array, holdingDays: number): BookReturnEstimate {
  const lags = Math.max(neweyWestDefaultLags(netReturns.length), 2 * (Math.max(1, Math.round(holdingDays)) - 1));
  const e = neweyWestMean(netReturns, { lags, evidence: true });
  const n = netReturns.length;
  // The same mean's squared standard error with the days taken as independent (no lags).
  const naive = neweyWestMean(netReturns, { lags: 0 }).standardError ** 2;
  const inflation = naive > 0 ? (e.standardError * e.standardError) / naive : NaN;
  return { standardError: r4(e.standardError), degreesOfFreedom: e.degreesOfFreedom, lags: Math.min(lags, Math.max(0, n - 1)), ...(Number.isFinite(inflation) ? { varianceInflation: r4(inflation) } : {}) };
}

const r4 = (x: number) => roundSignificant(x, 4);
const unavailable = (reason: string): LiveBook => ({ status: 'unavailable', reason });

/** "long_flat top 20, 6 bps per unit of turnover": what differs from the defaults is named. */
export function describeBacktestStrategy(o: BacktestOptions): string {
  const parts = [`${o.strategy}${o.topK !== undefined ? ` top ${o.topK}` : ''}`];
  if (o.threshold !== 0.5) parts.push(`threshold ${o.threshold}`);
  if (o.holdingDays > 1) parts.push(`each signal held ${o.holdingDays} days`);
  parts.push(`${o.costBps + o.slippageBps} bps per unit of turnover`);
  if (o.strategy === 'long_short') parts.push(`borrow ${o.borrowRate} a year`);
  return parts.join(', ');
}

const lineageSchema = z.object({ experiment: z.object({ backtest: z.unknown().optional() }).passthrough() }).passthrough();

/**
 * The backtest options a version was evaluated with: its lineage's experiment (an experiment without
 * them ran the defaults); undefined for a version registered outside a training run.
 */
export function recordedBacktestOptionsOf(lineage: Record<string, unknown>): BacktestOptionsInput | undefined {
  const parsed = lineageSchema.safeParse(lineage);
  if (!parsed.success) return undefined;
  return (parsed.data.experiment.backtest ?? {}) as BacktestOptionsInput;
}

/**
 * The backtest of the live period: each matured prediction's probability is the score of its symbol
 * and day, on the calendar of the stored bars of the predicted symbols, from the first prediction day
 * to the second session after the last (when its trade is closed). A symbol without a prediction on
 * a day holds nothing from it, as in the evaluation. Unavailable, with the reason, when the options
 * are missing or invalid, or the predictions cannot form the book (fewer symbols than its top k).
 */
export function liveBookOf(samples: readonly Pick<OutcomeSample, 'symbol' | 'asOf' | 'probability'>[], series: readonly BarSeries[], recorded: BacktestOptionsInput | undefined): LiveBook {
  if (recorded === undefined) return unavailable('the version records no backtest options (registered outside a training run), so its backtest strategy cannot be re-traded');
  const parsed = backtestOptionsSchema.safeParse(recorded);
  if (!parsed.success) return unavailable(`the version's recorded backtest options are invalid (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`);
  const options = parsed.data;
  const strategy = describeBacktestStrategy(options);
  const scored = samples.filter((s) => Number.isFinite(s.probability));
  if (scored.length === 0) return unavailable('no matured predictions to trade');
  const symbols = [...new Set(scored.map((s) => s.symbol))].sort();
  if (options.topK !== undefined && options.topK > symbols.length) {
    return unavailable(`the live predictions cover ${symbols.length} symbols, fewer than the top ${options.topK} the backtest holds (${strategy}), so its book cannot be formed`);
  }
  const first = scored.reduce((m, s) => (s.asOf < m ? s.asOf : m), scored[0].asOf);
  const last = scored.reduce((m, s) => (s.asOf > m ? s.asOf : m), scored[0].asOf);
  const bySymbol = new Map(series.map((s) => [s.symbol, s]));
  const calendar = new Set<string>();
  for (const symbol of symbols) for (const d of bySymbol.get(symbol)?.dates ?? []) if (d >= first) calendar.add(d);
  const sorted = [...calendar].sort();
  let lastAt = sorted.length - 1;
  while (lastAt >= 0 && sorted[lastAt] > last) lastAt--;
  const dates = sorted.slice(0, lastAt + 3);
  if (dates.length < 3) return unavailable(`the stored bars of the predicted symbols have ${dates.length} session(s) from ${first}: a trade needs the next two opens`);
  const dayOf = new Map(dates.map((d, i) => [d, i]));
  const columns = new Map(
    symbols.map((symbol) => [symbol, symbolColumnOn(symbol, bySymbol.get(symbol), dayOf, dates.length)]),
  );
  for (const s of scored) {
    const at = dayOf.get(s.asOf);
    if (at !== undefined) (columns.get(s.symbol) as { score: Float64Array }).score[at] = s.probability;
  }
  try {
    const result = backtestOf({ dates, symbols: [...columns.values()] }, options);
    const m = result.strategy.metrics;
    return { status: 'traded', strategy, options, symbols: symbols.length, sessions: m.periods, totalReturn: r4(m.totalReturn), maxDrawdown: r4(m.maxDrawdown.depth), meanDailyReturn: r4(m.meanReturn), meanDailyReturnEstimate: bookReturnEstimateOf(result.strategy.netReturns, options.holdingDays), averageExposure: r4(m.averageExposure), totalCosts: r4(m.totalCosts) };
  } catch (error) {
    // Bars the engine refuses (a non-positive price) leave the book unknown, not the report broken.
    if (!(error instanceof BadInputError)) throw error;
    return unavailable(`the live period cannot be backtested: ${error.message}`);
  }
}
