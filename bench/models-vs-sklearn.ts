/**
 * Each algorithm beside its scikit-learn reference on identical rows: fit and predict time,
 * one-row latency, test accuracy and AUC, at 20,000 and 200,000 training rows of the shared data
 * (default feature set, 5-day direction label; train on the earliest dates, test on the latest).
 *   tsx bench/models-vs-sklearn.ts [--data ../shared/data/sp500-2013-2018] [--python /usr/bin/python3] [--rows 20000,200000]
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
import { logisticRegression } from '../models/baselines/logistic-regression';
import { majority } from '../models/baselines/majority';
import { accuracyOf, rocAucOf } from '../models/evaluation';
import type { Algorithm, FeatureMatrix } from '../models/model';
import { randomForest } from '../models/trees/random-forest';

const opts = z
  .object({
    data: z.string().default(path.resolve(__dirname, '../../shared/data/sp500-2013-2018')),
    python: z.string().default('/usr/bin/python3'),
    rows: z.string().default('20000,200000').transform((s) => s.split(',').map(Number)),
  })
  .parse(new Command().option('--data <dir>').option('--python <bin>').option('--rows <list>').parse().opts());

interface Row {
  date: string;
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
  const spec = labelSpecSchema.parse({ kind: 'direction', horizon: 5 });
  const rows: Row[] = [];
  for (const frame of computed.frames) {
    const series = universe.find((s) => s.symbol === frame.symbol) as (typeof universe)[number];
    const labels = computeLabels(spec, series.close);
    const offset = series.dates.indexOf(frame.dates[0]);
    frame.dates.forEach((date, r) => {
      const label = labels.value[offset + r];
      if (Number.isNaN(label)) return;
      rows.push({ date, values: Float64Array.from(frame.columns, (c) => c[r]), label });
    });
  }
  rows.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
  return { columns: computed.columns, rows };
}

function matrix(rows: readonly Row[], columns: string[]): { x: FeatureMatrix; y: Int32Array } {
  const p = columns.length;
  const values = new Float64Array(rows.length * p);
  rows.forEach((row, r) => values.set(row.values, r * p));
  return { x: { values, rows: rows.length, featureNames: columns }, y: Int32Array.from(rows, (row) => row.label) };
}

const seconds = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e9;

async function main(): Promise<void> {
  const { columns, rows } = dataset();
  const test = rows.slice(rows.length - 50_000);
  const pool = rows.slice(0, rows.length - 50_000 - 5 * 400); // a gap longer than the label horizon
  const testM = matrix(test, columns);
  const algorithms: Array<[string, Algorithm<Record<string, unknown>>, Record<string, unknown>]> = [
    ['majority', majority as Algorithm<Record<string, unknown>>, {}],
    ['logistic_regression', logisticRegression as Algorithm<Record<string, unknown>>, { C: 1, maxIterations: 200 }],
    ['random_forest', randomForest as Algorithm<Record<string, unknown>>, { nEstimators: 100, maxDepth: 16 }],
  ];
  for (const n of opts.rows) {
    const step = Math.max(1, Math.floor(pool.length / n));
    const train = pool.filter((_, i) => i % step === 0).slice(0, n);
    const trainM = matrix(train, columns);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-models-'));
    fs.writeFileSync(path.join(dir, 'x_train.f64'), Buffer.from(trainM.x.values.buffer));
    fs.writeFileSync(path.join(dir, 'y_train.i32'), Buffer.from(trainM.y.buffer));
    fs.writeFileSync(path.join(dir, 'x_test.f64'), Buffer.from(testM.x.values.buffer));
    fs.writeFileSync(path.join(dir, 'y_test.i32'), Buffer.from(testM.y.buffer));
    const py = spawnSync(opts.python, [path.join(__dirname, 'reference', 'models_sklearn.py'), dir, String(train.length), String(test.length), String(columns.length)], { encoding: 'utf8' });
    fs.rmSync(dir, { recursive: true });
    if (py.status !== 0) throw new Error(`scikit-learn reference failed (python3-sklearn installed for ${opts.python}?):\n${py.stderr}`);
    const ref = JSON.parse(py.stdout.trim().split('\n').at(-1) as string) as Record<string, { fit_seconds: number; predict_seconds: number; one_row_ms: number; accuracy: number; auc: number }>;

    console.log(`\n${train.length} training rows, ${test.length} test rows (${test[0].date}..${test.at(-1)?.date}), ${columns.length} features; up share in test ${(testM.y.reduce((a, b) => a + b, 0) / test.length).toFixed(3)}`);
    console.log('algorithm            | fit ours   | fit sklearn | ratio | 1-row ours | 1-row sklearn | acc ours | acc sklearn | AUC ours | AUC sklearn');
    for (const [name, algorithm, params] of algorithms) {
      let t = process.hrtime.bigint();
      const model = await algorithm.fit({ features: trainM.x, labels: trainM.y, classes: 2, seed: 1, threads: 2 }, params);
      const fit = seconds(t);
      const proba = model.predictProba(testM.x);
      const one = { values: testM.x.values.subarray(0, columns.length), rows: 1, featureNames: columns };
      t = process.hrtime.bigint();
      for (let i = 0; i < 200; i++) model.predictProba(one);
      const oneMs = (seconds(t) / 200) * 1000;
      const r = ref[name];
      console.log(
        `${name.padEnd(20)} | ${fit.toFixed(2).padStart(8)} s | ${r.fit_seconds.toFixed(2).padStart(9)} s | ${(fit / r.fit_seconds).toFixed(2).padStart(5)} | ${oneMs.toFixed(3).padStart(7)} ms | ${r.one_row_ms.toFixed(3).padStart(10)} ms | ${accuracyOf(proba, testM.y, 2).toFixed(4)}   | ${r.accuracy.toFixed(4)}      | ${rocAucOf(proba, testM.y).toFixed(4)}   | ${r.auc.toFixed(4)}`,
      );
    }
  }
  console.log(`\npeak RSS (this process) ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
