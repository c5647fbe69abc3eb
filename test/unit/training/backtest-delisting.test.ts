import type { BarSeries } from '../../../lib/market-data/bar';
import { backtestInputOf, evaluatePredictions } from '../../../lib/training/evaluation-report';
import { DEFAULT_PLAUSIBILITY } from '../../../lib/training/guards';
import { datasetFromBars, predictionsForLastDays } from '../../helpers/training-dataset';

const HORIZON = 5;
const DAYS = 300;
const dates = Array.from({ length: DAYS }, (_, d) => new Date(Date.UTC(2021, 0, 4) + d * 86_400_000).toISOString().slice(0, 10));

/** A gently drifting series of `length` bars; from `crashFrom` on it loses 15% a bar. */
function series(symbol: string, length: number, crashFrom = Infinity): BarSeries {
  const open = new Float64Array(length);
  const close = new Float64Array(length);
  let p = 100;
  for (let d = 0; d < length; d++) {
    open[d] = p;
    p *= d >= crashFrom ? 0.85 : 1 + 0.001 * Math.sin(d);
    close[d] = p;
  }
  return { symbol, dates: dates.slice(0, length), open, close, high: close, low: close, volume: new Float64Array(length).fill(1) };
}

describe('a symbol delisted inside the evaluation period', () => {
  // C crashes over its last 5 bars and then stops: those bars have no label, so no dataset row.
  const bars = [series('A', DAYS), series('B', DAYS), series('C', 250, 250 - HORIZON)];
  const ds = datasetFromBars(bars, { kind: 'direction', horizon: HORIZON, deadZone: 0 });
  const predictions = predictionsForLastDays(ds, 150, () => 0.6); // always long, no skill

  it('keeps its last score until its last bar instead of selling ahead of the end it could not know', () => {
    const input = backtestInputOf(ds, predictions, bars);
    const c = input.symbols[2].score;
    const firstDate = input.dates.indexOf(dates[249]);
    expect(firstDate).toBeGreaterThan(0);
    for (let d = firstDate - HORIZON; d <= firstDate; d++) expect(c[d]).toBe(0.6);
    expect(Number.isNaN(c[firstDate + 1])).toBe(true); // no bar: nothing to score
    // A and B, which trade to the end, are not extended past their scored days.
    const a = input.symbols[0].score;
    expect(a.filter((v) => !Number.isNaN(v))).toHaveLength(150);
  });

  it('also when the series ends within the last label horizon of the data', () => {
    const late = [series('A', DAYS), series('B', DAYS), series('D', DAYS - 2)];
    const lateDs = datasetFromBars(late, { kind: 'direction', horizon: HORIZON, deadZone: 0 });
    const input = backtestInputOf(lateDs, predictionsForLastDays(lateDs, 100, () => 0.6), late);
    const lastDecision = input.dates.indexOf(dates[DAYS - 1 - HORIZON]);
    expect(lastDecision).toBeGreaterThan(0);
    // D's rows end 2 days before the others' (its labels need bars it never had); its score stands to the last decision day.
    for (let d = lastDecision - 3; d <= lastDecision; d++) expect(input.symbols[2].score[d]).toBe(0.6);
  });

  it('so an always-long model earns what buy-and-hold earns, crash included', () => {
    const report = evaluatePredictions(ds, predictions, bars, { backtest: { costBps: 0, slippageBps: 0 }, plausibility: DEFAULT_PLAUSIBILITY.direction, trials: 1, trialSharpeVariance: 0, seed: 1 });
    // Up to the delisting the same book; after it buy-and-hold shares C's weight among A and B, where
    // the strategy's 1/N of the universe leaves it in cash (a drag on the strategy, never a gain).
    expect(Math.abs(report.backtest.strategy.totalReturn - report.backtest.buyAndHold.totalReturn)).toBeLessThan(1e-3);
    expect(report.backtest.buyAndHold.totalReturn).toBeLessThan(-0.1); // the crash is in both
    expect(report.backtest.strategy.totalReturn).toBeLessThan(-0.1);
  });
});
