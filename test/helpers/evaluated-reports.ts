import type { BarSeries } from '../../lib/market-data/bar';
import { rng } from '../../lib/random';
import { evaluatePredictions, type EvaluationReport } from '../../lib/training/evaluation-report';
import { DEFAULT_PLAUSIBILITY } from '../../lib/training/guards';
import { datasetFromBars, predictionsForLastDays } from './training-dataset';

const direction = { kind: 'direction', horizon: 5, deadZone: 0 } as const;
export const EVALUATION_OPTIONS = { backtest: {}, plausibility: DEFAULT_PLAUSIBILITY.direction, trials: 1, trialSharpeVariance: 0, seed: 1 };

const dateAt = (d: number) => new Date(Date.UTC(2012, 0, 2) + d * 86_400_000).toISOString().slice(0, 10);

/** 12 stocks that fall together about 40% a year over the evaluation's 400 days (rising before it). */
export function fallingMarket(seed: number): BarSeries[] {
  const random = rng(seed);
  const z = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const days = 700;
  const dates = Array.from({ length: days }, (_, d) => dateAt(d));
  const market = Float64Array.from({ length: days }, (_, d) => (d < 300 ? 0.0005 : -0.002) + 0.01 * z());
  return Array.from({ length: 12 }, (_, s) => {
    const close = new Float64Array(days);
    let p = 50;
    for (let d = 0; d < days; d++) close[d] = p *= Math.exp(market[d] + 0.01 * z());
    return { symbol: `F${s}`, dates, open: close.slice(), high: close.map((c) => c * 1.01), low: close.map((c) => c * 0.99), close, volume: new Float64Array(days).fill(1e6) };
  });
}

/** A report as the registry stores it and gives it back: JSON, where an undefined figure (NaN) is null. */
export const storedAsJson = (report: EvaluationReport): EvaluationReport => JSON.parse(JSON.stringify(report)) as EvaluationReport;

/**
 * A model that says "down" on every row (P(up) 0.40–0.49, in an order that means nothing) over the
 * falling market's last 400 days: its accuracy is the period's down share, far above every fair
 * baseline's (the pre-period rose), and exactly the no-information rate.
 */
export function oneClassInFallingMarket(seed: number): EvaluationReport {
  const series = fallingMarket(seed);
  const ds = datasetFromBars(series, direction);
  const noise = rng(900 + seed);
  return evaluatePredictions(ds, predictionsForLastDays(ds, 400, () => 0.4 + 0.09 * noise()), series, EVALUATION_OPTIONS);
}

/**
 * A 5-day evaluation of 5-day labels on 30 symbols (walkForward.evaluationDays may be 5): every row
 * lies within the label overlap of every other, so its day-aware p-values are undefined (NaN).
 */
export function fiveDayEvaluation(seed = 5): EvaluationReport {
  const random = rng(seed);
  const z = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const days = 320;
  const dates = Array.from({ length: days }, (_, d) => dateAt(d));
  const series: BarSeries[] = Array.from({ length: 30 }, (_, s) => {
    const close = new Float64Array(days);
    let p = 50;
    for (let d = 0; d < days; d++) close[d] = p *= 1 + 0.0003 + 0.012 * z();
    return { symbol: `S${s}`, dates, open: close.slice(), high: close.map((c) => c * 1.01), low: close.map((c) => c * 0.99), close, volume: new Float64Array(days).fill(1e6) };
  });
  const ds = datasetFromBars(series, direction);
  return evaluatePredictions(ds, predictionsForLastDays(ds, 5, () => random()), series, EVALUATION_OPTIONS);
}
