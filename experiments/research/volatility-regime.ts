/**
 * Research: does a model forecast the 20-day volatility regime better than persistence (the regime
 * known today)? Reads the S&P 500 CSVs directly, computes the feature set and label of
 * experiments/sp500-volatility-regime.json, runs an expanding walk-forward over the last 504
 * decision days (retrain every 63, training labels must end before each test block) and compares
 * out-of-sample AUC and accuracy with persistence and the pre-period majority class.
 *
 * Rows are not independent (symbols of one day move together, 20-day labels overlap), so the
 * accuracy difference gets a CR1 cluster-robust interval over blocks of 20 consecutive decision
 * days, and the AUC difference a delete-one-block jackknife over the same blocks.
 *
 *   npx tsx experiments/research/volatility-regime.ts [data folder]
 */
import fs from 'node:fs';
import path from 'node:path';
import { computeFeatures, type SymbolBars } from '../../lib/features/compute-features';
import { defineFeatureSet } from '../../lib/features/feature-set';
import { toSymbolBars } from '../../lib/features/materialize';
import { experimentSchema } from '../../lib/experiments/experiment';
import { groupBy } from '../../lib/group-by';
import { computeLabels } from '../../lib/labels/labels';
import { readBarCsv, type CandidateBar } from '../../lib/market-data/csv-reader';
import { qualityPolicySchema } from '../../lib/quality/policy';
import { checkQuality } from '../../lib/quality/report';
import type { QualityIssue } from '../../lib/quality/rules-catalog';
import { thinRows } from '../../lib/training/thin-rows';
import { walkForwardWindows } from '../../lib/validation/splits';
import { algorithmByName } from '../../models/algorithms';

const EXPERIMENT = path.resolve(__dirname, '../sp500-volatility-regime.json');
const DATA = path.resolve(process.argv[2] ?? path.resolve(__dirname, '../../../shared/data/sp500-2013-2018'));
const EVALUATION_DAYS = 504;
const RETRAIN_DAYS = 63;
const MAX_TRAIN_ROWS = 100_000;
const CLUSTER_DAYS = 20;
const MODELS: Array<{ label: string; algorithm: string; params: Record<string, unknown>; columns?: string[] }> = [
  { label: 'logistic_regression', algorithm: 'logistic_regression', params: { C: 1 } },
  { label: 'gradient_boosting', algorithm: 'gradient_boosting', params: { nRounds: 200, learningRate: 0.05, maxDepth: 4, minChildWeight: 50, subsample: 0.8, colsample: 0.8 } },
  // Persistence with a learned threshold: what "beating persistence" by recalibration alone looks like.
  { label: 'logistic on vol_persistence only', algorithm: 'logistic_regression', params: { C: 1 }, columns: ['vol_persistence_20_252'] },
];

const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)}s`;

function readUniverse(dir: string): SymbolBars[] {
  const candidates: CandidateBar[] = [];
  const issues: QualityIssue[] = [];
  let rowsRead = 0;
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.csv')).sort()) {
    const read = readBarCsv(fs.readFileSync(path.join(dir, file), 'utf8'), { source: file });
    for (const bar of read.bars) candidates.push(bar);
    issues.push(...read.issues);
    rowsRead += read.rowsRead;
  }
  // The same row rules the import applies; flagged rows (gaps, big moves) stay, as they do there.
  const { accepted, report } = checkQuality(candidates, issues, rowsRead, qualityPolicySchema.parse({}));
  console.log(`${rowsRead} rows read, ${report.rowsRejected} rejected, ${report.flags} flagged: ${JSON.stringify(report.byRule)}`);
  return [...groupBy(accepted, (b) => b.symbol)].map(([symbol, bars]) => toSymbolBars(symbol, bars));
}

/** The regime known at t, written out from its definition: ln(h-bar vol ending at t / median of the h-bar vols ending at t-trailing+1..t). */
function persistenceScore(close: Float64Array, h: number, trailing: number): Float64Array {
  const n = close.length;
  const vol = new Float64Array(n).fill(NaN);
  for (let s = h; s < n; s++) {
    let mean = 0;
    for (let i = s - h + 1; i <= s; i++) mean += Math.log(close[i] / close[i - 1]) / h;
    let ss = 0;
    for (let i = s - h + 1; i <= s; i++) ss += (Math.log(close[i] / close[i - 1]) - mean) ** 2;
    vol[s] = Math.sqrt(ss / (h - 1));
  }
  const score = new Float64Array(n).fill(NaN);
  for (let t = h + trailing - 1; t < n; t++) {
    const w = Array.from(vol.subarray(t - trailing + 1, t + 1)).sort((a, b) => a - b);
    const median = trailing % 2 === 1 ? w[(trailing - 1) / 2] : (w[trailing / 2 - 1] + w[trailing / 2]) / 2;
    score[t] = Math.log(vol[t] / median); // > 0 exactly when the known regime is "high"
  }
  return score;
}

/** Mann–Whitney AUC of `score` for label 1 (ties count one half). */
function auc(score: Float64Array, y: Uint8Array, keep?: (i: number) => boolean): number {
  const idx = Array.from(score.keys()).filter((i) => !keep || keep(i)).sort((a, b) => score[a] - score[b]);
  let rankSumPos = 0;
  let pos = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && score[idx[j + 1]] === score[idx[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (y[idx[k]] !== 1) continue;
      rankSumPos += rank;
      pos++;
    }
    i = j + 1;
  }
  const neg = idx.length - pos;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Student-t 0.975 quantile (Cornish–Fisher expansion; 2.0595 at 25 df, exact to 1e-4). */
function t975(df: number): number {
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2);
}

/** CR1 standard error of a mean of d over clusters: √(G/(G−1) · Σ_g (Σ_{i∈g}(d_i − d̄))² / N²). */
function clusterSe(d: Float64Array, cluster: Int32Array, clusters: number): number {
  const mean = d.reduce((a, x) => a + x, 0) / d.length;
  const sums = new Float64Array(clusters);
  d.forEach((x, i) => (sums[cluster[i]] += x - mean));
  return Math.sqrt((clusters / (clusters - 1)) * sums.reduce((a, s) => a + s * s, 0) / d.length ** 2);
}

async function main(): Promise<void> {
  const started = Date.now();
  const experiment = experimentSchema.parse(JSON.parse(fs.readFileSync(EXPERIMENT, 'utf8')));
  const label = experiment.label;
  if (label.kind !== 'volatility_regime' || !experiment.featureSet) throw new Error(`${EXPERIMENT}: expected a volatility_regime label and a feature set`);
  const set = defineFeatureSet(experiment.featureSet);
  const universe = readUniverse(DATA);
  const features = computeFeatures(universe, set);
  const p = features.columns.length;
  console.log(`${universe.length} symbols, ${features.frames.length} with features (${p} columns), ${seconds(started)}`);

  // One row per (symbol, decision day) with a label, in time order.
  const allDates = [...new Set(universe.flatMap((s) => s.dates))].sort();
  const dayOf = new Map(allDates.map((d, i) => [d, i] as const));
  const bySymbol = new Map(universe.map((s) => [s.symbol, s] as const));
  const pending: Array<{ day: number; end: number; k: number; r: number; y: number; persistence: number }> = [];
  features.frames.forEach((f, k) => {
    const s = bySymbol.get(f.symbol) as SymbolBars;
    const first = s.dates.length - f.dates.length;
    const labels = computeLabels(label, s.close);
    const persistence = persistenceScore(s.close, label.horizon, label.trailing);
    for (let r = 0; r < f.dates.length; r++) {
      const t = first + r;
      if (Number.isNaN(labels.value[t]) || Number.isNaN(persistence[t])) continue;
      pending.push({ day: dayOf.get(s.dates[t]) as number, end: dayOf.get(s.dates[labels.end[t]]) as number, k, r, y: labels.value[t], persistence: persistence[t] });
    }
  });
  pending.sort((a, b) => a.day - b.day || a.k - b.k);
  const n = pending.length;
  const values = new Float64Array(n * p);
  pending.forEach((row, i) => {
    for (let c = 0; c < p; c++) values[i * p + c] = features.frames[row.k].columns[c][row.r];
  });
  const start = Int32Array.from(pending, (row) => row.day);
  const symbolOf = Int32Array.from(pending, (row) => row.k);
  const end = Int32Array.from(pending, (row) => row.end);
  const y = Uint8Array.from(pending, (row) => row.y);
  const persistence = Float64Array.from(pending, (row) => row.persistence);

  const decisionDays = [...new Set(start)];
  const firstTestDay = decisionDays[decisionDays.length - EVALUATION_DAYS];
  const windows = walkForwardWindows({ start, end }, { mode: 'expanding', trainDays: firstTestDay - decisionDays[0], testDays: RETRAIN_DAYS, firstTestDay });
  const test = Int32Array.from(windows.flatMap((w) => Array.from(w.test)));
  const m = test.length;
  console.log(`${n} labelled rows on ${decisionDays.length} decision days; evaluation ${allDates[firstTestDay]}..${allDates[decisionDays[decisionDays.length - 1]]}: ${m} rows, ${windows.length} refits`);

  // Majority class of the rows whose labels were known before evaluation starts.
  let onesBefore = 0;
  let knownBefore = 0;
  for (let i = 0; i < n; i++) {
    if (end[i] >= firstTestDay) continue;
    onesBefore += y[i];
    knownBefore++;
  }
  const majority = onesBefore * 2 > knownBefore ? 1 : 0;

  const yTest = Uint8Array.from(test, (i) => y[i]);
  const scores = new Map<string, Float64Array>([['persistence', Float64Array.from(test, (i) => persistence[i])]]);
  const featureAgreement = Float64Array.from(test, (i) => values[i * p + features.columns.indexOf('vol_persistence_20_252')]).filter((v, j) => v > 0 === scores.get('persistence')![j] > 0).length / m;
  console.log(`pre-period: ${knownBefore} labels known, share high ${(onesBefore / knownBefore).toFixed(3)} -> majority ${majority}; evaluation share high ${(yTest.reduce((a, v) => a + v, 0) / m).toFixed(3)}; vol_persistence feature agrees with persistence on ${(100 * featureAgreement).toFixed(2)}% of rows`);

  for (const model of MODELS) {
    const algorithm = algorithmByName(model.algorithm);
    const cols = (model.columns ?? features.columns).map((name) => features.columns.indexOf(name));
    const matrix = (rows: Int32Array) => {
      const x = new Float64Array(rows.length * cols.length);
      rows.forEach((row, i) => cols.forEach((c, j) => (x[i * cols.length + j] = values[row * p + c])));
      return { values: x, rows: rows.length, featureNames: cols.map((c) => features.columns[c]) };
    };
    const score = new Float64Array(m);
    let o = 0;
    const t0 = Date.now();
    for (const [w, window] of windows.entries()) {
      const train = thinRows({ start, symbol: symbolOf }, window.train, MAX_TRAIN_ROWS);
      // The rows' times: gradient boosting stops early on the last whole days, purged of the rows whose labels reach them.
      const times = { start: Int32Array.from(train, (i) => start[i]), end: Int32Array.from(train, (i) => end[i]), embargoDays: label.horizon };
      const fitted = await algorithm.fit({ features: matrix(train), labels: Int32Array.from(train, (i) => y[i]), times, classes: 2, seed: experiment.seed + w, threads: 2 }, model.params);
      const proba = fitted.predictProba(matrix(window.test));
      for (let j = 0; j < window.test.length; j++) score[o++] = proba[2 * j + 1];
    }
    console.log(`${model.label}: ${windows.length} fits on ${windows.map((w) => Math.min(w.train.length, MAX_TRAIN_ROWS)).join('/')} rows, ${seconds(t0)}`);
    scores.set(model.label, score);
  }

  // Clusters: blocks of CLUSTER_DAYS consecutive decision days of the evaluation period.
  const evalDays = decisionDays.slice(-EVALUATION_DAYS);
  const blockOf = new Map(evalDays.map((d, i) => [d, Math.floor(i / CLUSTER_DAYS)] as const));
  const cluster = Int32Array.from(test, (i) => blockOf.get(start[i]) as number);
  const G = Math.ceil(EVALUATION_DAYS / CLUSTER_DAYS);
  const crit = t975(G - 1);
  const predicted = (name: string, j: number) => (name === 'persistence' ? scores.get(name)![j] > 0 : scores.get(name)![j] > 0.5) ? 1 : 0;
  const correct = (name: string) => Float64Array.from(yTest, (v, j) => (predicted(name, j) === v ? 1 : 0));
  const mean = (x: Float64Array) => x.reduce((a, v) => a + v, 0) / x.length;
  const persistenceCorrect = correct('persistence');
  const persistenceAuc = auc(scores.get('persistence')!, yTest);
  // Delete-one-cluster jackknife of an AUC difference: (G−1)/G · Σ (θ_(g) − θ̄)².
  const persistenceWithout = Array.from({ length: G }, (_, g) => auc(scores.get('persistence')!, yTest, (j) => cluster[j] !== g));
  const jackknifeSe = (s: Float64Array) => {
    const theta = persistenceWithout.map((base, g) => auc(s, yTest, (j) => cluster[j] !== g) - base);
    const bar = theta.reduce((a, v) => a + v, 0) / G;
    return Math.sqrt(((G - 1) / G) * theta.reduce((a, v) => a + (v - bar) ** 2, 0));
  };
  const fmt = (x: number) => (x >= 0 ? '+' : '') + x.toFixed(4);
  const interval = (est: number, se: number) => `${fmt(est)} [${fmt(est - crit * se)}, ${fmt(est + crit * se)}]`;

  console.log(`\nOut of sample: ${m} rows, ${evalDays.length} days, ${G} clusters of ${CLUSTER_DAYS} days (t crit ${crit.toFixed(3)}); total ${seconds(started)}`);
  console.log(['method'.padEnd(34), 'AUC'.padStart(7), 'acc'.padStart(7), '  Δacc vs persistence [95% CR1]'.padEnd(36), 'iid ±'.padStart(7), '  ΔAUC vs persistence [95% jackknife]'].join(' '));
  const majorityAcc = mean(Float64Array.from(yTest, (v) => (v === majority ? 1 : 0)));
  const majorityD = Float64Array.from(yTest, (v, j) => (v === majority ? 1 : 0) - persistenceCorrect[j]);
  console.log([`majority class (${majority}) of pre-period`.padEnd(34), '0.5000'.padStart(7), majorityAcc.toFixed(4).padStart(7), `  ${interval(mean(majorityD), clusterSe(majorityD, cluster, G))}`.padEnd(36)].join(' '));
  console.log(['persistence'.padEnd(34), persistenceAuc.toFixed(4).padStart(7), mean(persistenceCorrect).toFixed(4).padStart(7)].join(' '));
  for (const model of MODELS) {
    const s = scores.get(model.label)!;
    const d = Float64Array.from(correct(model.label), (c, j) => c - persistenceCorrect[j]);
    const dBar = mean(d);
    const iid = Math.sqrt(d.reduce((a, v) => a + (v - dBar) ** 2, 0) / (m - 1) / m); // for contrast: rows as if independent
    const dAuc = auc(s, yTest) - persistenceAuc;
    console.log([model.label.padEnd(34), auc(s, yTest).toFixed(4).padStart(7), mean(correct(model.label)).toFixed(4).padStart(7), `  ${interval(mean(d), clusterSe(d, cluster, G))}`.padEnd(36), (1.96 * iid).toFixed(4).padStart(7), `  ${interval(dAuc, jackknifeSe(s))}`].join(' '));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
