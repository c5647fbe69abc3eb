import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_FEATURE_SET, defineFeatureSet, type FeatureSet } from '../../lib/features/feature-set';
import { materializeFeatures } from '../../lib/features/materialize';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../../lib/ingest/import-request';
import { labelSpecSchema } from '../../lib/labels/labels';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import type { Headline } from '../../lib/news/headlines';
import { rng } from '../../lib/random';
import { readBars, readBarSeries, upsertBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { packValues, readFeatureRows, unpackValues } from '../../lib/store/features';
import { saveHeadlines } from '../../lib/store/news';
import { buildTrainingDataset, type TrainingDataset } from '../../lib/training/dataset';
import { auditPointInTime, sameFeatureValue } from '../../lib/training/point-in-time-audit';
import { sharedPool } from '../../lib/threads/task-pool';
import { createSqliteTestDatabase, hasSharedData, SHARED_SP500_DIR, tempDir, type TestDatabase } from '../helpers/databases';

const set = defineFeatureSet(DEFAULT_FEATURE_SET);
const label = labelSpecSchema.parse({ kind: 'direction', horizon: 5 });
const request = (input: ImportRequestInput) => importRequestSchema.parse(input);

/**
 * Six symbols over three years, one listed in 2016 (rows only after its first year) and one in
 * mid-2017 (never enough history for rows, but it trades and so counts in the market columns).
 */
async function importMarket(store: Database): Promise<void> {
  const dir = tempDir('mlp-pit-');
  const late = tempDir('mlp-pit-late-');
  await writeSyntheticMarket(dir, { symbols: 6, from: '2015-01-02', to: '2017-12-29', plantErrors: false });
  await writeSyntheticMarket(late, { symbols: 8, from: '2015-01-02', to: '2017-12-29', seed: 7, plantErrors: false });
  await importBars(store, request({ source: { kind: 'csv', path: dir } }));
  await importBars(store, request({ source: { kind: 'csv', path: late }, symbols: ['SYN07'], from: '2016-02-01' }));
  await importBars(store, request({ source: { kind: 'csv', path: late }, symbols: ['SYN08'], from: '2017-07-03' }));
}

async function prepare(store: Database, featureSet: FeatureSet): Promise<TrainingDataset> {
  await materializeFeatures(store, featureSet);
  return buildTrainingDataset(store, { featureSetVersion: featureSet.version, label });
}

function copyOf(ds: TrainingDataset): TrainingDataset {
  return { ...ds, values: ds.values.slice() };
}

/** The dataset with column `name` of every row set by `value(row)`. */
function withColumn(ds: TrainingDataset, name: string, value: (r: number) => number): TrainingDataset {
  const out = copyOf(ds);
  const c = ds.columns.indexOf(name);
  expect(c).toBeGreaterThanOrEqual(0);
  for (let r = 0; r < ds.rows; r++) out.values[r * ds.columns.length + c] = value(r);
  return out;
}

const named = (audit: { mismatchedFeatures: Array<{ feature: string }> }) => audit.mismatchedFeatures.map((m) => m.feature);

/** Rows on the last `k` decision days of each symbol's rows. */
function lastDaysOfSeries(ds: TrainingDataset, k: number): Set<number> {
  const bySymbol = new Map<number, number[]>();
  for (let r = 0; r < ds.rows; r++) bySymbol.set(ds.symbol[r], [...(bySymbol.get(ds.symbol[r]) ?? []), r]);
  return new Set([...bySymbol.values()].flatMap((rows) => rows.sort((a, b) => ds.start[a] - ds.start[b]).slice(-k)));
}

/** The dataset without the rows `drop` selects. */
function withoutRows(ds: TrainingDataset, drop: (r: number) => boolean): TrainingDataset {
  const keep = Array.from({ length: ds.rows }, (_, r) => r).filter((r) => !drop(r));
  const p = ds.columns.length;
  const values = new Float64Array(keep.length * p);
  keep.forEach((r, i) => values.set(ds.values.subarray(r * p, (r + 1) * p), i * p));
  const pick = <T extends Int32Array | Float64Array>(a: T): T => {
    const out = new (a.constructor as new (n: number) => T)(keep.length);
    keep.forEach((r, i) => (out[i] = a[r]));
    return out;
  };
  return { ...ds, rows: keep.length, values, labels: pick(ds.labels), start: pick(ds.start), end: pick(ds.end), symbol: pick(ds.symbol), forwardReturn: pick(ds.forwardReturn) };
}

/** Dataset rows dated on any of `dates` (here fewer than the audit's quota per date: it checks them all). */
const rowsOn = (ds: TrainingDataset, dates: readonly string[]) => Array.from(ds.start).filter((d) => dates.includes(ds.days[d])).length;

describe('point-in-time audit', () => {
  let t: TestDatabase;
  let ds: TrainingDataset;
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    await importMarket(t.store);
    ds = await prepare(t.store, set);
  });
  afterAll(async () => {
    await t?.drop();
    await sharedPool(2)?.close();
  });

  it('passes on features materialised from clean data, with dates spread over the span and one among the newest, and the last 3 days of every series', async () => {
    const audit = await auditPointInTime(t.store, ds, { seed: 1 });
    expect(audit.mismatchedFeatures).toEqual([]);
    expect(audit.passed).toBe(true);
    expect(audit.rowsChecked).toBe(rowsOn(ds, audit.datesChecked)); // 6 or 7 symbols a date, under the 33 asked for
    expect(audit.rowsChecked).toBeGreaterThan(30);
    expect(audit.features).toBe(61);
    const decisionDays = [...new Set(Array.from(ds.start))].sort((a, b) => a - b).map((d) => ds.days[d]);
    // Every series ends on the dataset's newest day: its last 3 decision days are audited besides the 6 spread dates.
    const newest = decisionDays.slice(-3);
    expect(audit.newestDatesChecked).toEqual(newest);
    expect(audit.datesChecked).toHaveLength(9);
    const spread = audit.datesChecked.filter((d) => !newest.includes(d));
    const recent = decisionDays[Math.floor(decisionDays.length * 0.9)];
    expect(spread.filter((d) => d >= recent)).toHaveLength(1);
    expect(audit.datesChecked[0] < decisionDays[Math.floor(decisionDays.length * 0.25)]).toBe(true);
    expect(audit.message).toMatch(/\d+ rows on 9 dates \(.*; 3 of them the last decision days of the symbols' series\) .* all 61 features equal the dataset's/);
    expect(audit.seconds).toBeGreaterThan(0);
    // Seeded: the same seed audits the same dates, another seed others.
    expect((await auditPointInTime(t.store, ds, { seed: 1 })).datesChecked).toEqual(audit.datesChecked);
    expect((await auditPointInTime(t.store, ds, { seed: 2 })).datesChecked).not.toEqual(audit.datesChecked);
  });

  it('passes on every row of 60 dates, the first year of the symbol listed in 2016 included', async () => {
    const audit = await auditPointInTime(t.store, ds, { seed: 3, rows: 100_000, dates: 60 });
    expect(audit.mismatchedFeatures).toEqual([]);
    const young = ds.symbols.indexOf('SYN07');
    const firstYoungDay = ds.start[ds.symbol.findIndex((s) => s === young)];
    expect(audit.datesChecked.length).toBe(63); // and the last 3 of every series
    expect(audit.datesChecked[0] <= ds.days[firstYoungDay]).toBe(true); // dates before and after SYN07's first row
    expect(audit.rowsChecked).toBeGreaterThan(300);
  });

  it('fails and names exactly the stored column overwritten with the forward 5-bar return', async () => {
    const c = ds.columns.indexOf('ret_5');
    const original = await readFeatureRows(t.store, set.version);
    const closes = new Map((await readBarSeries(t.store)).map((s) => [s.symbol, s]));
    const write = async (rows: typeof original) => {
      await t.store.db.transaction().execute(async (tx) => {
        for (const row of rows) await tx.updateTable('feature_rows').set({ vals: packValues(row.values) }).where('version', '=', set.version).where('symbol', '=', row.symbol).where('date', '=', row.date).execute();
      });
    };
    const leaked = original.map((row) => {
      const s = closes.get(row.symbol);
      if (!s) throw new Error(`no bars for ${row.symbol}`);
      const i = s.dates.indexOf(row.date);
      const values = row.values.slice();
      values[c] = i + 5 < s.close.length ? s.close[i + 5] / s.close[i] - 1 : NaN;
      return { ...row, values };
    });
    await write(leaked);
    try {
      const leakedDs = await buildTrainingDataset(t.store, { featureSetVersion: set.version, label });
      const audit = await auditPointInTime(t.store, leakedDs, { seed: 1 });
      expect(audit.passed).toBe(false);
      expect(named(audit)).toEqual(['ret_5']);
      expect(audit.mismatchedFeatures[0].rows).toBe(audit.rowsChecked);
      const e = audit.mismatchedFeatures[0].example;
      expect(sameFeatureValue(e.stored, e.recomputed, 1e-9)).toBe(false);
      expect(audit.message).toContain(`feature ret_5 on ${e.symbol} ${e.date} is `);
      expect(audit.message).toContain(`when recomputed from bars up to ${e.date}`);
      expect(audit.message).toMatch(/look-ahead/);
      // With pool threads (as materialisation computes features): the same verdict, rows and example.
      const threaded = await auditPointInTime(t.store, leakedDs, { seed: 1, threads: 2 });
      expect({ ...threaded, seconds: 0 }).toEqual({ ...audit, seconds: 0 });
    } finally {
      await write(original);
    }
    expect(unpackValues(packValues(original[0].values))).toEqual(original[0].values);
    expect((await auditPointInTime(t.store, await buildTrainingDataset(t.store, { featureSetVersion: set.version, label }), { seed: 1 })).passed).toBe(true);
  });

  it('fails, whatever the seed, on a feature wrong only on the last 3 dates of each series', async () => {
    const p = ds.columns.length;
    const c = ds.columns.indexOf('rsi_14');
    const lastDays = lastDaysOfSeries(ds, 3);
    const wrong = withColumn(ds, 'rsi_14', (r) => ds.values[r * p + c] + (lastDays.has(r) ? 1 : 0));
    for (const seed of [1, 2, 3, 4, 5]) {
      const audit = await auditPointInTime(t.store, wrong, { seed });
      expect(audit.passed).toBe(false);
      expect(named(audit)).toEqual(['rsi_14']);
      expect(audit.mismatchedFeatures[0].rows).toBe(lastDays.size);
    }
    // Without the newest days (as the audit sampled before), the spread sample misses it.
    const missed = await Promise.all([1, 2, 3, 4, 5].map(async (seed) => (await auditPointInTime(t.store, wrong, { seed, newest: 0 })).passed));
    expect(missed.filter(Boolean).length).toBeGreaterThanOrEqual(3);
  });

  it('fails on the end of a series that stops before the others (a delisted symbol)', async () => {
    // SYN03's rows end in mid-2017; its last 3 rows hold a wrong value.
    const stops = ds.symbols.indexOf('SYN03');
    const cut = withoutRows(ds, (r) => ds.symbol[r] === stops && ds.days[ds.start[r]] > '2017-06-15');
    const p = cut.columns.length;
    const c = cut.columns.indexOf('sma_ratio_20');
    const ends = lastDaysOfSeries(cut, 3);
    const endsOfStopped = [...ends].filter((r) => cut.symbol[r] === stops);
    expect(endsOfStopped.map((r) => cut.days[cut.start[r]]).every((d) => d <= '2017-06-15' && d > '2017-06-01')).toBe(true);
    const wrong = withColumn(cut, 'sma_ratio_20', (r) => cut.values[r * p + c] * (endsOfStopped.includes(r) ? 1.5 : 1));
    for (const seed of [1, 2, 3]) {
      const audit = await auditPointInTime(t.store, wrong, { seed });
      expect(named(audit)).toEqual(['sma_ratio_20']);
      expect(audit.mismatchedFeatures[0]).toMatchObject({ rows: 3, example: { symbol: 'SYN03' } });
      expect(audit.newestDatesChecked).toEqual(expect.arrayContaining(endsOfStopped.map((r) => cut.days[cut.start[r]])));
    }
  });

  it('fails and names the column that holds the label', async () => {
    const audit = await auditPointInTime(t.store, withColumn(ds, 'rsi_14', (r) => ds.labels[r]), { seed: 4 });
    expect(audit.passed).toBe(false);
    expect(named(audit)).toEqual(['rsi_14']);
  });

  it('refuses to audit against a stored definition this code would version otherwise (edited after materialising)', async () => {
    const row = await t.store.db.selectFrom('feature_sets').select('definition').where('version', '=', set.version).executeTakeFirstOrThrow();
    const edited = JSON.parse(row.definition) as { features: Array<{ kind: string; window?: number }> };
    const rsi = edited.features.find((f) => f.kind === 'rsi');
    if (!rsi) throw new Error('the default set has an rsi feature');
    rsi.window = 7; // the column keeps its stored name, rsi_14, in the dataset; recomputing it from this would be another feature
    await t.store.db.updateTable('feature_sets').set({ definition: JSON.stringify(edited) }).where('version', '=', set.version).execute();
    try {
      await expect(auditPointInTime(t.store, ds, { seed: 1 })).rejects.toThrow(`feature set ${set.version} was computed by another version of the feature code, or its stored definition was edited`);
    } finally {
      await t.store.db.updateTable('feature_sets').set({ definition: row.definition }).where('version', '=', set.version).execute();
    }
    expect((await auditPointInTime(t.store, ds, { seed: 1 })).passed).toBe(true);
  });

  describe('features computed from bars shifted one day forward (each reads bar t+1)', () => {
    let shifted: TestDatabase;
    let shiftedDs: TrainingDataset;
    beforeAll(async () => {
      shifted = await createSqliteTestDatabase();
      const bars = await readBars(t.store);
      const next = bars.flatMap((b, i) => (bars[i + 1]?.symbol === b.symbol ? [{ ...bars[i + 1], date: b.date }] : []));
      await upsertBars(shifted.store, next);
      shiftedDs = await prepare(shifted.store, set);
    });
    afterAll(async () => {
      await shifted?.drop();
    });

    it('fails on the whole dataset', async () => {
      const audit = await auditPointInTime(t.store, shiftedDs, { seed: 5 });
      expect(audit.passed).toBe(false);
      expect(named(audit)).toEqual(expect.arrayContaining(['ret_1', 'sma_ratio_20', 'rsi_14', 'mkt_breadth_50', 'ret_20_rank']));
    });

    it('names exactly the one column taken from it', async () => {
      const p = ds.columns.length;
      const c = ds.columns.indexOf('sma_ratio_20');
      const at = new Map<string, number>();
      for (let r = 0; r < shiftedDs.rows; r++) at.set(`${shiftedDs.symbols[shiftedDs.symbol[r]]} ${shiftedDs.days[shiftedDs.start[r]]}`, shiftedDs.values[r * p + c]);
      const audit = await auditPointInTime(t.store, withColumn(ds, 'sma_ratio_20', (r) => at.get(`${ds.symbols[ds.symbol[r]]} ${ds.days[ds.start[r]]}`) ?? NaN), { seed: 6 });
      expect(named(audit)).toEqual(['sma_ratio_20']);
    });
  });
});

describe('point-in-time audit of a set with a volatility index, news and no cross-sectional normalisation', () => {
  const context = defineFeatureSet({
    name: 'context',
    features: [
      { kind: 'return', horizon: 1 },
      { kind: 'sma_ratio', window: 20 },
      { kind: 'breadth', window: 20 },
      { kind: 'dispersion' },
      { kind: 'volatility_index', symbol: 'VIX' },
      { kind: 'news_sentiment', window: 3 },
    ],
  });
  let t: TestDatabase;
  let ds: TrainingDataset;
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    await importMarket(t.store);
    const vixDir = tempDir('mlp-pit-vix-');
    await writeSyntheticMarket(vixDir, { symbols: 1, from: '2015-01-02', to: '2017-12-29', seed: 11, plantErrors: false });
    const csv = fs.readFileSync(path.join(vixDir, 'SYN01.csv'), 'utf8').replace(/,SYN01$/gm, ',VIX');
    fs.writeFileSync(path.join(vixDir, 'VIX.csv'), csv);
    fs.rmSync(path.join(vixDir, 'SYN01.csv'));
    await importBars(t.store, request({ source: { kind: 'csv', path: vixDir } }));
    // Seeded headlines on about one day in five, for symbols and the whole market.
    const random = rng(17);
    const days = (await readBarSeries(t.store, { symbols: ['SYN01'] }))[0].dates;
    const headlines: Headline[] = [];
    days.forEach((d, i) => {
      if (random() > 0.2) return;
      const symbol = random() < 0.3 ? null : `SYN0${1 + Math.floor(random() * 7)}`;
      headlines.push({ id: `h${i}`, published: `${d} 10:00`, effectiveDate: d, symbol, headline: 'synthetic', score: Math.round((random() * 2 - 1) * 100) / 100 });
    });
    await saveHeadlines(t.store, headlines);
    ds = await prepare(t.store, context);
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('passes on clean data, computing rows only for the sampled symbols', async () => {
    const audit = await auditPointInTime(t.store, ds, { seed: 1, rows: 400, dates: 10 });
    expect(audit.mismatchedFeatures).toEqual([]);
    expect(audit.rowsChecked).toBe(rowsOn(ds, audit.datesChecked));
    expect(audit.rowsChecked).toBeGreaterThan(50);
    expect(audit.features).toBe(9);
  });

  it('fails on a volatility-index level joined one day late (the next close)', async () => {
    const vix = (await readBarSeries(t.store, { symbols: ['VIX'] }))[0];
    const next = new Map(vix.dates.map((d, i) => [d, vix.close[i + 1] ?? NaN]));
    const audit = await auditPointInTime(t.store, withColumn(ds, 'vix_level', (r) => next.get(ds.days[ds.start[r]]) ?? NaN), { seed: 2 });
    expect(named(audit)).toEqual(['vix_level']);
  });

  it('fails on a news column that counts the next day\'s headlines', async () => {
    const c = ds.columns.indexOf('news_count_3');
    const audit = await auditPointInTime(t.store, withColumn(ds, 'news_count_3', (r) => ds.values[r * ds.columns.length + c] + 1), { seed: 3 });
    expect(named(audit)).toEqual(['news_count_3']);
  });
});

describe('point-in-time audit on real data', () => {
  const run = hasSharedData ? it : it.skip;
  run(`passes on 40 symbols of the S&P 500 with the default feature set${hasSharedData ? '' : ` (skipped: ${SHARED_SP500_DIR} is absent)`}`, async () => {
    const dir = tempDir('mlp-pit-real-');
    for (const f of fs.readdirSync(SHARED_SP500_DIR).sort().slice(0, 40)) fs.copyFileSync(path.join(SHARED_SP500_DIR, f), path.join(dir, f));
    const t = await createSqliteTestDatabase();
    try {
      await importBars(t.store, request({ source: { kind: 'csv', path: dir } }));
      const ds = await prepare(t.store, set);
      const audit = await auditPointInTime(t.store, ds, { seed: 1 });
      console.log(`point-in-time audit on 40 real symbols: ${audit.rowsChecked} rows on ${audit.datesChecked.join(', ')} in ${audit.seconds.toFixed(2)} s`);
      expect(audit.mismatchedFeatures).toEqual([]);
      expect(audit.passed).toBe(true);
      // 200 spread over 6 dates, and all 40 symbols on the last 3 days (a spread date there shares its rows).
      expect(audit.rowsChecked).toBeGreaterThanOrEqual(200 + 3 * 40 - 40);
      expect(audit.rowsChecked).toBeLessThanOrEqual(200 + 3 * 40);
      expect(audit.seconds).toBeLessThan(60);
    } finally {
      await t.drop();
    }
  });
});
