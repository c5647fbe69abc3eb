/**
 * Calibration of the SVM's probabilities out of sample: the walk-forward (expanding, retrained
 * every 63 days, the last 252 decision days predicted) of an RBF SVM on a 5-session direction label,
 * scored by expected calibration error (10 equal-width bins), Brier score (beside the base rate's)
 * and AUC. Platt scaling fitted on folds that leak (random rows of overlapping labels) shows as a
 * higher ECE and Brier at the same AUC.
 *
 *   npx tsx bench/svm-calibration.ts [--data <folder of CSVs>] [--symbols 60] [--synthetic]
 *
 * --synthetic: a panel of --symbols symbols with a planted signal instead (every symbol's label is the sign of its next 5
 * sessions' shocks plus a persistent state that one feature shows with noise).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { computeFeatures, type SymbolBars } from '../lib/features/compute-features';
import { defineFeatureSet, DEFAULT_FEATURE_SET } from '../lib/features/feature-set';
import { toSymbolBars } from '../lib/features/materialize';
import { computeLabels, labelSpecSchema, tradableReturn } from '../lib/labels/labels';
import { readBarCsv } from '../lib/market-data/csv-reader';
import { rng } from '../lib/random';
import { binaryAucOf, brierScoreOf } from '../lib/stats/binary-scores';
import type { TrainingDataset } from '../lib/training/dataset';
import { walkForwardPredict } from '../lib/training/walk-forward';
import { loadModelRuntimes } from '../models/algorithms';

const opts = z
  .object({
    data: z.string().default(path.resolve(__dirname, '../../shared/data/sp500-2013-2018')),
    symbols: z.coerce.number().int().min(5).default(60),
    synthetic: z.boolean().default(false),
    maxTrainRows: z.coerce.number().int().min(100).default(3000),
  })
  .parse(new Command().option('--data <dir>').option('--symbols <n>').option('--synthetic').option('--max-train-rows <n>').parse().opts());

const HORIZON = 5;

/** The default feature set and a 5-day direction label over the first `symbols` CSVs, rows by day then symbol. */
function marketDataset(): TrainingDataset {
  const files = fs.readdirSync(opts.data).filter((f) => f.endsWith('.csv')).sort().slice(0, opts.symbols);
  const series: SymbolBars[] = files.map((f) => {
    const { bars } = readBarCsv(fs.readFileSync(path.join(opts.data, f), 'utf8'), { source: f });
    return toSymbolBars(bars[0]?.symbol ?? f, bars.filter((b) => b.high >= Math.max(b.open, b.close) && b.low <= Math.min(b.open, b.close) && b.low > 0));
  });
  const set = defineFeatureSet(DEFAULT_FEATURE_SET);
  const computed = computeFeatures(series, set);
  const spec = labelSpecSchema.parse({ kind: 'direction', horizon: HORIZON });
  const days = [...new Set(series.flatMap((s) => s.dates))].sort();
  const dayIndex = new Map(days.map((d, i) => [d, i]));
  const symbols = computed.frames.map((f) => f.symbol).sort();
  const rows: Array<{ day: number; symbol: number; values: Float64Array; label: number; end: number; forward: number }> = [];
  for (const frame of computed.frames) {
    const s = series.find((x) => x.symbol === frame.symbol) as SymbolBars;
    const labels = computeLabels(spec, s, s.dates);
    const offset = s.dates.indexOf(frame.dates[0]);
    frame.dates.forEach((date, r) => {
      const t = offset + r;
      const values = Float64Array.from(frame.columns, (c) => c[r]);
      if (Number.isNaN(labels.value[t]) || values.some((v) => !Number.isFinite(v))) return;
      rows.push({ day: dayIndex.get(date) as number, symbol: symbols.indexOf(frame.symbol), values, label: labels.value[t], end: dayIndex.get(s.dates[labels.end[t]]) as number, forward: tradableReturn(s, t, labels.end[t]) });
    });
  }
  rows.sort((a, b) => a.day - b.day || a.symbol - b.symbol);
  return assemble(days, symbols, computed.columns, rows);
}

/** `--symbols` symbols × 1,200 days; 4 features, the first a noisy view of a persistent state that tilts the next 5 sessions. */
function syntheticDataset(): TrainingDataset {
  const next = rng(5);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const daysN = 1200;
  const symbols = Array.from({ length: opts.symbols }, (_, s) => `S${s}`);
  const days = Array.from({ length: daysN + HORIZON }, (_, d) => `d${String(d).padStart(5, '0')}`);
  const rows: Parameters<typeof assemble>[3] = [];
  symbols.forEach((_, s) => {
    const shocks = Float64Array.from({ length: daysN + HORIZON }, gauss);
    const market = Float64Array.from({ length: daysN + HORIZON }, gauss);
    let state = 0;
    let other = 0;
    for (let d = 0; d < daysN; d++) {
      state = 0.95 * state + 0.3 * gauss();
      other = 0.95 * other + 0.3 * gauss();
      let move = 0;
      for (let k = 1; k <= HORIZON; k++) move += shocks[d + k] + market[d + k];
      move += 2 * state;
      rows.push({ day: d, symbol: s, values: Float64Array.of(state + 0.5 * gauss(), other, gauss(), market[d]), label: move > 0 ? 1 : 0, end: d + HORIZON, forward: move });
    }
  });
  rows.sort((a, b) => a.day - b.day || a.symbol - b.symbol);
  return assemble(days, symbols, ['signal', 'persistent_noise', 'noise', 'market_today'], rows);
}

function assemble(days: string[], symbols: string[], columns: string[], rows: Array<{ day: number; symbol: number; values: Float64Array; label: number; end: number; forward: number }>): TrainingDataset {
  const p = columns.length;
  const values = new Float64Array(rows.length * p);
  rows.forEach((row, r) => values.set(row.values, r * p));
  return {
    featureSetVersion: 'bench',
    label: labelSpecSchema.parse({ kind: 'direction', horizon: HORIZON }),
    columns,
    days,
    symbols,
    rows: rows.length,
    values,
    labels: Int32Array.from(rows, (r) => r.label),
    start: Int32Array.from(rows, (r) => r.day),
    end: Int32Array.from(rows, (r) => r.end),
    symbol: Int32Array.from(rows, (r) => r.symbol),
    forwardReturn: Float64Array.from(rows, (r) => r.forward),
  };
}

/** Expected calibration error over `bins` equal-width bins of the predicted probability. */
function ece(p: Float64Array, y: Int32Array, bins = 10): number {
  const count = new Float64Array(bins);
  const sumP = new Float64Array(bins);
  const sumY = new Float64Array(bins);
  for (let i = 0; i < p.length; i++) {
    const b = Math.min(bins - 1, Math.floor(p[i] * bins));
    count[b]++;
    sumP[b] += p[i];
    sumY[b] += y[i];
  }
  let e = 0;
  for (let b = 0; b < bins; b++) if (count[b] > 0) e += Math.abs(sumP[b] - sumY[b]) / p.length;
  return e;
}

async function main(): Promise<void> {
  await loadModelRuntimes();
  const ds = opts.synthetic ? syntheticDataset() : marketDataset();
  const t = performance.now();
  const wf = await walkForwardPredict(ds, 'bench', { algorithm: 'svm', params: { kernel: 'rbf', C: 1, gamma: 'scale' }, mode: 'expanding', evaluationDays: 252, testDays: 63, trainDays: 0, embargoDays: 0, maxTrainRows: opts.maxTrainRows, seed: 1, threads: 2 });
  const p = Float64Array.from(wf.rows, (_, i) => wf.proba[2 * i + 1]);
  const y = Int32Array.from(wf.rows, (r) => ds.labels[r]);
  const before = new Set(wf.rows);
  let ones = 0;
  let known = 0;
  const first = ds.start[wf.rows[0]];
  for (let r = 0; r < ds.rows; r++) {
    if (before.has(r) || ds.end[r] >= first) continue;
    ones += ds.labels[r];
    known++;
  }
  const spread = p.reduce((a, v) => a + Math.abs(v - 0.5), 0) / p.length;
  console.log(`${opts.synthetic ? `synthetic panel of ${opts.symbols} symbols` : `${opts.symbols} symbols of ${opts.data}`}: ${ds.rows} rows, ${wf.windows.length} windows of ≤ ${opts.maxTrainRows} training rows, ${p.length} predictions (${((performance.now() - t) / 1000).toFixed(1)} s)`);
  console.log(`ECE ${ece(p, y).toFixed(4)}  Brier ${brierScoreOf(p, y).toFixed(4)} (base rate ${(ones / known).toFixed(3)}: ${brierScoreOf(new Float64Array(p.length).fill(ones / known), y).toFixed(4)})  AUC ${binaryAucOf(p, y).toFixed(4)}  mean |p − 0.5| ${spread.toFixed(4)}  p range ${Math.min(...p).toFixed(3)}..${Math.max(...p).toFixed(3)}`);
}

void main().then(() => process.exit(0), (error: unknown) => {
  console.error(error);
  process.exit(1);
});
