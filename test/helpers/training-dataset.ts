import { rng } from '../../lib/random';
import type { TrainingDataset } from '../../lib/training/dataset';
import { computeLabels, sessionHorizons, tradableReturn, type LabelSpec } from '../../lib/labels/labels';
import type { BarSeries } from '../../lib/market-data/bar';
import type { WalkForwardPredictions } from '../../lib/training/walk-forward';

/**
 * An in-memory dataset: `symbols` × `days` rows in time order, horizon-day labels. With `signal`,
 * feature f0 carries the label (through noise); f1, f2 are noise. With `leak`, f3 is the label itself.
 * With `featureSet` (a stored one of as many columns: test/helpers/registration.ts), the columns
 * carry its names and the dataset its version, so models trained on it can be registered.
 */
export function syntheticTrainingDataset(options: { symbols?: number; days?: number; horizon?: number; signal?: number; leak?: boolean; seed?: number; featureSet?: { version: string; columns: readonly string[] } } = {}): TrainingDataset {
  const { symbols = 4, days = 300, horizon = 5, signal = 1, leak = false, seed = 1, featureSet } = options;
  const next = rng(seed);
  const synthetic = ['f0', 'f1', 'f2', ...(leak ? ['f3'] : [])];
  if (featureSet && featureSet.columns.length !== synthetic.length) throw new Error(`syntheticTrainingDataset: feature set ${featureSet.version} has ${featureSet.columns.length} columns, the dataset ${synthetic.length}`);
  const columns = featureSet ? [...featureSet.columns] : synthetic;
  const p = columns.length;
  const usable = days - horizon;
  const rows = usable * symbols;
  const ds: TrainingDataset = {
    featureSetVersion: featureSet?.version ?? 'fs-test-000000000000',
    label: { kind: 'direction', horizon, deadZone: 0 },
    columns,
    days: Array.from({ length: days }, (_, d) => `2020-${String(1 + Math.floor(d / 28)).padStart(2, '0')}-${String(1 + (d % 28)).padStart(2, '0')}`),
    symbols: Array.from({ length: symbols }, (_, s) => `S${s}`),
    rows,
    values: new Float64Array(rows * p),
    labels: new Int32Array(rows),
    start: new Int32Array(rows),
    end: new Int32Array(rows),
    symbol: new Int32Array(rows),
    forwardReturn: new Float64Array(rows),
  };
  for (let d = 0, r = 0; d < usable; d++) {
    for (let s = 0; s < symbols; s++, r++) {
      const y = next() < 0.5 ? 1 : 0;
      ds.labels[r] = y;
      ds.start[r] = d;
      ds.end[r] = d + horizon;
      ds.symbol[r] = s;
      ds.forwardReturn[r] = (y ? 1 : -1) * 0.01 * next();
      ds.values[r * p] = signal * (y - 0.5) + (next() - 0.5) * 2;
      ds.values[r * p + 1] = next();
      ds.values[r * p + 2] = next();
      if (leak) ds.values[r * p + 3] = y;
    }
  }
  return ds;
}

/**
 * The dataset the pipeline would build from these bars (labels as computeLabels gives them, the
 * dead zone marked evaluation-only) with one feature column, filled in row order by `value`.
 */
export function datasetFromBars(series: readonly BarSeries[], label: LabelSpec, column = 'noise', value: (row: number) => number = () => 0): TrainingDataset {
  const rows: Array<{ d: number; s: number; y: number; end: number; fwd: number; only: number }> = [];
  const labels = series.map((s) => computeLabels(label, s, s.dates));
  const horizonEnds = series.map((s) => sessionHorizons(s.dates, s.close.length, label.horizon).ends);
  for (let d = 0; d < series[0].dates.length; d++) {
    series.forEach((s, k) => {
      // Past the end of a shorter series there is no bar and no label (undefined, not NaN).
      if (d >= s.close.length) return;
      const y = labels[k].value[d];
      if (Number.isNaN(y)) return;
      rows.push({ d, s: k, y, end: labels[k].end[d], fwd: tradableReturn(s, d, horizonEnds[k][d]), only: labels[k].evaluationOnly?.[d] ?? 0 });
    });
  }
  const evaluationOnly = Int32Array.from(rows, (r) => r.only);
  return {
    featureSetVersion: 'fs-test',
    label,
    columns: [column],
    days: series[0].dates,
    symbols: series.map((s) => s.symbol),
    rows: rows.length,
    values: Float64Array.from(rows, (_, r) => value(r)),
    labels: Int32Array.from(rows, (r) => r.y),
    start: Int32Array.from(rows, (r) => r.d),
    end: Int32Array.from(rows, (r) => r.end),
    symbol: Int32Array.from(rows, (r) => r.s),
    forwardReturn: Float64Array.from(rows, (r) => r.fwd),
    ...(evaluationOnly.some((v) => v === 1) ? { evaluationOnly } : {}),
  };
}

/** Walk-forward predictions for the last `days` decision days: P(class 1) from a function of the row. */
export function predictionsForLastDays(ds: TrainingDataset, days: number, p1: (row: number) => number): WalkForwardPredictions {
  const decisionDays = [...new Set(ds.start)].sort((a, b) => a - b);
  const first = decisionDays[decisionDays.length - days];
  const rows = Int32Array.from(Array.from({ length: ds.rows }, (_, r) => r).filter((r) => ds.start[r] >= first));
  const proba = new Float64Array(rows.length * 2);
  rows.forEach((r, i) => {
    const p = p1(r);
    proba[i * 2 + 1] = p;
    proba[i * 2] = 1 - p;
  });
  return { datasetId: 'td-test', algorithm: 'test', classes: 2, rows, proba, windows: [] };
}

/** The day's scores mapped to P(up) by rank: the highest value of the day (known at its close) gets the highest probability. */
export function rankedScores(ds: ReturnType<typeof datasetFromBars>, value: (symbol: number, day: number) => number): (row: number) => number {
  const byDay = new Map<number, number[]>();
  for (let r = 0; r < ds.rows; r++) byDay.set(ds.start[r], [...(byDay.get(ds.start[r]) ?? []), r]);
  const p = new Float64Array(ds.rows).fill(0.5);
  for (const rows of byDay.values()) {
    const sorted = [...rows].sort((a, b) => value(ds.symbol[a], ds.start[a]) - value(ds.symbol[b], ds.start[b]));
    sorted.forEach((r, k) => (p[r] = 0.3 + (0.4 * (k + 1)) / (sorted.length + 1)));
  }
  return (row) => p[row];
}
