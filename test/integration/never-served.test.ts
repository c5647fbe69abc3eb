/**
 * Versions that must never take traffic: a tampered artifact (one byte of it flipped), and a
 * version whose own evaluation tripped a guard (a suspected leak; lib/registry/promotion.ts
 * servingVeto). For each, deploymentWorkflow (real Temporal dev server) fails naming the cause
 * before the champion alias or the serving routes move; the admin API refuses to route or roll back
 * to it; and the API's loader never loads it when a routes row names it past every check (/readyz
 * is 503 meanwhile, and the version before keeps serving).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import { RedisCache } from '../../lib/cache/redis-cache';
import type { ApiToken } from '../../lib/config';
import { artifactKey } from '../../lib/registry/artifact-store';
import { aliasVersion, getModelVersion, moveAlias } from '../../lib/registry/model-registry';
import { rollbackModel } from '../../lib/serving/rollback';
import { ServingModels } from '../../lib/serving/serving-models';
import { readServingRoutes, singleRoute, writeServingRoutes, type ServingRoutes } from '../../lib/serving/serving-routes';
import { TASK_QUEUES } from '../../lib/task-queues';
import { deploymentWorkflow } from '../../workflows';
import { startApiStack, type ApiStack } from '../helpers/api-stack';
import { createSqliteTestDatabase, tempDir, TEST_REDIS_URL, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket, type OracleMarket } from '../helpers/oracle-models';
import { startTemporal, withWorkers } from '../helpers/temporal';
import { LEAKY_METRICS } from '../helpers/registration';

const TOKEN: ApiToken = { name: 'test', token: 'tampered-test-token-0123456789', scopes: ['predict', 'admin'] };
const auth = { authorization: `Bearer ${TOKEN.token}` };

/** Every message and failure type along an error's cause chain (Temporal nests activity failures). */
function failureChain(error: unknown): string {
  const parts: string[] = [];
  for (let e = error as { message?: string; type?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) parts.push(`${e.type ?? ''} ${e.message ?? ''}`);
  return parts.join(' | ');
}

describe('tampered and vetoed versions (real Temporal server, API, SQLite, Redis)', () => {
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
    cache = new RedisCache(TEST_REDIS_URL, `mlp-test-tamper-${crypto.randomBytes(3).toString('hex')}:`);
    artifactDir = tempDir('mlp-tamper-artifacts-');
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

  /** Flips one byte in the middle of the version's artifact file (artifacts are content-addressed: every test uses its own seeds). */
  async function tamper(model: string, version: number): Promise<void> {
    const file = path.join(artifactDir, artifactKey((await getModelVersion(t.store, model, version)).artifactSha256));
    const bytes = fs.readFileSync(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    fs.writeFileSync(file, bytes);
  }

  async function served(model: string, version: number): Promise<ServingRoutes> {
    await writeServingRoutes(t.store, cache, { model, mode: 'single', routes: singleRoute(version), updatedBy: 'test', reason: 'set-up' });
    for (let i = 0; i < 200 && serving.snapshot(model)?.routes.routes[0].version !== version; i++) await new Promise((r) => setTimeout(r, 25));
    expect(serving.snapshot(model)?.routes.routes[0].version).toBe(version);
    return (await readServingRoutes(t.store, model))!;
  }

  const deploy = (model: string, challengerVersion: number) =>
    env.client.workflow.execute(deploymentWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId: `tamper-${model}-${Date.now()}`, args: [{ model, challengerVersion, canary: { steps: [50, 100], analysisSeconds: 1, thresholds: { minMaturedPairs: 20 } } }] });

  it('fails a deployment of a tampered first champion before the alias or the routes move (the issue\'s case)', async () => {
    const model = 'tamper-first';
    const v1 = await registerOracleModel(t.store, artifactDir, { name: model, seed: 1, flip: false, featureSetVersion: market.featureSetVersion });
    const v2 = await registerOracleModel(t.store, artifactDir, { name: model, seed: 2, flip: false, featureSetVersion: market.featureSetVersion });
    const before = await served(model, v2); // v2 serves but is no champion: v1 would be "the first champion"
    await tamper(model, v1);
    const failure = await withWorkers(env, { store: t.store, cache, artifactDir }, () => deploy(model, v1).then(() => undefined, (error: unknown) => error));
    expect(failure).toBeDefined();
    expect(failureChain(failure)).toMatch(/ARTIFACT_INVALID/);
    expect(failureChain(failure)).toMatch(new RegExp(`${model} v${v1} artifact failed verification: .*does not match its sha256`));
    expect(await aliasVersion(t.store, model, 'champion')).toBeUndefined();
    expect(await readServingRoutes(t.store, model)).toEqual(before);
  });

  it('fails a canary of a tampered challenger before anything moves, keeping the champion', async () => {
    const model = 'tamper-canary';
    const champion = await registerOracleModel(t.store, artifactDir, { name: model, seed: 11, flip: false, featureSetVersion: market.featureSetVersion });
    const challenger = await registerOracleModel(t.store, artifactDir, { name: model, seed: 12, flip: false, featureSetVersion: market.featureSetVersion });
    await moveAlias(t.store, { name: model, alias: 'champion', version: champion, movedBy: 'test', reason: 'first' });
    const before = await served(model, champion);
    await tamper(model, challenger);
    const failure = await withWorkers(env, { store: t.store, cache, artifactDir }, () => deploy(model, challenger).then(() => undefined, (error: unknown) => error));
    expect(failureChain(failure)).toMatch(new RegExp(`ARTIFACT_INVALID.*cannot deploy ${model} v${challenger}`));
    expect(await aliasVersion(t.store, model, 'champion')).toBe(champion);
    expect(await aliasVersion(t.store, model, 'canary')).toBeUndefined();
    expect(await readServingRoutes(t.store, model)).toEqual(before);
  });

  it('refuses admin route changes and rollbacks to a tampered version with a 422 naming the cause', async () => {
    const model = 'tamper-admin';
    const good = await registerOracleModel(t.store, artifactDir, { name: model, seed: 21, flip: false, featureSetVersion: market.featureSetVersion });
    const bad = await registerOracleModel(t.store, artifactDir, { name: model, seed: 22, flip: false, featureSetVersion: market.featureSetVersion });
    await moveAlias(t.store, { name: model, alias: 'champion', version: good, movedBy: 'test', reason: 'first' });
    const before = await served(model, good);
    await tamper(model, bad);

    const put = await app.inject({ method: 'PUT', url: `/v1/admin/routes/${model}`, headers: auth, payload: { mode: 'canary', routes: [{ variant: 'canary', version: bad, weight: 0.1 }, { variant: 'champion', version: good, weight: 0.9 }], reason: 'canary by hand' } });
    expect(put.statusCode).toBe(422);
    expect(put.json()).toEqual({ error: 'artifact_invalid', message: expect.stringMatching(new RegExp(`${model} v${bad} artifact failed verification: .*sha256.*routes are unchanged`)) });

    const rollback = await app.inject({ method: 'POST', url: `/v1/admin/rollback/${model}`, headers: auth, payload: { toVersion: bad, reason: 'back' } });
    expect(rollback.statusCode).toBe(422);
    expect(rollback.json().error).toBe('artifact_invalid');

    expect(await readServingRoutes(t.store, model)).toEqual(before);
    expect(await aliasVersion(t.store, model, 'champion')).toBe(good);
  });

  it('answers 503 on /readyz, naming the model and versions, while routes name a version that cannot be loaded', async () => {
    const model = 'tamper-ready';
    const good = await registerOracleModel(t.store, artifactDir, { name: model, seed: 31, flip: false, featureSetVersion: market.featureSetVersion });
    const bad = await registerOracleModel(t.store, artifactDir, { name: model, seed: 32, flip: false, featureSetVersion: market.featureSetVersion });
    await served(model, good);
    // Tidy up the other tests' models so only this one decides readiness.
    for (const other of ['tamper-first', 'tamper-canary', 'tamper-admin']) await t.store.db.deleteFrom('serving_routes').where('model', '=', other).execute();
    await new Promise((r) => setTimeout(r, 500));
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);

    await tamper(model, bad);
    // Written past every check (as a stale process or a hand edit of the table would): the loader must refuse it.
    await writeServingRoutes(t.store, cache, { model, mode: 'single', routes: singleRoute(bad), updatedBy: 'test', reason: 'bypass' });
    let ready = await app.inject({ method: 'GET', url: '/readyz' });
    for (let i = 0; i < 100 && !/failed/.test(ready.body); i++) {
      await new Promise((r) => setTimeout(r, 50));
      ready = await app.inject({ method: 'GET', url: '/readyz' });
    }
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks.models).toEqual({ ok: false, detail: expect.stringMatching(new RegExp(`${model}: routes generation \\d+ name v${bad} \\(champion\\) but generation \\d+ \\(v${good} \\(champion\\)\\) is what is loaded; loading generation \\d+ failed: .*sha256`)) });
    // The old snapshot keeps serving meanwhile.
    expect(serving.snapshot(model)?.routes.routes[0].version).toBe(good);
  });

  // A version whose own evaluation tripped a guard (a suspected leak): its recorded metrics veto it.
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

  it('replaces a vetoed champion outright when a clean version is deployed (no canary beside it, no way back to it)', async () => {
    const model = 'veto-champion';
    const leaky = await register(model, 71, LEAKY_METRICS);
    const clean = await register(model, 72);
    // A leaky champion from before the veto (moved by hand), still named by the alias.
    await moveAlias(t.store, { name: model, alias: 'champion', version: leaky, movedBy: 'test', reason: 'deployed by hand before the veto' });
    await withWorkers(env, { store: t.store, cache, artifactDir }, () =>
      env.client.workflow.execute(deploymentWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId: `veto-champion-${Date.now()}`, args: [{ model, challengerVersion: clean, canary: { steps: [50, 100], analysisSeconds: 1, thresholds: { minMaturedPairs: 20 } } }] }),
    );
    expect(await aliasVersion(t.store, model, 'champion')).toBe(clean);
    expect((await readServingRoutes(t.store, model))?.routes.map((r) => [r.version, r.weight])).toEqual([[clean, 1]]);
    expect((await t.store.db.selectFrom('deployments').select('champion_version').where('model', '=', model).executeTakeFirstOrThrow()).champion_version).toBeNull();
  });

  it('refuses a rollback to it whatever check the caller passes (the CLI verifies the artifact only)', async () => {
    const model = 'veto-rollback';
    const good = await register(model, 81);
    const leaky = await register(model, 82, LEAKY_METRICS);
    await moveAlias(t.store, { name: model, alias: 'champion', version: good, movedBy: 'test', reason: 'first' });
    const before = await served(model, good);
    await expect(rollbackModel(t.store, cache, { model, toVersion: leaky, movedBy: 'test', reason: 'back', verify: async () => undefined })).rejects.toThrow(new RegExp(`cannot roll ${model} back to v${leaky}: ${model} v${leaky} must not be served: .*single_feature_scan`));
    expect(await readServingRoutes(t.store, model)).toEqual(before);
    expect(await aliasVersion(t.store, model, 'champion')).toBe(good);
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
    for (const other of ['tamper-first', 'tamper-canary', 'tamper-admin', 'tamper-ready', 'veto-deploy', 'veto-champion', 'veto-rollback', 'veto-admin']) await t.store.db.deleteFrom('serving_routes').where('model', '=', other).execute();
    await writeServingRoutes(t.store, cache, { model, mode: 'single', routes: singleRoute(leaky), updatedBy: 'test', reason: 'a hand edit' });
    // Waited on by this model's own failure: the other models' deleted routes leave their failures on /readyz until the next poll.
    const ownFailure = new RegExp(`${model} v${leaky} cannot be loaded`);
    let ready = await app.inject({ method: 'GET', url: '/readyz' });
    for (let i = 0; i < 100 && !ownFailure.test(ready.body); i++) {
      await new Promise((r) => setTimeout(r, 50));
      ready = await app.inject({ method: 'GET', url: '/readyz' });
    }
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks.models.detail).toMatch(new RegExp(`loading generation \\d+ failed: ${model} v${leaky} cannot be loaded: ${model} v${leaky} must not be served: .*single_feature_scan`));
    // The version before keeps serving.
    expect(serving.snapshot(model)?.routes.routes[0].version).toBe(good);
  });
});
