/**
 * Headlines published between a 13:00 early close and 16:00 belong to the next trading day. The
 * ones stored before the calendar knew early closes are moved by migration 0015, the same headline
 * imported again (or any import, for rows stored before stories were keyed) is moved by
 * saveHeadlines, and either way the stored feature rows they changed are
 * marked stale, so the next materialisation gives the rows of a full recomputation.
 */
import { Migrator } from 'kysely';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { defineFeatureSet, type FeatureSet } from '../../lib/features/feature-set';
import { computeFromInputs, loadFeatureInputs, materializeFeatures } from '../../lib/features/materialize';
import { parseHeadlinesCsv, type Headline } from '../../lib/news/headlines';
import type { Bar } from '../../lib/market-data/bar';
import { upsertBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { readFeatureProgress, readFeatureRows } from '../../lib/store/features';
import { migrationProvider } from '../../lib/store/migrations';
import { readHeadlines, saveHeadlines } from '../../lib/store/news';
import { DRIVERS, type TestDatabase } from '../helpers/databases';

const DAYS = nyseTradingDaysBetween('2017-10-02', '2019-01-31');
const BARS: Bar[] = ['AAA', 'BBB', 'CCC'].flatMap((symbol, k) =>
  DAYS.map((date, i) => {
    const close = 50 + 10 * k + 3 * Math.sin(i / 7 + k);
    return { symbol, date, open: close * 0.995, high: close * 1.01, low: close * 0.99, close, volume: 1_000_000 + 1000 * i };
  }),
);
const NEWS = defineFeatureSet({ name: 'news-early', features: [{ kind: 'return', horizon: 1 }, { kind: 'news_sentiment', window: 1 }] });
const PLAIN = defineFeatureSet({ name: 'plain-early', features: [{ kind: 'return', horizon: 1 }] });

// AAA's headline 14:30 on the day after Thanksgiving 2017 and market-wide news 13:45 on Christmas Eve
// 2018 (both closed at 13:00), and headlines that keep their day.
const { headlines: PARSED } = parseHeadlinesCsv(
  'date,time,symbol,headline\n' +
    '2017-11-24,14:30,AAA,AAA plunges after lawsuit and downgrade\n' +
    '2017-11-24,12:30,BBB,BBB beats estimates\n' +
    '2018-12-24,13:45,,Stocks plunge on shutdown fears\n' +
    '2017-11-22,15:00,CCC,CCC upgraded\n' +
    '2017-11-24,,CCC,CCC recall\n',
  'news.csv',
);
/** What an import stored before early closes were known: the day itself whenever before 16:00. */
const STORED_BEFORE: Headline[] = PARSED.map((h) => (h.published.length === 16 && h.published.slice(11) < '16:00' ? { ...h, effectiveDate: h.published.slice(0, 10) } : h));
const EXPECTED_DATES = { 'AAA plunges after lawsuit and downgrade': '2017-11-27', 'BBB beats estimates': '2017-11-24', 'Stocks plunge on shutdown fears': '2018-12-26', 'CCC upgraded': '2017-11-22', 'CCC recall': '2017-11-27' };

/** The headlines as imports stored them then: the columns of 0003, no story key (saveHeadlines computes the dates now). */
async function insertAsStoredBefore(store: Database): Promise<void> {
  await store.db
    .insertInto('news_headlines')
    .values(STORED_BEFORE.map((h) => ({ id: h.id, published: h.published, effective_date: h.effectiveDate, symbol: h.symbol, headline: h.headline, score: h.score })))
    .execute();
}

async function effectiveDates(store: Database): Promise<Record<string, string>> {
  return Object.fromEntries((await readHeadlines(store)).map((h) => [h.headline, h.effectiveDate]));
}

async function staleMarks(store: Database, set: FeatureSet): Promise<Record<string, string | null>> {
  return Object.fromEntries([...(await readFeatureProgress(store, set.version))].map(([symbol, p]) => [symbol, p.staleFrom]));
}

async function newsSentiment(store: Database, symbol: string, date: string): Promise<number> {
  const [row] = await readFeatureRows(store, NEWS.version, { symbols: [symbol], from: date, to: date });
  return row.values[1];
}

/** The stored rows equal those of a computation from scratch over what the store holds now. */
async function expectFullRecomputation(store: Database): Promise<void> {
  const computed = await computeFromInputs(NEWS, await loadFeatureInputs(store, NEWS));
  const stored = await readFeatureRows(store, NEWS.version);
  const fresh = computed.frames.flatMap((f) => f.dates.map((date, r) => ({ symbol: f.symbol, date, values: f.columns.map((c) => c[r]) })));
  expect(stored.map((r) => ({ symbol: r.symbol, date: r.date, values: Array.from(r.values) }))).toEqual(fresh);
}

describe.each(DRIVERS)('news effective dates on early closes (%s)', (_name, create) => {
  let t: TestDatabase | undefined;
  afterEach(async () => {
    await t?.drop();
    t = undefined;
  });

  it('migration 0015 moves the headlines stored before, and the rows they changed are recomputed', async () => {
    t = await create();
    const migrator = new Migrator({ db: t.store.db, provider: migrationProvider });
    expect((await migrator.migrateTo('0014_deployment_analyses')).error).toBeUndefined();
    // The bars as that schema held them (today's writer also sets columns added since, as event_time).
    for (let i = 0; i < BARS.length; i += 500) await t.store.db.insertInto('bars').values(BARS.slice(i, i + 500)).execute();
    await insertAsStoredBefore(t.store);
    await materializeFeatures(t.store, NEWS);
    await materializeFeatures(t.store, PLAIN);
    // The leak as it was: AAA's headline of 14:30 in its features of 2017-11-24, whose close was at 13:00.
    expect(await newsSentiment(t.store, 'AAA', '2017-11-24')).toBeLessThan(0);

    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    expect(await effectiveDates(t.store)).toEqual(EXPECTED_DATES);
    // AAA from the day its headline left; every symbol from the day the market-wide one left.
    expect(await staleMarks(t.store, NEWS)).toEqual({ AAA: '2017-11-24', BBB: '2018-12-24', CCC: '2018-12-24' });
    expect(await staleMarks(t.store, PLAIN)).toEqual({ AAA: null, BBB: null, CCC: null });

    const report = await materializeFeatures(t.store, NEWS);
    expect(report.recomputedFrom).toBe('2017-11-24');
    expect(report.rowsRecomputed).toBeGreaterThan(0);
    expect(await newsSentiment(t.store, 'AAA', '2017-11-24')).toBe(0);
    expect(await newsSentiment(t.store, 'AAA', '2017-11-27')).toBeLessThan(0);
    await expectFullRecomputation(t.store);
    expect(await staleMarks(t.store, NEWS)).toEqual({ AAA: null, BBB: null, CCC: null });
    // Run again, nothing is left to move.
    expect((await migrator.migrateTo('0014_deployment_analyses')).error).toBeUndefined();
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    expect(await staleMarks(t.store, NEWS)).toEqual({ AAA: null, BBB: null, CCC: null });
  });

  it('a headline imported again gets its corrected date, and one imported after the rows were computed reaches them', async () => {
    t = await create();
    await upsertBars(t.store, BARS);
    await insertAsStoredBefore(t.store);
    await materializeFeatures(t.store, NEWS);
    expect(await newsSentiment(t.store, 'AAA', '2017-11-24')).toBeLessThan(0);

    await saveHeadlines(t.store, PARSED);
    expect(await effectiveDates(t.store)).toEqual(EXPECTED_DATES);
    expect(await staleMarks(t.store, NEWS)).toEqual({ AAA: '2017-11-24', BBB: '2018-12-24', CCC: '2018-12-24' });
    await materializeFeatures(t.store, NEWS);
    expect(await newsSentiment(t.store, 'AAA', '2017-11-24')).toBe(0);
    await expectFullRecomputation(t.store);

    const late = parseHeadlinesCsv('date,time,symbol,headline\n2018-06-01,10:00,BBB,BBB recall and lawsuit\n', 'late.csv').headlines;
    await saveHeadlines(t.store, late);
    expect(await staleMarks(t.store, NEWS)).toEqual({ AAA: null, BBB: '2018-06-01', CCC: null });
    await materializeFeatures(t.store, NEWS);
    expect(await newsSentiment(t.store, 'BBB', '2018-06-01')).toBeLessThan(0);
    await expectFullRecomputation(t.store);
  });
});
