/**
 * A daily warm retrain against a full retrain (lib/training/warm-start.ts), in one process on the
 * training code itself (no Temporal: what is compared is the training work, not orchestration).
 *
 *   yesterday  the champion: full retrain on every labelled day but the last one
 *   today      one trading day appended, then
 *     full     hyperparameter search (TPE, purged k-fold CV) → walk-forward → final model on every row
 *     warm     warmStart { search: "skip" }: one CV trial with the champion's parameters → walk-forward
 *              as a chain of continued models → the champion's artifact continued on the recent rows
 *
 * Prints the time of each step, and for both candidates the out-of-sample (walk-forward) ROC AUC and
 * information coefficient beside the strongest naive baseline; the ratio line comes last.
 *   tsx bench/warm-retrain.ts [--data ../shared/data/sp500-2013-2018] [--symbols 60] [--algorithm gradient_boosting]
 *                             [--trials 6] [--evaluation-days 252] [--retrain-days 63]
 * Without the data folder it runs on a generated market (lib/market-data/synthetic.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { computeFeatures, type SymbolBars } from '../lib/features/compute-features';
import { defineFeatureSet, DEFAULT_FEATURE_SET } from '../lib/features/feature-set';
import { toSymbolBars } from '../lib/features/materialize';
import { computeLabels, labelSpecSchema, tradableReturn } from '../lib/labels/labels';
import { readBarCsv } from '../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../lib/market-data/synthetic';
import { sharedPool } from '../lib/threads/task-pool';
import type { TrainingDataset } from '../lib/training/dataset';
import { evaluatePredictions, type EvaluationReport } from '../lib/training/evaluation-report';
import { fitFinalModel, type FinalModel } from '../lib/training/final-model';
import { DEFAULT_PLAUSIBILITY } from '../lib/training/guards';
import { crossValidate } from '../lib/training/trial';
import { walkForwardPredict, type WalkForwardRequest } from '../lib/training/walk-forward';
import { championSpace, warmStartSchema, warmStartSettingsOf } from '../lib/training/warm-start';
import { searchSpaceSchema, type Params, type SearchSpace } from '../lib/tuning/search-space';
import { suggestParams } from '../lib/tuning/suggest';
import { sha256 } from '../models/artifact';
import { loadModelRuntimes } from '../models/algorithms';

const SPACES: Record<string, SearchSpace> = {
  gradient_boosting: searchSpaceSchema.parse({ nRounds: 100, learningRate: { type: 'float', low: 0.02, high: 0.3, log: true }, maxDepth: { type: 'int', low: 2, high: 5 } }),
  random_forest: searchSpaceSchema.parse({ nEstimators: 50, maxDepth: { type: 'int', low: 3, high: 12 }, minSamplesLeaf: { type: 'int', low: 1, high: 100, log: true } }),
  mlp: searchSpaceSchema.parse({ hiddenLayers: '32,16', epochs: 20, learningRate: { type: 'float', low: 0.0003, high: 0.01, log: true }, dropout: { type: 'float', low: 0, high: 0.3 } }),
};

const opts = z
  .object({
    data: z.string().default(path.resolve(__dirname, '../../shared/data/sp500-2013-2018')),
    symbols: z.coerce.number().int().min(5).default(60),
    algorithm: z.enum(['gradient_boosting', 'random_forest', 'mlp']).default('gradient_boosting'),
    trials: z.coerce.number().int().min(1).default(6),
    evaluationDays: z.coerce.number().int().min(20).default(252),
    retrainDays: z.coerce.number().int().min(1).default(63),
  })
  .parse(
    new Command()
      .option('--data <dir>')
      .option('--symbols <n>')
      .option('--algorithm <name>')
      .option('--trials <n>')
      .option('--evaluation-days <n>')
      .option('--retrain-days <n>')
      .parse()
      .opts(),
  );

const HORIZON = 5;
const FOLDS = 3;
const CV_ROWS = { maxTrainRows: 10_000, maxTestRows: 5_000 };
const WF_ROWS = 20_000;
const THREADS = Math.min(2, os.availableParallelism());
const SEED = 1;

function loadUniverse(): { series: SymbolBars[]; source: string } {
  const clean = (symbol: string, text: string) => {
    const { bars } = readBarCsv(text, { source: symbol });
    return toSymbolBars(bars[0]?.symbol ?? symbol, bars.filter((b) => b.high >= Math.max(b.open, b.close) && b.low <= Math.min(b.open, b.close) && b.low > 0));
  };
  if (fs.existsSync(opts.data)) {
    const files = fs.readdirSync(opts.data).filter((f) => f.endsWith('.csv')).sort().slice(0, opts.symbols);
    return { series: files.map((f) => clean(f, fs.readFileSync(path.join(opts.data, f), 'utf8'))), source: `${opts.data} (${files.length} symbols)` };
  }
  const market = generateSyntheticMarket({ symbols: Math.min(opts.symbols, 999), from: '2013-01-02', to: '2018-12-31', plantErrors: false, seed: 7 });
  return { series: market.files.map((f) => clean(f.symbol, f.csv)), source: `generated market (${market.files.length} symbols; ${opts.data} not found)` };
}

/** The experiment's dataset in memory: default feature set, 5-day direction label, rows by day then symbol. */
function buildDataset(series: readonly SymbolBars[]): TrainingDataset {
  const set = defineFeatureSet(DEFAULT_FEATURE_SET);
  const computed = computeFeatures(series, set);
  const spec = labelSpecSchema.parse({ kind: 'direction', horizon: HORIZON });
  const days = [...new Set(series.flatMap((s) => s.dates))].sort();
  const dayIndex = new Map(days.map((d, i) => [d, i]));
  const symbols = computed.frames.map((f) => f.symbol).sort();
  const p = computed.columns.length;
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
  const values = new Float64Array(rows.length * p);
  rows.forEach((row, r) => values.set(row.values, r * p));
  return {
    featureSetVersion: set.version,
    label: spec,
    columns: computed.columns,
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

/** The first `rows` rows (every row before a given day, since rows are in day order). */
function leading(ds: TrainingDataset, rows: number): TrainingDataset {
  const p = ds.columns.length;
  return { ...ds, rows, values: ds.values.subarray(0, rows * p), labels: ds.labels.subarray(0, rows), start: ds.start.subarray(0, rows), end: ds.end.subarray(0, rows), symbol: ds.symbol.subarray(0, rows), forwardReturn: ds.forwardReturn.subarray(0, rows) };
}

const now = () => performance.now() / 1000;

interface Retrain {
  seconds: { search: number; walkForward: number; final: number; total: number };
  trials: number;
  params: Params;
  predictions: Awaited<ReturnType<typeof walkForwardPredict>>;
  final: FinalModel;
}

async function retrain(ds: TrainingDataset, space: SearchSpace, trials: number, warm?: { champion: Retrain; trainedThrough: string }): Promise<Retrain> {
  const t0 = now();
  const history: Array<{ index: number; params: Params; score: number }> = [];
  for (let i = 0; i < trials; i++) {
    const params = suggestParams('tpe', space, history, SEED, i, { budget: trials });
    const result = await crossValidate(ds, { algorithm: opts.algorithm, params, folds: FOLDS, embargoDays: HORIZON, ...CV_ROWS, seed: SEED + i, threads: THREADS, evaluationDays: opts.evaluationDays });
    history.push({ index: i, params, score: result.score });
  }
  const best = history.reduce((a, b) => (b.score > a.score ? b : a));
  const t1 = now();
  const settings = warmStartSettingsOf(warmStartSchema.parse({}));
  const request: WalkForwardRequest = { algorithm: opts.algorithm, params: best.params, mode: 'expanding', evaluationDays: opts.evaluationDays, testDays: opts.retrainDays, trainDays: 756, embargoDays: 0, maxTrainRows: WF_ROWS, seed: SEED, threads: THREADS, ...(warm ? { warmStart: settings } : {}) };
  const predictions = await walkForwardPredict(ds, 'bench', request);
  const t2 = now();
  const championArtifact = warm?.champion.final.artifact;
  const from = warm && championArtifact ? { model: 'bench', version: 1, artifactSha256: sha256(championArtifact), trainedThrough: warm.trainedThrough } : undefined;
  const final = await fitFinalModel(ds, { algorithm: opts.algorithm, params: best.params, seed: SEED, threads: THREADS, ...(from ? { warmStart: { ...settings, from } } : {}) }, undefined, () => championArtifact ?? Buffer.alloc(0));
  const t3 = now();
  return { seconds: { search: t1 - t0, walkForward: t2 - t1, final: t3 - t2, total: t3 - t0 }, trials, params: best.params, predictions, final };
}

function evaluate(ds: TrainingDataset, r: Retrain, series: readonly SymbolBars[]): EvaluationReport {
  return evaluatePredictions(ds, r.predictions, series, { backtest: {}, plausibility: DEFAULT_PLAUSIBILITY.direction, trials: r.trials, trialSharpeVariance: 0, seed: SEED });
}

async function main(): Promise<void> {
  await loadModelRuntimes();
  await sharedPool(THREADS)?.warmUp();
  const { series, source } = loadUniverse();
  const ds = buildDataset(series);
  const lastDay = ds.start[ds.rows - 1];
  let yesterdayRows = ds.rows;
  while (yesterdayRows > 0 && ds.start[yesterdayRows - 1] === lastDay) yesterdayRows--;
  const yesterday = leading(ds, yesterdayRows);
  const space = SPACES[opts.algorithm];
  console.log(`data: ${source}; ${ds.rows} labelled rows × ${ds.columns.length} features, ${ds.days[ds.start[0]]}..${ds.days[lastDay]}; ${opts.algorithm}, ${opts.trials} trials × ${FOLDS} folds, walk-forward ${opts.evaluationDays} days every ${opts.retrainDays}; ${THREADS} threads; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  const champion = await retrain(yesterday, space, opts.trials);
  console.log(`champion (through ${ds.days[ds.start[yesterdayRows - 1]]}): full retrain ${champion.seconds.total.toFixed(1)} s`);
  const full = await retrain(ds, space, opts.trials);
  const warm = await retrain(ds, championSpace(space, champion.params), 1, { champion, trainedThrough: ds.days[ds.start[yesterdayRows - 1]] });

  const fullReport = evaluate(ds, full, series);
  const warmReport = evaluate(ds, warm, series);
  // IC is the mean daily Spearman correlation; days whose scores are the same for every symbol have none (NaN when every day is such a day).
  const row = (name: string, r: Retrain, e: EvaluationReport) =>
    `${name.padEnd(6)} ${r.seconds.search.toFixed(1).padStart(8)} ${r.seconds.walkForward.toFixed(1).padStart(8)} ${r.seconds.final.toFixed(1).padStart(8)} ${r.seconds.total.toFixed(1).padStart(8)}   ${e.classification.rocAuc.toFixed(4)}  ${e.informationCoefficient.mean.toFixed(4).padStart(7)}  ${String(e.informationCoefficient.days).padStart(7)}  ${(e.backtest.scoreTies.constantShare * 100).toFixed(1).padStart(9)}%  ${String(r.final.trainRows).padStart(7)}`;
  const b = fullReport.baseline;
  const strongest = fullReport.baselines.find((x) => x.name === b.name);
  console.log(`\ntoday (${ds.days[lastDay]} appended, ${ds.rows - yesterdayRows} new rows): seconds and out-of-sample scores over the last ${opts.evaluationDays} days`);
  console.log('         search  walk-fwd    final    total   OOS AUC       IC  IC days  constant days  fit rows');
  console.log(row('full', full, fullReport));
  console.log(row('warm', warm, warmReport));
  console.log(`naive baseline (${b.name}): accuracy ${b.accuracy.toFixed(4)}, AUC ${strongest ? strongest.auc.toFixed(4) : 'n/a'}; models' accuracy full ${fullReport.classification.accuracy.toFixed(4)}, warm ${warmReport.classification.accuracy.toFixed(4)}`);
  console.log(`warm final model: continued from ${warm.final.continuedFrom} on ${warm.final.trainRows} rows (champion's params ${JSON.stringify(champion.params)})`);
  console.log(`load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(
    `ratio: warm/full time ${(warm.seconds.total / full.seconds.total).toFixed(3)} (${warm.seconds.total.toFixed(1)} s vs ${full.seconds.total.toFixed(1)} s); OOS AUC warm ${warmReport.classification.rocAuc.toFixed(4)} vs full ${fullReport.classification.rocAuc.toFixed(4)} (Δ ${(warmReport.classification.rocAuc - fullReport.classification.rocAuc).toFixed(4)}); IC warm ${warmReport.informationCoefficient.mean.toFixed(4)} vs full ${fullReport.informationCoefficient.mean.toFixed(4)}`,
  );
  await sharedPool(THREADS)?.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
