/**
 * An online vector is served only as the vector its key names: one written under a symbol's key that
 * is another symbol's (or another feature set's), dated after today, or damaged (a value that is no
 * number, more values than columns) is refused, counted, and the offline store's newest vector of the
 * symbol answers instead. A vector written by hand with a far date does not pin itself either: the
 * next real vector replaces it.
 */
import fs from 'node:fs';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { OnlineFeatureStore, publishOnlineFeatures, readOnlineFeatures, replaceOnlineFeatures, type OnlineFeatureVector } from '../../lib/features/online-features';
import { singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { writeFeatureRows } from '../../lib/store/features';
import { startApiStack, type ApiStack } from '../helpers/api-stack';
import { returnsFeatureSet, saveTestFeatureSet } from '../helpers/registration';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { ORACLE_COLUMNS, registerOracleModel, setUpOracleMarket } from '../helpers/oracle-models';

const MODEL = 'vector-5d';
const TOKEN = { name: 'test', token: 'vector-integrity-token-0123456789ab', scopes: ['predict'] as Array<'predict' | 'admin'> };
const auth = { authorization: `Bearer ${TOKEN.token}` };
const key = (version: string, symbol: string) => `features:latest:${version}:${symbol}`;

describe('online vectors are served only under their own key (SQLite, in-process cache)', () => {
  let t: TestDatabase;
  let dir: string;
  let cache: MemoryCache;
  let api: ApiStack | undefined;

  beforeEach(async () => {
    t = await createSqliteTestDatabase();
    dir = tempDir('mlp-vector-integrity-');
    cache = new MemoryCache();
  });
  afterEach(async () => {
    await api?.close();
    api = undefined;
    await cache.close();
    await t.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("refuses another symbol's, a future-dated or a damaged vector under a symbol's key and answers from the offline store", async () => {
    const market = await setUpOracleMarket(t.store, cache, 3);
    const fs1 = market.featureSetVersion;
    const version = await registerOracleModel(t.store, dir, { name: MODEL, seed: 1, flip: false, featureSetVersion: fs1 });
    await writeServingRoutes(t.store, cache, { model: MODEL, mode: 'single', routes: singleRoute(version), updatedBy: 'test', reason: 'serve' });
    const [a, b] = market.symbols;
    const own = (await readOnlineFeatures(cache, fs1, a))!;
    const other = (await readOnlineFeatures(cache, fs1, b))!;
    // a's offline row, as the features step stores it: what serves when a's online vector is refused. It says "down".
    await writeFeatureRows(t.store, fs1, [{ symbol: a, date: own.asOf, values: Float64Array.from([-1, 0]) }]);
    api = await startApiStack({ store: t.store, cache, artifactDir: dir, tokens: [TOKEN] });
    const ask = async (symbol: string) => (await api!.app.inject({ method: 'POST', url: '/v1/predictions', headers: auth, payload: { model: MODEL, symbols: [symbol] } })).json();

    // b's vector (an "up" one) written under a's key.
    await cache.set(key(fs1, a), JSON.stringify({ ...other, values: [1, 0] }));
    let answer = await ask(a);
    expect(answer.predictions).toHaveLength(1);
    expect(answer.predictions[0]).toMatchObject({ symbol: a, asOf: own.asOf, class: 0 });

    // A vector dated after today, and damaged ones: none is served.
    for (const stored of [
      { ...own, asOf: '2099-01-02', values: [1, 0] },
      { ...own, values: ['1e400', 0] },
      { ...own, values: [1, 0, 1] },
      { ...own, version: market.latestFeatureSetVersion, values: [1, 0] },
    ]) {
      await cache.set(key(fs1, a), JSON.stringify(stored));
      answer = await ask(a);
      expect(answer.predictions[0]).toMatchObject({ symbol: a, asOf: own.asOf, class: 0 });
    }
    const metrics = (await api.app.inject({ method: 'GET', url: '/metrics' })).body;
    for (const reason of ['other_symbol', 'future_date', 'malformed', 'length_mismatch', 'other_feature_set']) expect(metrics).toContain(`api_online_vectors_refused_total{reason="${reason}",store="online"} 1`);

    // No offline row either: the request fails naming the refusal, never served from the wrong vector.
    const [, , c] = market.symbols;
    await cache.set(key(fs1, c), JSON.stringify({ ...other }));
    answer = await ask(c);
    expect(answer.predictions).toHaveLength(0);
    expect(answer.errors[0].error).toContain(`is refused: it is the vector of ${b}`);
  });

  it('the offline store answers with its newest row dated no later than today, never one dated after it', async () => {
    // A real definition: a vector read from the offline store is checked against the bars its features look back on.
    const { version, columns } = await saveTestFeatureSet(t.store, returnsFeatureSet('offline', 2));
    await writeFeatureRows(t.store, version, [
      { symbol: 'AAA', date: '2020-01-03', values: Float64Array.from([1, 0]) },
      { symbol: 'AAA', date: '2099-01-02', values: Float64Array.from([-1, 0]) },
    ]);
    const store = new OnlineFeatureStore({ cache, store: t.store, rewarmVersions: () => [version] });
    expect(await store.read(version, 'AAA')).toEqual({ version, symbol: 'AAA', asOf: '2020-01-03', columns, values: [1, 0] });
    // The re-warm publishes the same row, not the one dated after today.
    expect(await store.rewarm()).toBe(1);
    expect((await readOnlineFeatures(cache, version, 'AAA'))?.asOf).toBe('2020-01-03');
    store.close();
  });

  it('a future-dated vector written by hand does not keep the next real vector out', async () => {
    const version = 'fs-test-vectors';
    const real = (symbol: string, asOf: string): OnlineFeatureVector => ({ version, symbol, asOf, columns: ORACLE_COLUMNS, values: [1, 0] });
    await cache.set(key(version, 'AAA'), JSON.stringify({ ...real('AAA', '2099-12-31'), values: [-1, 0] }));
    await cache.set(key(version, 'BBB'), JSON.stringify({ ...real('BBB', '2099-12-31'), values: [-1, 0] }));
    await cache.set(key(version, 'CCC'), JSON.stringify({ ...real('AAA', '2020-01-10'), values: [-1, 0] }));
    expect(await replaceOnlineFeatures(cache, [real('AAA', '2020-01-03')])).toBe(1);
    expect(await publishOnlineFeatures(cache, [real('BBB', '2020-01-03'), real('CCC', '2020-01-03')])).toBe(2);
    for (const symbol of ['AAA', 'BBB', 'CCC']) expect(await readOnlineFeatures(cache, version, symbol)).toEqual(real(symbol, '2020-01-03'));
    // A valid newer vector still keeps an older one out, as before.
    expect(await replaceOnlineFeatures(cache, [real('AAA', '2020-01-02')])).toBe(0);
    expect(await publishOnlineFeatures(cache, [real('AAA', '2020-01-03')])).toBe(0);

    // The reader dates "today" by its clock: a vector of a date after it is refused.
    const store = new OnlineFeatureStore({ cache, store: t.store, rewarmVersions: () => [], now: () => new Date('2020-01-02T12:00:00Z') });
    await expect(store.read(version, 'AAA')).rejects.toThrow('it is dated 2020-01-03, after today in New York (2020-01-02)');
    expect(store.stats().invalidVectors).toBe(1);
    store.close();
  });
});
