/**
 * A tiny evaluated model for report tests: 3 symbols over 8 trading days straddling a month end,
 * walk-forward predictions on days 2..5, prices chosen so the backtest can be computed by hand
 * (see test/unit/reports/run-report.test.ts), and a real logistic regression fitted on the rows.
 */
import type { BarSeries } from '../../lib/market-data/bar';
import type { ModelVersion } from '../../lib/registry/model-registry';
import type { TrainingDataset } from '../../lib/training/dataset';
import type { WalkForwardPredictions } from '../../lib/training/walk-forward';
import { algorithmByName } from '../../models/algorithms';
import type { TrainedModel } from '../../models/model';
import type { FeatureSetInput } from '../../lib/features/feature-set';
import { defineTestFeatureSet } from './registration';

export const FIXTURE_DAYS = ['2024-01-25', '2024-01-26', '2024-01-29', '2024-01-30', '2024-01-31', '2024-02-01', '2024-02-02', '2024-02-05'];
const SYMBOLS = ['AAA', 'BBB', 'CCC'];
/** Opens; each day closes at the next day's open. A moves +10%, −10%, 0, +10% between the opens of days 3..7, B and C are flat. */
const PRICES: Record<string, number[]> = {
  AAA: [100, 100, 100, 100, 110, 99, 99, 108.9],
  BBB: [50, 50, 50, 50, 50, 50, 50, 50],
  CCC: [20, 20, 20, 20, 20, 20, 20, 20],
};
/** P(up) per symbol on decision days 2..5: only AAA above 0.5, except on day 3. */
const SCORES: Record<string, number[]> = { AAA: [0.9, 0.2, 0.9, 0.9], BBB: [0.3, 0.4, 0.35, 0.45], CCC: [0.1, 0.15, 0.2, 0.25] };
const LABELS: Record<string, number[]> = { AAA: [1, 0, 1, 1, 1, 0], BBB: [0, 1, 0, 1, 0, 0], CCC: [1, 0, 0, 0, 1, 0] };

/** The fixture's feature set: a real one (version and columns are this code's, so verification passes once it is stored); the values are made up. */
export const FIXTURE_FEATURE_SET: FeatureSetInput = { name: 'report', features: [{ kind: 'roc', window: 5 }, { kind: 'relative_volume', window: 20 }] };
const FIXTURE_FEATURES = defineTestFeatureSet(FIXTURE_FEATURE_SET);
/** Its columns: a momentum one ("roc_5"), then a volume one ("relative_volume_20"). */
export const FIXTURE_COLUMNS = FIXTURE_FEATURES.columns;
export const [MOMENTUM_COLUMN, VOLUME_COLUMN] = FIXTURE_COLUMNS;

export function fixtureDataset(): TrainingDataset {
  const days = 6;
  const rows = days * SYMBOLS.length;
  const columns = [...FIXTURE_COLUMNS];
  const ds: TrainingDataset = {
    featureSetVersion: FIXTURE_FEATURES.version,
    label: { kind: 'direction', horizon: 1, deadZone: 0 },
    columns,
    days: FIXTURE_DAYS,
    symbols: SYMBOLS,
    rows,
    values: new Float64Array(rows * columns.length),
    labels: new Int32Array(rows),
    start: new Int32Array(rows),
    end: new Int32Array(rows),
    symbol: new Int32Array(rows),
    forwardReturn: new Float64Array(rows),
  };
  for (let d = 0, r = 0; d < days; d++) {
    SYMBOLS.forEach((s, k) => {
      const y = LABELS[s][d];
      ds.labels[r] = y;
      ds.start[r] = d;
      ds.end[r] = d + 1;
      ds.symbol[r] = k;
      ds.forwardReturn[r] = PRICES[s][d + 1] / PRICES[s][d] - 1 + (y ? 0.002 : -0.002) * (k + 1);
      ds.values[r * 2] = y ? 0.5 + 0.1 * k : -0.5 + 0.1 * d;
      ds.values[r * 2 + 1] = (d * 7 + k * 3) % 5;
      r++;
    });
  }
  return ds;
}

export function fixturePredictions(): WalkForwardPredictions {
  const rows = Int32Array.from({ length: 12 }, (_, i) => 6 + i);
  const proba = new Float64Array(rows.length * 2);
  rows.forEach((r, i) => {
    const day = Math.floor(r / 3) - 2;
    const p = SCORES[SYMBOLS[r % 3]][day];
    proba[i * 2] = 1 - p;
    proba[i * 2 + 1] = p;
  });
  return { datasetId: 'td-fixture', algorithm: 'logistic_regression', classes: 2, rows, proba, windows: [{ testStartDay: 2, testEndDay: 5, trainRows: 6, testRows: 12 }] };
}

export function fixtureSeries(): BarSeries[] {
  return SYMBOLS.map((symbol) => {
    const open = Float64Array.from(PRICES[symbol]);
    // No overnight gaps: each day closes where the next opens (the last where it opened).
    const close = open.map((_, d) => open[Math.min(d + 1, open.length - 1)]);
    const high = open.map((o, d) => Math.max(o, close[d]));
    const low = open.map((o, d) => Math.min(o, close[d]));
    return { symbol, dates: FIXTURE_DAYS, open, high, low, close, volume: new Float64Array(open.length).fill(1000) };
  });
}

export async function fixtureModel(ds: TrainingDataset = fixtureDataset()): Promise<TrainedModel> {
  return algorithmByName('logistic_regression').fit({ features: { values: ds.values, rows: ds.rows, featureNames: ds.columns }, labels: ds.labels, classes: 2, seed: 1 }, { C: 1 });
}

/** A registry row as a training run writes it (trials, guards, walk-forward ids, experiment), costs off so the backtest is plain arithmetic. */
export function fixtureVersion(overrides: Partial<ModelVersion> = {}): ModelVersion {
  return {
    name: 'demo-direction',
    version: 2,
    artifactSha256: 'a'.repeat(64),
    artifactBytes: 1234,
    algorithm: 'logistic_regression',
    params: { C: 1 },
    seed: 1,
    featureSetVersion: FIXTURE_FEATURES.version,
    label: { kind: 'direction', horizon: 1, deadZone: 0 },
    snapshotId: 'snap-report',
    snapshotHash: 'b'.repeat(16),
    codeVersion: 'test',
    workflowId: 'pipeline-report-test',
    runId: 'run-1',
    registrationKey: 'pipeline-report-test/run-1/logistic_regression',
    metrics: {
      cv: { auc: 0.61 },
      shuffledLabel: { passed: true, message: 'shuffled-label AUC 0.501 within 0.5 ± 0.03' },
      outOfSample: {
        period: { from: '2024-01-29', to: '2024-02-01', days: 4, rows: 12 },
        classification: { accuracy: 0.75, rocAuc: 0.8, confusion: [5, 2, 1, 4] },
        baseline: { name: 'always_up', accuracy: 0.42 },
        auc: { versus: 'momentum_sign', baselineAuc: 0.55 },
        backtest: { strategy: { sharpe: 2.1, cagr: 0.3, maxDrawdown: 0 }, buyAndHold: { sharpe: 0.4, cagr: 0.05, maxDrawdown: 0.0333 } },
        guards: [
          { guard: 'plausibility_bound', tripped: false, message: 'AUC 0.80 within the plausibility bound' },
          { guard: 'degenerate_scores', tripped: false, message: 'scores rank symbols' },
        ],
      },
    },
    lineage: {
      datasetId: 'td-fixture',
      walkForward: { predictionsId: 'wf-fixture', rows: 12, windows: 1 },
      trials: [
        { trial: 0, params: { C: 0.1 }, score: 0.55, seconds: 1 },
        { trial: 1, params: { C: 1 }, score: 0.61, seconds: 1 },
        { trial: 2, params: { C: 10 }, score: null, seconds: 0, error: 'did not converge' },
        { trial: 3, params: { C: 3 }, score: 0.58, seconds: 1 },
      ],
      experiment: { name: 'demo-direction', seed: 1, backtest: { costBps: 0, slippageBps: 0 }, search: { method: 'tpe' }, walkForward: { evaluationDays: 4 } },
      universe: { source: 'declared', requested: SYMBOLS, trained: SYMBOLS },
      finalTrainRows: 18,
    },
    createdAt: '2024-02-06T10:00:00.000Z',
    ...overrides,
  };
}
