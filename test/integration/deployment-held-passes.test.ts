/**
 * A step whose analyses passed while it was paused by hand has passed: after resume it moves on,
 * and no further analysis flags it held (`paused-inconclusive`, with an alert) on its way out, nor
 * leaves the next step paused though nobody paused it. Scripted verdicts on a real Temporal dev
 * server: the workflow's own step logic is what is tested.
 */
import { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { TASK_QUEUES } from '../../lib/task-queues';
import { parseDeploymentRequest } from '../../lib/deployment/plan';
import { deploymentStateQuery, deploymentWorkflow, pauseUpdate, resumeUpdate, type DeploymentState } from '../../workflows';
import { startTemporal, workflowBundle } from '../helpers/temporal';

jest.setTimeout(180_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a canary step passed by analyses made during a hand-made pause (real Temporal server, scripted verdicts)', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTemporal();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('moves on at resume without one more analysis flagging it held', async () => {
    let verdict: 'pass' | 'inconclusive' = 'pass';
    const alerts: string[] = [];
    const activities = {
      async beginDeployment(input: { request: unknown }) {
        return { plan: parseDeploymentRequest(input.request), championVersion: 1 };
      },
      async setTrafficSplit() {
        return 1;
      },
      async analyseCanary() {
        return { canary: 'canary', reference: 'champion', verdict, reasons: [`scripted ${verdict}`], thresholds: {}, variants: [], paired: { pairs: 0 }, shift: {}, unmatured: 0 };
      },
      async analyseAbTest() {
        throw new Error('not an A/B test');
      },
      async promoteChallenger() {
        return 1;
      },
      async rollBackDeployment() {
        return undefined;
      },
      async raiseAlert(i: { rule: string; message: string }) {
        alerts.push(`${i.rule}: ${i.message}`);
        return undefined;
      },
      async finishDeployment() {
        return undefined;
      },
      async deploymentBlockers() {
        return [];
      },
      async verifyDeploymentVersions() {
        return [];
      },
      async deploymentTraffic() {
        return { serving: [] };
      },
    };
    const worker = await Worker.create({ connection: env.nativeConnection, namespace: 'default', taskQueue: TASK_QUEUES.pipeline, workflowBundle: await workflowBundle(), activities });
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(deploymentWorkflow, {
        taskQueue: TASK_QUEUES.pipeline,
        workflowId: `held-passes-${Date.now()}`,
        args: [{ model: 'held-passes', challengerVersion: 2, canary: { steps: [50, 100], analysisSeconds: 1, passesPerStep: 2, stepDeadlineSeconds: 4, failureLimit: 3 } }],
      });
      const state = () => handle.query(deploymentStateQuery);
      for (let s = await state(); !(s.status === 'canary' && s.analysisCount >= 1); s = await state()) await sleep(100);
      await handle.executeUpdate(pauseUpdate, { args: [{ by: 'operator' }] });
      // Analyses pass while held; the step's 4 s deadline goes by meanwhile.
      let held: DeploymentState = await state();
      for (const started = Date.now(); held.analyses.filter((a) => a.held === 'paused' && a.verdict === 'pass').length < 2 && Date.now() - started < 60_000; held = await state()) await sleep(200);
      expect(held.analyses.filter((a) => a.held === 'paused' && a.verdict === 'pass').length).toBeGreaterThanOrEqual(2);
      await sleep(4_500);
      verdict = 'inconclusive';
      await handle.executeUpdate(resumeUpdate, { args: [{ by: 'operator' }] });
      let after = await state();
      for (const started = Date.now(); after.step < 1 && Date.now() - started < 30_000; after = await state()) await sleep(100);
      // Taken as soon as step 2 shows, well before its own 4 s deadline could pause it.
      const alertsAtStep2 = [...alerts];
      expect(after.step).toBe(1);
      expect(after.status).toBe('canary');
      expect(after.decisions.map((d) => d.message).join('\n')).not.toMatch(/at 50% inconclusive/);
      expect(alertsAtStep2.filter((a) => a.startsWith('deployment_inconclusive'))).toEqual([]);
      await handle.terminate('test done');
    });
  });
});
