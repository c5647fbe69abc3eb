/**
 * Labels and the information coefficient measure a score against the return a trader could earn on
 * it: from the open after the decision day (its features use that day's close) to the close of the
 * label's last day. Against the close-to-close return from the close that made the features, they
 * credited a score with the overnight gap, which no order placed after the close can earn.
 */
import { nyseTradingDaysBetween } from '../../../lib/calendar/nyse';
import type { BarSeries } from '../../../lib/market-data/bar';
import { rng } from '../../../lib/random';
import { evaluatePredictions, tradableForwardReturns } from '../../../lib/training/evaluation-report';
import { DEFAULT_PLAUSIBILITY } from '../../../lib/training/guards';
import { binaryAucOf } from '../../../lib/stats/binary-scores';
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

describe('labels and information coefficient', () => {
  it('are measured from the next open, so a score of the overnight gap has no edge on either', () => {
    const series = gapReversingMarket(3);
    const ds = datasetFromBars(series, direction);
    const index = new Map(series[0].dates.map((d, i) => [d, i]));
    const bar = (r: number) => index.get(ds.days[ds.start[r]]) as number;
    // Reversal of the day's open-to-close move, known at the close.
    const score = rankedScores(ds, (s, d) => -Math.log(series[s].close[index.get(ds.days[d]) as number] / series[s].open[index.get(ds.days[d]) as number]));
    const predictions = predictionsForLastDays(ds, 250, score);
    const report = evaluatePredictions(ds, predictions, series, { backtest: {}, plausibility: DEFAULT_PLAUSIBILITY.direction, trials: 1, trialSharpeVariance: 0, seed: 1 });
    // Close to close, the gap makes it look like a strong signal.
    const dayIndex = Int32Array.from(predictions.rows, (r) => ds.start[r]);
    const closeToClose = Float64Array.from(predictions.rows, (r) => series[ds.symbol[r]].close[bar(r) + 5] / series[ds.symbol[r]].close[bar(r)] - 1);
    const scores = Float64Array.from(predictions.rows, (r) => score(r));
    expect(informationCoefficient(scores, closeToClose, dayIndex).mean).toBeGreaterThan(0.2);
    const upCloseToClose = Int32Array.from(closeToClose, (x) => (x > 0 ? 1 : 0));
    expect(binaryAucOf(scores, upCloseToClose)).toBeGreaterThan(0.6);
    // From the next open, where it could be traded, there is nothing: neither on the label nor on the IC.
    expect(Math.abs(report.classification.rocAuc - 0.5)).toBeLessThan(0.03);
    expect(Math.abs(report.informationCoefficient.mean)).toBeLessThan(0.05);
    expect(report.backtest.strategy.sharpe).toBeLessThan(1);
  });

  it("buys at the next open and sells at the label's last close; no return and no label without that open", () => {
    const series = gapReversingMarket(4).slice(0, 2);
    const ds = datasetFromBars(series, direction);
    const rowOf = (d: typeof ds, s: number, day: number) => Array.from({ length: d.rows }, (_, r) => r).find((r) => d.symbol[r] === s && d.start[r] === day);
    const rows = Int32Array.of(rowOf(ds, 0, 10) as number, rowOf(ds, 1, 10) as number);
    const r = tradableForwardReturns(ds, rows, series);
    expect(r[0]).toBeCloseTo(series[0].close[15] / series[0].open[11] - 1, 12);
    expect(r[0]).toBeCloseTo(ds.forwardReturn[rows[0]], 12);
    expect(ds.labels[rows[0]]).toBe(r[0] > 0 ? 1 : 0);
    // The open after day 10 not stored: no return to measure, and the row has no label.
    const withoutOpen = series.map((s, k) => (k === 1 ? { ...s, open: s.open.map((o, i) => (i === 11 ? NaN : o)) } : s));
    expect(tradableForwardReturns(ds, rows, withoutOpen)[1]).toBeNaN();
    expect(rowOf(datasetFromBars(withoutOpen, direction), 1, 10)).toBeUndefined();
  });
});
