/**
 * What a deployment's end records (real Temporal dev server, workers, SQLite, Redis): its row's
 * status, its decision log, its alerts and the `canary` alias, on the end paths where they used to
 * disagree with what serves:
 * - aborted or cancelled while awaiting approval, the `canary` alias beginDeployment set is cleared;
 * - a challenger an operator made champion by hand (`mlp models rollback --to-version <challenger>`,
 *   then the abort) ends `superseded`, "taken over", never "withdrawn" or "kept champion";
 * - an operator's rollback away from a champion that stopped verifying ends the deployment as taken
 *   over, without a deployment_stopped alert asking for the rollback just made.
 * The operator's rollback is made as the CLI makes it (rollbackModel verifying its target, then the
 * abort update).
 */
import crypto from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { RedisCache } from '../../lib/cache/redis-cache';
import type { DeploymentRequest } from '../../lib/deployment/plan';
import { aliasVersion, getModelVersion, moveAlias, verifyRegisteredVersion } from '../../lib/registry/model-registry';
import { rollbackModel } from '../../lib/serving/rollback';
import { readServingRoutes, singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { TASK_QUEUES } from '../../lib/task-queues';
import { abortUpdate, deploymentStateQuery, deploymentWorkflow, type DeploymentState } from '../../workflows';
import { clearSharedOnlineVectors, createSqliteTestDatabase, tempDir, TEST_REDIS_URL, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket, type OracleMarket } from '../helpers/oracle-models';
import { startTemporal, withWorkers } from '../helpers/temporal';
import { DEPLOYMENT_RECORDING_TAG, recordHistory } from '../helpers/workflow-histories';

jest.setTimeout(3 * 60_000);

describe('what a deployment records when it ends (real Temporal server, SQLite, Redis)', () => {
  let env: TestWorkflowEnvironment;
  let t: TestDatabase;
  let cache: RedisCache;
  let artifactDir: string;
  let market: OracleMarket;

  beforeAll(async () => {
    env = await startTemporal();
    t = await createSqliteTestDatabase();
    cache = new RedisCache(TEST_REDIS_URL);
    artifactDir = tempDir('mlp-end-records-artifacts-');
    market = await setUpOracleMarket(t.store, cache, 4);
  });
  afterAll(async () => {
    await cache?.close();
    // The market's vectors under the processes' shared prefix: left there, they would hide another file's from a bounded sample.
    await clearSharedOnlineVectors();
    await t?.drop();
    await env?.teardown();
  });

  /** v1…vN of a fresh model, champion alias and routes moved through `champions`. */
  async function model(prefix: string, versions: number, champions: number[]): Promise<{ name: string; v: number[] }> {
    const name = `${prefix}-${crypto.randomBytes(3).toString('hex')}`;
    const v: number[] = [];
    for (let i = 1; i <= versions; i++) v.push(await registerOracleModel(t.store, artifactDir, { name, seed: i, flip: false, featureSetVersion: market.featureSetVersion }));
    for (const c of champions) {
      await moveAlias(t.store, { name, alias: 'champion', version: c, movedBy: 'test', reason: `champion v${c}` });
      await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(c), updatedBy: 'test', reason: `champion v${c}` });
    }
    return { name, v };
  }
  const start = (id: string, request: DeploymentRequest) => env.client.workflow.start(deploymentWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [request] });
  async function waitFor(id: string, ok: (s: DeploymentState) => boolean, what: string): Promise<DeploymentState> {
    for (let i = 0; i < 300; i++) {
      const s = await env.client.workflow.getHandle(id).query(deploymentStateQuery);
      if (ok(s)) return s;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${id} never reached ${what}`);
  }
  /** `mlp models rollback <name> --to-version <to>` as the CLI runs it: the rollback, then the abort of the running deployment. */
  async function operatorRollback(name: string, to: number, deploymentId: string, reason: string): Promise<DeploymentState> {
    const artifacts = localArtifactStore(artifactDir);
    await rollbackModel(t.store, cache, { model: name, toVersion: to, movedBy: 'cli (ops)', reason, verify: async (m, version) => void (await verifyRegisteredVersion(t.store, artifacts, m, version)) });
    return env.client.workflow.getHandle(deploymentId).executeUpdate(abortUpdate, { args: [{ by: 'cli (ops)', reason: `manual rollback: ${reason}` }] });
  }
  const row = (id: string) => t.store.db.selectFrom('deployments').select(['status', 'running_model']).where('id', '=', id).executeTakeFirstOrThrow();
  const alerts = (name: string) => t.store.db.selectFrom('alerts').select(['rule', 'severity', 'message']).where('subject', '=', `model ${name}`).execute();

  it('clears the canary alias of a deployment aborted or cancelled while awaiting approval', async () => {
    const { name, v } = await model('approval-end', 3, [1, 2]);
    const [, v2, v3] = v;
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const aborted = `aborted-${name}`;
      await start(aborted, { model: name, challengerVersion: v3, startedBy: 'test', requireApproval: true });
      await waitFor(aborted, (s) => s.status === 'awaiting-approval', 'approval');
      expect(await aliasVersion(t.store, name, 'canary')).toBe(v3);
      const state = await env.client.workflow.getHandle(aborted).executeUpdate(abortUpdate, { args: [{ by: 'ops', reason: 'not today' }] });
      expect(state.status).toBe('kept-champion');
      await env.client.workflow.getHandle(aborted).result();
      // Before, the alias stayed on v3 though nothing deployed it any more.
      expect(await aliasVersion(t.store, name, 'canary')).toBeUndefined();
      expect(await row(aborted)).toEqual({ status: 'kept-champion', running_model: null });

      const cancelled = `cancelled-${name}`;
      const handle = await start(cancelled, { model: name, challengerVersion: v3, startedBy: 'test', requireApproval: true });
      await waitFor(cancelled, (s) => s.status === 'awaiting-approval', 'approval');
      expect(await aliasVersion(t.store, name, 'canary')).toBe(v3);
      await handle.cancel();
      await expect(handle.result()).rejects.toThrow();
      expect(await aliasVersion(t.store, name, 'canary')).toBeUndefined();
      expect(await row(cancelled)).toEqual({ status: 'cancelled', running_model: null });
      expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v2));
      expect(await aliasVersion(t.store, name, 'champion')).toBe(v2);
    });
  });

  it.each(['canary', 'ab'] as const)('a challenger the operator made champion by hand during a %s ends superseded, not withdrawn', async (mode) => {
    const { name, v } = await model(`hand-promoted-${mode}`, 3, [1, 2]);
    const [, v2, v3] = v;
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const id = `deploy-${name}`;
      const request: DeploymentRequest =
        mode === 'canary'
          ? { model: name, challengerVersion: v3, startedBy: 'test', canary: { steps: [25, 100], analysisSeconds: 600, thresholds: { minMaturedPairs: 1000 } } }
          : { model: name, challengerVersion: v3, startedBy: 'test', mode: 'ab', ab: { analysisSeconds: 600 } };
      const handle = await start(id, request);
      await waitFor(id, (s) => (s.status === 'canary' || s.status === 'ab-test') && s.challengerWeight > 0, 'its split');
      const state = await operatorRollback(name, v3, id, 'v3 looks fine, take it now');
      const final = await handle.result();
      // Before: rolled-back (A/B: kept-champion), "v3 withdrawn, traffic left as it is (the champion alias … moved from v2 to v3 …)".
      expect(state.status).toBe('superseded');
      expect(final.status).toBe('superseded');
      const last = final.decisions.at(-1)?.message ?? '';
      expect(last).toMatch(new RegExp(`^taken over: v${v3} made champion by cli \\(ops\\); traffic left as it is \\(v${v3} on all traffic\\): the champion alias of ${name} moved from v${v2} to v${v3}`));
      expect(last).not.toMatch(/withdrawn|kept/);
      expect(await row(id)).toEqual({ status: 'superseded', running_model: null });
      expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v3));
      expect(await aliasVersion(t.store, name, 'champion')).toBe(v3);
      expect(await aliasVersion(t.store, name, 'canary')).toBeUndefined();
      expect(await alerts(name)).toEqual([]);
    });
  });

  it('an operator rollback away from a champion that stopped verifying ends the deployment as taken over, with no stop alert', async () => {
    const { name, v } = await model('broken-champion', 3, [1, 2]);
    const [v1, v2, v3] = v;
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const id = `deploy-${name}`;
      const handle = await start(id, { model: name, challengerVersion: v3, startedBy: 'test', canary: { steps: [25, 100], analysisSeconds: 600, thresholds: { minMaturedPairs: 1000 } } });
      await waitFor(id, (s) => s.status === 'canary' && s.challengerWeight > 0, 'its canary step');
      // The champion's registry row is edited (it no longer verifies); the operator serves v1, which does.
      const champion = await getModelVersion(t.store, name, v2);
      await t.store.db.updateTable('model_versions').set({ label: JSON.stringify({ ...champion.label, horizon: 1 }) }).where('name', '=', name).where('version', '=', v2).execute();
      const state = await operatorRollback(name, v1, id, 'v2 row broken, serve v1');
      const final = await handle.result();
      await recordHistory(env, `deployment-${DEPLOYMENT_RECORDING_TAG}-takeover-before-stop`, id);
      // Before: a critical deployment_stopped asking for that very rollback, "traffic left as it is (v3 at 25%, v2 on the rest)"
      // while v1 served all of it, and the row 'stopped' with the canary alias left on v3.
      expect(await alerts(name)).toEqual([]);
      expect(state.status).toBe('rolled-back');
      expect(final.status).toBe('rolled-back');
      const messages = final.decisions.map((d) => d.message);
      expect(messages.at(-1)).toMatch(new RegExp(`^v${v3} withdrawn, traffic left as it is \\(the champion alias of ${name} moved from v${v2} to v${v1} .*; serving now: v${v1} on all traffic\\): aborted: manual rollback: v2 row broken, serve v1 \\(cli \\(ops\\)\\)$`));
      expect(messages.join('\n')).toMatch(new RegExp(`traffic taken over: .*the champion v${v2} no longer verifies`));
      expect(messages.join('\n')).not.toMatch(/v\d+ at 25%/);
      expect(await row(id)).toEqual({ status: 'rolled-back', running_model: null });
      expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v1));
      expect(await aliasVersion(t.store, name, 'champion')).toBe(v1);
      expect(await aliasVersion(t.store, name, 'canary')).toBeUndefined();
    });
  });
});
