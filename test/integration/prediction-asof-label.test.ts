/**
 * Each logged prediction is dated by the vector it read (a shadow on another feature set reads
 * another day's, and its outcome matures from that day), and each answer says which label the
 * version that gave it predicts.
 */
import fs from 'node:fs';
import { predictionsResponseSchema } from '../../api/schemas';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { attachOutcomes, labelSpecsOf, readPredictionLog } from '../../lib/deployment/outcomes';
import { readOnlineFeatures } from '../../lib/features/online-features';
import { predictionLogEntries } from '../../lib/serving/prediction-log';
import { singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { startApiStack, type ApiStack } from '../helpers/api-stack';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket } from '../helpers/oracle-models';

const MODEL = 'asof-5d';
const TOKEN = { name: 'test', token: 'asof-label-token-0123456789abcdef', scopes: ['predict', 'admin'] as Array<'predict' | 'admin'> };
const auth = { authorization: `Bearer ${TOKEN.token}` };

describe('prediction dates and labels (SQLite, in-process cache)', () => {
  let t: TestDatabase;
  let dir: string;
  let cache: MemoryCache;
  let api: ApiStack | undefined;

  beforeEach(async () => {
    t = await createSqliteTestDatabase();
    dir = tempDir('mlp-asof-label-');
    cache = new MemoryCache();
  });
  afterEach(async () => {
    await api?.close();
    api = undefined;
    await cache.close();
    await t.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("logs a shadow on another feature set with its own vector's date, so its outcome is not matured from the champion's", async () => {
    const market = await setUpOracleMarket(t.store, cache, 2);
    const champion = await registerOracleModel(t.store, dir, { name: MODEL, seed: 1, flip: false, featureSetVersion: market.featureSetVersion });
    const shadow = await registerOracleModel(t.store, dir, { name: MODEL, seed: 2, flip: false, featureSetVersion: market.latestFeatureSetVersion });
    await writeServingRoutes(t.store, cache, { model: MODEL, mode: 'single', routes: singleRoute(champion), shadow: { version: shadow }, updatedBy: 'test', reason: 'shadow on the latest vectors' });
    api = await startApiStack({ store: t.store, cache, artifactDir: dir, tokens: [TOKEN] });
    const [symbol] = market.symbols;
    const championAsOf = (await readOnlineFeatures(cache, market.featureSetVersion, symbol))!.asOf;
    const shadowAsOf = (await readOnlineFeatures(cache, market.latestFeatureSetVersion, symbol))!.asOf;
    expect(shadowAsOf > championAsOf).toBe(true);

    const res = await api.app.inject({ method: 'POST', url: '/v1/predictions', headers: auth, payload: { model: MODEL, symbols: [symbol] } });
    expect(res.statusCode).toBe(200);
    const [answer] = res.json().predictions;
    expect(answer).toMatchObject({ version: champion, asOf: championAsOf, featureSetVersion: market.featureSetVersion });
    // The label of the version that answered: what the probability is the probability of.
    expect(answer.label).toEqual({ kind: 'direction', horizon: 5, deadZone: 0 });

    await api.log.flush();
    const rows = await readPredictionLog(t.store, { model: MODEL });
    expect(rows.map((r) => [r.variant, r.version, r.asOf])).toEqual(
      expect.arrayContaining([
        ['champion', champion, championAsOf],
        ['shadow', shadow, shadowAsOf],
      ]),
    );
    const joined = await attachOutcomes(t.store, rows, await labelSpecsOf(t.store, MODEL, rows.map((r) => r.version), { artifacts: localArtifactStore(dir) }));
    expect(joined.rows.map((r) => [r.variant, r.matured])).toEqual(expect.arrayContaining([['champion', true], ['shadow', false]]));
  });

  it('dates a prediction that failed before reading a vector by the routed one', () => {
    const rows = predictionLogEntries(
      { requestId: 'r1', model: MODEL, symbol: 'AAA', routingKey: 'AAA', asOf: '2026-01-02', createdAt: '2026-01-02T15:00:00.000Z' },
      {
        served: { variant: 'champion', version: 1, probability: 0.7, predictedClass: 1, latencyMicros: 9, asOf: '2026-01-02', featureSetVersion: 'fs-a' },
        unserved: [
          { variant: 'shadow', version: 2, probability: 0.6, predictedClass: 1, latencyMicros: 9, asOf: '2026-01-05', featureSetVersion: 'fs-b' },
          { variant: 'B', version: 3, probability: null, predictedClass: null, latencyMicros: 1, error: 'no feature vector of feature set fs-c' },
        ],
      },
    );
    expect(rows.map((r) => [r.variant, r.asOf])).toEqual([
      ['champion', '2026-01-02'],
      ['shadow', '2026-01-05'],
      ['B', '2026-01-02'],
    ]);
  });

  it('documents the label in the OpenAPI document, and a client still reads answers without it', async () => {
    await setUpOracleMarket(t.store, cache, 1);
    api = await startApiStack({ store: t.store, cache, artifactDir: dir, tokens: [TOKEN] });
    const doc = (await api.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const item = doc.paths['/v1/predictions'].post.responses['200'].content['application/json'].schema.properties.predictions.items;
    expect(item.properties.label.properties).toMatchObject({ kind: { type: 'string' }, horizon: { type: 'integer' } });
    expect(item.required).not.toContain('label');
    const older = { predictions: [{ symbol: 'AAA', model: MODEL, version: 1, variant: 'champion', probability: 0.5, class: 0, asOf: '2026-01-02', featureSetVersion: 'fs-a' }], errors: [] };
    expect(predictionsResponseSchema.parse(older).predictions[0].label).toBeUndefined();
  });
});
