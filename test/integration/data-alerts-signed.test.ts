/**
 * With MODEL_SIGNING_KEY, a stale-bars alert (data_stale) holds a model's deployments until the bars
 * it found missing have arrived, signed: a monitoring_reports row saying "fresh" (those rows are not
 * signed) is not enough, else a report written by SQL released the hold while the feed stayed
 * stopped. Both drivers.
 */
import { raiseAlert } from '../../lib/alerts/alert-store';
import type { Bar } from '../../lib/market-data/bar';
import { dataAlertsHolding } from '../../lib/monitoring/data-alerts';
import { freshnessOf } from '../../lib/monitoring/freshness';
import { dataSubject } from '../../lib/monitoring/monitoring-rules';
import type { RowSigning } from '../../lib/registry/row-signature';
import { newestVerifiedBarDates, upsertBars } from '../../lib/store/bars';
import { openDatabase, type Database } from '../../lib/store/database';
import { DRIVERS, type TestDatabase } from '../helpers/databases';

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
});
