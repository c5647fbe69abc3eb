/**
 * With MODEL_SIGNING_KEY an analysis whose outcome bars are refused judges nothing: an A/B test
 * continues, a canary step is inconclusive. One SQL edit of the bars must not hold a challenger
 * silently: the refusal raises bars_unverified when it is first seen (once per run of refused
 * analyses), and an A/B test that reaches its deadline so ends with deployment_inconclusive, its
 * reason naming the bars. Scripted reports on a real Temporal dev server: the workflow's own logic is
 * what is tested.
 */
import { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { TASK_QUEUES } from '../../lib/task-queues';
import { parseDeploymentRequest } from '../../lib/deployment/plan';
import { deploymentStateQuery, deploymentWorkflow } from '../../workflows';
import { startTemporal, workflowBundle } from '../helpers/temporal';

jest.setTimeout(180_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REASON = 'MODEL_SIGNING_KEY does not vouch for 2 bars: AAA, 1 bar on 2024-01-17 (edited); BBB, 1 bar on 2024-01-18 (edited)';
const REFUSED = { bars: 2, symbols: ['AAA', 'BBB'], problems: ['edited'], reason: REASON };

interface Raised {
  rule: string;
  severity: string;
  subject: string;
  message: string;
}

function scripted(alerts: Raised[], abReport: () => object, canaryReport: () => object) {
  return {
    async beginDeployment(input: { request: unknown }) {
      return { plan: parseDeploymentRequest(input.request), championVersion: 1 };
    },
    async setTrafficSplit() {
      return 1;
    },
    async analyseCanary() {
      return canaryReport();
    },
    async analyseAbTest() {
      return abReport();
    },
    async promoteChallenger() {
      return 1;
    },
    async rollBackDeployment() {
      return undefined;
    },
    async raiseAlert(i: Raised) {
      alerts.push(i);
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
}

const abContinue = (refused: boolean) => ({ variants: [], lags: 0, decision: 'continue', reasons: [refused ? `outcomes not judged: none is measured on bars MODEL_SIGNING_KEY does not vouch for (${REASON})` : 'scripted continue'], ...(refused ? { unverifiedBars: REFUSED } : {}) });
const canaryInconclusive = (refused: boolean) => ({ canary: 'canary', reference: 'champion', verdict: 'inconclusive', reasons: [refused ? `hit rate not judged: no outcome is measured on bars MODEL_SIGNING_KEY does not vouch for: ${REASON}` : 'scripted inconclusive'], thresholds: {}, variants: [], paired: { pairs: 0 }, shift: {}, unmatured: 0, ...(refused ? { unverifiedBars: REFUSED } : {}) });

describe('analyses held by refused bars (real Temporal server, scripted reports)', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTemporal();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('an A/B test held by refused bars alerts when first refused, and at its deadline ends naming the bars, with deployment_inconclusive', async () => {
    const alerts: Raised[] = [];
    let looks = 0;
    // Look 1 honest, then refused on every look until the deadline.
    const worker = await Worker.create({ connection: env.nativeConnection, namespace: 'default', taskQueue: TASK_QUEUES.pipeline, workflowBundle: await workflowBundle(), activities: scripted(alerts, () => abContinue(++looks > 1), () => canaryInconclusive(false)) });
    const state = await worker.runUntil(() =>
      env.client.workflow.execute(deploymentWorkflow, {
        taskQueue: TASK_QUEUES.pipeline,
        workflowId: `ab-refused-bars-${Date.now()}`,
        args: [{ model: 'ab-refused', challengerVersion: 2, mode: 'ab', ab: { analysisSeconds: 0.5, deadlineSeconds: 4 } }],
      }),
    );
    expect(looks).toBeGreaterThanOrEqual(4);
    expect(state.status).toBe('kept-champion');
    const end = state.decisions.at(-1)?.message ?? '';
    expect(end).toMatch(/A\/B test deadline reached without a decision/);
    expect(end).toContain('bars MODEL_SIGNING_KEY does not vouch for');
    expect(end).toContain('AAA, 1 bar on 2024-01-17');
    expect(end).toContain('BBB, 1 bar on 2024-01-18');
    // Raised once when the refusal began (the alert store's cool-down dedupes across deployments and monitoring), not at every look.
    const bars = alerts.filter((a) => a.rule === 'bars_unverified');
    expect(bars).toHaveLength(1);
    expect(bars[0]).toMatchObject({ severity: 'critical', subject: 'bars of model ab-refused' });
    expect(bars[0].message).toContain(REASON);
    const inconclusive = alerts.filter((a) => a.rule === 'deployment_inconclusive');
    expect(inconclusive).toHaveLength(1);
    expect(inconclusive[0]).toMatchObject({ severity: 'warning', subject: 'model ab-refused' });
    expect(inconclusive[0].message).toContain(REASON);
  });

  it('an A/B test that reaches its deadline on honest looks raises nothing (as before)', async () => {
    const alerts: Raised[] = [];
    const worker = await Worker.create({ connection: env.nativeConnection, namespace: 'default', taskQueue: TASK_QUEUES.pipeline, workflowBundle: await workflowBundle(), activities: scripted(alerts, () => abContinue(false), () => canaryInconclusive(false)) });
    const state = await worker.runUntil(() =>
      env.client.workflow.execute(deploymentWorkflow, {
        taskQueue: TASK_QUEUES.pipeline,
        workflowId: `ab-honest-deadline-${Date.now()}`,
        args: [{ model: 'ab-honest', challengerVersion: 2, mode: 'ab', ab: { analysisSeconds: 0.5, deadlineSeconds: 2 } }],
      }),
    );
    expect(state.status).toBe('kept-champion');
    expect(state.decisions.at(-1)?.message).toBe('champion v1 kept: A/B test deadline reached without a decision');
    expect(alerts).toEqual([]);
  });

  it('a canary step held by refused bars alerts once per run of refusals, with the bars named', async () => {
    const alerts: Raised[] = [];
    let looks = 0;
    // Refused on looks 1-3, honest on 4, refused again from 5 on: two runs of refusals, two alerts.
    const worker = await Worker.create({ connection: env.nativeConnection, namespace: 'default', taskQueue: TASK_QUEUES.pipeline, workflowBundle: await workflowBundle(), activities: scripted(alerts, () => abContinue(false), () => canaryInconclusive(++looks !== 4)) });
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(deploymentWorkflow, {
        taskQueue: TASK_QUEUES.pipeline,
        workflowId: `canary-refused-bars-${Date.now()}`,
        args: [{ model: 'canary-refused', challengerVersion: 2, canary: { steps: [50, 100], analysisSeconds: 0.3, passesPerStep: 1, stepDeadlineSeconds: 600, failureLimit: 3 } }],
      });
      for (let s = await handle.query(deploymentStateQuery); s.analysisCount < 7; s = await handle.query(deploymentStateQuery)) await sleep(100);
      await handle.terminate('test done');
    });
    const bars = alerts.filter((a) => a.rule === 'bars_unverified');
    expect(bars).toHaveLength(2);
    expect(bars[0]).toMatchObject({ severity: 'critical', subject: 'bars of model canary-refused' });
    expect(bars[0].message).toContain(REASON);
  });
});
