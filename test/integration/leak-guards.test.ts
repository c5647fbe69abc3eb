/**
 * Leaks planted the way a careless feature change would plant them (a column replaced by the label,
 * by the forward return of the label horizon, or by the return over the next 5 bars), on each
 * label kind: the dataset guards must trip and nothing may be promoted. Clean data passes.
 */
import { defineFeatureSet } from '../../lib/features/feature-set';
import { materializeFeatures } from '../../lib/features/materialize';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { labelSpecSchema, type LabelSpecInput } from '../../lib/labels/labels';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { candidateScoresOf, promotionDecision } from '../../lib/registry/promotion';
import { readBarSeries } from '../../lib/store/bars';
import { buildTrainingDataset, type TrainingDataset } from '../../lib/training/dataset';
import { inferenceLags } from '../../lib/training/evaluation-report';
import { DEFAULT_PLAUSIBILITY, type GuardVerdict } from '../../lib/training/guards';
import { singleFeatureScan, singleValueAuc } from '../../lib/training/leakage-guards';
import { auditPointInTime } from '../../lib/training/point-in-time-audit';
import { evaluationRowsOf } from '../../lib/training/evaluation-period';
import { naiveBaselinesOf } from '../../lib/validation/baselines';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';

const featureSet = defineFeatureSet({
  name: 'leak-test',
  features: [
    { kind: 'return', horizon: 1 },
    { kind: 'return', horizon: 5 },
    { kind: 'rsi', window: 14 },
    { kind: 'realized_vol', window: 20 },
    { kind: 'sma_ratio', window: 50 },
    { kind: 'breadth', window: 50 },
  ],
});

const LABELS: Record<string, LabelSpecInput> = {
  direction: { kind: 'direction', horizon: 5 },
  triple_barrier: { kind: 'triple_barrier', horizon: 10 },
  volatility_regime: { kind: 'volatility_regime', horizon: 20, trailing: 252 },
};

type Leak = 'label copy' | 'forward return' | 'next 5 bars return';

describe('leakage guards on planted leaks, every label kind', () => {
  let t: TestDatabase;
  let closeOf: (ds: TrainingDataset, r: number, ahead: number) => number;
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    const dir = tempDir('mlp-leak-');
    await writeSyntheticMarket(dir, { symbols: 12, from: '2014-01-02', to: '2017-12-29', plantErrors: false, seed: 3 });
    await importBars(t.store, importRequestSchema.parse({ source: { kind: 'csv', path: dir } }));
    await materializeFeatures(t.store, featureSet);
    const series = new Map((await readBarSeries(t.store)).map((s) => [s.symbol, s]));
    closeOf = (ds, r, ahead) => {
      const s = series.get(ds.symbols[ds.symbol[r]]);
      const i = s ? s.dates.indexOf(ds.days[ds.start[r]]) : -1;
      return s && i >= 0 && i + ahead < s.close.length ? s.close[i + ahead] : NaN;
    };
  }, 120_000);
  afterAll(async () => {
    await t?.drop();
  });

  /** The guards the pipeline runs on a dataset (guardTrainingDataset), with the experiment's defaults. */
  async function datasetGuards(ds: TrainingDataset): Promise<GuardVerdict[]> {
    const audit = await auditPointInTime(t.store, ds, { seed: 1, rows: 120, dates: 4 });
    const rows = evaluationRowsOf(ds, 200);
    const labels = Int32Array.from(rows, (r) => ds.labels[r]);
    const series = await readBarSeries(t.store, { symbols: ds.symbols });
    const rival = naiveBaselinesOf(ds, rows, series)
      .filter((b) => !b.hindsight)
      .map((b) => ({ name: b.name, auc: singleValueAuc(b.score, labels) }))
      .reduce((best, b) => (b.auc > best.auc ? b : best), { name: 'chance', auc: 0.5 });
    const scan = await singleFeatureScan(ds.columns, ds.values, rows, ds, inferenceLags(ds), ds.label.kind, DEFAULT_PLAUSIBILITY[ds.label.kind], rival);
    return [{ guard: 'point_in_time_audit', tripped: !audit.passed, message: audit.message }, scan.verdict];
  }

  function planted(ds: TrainingDataset, column: string, leak: Leak): TrainingDataset {
    const c = ds.columns.indexOf(column);
    const values = ds.values.slice();
    for (let r = 0; r < ds.rows; r++) {
      const now = closeOf(ds, r, 0);
      values[r * ds.columns.length + c] = leak === 'label copy' ? ds.labels[r] : leak === 'forward return' ? ds.forwardReturn[r] : closeOf(ds, r, 5) / now - 1;
    }
    return { ...ds, values };
  }

  /** A model that scored well on the leak: even a strong score must not be promoted past a tripped guard. */
  function decisionWith(guards: GuardVerdict[]) {
    const report = {
      classification: { rocAuc: 0.99 },
      baseline: { name: 'always_up', accuracyLift: 0.3, liftInterval: [0.25, 0.35] as [number, number], pValue: 1e-9 },
      auc: { versus: 'always_up', difference: { value: 0.49, interval: [0.45, 0.53] as [number, number], pValue: 1e-9 } },
      backtest: { strategy: { sharpe: 4 } },
      guards: [],
    };
    return promotionDecision(candidateScoresOf(report, { datasetGuards: guards }), undefined, { metric: 'auc', margin: 0.005, minAuc: 0.5, alpha: 0.05 });
  }

  for (const [kind, spec] of Object.entries(LABELS)) {
    describe(kind, () => {
      let ds: TrainingDataset;
      beforeAll(async () => {
        ds = await buildTrainingDataset(t.store, { featureSetVersion: featureSet.version, label: labelSpecSchema.parse(spec) });
      });

      it('passes clean data', async () => {
        const guards = await datasetGuards(ds);
        expect(guards.map((g) => [g.guard, g.tripped])).toEqual([['point_in_time_audit', false], ['single_feature_scan', false]]);
      });

      for (const leak of ['label copy', 'forward return', 'next 5 bars return'] as const) {
        it(`trips on a ${leak} planted in a feature column and vetoes promotion`, async () => {
          const guards = await datasetGuards(planted(ds, 'rsi_14', leak));
          const audit = guards.find((g) => g.guard === 'point_in_time_audit');
          expect(audit).toMatchObject({ tripped: true, message: expect.stringContaining('rsi_14') });
          // The label itself separates the classes perfectly: the scan names it without any bars.
          if (leak === 'label copy') expect(guards.find((g) => g.guard === 'single_feature_scan')).toMatchObject({ tripped: true, message: expect.stringMatching(/suspected leak: rsi_14 alone scores AUC 1\.0000/) });
          const decision = decisionWith(guards);
          expect(decision.promote).toBe(false);
          expect(decision.reason).toMatch(/^not promoted: guard point_in_time_audit tripped: .*rsi_14/);
        });
      }
    });
  }
});
