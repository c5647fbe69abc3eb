/**
 * deploymentWorkflow: takes a registered challenger to production and back out again if it
 * misbehaves. Separate from training: started by hand (`mlp deploy`) or by trainingPipeline.
 *
 * canary mode: optional approval → optional shadow phase → traffic steps (e.g. 5 → 25 → 50 → 100%),
 * each held until its analyses pass → promotion. A failed analysis (serving errors, latency, worse
 * matured hit rate than the champion on the same requests, score shift) rolls back automatically
 * after `failureLimit` failures; a step that stays inconclusive (too few matured outcomes) past its
 * deadline pauses for a person, never passes silently.
 * ab mode: champion (A) and challenger (B) side by side at fixed weights with sticky routing until
 * the stopping rule or a person ends it; B is promoted only if it wins.
 *
 * Signals: approve, pause, resume, abort. Query: deploymentState.
 */
import { condition, defineQuery, defineSignal, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { AlertActivities } from '../activities/alerts';
import type { DeploymentActivities } from '../activities/deployment';
import type { AbReport } from '../lib/deployment/ab-report';
import type { CanaryAnalysis } from '../lib/deployment/canary-analysis';
import type { DeploymentPlan, DeploymentRequest } from '../lib/deployment/plan';
import { TASK_QUEUES } from '../lib/task-queues';
import { DEPLOYMENT_RETRY } from './retry-policies';

export type DeploymentStatus =
  | 'starting'
  | 'awaiting-approval'
  | 'shadow'
  | 'canary'
  | 'ab-test'
  | 'paused'
  | 'paused-inconclusive'
  | 'blocked'
  | 'promoted'
  | 'rolled-back'
  | 'kept-champion';

export interface AnalysisRecord {
  at: string;
  phase: 'shadow' | 'canary' | 'ab-test';
  /** Challenger traffic share when the analysis ran. */
  weight: number;
  verdict: string;
  reasons: string[];
  canary?: CanaryAnalysis;
  ab?: AbReport;
}

export interface DeploymentState {
  deploymentId: string;
  model: string;
  mode: 'canary' | 'ab';
  championVersion: number | null;
  challengerVersion: number;
  status: DeploymentStatus;
  /** Index into plan.canary.steps; -1 before the first step. */
  step: number;
  steps: number[];
  /** Current traffic share of the challenger (0..1). */
  challengerWeight: number;
  failures: number;
  /** The newest analyses (at most MAX_ANALYSES_KEPT); analysisCount counts them all. */
  analyses: AnalysisRecord[];
  analysisCount: number;
  decisions: Array<{ at: string; message: string }>;
  plan?: DeploymentPlan;
}

const MAX_ANALYSES_KEPT = 100;

export const deploymentStateQuery = defineQuery<DeploymentState>('deploymentState');
export const approveSignal = defineSignal<[by?: string]>('approve');
export const pauseSignal = defineSignal<[by?: string]>('pause');
export const resumeSignal = defineSignal<[by?: string]>('resume');
export const abortSignal = defineSignal<[reason?: string]>('abort');

const { beginDeployment, setTrafficSplit, analyseCanary, analyseAbTest, promoteChallenger, rollBackDeployment, raiseAlert, finishDeployment, deploymentBlockers } = proxyActivities<DeploymentActivities & AlertActivities>({
  taskQueue: TASK_QUEUES.pipeline,
  startToCloseTimeout: '2m',
  retry: DEPLOYMENT_RETRY,
});

export async function deploymentWorkflow(request: DeploymentRequest): Promise<DeploymentState> {
  const { workflowId } = workflowInfo();
  const now = () => new Date().toISOString();
  const state: DeploymentState = {
    deploymentId: workflowId,
    model: request.model,
    mode: request.mode ?? 'canary',
    championVersion: null,
    challengerVersion: request.challengerVersion,
    status: 'starting',
    step: -1,
    steps: [],
    challengerWeight: 0,
    failures: 0,
    analyses: [],
    analysisCount: 0,
    decisions: [],
  };
  const log = (message: string) => state.decisions.push({ at: now(), message });
  /** Keeps the newest analyses only, so a rollout that waits for days stays within query and history limits. */
  const record = (analysis: AnalysisRecord) => {
    state.analyses.push(analysis);
    state.analysisCount++;
    if (state.analyses.length > MAX_ANALYSES_KEPT) state.analyses.splice(0, state.analyses.length - MAX_ANALYSES_KEPT);
  };
  let approvals = 0;
  let paused = false;
  let abortReason: string | undefined;
  setHandler(deploymentStateQuery, () => state);
  setHandler(approveSignal, (by) => {
    approvals++;
    log(`approved by ${by ?? 'someone'}`);
  });
  setHandler(pauseSignal, (by) => {
    paused = true;
    log(`paused by ${by ?? 'someone'}`);
  });
  setHandler(resumeSignal, (by) => {
    paused = false;
    log(`resumed by ${by ?? 'someone'}`);
  });
  setHandler(abortSignal, (reason) => {
    abortReason = reason ?? 'aborted by a person';
    log(`abort requested: ${abortReason}`);
  });

  const begun = await beginDeployment({ deploymentId: workflowId, request });
  const plan = begun.plan;
  const champion = begun.championVersion;
  const challenger = plan.challengerVersion;
  state.plan = plan;
  state.championVersion = champion;
  state.steps = plan.canary.steps;
  const by = `deployment ${workflowId}`;
  const deploymentStart = now();

  const finish = async (status: DeploymentStatus, message: string): Promise<DeploymentState> => {
    state.status = status;
    log(message);
    await finishDeployment({ deploymentId: workflowId, status, outcome: state });
    return state;
  };
  const rollBack = async (reason: string, alert: boolean): Promise<DeploymentState> => {
    await rollBackDeployment({ deploymentId: workflowId, model: plan.model, championVersion: champion, challengerVersion: challenger, movedBy: by, reason });
    state.challengerWeight = 0;
    if (alert) {
      await raiseAlert({ rule: 'deployment_rolled_back', severity: 'critical', subject: `model ${plan.model}`, message: `v${challenger} rolled back: ${reason}`, evidence: { deploymentId: workflowId, analyses: state.analyses.slice(-3) } });
    }
    return finish('rolled-back', `rolled back to v${champion ?? '(none)'}: ${reason}`);
  };
  /** Waits out `seconds` unless an abort arrives; then holds while paused. True when aborted. */
  const waitAndHold = async (seconds: number): Promise<boolean> => {
    await condition(() => abortReason !== undefined, seconds * 1000);
    if (paused && abortReason === undefined) {
      const previous = state.status;
      state.status = 'paused';
      await condition(() => !paused || abortReason !== undefined);
      state.status = previous;
    }
    return abortReason !== undefined;
  };

  if (champion === null || champion === challenger) {
    // Nothing to compare against (first model) or already serving: make it the single route.
    await promoteChallenger({ deploymentId: workflowId, model: plan.model, challengerVersion: challenger, championVersion: champion, movedBy: by, reason: champion === null ? 'first model: no champion to compare against' : 'already the champion' });
    state.challengerWeight = 1;
    return finish('promoted', champion === null ? `v${challenger} is the first champion (no canary: nothing to compare against)` : `v${challenger} is already the champion`);
  }
  log(`deploying v${challenger} against champion v${champion} (${plan.mode})`);

  if (plan.requireApproval) {
    state.status = 'awaiting-approval';
    await condition(() => approvals > 0 || abortReason !== undefined);
    if (abortReason !== undefined) return finish('kept-champion', `not deployed: ${abortReason}`);
    approvals = 0;
  }

  if (plan.mode === 'ab') {
    state.status = 'ab-test';
    const weight = plan.ab.challengerWeight;
    await setTrafficSplit({ model: plan.model, mode: 'ab', routes: [{ variant: 'B', version: challenger, weight }, { variant: 'A', version: champion, weight: 1 - weight }], updatedBy: by, reason: `A/B test v${champion} vs v${challenger}` });
    state.challengerWeight = weight;
    const deadline = Date.now() + plan.ab.deadlineSeconds * 1000;
    for (;;) {
      const aborted = await waitAndHold(Math.min(plan.ab.analysisSeconds, Math.max(0.1, (deadline - Date.now()) / 1000)));
      if (aborted) return keepChampion(`A/B test ended: ${abortReason}`);
      if (approvals > 0) {
        await promoteChallenger({ deploymentId: workflowId, model: plan.model, challengerVersion: challenger, championVersion: champion, movedBy: by, reason: 'A/B test ended by a person: B promoted' });
        state.challengerWeight = 1;
        return finish('promoted', `v${challenger} (B) promoted by a person`);
      }
      const report = await analyseAbTest({ model: plan.model, since: deploymentStart, variants: ['A', 'B'], alpha: plan.ab.alpha, minSamplesPerVariant: plan.ab.minSamplesPerVariant, maxSamplesPerVariant: plan.ab.maxSamplesPerVariant });
      record({ at: now(), phase: 'ab-test', weight, verdict: report.decision, reasons: report.reasons, ab: report });
      if (report.decision === 'stop-winner' && report.winner === 'B') {
        await promoteChallenger({ deploymentId: workflowId, model: plan.model, challengerVersion: challenger, championVersion: champion, movedBy: by, reason: `A/B test: B won (${report.reasons.join('; ')})` });
        state.challengerWeight = 1;
        return finish('promoted', `v${challenger} (B) won the A/B test and is the champion`);
      }
      if (report.decision !== 'continue') return keepChampion(`A/B test: ${report.decision === 'stop-winner' ? 'A won' : 'no difference'} (${report.reasons.join('; ')})`);
      if (Date.now() >= deadline) return keepChampion('A/B test deadline reached without a decision');
    }
  }

  async function keepChampion(reason: string): Promise<DeploymentState> {
    await rollBackDeployment({ deploymentId: workflowId, model: plan.model, championVersion: champion, challengerVersion: challenger, movedBy: by, reason });
    state.challengerWeight = 0;
    return finish('kept-champion', `champion v${champion} kept: ${reason}`);
  }

  /** Runs analyses until the phase passes (true) or must roll back (false); pauses when inconclusive too long. */
  const analyseUntilPassed = async (phase: 'shadow' | 'canary', variant: string, weight: number, holdSeconds: number): Promise<boolean | 'aborted'> => {
    let passes = 0;
    let stepStart = Date.now();
    const needed = phase === 'shadow' ? 1 : plan.canary.passesPerStep;
    while (passes < needed) {
      if (await waitAndHold(holdSeconds)) return 'aborted';
      if (approvals > 0) {
        approvals = 0;
        log(`${phase} step ${Math.round(weight * 100)}% accepted by a person`);
        return true;
      }
      const analysis = await analyseCanary({ model: plan.model, canary: variant, reference: 'champion', since: deploymentStart, thresholds: plan.canary.thresholds });
      record({ at: now(), phase, weight, verdict: analysis.verdict, reasons: analysis.reasons, canary: analysis });
      if (analysis.verdict === 'pass') {
        passes++;
      } else if (analysis.verdict === 'fail') {
        state.failures++;
        if (state.failures >= plan.canary.failureLimit) return false;
      } else if (Date.now() - stepStart >= plan.canary.stepDeadlineSeconds * 1000) {
        const previous = state.status;
        state.status = 'paused-inconclusive';
        log(`${phase} at ${Math.round(weight * 100)}% inconclusive after ${plan.canary.stepDeadlineSeconds} s (${analysis.reasons.join('; ')}): waiting for approve, resume or abort`);
        await raiseAlert({ rule: 'deployment_inconclusive', severity: 'warning', subject: `model ${plan.model}`, message: `deployment ${workflowId} paused: ${analysis.reasons.join('; ')}`, evidence: { deploymentId: workflowId, analysis } });
        paused = true;
        await condition(() => approvals > 0 || !paused || abortReason !== undefined);
        state.status = previous;
        if (abortReason !== undefined) return 'aborted';
        if (approvals > 0) {
          approvals = 0;
          paused = false;
          log(`inconclusive ${phase} step accepted by a person`);
          return true;
        }
        stepStart = Date.now(); // resumed: a fresh deadline for the same step
      }
    }
    return true;
  };

  if (plan.shadowSeconds > 0) {
    state.status = 'shadow';
    await setTrafficSplit({ model: plan.model, mode: 'single', routes: [{ variant: 'champion', version: champion, weight: 1 }], shadow: { version: challenger }, updatedBy: by, reason: `shadow phase for v${challenger}` });
    const result = await analyseUntilPassed('shadow', 'shadow', 0, plan.shadowSeconds);
    if (result === 'aborted') return rollBack(`aborted during the shadow phase: ${abortReason}`, false);
    if (!result) return rollBack('the shadow phase failed its analysis', true);
  }

  /** Holds while open data alerts block this model (re-checked every analysis interval). True when aborted. */
  const waitWhileBlocked = async (): Promise<boolean> => {
    for (let blockers = await deploymentBlockers({ model: plan.model }); blockers.length > 0; blockers = await deploymentBlockers({ model: plan.model })) {
      if (state.status !== 'blocked') log(`traffic held: ${blockers.join('; ')}`);
      const previous = state.status === 'blocked' ? 'canary' : state.status;
      state.status = 'blocked';
      if (await waitAndHold(plan.canary.analysisSeconds)) return true;
      if (approvals > 0) {
        approvals = 0;
        log('data alerts overridden by a person');
        state.status = previous;
        return false;
      }
      state.status = previous;
    }
    return false;
  };

  state.status = 'canary';
  for (let i = 0; i < plan.canary.steps.length; i++) {
    const weight = plan.canary.steps[i] / 100;
    if (await waitWhileBlocked()) return rollBack(`aborted while blocked by data alerts: ${abortReason}`, false);
    state.status = 'canary';
    state.step = i;
    await setTrafficSplit({
      model: plan.model,
      mode: 'canary',
      routes: [{ variant: 'canary', version: challenger, weight }, { variant: 'champion', version: champion, weight: 1 - weight }],
      reference: 'champion',
      updatedBy: by,
      reason: `canary step ${i + 1}/${plan.canary.steps.length}: ${plan.canary.steps[i]}%`,
    });
    state.challengerWeight = weight;
    log(`step ${i + 1}: challenger at ${plan.canary.steps[i]}%`);
    const result = await analyseUntilPassed('canary', 'canary', weight, plan.canary.analysisSeconds);
    if (result === 'aborted') return rollBack(`aborted: ${abortReason}`, false);
    if (!result) return rollBack(`${state.failures} failed analys${state.failures === 1 ? 'is' : 'es'}: ${state.analyses[state.analyses.length - 1].reasons.join('; ')}`, true);
  }
  await promoteChallenger({ deploymentId: workflowId, model: plan.model, challengerVersion: challenger, championVersion: champion, movedBy: by, reason: `canary passed ${plan.canary.steps.length} steps` });
  state.challengerWeight = 1;
  return finish('promoted', `v${challenger} promoted to champion after ${plan.canary.steps.length} canary steps`);
}
