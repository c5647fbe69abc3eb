/**
 * Replays every committed history of deploymentWorkflow and monitoringWorkflow against today's
 * workflow code: a change that running rollouts could not survive (a reordered activity, a new
 * timer, a removed handler) fails here with a non-determinism error. Rules: docs/changing-workflows.md.
 *
 * Recorded paths: canary promoted / rolled back by a failed analysis / shadow / blocked / inconclusive
 * and aborted / A/B kept champion / A/B promoted by hand (test/integration/deployment-workflow.test.ts),
 * and here: a canary driven by people through every update and legacy signal, every run of a rollout
 * that continued as new, and monitoringWorkflow; steps judged on their own evidence and versions that
 * stopped verifying (test/integration/deployment-step-evidence.test.ts, with the
 * `verify-before-moves` patch marker, beside the recordings made before it).
 *
 * Re-record (after an intended, compatible change; add a new tag for a new shape and keep the old files):
 *   RECORD_HISTORIES=1 npx jest test/integration/deployment-workflow.test.ts test/integration/replay-deployment.test.ts
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { raiseAlert } from '../../lib/alerts/alert-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { dataSubject } from '../../lib/monitoring/monitoring-rules';
import { moveAlias } from '../../lib/registry/model-registry';
import { singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { TASK_QUEUES } from '../../lib/task-queues';
import {
  approveStartUpdate,
  approveStepUpdate,
  deploymentStateQuery,
  deploymentWorkflow,
  monitoringWorkflow,
  overrideBlockUpdate,
  pauseSignal,
  pauseUpdate,
  resumeSignal,
  resumeUpdate,
  type DeploymentState,
} from '../../workflows';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket } from '../helpers/oracle-models';
import { startTemporal, withWorkers, workflowBundle } from '../helpers/temporal';
import { committedHistories, DEPLOYMENT_RECORDING_TAG, historiesOfAllRuns, recordHistory, RECORDING } from '../helpers/workflow-histories';

/** Paths that must have a committed recording: a missing file fails the test, so none is skipped silently. */
const REQUIRED = [
  `deployment-${DEPLOYMENT_RECORDING_TAG}-canary-promoted`,
  `deployment-${DEPLOYMENT_RECORDING_TAG}-canary-rolled-back`,
  `deployment-${DEPLOYMENT_RECORDING_TAG}-shadow-promoted`,
  `deployment-${DEPLOYMENT_RECORDING_TAG}-blocked-promoted`,
  `deployment-${DEPLOYMENT_RECORDING_TAG}-inconclusive-aborted`,
  `deployment-${DEPLOYMENT_RECORDING_TAG}-ab-kept-champion`,
  `deployment-${DEPLOYMENT_RECORDING_TAG}-ab-promoted-by-hand`,
  `deployment-${DEPLOYMENT_RECORDING_TAG}-canary-by-hand`,
  `deployment-${DEPLOYMENT_RECORDING_TAG}-continue-as-new-run1`,
  `deployment-${DEPLOYMENT_RECORDING_TAG}-continue-as-new-run2`,
  `deployment-${DEPLOYMENT_RECORDING_TAG}-continue-as-new-run3`,
  // A deployment that found its traffic taken over (test/integration/deployment-takeover.test.ts).
  `deployment-${DEPLOYMENT_RECORDING_TAG}-superseded-by-rollback`,
  // A canary whose workflow was cancelled in Temporal, rolled back first (patched('rollback-on-cancel')): the same file.
  `deployment-${DEPLOYMENT_RECORDING_TAG}-cancelled-rolled-back`,
  // An A/B test whose workflow was cancelled mid-experiment, ended keeping the champion.
  `deployment-${DEPLOYMENT_RECORDING_TAG}-ab-cancelled`,
  // A canary cancelled while failed analyses rolled it back: the rollback ran to its end (patched('ending-outlives-cancel')).
  `deployment-${DEPLOYMENT_RECORDING_TAG}-cancelled-during-rollback`,
  // Steps judged on their own window, versions verified before every traffic move (patched('verify-before-moves')):
  // test/integration/deployment-step-evidence.test.ts.
  `deployment-${DEPLOYMENT_RECORDING_TAG}-step-evidence-promoted`,
  `deployment-${DEPLOYMENT_RECORDING_TAG}-verify-challenger-rolled-back`,
  `deployment-${DEPLOYMENT_RECORDING_TAG}-verify-champion-stopped`,
  `deployment-${DEPLOYMENT_RECORDING_TAG}-verify-gate-rolled-back`,
  // An operator's rollback away from a champion that stopped verifying, found before the stop (patched('takeover-before-stop')):
  // test/integration/deployment-end-records.test.ts.
  `deployment-${DEPLOYMENT_RECORDING_TAG}-takeover-before-stop`,
  // Canary steps held for a person and still analysed (patched('analyse-while-held')): one rolled back by a
  // failed analysis during the hold, one analysed while held and then approved (deployment-step-evidence.test.ts).
  `deployment-${DEPLOYMENT_RECORDING_TAG}-held-analysis-rolled-back`,
  `deployment-${DEPLOYMENT_RECORDING_TAG}-held-analysis-approved`,
  // The holds that one left unwatched, analysed the same way (patched('analyse-every-hold')): a gate held by a data
  // alert whose serving step failed its analysis, rolled back, and one analysed while blocked, then overridden; an
  // A/B test paused by hand that B lost meanwhile, ended keeping A, and one analysed while paused, then resumed
  // (deployment-step-evidence.test.ts).
  `deployment-${DEPLOYMENT_RECORDING_TAG}-blocked-analysis-rolled-back`,
  `deployment-${DEPLOYMENT_RECORDING_TAG}-blocked-analysis-overridden`,
  `deployment-${DEPLOYMENT_RECORDING_TAG}-ab-paused-kept-champion`,
  `deployment-${DEPLOYMENT_RECORDING_TAG}-ab-paused-resumed`,
  'monitoring-v1-served-model',
  // A run with the check of the served versions' stored artifacts (patched('served-artifact-check')):
  // test/integration/served-artifact-check.test.ts.
  'monitoring-v2-artifact-damaged',
  // Runs with the check of routes against the champion alias (patched('served-champion-check'), a
  // mismatch alerted: test/integration/served-champion-check.test.ts) and with a watched model no
  // routes serve (patched('unserved-models-alert'): test/integration/monitoring-workflow.test.ts).
  'monitoring-v3-served-champion-check',
  'monitoring-v3-unserved-models-alert',
];

jest.setTimeout(5 * 60_000);

async function replay(workflowType: string, prefix: string): Promise<number> {
  const histories = committedHistories(prefix);
  let replayed = 0;
  // Replayed one after another, in order: the nth result is the nth file's.
  for await (const r of Worker.runReplayHistories({ workflowBundle: await workflowBundle(), replayName: workflowType }, histories)) {
    if (r.error) throw new Error(`${histories[replayed].file} (${r.workflowId}) does not replay: ${r.error.message}`);
    replayed++;
  }
  return replayed;
}

describe('replaying recorded deployment and monitoring histories', () => {
  (RECORDING ? describe : describe.skip)('recording (RECORD_HISTORIES=1)', () => {
    let env: TestWorkflowEnvironment;
    let t: TestDatabase;
    beforeAll(async () => {
      env = await startTemporal();
      t = await createSqliteTestDatabase();
    });
    afterAll(async () => {
      await t?.drop();
      await env?.teardown();
    });

    it('records a canary driven by people, a rollout that continued as new, and a monitoring run', async () => {
      const cache = new MemoryCache();
      const artifactDir = tempDir('mlp-replay-artifacts-');
      const market = await setUpOracleMarket(t.store, cache, 2);
      const newModel = async (model: string) => {
        const champion = await registerOracleModel(t.store, artifactDir, { name: model, seed: 1, flip: false, featureSetVersion: market.latestFeatureSetVersion });
        const challenger = await registerOracleModel(t.store, artifactDir, { name: model, seed: 2, flip: false, featureSetVersion: market.latestFeatureSetVersion });
        await moveAlias(t.store, { name: model, alias: 'champion', version: champion, movedBy: 'test', reason: 'first model' });
        await writeServingRoutes(t.store, cache, { model, mode: 'single', routes: singleRoute(champion), updatedBy: 'test', reason: 'first model' });
        return challenger;
      };
      await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
        const waitFor = async (id: string, ok: (s: DeploymentState) => boolean) => {
          for (let i = 0; i < 600; i++) {
            const s = await env.client.workflow.getHandle(id).query(deploymentStateQuery);
            if (ok(s)) return s;
            await new Promise((r) => setTimeout(r, 50));
          }
          throw new Error(`${id}: state never reached`);
        };

        // Approval, a data alert overridden by id, pause/resume (updates and legacy signals), steps accepted by hand.
        const byHand = await newModel('replay-by-hand');
        const alert = await raiseAlert(t.store, { rule: 'data_stale', severity: 'critical', subject: dataSubject('replay-by-hand'), message: 'stale', evidence: {} });
        const id = `replay-by-hand-${Date.now()}`;
        const h = await env.client.workflow.start(deploymentWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [{ model: 'replay-by-hand', challengerVersion: byHand, requireApproval: true, canary: { steps: [50, 100], analysisSeconds: 0.2 } }] });
        await waitFor(id, (s) => s.status === 'awaiting-approval');
        await h.executeUpdate(approveStartUpdate, { args: [{ by: 'test' }] });
        await waitFor(id, (s) => s.status === 'blocked');
        await h.executeUpdate(overrideBlockUpdate, { args: [{ alertId: alert.id, by: 'test' }] });
        await waitFor(id, (s) => s.status === 'canary' && s.analysisCount > 0);
        await h.executeUpdate(pauseUpdate, { args: [{ by: 'test' }] });
        await h.executeUpdate(resumeUpdate, { args: [{ by: 'test' }] });
        await h.signal(pauseSignal, 'test');
        await waitFor(id, (s) => s.status === 'paused');
        await h.signal(resumeSignal, 'test');
        await h.executeUpdate(approveStepUpdate, { args: [{ step: 0, by: 'test' }] });
        await waitFor(id, (s) => s.step === 1 && s.status === 'canary');
        await h.executeUpdate(approveStepUpdate, { args: [{ step: 1, by: 'test' }] });
        expect((await h.result()).status).toBe('promoted');
        await recordHistory(env, `deployment-${DEPLOYMENT_RECORDING_TAG}-canary-by-hand`, id);

        // Continue-as-new at a low threshold, mid-step and at a step boundary; a pause carried over.
        const long = await newModel('replay-long');
        const longId = `replay-long-${Date.now()}`;
        const lh = await env.client.workflow.start(deploymentWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId: longId, args: [{ model: 'replay-long', challengerVersion: long, canary: { steps: [50, 100], analysisSeconds: 0.05 }, continueAsNewAfterEvents: 100 }] });
        await waitFor(longId, (s) => s.run >= 2);
        await lh.executeUpdate(pauseUpdate, { args: [{ by: 'test' }] });
        await lh.executeUpdate(resumeUpdate, { args: [{ by: 'test' }] });
        await waitFor(longId, (s) => s.run >= 3);
        await lh.executeUpdate(approveStepUpdate, { args: [{ step: 0, by: 'test' }] });
        await waitFor(longId, (s) => s.step === 1 && s.status === 'canary');
        await lh.executeUpdate(approveStepUpdate, { args: [{ step: 1, by: 'test' }] });
        expect((await lh.result()).status).toBe('promoted');
        const runs = await historiesOfAllRuns(env, longId, lh.firstExecutionRunId);
        expect(runs.length).toBeGreaterThanOrEqual(3);
        for (const [i, r] of runs.slice(0, 3).entries()) await recordHistory(env, `deployment-${DEPLOYMENT_RECORDING_TAG}-continue-as-new-run${i + 1}`, longId, r.runId);
        await recordHistory(env, `deployment-${DEPLOYMENT_RECORDING_TAG}-continue-as-new-last-run`, longId, runs.at(-1)?.runId);

        // Monitoring: one served model (no reference profile: nothing to alarm on) and pipeline health.
        const monitoringId = `replay-monitoring-${Date.now()}`;
        await env.client.workflow.execute(monitoringWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId: monitoringId, args: [{ models: ['replay-by-hand'] }] });
        await recordHistory(env, 'monitoring-v1-served-model', monitoringId);
      });
    });
  });

  it('every required path has a committed recording', () => {
    const names = [...committedHistories('deployment-'), ...committedHistories('monitoring-')].map((h) => h.file.replace(/\.json$/, ''));
    expect(REQUIRED.filter((r) => !names.includes(r))).toEqual([]);
  });

  it('deploymentWorkflow replays every committed history without non-determinism', async () => {
    expect(await replay('deploymentWorkflow', 'deployment-')).toBeGreaterThanOrEqual(REQUIRED.filter((r) => r.startsWith('deployment-')).length);
  });

  it('monitoringWorkflow replays every committed history without non-determinism', async () => {
    expect(await replay('monitoringWorkflow', 'monitoring-')).toBeGreaterThanOrEqual(1);
  });
});
