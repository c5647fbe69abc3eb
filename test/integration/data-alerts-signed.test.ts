/**
 * With MODEL_SIGNING_KEY, a stale-bars alert (data_stale) holds a model's deployments until the bars
 * it found missing have arrived, signed: a monitoring_reports row saying "fresh" (those rows are not
 * signed) is not enough, else a report written by SQL released the hold while the feed stayed
 * stopped; nor are the symbols one alert names when two served versions are stale. Both drivers.
 */
import { raiseAlert } from '../../lib/alerts/alert-store';
import type { Bar } from '../../lib/market-data/bar';
import { dataAlertsHolding } from '../../lib/monitoring/data-alerts';
import { freshnessOf } from '../../lib/monitoring/freshness';
import { dataSubject } from '../../lib/monitoring/monitoring-rules';
import type { RowSigning } from '../../lib/registry/row-signature';
import { newestVerifiedBarDates, upsertBars } from '../../lib/store/bars';
import { openDatabase, type Database } from '../../lib/store/database';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { oracleFeatureSet, registerOracleModel } from '../helpers/oracle-models';
import { saveTestFeatureSet } from '../helpers/registration';

const SIGNING: RowSigning = { signingKey: 'data-alert-signing-key-0123456789abcdef-01' };
const T0 = new Date('2026-03-02T23:05:00.000Z'); // Monday 18:05 New York: the 2026-03-02 bar is due
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);
const runPrefix = (n: number) => `mr-${n.toString(16).padStart(16, '0')}-`;
const SYMBOLS = ['AAA', 'BBB'];
const bar = (symbol: string, date: string): Bar => ({ symbol, date, open: 10, high: 11, low: 9, close: 10.5, volume: 1000 });

describe.each(DRIVERS)('data alerts holding deployments, with the key (%s)', (_driver, create) => {
  let t: TestDatabase;
  let signed: Database;
  beforeEach(async () => {
    t = await create();
    signed = await openDatabase(t.url, { signing: SIGNING });
    // v1 of m, trained on both symbols, serves.
    const featureSetVersion = (await saveTestFeatureSet(signed, oracleFeatureSet('one-version'))).version;
    await registerOracleModel(signed, tempDir('data-alerts-one-'), { name: 'm', seed: 1, flip: false, featureSetVersion, lineage: { universe: { trained: SYMBOLS } }, signing: SIGNING });
    const cache = new MemoryCache();
    await writeServingRoutes(signed, cache, { model: 'm', mode: 'single', routes: singleRoute(1), updatedBy: 'deployment d-1', reason: 'promote v1', signing: SIGNING });
    await cache.close();
    // Signed bars up to Friday: Monday's are missing at 18:05.
    await upsertBars(signed, SYMBOLS.flatMap((s) => ['2026-02-25', '2026-02-26', '2026-02-27'].map((d) => bar(s, d))));
  });
  afterEach(async () => {
    await signed?.close();
    await t?.drop();
  });

  async function report(store: Database, run: number, minutes: number, freshness: string): Promise<void> {
    const id = `${runPrefix(run)}m-v1`;
    await store.db.insertInto('monitoring_reports').values({ id, model: 'm', version: 1, report: JSON.stringify({ id, freshness: { status: freshness } }), created_at: at(minutes).toISOString() }).execute();
  }
  /** What a monitoring run at T0 raises: freshness from the verified bars, the data_stale alert with it as evidence. */
  async function staleAlert(): Promise<string> {
    await report(signed, 1, -1, 'stale');
    const fresh = freshnessOf((await newestVerifiedBarDates(signed, SYMBOLS, SIGNING)).newest, T0);
    expect(fresh.status).toBe('stale');
    const raised = await raiseAlert(signed, { rule: 'data_stale', severity: 'warning', subject: dataSubject('m'), message: `bars for m: ${fresh.reason}`, evidence: { reportId: `${runPrefix(1)}m-v1`, ...fresh } }, { now: T0 });
    return raised.id;
  }
  const holding = async () => (await dataAlertsHolding(signed, 'm')).holding.map((a) => a.rule);

  it('keeps holding when a later report row says fresh but no signed bar arrived', async () => {
    await staleAlert();
    // A database writer adds a later run's report saying fresh, and unsigned bars for Monday.
    await report(t.store, 2, 60, 'fresh');
    expect(await holding()).toEqual(['data_stale']);
    await upsertBars(t.store, SYMBOLS.map((s) => bar(s, '2026-03-02')));
    expect(await holding()).toEqual(['data_stale']);
  });

  it('lets go once the missing bars arrived signed and a later monitoring run found them fresh', async () => {
    const id = await staleAlert();
    await upsertBars(signed, [bar('AAA', '2026-03-02')]);
    await report(signed, 2, 60, 'fresh');
    // One of the two symbols is still behind.
    expect(await holding()).toEqual(['data_stale']);
    await upsertBars(signed, [bar('BBB', '2026-03-02')]);
    const result = await dataAlertsHolding(signed, 'm');
    expect(result.holding).toEqual([]);
    expect(result.over.map((o) => o.alert.id)).toEqual([id]);
  });

  it('keeps holding when the alert row itself was edited (its evidence names no stale symbol)', async () => {
    const id = await staleAlert();
    await upsertBars(signed, [bar('AAA', '2026-03-02')]);
    await report(signed, 2, 60, 'fresh');
    const row = await t.store.db.selectFrom('alerts').select('evidence').where('id', '=', id).executeTakeFirstOrThrow();
    const evidence = JSON.parse(row.evidence) as { stalest: Array<{ symbol: string }> };
    await t.store.db.updateTable('alerts').set({ evidence: JSON.stringify({ ...evidence, stalest: evidence.stalest.filter((s) => s.symbol === 'AAA') }) }).where('id', '=', id).execute();
    expect(await holding()).toEqual(['data_stale']);
  });

  it('keeps holding when the serving routes row was deleted (which versions serve cannot be told)', async () => {
    await staleAlert();
    await upsertBars(signed, SYMBOLS.map((s) => bar(s, '2026-03-02')));
    await report(signed, 2, 60, 'fresh');
    await t.store.db.deleteFrom('serving_routes').where('model', '=', 'm').execute();
    expect(await holding()).toEqual(['data_stale']);
  });
});

/**
 * Champion and challenger both served, both stale: monitoring raises data_stale per version's report
 * under one subject per model, so the challenger's is suppressed by the champion's and the open alert
 * names only the champion's symbols. The hold must end on verified bars for every served version.
 */
describe.each(DRIVERS)('a stale-bars hold over two served versions, with the key (%s)', (_driver, create) => {
  let t: TestDatabase;
  let signed: Database;
  let cache: MemoryCache;
  beforeEach(async () => {
    t = await create();
    signed = await openDatabase(t.url, { signing: SIGNING });
    cache = new MemoryCache();
    const featureSetVersion = (await saveTestFeatureSet(signed, oracleFeatureSet('two-versions'))).version;
    const dir = tempDir('data-alerts-two-');
    // v1 trained on AAA, v2 on BBB; v2 at a canary's weight.
    for (const [seed, symbol] of [[1, 'AAA'], [2, 'BBB']] as const) await registerOracleModel(signed, dir, { name: 'm', seed, flip: false, featureSetVersion, lineage: { universe: { trained: [symbol] } }, signing: SIGNING });
    await writeServingRoutes(signed, cache, { model: 'm', mode: 'canary', routes: [{ variant: 'champion', version: 1, weight: 0.9 }, { variant: 'canary', version: 2, weight: 0.1 }], updatedBy: 'deployment d-2', reason: 'canary', signing: SIGNING });
    await upsertBars(signed, SYMBOLS.flatMap((s) => ['2026-02-26', '2026-02-27'].map((d) => bar(s, d))));
  });
  afterEach(async () => {
    await cache?.close();
    await signed?.close();
    await t?.drop();
  });

  async function report(store: Database, run: number, version: number, minutes: number, freshness: string): Promise<void> {
    const id = `${runPrefix(run)}m-v${version}`;
    await store.db.insertInto('monitoring_reports').values({ id, model: 'm', version, report: JSON.stringify({ id, freshness: { status: freshness } }), created_at: at(minutes).toISOString() }).execute();
  }
  /** Monitoring run 1 at T0: each version's report and data_stale alert, as monitoring raises them (the second is suppressed). */
  async function bothStale(): Promise<string> {
    const raised = [];
    for (const [version, symbol] of [[1, 'AAA'], [2, 'BBB']] as const) {
      await report(signed, 1, version, -1, 'stale');
      const fresh = freshnessOf((await newestVerifiedBarDates(signed, [symbol], SIGNING)).newest, T0);
      raised.push(await raiseAlert(signed, { rule: 'data_stale', severity: 'warning', subject: dataSubject('m'), message: `bars for m: ${fresh.reason}`, evidence: { reportId: `${runPrefix(1)}m-v${version}`, ...fresh, allowedLagDays: 0 }, cooldownSeconds: 4 * 3600 }, { now: T0 }));
    }
    expect(raised.map((r) => r.suppressed)).toEqual([false, true]);
    return raised[0].id;
  }
  const holding = async () => (await dataAlertsHolding(signed, 'm', undefined, at(90))).holding.map((a) => a.rule);

  it("keeps holding while the challenger's feed stays stopped, whatever reports say", async () => {
    await bothStale();
    // The champion's symbol gets its bar, signed; a database writer adds run 2's reports saying fresh.
    await upsertBars(signed, [bar('AAA', '2026-03-02')]);
    await report(t.store, 2, 1, 60, 'fresh');
    await report(t.store, 2, 2, 60, 'fresh');
    const result = await dataAlertsHolding(signed, 'm', undefined, at(90));
    expect(result.holding.map((a) => a.rule)).toEqual(['data_stale']);
  });

  it('lets go once every served version has its bars, signed, and a later run found them fresh', async () => {
    const id = await bothStale();
    await upsertBars(signed, SYMBOLS.map((s) => bar(s, '2026-03-02')));
    await report(signed, 2, 1, 60, 'fresh');
    await report(signed, 2, 2, 60, 'fresh');
    const result = await dataAlertsHolding(signed, 'm', undefined, at(90));
    expect(result.holding).toEqual([]);
    expect(result.over.map((o) => o.alert.id)).toEqual([id]);
  });

  it('keeps holding when the routes were edited to leave the stale version out', async () => {
    await bothStale();
    await upsertBars(signed, [bar('AAA', '2026-03-02')]);
    await report(t.store, 2, 1, 60, 'fresh');
    const row = await t.store.db.selectFrom('serving_routes').select('routes').where('model', '=', 'm').executeTakeFirstOrThrow();
    const edited = { ...(JSON.parse(row.routes) as object), mode: 'single', routes: [{ variant: 'champion', version: 1, weight: 1 }] };
    await t.store.db.updateTable('serving_routes').set({ routes: JSON.stringify(edited) }).where('model', '=', 'm').execute();
    expect(await holding()).toEqual(['data_stale']);
  });

  // A signed routes row verifies on its own: an older generation serving v1 alone, written back, left
  // the stale challenger out of the check and released the hold.
  it('keeps holding when an older signed routes row serving fewer versions was written back', async () => {
    await writeServingRoutes(signed, cache, { model: 'm', mode: 'single', routes: singleRoute(1), updatedBy: 'deployment d-1', reason: 'promote v1', signing: SIGNING });
    const older = await t.store.db.selectFrom('serving_routes').selectAll().where('model', '=', 'm').executeTakeFirstOrThrow();
    await writeServingRoutes(signed, cache, { model: 'm', mode: 'canary', routes: [{ variant: 'champion', version: 1, weight: 0.9 }, { variant: 'canary', version: 2, weight: 0.1 }], updatedBy: 'deployment d-3', reason: 'canary again', signing: SIGNING });
    await bothStale();
    await upsertBars(signed, [bar('AAA', '2026-03-02')]);
    await report(t.store, 2, 1, 60, 'fresh');
    await report(t.store, 2, 2, 60, 'fresh');
    await t.store.db.updateTable('serving_routes').set({ ...older }).where('model', '=', 'm').execute();
    expect(await holding()).toEqual(['data_stale']);
  });

  it("allows the lag monitoring allowed, as its evidence records it", async () => {
    // Rules allowing one session of lag: at Tuesday 18:05 AAA and BBB have Friday's bar, two sessions behind.
    const tuesday = new Date('2026-03-03T23:05:00.000Z');
    await report(signed, 1, 1, 24 * 60 - 1, 'stale');
    const fresh = freshnessOf((await newestVerifiedBarDates(signed, SYMBOLS, SIGNING)).newest, tuesday, { maxLagDays: 1, graceMinutes: 120 });
    expect(fresh.status).toBe('stale');
    await raiseAlert(signed, { rule: 'data_stale', severity: 'warning', subject: dataSubject('m'), message: `bars for m: ${fresh.reason}`, evidence: { reportId: `${runPrefix(1)}m-v1`, ...fresh, allowedLagDays: 1 } }, { now: tuesday });
    // Monday's bars arrive (one session behind Tuesday's, allowed), and a later run found them fresh.
    await upsertBars(signed, SYMBOLS.map((s) => bar(s, '2026-03-02')));
    await report(signed, 2, 1, 24 * 60 + 60, 'fresh');
    await report(signed, 2, 2, 24 * 60 + 60, 'fresh');
    expect((await dataAlertsHolding(signed, 'm', undefined, new Date(tuesday.getTime() + 90 * 60_000))).holding).toEqual([]);
  });
});

/**
 * The hold judges what monitoring judges now: a symbol whose bars ended before training did counts
 * only when asked about within the performance lookback before now (the alert records the days),
 * not within a window anchored at the alert, which never moved and held a deployment for good.
 */
describe.each(DRIVERS)('a stale-bars hold over a delisted symbol asked about once, with the key (%s)', (_driver, create) => {
  const DAY = 86_400_000;
  let t: TestDatabase;
  let signed: Database;
  beforeEach(async () => {
    t = await create();
    signed = await openDatabase(t.url, { signing: SIGNING });
    const featureSetVersion = (await saveTestFeatureSet(signed, oracleFeatureSet('delisted'))).version;
    await registerOracleModel(signed, tempDir('data-alerts-delisted-'), { name: 'm', seed: 1, flip: false, featureSetVersion, lineage: { universe: { trained: ['AAA', 'CCC'] }, trainedThrough: '2026-01-30' }, signing: SIGNING });
    const cache = new MemoryCache();
    await writeServingRoutes(signed, cache, { model: 'm', mode: 'single', routes: singleRoute(1), updatedBy: 'deployment d-1', reason: 'promote v1', signing: SIGNING });
    await cache.close();
    // CCC delisted mid-January, before training ended; AAA's bars to Friday.
    await upsertBars(signed, [...['2026-01-14', '2026-01-15'].map((d) => bar('CCC', d)), ...['2026-02-26', '2026-02-27'].map((d) => bar('AAA', d))]);
  });
  afterEach(async () => {
    await signed?.close();
    await t?.drop();
  });

  async function raiseStale(lookbackDays: number | undefined, askedDaysBefore: number): Promise<void> {
    await signed.db.insertInto('prediction_log').values({ id: 'r1:champion', request_id: 'r1', model: 'm', version: 1, variant: 'champion', served: 1, symbol: 'CCC', routing_key: 'k', as_of: '2026-01-09', probability: 0.5, predicted_class: 1, latency_us: 1, error: null, created_at: new Date(T0.getTime() - askedDaysBefore * DAY).toISOString() }).execute();
    await signed.db.insertInto('monitoring_reports').values({ id: `${runPrefix(1)}m-v1`, model: 'm', version: 1, report: JSON.stringify({ freshness: { status: 'stale' } }), created_at: at(-1).toISOString() }).execute();
    const fresh = freshnessOf(new Map([['AAA', '2026-02-27']]), T0);
    await raiseAlert(signed, { rule: 'data_stale', severity: 'warning', subject: dataSubject('m'), message: fresh.reason, evidence: { reportId: `${runPrefix(1)}m-v1`, ...fresh, allowedLagDays: 0, ...(lookbackDays !== undefined ? { lookbackDays } : {}) } }, { now: T0 });
    // The feed recovers; 11 days later a monitoring run says fresh.
    await upsertBars(signed, ['2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05', '2026-03-06', '2026-03-09', '2026-03-10', '2026-03-11', '2026-03-12', '2026-03-13'].map((d) => bar('AAA', d)));
    await signed.db.insertInto('monitoring_reports').values({ id: `${runPrefix(2)}m-v1`, model: 'm', version: 1, report: JSON.stringify({ freshness: { status: 'fresh' } }), created_at: new Date(T0.getTime() + 11 * DAY).toISOString() }).execute();
  }
  const holdingAt = async (days: number) => (await dataAlertsHolding(signed, 'm', undefined, new Date(T0.getTime() + days * DAY))).holding.length;

  it('lets go once the request is older than the lookback before now (60 days for an alert that records none)', async () => {
    await raiseStale(undefined, 50);
    // T0+11d: the request was 61 days ago, outside monitoring's 60-day lookback.
    expect(await holdingAt(11)).toBe(0);
    expect(await holdingAt(365)).toBe(0);
  });

  it('judges the symbol while it is inside the lookback the alert records, and not after', async () => {
    await raiseStale(90, 50);
    expect(await holdingAt(11)).toBe(1); // asked 61 days ago: inside 90
    expect(await holdingAt(41)).toBe(0); // asked 91 days ago
  });
});
