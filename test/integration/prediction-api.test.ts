import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { startApiProcess } from '../../api/main';
import { buildApiServer } from '../../api/server';
import { PredictionApiClient, PredictionApiError } from '../../client/prediction-api-client';
import { RedisCache } from '../../lib/cache/redis-cache';
import { loadConfig } from '../../lib/config';
import { publishOnlineFeatures, type OnlineFeatureVector } from '../../lib/features/online-features';
import { countNyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { latestExpectedSession } from '../../lib/monitoring/freshness';
import { rng } from '../../lib/random';
import { aliasVersion, moveAlias, registerModel, type RegisterModelInput } from '../../lib/registry/model-registry';
import { PredictionLogWriter } from '../../lib/serving/prediction-log';
import { rollbackModel } from '../../lib/serving/rollback';
import { routeFor } from '../../lib/serving/routing';
import { ServingModels } from '../../lib/serving/serving-models';
import { readServingRoutes, singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import type { TrainedModel } from '../../models/model';
import { randomForest } from '../../models/trees/random-forest';
import { createSqliteTestDatabase, TEST_REDIS_URL, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { defineTestFeatureSet, returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';

const MODEL = 'direction-5d';
/** The models' feature set (a real one; synthetic values under its column names). */
const FEATURES = returnsFeatureSet('api');
const { version: FEATURE_SET, columns: COLUMNS } = defineTestFeatureSet(FEATURES);
const AS_OF = '2024-06-28';
const SYMBOLS = Array.from({ length: 20 }, (_, i) => `SYM${String(i).padStart(2, '0')}`);
const PREDICT_TOKEN = 'p'.repeat(20);
const ADMIN_TOKEN = 'a'.repeat(20);
const TOKENS = loadConfig({ API_TOKENS: `reader:${PREDICT_TOKEN}=predict,ops:${ADMIN_TOKEN}=predict+admin` }).apiTokens;
const asPredict = { authorization: `Bearer ${PREDICT_TOKEN}` };
const asAdmin = { authorization: `Bearer ${ADMIN_TOKEN}` };

async function registration(model: TrainedModel, algorithm: string, key: string): Promise<RegisterModelInput> {
  const label = { kind: 'direction', horizon: 5 };
  return {
    name: MODEL,
    artifact: encodeArtifact(model.state(), { featureSetVersion: FEATURE_SET, label }),
    algorithm,
    params: {},
    seed: 1,
    featureSetVersion: FEATURE_SET,
    label,
    ...UNTRACKED_REGISTRATION,
    registrationKey: key,
  };
}

function vectors(): OnlineFeatureVector[] {
  const next = rng(42);
  return SYMBOLS.map((symbol) => ({ version: FEATURE_SET, symbol, asOf: AS_OF, columns: COLUMNS, values: Array.from({ length: COLUMNS.length }, () => next() * 2 - 1) }));
}

// Fastify's inject() loads an ESM-only dependency jest cannot parse, so the tests talk HTTP to a real listener.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
interface Reply {
  statusCode: number;
  headers: Headers;
  body: string;
  json(): Json;
}

async function request(baseUrl: string, options: { method: string; url: string; headers?: Record<string, string>; payload?: unknown }): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined;
  if (typeof options.payload === 'string') body = options.payload;
  else if (options.payload !== undefined) {
    body = JSON.stringify(options.payload);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(baseUrl + options.url, { method: options.method, headers, body });
  const text = await res.text();
  return { statusCode: res.status, headers: res.headers, body: text, json: () => JSON.parse(text) as Json };
}

/** Polls until `check` returns a value, failing after `ms` (no timing assertion: only an upper bound). */
async function eventually<T>(what: string, check: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('prediction API (SQLite store, real Redis)', () => {
  let t: TestDatabase;
  let cache: RedisCache;
  let artifactDir: string;
  let servingModels: ServingModels;
  let predictionLog: PredictionLogWriter;
  let app: FastifyInstance;
  let baseUrl: string;
  // Every answer of this file's requests is checked against /openapi.json at the end: a status a
  // route answers is one its document lists (the document's response maps are written by hand).
  const answered: Array<{ method: string; path: string; status: number }> = [];
  const api = {
    inject: async (options: Parameters<typeof request>[1]) => {
      const reply = await request(baseUrl, options);
      answered.push({ method: options.method.toLowerCase(), path: options.url.split('?')[0], status: reply.statusCode });
      return reply;
    },
  };
  let started = false;
  let v1: TrainedModel;
  let v2: TrainedModel;
  const features = vectors();

  const generationServed = async () => {
    const res = await api.inject({ method: 'GET', url: '/v1/models', headers: asPredict });
    return (res.json() as { models: Array<{ routes: { generation: number } }> }).models[0]?.routes.generation;
  };
  const waitForGeneration = (generation: number) => eventually(`generation ${generation} to be served`, async () => ((await generationServed()) === generation ? true : undefined));

  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    cache = new RedisCache(TEST_REDIS_URL, `mlp-test-api-${crypto.randomBytes(3).toString('hex')}:`);
    artifactDir = tempDir('mlp-api-artifacts-');
    const d = separable(400, 5, 3);
    const x = withColumns(d.x, COLUMNS);
    v1 = await logisticRegression.fit({ features: x, labels: d.y, classes: 2, seed: 1 }, {});
    v2 = await randomForest.fit({ features: x, labels: d.y, classes: 2, seed: 1 }, { nEstimators: 15, maxDepth: 6 });
    await saveTestFeatureSet(t.store, FEATURES); // verification refuses models of feature sets the store does not hold
    await registerModel(t.store, localArtifactStore(artifactDir), await registration(v1, 'logistic_regression', 'v1'));
    await registerModel(t.store, localArtifactStore(artifactDir), await registration(v2, 'random_forest', 'v2'));
    await moveAlias(t.store, { name: MODEL, alias: 'champion', version: 1, movedBy: 'test', reason: 'first' });
    await writeServingRoutes(t.store, cache, { model: MODEL, mode: 'single', routes: singleRoute(1), updatedBy: 'test', reason: 'first' });
    await publishOnlineFeatures(cache, features);

    servingModels = new ServingModels({ store: t.store, cache, artifacts: localArtifactStore(artifactDir), pollMs: 500 });
    predictionLog = new PredictionLogWriter(t.store, { flushMs: 50 });
    app = buildApiServer({ store: t.store, cache, servingModels, predictionLog, tokens: TOKENS, servingStarted: () => started });
    await app.listen({ host: '127.0.0.1', port: 0 });
    baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await app?.close();
    await servingModels?.close();
    await predictionLog?.close();
    await cache?.close();
    await t?.drop();
  });

  it('is alive at once but answers 503 on /readyz until the models are loaded', async () => {
    expect((await api.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const before = await api.inject({ method: 'GET', url: '/readyz' });
    expect(before.statusCode).toBe(503);
    expect(before.json()).toMatchObject({ ready: false, checks: { models: { ok: false }, store: { ok: true }, cache: { ok: true } } });
    const early = await api.inject({ method: 'POST', url: '/v1/predictions', headers: asPredict, payload: { symbols: ['SYM00'] } });
    // Nothing loaded yet: not "unknown" (a 404 the typed client would not retry) but loading.
    expect([early.statusCode, early.headers.get('retry-after'), early.json().error]).toEqual([503, '1', 'model_loading']);
    const named = await api.inject({ method: 'GET', url: `/v1/predictions/SYM00?model=${MODEL}`, headers: asPredict });
    expect([named.statusCode, named.headers.get('retry-after')]).toEqual([503, '1']);
    expect(named.json()).toEqual({ error: 'model_loading', message: `model "${MODEL}" is not loaded yet: this process is still reading the serving routes after its start; retry shortly` });
    await servingModels.start();
    started = true;
    const after = await api.inject({ method: 'GET', url: '/readyz' });
    expect([after.statusCode, after.json().ready]).toEqual([200, true]);
    // Once loaded, a model without routes is unknown for good.
    const unknown = await api.inject({ method: 'GET', url: '/v1/predictions/SYM00?model=no-such-model', headers: asPredict });
    expect([unknown.statusCode, unknown.json().error]).toEqual([404, 'unknown_model']);
  });

  it('serves the champion for each symbol, with the model probability, and logs every prediction', async () => {
    const res = await api.inject({ method: 'POST', url: '/v1/predictions', headers: asPredict, payload: { symbols: ['sym00', 'SYM01', 'NOPE', 'SYM01'] } });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { predictions: Array<Record<string, unknown>>; errors: Array<{ symbol: string; error: string }> };
    expect(body.errors).toEqual([{ symbol: 'NOPE', error: expect.stringContaining(`no online features for NOPE in feature set ${FEATURE_SET}`) }]);
    expect(body.predictions.map((p) => [p.symbol, p.model, p.version, p.variant, p.asOf, p.featureSetVersion])).toEqual([
      ['SYM00', MODEL, 1, 'champion', AS_OF, FEATURE_SET],
      ['SYM01', MODEL, 1, 'champion', AS_OF, FEATURE_SET],
    ]);
    const expected = v1.predictProba({ values: Float64Array.from(features[0].values), rows: 1, featureNames: features[0].columns })[1];
    expect(body.predictions[0].probability).toBeCloseTo(expected, 12);
    expect(body.predictions[0].class).toBe(expected > 0.5 ? 1 : 0);
    // Features of 28 June 2024 are every session since behind, and the answer says so.
    const behind = countNyseTradingDaysBetween('2024-06-29', latestExpectedSession(new Date()));
    expect(body.predictions.map((p) => [p.sessionsBehind, p.stale])).toEqual([
      [behind, true],
      [behind, true],
    ]);

    await predictionLog.flush();
    const rows = await t.store.db.selectFrom('prediction_log').selectAll().where('symbol', 'in', ['SYM00', 'SYM01']).orderBy('symbol').execute();
    expect(rows.map((r) => [r.symbol, r.model, Number(r.version), r.variant, Number(r.served), r.routing_key, r.as_of, r.error])).toEqual([
      ['SYM00', MODEL, 1, 'champion', 1, 'SYM00', AS_OF, null],
      ['SYM01', MODEL, 1, 'champion', 1, 'SYM01', AS_OF, null],
    ]);
    expect(rows[0].probability).toBeCloseTo(expected, 12);
    expect(rows[0].id).toBe(`${rows[0].request_id}:champion`);
    expect(rows[0].request_id).not.toBe(rows[1].request_id);
  });

  it('predicts and logs a symbol named twice in a batch once, however it is spelt (case, spaces, the US suffix), and reports a failing one once', async () => {
    const res = await api.inject({ method: 'POST', url: '/v1/predictions', headers: asPredict, payload: { symbols: [' sym07 ', 'SYM07.US', 'sym07', 'SYM07', 'nope7', ' NOPE7'], key: 'dup-client' } });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { predictions: Array<{ symbol: string }>; errors: Array<{ symbol: string }> };
    expect([body.predictions.map((p) => p.symbol), body.errors.map((e) => e.symbol)]).toEqual([['SYM07'], ['NOPE7']]);
    await predictionLog.flush();
    const rows = await t.store.db.selectFrom('prediction_log').select('symbol').where('routing_key', '=', 'dup-client').execute();
    expect(rows.map((r) => r.symbol)).toEqual(['SYM07']);
  });

  it('serves no HEAD but on the probes: a HEAD of a prediction neither predicts nor logs (its answer would never be sent)', async () => {
    await predictionLog.flush();
    const logged = async () => Number((await t.store.db.selectFrom('prediction_log').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    const before = await logged();
    for (const url of ['/v1/predictions/SYM00', `/v1/predictions/SYM01?model=${MODEL}`, '/v1/models', '/openapi.json']) {
      const res = await api.inject({ method: 'HEAD', url, headers: asPredict });
      expect([url, res.statusCode]).toEqual([url, 404]);
    }
    await predictionLog.flush();
    expect(await logged()).toBe(before);
    // The probes answer HEAD with GET's status and no body (a load balancer probing with HEAD took a 404 for a dead process).
    for (const url of ['/healthz', '/readyz']) {
      const [head, get] = [await api.inject({ method: 'HEAD', url }), await api.inject({ method: 'GET', url })];
      expect([url, head.statusCode, head.body]).toEqual([url, get.statusCode, '']);
    }
    const doc = (await api.inject({ method: 'GET', url: '/openapi.json' })).json();
    const withHead = Object.entries(doc.paths as Record<string, object>).filter(([, operations]) => Object.keys(operations).includes('head')).map(([path]) => path);
    expect(withHead).toEqual(['/healthz', '/readyz']);
  });

  it('answers a single-symbol GET, and 404 when the symbol has no online features', async () => {
    const ok = await api.inject({ method: 'GET', url: `/v1/predictions/sym05?model=${MODEL}&key=client-1`, headers: asPredict });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().predictions).toEqual([expect.objectContaining({ symbol: 'SYM05', version: 1, variant: 'champion' })]);
    const missing = await api.inject({ method: 'GET', url: '/v1/predictions/ZZZZ', headers: asPredict });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: 'no_features', message: expect.stringContaining('no online features for ZZZZ') });
    const unknownModel = await api.inject({ method: 'GET', url: '/v1/predictions/SYM05?model=other-model', headers: asPredict });
    expect([unknownModel.statusCode, unknownModel.json().error]).toEqual([404, 'unknown_model']);
    expect(unknownModel.json().message).toContain(`served: ${MODEL}`);
  });

  it('answers 409 naming the reason for a symbol whose features are withheld, and predicts the others of a batch', async () => {
    const withheld = 'its features read an unadjusted 2:1 split on 2024-06-03 (prices ×0.500, volume ×2.000) among the 254 bars they look back';
    await publishOnlineFeatures(cache, [{ ...features[0], symbol: 'SPLT', withheld }]);
    const one = await api.inject({ method: 'GET', url: `/v1/predictions/SPLT?model=${MODEL}`, headers: asPredict });
    expect(one.statusCode).toBe(409);
    expect(one.json()).toEqual({ error: 'features_withheld', message: `the online features of SPLT as of ${AS_OF} (feature set ${FEATURE_SET}) are withheld: ${withheld}` });
    const batch = await api.inject({ method: 'POST', url: '/v1/predictions', headers: asPredict, payload: { model: MODEL, symbols: ['SYM01', 'SPLT'] } });
    expect(batch.statusCode).toBe(200);
    expect(batch.json().predictions.map((p: { symbol: string }) => p.symbol)).toEqual(['SYM01']);
    expect(batch.json().errors).toEqual([{ symbol: 'SPLT', error: expect.stringContaining(withheld) }]);
  });

  it('lists the served model with its routes and loaded versions', async () => {
    const res = await api.inject({ method: 'GET', url: '/v1/models', headers: asPredict });
    expect(res.statusCode).toBe(200);
    const [served] = res.json().models;
    expect(served.model).toBe(MODEL);
    expect(served.routes).toMatchObject({ generation: 1, mode: 'single', routes: [{ variant: 'champion', version: 1, weight: 1 }], shadow: null });
    expect(served.versions).toEqual([expect.objectContaining({ version: 1, algorithm: 'logistic_regression', artifactSha256: expect.stringMatching(/^[0-9a-f]{64}$/) })]);
  });

  it('refuses missing and invalid tokens with 401 and a token without the scope with 403, as JSON', async () => {
    const none = await api.inject({ method: 'POST', url: '/v1/predictions', payload: { symbols: ['SYM00'] } });
    expect([none.statusCode, none.json().error]).toEqual([401, 'unauthorized']);
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    const wrong = await api.inject({ method: 'GET', url: '/v1/models', headers: { authorization: `Bearer ${'x'.repeat(20)}` } });
    expect([wrong.statusCode, wrong.json().error]).toEqual([401, 'unauthorized']);
    const scope = await api.inject({ method: 'PUT', url: `/v1/admin/routes/${MODEL}`, headers: asPredict, payload: { mode: 'single', routes: singleRoute(2), reason: 'x' } });
    expect(scope.statusCode).toBe(403);
    expect(scope.json()).toEqual({ error: 'forbidden', message: expect.stringContaining('lacks the "admin" scope') });
    const rollback = await api.inject({ method: 'POST', url: `/v1/admin/rollback/${MODEL}`, headers: asPredict, payload: { reason: 'x' } });
    expect(rollback.statusCode).toBe(403);
    for (const url of ['/healthz', '/readyz', '/metrics', '/openapi.json']) expect((await api.inject({ method: 'GET', url })).statusCode).toBe(200);
    expect((await readServingRoutes(t.store, MODEL))?.generation).toBe(1); // the refused change did not happen
  });

  it.each([
    ['no body', undefined, /body: .*expected object/],
    ['no symbols', { model: MODEL }, /body\.symbols: .*expected array/],
    ['an empty list', { symbols: [] }, /body\.symbols: must list at least one symbol/],
    ['a bad symbol', { symbols: ['AAPL', 'no spaces'] }, /body\.symbols\.1: expected a symbol such as AAPL/],
    ['too many symbols', { symbols: Array.from({ length: 501 }, (_, i) => `S${i}`) }, /body\.symbols: must list at most 500 symbols/],
    ['a bad model name', { symbols: ['AAPL'], model: 'Bad Name' }, /body\.model: must be a registered model name/],
    ['an unknown field', { symbols: ['AAPL'], symbol: 'AAPL' }, /Unrecognized key: "symbol"/],
    ['an empty key', { symbols: ['AAPL'], key: '' }, /body\.key: must not be empty/],
    ['a key with a lone surrogate', { symbols: ['AAPL'], key: 'k\ud800' }, /body\.key: must be ASCII/],
  ])('answers 400 naming the field for %s', async (_what, payload, message) => {
    const res = await api.inject({ method: 'POST', url: '/v1/predictions', headers: asPredict, ...(payload === undefined ? {} : { payload }) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'invalid_request', message: expect.stringMatching(message) });
  });

  // Stored with U+FFFD in its place, such text no longer matches itself read back: the same rollback
  // retried rolled back a second version (v3 -> v2, then v2 -> v1).
  it.each([
    ['a rollback reason starting', 'POST', `/v1/admin/rollback/${MODEL}`, { reason: '\ud83d bad fills' }, 'body.reason'],
    ['a rollback reason ending', 'POST', `/v1/admin/rollback/${MODEL}`, { toVersion: 1, reason: 'bad fills \udc00' }, 'body.reason'],
    ['a split reason', 'PUT', `/v1/admin/routes/${MODEL}`, { mode: 'single', routes: singleRoute(1), reason: 'x\ud800y' }, 'body.reason'],
    ['a split salt', 'PUT', `/v1/admin/routes/${MODEL}`, { mode: 'single', routes: singleRoute(1), reason: 'new salt', salt: 's\udbff' }, 'body.salt'],
    ['a split reference', 'PUT', `/v1/admin/routes/${MODEL}`, { mode: 'single', routes: singleRoute(1), reason: 'ref', reference: '\udfff' }, 'body.reference'],
  ])('refuses %s with a lone surrogate: 400 naming the field, nothing moved', async (_what, method, url, payload, field) => {
    const before = await readServingRoutes(t.store, MODEL);
    const champion = await aliasVersion(t.store, MODEL, 'champion');
    const res = await api.inject({ method, url, headers: asAdmin, payload });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'invalid_request', message: expect.stringContaining(`${field}: must be well-formed Unicode (no lone surrogate)`) });
    expect(await readServingRoutes(t.store, MODEL)).toEqual(before);
    expect(await aliasVersion(t.store, MODEL, 'champion')).toBe(champion);
  });

  it('takes a reason with a whole emoji (a surrogate pair) as it is', async () => {
    const res = await api.inject({ method: 'PUT', url: `/v1/admin/routes/${MODEL}`, headers: asAdmin, payload: { mode: 'single', routes: singleRoute(1), reason: 'same split \u{1F600}' } });
    expect(res.statusCode).toBe(200);
  });

  it('answers 400 to bodies that are not JSON and 404 JSON to unknown routes', async () => {
    const badJson = await api.inject({ method: 'POST', url: '/v1/predictions', headers: { ...asPredict, 'content-type': 'application/json' }, payload: '{"symbols": [' });
    expect([badJson.statusCode, badJson.json().error]).toEqual([400, 'invalid_json']);
    const text = await api.inject({ method: 'POST', url: '/v1/predictions', headers: { ...asPredict, 'content-type': 'text/plain' }, payload: 'AAPL' });
    expect([text.statusCode, text.json().error]).toEqual([400, 'invalid_body']);
    expect(text.json().message).toContain('must be JSON');
    const form = await api.inject({ method: 'POST', url: '/v1/predictions', headers: { ...asPredict, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'symbols=AAPL' });
    expect(form.statusCode).toBe(400);
    const unknown = await api.inject({ method: 'GET', url: '/v2/nothing?x=1', headers: asPredict });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({ error: 'not_found', message: 'no route GET /v2/nothing; the routes are listed in /openapi.json' });
    const badParam = await api.inject({ method: 'GET', url: '/v1/predictions/B%20AD', headers: asPredict });
    expect([badParam.statusCode, badParam.json().error]).toEqual([400, 'invalid_request']);
    expect(badParam.json().message).toContain('params.symbol');
  });

  it('applies a traffic split from the admin route: visible in /v1/models, routed by sticky key, reference logged unserved', async () => {
    const bad = await api.inject({ method: 'PUT', url: `/v1/admin/routes/${MODEL}`, headers: asAdmin, payload: { mode: 'canary', routes: [{ variant: 'canary', version: 9, weight: 0.5 }, { variant: 'champion', version: 1, weight: 0.5 }], reason: 'try' } });
    expect([bad.statusCode, bad.json().error]).toEqual([400, 'invalid_routes']);
    expect(bad.json().message).toContain('v9');
    const weights = await api.inject({ method: 'PUT', url: `/v1/admin/routes/${MODEL}`, headers: asAdmin, payload: { mode: 'canary', routes: [{ variant: 'canary', version: 2, weight: 0.5 }], reason: 'try' } });
    expect([weights.statusCode, weights.json().error]).toEqual([400, 'invalid_routes']);
    const stale = await api.inject({ method: 'PUT', url: `/v1/admin/routes/${MODEL}`, headers: asAdmin, payload: { mode: 'single', routes: singleRoute(1), reason: 'x', expectedGeneration: 0 } });
    expect([stale.statusCode, stale.json().error]).toEqual([409, 'conflict']);
    // A split serving another version as the champion than the alias names: refused, pointing at the rollback that moves both.
    const other = await api.inject({ method: 'PUT', url: `/v1/admin/routes/${MODEL}`, headers: asAdmin, payload: { mode: 'single', routes: singleRoute(2), reason: 'serve v2' } });
    expect([other.statusCode, other.json().error]).toEqual([409, 'champion_mismatch']);
    expect(other.json().message).toMatch(/^this split would serve v2 as the champion, but the champion alias names v1: .*POST \/v1\/admin\/rollback\//);
    expect((await readServingRoutes(t.store, MODEL))?.generation).toBe(1);
    // The alias's version listed at a sliver beside another answering the rest: a canary split routes no champion variant (or gives it less than another version), an A/B split gives the champion less than another version.
    const sliver = [{ variant: 'main', version: 2, weight: 0.999999 }, { variant: 'old', version: 1, weight: 0.000001 }];
    const canarySliver = await api.inject({ method: 'PUT', url: `/v1/admin/routes/${MODEL}`, headers: asAdmin, payload: { mode: 'canary', routes: sliver, reason: 'sliver' } });
    expect([canarySliver.statusCode, canarySliver.json().error]).toEqual([409, 'champion_mismatch']);
    expect(canarySliver.json().message).toMatch(/^this split would route no "champion" variant/);
    const abSliver = await api.inject({ method: 'PUT', url: `/v1/admin/routes/${MODEL}`, headers: asAdmin, payload: { mode: 'ab', routes: sliver, reason: 'sliver' } });
    expect([abSliver.statusCode, abSliver.json().error]).toEqual([409, 'champion_mismatch']);
    expect(abSliver.json().message).toMatch(/^this split would give v1, the version the champion alias names, 0\.0001% of requests while v2 takes 99\.9999%/);
    // A canary split whose champion route names the alias at a sliver: no running deployment wrote it, so the champion must take at least as much as any other version.
    const championSliver = await api.inject({ method: 'PUT', url: `/v1/admin/routes/${MODEL}`, headers: asAdmin, payload: { mode: 'canary', routes: [{ variant: 'champion', version: 1, weight: 0.000001 }, { variant: 'canary', version: 2, weight: 0.999999 }], reference: 'champion', reason: 'sliver' } });
    expect([championSliver.statusCode, championSliver.json().error]).toEqual([409, 'champion_mismatch']);
    expect(championSliver.json().message).toMatch(/^this split would give v1, the version the champion alias names, 0\.0001% of requests while v2 takes 99\.9999%: a canary split that no running deployment wrote/);
    expect((await readServingRoutes(t.store, MODEL))?.generation).toBe(1);

    const split = { mode: 'canary', routes: [{ variant: 'canary', version: 2, weight: 0.5 }, { variant: 'champion', version: 1, weight: 0.5 }], reference: 'champion', reason: 'canary 50%', expectedGeneration: 1 };
    const res = await api.inject({ method: 'PUT', url: `/v1/admin/routes/${MODEL}`, headers: asAdmin, payload: split });
    expect(res.statusCode).toBe(200);
    expect(res.json().routes).toMatchObject({ generation: 2, mode: 'canary', reference: 'champion', updatedBy: 'api:ops', reason: 'canary 50%' });
    await waitForGeneration(2);

    const routes = (await readServingRoutes(t.store, MODEL))!;
    const predictions = await api.inject({ method: 'POST', url: '/v1/predictions', headers: asPredict, payload: { symbols: SYMBOLS } });
    const served = predictions.json().predictions as Array<{ symbol: string; variant: string; version: number }>;
    expect(served).toHaveLength(SYMBOLS.length);
    for (const p of served) expect([p.variant, p.version]).toEqual([routeFor(routes, p.symbol).variant, routeFor(routes, p.symbol).version]);
    expect(new Set(served.map((p) => p.variant))).toEqual(new Set(['canary', 'champion']));
    // One client key: every symbol goes to the same variant.
    const keyed = await api.inject({ method: 'POST', url: '/v1/predictions', headers: asPredict, payload: { symbols: SYMBOLS.slice(0, 5), key: 'client-42' } });
    expect(new Set((keyed.json().predictions as Array<{ variant: string }>).map((p) => p.variant))).toEqual(new Set([routeFor(routes, 'client-42').variant]));

    await predictionLog.flush();
    const canarySymbol = served.find((p) => p.variant === 'canary')!.symbol;
    const logged = await t.store.db.selectFrom('prediction_log').select(['request_id', 'variant', 'version', 'served']).where('symbol', '=', canarySymbol).where('routing_key', '=', canarySymbol).where('created_at', '>=', routes.updatedAt).execute();
    const requestId = logged.find((r) => r.variant === 'canary')!.request_id;
    expect(logged.filter((r) => r.request_id === requestId).map((r) => [r.variant, Number(r.version), Number(r.served)]).sort()).toEqual([
      ['canary', 2, 1],
      ['champion', 1, 0],
    ]);
  });

  it('rolls back while requests are served: no failed request, and the rolled-back-to champion is served', async () => {
    // v2 becomes champion and takes all traffic; then it is rolled back to v1.
    await moveAlias(t.store, { name: MODEL, alias: 'champion', version: 2, movedBy: 'test', reason: 'promote' });
    const promoted = await writeServingRoutes(t.store, cache, { model: MODEL, mode: 'single', routes: singleRoute(2), updatedBy: 'test', reason: 'promote' });
    await waitForGeneration(promoted.generation);

    const failures: string[] = [];
    const versions = new Set<number>();
    let running = true;
    const traffic = (async () => {
      while (running) {
        const batch = await Promise.all(
          SYMBOLS.slice(0, 8).map((s) => api.inject({ method: 'GET', url: `/v1/predictions/${s}`, headers: asPredict })),
        );
        for (const r of batch) {
          if (r.statusCode !== 200) failures.push(`${r.statusCode} ${r.body}`);
          else versions.add((r.json().predictions as Array<{ version: number }>)[0].version);
        }
      }
    })();
    try {
      await eventually('traffic on v2', async () => (versions.has(2) ? true : undefined));
      const result = await rollbackModel(t.store, cache, { model: MODEL, movedBy: 'test', reason: 'v2 misbehaves', verify: (m, v) => servingModels.verifyVersions(m, [v]) });
      expect([result.fromVersion, result.toVersion, result.routes.mode]).toEqual([2, 1, 'single']);
      await eventually('v1 served again', async () => {
        const r = await api.inject({ method: 'GET', url: '/v1/predictions/SYM03', headers: asPredict });
        return r.statusCode === 200 && r.json().predictions[0].version === 1 ? true : undefined;
      });
    } finally {
      running = false;
      await traffic;
    }
    expect(failures).toEqual([]);
    expect(versions).toEqual(new Set([1, 2]));
    expect(await aliasVersion(t.store, MODEL, 'champion')).toBe(1);

    // The admin route does the same; without a predecessor to fall back on it names what to do.
    const viaApi = await api.inject({ method: 'POST', url: `/v1/admin/rollback/${MODEL}`, headers: asAdmin, payload: { toVersion: 2, reason: 'fixed after all' } });
    expect(viaApi.statusCode).toBe(200);
    expect(viaApi.json()).toMatchObject({ model: MODEL, fromVersion: 1, toVersion: 2, routes: { mode: 'single', routes: [{ variant: 'champion', version: 2, weight: 1 }], updatedBy: 'api:ops' } });
    expect(await aliasVersion(t.store, MODEL, 'champion')).toBe(2);
    const missing = await api.inject({ method: 'POST', url: `/v1/admin/rollback/${MODEL}`, headers: asAdmin, payload: { toVersion: 7, reason: 'x' } });
    expect([missing.statusCode, missing.json().error]).toEqual([400, 'rollback_refused']);
    const noReason = await api.inject({ method: 'POST', url: `/v1/admin/rollback/${MODEL}`, headers: asAdmin, payload: { toVersion: 1 } });
    expect(noReason.statusCode).toBe(400);
    expect(noReason.json().message).toMatch(/body\.reason/);
  });

  it('asks for a model name when several are served', async () => {
    const other = 'other-model';
    const d = separable(100, 5, 8);
    const m = await logisticRegression.fit({ features: withColumns(d.x, COLUMNS), labels: d.y, classes: 2, seed: 2 }, {});
    await registerModel(t.store, localArtifactStore(artifactDir), { ...(await registration(m, 'logistic_regression', 'other-1')), name: other });
    const routes = await writeServingRoutes(t.store, cache, { model: other, mode: 'single', routes: singleRoute(1), updatedBy: 'test', reason: 'second model' });
    await eventually('the second model to load', async () => (servingModels.snapshot(other)?.routes.generation === routes.generation ? true : undefined));
    const res = await api.inject({ method: 'POST', url: '/v1/predictions', headers: asPredict, payload: { symbols: ['SYM00'] } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'model_required', message: `several models are served (${MODEL}, ${other}); name one in "model"` });
    const named = await api.inject({ method: 'POST', url: '/v1/predictions', headers: asPredict, payload: { symbols: ['SYM00'], model: other } });
    expect(named.json().predictions[0]).toMatchObject({ model: other, version: 1 });
    // Nothing to roll back to: the error says what to give instead.
    await expect(rollbackModel(t.store, cache, { model: other, movedBy: 'test', reason: 'x', verify: (m, v) => servingModels.verifyVersions(m, [v]) })).rejects.toThrow(/model other-model has no champion; name the version to roll back to/);
  });

  it('exposes Prometheus metrics and an OpenAPI 3.1 document built from the schemas', async () => {
    const metrics = (await api.inject({ method: 'GET', url: '/metrics' })).body;
    for (const name of ['api_http_requests_total', 'api_http_request_duration_seconds_bucket', 'api_http_errors_total', 'api_predictions_total', 'api_model_swaps_total', 'api_model_verification_failures_total', 'api_prediction_log_queued', 'api_prediction_log_dropped_total', 'process_cpu_user_seconds_total']) {
      expect(metrics).toContain(name);
    }
    expect(metrics).toMatch(/api_predictions_total\{model="direction-5d",variant="champion",version="1",served="true"\} \d+/);
    expect(metrics).toMatch(/api_stale_predictions_total\{model="direction-5d"\} [1-9]\d*/);
    expect(metrics).toMatch(/api_http_requests_total\{method="POST",route="\/v1\/predictions",status="400"\} \d+/);
    expect(metrics).toContain('le="0.0005"');
    const doc = (await api.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/predictions', '/v1/predictions/{symbol}', '/v1/models', '/v1/admin/routes/{model}', '/v1/admin/rollback/{model}']));
    expect(doc.paths['/v1/predictions'].post.requestBody.content['application/json'].schema.properties.symbols).toMatchObject({ type: 'array', maxItems: 500 });
    expect(JSON.stringify(doc)).toContain('sessionsBehind');
  });

  it('works over a real socket with the typed client', async () => {
    const server = buildApiServer({ store: t.store, cache, servingModels, predictionLog, tokens: TOKENS });
    await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const baseUrl = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
      const client = new PredictionApiClient({ baseUrl, token: PREDICT_TOKEN });
      expect((await client.ready()).ready).toBe(true);
      const response = await client.predict(['SYM00', 'NOPE'], { model: MODEL });
      expect(response.predictions.map((p) => p.symbol)).toEqual(['SYM00']);
      expect(response.errors.map((e) => e.symbol)).toEqual(['NOPE']);
      expect((await client.predictOne('SYM01', { model: MODEL })).model).toBe(MODEL);
      expect((await client.models()).models.map((m) => m.model)).toEqual([MODEL, 'other-model']);
      const error = await client.predictOne('NOPE', { model: MODEL }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PredictionApiError);
      expect([(error as PredictionApiError).status, (error as PredictionApiError).code]).toEqual([404, 'no_features']);
      const unauthorized = await new PredictionApiClient({ baseUrl, token: 'n'.repeat(20) }).models().catch((e: unknown) => e);
      expect((unauthorized as PredictionApiError).status).toBe(401);
    } finally {
      await server.close();
    }
  });

  it('runs as the API process: listens at once, becomes ready, and stops gracefully', async () => {
    const lines: string[] = [];
    const config = loadConfig({ DATABASE_URL: t.url, ARTIFACT_DIR: artifactDir, API_ADDRESS: '127.0.0.1:0', API_TOKENS: `reader:${PREDICT_TOKEN}=predict` });
    const api = await startApiProcess(config, (line) => lines.push(line));
    try {
      expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
      await api.started;
      const ready = await eventually('the process to be ready', async () => ((await fetch(`${api.url}/readyz`)).status === 200 ? true : undefined));
      expect(ready).toBe(true);
      const models = await new PredictionApiClient({ baseUrl: api.url, token: PREDICT_TOKEN }).models();
      expect(models.models.map((m) => m.model)).toEqual([MODEL, 'other-model']);
    } finally {
      expect(await api.stop()).toBe(0);
    }
    await expect(fetch(`${api.url}/healthz`)).rejects.toThrow(); // no longer listening
    expect(lines.some((l) => l.startsWith('prediction API listening on'))).toBe(true);
    // No MODEL_SIGNING_KEY (the default): one start-up line says the rows are not signed and what that lets through.
    expect(lines.filter((l) => l.startsWith('warning: MODEL_SIGNING_KEY is not set'))).toEqual([expect.stringMatching(/registry rows are unsigned and not checked: .*edited there .* is served as if it had been registered/)]);
    expect(lines[lines.length - 1]).toMatch(/^stopped; prediction log: \d+ rows written, 0 dropped, 0 rejected$/);
    await expect(startApiProcess(loadConfig({ DATABASE_URL: t.url }), () => undefined)).rejects.toThrow(/API_TOKENS is empty/);
  });

  it('documents in /openapi.json every status its routes answered in these tests', async () => {
    const doc = (await request(baseUrl, { method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    const templates = Object.keys(doc.paths).map((template) => ({ template, pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`) }));
    const undocumented = new Set<string>();
    for (const a of answered) {
      const route = templates.find((r) => r.pattern.test(a.path));
      const operation = route ? doc.paths[route.template][a.method] : undefined;
      if (!route) continue; // no such route: the 404 of an unknown path
      // A method the document does not list on a path it does (HEAD) is no route either: a 404, never served.
      if (!operation) {
        if (a.status !== 404) undocumented.add(`${a.method.toUpperCase()} ${route.template} ${a.status}`);
        continue;
      }
      if (!(String(a.status) in operation.responses)) undocumented.add(`${a.method.toUpperCase()} ${route.template} ${a.status}`);
    }
    expect(answered.length).toBeGreaterThan(30);
    expect([...undocumented]).toEqual([]);
  });
});
