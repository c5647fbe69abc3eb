/**
 * What deploymentWorkflow knows, and the compact part of it that one run hands to the next when it
 * continues as new. Pure data and bookkeeping: no I/O, no SDK calls.
 */
import type { AbReport } from '../../lib/deployment/ab-report';
import type { CanaryAnalysis } from '../../lib/deployment/canary-analysis';
import type { DeploymentPlan } from '../../lib/deployment/plan';

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
  | 'kept-champion'
  /** Ended without rolling back: the champion no longer verifies, so the traffic was left as it was for a person. */
  | 'stopped'
  /** Someone else took its traffic over and left the challenger champion or serving (a person promoted it by hand): not withdrawn, nothing moved back. */
  | 'superseded'
  /** Its workflow was cancelled (`temporal workflow cancel`, the Web UI): rolled back as an abort is, then ended cancelled. */
  | 'cancelled';

export const FINAL_STATUSES: readonly DeploymentStatus[] = ['promoted', 'rolled-back', 'kept-champion', 'stopped', 'superseded', 'cancelled'];
export const isFinal = (status: DeploymentStatus) => FINAL_STATUSES.includes(status);

export interface AnalysisRecord {
  at: string;
  phase: 'shadow' | 'canary' | 'ab-test';
  /** Challenger traffic share when the analysis ran. */
  weight: number;
  verdict: string;
  reasons: string[];
  /** ISO time from which the analysis read requests: the start of its step's traffic (absent in analyses recorded before). */
  since?: string;
  /**
   * Set when the analysis ran while the deployment was held, the challenger still serving (the hold's
   * status): a canary step held for a person, a step's gate held by data alerts ('blocked': the step
   * before's weight, on its window), an A/B test paused by hand.
   */
  held?: 'paused' | 'paused-inconclusive' | 'blocked';
  canary?: CanaryAnalysis;
  /** The last step's whole-rollout comparison (since the deployment began), in short. */
  cumulative?: { since: string; verdict: string; reasons: string[]; pairs: number };
  ab?: AbReport;
}

export interface DeploymentState {
  deploymentId: string;
  model: string;
  mode: 'canary' | 'ab';
  championVersion: number | null;
  challengerVersion: number;
  status: DeploymentStatus;
  /** Index into plan.canary.steps; -1 before the first step (and during the shadow phase). */
  step: number;
  steps: number[];
  /** Current traffic share of the challenger (0..1). */
  challengerWeight: number;
  failures: number;
  /** The newest analyses (at most MAX_ANALYSES_KEPT); analysisCount counts them all. */
  analyses: AnalysisRecord[];
  analysisCount: number;
  /** The newest decisions (at most MAX_DECISIONS_KEPT); decisionCount counts them all. */
  decisions: Array<{ at: string; message: string }>;
  decisionCount: number;
  /** Open data alerts holding traffic (status 'blocked'), as `rule (alert <id>): message`. */
  blockers: string[];
  /** Workflow run of this deployment, 1 for the first; it continues as new with the same id. */
  run: number;
  /**
   * Phases a person accepted (approve-step) instead of their analyses passing them: the promotion's
   * reason names them, so the alias and route history never say "passed" of a step nobody's evidence
   * passed. Absent in states carried from before it was kept (none accepted then, as far as known).
   */
  acceptedSteps?: Array<{ step: number; by: string }>;
  plan?: DeploymentPlan;
}

/** Bounds both the query answer and the input carried to the next run. */
export const MAX_ANALYSES_KEPT = 100;
export const MAX_DECISIONS_KEPT = 100;

/** Where the rollout is, precisely enough to pick it up again in a new run. */
export type Position =
  | { phase: 'approval' }
  | { phase: 'ab'; splitSet: boolean; deadline: number }
  | {
      phase: 'shadow' | 'canary';
      step: number;
      stage: 'gate' | 'analysing';
      passes: number;
      /** Start of the step's deadline (a resume after an inconclusive pause starts it again). */
      stepStartedAt: number;
      held: boolean;
      /**
       * When this step's traffic moved (ms since the epoch): its analyses read only requests logged
       * since, so a step never passes on an earlier step's rows nor its health on lighter load.
       * Absent in positions carried from runs before it existed: stepStartedAt stands in.
       */
      evidenceSince?: number;
      /**
       * At a canary step's gate: when the traffic still serving moved (the step before's
       * evidenceSince), the window the gate's analyses read while it waits. Absent in positions
       * carried from runs before it existed: stepStartedAt (when the step before passed) stands in.
       */
      servingSince?: number;
    };

/** Person-controlled flags that outlive a run. */
export interface ControlFlags {
  paused: boolean;
  abortReason?: string;
  /** Alert ids a person overrode: they no longer hold traffic for this deployment. */
  overridden: string[];
}

/** The input of a continued run: everything else is in the plan (state.plan). */
export interface DeploymentCarry {
  state: DeploymentState;
  position: Position;
  controls: ControlFlags;
  /** ISO time the deployment began: analyses read requests logged since then, across runs. */
  deploymentStart: string;
}

/**
 * Why this run may not go on at all (undefined when it may), from workflowInfo(): a run of a cron
 * schedule (each run repeats the input a client chose, and a deployment is started once), or a
 * retried run (attempt > 1) with a carried state. Temporal sets continuedFromExecutionRunId on cron
 * and retried runs too, so carriedStateProblem alone would take their carry for a continue-as-new;
 * the SDK does not say which started the run, so these are refused by what it does say.
 */
export function runStartProblem(info: { cronSchedule?: string; attempt: number }, carried: boolean): string | undefined {
  if (info.cronSchedule !== undefined && info.cronSchedule !== '') return `a deployment runs once, never on a cron schedule (${info.cronSchedule}); start it with its request alone (\`mlp deploy\`)`;
  if (carried && info.attempt > 1) return `attempt ${info.attempt} of a retried workflow was started with a carried state, which only a run continued as new from its own deployment passes`;
  return undefined;
}

/**
 * Why `carried` may not be taken up by this run (undefined when it may). Only a run continued as new
 * from the same deployment's run carries a state: started from a client, a carried state would
 * skip beginDeployment (its checks, the model's lock and the deployments row) and could claim steps
 * no analysis passed, and the worker would sign the traffic moves and the promotion it leads to.
 * `continuedFromRunId`: workflowInfo().continuedFromExecutionRunId (kept across a reset). Temporal
 * sets it on a cron run and a retried run too, not only on a continue-as-new: runStartProblem refuses
 * those, and the activities move traffic only for the execution chain that began the deployment.
 */
export function carriedStateProblem(carried: DeploymentCarry, request: { model: string; challengerVersion: number }, workflowId: string, continuedFromRunId: string | undefined): string | undefined {
  const s = carried.state;
  if (continuedFromRunId === undefined) return `workflow ${workflowId} was started with a carried state, which only a run continued as new from its own deployment passes; start a deployment with its request alone (\`mlp deploy\`)`;
  if (s.deploymentId !== workflowId) return `the carried state is of deployment ${s.deploymentId}, not ${workflowId}, the workflow it would go on in`;
  if (s.model !== request.model || s.challengerVersion !== request.challengerVersion || s.plan?.model !== request.model || s.plan.challengerVersion !== request.challengerVersion) {
    return `the carried state (${s.model} v${s.challengerVersion}, plan ${s.plan ? `${s.plan.model} v${s.plan.challengerVersion}` : 'missing'}) is not of the request it came with (${request.model} v${request.challengerVersion})`;
  }
  return undefined;
}

export function initialState(deploymentId: string, request: { model: string; mode?: 'canary' | 'ab'; challengerVersion: number }): DeploymentState {
  return {
    deploymentId,
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
    decisionCount: 0,
    blockers: [],
    run: 1,
  };
}

const keepNewest = <T>(list: T[], max: number) => {
  if (list.length > max) list.splice(0, list.length - max);
};

export function logDecision(state: DeploymentState, message: string): void {
  state.decisions.push({ at: new Date().toISOString(), message });
  state.decisionCount++;
  keepNewest(state.decisions, MAX_DECISIONS_KEPT);
}

/** Notes that a person accepted phase `step` (-1: the shadow phase) without its analyses passing it. */
export function recordAcceptedStep(state: DeploymentState, step: number, by: string): void {
  (state.acceptedSteps ??= []).push({ step, by });
}

/**
 * Why a canary that went through every step is promoted, for the alias and route history: "canary
 * passed 4 steps" only when every step passed its analyses; otherwise which steps people accepted.
 */
export function canaryPromotionReason(state: DeploymentState, steps: readonly number[]): string {
  const accepted = state.acceptedSteps ?? [];
  if (accepted.length === 0) return `canary passed ${steps.length} steps`;
  const phase = (step: number) => (step < 0 ? 'the shadow phase' : `step ${step + 1} (${steps[step]}%)`);
  const canaryAccepted = new Set(accepted.filter((a) => a.step >= 0).map((a) => a.step)).size;
  const passed = steps.length - canaryAccepted;
  return `canary went through ${steps.length} steps, ${passed} passed by their analyses; accepted by a person without passing: ${accepted.map((a) => `${phase(a.step)} by ${a.by}`).join(', ')}`;
}

export function recordAnalysis(state: DeploymentState, analysis: AnalysisRecord): void {
  state.analyses.push(analysis);
  state.analysisCount++;
  keepNewest(state.analyses, MAX_ANALYSES_KEPT);
}

/** The status a deployment shows at `position` when nobody holds it. */
export function baseStatus(position: Position): DeploymentStatus {
  switch (position.phase) {
    case 'approval':
      return 'awaiting-approval';
    case 'ab':
      return 'ab-test';
    case 'shadow':
      return 'shadow';
    case 'canary':
      return position.stage === 'gate' ? 'blocked' : 'canary';
  }
}

/** Alert id in a blocker line written by the deploymentBlockers activity. */
export const alertIdOf = (blocker: string): string | undefined => /\(alert ([^)\s]+)\)/.exec(blocker)?.[1];
