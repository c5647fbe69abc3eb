/**
 * The evaluation of a training dataset (backtest, naive baselines, report sections) reads the bars
 * the dataset was built from, not the store as it is when the evaluation runs: a bar revised after
 * the dataset was built (a vendor's re-export published while the models trained, or months later
 * before a report is made again) would otherwise be traded beside labels, forward returns and
 * features that were made without it, and move the verdict.
 */
import { defineFeatureSet, DEFAULT_FEATURE_SET } from '../../lib/features/feature-set';
import { materializeFeatures } from '../../lib/features/materialize';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { labelSpecSchema } from '../../lib/labels/labels';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import type { Bar } from '../../lib/market-data/bar';
import { readBarSeries, upsertBars } from '../../lib/store/bars';
import { buildTrainingDataset, datasetBarSeries, evaluationBarsOf, readDataset, writeDataset, type TrainingDataset } from '../../lib/training/dataset';
import { walkForwardPredict, type WalkForwardPredictions } from '../../lib/training/walk-forward';
import { evaluatePredictions, type EvaluationOptions } from '../../lib/training/evaluation-report';
import { DEFAULT_PLAUSIBILITY } from '../../lib/training/guards';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';

const set = defineFeatureSet(DEFAULT_FEATURE_SET);
const label = labelSpecSchema.parse({ kind: 'direction', horizon: 5 });
const options: EvaluationOptions = { backtest: { strategy: 'long_flat', costBps: 1, slippageBps: 5, topK: 3 }, plausibility: DEFAULT_PLAUSIBILITY.direction, trials: 1, trialSharpeVariance: 0, seed: 1 };

describe('evaluation bars', () => {
  let t: TestDatabase;
  let ds: TrainingDataset;
  let predictions: WalkForwardPredictions;
  beforeAll(async () => {
    const dir = tempDir('mlp-evaluation-bars-');
    await writeSyntheticMarket(dir, { symbols: 8, from: '2015-01-02', to: '2017-12-29', plantErrors: false });
    t = await createSqliteTestDatabase();
    await importBars(t.store, importRequestSchema.parse({ source: { kind: 'csv', path: dir } }));
    await materializeFeatures(t.store, set);
    const artifacts = localArtifactStore(tempDir('mlp-evaluation-bars-artifacts-'));
    // Through the dataset file, as every activity reads it.
    const { id } = await writeDataset(artifacts, await buildTrainingDataset(t.store, { featureSetVersion: set.version, label }));
    ds = await readDataset(artifacts, id);
    predictions = await walkForwardPredict(ds, id, { algorithm: 'logistic_regression', params: { C: 1 }, mode: 'expanding', evaluationDays: 150, testDays: 50, trainDays: 756, embargoDays: 0, maxTrainRows: 20_000, seed: 1, threads: 1 });
  }, 120_000);
  afterAll(async () => {
    await t?.drop();
  });

  it('keeps the opens and closes of every symbol the dataset was built from, bit for bit', async () => {
    const kept = datasetBarSeries(ds);
    expect(kept).toBeDefined();
    const stored = await readBarSeries(t.store, { symbols: ds.symbols });
    expect(kept?.map((s) => s.symbol)).toEqual(stored.map((s) => s.symbol));
    kept?.forEach((s, k) => {
      expect(s.dates).toEqual(stored[k].dates);
      expect(Array.from(s.open)).toEqual(Array.from(stored[k].open));
      expect(Array.from(s.close)).toEqual(Array.from(stored[k].close));
    });
  });

  it('judges a model on the same prices after the store revised bars of its evaluation period', async () => {
    const before = evaluatePredictions(ds, predictions, await evaluationBarsOf(t.store, ds), options);
    // A revision published after the dataset was built: the day after each day the model ranked a
    // stock first, that stock's open and close are 2% higher (what the positions taken then earn).
    const stored = await readBarSeries(t.store, { symbols: ds.symbols });
    const classes = predictions.classes;
    const best = new Map<number, { row: number; p: number }>();
    predictions.rows.forEach((r, i) => {
      const p = predictions.proba[i * classes + classes - 1];
      const day = ds.start[r];
      if (!best.has(day) || (best.get(day) as { p: number }).p < p) best.set(day, { row: r, p });
    });
    const revised: Bar[] = [];
    for (const [day, { row }] of best) {
      const s = stored.find((x) => x.symbol === ds.symbols[ds.symbol[row]]);
      const i = s?.dates.indexOf(ds.days[day + 2]) ?? -1;
      if (!s || i < 0) continue;
      const open = s.open[i] * 1.02;
      const close = s.close[i] * 1.02;
      revised.push({ symbol: s.symbol, date: s.dates[i], open, close, high: Math.max(s.high[i] * 1.02, open, close), low: Math.min(s.low[i] * 1.02, open, close), volume: s.volume[i] });
    }
    expect(revised.length).toBeGreaterThan(100);
    await upsertBars(t.store, revised);

    // The store's bars now move the backtest: read from there, the strategy looks far better.
    const fromStore = evaluatePredictions(ds, predictions, await readBarSeries(t.store, { symbols: ds.symbols }), options);
    expect(fromStore.backtest.strategy.sharpe).toBeGreaterThan(before.backtest.strategy.sharpe + 0.5);

    const after = evaluatePredictions(ds, predictions, await evaluationBarsOf(t.store, ds), options);
    expect(after.backtest).toEqual(before.backtest);
    expect(after.baselines).toEqual(before.baselines);
    expect(after.baseline).toEqual(before.baseline);
    expect(after.auc).toEqual(before.auc);
  });

  it('reads the store for a dataset written before the bars were kept', async () => {
    const older: TrainingDataset = { ...ds, bars: undefined };
    expect(datasetBarSeries(older)).toBeUndefined();
    const series = await evaluationBarsOf(t.store, older);
    expect(series.map((s) => s.symbol)).toEqual(ds.symbols);
  });
});
