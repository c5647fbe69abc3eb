/**
 * A serving_routes row edited by SQL to serve an older signed version as champion while the champion
 * alias names another: the API serves it as routed but reports the disagreement (/readyz degraded,
 * /v1/models, the log once), and a monitoring run raises champion_mismatch naming the routes and
 * the alias. A running deployment's own splits are not a disagreement. Nothing is moved.
 *
 * Record that run's history (monitoring-v3-served-champion-check, replayed by replay-deployment.test.ts) with
 *   RECORD_HISTORIES=1 npx jest test/integration/served-champion-check.test.ts -t "raises champion_mismatch naming the routes and the alias"
 */
import type { AddressInfo } from 'node:net';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { buildApiServer } from '../../api/server';
import { monitoringActivities } from '../../activities/monitoring';
import { listAlerts } from '../../lib/alerts/alert-store';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { loadConfig } from '../../lib/config';
import { parseMonitoringRules } from '../../lib/monitoring/monitoring-rules';
import { evaluateServedChampions } from '../../lib/monitoring/served-champions';
import { aliasVersion } from '../../lib/registry/model-registry';
import { PredictionLogWriter } from '../../lib/serving/prediction-log';
import { ServingModels } from '../../lib/serving/serving-models';
import { championAliasDisagreement, servedChampionDisagreements, type OwnershipOptions } from '../../lib/serving/served-champion';
import { readServingRoutes, singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import type { Database } from '../../lib/store/database';
import { TASK_QUEUES } from '../../lib/task-queues';
import { deploymentWorkflow, monitoringWorkflow, type MonitoringSummary } from '../../workflows';
import { createSqliteTestDatabase, DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { oracleFeatureSet, registerOracleModel, setUpOracleMarket } from '../helpers/oracle-models';
import { saveTestFeatureSet } from '../helpers/registration';
import { startTemporal, withWorkers } from '../helpers/temporal';
import { until } from '../helpers/until';
import { recordHistory } from '../helpers/workflow-histories';

jest.setTimeout(180_000);

const ADMIN_TOKEN = 'a'.repeat(20);
const TOKENS = loadConfig({ API_TOKENS: `ops:${ADMIN_TOKEN}=predict+admin` }).apiTokens;

/** v1 then v2 promoted (routes and alias together) under `name`, of `featureSetVersion`. */
async function promotedTwice(store: Database, cache: MemoryCache, artifactDir: string, name: string, featureSetVersion: string): Promise<[number, number]> {
  const v1 = await registerOracleModel(store, artifactDir, { name, seed: 1, flip: true, featureSetVersion });
  const v2 = await registerOracleModel(store, artifactDir, { name, seed: 2, flip: false, featureSetVersion });
  for (const v of [v1, v2]) await writeServingRoutes(store, cache, { model: name, mode: 'single', routes: singleRoute(v), updatedBy: 'deploy', reason: `promote v${v}`, alias: { alias: 'champion', version: v, movedBy: 'deploy', reason: `promote v${v}` } });
  return [v1, v2];
}

/** The hand edit: the routes row put back to `version` (a restored backup), the alias untouched. */
async function editRoutesTo(store: Database, name: string, version: number): Promise<number> {
  const row = await store.db.selectFrom('serving_routes').selectAll().where('model', '=', name).executeTakeFirstOrThrow();
  const split = JSON.parse(row.routes) as { routes: Array<{ version: number }> };
  split.routes[0].version = version;
  const generation = Number(row.generation) + 1;
  await store.db.updateTable('serving_routes').set({ routes: JSON.stringify(split), generation, updated_by: 'deploy', reason: 'promote v2' }).where('model', '=', name).execute();
  return generation;
}

describe.each(DRIVERS)('routes and champion alias watched for agreement on %s', (_driver, create) => {
  let t: TestDatabase;
  const cache = new MemoryCache();
  const artifactDir = tempDir('mlp-served-champion-');
  let featureSetVersion: string;
  beforeAll(async () => {
    t = await create();
    featureSetVersion = (await saveTestFeatureSet(t.store, oracleFeatureSet('served-champion'))).version;
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('monitoring names a routes row edited to serve another champion than the alias; agreeing models and a deployment\'s own last step raise nothing', async () => {
    const [v1, v2] = await promotedTwice(t.store, cache, artifactDir, 'edited', featureSetVersion);
    await promotedTwice(t.store, cache, artifactDir, 'agreeing', featureSetVersion);
    const [d1, d2] = await promotedTwice(t.store, cache, artifactDir, 'deploying', featureSetVersion);
    // A running deployment of d2 over d1 (alias back on d1) at its last canary step: d2 on all traffic, d1's route at 0.
    await writeServingRoutes(t.store, cache, { model: 'deploying', mode: 'single', routes: singleRoute(d1), updatedBy: 'ops', reason: 'back to d1', alias: { alias: 'champion', version: d1, movedBy: 'ops', reason: 'back to d1' } });
    await t.store.db.insertInto('deployments').values({ id: 'd', model: 'deploying', mode: 'canary', champion_version: d1, challenger_version: d2, status: 'running', plan: '{}', outcome: null, started_by: 'test', started_at: new Date().toISOString(), ended_at: null, running_model: 'deploying', routes_generation: 0, challenger_sha256: null, champion_sha256: null }).execute();
    // Written as the deployment writes it: its row records the generation in the same transaction.
    const written = await writeServingRoutes(t.store, cache, { model: 'deploying', mode: 'canary', routes: [{ variant: 'canary', version: d2, weight: 1 }, { variant: 'champion', version: d1, weight: 0 }], reference: 'champion', updatedBy: 'deployment d', reason: 'canary step 4/4: 100%', deploymentId: 'd' });
    expect(Number((await t.store.db.selectFrom('deployments').select('routes_generation').where('id', '=', 'd').executeTakeFirstOrThrow()).routes_generation)).toBe(written.generation);

    const activities = monitoringActivities({ store: t.store, signing: { signingKey: undefined } });
    expect((await activities.checkServedChampions({})).findings).toEqual([]);
    const generation = await editRoutesTo(t.store, 'edited', v1);
    const result = await activities.checkServedChampions({});
    expect(result.mismatches).toEqual([{ model: 'edited', generation, message: `the serving routes of edited (generation ${generation}, by deploy: promote v2) serve v${v1} as the champion, but the champion alias names v${v2}` }]);
    expect(result.findings.map((f) => [f.alert.rule, f.alert.severity, f.alert.subject, f.retrain, f.blockDeployments])).toEqual([['champion_mismatch', 'critical', 'serving routes of model edited', false, false]]);
    expect(result.findings[0].alert.message).toMatch(/judge the alias's version\. Serve the intended champion .*mlp models rollback edited --to-version N/);
    // Asked for other models only: nothing; the rule switched off: nothing.
    expect((await activities.checkServedChampions({ models: ['agreeing'] })).mismatches).toEqual([]);
    expect(evaluateServedChampions(result.mismatches, parseMonitoringRules({ champion_mismatch: { enabled: false } })).findings).toEqual([]);
    // Nothing moved.
    expect((await readServingRoutes(t.store, 'edited'))?.routes).toEqual(singleRoute(v1));
    expect(await aliasVersion(t.store, 'edited', 'champion')).toBe(v2);
  });

  it('a running deployments row exempts only the split its deployment wrote itself, while its workflow is open', async () => {
    const [v1, v2] = await promotedTwice(t.store, cache, artifactDir, 'faked', featureSetVersion);
    // Routes edited by SQL to a canary split giving v1 (the alias's champion) no traffic and v2 every
    // request, then a 'running' deployments row inserted by hand, with no workflow behind it.
    const row = await t.store.db.selectFrom('serving_routes').selectAll().where('model', '=', 'faked').executeTakeFirstOrThrow();
    const generation = Number(row.generation) + 1;
    const split = { ...(JSON.parse(row.routes) as object), mode: 'canary', routes: [{ variant: 'champion', version: v2, weight: 0 }, { variant: 'canary', version: v1, weight: 1 }] };
    await t.store.db.updateTable('serving_routes').set({ routes: JSON.stringify(split), generation, reason: 'hand edit' }).where('model', '=', 'faked').execute();
    const message = `the serving routes of faked (generation ${generation}, by deploy: hand edit) give the champion route (champion, v${v2}) no traffic while v${v1} serves every request, but the champion alias names v${v2}`;
    const fake = { id: 'fake', model: 'faked', mode: 'canary', champion_version: v2, challenger_version: v1, status: 'running', plan: '{}', outcome: null, started_by: 'nobody', started_at: new Date().toISOString(), ended_at: null, running_model: 'faked', challenger_sha256: null, champion_sha256: null };
    const activities = monitoringActivities({ store: t.store, signing: { signingKey: undefined } });
    const routes = async () => [(await readServingRoutes(t.store, 'faked'))!];
    const judged = async (options?: OwnershipOptions) => ({
      monitoring: (await activities.checkServedChampions({ models: ['faked'] })).mismatches.map((m) => m.message),
      served: (await servedChampionDisagreements(t.store, await routes(), options)).get('faked'),
      start: await championAliasDisagreement(t.store, 'faked', v2, options),
    });
    const reported = { monitoring: [message], served: message, start: message };
    expect(await judged()).toEqual(reported);
    // No recorded generation, or the generation recorded but another writer: not its split.
    await t.store.db.insertInto('deployments').values({ ...fake, routes_generation: null }).execute();
    expect(await judged()).toEqual(reported);
    await t.store.db.updateTable('deployments').set({ routes_generation: generation }).where('id', '=', 'fake').execute();
    expect(await judged()).toEqual(reported);
    // Its name as the writer, at a generation it did not record: not its split either.
    await t.store.db.updateTable('serving_routes').set({ updated_by: 'deployment fake' }).where('model', '=', 'faked').execute();
    await t.store.db.updateTable('deployments').set({ routes_generation: generation - 1 }).where('id', '=', 'fake').execute();
    const byFake = { monitoring: [message.replace('by deploy', 'by deployment fake')], served: message.replace('by deploy', 'by deployment fake'), start: message.replace('by deploy', 'by deployment fake') };
    expect(await judged()).toEqual(byFake);
    // Written and recorded by it: its own split, unless its workflow has closed.
    await t.store.db.updateTable('deployments').set({ routes_generation: generation }).where('id', '=', 'fake').execute();
    expect(await judged()).toEqual({ monitoring: [], served: undefined, start: undefined });
    const asked: string[] = [];
    const closed = { deploymentOpen: async (id: string) => (asked.push(id), false) };
    expect(await judged(closed)).toEqual({ ...byFake, monitoring: [] });
    expect(asked).toEqual(['fake', 'fake']);
    expect(await judged({ deploymentOpen: async () => true })).toEqual({ monitoring: [], served: undefined, start: undefined });
  });

  it('the canary split of a deployment whose workflow closed is reported, naming it, how it closed, its shares and the commands', async () => {
    const [v1, v2] = await promotedTwice(t.store, cache, artifactDir, 'orphaned', featureSetVersion);
    // A deployment of v1 over the champion v2, terminated at its first canary step: v1 60%, v2 40%.
    await t.store.db.insertInto('deployments').values({ id: 'orphan-d', model: 'orphaned', mode: 'canary', champion_version: v2, challenger_version: v1, status: 'running', plan: '{}', outcome: null, started_by: 'test', started_at: new Date().toISOString(), ended_at: null, running_model: 'orphaned', routes_generation: 0, challenger_sha256: null, champion_sha256: null }).execute();
    const written = await writeServingRoutes(t.store, cache, { model: 'orphaned', mode: 'canary', routes: [{ variant: 'canary', version: v1, weight: 0.6 }, { variant: 'champion', version: v2, weight: 0.4 }], reference: 'champion', updatedBy: 'deployment orphan-d', reason: 'canary step 1/2: 60%', deploymentId: 'orphan-d' });
    const routes = async () => [(await readServingRoutes(t.store, 'orphaned'))!];
    const head = `the serving routes of orphaned (generation ${written.generation}, by deployment orphan-d: canary step 1/2: 60%) are the split deployment orphan-d left: `;
    // A step above half is no split a deployment starts over: the rollback first.
    const tail = `, so nothing judges, widens or rolls back this split, which still serves v${v1} (canary) 60%, v${v2} (champion) 40% while the champion alias names v${v2}. Roll back to the champion (mlp models rollback orphaned --to-version ${v2} --reason "…"), then deploy again if wanted (mlp deploy orphaned ${v1}): no deployment starts over a split giving another version more than the champion`;
    // While its workflow runs (or, with no Temporal to ask, its row says running): its own split.
    expect((await servedChampionDisagreements(t.store, await routes())).get('orphaned')).toBeUndefined();
    expect((await servedChampionDisagreements(t.store, await routes(), { deploymentStatus: async () => 'RUNNING' })).get('orphaned')).toBeUndefined();
    // Terminated: reported, though the split names the alias's version as champion as a hand-written one may.
    expect((await servedChampionDisagreements(t.store, await routes(), { deploymentStatus: async () => 'TERMINATED' })).get('orphaned')).toBe(`${head}its workflow is terminated and its row says running${tail}`);
    expect((await servedChampionDisagreements(t.store, await routes(), { deploymentOpen: async () => false })).get('orphaned')).toBe(`${head}its workflow is closed and its row says running${tail}`);
    // The API's poll asks too, where it can reach Temporal: before, it took the running row at its word.
    const serving = new ServingModels({ store: t.store, cache, artifacts: localArtifactStore(artifactDir), pollMs: 100, deploymentOpen: async (id) => id !== 'orphan-d' });
    try {
      await serving.start();
      await until('the left split reported by the poll', () => serving.championMismatch('orphaned') !== undefined);
      expect(serving.championMismatch('orphaned')).toBe(`${head}its workflow is closed and its row says running${tail}`);
    } finally {
      await serving.close();
    }
    // Its row marked failed (by the next deployment's start or a monitoring run): reported with no Temporal to ask, as the API does.
    await t.store.db.updateTable('deployments').set({ status: 'failed', running_model: null }).where('id', '=', 'orphan-d').execute();
    expect((await servedChampionDisagreements(t.store, await routes())).get('orphaned')).toBe(`${head}it ended failed${tail}`);
    const mismatches = (await monitoringActivities({ store: t.store, signing: { signingKey: undefined } }).checkServedChampions({ models: ['orphaned'] }));
    expect(mismatches.findings.map((f) => [f.alert.rule, f.alert.severity, f.alert.subject])).toEqual([['champion_mismatch', 'critical', 'serving routes of model orphaned']]);
    expect(mismatches.findings[0].alert.message).toContain('deployment orphan-d left: it ended failed');
    // Rolled back to the champion alone: nothing left to report.
    await writeServingRoutes(t.store, cache, { model: 'orphaned', mode: 'single', routes: singleRoute(v2), updatedBy: 'deployment orphan-d', reason: 'rolled back' });
    expect((await servedChampionDisagreements(t.store, await routes())).get('orphaned')).toBeUndefined();
  });

  it("a canary split no running deployment wrote, giving the champion route a sliver, is reported by the API and monitoring and refused by PUT /v1/admin/routes; a deployment's own step above half is not", async () => {
    const [v1, v2] = await promotedTwice(t.store, cache, artifactDir, 'sliver', featureSetVersion);
    const serving = new ServingModels({ store: t.store, cache, artifacts: localArtifactStore(artifactDir), pollMs: 100 });
    await serving.start();
    const predictionLog = new PredictionLogWriter(t.store, { flushMs: 50 });
    const app = buildApiServer({ store: t.store, cache, servingModels: serving, predictionLog, tokens: TOKENS });
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const activities = monitoringActivities({ store: t.store, signing: { signingKey: undefined } });
    try {
      // Through the API: refused, the routes unchanged.
      const before = (await readServingRoutes(t.store, 'sliver'))!.generation;
      const sliver = [{ variant: 'champion', version: v2, weight: 0.000001 }, { variant: 'canary', version: v1, weight: 0.999999 }];
      const put = await app.inject({ method: 'PUT', url: '/v1/admin/routes/sliver', headers: auth, payload: { mode: 'canary', routes: sliver, reference: 'champion', reason: 'tweak' } });
      expect([put.statusCode, put.json().error]).toEqual([409, 'champion_mismatch']);
      expect(put.json().message).toMatch(new RegExp(`^this split would give v${v2}, the version the champion alias names, 0\\.0001% of requests while v${v1} takes 99\\.9999%: a canary split that no running deployment wrote`));
      expect((await readServingRoutes(t.store, 'sliver'))!.generation).toBe(before);
      // An even canary by hand is still written.
      const even = await app.inject({ method: 'PUT', url: '/v1/admin/routes/sliver', headers: auth, payload: { mode: 'canary', routes: [{ variant: 'champion', version: v2, weight: 0.5 }, { variant: 'canary', version: v1, weight: 0.5 }], reference: 'champion', reason: 'even' } });
      expect(even.statusCode).toBe(200);
      await until('the even split served', () => serving.snapshot('sliver')?.routes.generation === before + 1);
      expect((await activities.checkServedChampions({ models: ['sliver'] })).mismatches).toEqual([]);

      // By SQL, with no deployment behind it: served as routed, but reported.
      const row = await t.store.db.selectFrom('serving_routes').selectAll().where('model', '=', 'sliver').executeTakeFirstOrThrow();
      const generation = Number(row.generation) + 1;
      await t.store.db.updateTable('serving_routes').set({ routes: JSON.stringify({ ...(JSON.parse(row.routes) as object), mode: 'canary', reference: 'champion', routes: sliver }), generation, updated_by: 'ops', reason: 'tweak' }).where('model', '=', 'sliver').execute();
      const message = `the serving routes of sliver (generation ${generation}, by ops: tweak) give v${v2}, the version the champion alias names, 0.0001% of requests while v${v1} takes 99.9999%: a canary split that no running deployment wrote must give the champion at least as large a share as any other version (a challenger takes more only at the steps of a running deployment (mlp deploy), which judges and rolls back its own split)`;
      await until('the disagreement found', () => serving.championMismatch('sliver') !== undefined);
      expect(serving.championMismatch('sliver')).toBe(message);
      const ready = await app.inject({ method: 'GET', url: '/readyz', headers: auth });
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toMatchObject({ ready: true, checks: { models: { ok: true, detail: expect.stringMatching(/^degraded: /) } } });
      // Other models of this database may be named first.
      expect((ready.json() as { checks: { models: { detail: string } } }).checks.models.detail).toContain(`sliver: ${message}; served as routed`);
      const models = (await app.inject({ method: 'GET', url: '/v1/models', headers: auth })).json().models as Array<{ model: string; championMismatch?: string }>;
      expect(models.find((m) => m.model === 'sliver')?.championMismatch).toBe(message);
      const result = await activities.checkServedChampions({ models: ['sliver'] });
      expect(result.mismatches).toEqual([{ model: 'sliver', generation, message }]);
      expect(result.findings.map((f) => [f.alert.rule, f.alert.severity, f.alert.subject])).toEqual([['champion_mismatch', 'critical', 'serving routes of model sliver']]);
      expect(await championAliasDisagreement(t.store, 'sliver', v2)).toBe(message);

      // A running deployment's own canary step, v1 on 75%: its to judge, while its workflow is open.
      await t.store.db.insertInto('deployments').values({ id: 'sliver-d', model: 'sliver', mode: 'canary', champion_version: v2, challenger_version: v1, status: 'running', plan: '{}', outcome: null, started_by: 'test', started_at: new Date().toISOString(), ended_at: null, running_model: 'sliver', routes_generation: 0, challenger_sha256: null, champion_sha256: null }).execute();
      const step = await writeServingRoutes(t.store, cache, { model: 'sliver', mode: 'canary', routes: [{ variant: 'canary', version: v1, weight: 0.75 }, { variant: 'champion', version: v2, weight: 0.25 }], reference: 'champion', updatedBy: 'deployment sliver-d', reason: 'canary step 3/4: 75%', deploymentId: 'sliver-d' });
      await until('the step served', () => serving.snapshot('sliver')?.routes.generation === step.generation);
      await until('the disagreement cleared', () => serving.championMismatch('sliver') === undefined);
      expect((await activities.checkServedChampions({ models: ['sliver'] })).mismatches).toEqual([]);
      expect(await championAliasDisagreement(t.store, 'sliver', v2, { deploymentOpen: async () => true })).toBeUndefined();
      // Its workflow closed: the step it left is named with the deployment, and the rollback as the way out.
      expect(await championAliasDisagreement(t.store, 'sliver', v2, { deploymentOpen: async () => false })).toMatch(/25% of requests while v\d+ takes 75%/);
      const left = (await servedChampionDisagreements(t.store, [(await readServingRoutes(t.store, 'sliver'))!], { deploymentStatus: async () => 'TERMINATED' })).get('sliver');
      expect(left).toBe(
        `the serving routes of sliver (generation ${step.generation}, by deployment sliver-d: canary step 3/4: 75%) are the split deployment sliver-d left: its workflow is terminated and its row says running, so nothing judges, widens or rolls back this split, which still serves v${v1} (canary) 75%, v${v2} (champion) 25% while the champion alias names v${v2}. ` +
          `Roll back to the champion (mlp models rollback sliver --to-version ${v2} --reason "…"), then deploy again if wanted (mlp deploy sliver ${v1}): no deployment starts over a split giving another version more than the champion`,
      );
    } finally {
      await app.close();
      await predictionLog.close();
      await serving.close();
    }
  });

  it('the API serves the edited routes as routed and reports the disagreement in /readyz, /v1/models and the log', async () => {
    const [v1, v2] = await promotedTwice(t.store, cache, artifactDir, 'api-edited', featureSetVersion);
    const events: Array<[string, Record<string, unknown>]> = [];
    const serving = new ServingModels({ store: t.store, cache, artifacts: localArtifactStore(artifactDir), pollMs: 100, log: (event, detail) => events.push([event, detail]) });
    await serving.start();
    const predictionLog = new PredictionLogWriter(t.store, { flushMs: 50 });
    const app = buildApiServer({ store: t.store, cache, servingModels: serving, predictionLog, tokens: TOKENS });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const get = async (path: string) => {
      const res = await fetch(baseUrl + path, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    try {
      expect(serving.championMismatch('api-edited')).toBeUndefined();
      const generation = await editRoutesTo(t.store, 'api-edited', v1);
      await until('the edited generation served', () => serving.snapshot('api-edited')?.routes.generation === generation);
      await until('the disagreement found', () => serving.championMismatch('api-edited') !== undefined);
      const mismatch = `the serving routes of api-edited (generation ${generation}, by deploy: promote v2) serve v${v1} as the champion, but the champion alias names v${v2}`;
      expect(serving.championMismatch('api-edited')).toBe(mismatch);
      // Served as routed, still ready, reported degraded.
      expect(serving.snapshot('api-edited')?.routes.routes).toEqual(singleRoute(v1));
      const ready = await get('/readyz');
      expect(ready.status).toBe(200);
      expect(ready.json).toMatchObject({ ready: true, checks: { models: { ok: true, detail: expect.stringContaining(`degraded: api-edited: ${mismatch}; served as routed`) } } });
      const models = (await get('/v1/models')).json.models as Array<{ model: string; championMismatch?: string }>;
      expect(models.find((m) => m.model === 'api-edited')?.championMismatch).toBe(mismatch);
      // Logged once, however many polls find it.
      await new Promise((r) => setTimeout(r, 400));
      expect(events.filter(([event, detail]) => event === 'serving.champion_mismatch' && detail.model === 'api-edited')).toEqual([['serving.champion_mismatch', { model: 'api-edited', error: mismatch }]]);
      // Made to agree (a rollback moves both): cleared and logged.
      await writeServingRoutes(t.store, cache, { model: 'api-edited', mode: 'single', routes: singleRoute(v2), updatedBy: 'ops', reason: 'rollback', alias: { alias: 'champion', version: v2, movedBy: 'ops', reason: 'rollback' } });
      await until('the disagreement cleared', () => serving.championMismatch('api-edited') === undefined);
      expect(events.some(([event, detail]) => event === 'serving.champion_agrees' && detail.model === 'api-edited')).toBe(true);
    } finally {
      await app.close();
      await predictionLog.close();
      await serving.close();
    }
  });
});

describe('a monitoring run over a routes row edited to another champion (SQLite, Temporal)', () => {
  let env: TestWorkflowEnvironment;
  let t: TestDatabase;
  const cache = new MemoryCache();
  const artifactDir = tempDir('mlp-served-champion-run-');
  beforeAll(async () => {
    env = await startTemporal();
    t = await createSqliteTestDatabase();
  });
  afterAll(async () => {
    await t?.drop();
    await env?.teardown();
  });

  it('raises champion_mismatch naming the routes and the alias, and moves nothing', async () => {
    const market = await setUpOracleMarket(t.store, cache, 4);
    const [v1, v2] = await promotedTwice(t.store, cache, artifactDir, 'run-edited', market.featureSetVersion);
    const generation = await editRoutesTo(t.store, 'run-edited', v1);
    const rules = { pipeline_failed: { enabled: false }, data_stale: { enabled: false } };
    const id = `monitor-champion-${Date.now()}`;
    const summary = await withWorkers(env, { store: t.store, cache, artifactDir }, () =>
      env.client.workflow.execute(monitoringWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [{ models: ['run-edited'], rules }] }) as Promise<MonitoringSummary>,
    );
    // Replayed by test/integration/replay-deployment.test.ts (a run with patched('served-champion-check') that found a mismatch).
    await recordHistory(env, 'monitoring-v3-served-champion-check', id);
    const message = `the serving routes of run-edited (generation ${generation}, by deploy: promote v2) serve v${v1} as the champion, but the champion alias names v${v2}`;
    expect(summary.champions).toEqual({ mismatched: [{ model: 'run-edited', generation, message }], alerts: [{ rule: 'champion_mismatch', severity: 'critical', subject: 'serving routes of model run-edited', alertId: expect.any(String), suppressed: false }] });
    const [alert] = await listAlerts(t.store, { rule: 'champion_mismatch', subject: 'serving routes of model run-edited' });
    expect(alert.message).toContain(message);
    expect(alert.evidence).toMatchObject({ model: 'run-edited', generation });
    expect((await readServingRoutes(t.store, 'run-edited'))?.routes).toEqual(singleRoute(v1));
    expect(await aliasVersion(t.store, 'run-edited', 'champion')).toBe(v2);
  });

  it("does not exempt a split its deployment wrote once that deployment's workflow is no longer open", async () => {
    const market = await setUpOracleMarket(t.store, cache, 4);
    const [v1, v2] = await promotedTwice(t.store, cache, artifactDir, 'run-orphaned', market.featureSetVersion);
    // A deployment of v1 over v2 at its last canary step, its workflow gone (terminated, or never
    // run in this Temporal): the row stays 'running' until the next deployment of the model starts.
    await t.store.db.insertInto('deployments').values({ id: 'orphaned', model: 'run-orphaned', mode: 'canary', champion_version: v2, challenger_version: v1, status: 'running', plan: '{}', outcome: null, started_by: 'test', started_at: new Date().toISOString(), ended_at: null, running_model: 'run-orphaned', routes_generation: 0, challenger_sha256: null, champion_sha256: null }).execute();
    const { generation } = await writeServingRoutes(t.store, cache, { model: 'run-orphaned', mode: 'canary', routes: [{ variant: 'canary', version: v1, weight: 1 }, { variant: 'champion', version: v2, weight: 0 }], updatedBy: 'deployment orphaned', reason: 'canary step 4/4: 100%', deploymentId: 'orphaned' });
    const rules = { pipeline_failed: { enabled: false }, data_stale: { enabled: false } };
    const summary = await withWorkers(env, { store: t.store, cache, artifactDir }, () =>
      env.client.workflow.execute(monitoringWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId: `monitor-orphaned-${Date.now()}`, args: [{ models: ['run-orphaned'], rules }] }) as Promise<MonitoringSummary>,
    );
    const message = `the serving routes of run-orphaned (generation ${generation}, by deployment orphaned: canary step 4/4: 100%) give the champion route (champion, v${v2}) no traffic while v${v1} serves every request, but the champion alias names v${v2}`;
    expect(summary.champions?.mismatched).toEqual([{ model: 'run-orphaned', generation, message }]);
  });

  it('reports the canary split of a terminated deployment, marks its row failed and counts the run in pipeline_failed', async () => {
    const market = await setUpOracleMarket(t.store, cache, 4);
    const [v1, v2] = await promotedTwice(t.store, cache, artifactDir, 'run-terminated', market.featureSetVersion);
    // Its workflow started (no worker took it) and terminated, as from the Web UI; its row and its
    // first canary step (v1 60%, the champion v2 40%) as the deployment had written them.
    const id = `terminated-${Date.now()}`;
    const handle = await env.client.workflow.start(deploymentWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [{ model: 'run-terminated', challengerVersion: v1, startedBy: 'test' }] });
    await handle.terminate('operator terminated');
    await t.store.db.insertInto('deployments').values({ id, model: 'run-terminated', mode: 'canary', champion_version: v2, challenger_version: v1, status: 'running', plan: '{}', outcome: null, started_by: 'test', started_at: new Date().toISOString(), ended_at: null, running_model: 'run-terminated', routes_generation: 0, challenger_sha256: null, champion_sha256: null }).execute();
    const { generation } = await writeServingRoutes(t.store, cache, { model: 'run-terminated', mode: 'canary', routes: [{ variant: 'canary', version: v1, weight: 0.6 }, { variant: 'champion', version: v2, weight: 0.4 }], reference: 'champion', updatedBy: `deployment ${id}`, reason: 'canary step 1/2: 60%', deploymentId: id });
    const rules = { data_stale: { enabled: false } };
    const run = () => withWorkers(env, { store: t.store, cache, artifactDir }, () =>
      env.client.workflow.execute(monitoringWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId: `monitor-terminated-${Date.now()}`, args: [{ models: ['run-terminated'], rules }] }) as Promise<MonitoringSummary>,
    );
    const summary = await run();
    const shares = `v${v1} (canary) 60%, v${v2} (champion) 40%`;
    expect(summary.champions?.mismatched).toEqual([{ model: 'run-terminated', generation, message: expect.stringContaining(`are the split deployment ${id} left: its workflow is terminated and its row says running, so nothing judges, widens or rolls back this split, which still serves ${shares}`) }]);
    expect(summary.champions?.alerts).toEqual([expect.objectContaining({ rule: 'champion_mismatch', severity: 'critical', subject: 'serving routes of model run-terminated' })]);
    const [alert] = await listAlerts(t.store, { rule: 'champion_mismatch', subject: 'serving routes of model run-terminated' });
    expect(alert.message).toContain(`mlp models rollback run-terminated --to-version ${v2}`);
    // Its row is ended, so `mlp deployments list` and the API (no Temporal client) see it as such.
    expect(await t.store.db.selectFrom('deployments').select(['status', 'running_model']).where('id', '=', id).executeTakeFirstOrThrow()).toEqual({ status: 'failed', running_model: null });
    const [pipeline] = await listAlerts(t.store, { rule: 'pipeline_failed' });
    expect(pipeline.message).toMatch(new RegExp(`deployment runs? terminated in the last 24 h.*deploymentWorkflow ${id}`));
    // The next run still reports the split (now from the row alone), until it is rolled back or replaced.
    expect((await run()).champions?.mismatched).toEqual([{ model: 'run-terminated', generation, message: expect.stringContaining(`deployment ${id} left: its workflow is terminated and its row says failed`) }]);
  });
});
