/**
 * The information coefficient measures a score against the return a trader could earn on it: from
 * the open after the decision day (its features use that day's close) to the open after the label's
 * last day. Against the label's close-to-close return it credited a score with the overnight gap,
 * which no order placed after the close can earn.
 */
import { nyseTradingDaysBetween } from '../../../lib/calendar/nyse';
import type { BarSeries } from '../../../lib/market-data/bar';
import { rng } from '../../../lib/random';
import { evaluatePredictions, tradableForwardReturns } from '../../../lib/training/evaluation-report';
import { DEFAULT_PLAUSIBILITY } from '../../../lib/training/guards';
import { informationCoefficient } from '../../../lib/validation/metrics';
import { datasetFromBars, predictionsForLastDays, rankedScores } from '../../helpers/training-dataset';

const direction = { kind: 'direction', horizon: 5, deadZone: 0 } as const;

/** 30 stocks whose day's move is half undone by the next open; from the open on, a random walk. */
function gapReversingMarket(seed: number): BarSeries[] {
  const random = rng(seed);
  const z = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const dates = nyseTradingDaysBetween('2016-01-04', '2017-06-30');
  return Array.from({ length: 30 }, (_, s) => {
    const open = new Float64Array(dates.length);
    const close = new Float64Array(dates.length);
    let prev = 50;
    let day = 0;
    for (let d = 0; d < dates.length; d++) {
      open[d] = prev * Math.exp(-0.5 * day + 0.002 * z());
      day = 0.015 * z();
      close[d] = open[d] * Math.exp(day);
      prev = close[d];
    }
    return { symbol: `G${s}`, dates, open, high: close.map((c, d) => Math.max(c, open[d]) * 1.001), low: close.map((c, d) => Math.min(c, open[d]) * 0.999), close, volume: new Float64Array(dates.length).fill(1e6) };
  });
}

describe('information coefficient', () => {
  it('is measured from the next open, so a score of the overnight gap has none', () => {
    const series = gapReversingMarket(3);
    const ds = datasetFromBars(series, direction);
    const index = new Map(series[0].dates.map((d, i) => [d, i]));
    // Reversal of the day's open-to-close move, known at the close.
    const score = rankedScores(ds, (s, d) => -Math.log(series[s].close[index.get(ds.days[d]) as number] / series[s].open[index.get(ds.days[d]) as number]));
    const predictions = predictionsForLastDays(ds, 250, score);
    const report = evaluatePredictions(ds, predictions, series, { backtest: {}, plausibility: DEFAULT_PLAUSIBILITY.direction, trials: 1, trialSharpeVariance: 0, seed: 1 });
    // Close to close, the gap makes it look like a strong signal.
    const dayIndex = Int32Array.from(predictions.rows, (r) => ds.start[r]);
    const closeToClose = informationCoefficient(Float64Array.from(predictions.rows, (r) => score(r)), Float64Array.from(predictions.rows, (r) => ds.forwardReturn[r]), dayIndex);
    expect(closeToClose.mean).toBeGreaterThan(0.2);
    expect(Math.abs(report.informationCoefficient.mean)).toBeLessThan(0.05);
    expect(report.backtest.strategy.sharpe).toBeLessThan(1);
  });

  it('is NaN where the open after the label is not stored', () => {
    const series = gapReversingMarket(4).slice(0, 2);
    const ds = datasetFromBars(series, direction);
    const last = ds.rows - 1;
    const r = tradableForwardReturns(ds, Int32Array.of(0, last), series);
    const s = series[ds.symbol[0]];
    expect(r[0]).toBeCloseTo(s.open[ds.end[0] + 1] / s.open[ds.start[0] + 1] - 1, 12);
    expect(r[1]).toBeNaN();
  });
});
