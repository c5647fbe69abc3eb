/**
 * With MODEL_SIGNING_KEY live monitoring judges nothing on bars no held key vouches for, and says so
 * with bars_unverified: a warning when the bars are only unsigned (written before signing), critical
 * when edited, naming every refused symbol. Freshness too: the newest bar of a symbol is its newest
 * verified one, so a forged bar dated today does not silence data_stale. Both drivers.
 */
import { MemoryCache } from '../../lib/cache/memory-cache';
import { computeModelReport } from '../../lib/monitoring/model-report';
import { dataSubject, evaluateModelReport, parseMonitoringRules } from '../../lib/monitoring/monitoring-rules';
import { signStoredBars } from '../../lib/store/bar-signature';
import { openDatabase, type Database } from '../../lib/store/database';
import { readBarSeries } from '../../lib/store/bars';
import { signedLogRow } from '../helpers/signed-log';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket } from '../helpers/oracle-models';

const SIGNING = { signingKey: 'monitoring-bar-signing-key-0123456789abcdef-0' };

describe.each(DRIVERS)('live monitoring on bars no key vouches for, on %s', (_driver, create) => {
  let t: TestDatabase;
  let signed: Database;
  let market: Awaited<ReturnType<typeof setUpOracleMarket>>;
  let version: number;
  let dates: string[];
  const rules = parseMonitoringRules({});
  const report = async (store: Database = signed) => {
    const now = new Date(`${dates[99]}T23:30:00Z`);
    const r = await computeModelReport(store, { id: `mr-${now.getTime()}-${Math.random()}`, target: { model: 'watched', version, variants: ['champion'], champion: true }, windowDays: 10, rules, now, verify: {} });
    return { report: r, alerts: evaluateModelReport(r, rules).findings.map((f) => f.alert) };
  };
  const barsAlerts = (alerts: Array<{ rule: string; severity: string; message: string; evidence?: unknown }>) => alerts.filter((x) => x.rule === 'bars_unverified');
  const logPredictions = async () => {
    const logged = dates.slice(80, 95).flatMap((asOf) => market.symbols.map((symbol, k) => ({ id: `${asOf}-${symbol}:champion`, request_id: `${asOf}-${symbol}`, model: 'watched', version, variant: 'champion', served: 1, symbol, routing_key: symbol, as_of: asOf, probability: k % 2 === 0 ? 0.7 : 0.3, predicted_class: k % 2 === 0 ? 1 : 0, latency_us: 100, error: null, created_at: `${asOf}T21:00:00.000Z` })));
    // Signed as the API logs them under the key (an unsigned log row would be refused on its own).
    await signed.db.insertInto('prediction_log').values(logged.map((r) => signedLogRow(SIGNING, r))).execute();
  };

  beforeEach(async () => {
    t = await create();
    signed = await openDatabase(t.url, { signing: SIGNING });
    market = await setUpOracleMarket(t.store, new MemoryCache(), 6);
    version = await registerOracleModel(t.store, tempDir('mlp-bars-unverified-'), { name: 'watched', seed: 1, flip: false, featureSetVersion: market.featureSetVersion });
    dates = (await readBarSeries(t.store, { symbols: market.symbols }))[0].dates;
    await t.store.db.deleteFrom('bars').where('date', '>', dates[99]).execute();
    await signStoredBars(signed, SIGNING, { acceptUnsigned: true });
  });
  afterEach(async () => {
    await signed?.close();
    await t?.drop();
  });

  it('dates a symbol by its newest verified bar: a forged bar dated today does not silence data_stale, and bars_unverified names it', async () => {
    const [a] = market.symbols;
    // The feed of `a` stopped five sessions ago.
    await t.store.db.deleteFrom('bars').where('symbol', '=', a).where('date', '>', dates[94]).execute();
    const stopped = await report();
    expect(stopped.report.freshness.stalest.map((s) => [s.symbol, s.newest])).toEqual([[a, dates[94]]]);
    expect(stopped.alerts.filter((x) => x.rule === 'data_stale')).toHaveLength(1);
    expect(barsAlerts(stopped.alerts)).toEqual([]);

    // Someone with write access but not the key adds a bar of `a` dated today.
    await t.store.db.insertInto('bars').values({ symbol: a, date: dates[99], open: 100, high: 101, low: 99, close: 100, volume: 1000 }).execute();
    // Without a key it counts, as before.
    const keyless = await report(t.store);
    expect(keyless.report.freshness.staleSymbols).toBe(0);

    const { report: r, alerts } = await report();
    expect(r.freshness.stalest.map((s) => [s.symbol, s.newest])).toEqual([[a, dates[94]]]);
    expect(alerts.filter((x) => x.rule === 'data_stale').map((x) => x.subject)).toEqual([dataSubject('watched')]);
    expect(r.freshness.unverifiedBars).toMatchObject({ bars: 1, symbols: [a], problems: ['edited'] });
    const [named] = barsAlerts(alerts);
    expect(named).toMatchObject({ severity: 'critical', subject: 'bars of model watched' });
    expect(named.message).toContain(`${a} on ${dates[99]}`);
  });

  it('raises bars_unverified as a warning for bars only unsigned (from before signing), critical for edited ones', async () => {
    await logPredictions();
    const [, , c] = market.symbols;
    // Every bar of `c` unsigned, as written before signing began: not tampering, a pending upgrade.
    await t.store.db.updateTable('bars').set({ signature: null, signature_key_id: null }).where('symbol', '=', c).execute();
    const unsigned = await report();
    expect(unsigned.report.performance.unverifiedBars).toMatchObject({ symbols: [c], problems: ['unsigned'] });
    expect(barsAlerts(unsigned.alerts).map((x) => x.severity)).toEqual(['warning']);

    await signStoredBars(signed, SIGNING, { acceptUnsigned: true });
    await t.store.db.updateTable('bars').set({ close: 1 }).where('symbol', '=', c).where('date', 'in', [dates[88], dates[89]]).execute();
    const edited = await report();
    expect(edited.report.performance.unverifiedBars).toMatchObject({ symbols: [c], problems: ['edited'] });
    expect(barsAlerts(edited.alerts).map((x) => x.severity)).toEqual(['critical']);
  });

  it('names every refused symbol: two symbols edited, both named', async () => {
    await logPredictions();
    const [, b, c] = market.symbols;
    await t.store.db.updateTable('bars').set({ close: 1 }).where('symbol', '=', b).where('date', '=', dates[85]).execute();
    await t.store.db.updateTable('bars').set({ close: 1 }).where('symbol', '=', c).where('date', 'in', [dates[88], dates[89]]).execute();
    const { report: r, alerts } = await report();
    expect(r.performance.unverifiedBars).toMatchObject({ bars: 3, symbols: [b, c].sort(), problems: ['edited'] });
    const [named] = barsAlerts(alerts);
    expect(named.message).toContain(`${b} on ${dates[85]}`);
    expect(named.message).toContain(`${c}, 2 bars from ${dates[88]} to ${dates[89]}`);
    expect(named.evidence).toMatchObject({ symbols: [b, c].sort() });
  });
});
