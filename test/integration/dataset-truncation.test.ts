import fs from 'node:fs';
import path from 'node:path';
import { defineFeatureSet, DEFAULT_FEATURE_SET } from '../../lib/features/feature-set';
import { materializeFeatures } from '../../lib/features/materialize';
import type { LabelSpec } from '../../lib/labels/labels';
import type { Bar } from '../../lib/market-data/bar';
import { readBarCsv } from '../../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../../lib/market-data/synthetic';
import { upsertBars } from '../../lib/store/bars';
import { buildTrainingDataset, type TrainingDataset } from '../../lib/training/dataset';
import { createSqliteTestDatabase, hasSharedData, SHARED_SP500_DIR, type TestDatabase } from '../helpers/databases';

/**
 * The whole way from stored bars to a training dataset is point in time: a dataset built from a
 * store holding only the bars up to a date T has exactly the rows of the full store's dataset whose
 * labels end by T, with the same feature values (bit for bit), labels, label ends, evaluation-only
 * marks and forward returns. Market columns, ranks and every label kind included. Real S&P 500 bars
 * (a little dirty: gaps, spin-offs) when they are beside the checkout, a generated market otherwise.
 */

function bars(): Bar[] {
  if (hasSharedData) {
    const files = fs.readdirSync(SHARED_SP500_DIR).filter((f) => f.endsWith('.csv')).sort().slice(0, 30);
    return files.flatMap((f) => readBarCsv(fs.readFileSync(path.join(SHARED_SP500_DIR, f), 'utf8'), { source: f }).bars.map((b) => ({ ...b, symbol: f.replace(/\.csv$/, '') })));
  }
  return generateSyntheticMarket({ symbols: 12, from: '2015-01-02', to: '2017-12-29', seed: 9, plantErrors: false }).files.flatMap((f) => readBarCsv(f.csv, { source: f.fileName }).bars.map((b) => ({ ...b, symbol: f.symbol })));
}

const key = (ds: TrainingDataset, r: number) => `${ds.symbols[ds.symbol[r]]} ${ds.days[ds.start[r]]}`;

describe('a dataset built from the bars up to T is the full dataset known at T', () => {
  const all = bars();
  const dates = [...new Set(all.map((b) => b.date))].sort();
  const T = dates[Math.floor(dates.length * 0.7)];
  const set = defineFeatureSet({ ...DEFAULT_FEATURE_SET, name: 'truncation', features: [...DEFAULT_FEATURE_SET.features, { kind: 'rsi', window: 14, normalize: 'zscore' }] });
  let full: TestDatabase;
  let cut: TestDatabase;
  beforeAll(async () => {
    full = await createSqliteTestDatabase();
    cut = await createSqliteTestDatabase();
    await upsertBars(full.store, all);
    await upsertBars(cut.store, all.filter((b) => b.date <= T));
    await materializeFeatures(full.store, set);
    await materializeFeatures(cut.store, set);
  }, 240_000);
  afterAll(async () => {
    await full?.drop();
    await cut?.drop();
  });

  const labels: LabelSpec[] = [
    { kind: 'direction', horizon: 5, deadZone: 0.002 },
    { kind: 'volatility_regime', horizon: 10, trailing: 60 },
    { kind: 'triple_barrier', horizon: 10, profitTake: 2, stopLoss: 2, volWindow: 20 },
  ];
  it.each(labels.map((l) => [l.kind, l] as const))('%s', async (_, label) => {
    const whole = await buildTrainingDataset(full.store, { featureSetVersion: set.version, label });
    const known = await buildTrainingDataset(cut.store, { featureSetVersion: set.version, label });
    expect(known.columns).toEqual(whole.columns);
    const p = whole.columns.length;
    const rowOf = new Map<string, number>();
    for (let r = 0; r < whole.rows; r++) rowOf.set(key(whole, r), r);
    const seen = new Set<string>();
    for (let r = 0; r < known.rows; r++) {
      const k = key(known, r);
      seen.add(k);
      const f = rowOf.get(k);
      if (f === undefined) throw new Error(`${k}: a row from the bars up to ${T} that the full store's dataset does not have`);
      for (let c = 0; c < p; c++) {
        if (!Object.is(known.values[r * p + c], whole.values[f * p + c])) throw new Error(`${k} ${whole.columns[c]}: ${known.values[r * p + c]} from the bars up to ${T}, ${whole.values[f * p + c]} from all of them`);
      }
      expect([k, known.labels[r], known.days[known.end[r]], known.evaluationOnly?.[r] ?? 0, known.forwardReturn[r]]).toEqual([k, whole.labels[f], whole.days[whole.end[f]], whole.evaluationOnly?.[f] ?? 0, whole.forwardReturn[f]]);
    }
    // Every full row whose label ended by T is there, but a triple barrier touched by T before its
    // horizon's end: its row waits for the whole horizon (labels.ts), so which rows exist never
    // depends on which way the last bars went.
    const missing: string[] = [];
    for (let r = 0; r < whole.rows; r++) if (whole.days[whole.end[r]] <= T && !seen.has(key(whole, r))) missing.push(key(whole, r));
    if (label.kind !== 'triple_barrier') expect(missing).toEqual([]);
    expect(known.rows).toBeGreaterThan(1000);
  }, 120_000);
});
