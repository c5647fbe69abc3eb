/**
 * With MODEL_SIGNING_KEY, an online vector's signature covers its feature set, symbol, date and
 * values, not that it is the newest one: an older signed vector of the same symbol captured and
 * written back over the newer one with a plain Redis SET was served as fresh (its old asOf, within
 * the freshness grace). Now the API never serves an online vector older than one it verified for the
 * symbol and feature set since it started (`replayed`), nor older than the newest signed offline row
 * of the symbol (`superseded`, the dates kept per feature set off the request path): the offline
 * row answers instead. Real Redis, SQLite and MariaDB.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { monitoringActivities } from '../../activities/monitoring';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { RedisCache } from '../../lib/cache/redis-cache';
import { OnlineFeatureStore, publishOnlineFeatures } from '../../lib/features/online-features';
import { registerModel } from '../../lib/registry/model-registry';
import { singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { writeFeatureRows } from '../../lib/store/features';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { startApiStack, type ApiStack } from '../helpers/api-stack';
import { DRIVERS, TEST_REDIS_URL, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';

const SIGNING = { signingKey: 'r'.repeat(16) + '0123456789abcdef0123' };
const MODEL = 'direction-5d';
const LABEL = { kind: 'direction', horizon: 5 };
const OLD = '2024-06-27';
const NEW = '2024-06-28';
const TOKEN = { name: 'test', token: 'vector-replay-token-0123456789abcd', scopes: ['predict'] as Array<'predict' | 'admin'> };
const auth = { authorization: `Bearer ${TOKEN.token}` };

describe.each(DRIVERS)('an older signed online vector written back over a newer one, on %s', (_driver, create) => {
  let t: TestDatabase;
  let dir: string;
  let cache: RedisCache;
  const apis: ApiStack[] = [];

  beforeEach(async () => {
    t = await create();
    dir = tempDir('mlp-vector-replay-');
    cache = new RedisCache(TEST_REDIS_URL, `mlp-test-vector-replay-${crypto.randomBytes(3).toString('hex')}:`);
  });
  afterEach(async () => {
    for (const api of apis.splice(0)) await api.close();
    await cache.close();
    await t.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A signed model on a feature set, its routes signed; AAPL's signed vectors of OLD (captured as stored) then NEW, online and offline as the features step writes them. */
  const setUp = async (name: string, offline: readonly string[]) => {
    const { version, columns } = await saveTestFeatureSet(t.store, returnsFeatureSet(name));
    const d = separable(200, 5, 1);
    const model = await logisticRegression.fit({ features: withColumns(d.x, columns), labels: d.y, classes: 2, seed: 1 }, {});
    await registerModel(t.store, localArtifactStore(dir), { name: MODEL, artifact: encodeArtifact(model.state(), { featureSetVersion: version, label: LABEL }), algorithm: 'logistic_regression', params: {}, seed: 1, featureSetVersion: version, label: LABEL, ...UNTRACKED_REGISTRATION, registrationKey: `${MODEL}/1` }, SIGNING);
    await writeServingRoutes(t.store, cache, { model: MODEL, mode: 'single', routes: singleRoute(1), updatedBy: 'test', reason: 'serve', alias: { alias: 'champion', version: 1, movedBy: 'test', reason: 'serve' }, signing: SIGNING });
    const values: Record<string, number[]> = { [OLD]: [-1, 0.5, -0.5, 0.2, -0.2], [NEW]: [1, -0.5, 0.5, -0.2, 0.2] };
    const rows = offline.map((date) => ({ symbol: 'AAPL', date, values: Float64Array.from(values[date]) }));
    if (rows.length > 0) await writeFeatureRows(t.store, version, rows, SIGNING);
    const key = `features:latest:${version}:AAPL`;
    await publishOnlineFeatures(cache, [{ version, symbol: 'AAPL', asOf: OLD, columns, values: values[OLD] }], SIGNING);
    const captured = (await cache.get(key))!;
    await publishOnlineFeatures(cache, [{ version, symbol: 'AAPL', asOf: NEW, columns, values: values[NEW] }], SIGNING);
    expect(JSON.parse((await cache.get(key))!)).toMatchObject({ asOf: NEW });
    return { version, columns, key, captured };
  };
  const startApi = async () => {
    // Every prediction reads Redis (API_FEATURE_CACHE_MS=0), as the replay was found.
    const api = await startApiStack({ store: t.store, cache, artifactDir: dir, tokens: [TOKEN], signing: SIGNING, featureCacheMaxAgeMs: 0 });
    apis.push(api);
    await api.serving.start();
    return api;
  };
  const features = async <T>(use: (f: OnlineFeatureStore) => Promise<T>): Promise<T> => {
    const versions = (await t.store.db.selectFrom('feature_sets').select('version').execute()).map((r) => r.version);
    const f = new OnlineFeatureStore({ cache, store: t.store, rewarmVersions: () => versions, signing: SIGNING });
    try {
      return await use(f);
    } finally {
      f.close();
    }
  };
  const ask = async (api: ApiStack) => {
    const res = await api.app.inject({ method: 'GET', url: `/v1/predictions/AAPL?model=${MODEL}`, headers: auth });
    return { status: res.statusCode, body: res.json() };
  };

  it('is refused by a process that verified the newer one (replayed): the newer signed offline row answers', async () => {
    const { key, captured } = await setUp('replay-seen', [OLD, NEW]);
    const api = await startApi();
    const fresh = await ask(api);
    expect(fresh.body.predictions[0]).toMatchObject({ asOf: NEW });

    // The captured signed vector of OLD put back by hand (no key needed, no announcement).
    await cache.set(key, captured);
    expect(JSON.parse((await cache.get(key))!)).toMatchObject({ asOf: OLD });
    const after = await ask(api);
    expect(after.status).toBe(200);
    expect(after.body.predictions[0]).toMatchObject({ asOf: NEW, probability: fresh.body.predictions[0].probability });
    const metrics = (await api.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/api_online_vectors_refused_total\{reason="replayed",store="online"\} 1/);
  });

  it('is refused by a process starting after it (superseded): the newest signed offline row is newer', async () => {
    const { key, captured } = await setUp('replay-unseen', [OLD, NEW]);
    await cache.set(key, captured);
    const api = await startApi();
    const answer = await ask(api);
    expect(answer.body.predictions[0]).toMatchObject({ asOf: NEW });
    const metrics = (await api.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/api_online_vectors_refused_total\{reason="superseded",store="online"\} 1/);

    // Monitoring finds the online vector older than the newest signed offline row, and says so.
    const result = await monitoringActivities({ store: t.store, cache, signing: SIGNING }).checkServedChampions({});
    expect(result.vectorsBehind).toEqual([{ featureSetVersion: expect.any(String), behind: [{ symbol: 'AAPL', online: OLD, offline: NEW }], count: 1 }]);
    expect(result.findings.map((f) => [f.alert.rule, f.alert.severity])).toEqual([['online_vector_behind', 'warning']]);
    expect(result.findings[0].alert.message).toMatch(/^1 online vector is dated before the newest signed offline row of its symbol \(AAPL 2024-06-27 < 2024-06-28\)/);
    // Once the newest vector is published again, nothing.
    await features(async (f) => f.rewarm());
    expect((await monitoringActivities({ store: t.store, cache, signing: SIGNING }).checkServedChampions({})).findings).toEqual([]);
  });

  it('without a newer offline row a process that verified the newer vector refuses the replay and says why; the next signed write is served', async () => {
    const { version, columns, key, captured } = await setUp('replay-no-offline', []);
    const features = new OnlineFeatureStore({ cache, store: t.store, rewarmVersions: () => [version], signing: SIGNING });
    try {
      expect(await features.read(version, 'AAPL')).toMatchObject({ asOf: NEW });
      await cache.set(key, captured);
      await expect(features.read(version, 'AAPL')).rejects.toThrow(/the online vector stored for AAPL in feature set .* is refused: it is dated 2024-06-27, older than the vector dated 2024-06-28 this process verified before: an older signed vector was written back over a newer one.*, and the offline store holds no vector of AAPL/);
      // A newer signed vector (the next bar) is served again.
      await publishOnlineFeatures(cache, [{ version, symbol: 'AAPL', asOf: '2024-07-01', columns, values: [0, 0, 0, 0, 0] }], SIGNING);
      expect(await features.read(version, 'AAPL')).toMatchObject({ asOf: '2024-07-01' });
      expect(features.stats().invalidVectors).toBe(1);
    } finally {
      features.close();
    }
  });

  it('without the key nothing is compared: the online store is trusted as it stands', async () => {
    const { version, key, captured } = await setUp('replay-keyless', [OLD, NEW]);
    const features = new OnlineFeatureStore({ cache, store: t.store, rewarmVersions: () => [version] });
    try {
      expect(await features.read(version, 'AAPL')).toMatchObject({ asOf: NEW });
      await cache.set(key, captured);
      expect(await features.read(version, 'AAPL')).toMatchObject({ asOf: OLD });
    } finally {
      features.close();
    }
  });
});
