/**
 * An unadjusted split in the stored bars (flagged by the quality gate, stored all the same) must not
 * reach a model or a verdict as a return: no dataset row whose features or label read the move
 * across it, and the bars the evaluation trades split-adjusted.
 */
import path from 'node:path';
import { requiredBars } from '../../lib/features/compute-features';
import { defineFeatureSet, DEFAULT_FEATURE_SET, type FeatureSet } from '../../lib/features/feature-set';
import { materializeFeatures } from '../../lib/features/materialize';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { labelSpecSchema, type LabelSpec } from '../../lib/labels/labels';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { readBarSeries } from '../../lib/store/bars';
import { listQuarantine } from '../../lib/store/quarantine';
import { buildTrainingDataset, datasetBarSeries, splitsNote, type TrainingDataset } from '../../lib/training/dataset';
import { plantSplit } from '../helpers/planted-split';
import { copyOfDir, createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';

const SPLIT_SYMBOL = 'SYN02';
const SPLIT_DATE = '2017-03-01';
const defaultSet = defineFeatureSet(DEFAULT_FEATURE_SET);
// Per-symbol features only: the other symbols' rows are then the same with and without the split.
const shortSet = defineFeatureSet({ name: 'split-short', features: [{ kind: 'return', horizon: 1 }, { kind: 'sma_ratio', window: 10 }] });
const direction = labelSpecSchema.parse({ kind: 'direction', horizon: 5 });
const regime = labelSpecSchema.parse({ kind: 'volatility_regime', horizon: 5, trailing: 40 });

async function storeOf(dir: string, sets: FeatureSet[]): Promise<TestDatabase> {
  const t = await createSqliteTestDatabase();
  await importBars(t.store, importRequestSchema.parse({ source: { kind: 'csv', path: dir } }));
  for (const set of sets) await materializeFeatures(t.store, set);
  return t;
}

const key = (ds: TrainingDataset, r: number) => `${ds.symbols[ds.symbol[r]]} ${ds.days[ds.start[r]]}`;

describe('training dataset over an unadjusted split', () => {
  let plain: TestDatabase;
  let split: TestDatabase;
  beforeAll(async () => {
    const dir = tempDir('mlp-split-');
    await writeSyntheticMarket(dir, { symbols: 4, from: '2016-01-04', to: '2017-12-29', plantErrors: false });
    const planted = copyOfDir(dir, 'mlp-split-planted-');
    plantSplit(path.join(planted, `${SPLIT_SYMBOL}.csv`), SPLIT_DATE);
    [plain, split] = await Promise.all([storeOf(dir, [defaultSet, shortSet]), storeOf(planted, [defaultSet, shortSet])]);
  }, 120_000);
  afterAll(async () => {
    await plain?.drop();
    await split?.drop();
  });

  it('is stored with an unadjusted_split flag (the case this guards)', async () => {
    const flags = await listQuarantine(split.store, { rule: 'unadjusted_split' });
    expect(flags.map((f) => [f.symbol, f.date])).toEqual([[SPLIT_SYMBOL, SPLIT_DATE]]);
  });

  it.each([
    ['the default feature set', defaultSet, direction],
    ['a short feature set, a volatility-regime label reading further back', shortSet, regime],
  ] as Array<[string, FeatureSet, LabelSpec]>)('keeps no row whose features or label read the split: %s', async (_, set, label) => {
    const request = { featureSetVersion: set.version, label };
    const [before, after] = await Promise.all([buildTrainingDataset(plain.store, request), buildTrainingDataset(split.store, request)]);
    expect(before.splits).toBeUndefined();
    expect(after.splits?.found).toEqual([{ symbol: SPLIT_SYMBOL, date: SPLIT_DATE, ratio: 0.5 }]);
    // Noted beside the numbers (the run summary, the report, the registration), never a veto.
    expect(splitsNote(before)).toBeUndefined();
    expect(splitsNote(after)).toEqual({ guard: 'unadjusted_splits', tripped: false, message: expect.stringContaining(`${after.splits?.rows} rows left out`) });
    expect(splitsNote(after)?.message).toContain(`${SPLIT_SYMBOL} ${SPLIT_DATE} (price ×0.500)`);

    // Which rows read the split, worked out from dates: the bar of the split is i; a row at bar t
    // reads the move into i when its features' or label's trailing window holds it, or its label's
    // window ahead does (direction enters at the next open, after the overnight move into t + 1).
    const [series] = await readBarSeries(plain.store, { symbols: [SPLIT_SYMBOL] });
    const i = series.dates.indexOf(SPLIT_DATE);
    const back = Math.max(requiredBars(set), label.kind === 'volatility_regime' ? label.horizon + label.trailing - 1 : 0);
    const ahead = label.kind === 'volatility_regime' ? 1 : 2;
    const reads = (r: number) => {
      if (before.symbols[before.symbol[r]] !== SPLIT_SYMBOL) return false;
      const t = series.dates.indexOf(before.days[before.start[r]]);
      const end = series.dates.indexOf(before.days[before.end[r]]);
      return (i > t - back && i <= t) || (i >= t + ahead && i <= end);
    };
    const expected = [...Array(before.rows).keys()].filter((r) => !reads(r));
    expect(after.splits?.rows).toBe(before.rows - expected.length);
    expect(after.splits?.rows).toBeGreaterThan(0);
    expect(Array.from({ length: after.rows }, (_, r) => key(after, r))).toEqual(expected.map((r) => key(before, r)));
    // The rows kept have the labels and forward returns of the series without the split.
    expect(Array.from(after.labels)).toEqual(expected.map((r) => before.labels[r]));
    expected.forEach((r, k) => expect(after.forwardReturn[k]).toBeCloseTo(before.forwardReturn[r], 9));
    if (set === shortSet) expected.forEach((r, k) => expect(Array.from(after.values.subarray(k * 2, k * 2 + 2))).toEqual(Array.from(before.values.subarray(r * 2, r * 2 + 2))));
  });

  it('trades split-adjusted bars: the planted series is the original at half its prices throughout', async () => {
    const request = { featureSetVersion: defaultSet.version, label: direction };
    const [before, after] = await Promise.all([buildTrainingDataset(plain.store, request), buildTrainingDataset(split.store, request)]);
    const original = datasetBarSeries(before)?.find((s) => s.symbol === SPLIT_SYMBOL);
    const adjusted = datasetBarSeries(after)?.find((s) => s.symbol === SPLIT_SYMBOL);
    expect(adjusted?.dates).toEqual(original?.dates);
    original?.close.forEach((c, d) => {
      expect(adjusted?.close[d]).toBeCloseTo(c / 2, 6);
      expect(adjusted?.open[d]).toBeCloseTo((original.open[d] as number) / 2, 6);
    });
    // The other symbols' bars are as stored.
    for (const s of datasetBarSeries(after) ?? []) if (s.symbol !== SPLIT_SYMBOL) expect(s.close).toEqual(datasetBarSeries(before)?.find((o) => o.symbol === s.symbol)?.close);
  });

  it('counts the split from the stored bars, not from flags: the same rows whether or not the finding is still in the quarantine', async () => {
    const request = { featureSetVersion: shortSet.version, label: direction };
    const withFlag = await buildTrainingDataset(split.store, request);
    await split.store.db.deleteFrom('quarantine').execute();
    const withoutFlag = await buildTrainingDataset(split.store, request);
    expect(withoutFlag.rows).toBe(withFlag.rows);
    expect(withoutFlag.splits).toEqual(withFlag.splits);
  });
});
