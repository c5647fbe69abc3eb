/**
 * The stream's recorded outcomes wait for a late bar: a prediction whose horizon lacks a session's
 * bar while later bars are stored was written once as "no outcome" and never labelled, although
 * streams deliver out of order and monitoring labelled it once the bar came. It is written when the
 * bar arrives, or unlabelled once the symbol's bars reach MISSING_BAR_GRACE_DAYS past its date.
 */
import crypto from 'node:crypto';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { readBarSeries, upsertBars } from '../../lib/store/bars';
import { OutcomeRecorder } from '../../lib/streaming/outcome-recorder';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket } from '../helpers/oracle-models';

describe('recorded outcomes and a late bar inside the horizon (SQLite)', () => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('labels the prediction when the late bar arrives; writes it unlabelled only once the gap is old', async () => {
    const artifactDir = tempDir('mlp-outcome-late-');
    const market = await setUpOracleMarket(t.store, new MemoryCache(), 3);
    const v = await registerOracleModel(t.store, artifactDir, { name: 'late-bar', seed: 3, flip: false, featureSetVersion: market.featureSetVersion });
    const [s] = await readBarSeries(t.store, { symbols: [market.symbols[0]] });
    const log = async (asOf: string) => {
      const rid = crypto.randomBytes(8).toString('hex');
      await t.store.db.insertInto('prediction_log').values({ id: `${rid}:champion`, request_id: rid, model: 'late-bar', version: v, variant: 'champion', served: 1, symbol: s.symbol, routing_key: s.symbol, as_of: asOf, probability: 0.8, predicted_class: 1, latency_us: 1, error: null, created_at: new Date().toISOString() }).execute();
    };
    const barAt = (k: number) => ({ symbol: s.symbol, date: s.dates[k], open: s.open[k], high: s.high[k], low: s.low[k], close: s.close[k], volume: s.volume[k] });
    const outcomes = async () => (await t.store.db.selectFrom('prediction_outcomes').select(['as_of', 'outcome']).orderBy('as_of').execute()).map((r) => [r.as_of, r.outcome === null ? null : Number(r.outcome)]);
    const recorder = new OutcomeRecorder(t.store, { artifacts: localArtifactStore(artifactDir) });

    // Twelve sessions before the newest bar, a session of its 5-session horizon missing (held back by the stream).
    const t0 = s.dates.length - 12;
    await t.store.db.deleteFrom('bars').where('symbol', '=', s.symbol).where('date', '=', s.dates[t0 + 3]).execute();
    await log(s.dates[t0]);
    expect(await recorder.recordFor([s.symbol])).toMatchObject({ recorded: 0 });
    expect(await outcomes()).toEqual([]);
    await upsertBars(t.store, [barAt(t0 + 3)]);
    expect(await recorder.recordFor([s.symbol])).toMatchObject({ recorded: 1 });
    const label = s.close[t0 + 5] > s.open[t0 + 1] ? 1 : 0;
    expect(await outcomes()).toEqual([[s.dates[t0], label]]);

    // A gap whose symbol's bars reach more than 30 days past the prediction: final, written unlabelled.
    const old = s.dates.length - 60;
    await t.store.db.deleteFrom('bars').where('symbol', '=', s.symbol).where('date', '=', s.dates[old + 2]).execute();
    await log(s.dates[old]);
    expect(await recorder.recordFor([s.symbol])).toMatchObject({ recorded: 1 });
    expect(await outcomes()).toEqual([[s.dates[old], null], [s.dates[t0], label]]);
  });
});
