import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { LABEL_CODE_VERSION } from '../../lib/labels/labels';
import { RedisCache } from '../../lib/cache/redis-cache';
import { computeFeatures, frameRow } from '../../lib/features/compute-features';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from '../../lib/features/feature-set';
import { readOnlineFeatures } from '../../lib/features/online-features';
import type { Bar } from '../../lib/market-data/bar';
import { readBarCsv } from '../../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../../lib/market-data/synthetic';
import { registerModel } from '../../lib/registry/model-registry';
import { readBars, readBarSeries, upsertBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { listQuarantine } from '../../lib/store/quarantine';
import { BarStreamConsumer, streamSnapshotId } from '../../lib/streaming/consumer';
import { BarStreamProducer } from '../../lib/streaming/producer';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { DRIVERS, TEST_REDIS_URL, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';

const SET = defineFeatureSet(DEFAULT_FEATURE_SET);
const CUT = '2018-11-01';
/** 6 clean symbols, 2016-2018: ~700 bars each, enough for every feature of the default set. */
const ALL: Bar[] = generateSyntheticMarket({ symbols: 6, from: '2016-01-04', to: '2018-12-31', seed: 42, plantErrors: false }).files.flatMap((f) =>
  readBarCsv(f.csv, { source: f.fileName }).bars.map((b) => ({ symbol: b.symbol, date: b.date, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume })),
);
const SYMBOLS = [...new Set(ALL.map((b) => b.symbol))].sort();
const DATES = [...new Set(ALL.map((b) => b.date))].sort();
const LIVE_DATES = DATES.filter((d) => d >= CUT);
/** As readBars returns them: by symbol, then date. */
const byKey = (bars: readonly Bar[]) => [...bars].sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
const live = (bars: readonly Bar[]) => bars.map((b) => ({ ...b, source: 'test' }));
const barsOn = (date: string) => ALL.filter((b) => b.date === date);

/** The offline computation over the whole stored history: what the online vectors must equal. */
async function offlineVectors(store: Database): Promise<Map<string, { asOf: string; values: number[] }>> {
  const computed = computeFeatures(await readBarSeries(store), SET);
  return new Map(computed.frames.map((f) => [f.symbol, { asOf: f.dates[f.dates.length - 1], values: Array.from(frameRow(f, f.dates.length - 1)) }]));
}

function expectClose(actual: readonly number[], expected: readonly number[]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => {
    if (Number.isNaN(expected[i])) expect(a).toBeNaN();
    else if (Math.abs(a - expected[i]) > 1e-9 * Math.max(1, Math.abs(expected[i]))) throw new Error(`column ${SET.version}[${i}]: online ${a}, offline ${expected[i]}`);
  });
}

describe.each(DRIVERS)('stream consumer on %s with real Redis', (_driver, create) => {
  let t: TestDatabase;
  let redis: Redis;
  let cache: RedisCache;
  let key: string;
  let producer: BarStreamProducer;
  const consumers: BarStreamConsumer[] = [];
  /** The registered models' artifacts: the consumer labels outcomes with their headers' label specs. */
  const artifactDir = tempDir('mlp-stream-artifacts-');
  const logged: string[] = [];

  const consumer = (overrides: Record<string, unknown> = {}): BarStreamConsumer => {
    const c = new BarStreamConsumer(
      { redis, store: t.store, cache, artifacts: localArtifactStore(artifactDir), featureSets: [SET], log: (line) => logged.push(line) },
      { key, group: 'ingest', consumer: `c${consumers.length + 1}`, blockMs: 20, claimIntervalMs: 60_000, crossSectionIntervalMs: 0, outcomeIntervalMs: 0, ...overrides },
    );
    consumers.push(c);
    return c;
  };
  /** Processes everything in the stream, then whatever was left for later (cross-sections, outcomes). */
  const drain = async (c: BarStreamConsumer): Promise<void> => {
    while ((await c.pollOnce()) > 0);
    await c.flush();
  };

  beforeEach(async () => {
    t = await create();
    key = `test:bars:${crypto.randomBytes(4).toString('hex')}`;
    redis = new Redis(TEST_REDIS_URL);
    cache = new RedisCache(TEST_REDIS_URL, `${key}:cache:`);
    producer = new BarStreamProducer(redis, { key });
  });
  afterEach(async () => {
    for (const c of consumers.splice(0)) await c.close();
    const keys = await redis.keys(`${key}*`);
    if (keys.length > 0) await redis.del(...keys);
    await cache.close();
    await redis.quit();
    await t?.drop();
  });

  it('stores every streamed bar once, counts late and duplicate bars, and publishes the vectors the offline store would compute', async () => {
    const late = { ...ALL.find((b) => b.symbol === SYMBOLS[1] && b.date === '2018-10-15') } as Bar;
    await upsertBars(t.store, ALL.filter((b) => b.date < CUT && !(b.symbol === late.symbol && b.date === late.date)));
    const days = LIVE_DATES.slice(0, 3).flatMap(barsOn);
    const repeatedFromStore = ALL.find((b) => b.symbol === SYMBOLS[2] && b.date === '2018-10-31') as Bar;
    const c = consumer();
    await producer.publish(live([...days.slice(0, 8), days[3], late, ...days.slice(8), repeatedFromStore]));
    await drain(c);

    expect(await readBars(t.store)).toEqual(byKey(ALL.filter((b) => b.date <= LIVE_DATES[2])));
    expect(c.stats).toMatchObject({ entriesRead: days.length + 3, barsStored: days.length + 1, barsLate: 1, barsDuplicate: 2, barsRevised: 0, pending: 0, deadLettered: 0 });

    const offline = await offlineVectors(t.store);
    for (const symbol of SYMBOLS) {
      const vector = await readOnlineFeatures(cache, SET.version, symbol);
      expect(vector?.asOf).toBe(LIVE_DATES[2]);
      expect(vector?.columns).toHaveLength(61);
      expectClose(vector?.values ?? [], offline.get(symbol)?.values ?? []);
    }

    // The same day again (a producer retried): nothing changes, everything counts as a duplicate.
    await producer.publish(live(barsOn(LIVE_DATES[2])));
    await drain(c);
    expect(c.stats.barsDuplicate).toBe(2 + SYMBOLS.length);
    expect(c.stats.barsStored).toBe(days.length + 1);
    expect(await readBars(t.store)).toEqual(byKey(ALL.filter((b) => b.date <= LIVE_DATES[2])));
  });

  it('quarantines bad bars as ingestion does, stores flagged ones, and says which stream entry they came from', async () => {
    await upsertBars(t.store, ALL.filter((b) => b.date < CUT));
    const [a, b, d] = barsOn(LIVE_DATES[0]);
    const c = consumer();
    const ids = await producer.publish(
      live([
        { ...a, high: a.low * 0.9 }, // ohlc_inconsistent
        { ...b, date: '2018-11-03' }, // a Saturday
        { ...d, open: d.open * 1.6, high: d.high * 1.6, low: d.low * 1.6, close: d.close * 1.6 }, // +60%: stored, flagged
      ]),
    );
    await redis.call('XADD', [key, '*', 'v', '1', 'symbol', 'ZZZ', 'date', LIVE_DATES[0], 'open', '1', 'high', '2', 'low', '0.5', 'close', 'abc', 'volume', '10', 'source', 'test']);
    await redis.call('XADD', [key, '*', 'v', '1', 'date', LIVE_DATES[0], 'open', '1', 'high', '2', 'low', '0.5', 'close', '1', 'volume', '10']);
    await drain(c);

    const findings = await listQuarantine(t.store, { snapshotId: streamSnapshotId(key) });
    expect(findings.map((q) => [q.rule, q.severity, q.symbol, q.date]).sort()).toEqual(
      [
        ['extreme_move', 'flag', d.symbol, LIVE_DATES[0]],
        ['missing_symbol', 'reject', null, LIVE_DATES[0]],
        ['non_numeric', 'reject', 'ZZZ', LIVE_DATES[0]],
        ['non_trading_day', 'reject', b.symbol, '2018-11-03'],
        ['ohlc_inconsistent', 'reject', a.symbol, LIVE_DATES[0]],
      ].sort(),
    );
    expect(findings.find((q) => q.rule === 'ohlc_inconsistent')?.source).toBe(`${key}#${ids[0]} (test)`);
    expect(findings.find((q) => q.rule === 'non_numeric')?.raw).toContain('"close":"abc"');
    expect(c.stats.quarantinedByRule).toEqual({ ohlc_inconsistent: 1, non_trading_day: 1, non_numeric: 1, missing_symbol: 1 });
    expect(c.stats.flaggedByRule).toEqual({ extreme_move: 1 });
    const stored = await readBars(t.store, { from: LIVE_DATES[0] });
    expect(stored.map((s) => s.symbol)).toEqual([d.symbol]);
    expect(c.stats.pending).toBe(0);

    // Redelivered bad entries are quarantined once (findings are keyed by entry).
    await redis.call('XGROUP', ['SETID', key, 'ingest', '0']);
    await drain(c);
    expect(await listQuarantine(t.store, { snapshotId: streamSnapshotId(key) })).toHaveLength(5);
  });

  it('updates a vector with each bar and replaces it when a correction of the same day arrives', async () => {
    await upsertBars(t.store, ALL.filter((b) => b.date < CUT));
    const c = consumer();
    const symbol = SYMBOLS[0];
    await producer.publish(live(barsOn(LIVE_DATES[0])));
    await drain(c);
    const before = await readOnlineFeatures(cache, SET.version, symbol);
    expect(before?.asOf).toBe(LIVE_DATES[0]);

    const original = barsOn(LIVE_DATES[0]).find((b) => b.symbol === symbol) as Bar;
    const corrected = { ...original, close: original.close * 1.01, high: Math.max(original.high, original.close * 1.01) };
    await producer.publish(live([corrected]));
    await drain(c);
    expect(c.stats.barsRevised).toBe(1);
    const after = await readOnlineFeatures(cache, SET.version, symbol);
    expect(after?.asOf).toBe(LIVE_DATES[0]);
    const ret1 = after?.columns.indexOf('ret_1') as number;
    expect(after?.values[ret1]).not.toBe(before?.values[ret1]);
    expectClose(after?.values ?? [], (await offlineVectors(t.store)).get(symbol)?.values ?? []);
  });

  it('records the outcome of a logged prediction once, when the bar that matures it arrives', async () => {
    await upsertBars(t.store, ALL.filter((b) => b.date < CUT));
    const label = { kind: 'direction', horizon: 1, deadZone: 0 };
    // The models' own feature set, stored as registration requires (the consumer computes SET only).
    const { version: FS, columns } = await saveTestFeatureSet(t.store, returnsFeatureSet('stream-outcomes', 3));
    const d = separable(60, 3, 1);
    d.x = withColumns(d.x, columns);
    const model = await logisticRegression.fit({ features: d.x, labels: d.y, classes: 2, seed: 1 }, {});
    const version = await registerModel(t.store, localArtifactStore(artifactDir), {
      name: 'direction-1d',
      artifact: encodeArtifact(model.state(), { featureSetVersion: FS, label }),
      algorithm: 'logistic_regression',
      params: {},
      seed: 1,
      featureSetVersion: FS,
      label,
      ...UNTRACKED_REGISTRATION,
      registrationKey: 'stream-test',
    });
    const symbol = SYMBOLS[3];
    const lastStored = DATES.filter((x) => x < CUT).at(-1) as string;
    for (const [i, asOf] of [lastStored, LIVE_DATES[0]].entries()) {
      await t.store.db
        .insertInto('prediction_log')
        .values({ id: `req-${i}:champion`, request_id: `req-${i}`, model: 'direction-1d', version: version.version, variant: 'champion', served: 1, symbol, routing_key: `k${i}`, as_of: asOf, probability: 0.6, predicted_class: 1, latency_us: 900, error: null, created_at: `2018-11-0${i + 1}T21:00:00.000Z` })
        .execute();
    }
    // A second version whose registry row was edited after registration (horizon 1 → 2; no signing key):
    // its predictions get no outcome (the artifact header says 1), and the consumer says why.
    const edited = await registerModel(t.store, localArtifactStore(artifactDir), {
      name: 'direction-1d',
      artifact: encodeArtifact((await logisticRegression.fit({ features: d.x, labels: d.y, classes: 2, seed: 2 }, {})).state(), { featureSetVersion: FS, label }),
      algorithm: 'logistic_regression',
      params: {},
      seed: 2,
      featureSetVersion: FS,
      label,
      ...UNTRACKED_REGISTRATION,
      registrationKey: 'stream-test-edited',
    });
    await t.store.db.updateTable('model_versions').set({ label: JSON.stringify({ ...label, horizon: 2 }) }).where('name', '=', 'direction-1d').where('version', '=', edited.version).execute();
    await t.store.db
      .insertInto('prediction_log')
      .values({ id: 'req-e:champion', request_id: 'req-e', model: 'direction-1d', version: edited.version, variant: 'champion', served: 1, symbol, routing_key: 'ke', as_of: lastStored, probability: 0.6, predicted_class: 1, latency_us: 900, error: null, created_at: '2018-11-01T21:00:00.000Z' })
      .execute();
    const bar = (date: string) => ALL.find((b) => b.symbol === symbol && b.date === date) as Bar;
    // A 1-day direction label: bought at the next session's open, sold at its close.
    const up = (next: string) => (bar(next).close > bar(next).open ? 1 : 0);
    const outcomes = () => t.store.db.selectFrom('prediction_outcomes').select(['prediction_id', 'as_of', 'outcome', 'version', 'variant', 'symbol', 'label_code_version']).orderBy('as_of').execute();

    const c = consumer();
    await drain(c); // nothing matured yet: the horizon bar of the first prediction is not stored
    expect(await outcomes()).toEqual([]);

    await producer.publish(live(barsOn(LIVE_DATES[0])));
    await drain(c);
    const first = { prediction_id: 'req-0:champion', as_of: lastStored, outcome: up(LIVE_DATES[0]), version: version.version, variant: 'champion', symbol, label_code_version: LABEL_CODE_VERSION };
    expect((await outcomes()).map((o) => ({ ...o, outcome: Number(o.outcome), version: Number(o.version), label_code_version: Number(o.label_code_version) }))).toEqual([first]);

    await producer.publish(live([...barsOn(LIVE_DATES[1]), ...barsOn(LIVE_DATES[1])]));
    await drain(c);
    const second = { prediction_id: 'req-1:champion', as_of: LIVE_DATES[0], outcome: up(LIVE_DATES[1]), version: version.version, variant: 'champion', symbol, label_code_version: LABEL_CODE_VERSION };
    expect((await outcomes()).map((o) => ({ ...o, outcome: Number(o.outcome), version: Number(o.version), label_code_version: Number(o.label_code_version) }))).toEqual([first, second]);
    expect(c.stats.outcomesRecorded).toBe(2);
    expect(logged.join('\n')).toMatch(new RegExp(`cannot record outcomes of direction-1d v${edited.version}: .*label differs: the artifact has .*"horizon":1.*the registry says .*"horizon":2`));

    // A restarted consumer (which re-checks every symbol at start) records nothing twice.
    const again = consumer();
    await again.start();
    await drain(again);
    expect(await outcomes()).toHaveLength(2);
    expect(again.stats.outcomesRecorded).toBe(0);
  });
});
