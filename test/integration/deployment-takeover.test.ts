/**
 * Who owns a model's traffic while a deployment runs (real Temporal dev server, workers, SQLite,
 * Redis, the API in process, the built CLI):
 * - a second deployment of the model is refused while one runs, naming it; a deployment whose
 *   workflow ended without recording it (terminated) does not hold the model;
 * - a manual rollback during a canary (`mlp models rollback`, POST /v1/admin/rollback) is not
 *   undone: the deployment it stops (or that notices on its own) leaves the traffic and the
 *   champion alias on the version rolled back to;
 * - a deployment whose workflow is cancelled in Temporal (`temporal workflow cancel`, the Web UI)
 *   ends as an abort does, rolled back (an A/B test keeping its champion), its row ended and an
 *   alert raised, then ends cancelled; one that lands while failed analyses roll it back lets that
 *   rollback run to its end (its alert, its status and reason kept).
 */
import crypto from 'node:crypto';
import { CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { PipelineActivities } from '../../activities';
import { RedisCache } from '../../lib/cache/redis-cache';
import type { ApiToken } from '../../lib/config';
import { aliasVersion, moveAlias } from '../../lib/registry/model-registry';
import { servedChampionDisagreements } from '../../lib/serving/served-champion';
import { readServingRoutes, singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { TASK_QUEUES } from '../../lib/task-queues';
import { buildCliIfStale } from '../../scripts/build';
import { abortUpdate, deploymentStateQuery, deploymentWorkflow, type DeploymentState } from '../../workflows';
import type { DeploymentRequest } from '../../lib/deployment/plan';
import { startApiStack, type ApiStack } from '../helpers/api-stack';
import { runBuiltCli } from '../helpers/cli';
import { clearSharedOnlineVectors, createSqliteTestDatabase, tempDir, TEST_REDIS_URL, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket, type OracleMarket } from '../helpers/oracle-models';
import { startTemporal, withPipelineWorker, withWorkers } from '../helpers/temporal';
import { DEPLOYMENT_RECORDING_TAG, recordHistory } from '../helpers/workflow-histories';

jest.setTimeout(4 * 60_000);

const TOKEN: ApiToken = { name: 'ops', token: 'takeover-test-token-0123456789', scopes: ['predict', 'admin'] };
const auth = { authorization: `Bearer ${TOKEN.token}` };

/** Every message along an error's cause chain (Temporal nests activity failures). */
function failureChain(error: unknown): string {
  const parts: string[] = [];
  for (let e = error as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) parts.push(e.message ?? '');
  return parts.join(' | ');
}

describe('deployments and the people who take their traffic over (real Temporal server, API, CLI, SQLite, Redis)', () => {
  let env: TestWorkflowEnvironment;
  let t: TestDatabase;
  let cache: RedisCache;
  let artifactDir: string;
  let market: OracleMarket;

  beforeAll(async () => {
    await buildCliIfStale();
    env = await startTemporal();
    t = await createSqliteTestDatabase();
    cache = new RedisCache(TEST_REDIS_URL); // the CLI's prefix, so a CLI process sees the same keys
    artifactDir = tempDir('mlp-takeover-artifacts-');
    market = await setUpOracleMarket(t.store, cache, 4);
  });
  afterAll(async () => {
    await cache?.close();
    // The market's vectors under the processes' shared prefix: left there, they would hide another file's from a bounded sample.
    await clearSharedOnlineVectors();
    await t?.drop();
    await env?.teardown();
  });

  /** v1…vN of a fresh model, champion alias and routes moved through `champions`; `wrong` predict the opposite. */
  async function model(prefix: string, versions: number, champions: number[], wrong: number[] = []): Promise<{ name: string; v: number[] }> {
    const name = `${prefix}-${crypto.randomBytes(3).toString('hex')}`;
    const v: number[] = [];
    for (let i = 1; i <= versions; i++) v.push(await registerOracleModel(t.store, artifactDir, { name, seed: i, flip: wrong.includes(i), featureSetVersion: market.featureSetVersion }));
    for (const c of champions) {
      await moveAlias(t.store, { name, alias: 'champion', version: c, movedBy: 'test', reason: `champion v${c}` });
      await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(c), updatedBy: 'test', reason: `champion v${c}` });
    }
    return { name, v };
  }
  const mlp = (...args: string[]) => runBuiltCli(args, { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default', DATABASE_URL: t.url, REDIS_URL: TEST_REDIS_URL, ARTIFACT_DIR: artifactDir });
  const start = (id: string, request: DeploymentRequest) => env.client.workflow.start(deploymentWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [request] });
  async function waitFor(id: string, ok: (s: DeploymentState) => boolean, what: string): Promise<DeploymentState> {
    for (let i = 0; i < 300; i++) {
      const s = await env.client.workflow.getHandle(id).query(deploymentStateQuery);
      if (ok(s)) return s;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${id} never reached ${what}`);
  }
  /** The workflow's end within `ms` (its result, or the error it failed with); 'running' if it has not ended. */
  async function endWithin(id: string, ms: number): Promise<DeploymentState | Error | 'running'> {
    const timeout = new Promise<'running'>((r) => setTimeout(() => r('running'), ms));
    return Promise.race([env.client.workflow.getHandle(id).result().catch((e: Error) => e), timeout]);
  }

  it('refuses a second deployment of a model while one runs, naming it; a terminated one does not hold the model', async () => {
    const { name, v } = await model('two', 4, [2], [3]);
    const [, v2, v3, v4] = v;
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const first = `first-${name}`;
      await start(first, { model: name, challengerVersion: v3, startedBy: 'hand', canary: { steps: [10, 100], analysisSeconds: 600 } });
      // The status turns canary before the step's split is written; the weight is set once it is.
      await waitFor(first, (s) => s.status === 'canary' && s.challengerWeight > 0, 'its canary step');
      const routes = await readServingRoutes(t.store, name);
      expect(routes?.mode).toBe('canary');

      // The pipeline's deployment of another version meanwhile (it starts its own workflow id).
      const second = `second-${name}`;
      await start(second, { model: name, challengerVersion: v4, startedBy: 'pipeline', requireApproval: true });
      const refused = await endWithin(second, 30_000);
      expect(refused).toBeInstanceOf(Error);
      expect(failureChain(refused)).toMatch(new RegExp(`cannot deploy ${name} v${v4}: deployment ${first} of ${name} \\(v${v3} against v${v2}, started by hand at [^)]+\\) is still running.*mlp deployments abort ${first}`));
      expect(await readServingRoutes(t.store, name)).toEqual(routes);
      expect(await aliasVersion(t.store, name, 'canary')).toBe(v3);
      expect(await t.store.db.selectFrom('deployments').select('id').where('model', '=', name).execute()).toEqual([{ id: first }]);

      // Terminated by hand: its row still says running, but its workflow has ended, so it holds the model no more (`mlp deploy` included).
      await env.client.workflow.getHandle(first).terminate('test');
      const third = `third-${name}`;
      const out = await mlp('deploy', name, String(v4), '--require-approval', '--no-follow', '--workflow-id', third);
      expect(out).toMatchObject({ code: 0, stderr: '' });
      await waitFor(third, (s) => s.status === 'awaiting-approval', 'approval');
      expect((await t.store.db.selectFrom('deployments').select('status').where('id', '=', first).executeTakeFirstOrThrow()).status).toBe('failed');
      const aborted = await env.client.workflow.getHandle(third).executeUpdate(abortUpdate, { args: [{ by: 'test', reason: 'done' }] });
      expect(aborted.status).toBe('kept-champion');
    });
  });

  it('mlp models rollback during a canary: the deployment it aborts leaves the traffic and the alias on the version rolled back to', async () => {
    const { name, v } = await model('cli-rollback', 3, [1, 2]);
    const [v1, , v3] = v;
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const id = `deploy-${name}`;
      const handle = await start(id, { model: name, challengerVersion: v3, startedBy: 'test', canary: { steps: [25, 100], analysisSeconds: 600, thresholds: { minMaturedPairs: 1000 } } });
      await waitFor(id, (s) => s.status === 'canary', 'its canary step');
      const out = await mlp('models', 'rollback', name, '--reason', 'v2 bad fills');
      expect(out).toMatchObject({ code: 0, stderr: '' });
      expect(out.stdout).toMatch(new RegExp(`abort accepted by running deployment ${id}: now rolled-back`));
      const final = await handle.result();
      expect(final.status).toBe('rolled-back');
      expect(final.decisions.at(-1)?.message).toMatch(new RegExp(`v${v3} withdrawn, traffic left as it is \\(the champion alias of ${name} moved from v2 to v${v1}`));
      expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v1));
      expect(await aliasVersion(t.store, name, 'champion')).toBe(v1);
      expect(await aliasVersion(t.store, name, 'canary')).toBeUndefined();
    });
  });

  it('POST /v1/admin/rollback during a canary stops the deployment as the CLI does', async () => {
    const { name, v } = await model('api-rollback', 3, [1, 2]);
    const [v1, , v3] = v;
    const api: ApiStack = await startApiStack({ store: t.store, cache, artifactDir, tokens: [TOKEN], abortDeployment: (id, input) => env.client.workflow.getHandle(id).executeUpdate(abortUpdate, { args: [input] }) });
    try {
      await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
        const id = `deploy-${name}`;
        const handle = await start(id, { model: name, challengerVersion: v3, startedBy: 'test', canary: { steps: [10, 50, 100], analysisSeconds: 600, thresholds: { minMaturedPairs: 1000 } } });
        await waitFor(id, (s) => s.status === 'canary', 'its canary step');
        const rollback = await api.app.inject({ method: 'POST', url: `/v1/admin/rollback/${name}`, headers: auth, payload: { toVersion: v1, reason: 'v2 bad fills' } });
        expect(rollback.statusCode).toBe(200);
        expect(rollback.json()).toMatchObject({ toVersion: v1, routes: { routes: singleRoute(v1) }, deployments: [{ id, stopped: true, detail: 'abort accepted: now rolled-back' }] });
        expect((await handle.result()).status).toBe('rolled-back');
        expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v1));
        expect(await aliasVersion(t.store, name, 'champion')).toBe(v1);
      });
    } finally {
      await api.close();
    }
  });

  it('POST /v1/admin/rollback answers within its wait while no worker runs, the abort pending until one does', async () => {
    const { name, v } = await model('api-no-worker', 3, [1, 2]);
    const [v1, , v3] = v;
    const id = `deploy-${name}`;
    // Before the wait, the answer waited for a worker to accept the abort: no answer at all while none ran.
    const api: ApiStack = await startApiStack({ store: t.store, cache, artifactDir, tokens: [TOKEN], abortWaitMs: 1500, abortDeployment: (d, input) => env.client.workflow.getHandle(d).executeUpdate(abortUpdate, { args: [input] }) });
    try {
      const handle = await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
        const h = await start(id, { model: name, challengerVersion: v3, startedBy: 'test', canary: { steps: [10, 50, 100], analysisSeconds: 600, thresholds: { minMaturedPairs: 1000 } } });
        await waitFor(id, (s) => s.status === 'canary' && s.challengerWeight > 0, 'its canary step');
        return h;
      });
      // No worker now.
      const rollback = await api.app.inject({ method: 'POST', url: `/v1/admin/rollback/${name}`, headers: auth, payload: { toVersion: v1, reason: 'v2 bad fills' } });
      expect(rollback.statusCode).toBe(200);
      expect(rollback.json()).toMatchObject({ toVersion: v1, routes: { routes: singleRoute(v1) }, deployments: [{ id, stopped: false, detail: expect.stringMatching(/abort sent but not accepted within 1\.5 s .*stops when a worker takes its workflow/) }] });
      expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v1));
      // A worker takes the workflow and with it the pending abort.
      await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
        expect((await handle.result()).status).toBe('rolled-back');
      });
      expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v1));
      expect(await aliasVersion(t.store, name, 'champion')).toBe(v1);
    } finally {
      await api.close();
    }
  });

  it('a deployment the admin rollback could not reach ends on its own at its next analysis, moving nothing back', async () => {
    const { name, v } = await model('api-unreached', 3, [1, 2]);
    const [v1, , v3] = v;
    const api: ApiStack = await startApiStack({ store: t.store, cache, artifactDir, tokens: [TOKEN] });
    try {
      await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
        const id = `deploy-${name}`;
        await start(id, { model: name, challengerVersion: v3, startedBy: 'test', canary: { steps: [10, 50, 100], analysisSeconds: 1, thresholds: { minMaturedPairs: 1000 } } });
        await waitFor(id, (s) => s.status === 'canary', 'its canary step');
        const rollback = await api.app.inject({ method: 'POST', url: `/v1/admin/rollback/${name}`, headers: auth, payload: { toVersion: v1, reason: 'v2 bad fills' } });
        expect(rollback.statusCode).toBe(200);
        expect(rollback.json().deployments).toEqual([{ id, stopped: false, detail: expect.stringMatching(/no Temporal connection/) }]);
        const final = await endWithin(id, 30_000);
        if (final === 'running' || final instanceof Error) throw new Error(`the deployment did not end by itself: ${String(final)}`);
        await recordHistory(env, `deployment-${DEPLOYMENT_RECORDING_TAG}-superseded-by-rollback`, id);
        expect(final.status).toBe('rolled-back');
        expect(final.decisions.map((d) => d.message).join('\n')).toMatch(new RegExp(`traffic taken over: the champion alias of ${name} moved from v2 to v${v1} \\(by api:ops`));
        expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v1));
        expect(await aliasVersion(t.store, name, 'champion')).toBe(v1);
        expect((await t.store.db.selectFrom('deployments').select(['status', 'running_model']).where('id', '=', id).executeTakeFirstOrThrow())).toEqual({ status: 'rolled-back', running_model: null });
      });
    } finally {
      await api.close();
    }
  });

  it('a deployment whose workflow is cancelled in Temporal rolls back, ends its row cancelled and raises an alert, then ends cancelled', async () => {
    const { name, v } = await model('cancelled', 3, [1, 2]);
    const [, v2, v3] = v;
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      // A single 100% step: the challenger on every request, the champion's route at weight 0.
      const id = `deploy-${name}`;
      const handle = await start(id, { model: name, challengerVersion: v3, startedBy: 'test', canary: { steps: [100], analysisSeconds: 600, thresholds: { minMaturedPairs: 1000 } } });
      await waitFor(id, (s) => s.status === 'canary' && s.challengerWeight === 1, 'its canary step');
      expect((await readServingRoutes(t.store, name))?.routes).toEqual([{ variant: 'canary', version: v3, weight: 1 }, { variant: 'champion', version: v2, weight: 0 }]);

      await handle.cancel();
      const ended = await handle.result().then(() => undefined, (e: unknown) => e);
      expect(ended).toBeInstanceOf(WorkflowFailedError);
      expect((ended as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
      await recordHistory(env, `deployment-${DEPLOYMENT_RECORDING_TAG}-cancelled-rolled-back`, id);
      // Before, the routes, the aliases and the row stayed as they were: v3 on every request, nothing reported.
      expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v2));
      expect(await aliasVersion(t.store, name, 'champion')).toBe(v2);
      expect(await aliasVersion(t.store, name, 'canary')).toBeUndefined();
      expect(await t.store.db.selectFrom('deployments').select(['status', 'running_model']).where('id', '=', id).executeTakeFirstOrThrow()).toEqual({ status: 'cancelled', running_model: null });
      const state = await handle.query(deploymentStateQuery);
      expect(state.status).toBe('cancelled');
      expect(state.decisions.at(-1)?.message).toBe(`rolled back to v${v2}: the deployment workflow was cancelled`);
      const alerts = await t.store.db.selectFrom('alerts').select(['rule', 'severity', 'subject', 'message']).where('rule', '=', 'deployment_cancelled').where('subject', '=', `model ${name}`).execute();
      expect(alerts).toEqual([{ rule: 'deployment_cancelled', severity: 'warning', subject: `model ${name}`, message: `deployment ${id} of ${name} v${v3} was cancelled in Temporal, not aborted (mlp deployments abort): rolled back to v${v2}: the deployment workflow was cancelled` }]);
      expect((await servedChampionDisagreements(t.store, [(await readServingRoutes(t.store, name))!])).get(name)).toBeUndefined();

      // Cancelled while awaiting approval: nothing had moved, nothing moves; the row ends cancelled.
      const waiting = `waiting-${name}`;
      const before = await readServingRoutes(t.store, name);
      const approval = await start(waiting, { model: name, challengerVersion: v3, startedBy: 'test', requireApproval: true });
      await waitFor(waiting, (s) => s.status === 'awaiting-approval', 'approval');
      await approval.cancel();
      await expect(approval.result()).rejects.toBeInstanceOf(WorkflowFailedError);
      expect(await readServingRoutes(t.store, name)).toEqual(before);
      expect(await t.store.db.selectFrom('deployments').select(['status', 'running_model']).where('id', '=', waiting).executeTakeFirstOrThrow()).toEqual({ status: 'cancelled', running_model: null });
      expect((await approval.query(deploymentStateQuery)).decisions.at(-1)?.message).toBe('not deployed: the deployment workflow was cancelled');
    });
  });

  it('an A/B test whose workflow is cancelled mid-experiment gives the champion all traffic back, ends its row cancelled and raises an alert', async () => {
    const { name, v } = await model('ab-cancelled', 3, [1, 2]);
    const [, v2, v3] = v;
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      // Analyses every second that cannot decide (no matured outcomes): the experiment is under way when it is cancelled.
      const id = `deploy-${name}`;
      const handle = await start(id, { model: name, challengerVersion: v3, startedBy: 'test', mode: 'ab', ab: { challengerWeight: 0.6, analysisSeconds: 1, minSamplesPerVariant: 1000 } });
      await waitFor(id, (s) => s.status === 'ab-test' && s.analysisCount >= 2, 'two analyses of its A/B test');
      expect(await readServingRoutes(t.store, name)).toMatchObject({ mode: 'ab', routes: [{ variant: 'B', version: v3, weight: 0.6 }, { variant: 'A', version: v2, weight: expect.closeTo(0.4, 9) }] });
      expect(await aliasVersion(t.store, name, 'canary')).toBe(v3);

      await handle.cancel();
      const ended = await handle.result().then(() => undefined, (e: unknown) => e);
      expect(ended).toBeInstanceOf(WorkflowFailedError);
      expect((ended as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
      await recordHistory(env, `deployment-${DEPLOYMENT_RECORDING_TAG}-ab-cancelled`, id);
      // The champion serves every request again, under the alias it kept; the challenger holds no alias.
      const routes = await readServingRoutes(t.store, name);
      expect(routes).toMatchObject({ mode: 'single', routes: singleRoute(v2) });
      expect(await aliasVersion(t.store, name, 'champion')).toBe(v2);
      expect(await aliasVersion(t.store, name, 'canary')).toBeUndefined();
      expect((await servedChampionDisagreements(t.store, [routes!])).get(name)).toBeUndefined();
      expect(await t.store.db.selectFrom('deployments').select(['status', 'running_model']).where('id', '=', id).executeTakeFirstOrThrow()).toEqual({ status: 'cancelled', running_model: null });
      const state = await handle.query(deploymentStateQuery);
      expect(state).toMatchObject({ status: 'cancelled', challengerWeight: 0 });
      expect(state.decisions.at(-1)?.message).toBe(`champion v${v2} kept: the deployment workflow was cancelled`);
      const alerts = await t.store.db.selectFrom('alerts').select(['rule', 'severity', 'message']).where('subject', '=', `model ${name}`).execute();
      expect(alerts).toEqual([{ rule: 'deployment_cancelled', severity: 'warning', message: `deployment ${id} of ${name} v${v3} was cancelled in Temporal, not aborted (mlp deployments abort): champion v${v2} kept: the deployment workflow was cancelled` }]);
      // The model is free for its next deployment.
      const next = `next-${name}`;
      await start(next, { model: name, challengerVersion: v3, startedBy: 'test', requireApproval: true });
      await waitFor(next, (s) => s.status === 'awaiting-approval', 'approval');
      await env.client.workflow.getHandle(next).executeUpdate(abortUpdate, { args: [{ by: 'test', reason: 'done' }] });
    });
  });

  it.each(['rollBackDeployment', 'verifyDeploymentVersions'] as const)(
    'a cancellation that lands while failed analyses roll a canary back (in %s) keeps the rollback, its alert and its reason',
    async (held) => {
      const { name, v } = await model(held === 'rollBackDeployment' ? 'cancel-in-rollback' : 'cancel-in-rollback-check', 3, [1, 2]);
      const [, v2, v3] = v;
      const id = `deploy-${name}`;
      const failure = 'canary error rate 4.0% above the limit of 1.0%';
      let entered!: () => void;
      const inRollback = new Promise<void>((r) => (entered = r));
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      const hold = async () => {
        entered();
        await released;
      };
      const wrap = (a: PipelineActivities): PipelineActivities => ({
        ...a,
        // Every analysis fails (how analyses judge is tested in deployment-workflow.test.ts): the rollback follows.
        analyseCanary: async (input) => {
          const analysis = await a.analyseCanary(input);
          return 'verdict' in analysis ? { ...analysis, verdict: 'fail', reasons: [failure] } : analysis;
        },
        // The rollback's own activity, or its check of the champion (asked without a challenger), waits for the test.
        rollBackDeployment: async (input) => (held === 'rollBackDeployment' && (await hold(), true), a.rollBackDeployment(input)),
        verifyDeploymentVersions: async (input) => (held === 'verifyDeploymentVersions' && input.challengerVersion === undefined && (await hold(), true), a.verifyDeploymentVersions(input)),
      });
      await withPipelineWorker(env, { store: t.store, cache, artifactDir }, wrap, async () => {
        const handle = await start(id, { model: name, challengerVersion: v3, startedBy: 'test', canary: { steps: [50, 100], analysisSeconds: 0.5 } });
        await inRollback;
        await handle.cancel();
        // The workflow has taken the cancellation (a task completed after it) while the rollback still waits.
        for (let i = 0; ; i++) {
          const events = (await handle.fetchHistory()).events ?? [];
          const at = events.findIndex((e) => e.workflowExecutionCancelRequestedEventAttributes);
          if (at >= 0 && events.slice(at).some((e) => e.workflowTaskCompletedEventAttributes)) break;
          if (i > 100) throw new Error('the cancellation never reached the workflow');
          await new Promise((r) => setTimeout(r, 100));
        }
        release();
        const ended = await handle.result().then(() => undefined, (e: unknown) => e);
        expect((ended as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
        if (held === 'rollBackDeployment') await recordHistory(env, `deployment-${DEPLOYMENT_RECORDING_TAG}-cancelled-during-rollback`, id);

        // Before, the rollback was begun again as the cancellation's: no deployment_rolled_back alert, the row
        // 'cancelled' and its last word "rolled back to v2: the deployment workflow was cancelled".
        const reason = `1 failed analysis: ${failure}`;
        const alerts = await t.store.db.selectFrom('alerts').select(['rule', 'severity', 'message']).where('subject', '=', `model ${name}`).execute();
        expect(alerts).toEqual([{ rule: 'deployment_rolled_back', severity: 'critical', message: `v${v3} rolled back: ${reason}` }]);
        const row = await t.store.db.selectFrom('deployments').select(['status', 'running_model', 'outcome']).where('id', '=', id).executeTakeFirstOrThrow();
        expect(row).toMatchObject({ status: 'rolled-back', running_model: null });
        const recorded = JSON.parse(String(row.outcome)) as DeploymentState;
        expect(recorded.status).toBe('rolled-back');
        expect(recorded.decisions.slice(-2).map((d) => d.message)).toEqual([
          'the deployment workflow was cancelled during the rollback: it ran to its end, and the deployment ends as that decided',
          `rolled back to v${v2}: ${reason}`,
        ]);
        expect((await handle.query(deploymentStateQuery)).decisions.at(-1)?.message).toBe(`rolled back to v${v2}: ${reason}`);
        expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v2));
        expect(await aliasVersion(t.store, name, 'champion')).toBe(v2);
        expect(await aliasVersion(t.store, name, 'canary')).toBeUndefined();
      });
    },
  );

  it("a first model's deployment cancelled before it began is not promoted", async () => {
    // The cancellation is there before a worker takes the workflow: beginDeployment runs
    // uninterrupted, and the promotion after it, also uninterrupted, promoted the model anyway.
    const { name, v } = await model('first-cancelled', 1, []);
    const id = `deploy-${name}`;
    const handle = await start(id, { model: name, challengerVersion: v[0], startedBy: 'test' });
    await handle.cancel();
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const ended = await handle.result().then(() => undefined, (e: unknown) => e);
      expect((ended as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    });
    expect(await aliasVersion(t.store, name, 'champion')).toBeUndefined();
    expect(await readServingRoutes(t.store, name)).toBeUndefined();
    expect(await t.store.db.selectFrom('deployments').select(['status', 'running_model']).where('id', '=', id).executeTakeFirstOrThrow()).toEqual({ status: 'cancelled', running_model: null });
  });
});
