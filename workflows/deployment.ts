/**
 * deploymentWorkflow: takes a registered challenger to production and back out again if it
 * misbehaves. Separate from training: started by hand (`mlp deploy`) or by trainingPipeline.
 *
 * canary mode: optional approval → optional shadow phase → traffic steps (e.g. 5 → 25 → 50 → 100%),
 * each held until its analyses pass → promotion. Each step is judged on its own evidence only: the
 * requests logged since its traffic moved (at least minMaturedPairs new matured pairs, serving
 * health at its weight), never on the rows an earlier step passed on; the last step is also judged
 * on the whole rollout before the promotion. A failed analysis (serving errors, latency, worse
 * matured hit rate than the champion on the same requests, score shift) rolls back automatically
 * after `failureLimit` failures; a step that stays inconclusive (too few matured outcomes) past its
 * deadline pauses for a person, never passes silently; while held (so too when paused by hand, or at
 * the next step's gate by data alerts) with the challenger serving, its analyses go on and a failing
 * one still rolls it back. The versions under test are verified before
 * every analysis and traffic move: a challenger that no longer verifies is rolled back at once; a
 * champion that no longer verifies is never rolled back to: the deployment stops ('stopped',
 * traffic left as it is) and raises a critical alert.
 * ab mode: champion (A) and challenger (B) side by side at fixed weights with sticky routing until
 * the stopping rule or a person ends it; B is promoted only if it wins. Paused, its report is still
 * read, and B losing ends the test keeping the champion.
 *
 * A rollout may wait for weeks: it continues as new (same workflow id, state carried in `carried`)
 * before its history grows large; see workflows/deployment/rollout.ts. Only such a continued run
 * takes a carried state: a run started with one, a retried run with one, and any run of a cron
 * schedule fail at once (INVALID_INPUT), moving nothing; and the activities move a deployment's
 * traffic only for the execution chain that began it (a run started anew under its id has its own).
 * Updates: approveStart, approveStep, overrideBlock, promote, pause, resume, abort (validated, they
 * return the new state; workflows/deployment/controls.ts). Query: deploymentState.
 * Cancelling the workflow (`temporal workflow cancel`, the Web UI) ends it as abort does, rolled
 * back, row 'cancelled', alert deployment_cancelled; then it ends cancelled (Rollout.endCancelled).
 * A rollback already under way (failed analyses) runs to its end instead, its alert and status kept
 * (Rollout.runToItsEnd).
 * Changing this code safely: docs/changing-workflows.md.
 */
import { ApplicationFailure, CancellationScope, CancelledFailure, isCancellation, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { DeploymentActivities } from '../activities/deployment';
import type { DeploymentPlan, DeploymentRequest } from '../lib/deployment/plan';
import { TASK_QUEUES } from '../lib/task-queues';
import { Controls } from './deployment/controls';
import { Rollout, uninterrupted } from './deployment/rollout';
import { carriedStateProblem, initialState, logDecision, runStartProblem, type DeploymentCarry, type DeploymentState } from './deployment/state';
import { DEPLOYMENT_RETRY } from './retry-policies';

export type { AnalysisRecord, DeploymentCarry, DeploymentState, DeploymentStatus } from './deployment/state';
export { abortSignal, abortUpdate, approveSignal, approveStartUpdate, approveStepUpdate, deploymentStateQuery, overrideBlockUpdate, pauseSignal, pauseUpdate, promoteUpdate, resumeSignal, resumeUpdate } from './deployment/controls';

const { beginDeployment } = proxyActivities<DeploymentActivities>({ taskQueue: TASK_QUEUES.pipeline, startToCloseTimeout: '2m', retry: DEPLOYMENT_RETRY });

export async function deploymentWorkflow(request: DeploymentRequest, carried?: DeploymentCarry): Promise<DeploymentState> {
  // Before anything runs (no command, so histories of real runs, never cron nor retried with a carry, replay unchanged).
  const started = runStartProblem(workflowInfo(), carried !== undefined);
  if (started !== undefined) throw ApplicationFailure.nonRetryable(`refused: ${started}; nothing was moved`, 'INVALID_INPUT');
  if (carried) {
    const { workflowId, continuedFromExecutionRunId } = workflowInfo();
    const problem = carriedStateProblem(carried, request, workflowId, continuedFromExecutionRunId);
    if (problem !== undefined) throw ApplicationFailure.nonRetryable(`refused: ${problem}; nothing was moved`, 'INVALID_INPUT');
  }
  const state = carried?.state ?? initialState(workflowInfo().workflowId, request);
  const controls = new Controls(state, carried?.controls);
  controls.register();
  if (carried) return untilCancelled(new Rollout({ request, state: withPlan(state), controls, position: carried.position, deploymentStart: carried.deploymentStart }), (r) => r.run());

  // Run to its end even if cancelled meanwhile: the row and the canary alias it writes are then there for the rollout to end.
  const { plan, championVersion } = await uninterrupted(() => beginDeployment({ deploymentId: state.deploymentId, request, firstExecutionRunId: workflowInfo().firstExecutionRunId }));
  Object.assign(state, { plan, championVersion, steps: plan.canary.steps });
  const rollout = new Rollout({ request, state: withPlan(state), controls, position: { phase: 'approval' }, deploymentStart: new Date().toISOString() });
  if (championVersion === null || championVersion === plan.challengerVersion) {
    // A cancellation that came while the deployment began (uninterrupted) ends it before the first
    // model is promoted: promoteAtOnce runs uninterrupted too, and would have promoted it anyway.
    if (CancellationScope.current().consideredCancelled && patched('cancel-before-first-promotion')) {
      return untilCancelled(rollout, () => Promise.reject(new CancelledFailure('the deployment workflow was cancelled before its model was promoted')));
    }
    return untilCancelled(rollout, (r) => r.promoteAtOnce());
  }
  logDecision(state, `deploying v${plan.challengerVersion} against champion v${championVersion} (${plan.mode})`);
  return untilCancelled(rollout, (r) => r.run());
}

/** Runs the rollout; a cancellation of the workflow first ends the deployment (Rollout.endCancelled), then ends the workflow cancelled. */
async function untilCancelled(rollout: Rollout, go: (r: Rollout) => Promise<DeploymentState>): Promise<DeploymentState> {
  try {
    return await go(rollout);
  } catch (error) {
    if (isCancellation(error)) await rollout.endCancelled();
    throw error;
  }
}

/** The same object (the query and the update handlers read it), typed as having its plan. */
function withPlan(state: DeploymentState): DeploymentState & { plan: DeploymentPlan } {
  if (!state.plan) throw new Error(`deployment ${state.deploymentId}: no plan in the carried state`);
  return state as DeploymentState & { plan: DeploymentPlan };
}
