/**
 * A version whose own evaluation tripped a guard (a suspected leak) never takes traffic, however it
 * is asked for: promotion already refuses it, and so do a deployment started by hand (real Temporal
 * dev server), the admin API's route changes and rollbacks, and the API's loader when a routes row
 * names it past every check (a hand edit). Its recorded metrics decide: lib/registry/promotion.ts servingVeto.
 */
import crypto from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import { RedisCache } from '../../lib/cache/redis-cache';
import type { ApiToken } from '../../lib/config';
import { aliasVersion, moveAlias } from '../../lib/registry/model-registry';
import { servingVeto } from '../../lib/registry/promotion';
import type { ServingModels } from '../../lib/serving/serving-models';
import { readServingRoutes, singleRoute, writeServingRoutes, type ServingRoutes } from '../../lib/serving/serving-routes';
import { TASK_QUEUES } from '../../lib/task-queues';
import { deploymentWorkflow } from '../../workflows';
import { startApiStack, type ApiStack } from '../helpers/api-stack';
import { createSqliteTestDatabase, tempDir, TEST_REDIS_URL, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket, type OracleMarket } from '../helpers/oracle-models';
import { startTemporal, withWorkers } from '../helpers/temporal';

const TOKEN: ApiToken = { name: 'test', token: 'veto-test-token-0123456789abcdef', scopes: ['predict', 'admin'] };
const auth = { authorization: `Bearer ${TOKEN.token}` };

/** What the training pipeline records for a model whose single-feature scan named a leak. */
const LEAKY_METRICS = {
  outOfSample: { guards: [{ guard: 'plausibility_bound', tripped: false, message: 'within the plausible range' }] },
  scores: { auc: 0.71, trippedGuards: [{ guard: 'single_feature_scan', tripped: true, message: 'suspected leak: ret_5 alone scores AUC 0.9900' }] },
  shuffledLabel: { passed: true, message: 'at chance' },
};

function failureChain(error: unknown): string {
  const parts: string[] = [];
  for (let e = error as { message?: string; type?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) parts.push(`${e.type ?? ''} ${e.message ?? ''}`);
  return parts.join(' | ');
}

describe('servingVeto', () => {
  it('reads every kind of recorded veto, and none from an honest or an older row', () => {
    expect(servingVeto(LEAKY_METRICS)).toBe('guard single_feature_scan tripped: suspected leak: ret_5 alone scores AUC 0.9900');
    expect(servingVeto({ outOfSample: { guards: [{ guard: 'degenerate_scores', tripped: true, message: 'one score for every symbol' }] } })).toBe('guard degenerate_scores tripped: one score for every symbol');
    expect(servingVeto({ outOfSample: { leakageAlarm: 'AUC 0.97 is implausible' } })).toBe('AUC 0.97 is implausible');
    expect(servingVeto({ shuffledLabel: { passed: false, message: 'AUC 0.62 on permuted labels' } })).toBe('the shuffled-label control failed: AUC 0.62 on permuted labels');
    // The same guard recorded twice (in the report and in the scores) is named once.
    const twice = { outOfSample: { guards: [{ guard: 'plausibility_bound', tripped: true, message: 'AUC 0.8' }] }, scores: { trippedGuards: [{ guard: 'plausibility_bound', tripped: true, message: 'AUC 0.8' }] } };
    expect(servingVeto(twice)).toBe('guard plausibility_bound tripped: AUC 0.8');
    expect(servingVeto({})).toBeUndefined();
    expect(servingVeto({ outOfSample: { guards: [{ guard: 'plausibility_bound', tripped: false, message: 'fine' }] }, scores: { trippedGuards: [] }, shuffledLabel: { passed: true } })).toBeUndefined();
  });
});

describe('a vetoed version never takes traffic (real Temporal server, API, SQLite, Redis)', () => {
  let env: TestWorkflowEnvironment;
  let t: TestDatabase;
  let cache: RedisCache;
  let artifactDir: string;
  let serving: ServingModels;
  let app: FastifyInstance;
  let api: ApiStack;
  let market: OracleMarket;

  beforeAll(async () => {
    env = await startTemporal();
    t = await createSqliteTestDatabase();
    cache = new RedisCache(TEST_REDIS_URL, `mlp-test-veto-${crypto.randomBytes(3).toString('hex')}:`);
    artifactDir = tempDir('mlp-veto-artifacts-');
    market = await setUpOracleMarket(t.store, cache);
    api = await startApiStack({ store: t.store, cache, artifactDir, tokens: [TOKEN] });
    ({ serving, app } = api);
  });
  afterAll(async () => {
    await api?.close();
    await cache?.close();
    await t?.drop();
    await env?.teardown();
  });

  async function served(model: string, version: number): Promise<ServingRoutes> {
    await writeServingRoutes(t.store, cache, { model, mode: 'single', routes: singleRoute(version), updatedBy: 'test', reason: 'set-up' });
    for (let i = 0; i < 200 && serving.snapshot(model)?.routes.routes[0].version !== version; i++) await new Promise((r) => setTimeout(r, 25));
    expect(serving.snapshot(model)?.routes.routes[0].version).toBe(version);
    return (await readServingRoutes(t.store, model))!;
  }

  const register = (name: string, seed: number, metrics?: Record<string, unknown>) => registerOracleModel(t.store, artifactDir, { name, seed, flip: false, featureSetVersion: market.featureSetVersion, ...(metrics ? { metrics } : {}) });

  it('fails a deployment started by hand before the champion alias, the canary alias or the routes move', async () => {
    const model = 'veto-deploy';
    const champion = await register(model, 41);
    const leaky = await register(model, 42, LEAKY_METRICS);
    await moveAlias(t.store, { name: model, alias: 'champion', version: champion, movedBy: 'test', reason: 'first' });
    const before = await served(model, champion);
    const failure = await withWorkers(env, { store: t.store, cache, artifactDir }, () =>
      env.client.workflow
        .execute(deploymentWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId: `veto-${Date.now()}`, args: [{ model, challengerVersion: leaky, canary: { steps: [50, 100], analysisSeconds: 1, thresholds: { minMaturedPairs: 20 } } }] })
        .then(() => undefined, (error: unknown) => error),
    );
    expect(failureChain(failure)).toMatch(new RegExp(`SERVING_VETOED.*cannot deploy ${model} v${leaky}: ${model} v${leaky} must not be served: its evaluation recorded guard single_feature_scan tripped: suspected leak: ret_5`));
    expect(await aliasVersion(t.store, model, 'champion')).toBe(champion);
    expect(await aliasVersion(t.store, model, 'canary')).toBeUndefined();
    expect(await readServingRoutes(t.store, model)).toEqual(before);
  });

  it('refuses admin route changes and rollbacks to it with a 422 naming the guard', async () => {
    const model = 'veto-admin';
    const good = await register(model, 51);
    const leaky = await register(model, 52, LEAKY_METRICS);
    await moveAlias(t.store, { name: model, alias: 'champion', version: good, movedBy: 'test', reason: 'first' });
    const before = await served(model, good);
    const put = await app.inject({ method: 'PUT', url: `/v1/admin/routes/${model}`, headers: auth, payload: { mode: 'canary', routes: [{ variant: 'canary', version: leaky, weight: 0.1 }, { variant: 'champion', version: good, weight: 0.9 }], reason: 'canary by hand' } });
    expect(put.statusCode).toBe(422);
    expect(put.json()).toEqual({ error: 'serving_vetoed', message: expect.stringMatching(new RegExp(`${model} v${leaky} must not be served: .*single_feature_scan.*the routes are unchanged`)) });
    const rollback = await app.inject({ method: 'POST', url: `/v1/admin/rollback/${model}`, headers: auth, payload: { toVersion: leaky, reason: 'back' } });
    expect(rollback.statusCode).toBe(422);
    expect(rollback.json().error).toBe('serving_vetoed');
    expect(await readServingRoutes(t.store, model)).toEqual(before);
    expect(await aliasVersion(t.store, model, 'champion')).toBe(good);
  });

  it('never loads it when a routes row names it past every check, and says why on /readyz', async () => {
    const model = 'veto-ready';
    const good = await register(model, 61);
    const leaky = await register(model, 62, LEAKY_METRICS);
    await served(model, good);
    for (const other of ['veto-deploy', 'veto-admin']) await t.store.db.deleteFrom('serving_routes').where('model', '=', other).execute();
    await writeServingRoutes(t.store, cache, { model, mode: 'single', routes: singleRoute(leaky), updatedBy: 'test', reason: 'a hand edit' });
    let ready = await app.inject({ method: 'GET', url: '/readyz' });
    for (let i = 0; i < 100 && !/failed/.test(ready.body); i++) {
      await new Promise((r) => setTimeout(r, 50));
      ready = await app.inject({ method: 'GET', url: '/readyz' });
    }
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks.models.detail).toMatch(new RegExp(`loading generation \\d+ failed: ${model} v${leaky} cannot be loaded: ${model} v${leaky} must not be served: .*single_feature_scan`));
    // The version before keeps serving.
    expect(serving.snapshot(model)?.routes.routes[0].version).toBe(good);
  });
});
