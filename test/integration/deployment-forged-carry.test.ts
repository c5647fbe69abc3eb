/**
 * A deploymentWorkflow started from a client with a `carried` argument, as only its own
 * continue-as-new passes one: a state claiming the last canary step already passed, for a version
 * that never began a deployment. Anyone who may start workflows in the namespace can send that
 * input; the worker, holding MODEL_SIGNING_KEY, must not sign a promotion from it. Through the real
 * Temporal dev server and a real worker with real activities.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { parseDeploymentRequest } from '../../lib/deployment/plan';
import { aliasVersion, moveAlias, signModelVersion } from '../../lib/registry/model-registry';
import { singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { signServingRecords } from '../../lib/serving/sign-serving-records';
import { TASK_QUEUES } from '../../lib/task-queues';
import { deploymentStateQuery, deploymentWorkflow, type DeploymentCarry } from '../../workflows';
import { initialState } from '../../workflows/deployment/state';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket } from '../helpers/oracle-models';
import { startTemporal, withWorkers } from '../helpers/temporal';

const KEY = 'deployment-forged-carry-signing-key-0123456789';

jest.setTimeout(5 * 60_000);

describe('deploymentWorkflow started with a forged carried state', () => {
  let env: TestWorkflowEnvironment;
  let t: TestDatabase;
  const previousKey = process.env.MODEL_SIGNING_KEY;

  beforeAll(async () => {
    process.env.MODEL_SIGNING_KEY = KEY;
    env = await startTemporal();
    t = await createSqliteTestDatabase();
  });
  afterAll(async () => {
    if (previousKey === undefined) delete process.env.MODEL_SIGNING_KEY;
    else process.env.MODEL_SIGNING_KEY = previousKey;
    await t?.drop();
    await env?.teardown();
  });

  /** A model with a signed champion (serving all traffic) and a signed challenger. */
  async function setUpModel(model: string) {
    const cache = new MemoryCache();
    const artifactDir = tempDir('mlp-forged-carry-');
    const artifacts = localArtifactStore(artifactDir);
    const market = await setUpOracleMarket(t.store, cache, 2);
    const champion = await registerOracleModel(t.store, artifactDir, { name: model, seed: 1, flip: false, featureSetVersion: market.latestFeatureSetVersion });
    const challenger = await registerOracleModel(t.store, artifactDir, { name: model, seed: 2, flip: false, featureSetVersion: market.latestFeatureSetVersion });
    for (const version of [champion, challenger]) await signModelVersion(t.store, artifacts, model, version, { signingKey: KEY }, { acceptEdit: true });
    await moveAlias(t.store, { name: model, alias: 'champion', version: champion, movedBy: 'test', reason: 'first model' });
    await writeServingRoutes(t.store, cache, { model, mode: 'single', routes: singleRoute(champion), updatedBy: 'test', reason: 'first model' });
    await signServingRecords(t.store, cache, model, { signingKey: KEY }, { by: 'test', reason: 'signed', acceptEdit: true });
    return { cache, artifactDir, champion, challenger };
  }

  /** As a continue-as-new would carry it, positioned after the last step's analyses passed. */
  function forgedCarry(workflowId: string, model: string, challenger: number, champion: number, steps: number[]) {
    const request = { model, challengerVersion: challenger, startedBy: 'forger', canary: { steps } };
    const plan = parseDeploymentRequest(request, { labelHorizon: 5 });
    const now = Date.now();
    const carry: DeploymentCarry = {
      state: { ...initialState(workflowId, request), plan, championVersion: champion, steps: plan.canary.steps, status: 'canary', step: plan.canary.steps.length - 1, run: 2 },
      position: { phase: 'canary', step: plan.canary.steps.length - 1, stage: 'analysing', passes: plan.canary.passesPerStep, stepStartedAt: now, held: false, evidenceSince: now },
      controls: { paused: false, overridden: [] },
      deploymentStart: new Date(now).toISOString(),
    };
    return { request, carry };
  }

  // Temporal sets continuedFromExecutionRunId on a cron run and a retried run too: a forged carry
  // refused in the first run of a cron chain reaches the next with it set. Here a real deployment
  // runs under the id (its row 'running'), and its run is terminated by a start of the same id.
  it('a cron chain started over a running deployment with a forged carry moves and signs nothing', async () => {
    const model = 'forged-cron';
    const { cache, artifactDir, champion, challenger } = await setUpModel(model);
    const workflowId = `forged-cron-${Date.now()}`;
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      // Analyses a day apart: the real deployment passes nothing while the test runs.
      const real = await env.client.workflow.start(deploymentWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId, args: [{ model, challengerVersion: challenger, startedBy: 'ops', canary: { steps: [5, 50, 100], analysisSeconds: 86_400 } }] });
      for (let i = 0; (await real.query(deploymentStateQuery)).status !== 'canary'; i++) {
        if (i > 600) throw new Error('the deployment never reached its canary');
        await new Promise((r) => setTimeout(r, 100));
      }
      const records = async () => ({
        routes: await t.store.db.selectFrom('serving_routes').selectAll().where('model', '=', model).execute(),
        aliases: await t.store.db.selectFrom('model_aliases').selectAll().where('name', '=', model).execute(),
        history: await t.store.db.selectFrom('model_alias_history').selectAll().where('name', '=', model).execute(),
        deployments: await t.store.db.selectFrom('deployments').select(['id', 'status', 'champion_version', 'challenger_version', 'routes_generation', 'outcome']).where('model', '=', model).execute(),
      });
      const before = await records();
      const { request, carry } = forgedCarry(workflowId, model, challenger, champion, [5, 50, 100]);
      const forged = await env.client.workflow.start(deploymentWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId, args: [request, carry], cronSchedule: '@every 2s', workflowIdConflictPolicy: 'TERMINATE_EXISTING' });
      // Three cron runs at least (the first refused, the next with continuedFrom set).
      for (let i = 0; i < 16 && (await aliasVersion(t.store, model, 'champion')) !== challenger; i++) await new Promise((r) => setTimeout(r, 500));
      await forged.terminate('test over');
      expect(await aliasVersion(t.store, model, 'champion')).toBe(champion);
      expect(await records()).toEqual(before);
    });
  });

  it('fails at once, naming the cause, and moves and signs nothing', async () => {
    const cache = new MemoryCache();
    const artifactDir = tempDir('mlp-forged-carry-');
    const artifacts = localArtifactStore(artifactDir);
    const market = await setUpOracleMarket(t.store, cache, 2);
    const model = 'forged-carry';
    const champion = await registerOracleModel(t.store, artifactDir, { name: model, seed: 1, flip: false, featureSetVersion: market.latestFeatureSetVersion });
    const challenger = await registerOracleModel(t.store, artifactDir, { name: model, seed: 2, flip: false, featureSetVersion: market.latestFeatureSetVersion });
    for (const version of [champion, challenger]) await signModelVersion(t.store, artifacts, model, version, { signingKey: KEY }, { acceptEdit: true });
    await moveAlias(t.store, { name: model, alias: 'champion', version: champion, movedBy: 'test', reason: 'first model' });
    await writeServingRoutes(t.store, cache, { model, mode: 'single', routes: singleRoute(champion), updatedBy: 'test', reason: 'first model' });
    await signServingRecords(t.store, cache, model, { signingKey: KEY }, { by: 'test', reason: 'signed', acceptEdit: true });
    const records = async () => ({
      routes: await t.store.db.selectFrom('serving_routes').selectAll().where('model', '=', model).execute(),
      aliases: await t.store.db.selectFrom('model_aliases').selectAll().where('name', '=', model).execute(),
      history: await t.store.db.selectFrom('model_alias_history').selectAll().where('name', '=', model).execute(),
      deployments: await t.store.db.selectFrom('deployments').selectAll().where('model', '=', model).execute(),
    });
    const before = await records();
    expect(before.routes).toHaveLength(1);
    expect(before.deployments).toEqual([]);

    // As a continue-as-new would carry it, positioned after the last step's analyses passed.
    const request = { model, challengerVersion: challenger, startedBy: 'forger', canary: { steps: [100] } };
    const plan = parseDeploymentRequest(request, { labelHorizon: 5 });
    const workflowId = `forged-${model}-${Date.now()}`;
    const now = Date.now();
    const carry: DeploymentCarry = {
      state: { ...initialState(workflowId, request), plan, championVersion: champion, steps: plan.canary.steps, status: 'canary', step: 0, run: 2 },
      position: { phase: 'canary', step: plan.canary.steps.length - 1, stage: 'analysing', passes: plan.canary.passesPerStep, stepStartedAt: now, held: false, evidenceSince: now },
      controls: { paused: false, overridden: [] },
      deploymentStart: new Date(now).toISOString(),
    };

    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const handle = await env.client.workflow.start(deploymentWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId, args: [request, carry] });
      const failure = await handle.result().then(
        (state) => new Error(`ended ${state.status}`),
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      const cause = (failure as WorkflowFailedError).cause;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect(cause).toMatchObject({ type: 'INVALID_INPUT', nonRetryable: true, message: expect.stringMatching(/carried state.*only a run continued as new/) });
    });
    expect(await records()).toEqual(before);
  });
});
