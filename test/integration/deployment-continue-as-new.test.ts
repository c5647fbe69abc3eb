/**
 * A rollout that waits for a long time: > 2,000 analysis loops of one inconclusive canary step (no
 * traffic, so nothing matures), through the real Temporal dev server and a real worker with real
 * activities. The 10 ms interval and the low continue-as-new threshold come from the request; in
 * production the defaults (300 s, 5,000 events) make the same shape take a week.
 *
 * Checks: every run's history stays under a fixed bound; the deploymentState query, through a handle
 * without a run id, answers across runs with counts that carry on; pause/resume updates and legacy
 * signals sent while runs continue as new are all answered or acted on; the step approvals at the
 * end land on the right step.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { moveAlias } from '../../lib/registry/model-registry';
import { singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { TASK_QUEUES } from '../../lib/task-queues';
import { abortUpdate, approveStepUpdate, deploymentStateQuery, deploymentWorkflow, pauseSignal, pauseUpdate, resumeSignal, resumeUpdate, type DeploymentCarry, type DeploymentState } from '../../workflows';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket } from '../helpers/oracle-models';
import { startTemporal, withWorkers } from '../helpers/temporal';
import { historiesOfAllRuns } from '../helpers/workflow-histories';

const LOOPS = 2_000;
const THRESHOLD = 1_000;
/** One loop (~11 events), the continue-as-new itself and a few update/signal events arriving meanwhile. */
const BOUND = THRESHOLD + 60;

jest.setTimeout(25 * 60_000); // ~3 min on a quiet 2-core machine; far longer when it is shared

describe('deploymentWorkflow over thousands of analysis loops (continue-as-new)', () => {
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

  it(`keeps every run under ${BOUND} events through ${LOOPS} inconclusive analyses, losing no update or signal`, async () => {
    const cache = new MemoryCache();
    const artifactDir = tempDir('mlp-can-artifacts-');
    const market = await setUpOracleMarket(t.store, cache, 2);
    const model = 'deploy-long';
    const champion = await registerOracleModel(t.store, artifactDir, { name: model, seed: 1, flip: false, featureSetVersion: market.latestFeatureSetVersion });
    const challenger = await registerOracleModel(t.store, artifactDir, { name: model, seed: 2, flip: false, featureSetVersion: market.latestFeatureSetVersion });
    await moveAlias(t.store, { name: model, alias: 'champion', version: champion, movedBy: 'test', reason: 'first model' });
    await writeServingRoutes(t.store, cache, { model, mode: 'single', routes: singleRoute(champion), updatedBy: 'test', reason: 'first model' });

    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const workflowId = `deploy-long-${Date.now()}`;
      const handle = await env.client.workflow.start(deploymentWorkflow, {
        taskQueue: TASK_QUEUES.pipeline,
        workflowId,
        args: [{ model, challengerVersion: challenger, canary: { steps: [50, 100], analysisSeconds: 0.01 }, continueAsNewAfterEvents: THRESHOLD }],
      });
      const follow = env.client.workflow.getHandle(workflowId); // no run id: follows the newest run
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      const waitFor = async (what: string, ok: (s: DeploymentState) => boolean): Promise<DeploymentState> => {
        for (let i = 0; i < 600; i++) {
          const s = await follow.query(deploymentStateQuery);
          if (ok(s)) return s;
          await sleep(50);
        }
        throw new Error(`never: ${what}`);
      };

      // Person actions all through the rollout, so some land while a run is continuing as new.
      const answeredInRuns = new Set<number>();
      let probes = 0;
      let signals = 0;
      let last = await waitFor('canary step 1', (s) => s.status === 'canary');
      while (last.analysisCount < LOOPS) {
        probes++;
        const paused = await follow.executeUpdate(pauseUpdate, { args: [{ by: `probe-${probes}` }] });
        expect(paused.status).toBe('paused');
        expect(paused.decisions.map((d) => d.message)).toContain(`paused by probe-${probes}`);
        const resumed = await follow.executeUpdate(resumeUpdate, { args: [{ by: `probe-${probes}` }] });
        expect(resumed.status).toBe('canary');
        answeredInRuns.add(paused.run).add(resumed.run);
        if (probes % 5 === 0) {
          // Legacy signals: fire-and-forget, so their effect is what must not be lost.
          signals++;
          await follow.signal(pauseSignal, `signal-${signals}`);
          await waitFor(`pause signal ${signals} acted on`, (s) => s.status === 'paused');
          await follow.signal(resumeSignal, `signal-${signals}`);
          await waitFor(`resume signal ${signals} acted on`, (s) => s.status === 'canary');
        }
        await sleep(1500);
        const now = await follow.query(deploymentStateQuery);
        // The query answers from whichever run is current, with counts that carry on across runs.
        expect(now.analysisCount).toBeGreaterThanOrEqual(last.analysisCount);
        expect(now.run).toBeGreaterThanOrEqual(last.run);
        expect(now.analyses.length).toBeLessThanOrEqual(100);
        expect(now.step).toBe(0);
        last = now;
      }
      expect(last.run).toBeGreaterThan(LOOPS / (THRESHOLD / 11) - 2);
      expect(answeredInRuns.size).toBeGreaterThan(5);

      const accepted = await follow.executeUpdate(approveStepUpdate, { args: [{ step: 0, by: 'test' }] });
      expect(accepted.decisions.map((d) => d.message)).toContain('step 1 (50%) accepted by test');
      await waitFor('step 2', (s) => s.step === 1 && s.status === 'canary');
      await follow.executeUpdate(approveStepUpdate, { args: [{ step: 1, by: 'test' }] });
      const final = await follow.result();
      expect(final.status).toBe('promoted');
      expect(final.analysisCount).toBeGreaterThanOrEqual(LOOPS);
      expect(final.analyses).toHaveLength(100);
      expect(final.failures).toBe(0);
      expect(final.decisionCount).toBeGreaterThan(final.decisions.length);

      const runs = await historiesOfAllRuns(env, workflowId, handle.firstExecutionRunId);
      expect(runs).toHaveLength(final.run);
      const sizes = runs.map((r) => r.history.events?.length ?? 0);
      expect(Math.max(...sizes)).toBeLessThan(BOUND);
      expect(sizes.reduce((a, b) => a + b, 0)).toBeGreaterThan(LOOPS * 8); // the loops really ran, spread over runs
      // Every pause/resume update was accepted and completed in some run: none vanished between runs.
      const completedUpdates = runs.flatMap((r) => r.history.events ?? []).filter((e) => e.workflowExecutionUpdateCompletedEventAttributes).length;
      expect(completedUpdates).toBe(probes * 2 + 2);
      const rejected = runs.flatMap((r) => r.history.events ?? []).filter((e) => e.workflowExecutionUpdateCompletedEventAttributes?.outcome?.failure).length;
      expect(rejected).toBe(0);
      const signalled = runs.flatMap((r) => r.history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes).length;
      expect(signalled).toBe(signals * 2);
    });
  });
  // A run continued while paused, whose first workflow task carries a resume (in production it
  // happens when the resume is sent as the run turns over). Before the fix the resume never
  // answered, and its open handler blocked every later continue-as-new: the history grew without
  // bound. Here the continued run is reset to its first task while no worker runs, and the resume
  // sent then: the worker that comes back runs that task with the resume in it. (A new run started
  // with the carried input is refused: only a run continued as new takes one.)
  it('answers a resume that arrives with the first task of a run continued while paused', async () => {
    const cache = new MemoryCache();
    const artifactDir = tempDir('mlp-can-resume-');
    const market = await setUpOracleMarket(t.store, cache, 2);
    const model = 'deploy-resume';
    const champion = await registerOracleModel(t.store, artifactDir, { name: model, seed: 1, flip: false, featureSetVersion: market.latestFeatureSetVersion });
    const challenger = await registerOracleModel(t.store, artifactDir, { name: model, seed: 2, flip: false, featureSetVersion: market.latestFeatureSetVersion });
    await moveAlias(t.store, { name: model, alias: 'champion', version: champion, movedBy: 'test', reason: 'first model' });
    await writeServingRoutes(t.store, cache, { model, mode: 'single', routes: singleRoute(champion), updatedBy: 'test', reason: 'first model' });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const workflowId = `deploy-paused-${Date.now()}`;
    const follow = env.client.workflow.getHandle(workflowId);

    const carry = await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      await env.client.workflow.start(deploymentWorkflow, {
        taskQueue: TASK_QUEUES.pipeline,
        workflowId,
        args: [{ model, challengerVersion: challenger, canary: { steps: [50, 100], analysisSeconds: 0.01 }, continueAsNewAfterEvents: 100 }],
      });
      for (let i = 0; (await follow.query(deploymentStateQuery)).status !== 'canary'; i++) {
        if (i > 600) throw new Error('never reached the canary step');
        await sleep(50);
      }
      const paused = await follow.executeUpdate(pauseUpdate, { args: [{ by: 'test' }] });
      // Ignored pause signals add events until the paused run is due and continues as new.
      for (let i = 0; ; i++) {
        const s = await follow.query(deploymentStateQuery);
        if (s.run > paused.run && s.status === 'paused') break;
        if (i > 100) throw new Error(`the paused run never continued as new (run ${s.run}, ${s.status})`);
        await follow.signal(pauseSignal, `filler-${i}`);
        await sleep(100);
      }
      const started = (await follow.fetchHistory()).events?.[0]?.workflowExecutionStartedEventAttributes;
      const [, carried] = (started?.input?.payloads ?? []).map((payload) => defaultPayloadConverter.fromPayload(payload)) as [Parameters<typeof deploymentWorkflow>[0], DeploymentCarry];
      return carried;
    });
    expect(carry.state.status).toBe('paused');
    expect(carry.controls.paused).toBe(true);

    // No worker runs now: the continued run back to its first task, and the resume waiting for it.
    const { runId } = await follow.describe();
    const events = (await env.client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
    const firstTask = events.find((e) => e.workflowTaskCompletedEventAttributes);
    const reset = await env.client.workflowService.resetWorkflowExecution({
      namespace: env.namespace ?? 'default',
      workflowExecution: { workflowId, runId },
      reason: 'the resume in the first task of a continued run',
      workflowTaskFinishEventId: firstTask?.eventId,
      requestId: `${workflowId}-reset`,
    });
    expect(reset.runId).toBeTruthy();
    const answer = follow.executeUpdate(resumeUpdate, { args: [{ by: 'test' }] });
    answer.catch(() => undefined); // awaited below, once a worker runs
    await sleep(1000);

    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const resumed = await Promise.race([answer, sleep(30_000).then(() => 'no answer in 30 s' as const)]);
      expect(resumed).not.toBe('no answer in 30 s');
      expect((resumed as DeploymentState).status).toBe('canary');
      expect((resumed as DeploymentState).decisions.map((d) => d.message)).toContain('resumed by test');
      // The resume was handled in the reset run's first task, beside its start.
      const history = (await env.client.workflow.getHandle(workflowId, reset.runId ?? undefined).fetchHistory()).events ?? [];
      const completedTasks = history.filter((e) => e.workflowTaskCompletedEventAttributes).map((e) => Number(e.eventId));
      const accepted = history.find((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
      expect(completedTasks.filter((id) => id < Number(accepted?.eventId))).toHaveLength(1);
      // And the run goes on continuing as new.
      for (let i = 0; (await follow.query(deploymentStateQuery)).run < carry.state.run + 2; i++) {
        if (i > 600) throw new Error('the resumed run never continued as new');
        await sleep(50);
      }
      await follow.executeUpdate(abortUpdate, { args: [{ reason: 'test over', by: 'test' }] });
    });
  });
});
