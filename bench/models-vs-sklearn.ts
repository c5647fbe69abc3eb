/**
 * Each algorithm beside its reference (scikit-learn, xgboost) on identical rows: fit and predict
 * time, one-row latency, peak memory, test accuracy and AUC, at 20,000 and 200,000 training rows
 * of the shared data (default feature set, 5-day direction label; train on the earliest dates,
 * test on the latest). Every fit runs in its own process, ours and the reference's, so the peak
 * RSS printed is that algorithm's (data included; Node and Python baselines differ by ~50 MiB).
 *   tsx bench/models-vs-sklearn.ts [--data ../shared/data/sp500-2013-2018] [--python /usr/bin/python3]
 *                                  [--rows 20000,200000] [--only random_forest,gradient_boosting] [--threads 2] [--repeat 1]
 * --repeat n fits each side n times, alternating which goes first (ours, ref, then ref, ours, …), and
 * prints medians with the per-pair fit-time ratios: this machine's speed moves by 10–30% within
 * minutes, more than a single pair can tell apart.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { computeFeatures } from '../lib/features/compute-features';
import { defineFeatureSet, DEFAULT_FEATURE_SET } from '../lib/features/feature-set';
import { toSymbolBars } from '../lib/features/materialize';
import { computeLabels, labelSpecSchema } from '../lib/labels/labels';
import { readBarCsv } from '../lib/market-data/csv-reader';
import { algorithmByName, loadModelRuntimes } from '../models/algorithms';
import { headerValues } from '../models/svm/decision-function';
import { classificationReportOf } from '../lib/validation/metrics';
import type { FeatureMatrix, FitTimes } from '../models/model';
import { peakRssMiB } from './peak-memory';
import { sharedFloat64 } from '../lib/threads/shared-memory';
import { sharedPool } from '../lib/threads/task-pool';

/** What is compared, with the same settings on both sides (see bench/reference/models_sklearn.py). */
const CASES: Array<{ name: string; params: Record<string, unknown>; maxRows?: number; note?: string }> = [
  { name: 'majority', params: {} },
  { name: 'logistic_regression', params: { C: 1, maxIterations: 200 } },
  { name: 'random_forest', params: { nEstimators: 100, maxDepth: 16 } },
  { name: 'gradient_boosting', params: { nRounds: 100, maxDepth: 6, learningRate: 0.1, validationFraction: 0 }, note: 'reference: xgboost hist' },
  // Kernel SVMs scale with the square of the rows (both sides): 200,000 rows would take hours.
  { name: 'svm', params: { kernel: 'rbf', C: 1, gamma: 'scale' }, maxRows: 20_000, note: 'kernel SVM: quadratic in rows' },
  // 10 epochs of batch 200, no dropout, no early stopping: what MLPClassifier(max_iter=10) does.
  { name: 'mlp', params: { hiddenLayers: [64, 32], epochs: 10, batchSize: 200, dropout: 0, validationFraction: 0, learningRate: 0.001 } },
];

const opts = z
  .object({
    data: z.string().default(path.resolve(__dirname, '../../shared/data/sp500-2013-2018')),
    python: z.string().default('/usr/bin/python3'),
    rows: z.string().default('20000,200000').transform((s) => s.split(',').map(Number)),
    only: z.string().optional().transform((s) => (s ? s.split(',') : undefined)),
    fit: z.string().optional(), // child mode: folder of matrices
    algorithm: z.string().optional(),
    params: z.string().optional(),
    /** Threads our fits may use (the references: see bench/reference/models_sklearn.py). */
    threads: z.coerce.number().int().min(1).max(64).default(2),
    repeat: z.coerce.number().int().min(1).max(50).default(1),
  })
  .parse(new Command().option('--data <dir>').option('--python <bin>').option('--rows <list>').option('--only <names>').option('--fit <dir>').option('--algorithm <name>').option('--params <json>').option('--threads <n>').option('--repeat <n>').parse().opts());

const median = (values: readonly number[]) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Sessions the label looks ahead: also each training row's label end and the embargo of the SVM's calibration folds. */
const HORIZON = 5;

interface Row {
  date: string;
  /** Index of `date` among the dates of all rows (ascending). */
  day: number;
  values: Float64Array;
  label: number;
}

function dataset(): { columns: string[]; rows: Row[] } {
  const set = defineFeatureSet(DEFAULT_FEATURE_SET);
  const universe = fs
    .readdirSync(opts.data)
    .filter((f) => f.endsWith('.csv'))
    .sort()
    .map((f) => {
      const { bars } = readBarCsv(fs.readFileSync(path.join(opts.data, f), 'utf8'), { source: f });
      const clean = bars.filter((b) => b.high >= Math.max(b.open, b.close) && b.low <= Math.min(b.open, b.close) && b.low > 0);
      return toSymbolBars(clean[0]?.symbol ?? f, clean);
    });
  const computed = computeFeatures(universe, set);
  const spec = labelSpecSchema.parse({ kind: 'direction', horizon: HORIZON });
  const rows: Row[] = [];
  for (const frame of computed.frames) {
    const series = universe.find((s) => s.symbol === frame.symbol) as (typeof universe)[number];
    const labels = computeLabels(spec, series, series.dates);
    const offset = series.dates.indexOf(frame.dates[0]);
    frame.dates.forEach((date, r) => {
      const label = labels.value[offset + r];
      if (Number.isNaN(label)) return;
      rows.push({ date, day: -1, values: Float64Array.from(frame.columns, (c) => c[r]), label });
    });
  }
  rows.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
  rows.forEach((row, i) => (row.day = i === 0 ? 0 : rows[i - 1].day + (row.date === rows[i - 1].date ? 0 : 1)));
  return { columns: computed.columns, rows };
}

function writeMatrices(dir: string, name: 'train' | 'test', rows: readonly Row[], p: number): void {
  const values = new Float64Array(rows.length * p);
  rows.forEach((row, r) => values.set(row.values, r * p));
  fs.writeFileSync(path.join(dir, `x_${name}.f64`), Buffer.from(values.buffer));
  fs.writeFileSync(path.join(dir, `y_${name}.i32`), Buffer.from(Int32Array.from(rows, (row) => row.label).buffer));
  fs.writeFileSync(path.join(dir, `day_${name}.i32`), Buffer.from(Int32Array.from(rows, (row) => row.day).buffer));
}

function readMatrices(dir: string, name: 'train' | 'test', columns: string[]): { x: FeatureMatrix; y: Int32Array; times: FitTimes } {
  // Into shared memory, as the pipeline's datasetRows puts training rows.
  const file = path.join(dir, `x_${name}.f64`);
  const values = sharedFloat64(fs.statSync(file).size / 8);
  const fd = fs.openSync(file, 'r');
  try {
    for (let at = 0; at < values.byteLength; ) {
      const read = fs.readSync(fd, new Uint8Array(values.buffer, at, Math.min(values.byteLength - at, 2 ** 30)));
      if (read === 0) throw new Error(`${file} ended after ${at} of ${values.byteLength} bytes`);
      at += read;
    }
  } finally {
    fs.closeSync(fd);
  }
  const ybuf = fs.readFileSync(path.join(dir, `y_${name}.i32`));
  const y = new Int32Array(ybuf.buffer.slice(ybuf.byteOffset, ybuf.byteOffset + ybuf.byteLength));
  const dbuf = fs.readFileSync(path.join(dir, `day_${name}.i32`));
  const start = new Int32Array(dbuf.buffer.slice(dbuf.byteOffset, dbuf.byteOffset + dbuf.byteLength));
  return { x: { values, rows: y.length, featureNames: columns }, y, times: { start, end: start.map((d) => d + HORIZON), embargoDays: HORIZON } };
}

const seconds = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e9;

interface Result {
  fit_seconds: number;
  predict_seconds: number;
  one_row_ms: number;
  accuracy: number;
  auc: number;
  peak_rss_mib: number;
  backend?: string;
  /** SVM: support vectors per class, classes in ascending order. */
  support_vectors?: number[];
}

/** Support vectors per class (ascending class order) of an SVM's model text: its "label" and "nr_sv" lines. */
function supportVectorsOf(state: { payload: Uint8Array; featureNames: readonly string[] }): number[] {
  const text = new TextDecoder().decode(state.payload.subarray(16 * state.featureNames.length)); // after the standardiser
  const labels = headerValues(text, 'label');
  const counts = headerValues(text, 'nr_sv');
  return labels.map((_, k) => counts[labels.indexOf(k)]);
}

/** Child mode: fit one algorithm on the matrices in `dir`, print one JSON line. */
async function fitOne(dir: string, name: string, params: Record<string, unknown>): Promise<void> {
  const columns = JSON.parse(fs.readFileSync(path.join(dir, 'columns.json'), 'utf8')) as string[];
  const train = readMatrices(dir, 'train', columns);
  const test = readMatrices(dir, 'test', columns);
  await loadModelRuntimes();
  // Threads start once per process in a worker; a fresh benchmark process would otherwise pay it inside the first fit.
  await sharedPool(2)?.warmUp();
  const algorithm = algorithmByName(name);
  let t = process.hrtime.bigint();
  const model = await algorithm.fit({ features: train.x, labels: train.y, times: train.times, classes: 2, seed: 1, threads: opts.threads }, params);
  const fit = seconds(t);
  t = process.hrtime.bigint();
  const proba = model.predictProba(test.x);
  const predict = seconds(t);
  const report = classificationReportOf(proba, test.y, 2);
  const one = { values: test.x.values.subarray(0, columns.length), rows: 1, featureNames: columns };
  for (let i = 0; i < 20; i++) model.predictProba(one); // warm-up
  t = process.hrtime.bigint();
  for (let i = 0; i < 200; i++) model.predictProba(one);
  const result: Result = {
    fit_seconds: fit,
    predict_seconds: predict,
    one_row_ms: (seconds(t) / 200) * 1000,
    accuracy: report.accuracy,
    auc: report.rocAuc,
    peak_rss_mib: peakRssMiB(),
    // Neural models: what computed the training, and which TF.js backend predicts.
    backend: 'backend' in model.state().params ? `trained by ${String(model.state().params.backend)}` : undefined,
    support_vectors: name === 'svm' ? supportVectorsOf(model.state()) : undefined,
  };
  console.log(JSON.stringify(result));
  process.exit(0); // pool threads and wasm runtimes need not wind down
}

function runJson(command: string, args: string[], what: string): Result {
  // Both sides in this process's environment (GLIBC_TUNABLES included: platform/process-tuning.ts).
  const r = spawnSync(command, args, { encoding: 'utf8', cwd: path.resolve(__dirname, '..'), maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${what} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as Result;
}

async function main(): Promise<void> {
  if (opts.fit) return fitOne(opts.fit, opts.algorithm as string, JSON.parse(opts.params ?? '{}') as Record<string, unknown>);
  if (!fs.existsSync(opts.data)) throw new Error(`no data at ${opts.data}; pass --data <folder of CSV files>`);
  const cases = CASES.filter((c) => !opts.only || opts.only.includes(c.name));
  const { columns, rows } = dataset();
  const test = rows.slice(rows.length - 50_000);
  const pool = rows.slice(0, rows.length - 50_000 - HORIZON * 400); // a gap longer than the label horizon
  const fmt = (v: number, d = 2) => v.toFixed(d);
  for (const n of opts.rows) {
    const step = Math.max(1, Math.floor(pool.length / n));
    const train = pool.filter((_, i) => i % step === 0).slice(0, n);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-models-'));
    fs.writeFileSync(path.join(dir, 'columns.json'), JSON.stringify(columns));
    writeMatrices(dir, 'train', train, columns.length);
    writeMatrices(dir, 'test', test, columns.length);
    const upShare = test.reduce((a, r) => a + r.label, 0) / test.length;
    console.log(`\n${train.length} training rows, ${test.length} test rows (${test[0].date}..${test.at(-1)?.date}), ${columns.length} features; up share in test ${fmt(upShare, 3)}`);
    console.log('algorithm           | fit ours  | fit ref   | ratio | predict 50k ours/ref | 1-row ours | 1-row ref | acc ours | acc ref | AUC ours | AUC ref | peak MiB ours/ref');
    try {
      for (const c of cases) {
        if (c.maxRows !== undefined && train.length > c.maxRows) {
          console.log(`${c.name.padEnd(19)} | skipped above ${c.maxRows} rows: ${c.note ?? ''}`);
          continue;
        }
        const runOurs = () => runJson(process.execPath, ['--import', 'tsx', __filename, '--fit', dir, '--algorithm', c.name, '--params', JSON.stringify(c.params), '--threads', String(opts.threads)], `${c.name} (ours)`);
        const runRef = () => runJson(opts.python, [path.join(__dirname, 'reference', 'models_sklearn.py'), dir, String(train.length), String(test.length), String(columns.length), c.name], `${c.name} reference (python3-sklearn / python3-xgboost installed for ${opts.python}?)`);
        const pairs: Array<{ ours: Result; ref: Result }> = [];
        for (let r = 0; r < opts.repeat; r++) {
          if (r % 2 === 0) {
            const ours = runOurs();
            pairs.push({ ours, ref: runRef() });
          } else {
            const ref = runRef();
            pairs.push({ ours: runOurs(), ref });
          }
        }
        // Times are medians (one pair: the figures themselves), peak RSS the highest, the ratio column
        // the median of the pairs' ratios; scores and support vectors are the first pair's (every fit is seeded).
        const ours: Result = { ...pairs[0].ours, fit_seconds: median(pairs.map((p) => p.ours.fit_seconds)), predict_seconds: median(pairs.map((p) => p.ours.predict_seconds)), one_row_ms: median(pairs.map((p) => p.ours.one_row_ms)), peak_rss_mib: Math.max(...pairs.map((p) => p.ours.peak_rss_mib)) };
        const ref: Result = { ...pairs[0].ref, fit_seconds: median(pairs.map((p) => p.ref.fit_seconds)), predict_seconds: median(pairs.map((p) => p.ref.predict_seconds)), one_row_ms: median(pairs.map((p) => p.ref.one_row_ms)), peak_rss_mib: Math.max(...pairs.map((p) => p.ref.peak_rss_mib)) };
        const ratios = pairs.map((p) => p.ours.fit_seconds / p.ref.fit_seconds);
        console.log(
          [
            c.name.padEnd(19),
            `${fmt(ours.fit_seconds).padStart(7)} s`,
            `${fmt(ref.fit_seconds).padStart(7)} s`,
            fmt(median(ratios)).padStart(5),
            `${fmt(ours.predict_seconds, 3).padStart(7)} / ${fmt(ref.predict_seconds, 3).padStart(7)} s  `,
            `${fmt(ours.one_row_ms, 3).padStart(7)} ms`,
            `${fmt(ref.one_row_ms, 3).padStart(6)} ms`,
            fmt(ours.accuracy, 4).padStart(8),
            fmt(ref.accuracy, 4).padStart(7),
            fmt(ours.auc, 4).padStart(8),
            fmt(ref.auc, 4).padStart(7),
            `${Math.round(ours.peak_rss_mib)} / ${Math.round(ref.peak_rss_mib)}${ours.backend ? ` (${ours.backend})` : ''}${c.note ? `  ${c.note}` : ''}`,
          ].join(' | '),
        );
        if (pairs.length > 1) {
          console.log(`${''.padEnd(19)}   ${pairs.length} alternating pairs: fit ours ${pairs.map((p) => fmt(p.ours.fit_seconds)).join(', ')} s; reference ${pairs.map((p) => fmt(p.ref.fit_seconds)).join(', ')} s; ratio per pair ${ratios.map((r) => fmt(r)).join(', ')} (median ${fmt(median(ratios))}, ${ratios.filter((r) => r <= 1).length} of ${ratios.length} ≤ 1.00)`);
        }
        if (ours.support_vectors && ref.support_vectors) {
          const differ = ours.support_vectors.reduce((a, v, k) => a + Math.abs(v - (ref.support_vectors as number[])[k]), 0);
          const total = ref.support_vectors.reduce((a, v) => a + v, 0);
          console.log(`${''.padEnd(19)}   support vectors per class: ours ${ours.support_vectors.join(' / ')}, reference ${ref.support_vectors.join(' / ')} (differ by ${differ}, ${fmt((100 * differ) / total, 3)}% of ${total})`);
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
