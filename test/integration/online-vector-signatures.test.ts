/**
 * With MODEL_SIGNING_KEY, the prediction API serves an online vector only with the signature its
 * writers give it: a vector of the right symbol, feature set and date whose values were changed by
 * hand, or a withheld one rewritten without its withheld reason, is refused (counted by reason), and
 * the offline store's row answers instead, or the API's features_unavailable error when it has none.
 * An honest signed vector is served, and the next signed write replaces a refused one. During a
 * key rotation what the previous key signed is served and counted, online vector or offline row.
 * Real Redis (with the API's in-process vector cache on it) and SQLite.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { RedisCache } from '../../lib/cache/redis-cache';
import { FEATURES_UPDATED_CHANNEL, OnlineFeatureStore, publishOnlineFeatures, readOnlineFeatures, replaceOnlineFeatures, type OnlineFeatureVector } from '../../lib/features/online-features';
import { registerModel } from '../../lib/registry/model-registry';
import { singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { packValues, writeFeatureRows } from '../../lib/store/features';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { startApiStack, type ApiStack } from '../helpers/api-stack';
import { createSqliteTestDatabase, TEST_REDIS_URL, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';

const SIGNING = { signingKey: 'k'.repeat(16) + '0123456789abcdef0123' };
const MODEL = 'direction-5d';
const LABEL = { kind: 'direction', horizon: 5 };
const AS_OF = '2024-06-28';
const OFFLINE_AS_OF = '2024-06-27';
const TOKEN = { name: 'test', token: 'vector-signature-token-0123456789ab', scopes: ['predict'] as Array<'predict' | 'admin'> };
const auth = { authorization: `Bearer ${TOKEN.token}` };

describe('online vectors are served only with their signature (MODEL_SIGNING_KEY, real Redis, SQLite)', () => {
  let t: TestDatabase;
  let dir: string;
  let cache: RedisCache;
  let api: ApiStack | undefined;

  beforeEach(async () => {
    t = await createSqliteTestDatabase();
    dir = tempDir('mlp-vector-signatures-');
    cache = new RedisCache(TEST_REDIS_URL, `mlp-test-vector-signatures-${crypto.randomBytes(3).toString('hex')}:`);
  });
  afterEach(async () => {
    await api?.close();
    api = undefined;
    await cache.close();
    await t.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses values edited by hand and a withheld reason removed by hand, and serves honest vectors', async () => {
    const { version, columns } = await saveTestFeatureSet(t.store, returnsFeatureSet('signed-vectors'));
    const d = separable(200, 5, 1);
    const model = await logisticRegression.fit({ features: withColumns(d.x, columns), labels: d.y, classes: 2, seed: 1 }, {});
    const input = { name: MODEL, artifact: encodeArtifact(model.state(), { featureSetVersion: version, label: LABEL }), algorithm: 'logistic_regression', params: {}, seed: 1, featureSetVersion: version, label: LABEL, ...UNTRACKED_REGISTRATION, registrationKey: `${MODEL}/1` };
    await registerModel(t.store, localArtifactStore(dir), input, SIGNING);
    await writeServingRoutes(t.store, cache, { model: MODEL, mode: 'single', routes: singleRoute(1), updatedBy: 'test', reason: 'serve', signing: SIGNING });
    const vector = (symbol: string, values: number[], extra: Partial<OnlineFeatureVector> = {}): OnlineFeatureVector => ({ version, symbol, asOf: AS_OF, columns, values, ...extra });
    const honest = vector('AAPL', [0.1, -0.2, 0.3, -0.4, 0.5]);
    expect(await publishOnlineFeatures(cache, [honest, vector('MSFT', [0.2, 0.1, -0.3, 0.4, -0.5])], SIGNING)).toBe(2);
    // AAPL's newest offline row (the day before): what answers when its online vector is refused.
    await writeFeatureRows(t.store, version, [{ symbol: 'AAPL', date: OFFLINE_AS_OF, values: Float64Array.from([-0.5, 0.4, -0.3, 0.2, -0.1]) }], SIGNING);

    api = await startApiStack({ store: t.store, cache, artifactDir: dir, tokens: [TOKEN], signing: SIGNING });
    await api.serving.start();
    const ask = async (symbol: string) => {
      const res = await api!.app.inject({ method: 'GET', url: `/v1/predictions/${symbol}?model=${MODEL}`, headers: auth });
      return { status: res.statusCode, body: res.json() };
    };
    /** Writes `text` under the key by hand (no writer's announcement but the one sent here) and waits until the API answers otherwise than `before`. */
    const writeByHand = async (symbol: string, text: string, before: string) => {
      await cache.set(`features:latest:${version}:${symbol}`, text);
      await cache.publish(FEATURES_UPDATED_CHANNEL, '{}');
      for (let waited = 0; waited < 5000; waited += 50) {
        const answer = await ask(symbol);
        if (JSON.stringify(answer) !== before) return answer;
        await new Promise((r) => setTimeout(r, 50));
      }
      return ask(symbol);
    };

    const served = await ask('AAPL');
    expect(served.status).toBe(200);
    expect(served.body.predictions[0]).toMatchObject({ symbol: 'AAPL', asOf: AS_OF });
    const probability = served.body.predictions[0].probability as number;
    expect(probability).toBeGreaterThan(0.05);
    expect(probability).toBeLessThan(0.95);

    // (a) Same symbol, feature set and date, values [9, 9, 9, 9, 9]: unsigned (written by hand), or
    // with the honest vector's signature kept. Refused; the offline row (dated the day before) answers.
    const stored = (await cache.get(`features:latest:${version}:AAPL`)) as string;
    expect(stored).toContain('"signature":{"keyId":"');
    for (const text of [JSON.stringify({ ...honest, values: [9, 9, 9, 9, 9] }), stored.replace('[0.1,-0.2,0.3,-0.4,0.5]', '[9,9,9,9,9]')]) {
      expect(text).toContain('[9,9,9,9,9]');
      // The honest vector served first (a signed write replaces the refused one), then the edit.
      await replaceOnlineFeatures(cache, [honest], SIGNING);
      for (let waited = 0; (await ask('AAPL')).body.predictions?.[0]?.asOf !== AS_OF && waited < 5000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      const answer = await writeByHand('AAPL', text, JSON.stringify(served));
      expect(answer.status).toBe(200);
      expect(answer.body.predictions[0]).toMatchObject({ symbol: 'AAPL', asOf: OFFLINE_AS_OF });
      expect(answer.body.predictions[0].probability).not.toBe(1);
    }

    // (b) A withheld vector answers 409; rewritten without its withheld reason (unsigned, or its
    // signed text with the reason cut out) it is refused, and with no offline row the API says why.
    const withheld = vector('SPLT', [0.3, 0.3, 0.3, 0.3, 0.3], { withheld: 'its features read an unadjusted 2:1 split on 2024-06-03' });
    expect(await replaceOnlineFeatures(cache, [withheld], SIGNING)).toBe(1);
    const held = await ask('SPLT');
    expect([held.status, held.body.error]).toEqual([409, 'features_withheld']);
    const signedWithheld = (await cache.get(`features:latest:${version}:SPLT`)) as string;
    let before = JSON.stringify(held);
    for (const text of [JSON.stringify({ ...withheld, withheld: undefined }), signedWithheld.replace(/,"withheld":"[^"]*"/, '')]) {
      expect(text).not.toContain('withheld');
      const answer = await writeByHand('SPLT', text, before);
      expect(answer.status).toBe(503);
      expect(answer.body).toEqual({ error: 'features_unavailable', message: expect.stringMatching(/the online vector stored for SPLT in feature set .* is refused: (it carries no signature \(unsigned: written before signing or by hand|its signature does not match it)/) });
      before = JSON.stringify(answer);
    }

    const metrics = (await api.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/api_online_vectors_refused_total\{reason="unsigned",store="online"\} [1-9]/);
    expect(metrics).toMatch(/api_online_vectors_refused_total\{reason="bad_signature",store="online"\} [1-9]/);

    // The next signed write replaces a refused vector (same date: the live path's replace), and it is served.
    expect(await replaceOnlineFeatures(cache, [honest, vector('SPLT', [0.3, 0.3, 0.3, 0.3, 0.3])], SIGNING)).toBe(2);
    for (let waited = 0; (await ask('AAPL')).body.predictions?.[0]?.asOf !== AS_OF && waited < 5000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    expect((await ask('AAPL')).body.predictions[0]).toMatchObject({ asOf: AS_OF, probability });
    expect((await ask('SPLT')).status).toBe(200);
    expect((await ask('MSFT')).status).toBe(200);
  });

  it('serves an offline row only with its signature: an edited row is refused when the online vector is missing, and never re-warmed signed', async () => {
    const { version, columns } = await saveTestFeatureSet(t.store, returnsFeatureSet('signed-offline-rows'));
    const d = separable(200, 5, 1);
    const model = await logisticRegression.fit({ features: withColumns(d.x, columns), labels: d.y, classes: 2, seed: 1 }, {});
    await registerModel(t.store, localArtifactStore(dir), { name: MODEL, artifact: encodeArtifact(model.state(), { featureSetVersion: version, label: LABEL }), algorithm: 'logistic_regression', params: {}, seed: 1, featureSetVersion: version, label: LABEL, ...UNTRACKED_REGISTRATION, registrationKey: `${MODEL}/1` }, SIGNING);
    await writeServingRoutes(t.store, cache, { model: MODEL, mode: 'single', routes: singleRoute(1), updatedBy: 'test', reason: 'serve', signing: SIGNING });
    const honest = [0.1, -0.2, 0.3, -0.4, 0.5];
    // The features step writes the row offline (signed) and online (signed).
    await writeFeatureRows(t.store, version, [{ symbol: 'AAPL', date: AS_OF, values: Float64Array.from(honest) }, { symbol: 'MSFT', date: AS_OF, values: Float64Array.from(honest) }], SIGNING);
    await publishOnlineFeatures(cache, [{ version, symbol: 'AAPL', asOf: AS_OF, columns, values: honest }], SIGNING);
    api = await startApiStack({ store: t.store, cache, artifactDir: dir, tokens: [TOKEN], signing: SIGNING });
    await api.serving.start();
    const ask = async (symbol: string) => {
      const res = await api!.app.inject({ method: 'GET', url: `/v1/predictions/${symbol}?model=${MODEL}`, headers: auth });
      return { status: res.statusCode, body: res.json() };
    };
    const first = await ask('AAPL');
    expect(first.status).toBe(200);
    const probability = first.body.predictions[0].probability as number;
    // MSFT has no online vector: its signed offline row answers, and the fallback is counted.
    expect((await ask('MSFT')).body.predictions[0]).toMatchObject({ asOf: AS_OF, probability });

    // The offline row edited (-9,9,-9,9,-9 answered 2.67e-13 against an honest 0.5358), then the online vector removed.
    await t.store.db.updateTable('feature_rows').set({ vals: packValues(Float64Array.from([-9, 9, -9, 9, -9])) }).where('version', '=', version).where('symbol', '=', 'AAPL').execute();
    await cache.delete(`features:latest:${version}:AAPL`);
    await cache.publish(FEATURES_UPDATED_CHANNEL, '{}');
    let answer = await ask('AAPL');
    for (let waited = 0; answer.status === 200 && waited < 5000; waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
      answer = await ask('AAPL');
    }
    expect(answer.status).toBe(503);
    expect(answer.body).toEqual({ error: 'features_unavailable', message: expect.stringMatching(/the online store holds no vector of AAPL .*, and the offline feature row of AAPL on 2024-06-28 in feature set .* is refused: its signature does not match it/) });

    // The re-warm (Redis back) publishes MSFT's verified row, not AAPL's edited one.
    const features = new OnlineFeatureStore({ cache, store: t.store, rewarmVersions: () => [version], signing: SIGNING });
    expect(await features.rewarm()).toBe(1);
    features.close();
    expect(await cache.get(`features:latest:${version}:AAPL`)).toBeUndefined();
    expect(await readOnlineFeatures(cache, version, 'MSFT', undefined, SIGNING)).toMatchObject({ values: honest });

    const metrics = (await api.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/api_online_vectors_refused_total\{reason="bad_signature",store="offline"\} [1-9]/);
    expect(metrics).toMatch(/api_offline_feature_reads_total\{reason="missing"\} [2-9]/);
  });

  it('counts the offline rows a previous key signed (a key rotation) as it counts online vectors, by store', async () => {
    const rotating = { signingKey: 'the-new-api-signing-key-0123456789abcdef', previousKeys: [SIGNING.signingKey] };
    const { version, columns } = await saveTestFeatureSet(t.store, returnsFeatureSet('signed-rows-rotation'));
    const d = separable(200, 5, 1);
    const model = await logisticRegression.fit({ features: withColumns(d.x, columns), labels: d.y, classes: 2, seed: 1 }, {});
    await registerModel(t.store, localArtifactStore(dir), { name: MODEL, artifact: encodeArtifact(model.state(), { featureSetVersion: version, label: LABEL }), algorithm: 'logistic_regression', params: {}, seed: 1, featureSetVersion: version, label: LABEL, ...UNTRACKED_REGISTRATION, registrationKey: `${MODEL}/1` }, rotating);
    await writeServingRoutes(t.store, cache, { model: MODEL, mode: 'single', routes: singleRoute(1), updatedBy: 'test', reason: 'serve', signing: SIGNING });
    const honest = [0.1, -0.2, 0.3, -0.4, 0.5];
    // Written before the rotation: the old key's signatures. AAPL's online vector too, MSFT has none.
    await writeFeatureRows(t.store, version, [{ symbol: 'AAPL', date: AS_OF, values: Float64Array.from(honest) }, { symbol: 'MSFT', date: AS_OF, values: Float64Array.from(honest) }], SIGNING);
    await publishOnlineFeatures(cache, [{ version, symbol: 'AAPL', asOf: AS_OF, columns, values: honest }], SIGNING);
    api = await startApiStack({ store: t.store, cache, artifactDir: dir, tokens: [TOKEN], signing: rotating });
    await api.serving.start();
    for (const symbol of ['AAPL', 'MSFT', 'MSFT']) {
      const res = await api.app.inject({ method: 'GET', url: `/v1/predictions/${symbol}?model=${MODEL}`, headers: auth });
      expect([symbol, res.statusCode]).toEqual([symbol, 200]);
    }
    const oldKeyId = (await t.store.db.selectFrom('feature_rows').select('signature_key_id').where('symbol', '=', 'MSFT').executeTakeFirstOrThrow()).signature_key_id;
    const metrics = (await api.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain(`api_online_vectors_previous_key_total{key_id="${oldKeyId}",store="online"} 1`);
    // Before: served from the offline store under the old key, and counted nowhere.
    expect(metrics).toContain(`api_online_vectors_previous_key_total{key_id="${oldKeyId}",store="offline"} 2`);
  });
});
