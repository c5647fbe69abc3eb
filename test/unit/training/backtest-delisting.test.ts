import type { BarSeries } from '../../../lib/market-data/bar';
import { nyseTradingDaysBetween } from '../../../lib/calendar/nyse';
import { computeLabels } from '../../../lib/labels/labels';
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

describe('a symbol whose bars miss sessions inside the evaluation period (a halt)', () => {
  // NYSE sessions, so that a day without a bar is a missing session for the labels.
  const sessions = nyseTradingDaysBetween('2021-01-04', '2022-06-30').slice(0, DAYS);
  const GAP = 200; // sessions GAP and GAP + 1 have no bar for H; it reopens 30% lower
  function halted(symbol: string, halt: boolean): BarSeries {
    const keep = sessions.map((_, d) => !halt || (d !== GAP && d !== GAP + 1));
    const price = sessions.map((_, d) => 100 * (1 + 0.0005 * d) * (halt && d > GAP + 1 ? 0.7 : 1));
    const pick = <T,>(xs: T[]) => xs.filter((_, d) => keep[d]);
    const p = Float64Array.from(pick(price));
    return { symbol, dates: pick(sessions), open: p.slice(), close: p.slice(), high: p.slice(), low: p.slice(), volume: new Float64Array(p.length).fill(1) };
  }
  const aligned = (s: BarSeries): BarSeries => {
    // datasetFromBars reads every series by the first one's day index: give H NaN bars on its missing sessions.
    const at = new Map(s.dates.map((d, i) => [d, i]));
    const col = (x: Float64Array) => Float64Array.from(sessions, (d) => (at.has(d) ? x[at.get(d) as number] : NaN));
    return { ...s, dates: sessions, open: col(s.open), close: col(s.close), high: col(s.high), low: col(s.low), volume: col(s.volume) };
  };
  const bars = [halted('A', false), halted('B', false), halted('H', true)];
  const full = datasetFromBars(bars.map(aligned), { kind: 'direction', horizon: HORIZON, deadZone: 0 });
  // As the pipeline labels H on its own bars: the rows whose HORIZON sessions cross the gap have none.
  const kept = Array.from({ length: full.rows }, (_, r) => r).filter((r) => !(full.symbol[r] === 2 && full.start[r] >= GAP - HORIZON && full.start[r] < GAP));
  const own = computeLabels({ kind: 'direction', horizon: HORIZON, deadZone: 0 }, bars[2], bars[2].dates);
  const ds = { ...full, rows: kept.length, values: Float64Array.from(kept, (r) => full.values[r]), labels: Int32Array.from(kept, (r) => full.labels[r]), start: Int32Array.from(kept, (r) => full.start[r]), end: Int32Array.from(kept, (r) => full.end[r]), symbol: Int32Array.from(kept, (r) => full.symbol[r]), forwardReturn: Float64Array.from(kept, (r) => full.forwardReturn[r]) };
  const predictions = predictionsForLastDays(ds, 150, () => 0.6); // always long, no skill

  it('keeps its score over the days whose labels cross the missing sessions, so the strategy holds it into the gap', () => {
    const input = backtestInputOf(ds, predictions, bars);
    const h = input.symbols[2].score;
    const before = input.dates.indexOf(sessions[GAP - 1]);
    expect(before).toBeGreaterThan(HORIZON);
    // The rows of the last HORIZON sessions before the gap have no label (their horizon crosses it).
    for (let d = GAP - HORIZON; d < GAP; d++) expect(own.value[d]).toBeNaN();
    expect(own.value[GAP - HORIZON - 1]).toBe(1);
    for (let d = before - HORIZON + 1; d <= before; d++) expect(h[d]).toBe(0.6);
    expect(Number.isNaN(h[input.dates.indexOf(sessions[GAP])])).toBe(true); // no bar: nothing to score
  });

  it('so an always-long model earns what buy-and-hold earns, the fall over the gap included', () => {
    const report = evaluatePredictions(ds, predictions, bars, { backtest: { costBps: 0, slippageBps: 0 }, plausibility: DEFAULT_PLAUSIBILITY.direction, trials: 1, trialSharpeVariance: 0, seed: 1 });
    expect(report.backtest.buyAndHold.totalReturn).toBeLessThan(-0.02);
    expect(Math.abs(report.backtest.strategy.totalReturn - report.backtest.buyAndHold.totalReturn)).toBeLessThan(2e-3);
  });
});
