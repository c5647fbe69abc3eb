/**
 * The phases of a deployment (approval → shadow → canary steps, or an A/B test) as a resumable
 * state machine: `position` says where it is, so any wait can end this run with continue-as-new and
 * the next run picks up at the same place with the same counts, deadlines and person decisions.
 *
 * A run continues as new (a) when its history reaches plan.continueAsNewAfterEvents or Temporal
 * suggests it, at the next wait, and (b) at a step boundary once past half that budget, so a step
 * starts with room. Never while an update handler is still running: those are settled first.
 */
import { allHandlersFinished, CancellationScope, CancelledFailure, condition, continueAsNew, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { AlertActivities } from '../../activities/alerts';
import type { DeploymentActivities, UnverifiedVersion } from '../../activities/deployment';
import type { DeploymentPlan, DeploymentRequest } from '../../lib/deployment/plan';
import { deploymentBarsAlert, sameRefusal } from '../../lib/deployment/refused-bars';
import { challengerShare, takeoverEnd, trafficText, type ServingNow } from '../../lib/deployment/takeover';
import type { RefusedBarsSummary } from '../../lib/store/bar-signature';
import { TASK_QUEUES } from '../../lib/task-queues';
import { DEPLOYMENT_RETRY } from '../retry-policies';
import type { Controls } from './controls';
import { alertIdOf, baseStatus, canaryPromotionReason, logDecision, recordAcceptedStep, recordAnalysis, type AnalysisRecord, type DeploymentCarry, type DeploymentState, type DeploymentStatus, type Position } from './state';

const { setTrafficSplit, analyseCanary, analyseAbTest, promoteChallenger, rollBackDeployment, raiseAlert, finishDeployment, deploymentBlockers, verifyDeploymentVersions, deploymentTraffic } = proxyActivities<DeploymentActivities & AlertActivities>({
  taskQueue: TASK_QUEUES.pipeline,
  startToCloseTimeout: '2m',
  retry: DEPLOYMENT_RETRY,
});

type StepPosition = Extract<Position, { phase: 'shadow' | 'canary' }>;
type AbPosition = Extract<Position, { phase: 'ab' }>;
type WaitResult = 'aborted' | 'decision' | 'elapsed';
type Superseded = { superseded: string; serving?: ServingNow };
/** `where`: the context a rollback's reason names, when not the step's own label. */
type Unverified = { unverified: UnverifiedVersion[]; where?: string };
/** A step whose failed analyses reached failureLimit while it was held (an A/B test lost while paused): the end's reason. */
type FailedWhileHeld = { failed: string };
type HeldStatus = NonNullable<AnalysisRecord['held']>;
/** How an analysis during a hold ended the step (undefined: the hold goes on). */
type HeldEnd = Superseded | Unverified | FailedWhileHeld;
/** What a hold with challenger traffic analyses, how often, and under which patch marker (older histories held without it). */
interface HeldWatch {
  patch: string;
  seconds: number;
  analyse: (status: HeldStatus) => Promise<HeldEnd | undefined>;
}
/**
 * The canary step a hold analyses: `p` (its evidence window), `weight` (serving), `label` (how
 * reasons name it) and `needed` (passes). `before`: set when the hold is at the gate of the step
 * after it (traffic not moved yet), named so; that step has passed already, so passes count nowhere.
 */
interface HeldStep {
  p: StepPosition;
  weight: number;
  label: string;
  needed: number;
  before?: string;
}

/**
 * Runs that record this marker verify the versions under test before every traffic move (each
 * step's split, the A/B split, the promotion, the rollback) with verifyDeploymentVersions, and
 * roll a challenger that no longer verifies back, or stop (status 'stopped', traffic left as it is)
 * when the champion a rollback would route to no longer verifies. Older histories moved traffic
 * without that activity (a refusal failed the workflow).
 */
const VERIFY_BEFORE_MOVES = 'verify-before-moves';

/**
 * Runs that record this marker ask deploymentTraffic before stopping for a champion that no longer
 * verifies: traffic someone else took over (an operator's rollback away from the broken champion)
 * ends the deployment as taken over, with no deployment_stopped alert, and a stop describes the
 * routes as stored. Older histories raised the stop alert regardless, describing the split from the
 * workflow's own weight.
 */
const TAKEOVER_BEFORE_STOP = 'takeover-before-stop';

/**
 * Runs that record this marker end a cancelled workflow (`temporal workflow cancel`, the Web UI's
 * "Request cancellation") as an abort ends: traffic back to the champion, the row ended 'cancelled',
 * a deployment_cancelled alert. Older histories ended cancelled at once, leaving the challenger
 * serving; replayed (a query of such a closed run), they must end so again.
 */
const ROLLBACK_ON_CANCEL = 'rollback-on-cancel';
/**
 * The execution chain the run belongs to, passed with every traffic and alias move: the activities
 * move a deployment's traffic only for the chain that began it (its row's first_execution_run_id).
 * Read from workflowInfo() at the call, never from the input: a continue-as-new and a reset keep it,
 * a run started anew under the same id (a terminate and restart, a cron chain) has its own.
 */
const executionChain = () => ({ firstExecutionRunId: workflowInfo().firstExecutionRunId });

export const CANCELLED_REASON = 'the deployment workflow was cancelled';

/**
 * Runs that record this marker take a rollback (or an A/B test's end keeping the champion) that has
 * begun to its end when the workflow is cancelled meanwhile: the champion's check, the traffic move,
 * its deployment_rolled_back alert and its record all run, the row keeps its own status and reason,
 * and a decision notes the cancellation before the workflow ends cancelled. Older histories: a
 * cancellation during the check cancelled that activity and one before the alert skipped it, and the
 * deployment was ended a second time as 'cancelled' (the reason it rolled back, and its alert, lost).
 */
const ENDING_OUTLIVES_CANCEL = 'ending-outlives-cancel';

/**
 * Runs that record this marker keep analysing a canary step while it is held for a person
 * ('paused-inconclusive' past its deadline, or 'paused' by hand) and the challenger serves: every
 * analysisSeconds the step's analysis runs on its own evidence, and failed analyses reaching
 * failureLimit, a challenger that no longer verifies or traffic taken over end the deployment as
 * they would outside the hold. Older histories held on a condition without a timer and analysed
 * nothing until a person acted, so a canary that broke meanwhile kept serving.
 */
const ANALYSE_WHILE_HELD = 'analyse-while-held';

/**
 * Runs that record this marker analyse the two holds ANALYSE_WHILE_HELD left unwatched, the same
 * way, every analysis interval while the challenger serves: a canary step's gate held by data alerts
 * (or paused there), where the step before's weight still serves (judged on that step's window, since
 * its traffic moved; failures count against failureLimit and roll it back), and an A/B test paused by
 * hand (its report: B losing, on hit rate or the serving guards, ends the test keeping A). Older
 * histories polled the blockers, or held the pause, analysing nothing.
 */
const ANALYSE_EVERY_HOLD = 'analyse-every-hold';

/**
 * Runs that record this marker raise bars_unverified when an analysis is first held by refused bars
 * (with MODEL_SIGNING_KEY, outcome bars no held key vouches for: the A/B test continues, the canary
 * step is inconclusive), once per run of analyses refusing the same bars, and end an A/B test whose
 * deadline came while its looks were so held naming the bars, with deployment_inconclusive. Older
 * histories raised nothing: one SQL edit of the bars held a challenger silently until the deadline,
 * which ended "without a decision".
 */
const ALERT_REFUSED_BARS = 'alert-refused-bars';
/** The A/B looks before the deadline whose refused bars the end names (a refusal older than these was mended since). */
const REFUSED_LOOKS_CONSIDERED = 10;

/**
 * A traffic move or the deployment's record, run to its end even when the workflow is cancelled
 * meanwhile: cancelled half-way, the activity could still write after the cancellation's rollback
 * (a step's split over the champion's), or a promotion could land with nothing recording it. Only in
 * runs with the ROLLBACK_ON_CANCEL marker: an older run cancelled mid-activity asked to cancel it (a
 * command), and replays so.
 */
export const uninterrupted = <T>(move: () => Promise<T>): Promise<T> => (patched(ROLLBACK_ON_CANCEL) ? CancellationScope.nonCancellable(move) : move());

const unverifiedText = (unverified: UnverifiedVersion[]) => unverified.map((u) => `the ${u.role} v${u.version} no longer verifies: ${u.reason}`).join('; ');

/**
 * Why an activity moved nothing because someone else took the model's traffic over (a manual
 * rollback, an admin routes edit), else undefined. Results recorded before activities could answer
 * so (a generation number, no value, an analysis) never carry it, so those histories replay as before.
 */
function supersededBy(result: unknown): string | undefined {
  return typeof result === 'object' && result !== null && typeof (result as Partial<Superseded>).superseded === 'string' ? (result as Superseded).superseded : undefined;
}
/** What served when an activity found the traffic taken over; absent in answers recorded before it was added. */
const servingOf = (result: unknown): ServingNow | undefined => (typeof result === 'object' && result !== null ? (result as { serving?: ServingNow }).serving : undefined);

export interface RolloutInput {
  request: DeploymentRequest;
  state: DeploymentState & { plan: DeploymentPlan };
  controls: Controls;
  position: Position;
  deploymentStart: string;
}

export class Rollout {
  private readonly state: DeploymentState & { plan: DeploymentPlan };
  private readonly plan: DeploymentPlan;
  private readonly controls: Controls;
  private position: Position;
  private readonly by: string;
  /** finishDeployment has recorded the end: a cancellation arriving after it has nothing left to do. */
  private recorded = false;
  /** While a rollback or an A/B test's end runs (ENDING_OUTLIVES_CANCEL): the scope a cancellation of the workflow reaches, and what is ending. */
  private ending?: { scope: CancellationScope; what: string; noted: boolean };

  constructor(private readonly input: RolloutInput) {
    this.state = input.state;
    this.plan = input.state.plan;
    this.controls = input.controls;
    this.position = input.position;
    this.by = `deployment ${input.state.deploymentId}`;
  }

  private get champion(): number {
    return this.state.championVersion as number;
  }
  private get abortReason(): string | undefined {
    return this.controls.flags.abortReason;
  }
  private log(message: string): void {
    logDecision(this.state, message);
  }

  /** Runs from `position` to a final state (or continues as new on the way). */
  async run(): Promise<DeploymentState> {
    for (;;) {
      const p = this.position;
      const done = p.phase === 'approval' ? await this.approval() : p.phase === 'ab' ? await this.abTest(p) : await this.step(p);
      if (done) return done;
    }
  }

  /** Champion absent (first model) or already the challenger: no comparison possible, one route. */
  async promoteAtOnce(): Promise<DeploymentState> {
    const first = this.state.championVersion === null;
    const promoted = await uninterrupted(() => promoteChallenger({ ...executionChain(), deploymentId: this.state.deploymentId, model: this.plan.model, challengerVersion: this.plan.challengerVersion, championVersion: this.state.championVersion, movedBy: this.by, reason: first ? 'first model: no champion to compare against' : 'already the champion' }));
    const taken = supersededBy(promoted);
    if (taken !== undefined) {
      const serving = servingOf(promoted);
      const end = serving && takeoverEnd(this.plan.challengerVersion, serving, taken, 'not deployed by this deployment');
      return end?.superseded ? this.finish('superseded', end.message) : this.finish('kept-champion', `v${this.plan.challengerVersion} not deployed, nothing moved: ${taken}`);
    }
    this.state.challengerWeight = 1;
    return this.finish('promoted', first ? `v${this.plan.challengerVersion} is the first champion (no canary: nothing to compare against)` : `v${this.plan.challengerVersion} is already the champion`);
  }

  private async approval(): Promise<DeploymentState | undefined> {
    if (this.plan.requireApproval) {
      this.state.status = 'awaiting-approval';
      for (;;) {
        await this.continueAsNewIfDue();
        if (this.abortReason !== undefined) return this.finish('kept-champion', `not deployed: ${this.abortReason}`);
        const d = this.controls.take('start');
        if (d) {
          this.log(`start approved by ${d.by}`);
          break;
        }
        await this.waitFor(() => this.controls.decisionWaiting || this.canContinueNow());
      }
    }
    const now = Date.now();
    this.position =
      this.plan.mode === 'ab'
        ? { phase: 'ab', splitSet: false, deadline: 0 }
        : this.plan.shadowSeconds > 0
          ? { phase: 'shadow', step: -1, stage: 'gate', passes: 0, stepStartedAt: now, held: false }
          : { phase: 'canary', step: 0, stage: 'gate', passes: 0, stepStartedAt: now, held: false };
    return undefined;
  }

  /** The shadow phase or one canary step: gate, traffic split, analyses until passed. */
  private async step(p: StepPosition): Promise<DeploymentState | undefined> {
    const shadow = p.phase === 'shadow';
    const steps = this.plan.canary.steps;
    const weight = shadow ? 0 : steps[p.step] / 100;
    const challenger = this.plan.challengerVersion;
    if (p.stage === 'gate') {
      const blocked = shadow ? false : await this.waitWhileBlocked(this.gateWatch(p));
      if (blocked === true) return this.rollBack(`aborted while blocked by data alerts: ${this.abortReason}`, false);
      if (typeof blocked === 'object') return this.endHeld(blocked, `before step ${p.step + 1} (${steps[p.step]}%)`);
      const stopped = await this.verifyBeforeMove(shadow ? 'before the shadow phase' : `before step ${p.step + 1} (${steps[p.step]}%)`, true);
      if (stopped) return stopped;
      this.state.status = shadow ? 'shadow' : 'canary';
      this.state.step = p.step;
      const deploymentId = this.state.deploymentId;
      const moved = await uninterrupted(() => setTrafficSplit({
        ...executionChain(),
        ...(shadow
          ? { model: this.plan.model, mode: 'single', routes: [{ variant: 'champion', version: this.champion, weight: 1 }], shadow: { version: challenger }, updatedBy: this.by, reason: `shadow phase for v${challenger}`, deploymentId }
          : {
              model: this.plan.model,
              mode: 'canary',
              routes: [{ variant: 'canary', version: challenger, weight }, { variant: 'champion', version: this.champion, weight: 1 - weight }],
              reference: 'champion',
              updatedBy: this.by,
              reason: `canary step ${p.step + 1}/${steps.length}: ${steps[p.step]}%`,
              deploymentId,
            }),
      }));
      const taken = supersededBy(moved);
      if (taken !== undefined) return this.stopSuperseded(taken);
      this.state.challengerWeight = weight;
      if (!shadow) this.log(`step ${p.step + 1}: challenger at ${steps[p.step]}%`);
      // The step's evidence starts now: requests logged from here on were served at this weight.
      Object.assign(p, { stage: 'analysing', passes: 0, stepStartedAt: Date.now(), evidenceSince: Date.now() });
    }
    const result = await this.analyseUntilPassed(p, weight);
    if (result === 'aborted') return this.rollBack(shadow ? `aborted during the shadow phase: ${this.abortReason}` : `aborted: ${this.abortReason}`, false);
    if (typeof result === 'object') return this.endHeld(result, shadow ? 'the shadow phase' : `step ${p.step + 1} (${steps[p.step]}%)`);
    if (!result) {
      const failures = this.state.failures;
      return this.rollBack(shadow ? 'the shadow phase failed its analysis' : `${failures} failed analys${failures === 1 ? 'is' : 'es'}: ${this.state.analyses[this.state.analyses.length - 1].reasons.join('; ')}`, true);
    }
    const next = shadow ? 0 : p.step + 1;
    if (next >= steps.length) {
      const unservable = await this.verifyBeforeMove('before the promotion', false);
      if (unservable) return unservable;
      const promoted = await uninterrupted(() => promoteChallenger({ ...executionChain(), deploymentId: this.state.deploymentId, model: this.plan.model, challengerVersion: challenger, championVersion: this.champion, movedBy: this.by, reason: canaryPromotionReason(this.state, steps) }));
      const taken = supersededBy(promoted);
      if (taken !== undefined) return this.stopSuperseded(taken);
      this.state.challengerWeight = 1;
      const accepted = this.state.acceptedSteps?.length ?? 0;
      return this.finish('promoted', `v${challenger} promoted to champion after ${steps.length} canary steps${accepted === 0 ? '' : ` (${canaryPromotionReason(this.state, steps)})`}`);
    }
    // The gate's analyses (ANALYSE_EVERY_HOLD) read this step's window: its weight serves until the next moves.
    this.position = { phase: 'canary', step: next, stage: 'gate', passes: 0, stepStartedAt: Date.now(), held: false, ...(shadow ? {} : { servingSince: p.evidenceSince ?? p.stepStartedAt }) };
    // A step boundary is the cheapest place to start afresh: nothing is half-way.
    await this.continueAsNewIfDue(workflowInfo().historyLength >= this.plan.continueAsNewAfterEvents / 2);
    return undefined;
  }

  /**
   * Analyses until the phase passes (true) or must roll back (false, or why when it failed while
   * held); holds for a person when inconclusive too long. While held with the challenger serving,
   * its analyses go on (ANALYSE_WHILE_HELD); the shadow phase serves nothing and just waits.
   */
  private async analyseUntilPassed(p: StepPosition, weight: number): Promise<boolean | 'aborted' | HeldEnd> {
    const shadow = p.phase === 'shadow';
    const needed = shadow ? 1 : this.plan.canary.passesPerStep;
    const label = shadow ? 'the shadow phase' : `step ${p.step + 1} (${this.plan.canary.steps[p.step]}%)`;
    const watch: HeldWatch | undefined = weight > 0 ? { patch: ANALYSE_WHILE_HELD, seconds: this.plan.canary.analysisSeconds, analyse: (status) => this.analyseHeld({ p, weight, label, needed }, status) } : undefined;
    while (p.passes < needed) {
      if (p.held) {
        const ended = await this.hold('paused-inconclusive', watch);
        if (ended) return ended;
        if (this.abortReason !== undefined) return 'aborted';
        const d = this.controls.take('step');
        if (d) {
          this.controls.flags.paused = false;
          this.log(`inconclusive ${label} accepted by ${d.by}`);
          recordAcceptedStep(this.state, shadow ? -1 : p.step, d.by);
          return true;
        }
        if (this.controls.flags.paused) continue; // a stale decision was rejected: still held
        Object.assign(p, { held: false, stepStartedAt: Date.now() }); // resumed: a fresh deadline for the same step
        // Analyses that passed while held count (only ANALYSE_WHILE_HELD runs have any): enough, and the step has passed.
        if (p.passes >= needed) continue;
      }
      const waited = await this.waitAndHold(shadow ? this.plan.shadowSeconds : this.plan.canary.analysisSeconds, watch);
      if (typeof waited === 'object') return waited;
      if (waited === 'aborted') return 'aborted';
      if (waited === 'decision') {
        const d = this.controls.take('step');
        if (d) {
          this.log(`${label} accepted by ${d.by}`);
          recordAcceptedStep(this.state, shadow ? -1 : p.step, d.by);
          return true;
        }
        continue;
      }
      // Analyses during a hand-made pause may already have passed the step: then it has passed, and
      // one more analysis must not flag it held (or count a failure) on the way out. Without
      // analyse-while-held nothing passes during the wait, so old histories never take this branch.
      if (p.passes >= needed) continue;
      const analysis = await this.analyseStep(p, weight);
      if ('superseded' in analysis || 'unverified' in analysis) return analysis;
      if (analysis.verdict === 'pass') {
        p.passes++;
      } else if (analysis.verdict === 'fail') {
        this.state.failures++;
        if (this.state.failures >= this.plan.canary.failureLimit) return false;
      } else if (Date.now() - p.stepStartedAt >= this.plan.canary.stepDeadlineSeconds * 1000) {
        p.held = true;
        this.controls.flags.paused = true;
        this.state.status = 'paused-inconclusive';
        this.log(`${p.phase} at ${Math.round(weight * 100)}% inconclusive after ${this.plan.canary.stepDeadlineSeconds} s (${analysis.reasons.join('; ')}): waiting for approve-step, resume or abort`);
        await raiseAlert({ rule: 'deployment_inconclusive', severity: 'warning', subject: `model ${this.plan.model}`, message: `deployment ${this.state.deploymentId} paused: ${analysis.reasons.join('; ')}`, evidence: { deploymentId: this.state.deploymentId, analysis } });
      }
    }
    return true;
  }

  /** One analysis of the step on its own evidence, recorded (with the hold's status when `held`). */
  private async analyseStep(p: StepPosition, weight: number, held?: HeldStatus) {
    // Each step is judged on its own evidence: requests logged since its traffic moved (matured
    // pairs and serving health at this weight), never on the rows an earlier step passed on. The
    // last step is also judged on the whole rollout (more pairs, more power) before the promotion.
    const shadow = p.phase === 'shadow';
    const since = new Date(p.evidenceSince ?? p.stepStartedAt).toISOString();
    const last = !shadow && p.step === this.plan.canary.steps.length - 1;
    const analysis = await analyseCanary({
      model: this.plan.model,
      canary: shadow ? 'shadow' : 'canary',
      reference: 'champion',
      // Only this deployment's versions count: the variant names are every deployment's.
      canaryVersion: this.plan.challengerVersion,
      referenceVersion: this.champion,
      since,
      ...(last ? { cumulativeSince: this.input.deploymentStart } : {}),
      // The share a pass moves the challenger to: the widening bound rises with it (canary-analysis.ts).
      ...(last ? {} : { widenTo: this.plan.canary.steps[shadow ? 0 : p.step + 1] / 100 }),
      thresholds: this.plan.canary.thresholds,
      log: { deploymentId: this.state.deploymentId, seq: this.state.analysisCount + 1, phase: p.phase, weight },
    });
    if ('superseded' in analysis) return analysis;
    const heldField = held ? { held } : {};
    if ('unverified' in analysis) {
      recordAnalysis(this.state, { at: new Date().toISOString(), phase: p.phase, weight, verdict: 'unverified', reasons: analysis.unverified.map((u) => unverifiedText([u])), since, ...heldField });
      return analysis;
    }
    const { cumulative, ...own } = analysis;
    recordAnalysis(this.state, {
      at: new Date().toISOString(),
      phase: p.phase,
      weight,
      verdict: analysis.verdict,
      reasons: analysis.reasons,
      since,
      ...heldField,
      canary: own,
      ...(cumulative ? { cumulative: { since: cumulative.since, verdict: cumulative.verdict, reasons: cumulative.reasons, pairs: cumulative.paired.pairs } } : {}),
    });
    await this.alertRefusedBars(analysis.unverifiedBars, (r) => r.canary?.unverifiedBars, `${shadow ? 'the shadow phase' : `canary step ${p.step + 1} (${this.plan.canary.steps[p.step]}%)`} is inconclusive until they are imported again (paused at its deadline)`);
    return analysis;
  }

  /**
   * (ANALYSE_WHILE_HELD; at a gate, ANALYSE_EVERY_HOLD) One analysis of a step held while the
   * challenger serves. A failure counts against failureLimit as any other, and at the limit ends the
   * step (rolled back, the reason saying it failed while held, and which hold); a challenger that no
   * longer verifies or traffic taken over end it too. A pass of a step held for a person counts
   * towards its passes but moves no traffic: the hold is the person's to end (approve-step, resume,
   * abort), and the pass is their evidence. At a gate the step has passed already: a pass only says
   * its weight still serves well, and the gate waits as before.
   */
  private async analyseHeld(held: HeldStep, status: HeldStatus): Promise<HeldEnd | undefined> {
    const { p, label, needed, before } = held;
    const hold = before === undefined ? status : `${status === 'blocked' ? 'blocked by data alerts' : status} before ${before}`;
    const analysis = await this.analyseStep(p, held.weight, status);
    if ('superseded' in analysis) return analysis;
    if ('unverified' in analysis) return { unverified: analysis.unverified, where: `${label} while held (${hold})` };
    // An abort that came during the analysis ends the deployment with the person's reason.
    if (this.abortReason !== undefined) return undefined;
    const previous = this.state.analyses.at(-2);
    const reasons = analysis.reasons.join('; ');
    if (analysis.verdict === 'fail') {
      const failures = ++this.state.failures;
      const limit = this.plan.canary.failureLimit;
      if (failures >= limit) return { failed: `${label} failed its analysis while held (${hold}): ${failures} failed analys${failures === 1 ? 'is' : 'es'}: ${reasons}` };
      this.log(`${label} failed an analysis while held (${hold}), ${failures} of the ${limit} that roll it back: ${reasons}`);
    } else if (analysis.verdict === 'pass') {
      if (before === undefined) p.passes++;
      // Once per run of passes: a hold of days analyses every analysisSeconds, and the decision log keeps the newest 100.
      const still = before !== undefined ? (status === 'blocked' ? 'the gate still waits for the data alerts (or an override) or abort' : 'still held for resume or abort') : `still held for approve-step, resume or abort`;
      if (previous?.verdict !== 'pass' || previous.held !== status) this.log(`${label} passed an analysis while held (${hold}${before === undefined ? `; ${Math.min(p.passes, needed)} of ${needed} passes needed` : ''}): ${still}`);
    }
    return undefined;
  }

  /**
   * (ANALYSE_EVERY_HOLD) What a canary step's gate analyses while it waits (blocked by data alerts,
   * or paused there): the step before it, whose weight serves until this step's split is written, on
   * that step's own window (servingSince: its traffic moved then, and every request since was served
   * at that weight, including those whose outcomes mature during the wait). Undefined before the
   * first step: nothing of the challenger serves yet.
   */
  private gateWatch(p: StepPosition): HeldWatch | undefined {
    if (p.phase !== 'canary' || p.step < 1) return undefined;
    const steps = this.plan.canary.steps;
    const step = p.step - 1;
    // Positions carried from runs before servingSince: since the step before passed, all at its weight.
    const since = p.servingSince ?? p.stepStartedAt;
    const serving: StepPosition = { phase: 'canary', step, stage: 'analysing', passes: 0, stepStartedAt: since, held: false, evidenceSince: since };
    const held: HeldStep = { p: serving, weight: steps[step] / 100, label: `step ${step + 1} (${steps[step]}%)`, needed: 1, before: `step ${p.step + 1} at ${steps[p.step]}%` };
    return { patch: ANALYSE_EVERY_HOLD, seconds: this.plan.canary.analysisSeconds, analyse: (status) => this.analyseHeld(held, status) };
  }

  /**
   * How a hold's analysis ended the deployment: failed analyses roll a canary back (an A/B test lost
   * while paused ends keeping the champion), with the alert; a challenger that no longer verifies or
   * traffic taken over end it as outside the hold. `where`: the context when the end names none.
   */
  private endHeld(end: HeldEnd, where: string): Promise<DeploymentState> {
    if ('failed' in end) return this.plan.mode === 'ab' ? this.keepChampion(end.failed, { alert: true }) : this.rollBack(end.failed, true);
    return 'superseded' in end ? this.stopSuperseded(end.superseded) : this.onUnverified(end.unverified, end.where ?? where, true);
  }

  /**
   * Holds traffic while open data alerts (not overridden) block this model. True when aborted. With
   * `watch` (the weight of the step before serves), analyses on each poll's interval (and while paused
   * there), under its marker, and returns how an analysis ended the deployment, if one did.
   */
  private async waitWhileBlocked(watch?: HeldWatch): Promise<boolean | HeldEnd> {
    let elapsed = false;
    for (;;) {
      const blockers = (await deploymentBlockers({ model: this.plan.model })).filter((b) => !this.controls.flags.overridden.includes(alertIdOf(b) ?? ''));
      this.state.blockers = blockers;
      if (blockers.length === 0) return false;
      if (this.state.status !== 'blocked') this.log(`traffic held: ${blockers.join('; ')}`);
      this.state.status = 'blocked';
      // An interval passed and the gate is still held (once it clears, the versions are verified and the next step's analyses begin).
      if (elapsed && watch && patched(watch.patch)) {
        const ended = await watch.analyse('blocked');
        if (ended) return ended;
        if (this.abortReason !== undefined) return true;
      }
      const waited = await this.waitAndHold(this.plan.canary.analysisSeconds, watch);
      if (typeof waited === 'object') return waited;
      if (waited === 'aborted') return true;
      const d = waited === 'decision' ? this.controls.take('override') : undefined;
      if (d) {
        this.controls.flags.overridden.push(d.alertId);
        this.log(`data alert ${d.alertId} overridden by ${d.by}`);
      }
      elapsed = waited === 'elapsed';
    }
  }

  private async abTest(p: AbPosition): Promise<DeploymentState> {
    const { champion, plan } = this;
    const challenger = plan.challengerVersion;
    const weight = plan.ab.challengerWeight;
    this.state.status = 'ab-test';
    if (!p.splitSet) {
      const stopped = await this.verifyBeforeMove('before the A/B test', true);
      if (stopped) return stopped;
      const moved = await uninterrupted(() => setTrafficSplit({ ...executionChain(), model: plan.model, mode: 'ab', routes: [{ variant: 'B', version: challenger, weight }, { variant: 'A', version: champion, weight: 1 - weight }], updatedBy: this.by, reason: `A/B test v${champion} vs v${challenger}`, deploymentId: this.state.deploymentId }));
      const taken = supersededBy(moved);
      if (taken !== undefined) return this.stopSuperseded(taken);
      Object.assign(p, { splitSet: true, deadline: Date.now() + plan.ab.deadlineSeconds * 1000 });
    }
    this.state.challengerWeight = weight;
    // A pause holds the test for a person, B still serving: its report goes on (ANALYSE_EVERY_HOLD).
    const watch: HeldWatch = { patch: ANALYSE_EVERY_HOLD, seconds: plan.ab.analysisSeconds, analyse: (status) => this.analyseAbHeld(p, status) };
    for (;;) {
      const waited = await this.waitAndHold(Math.min(plan.ab.analysisSeconds, Math.max(0.1, (p.deadline - Date.now()) / 1000)), watch);
      if (typeof waited === 'object') return this.endHeld(waited, 'the A/B test');
      if (waited === 'aborted') return this.keepChampion(`A/B test ended: ${this.abortReason}`);
      if (waited === 'decision') {
        const d = this.controls.take('promote');
        if (d?.variant === 'B') return this.promote(`A/B test ended by ${d.by}: B promoted`, `v${challenger} (B) promoted by ${d.by}`);
        if (d?.variant === 'A') return this.keepChampion(`A/B test ended by ${d.by}: A kept`);
        continue;
      }
      const report = await this.analyseAb(p);
      if ('superseded' in report) return this.stopSuperseded(report.superseded);
      if ('unverified' in report) return this.onUnverified(report.unverified, 'the A/B test', true);
      if (report.decision === 'stop-winner' && report.winner === 'B') return this.promote(`A/B test: B won (${report.reasons.join('; ')})`, `v${challenger} (B) won the A/B test and is the champion`);
      if (report.decision !== 'continue') return this.keepChampion(`A/B test: ${report.decision === 'stop-winner' ? 'A won' : 'no difference'} (${report.reasons.join('; ')})`);
      if (Date.now() >= p.deadline) return this.endAtDeadline();
    }
  }

  /** One look at the A/B test's report, recorded (with the hold's status when `held`). */
  private async analyseAb(p: AbPosition, held?: HeldStatus) {
    const { champion, plan } = this;
    const weight = plan.ab.challengerWeight;
    const report = await analyseAbTest({
      model: plan.model,
      since: this.input.deploymentStart,
      variants: ['A', 'B'],
      versions: [champion, plan.challengerVersion],
      alpha: plan.ab.alpha,
      minSamplesPerVariant: plan.ab.minSamplesPerVariant,
      maxSamplesPerVariant: plan.ab.maxSamplesPerVariant,
      // The sequential boundary spends alpha over the test's own time: from the split to its deadline.
      start: new Date(p.deadline - plan.ab.deadlineSeconds * 1000).toISOString(),
      deadline: new Date(p.deadline).toISOString(),
      maxErrorRate: plan.canary.thresholds.maxErrorRate,
      maxP99LatencyMs: plan.canary.thresholds.maxP99LatencyMs,
      // Arguments only (replay compares commands): older runs' analyses used the defaults.
      grossErrorRate: plan.canary.thresholds.grossErrorRate,
      minServingPredictions: plan.canary.thresholds.minServingPredictions,
      log: { deploymentId: this.state.deploymentId, seq: this.state.analysisCount + 1, phase: 'ab-test', weight },
    });
    if ('superseded' in report) return report;
    const heldField = held ? { held } : {};
    if ('unverified' in report) {
      recordAnalysis(this.state, { at: new Date().toISOString(), phase: 'ab-test', weight, verdict: 'unverified', reasons: report.unverified.map((u) => unverifiedText([u])), ...heldField });
      return report;
    }
    recordAnalysis(this.state, { at: new Date().toISOString(), phase: 'ab-test', weight, verdict: report.decision, reasons: report.reasons, ...heldField, ab: report });
    await this.alertRefusedBars(report.unverifiedBars, (r) => r.ab?.unverifiedBars, `the A/B test v${champion} (A) vs v${plan.challengerVersion} (B) continues undecided until they are imported again or its deadline (${new Date(p.deadline).toISOString()}) ends it keeping A`);
    return report;
  }

  /**
   * (ALERT_REFUSED_BARS) bars_unverified for an analysis, just recorded, that refused `refused`,
   * unless the analysis before it refused the same bars: once per run of such analyses (the alert
   * store's cool-down dedupes repeats with monitoring's). `of` reads an earlier record's refusal.
   */
  private async alertRefusedBars(refused: RefusedBarsSummary | undefined, of: (record: AnalysisRecord) => RefusedBarsSummary | undefined, what: string): Promise<void> {
    if (refused === undefined || !patched(ALERT_REFUSED_BARS)) return;
    const previous = this.state.analyses.at(-2);
    if (previous && sameRefusal(of(previous), refused)) return;
    this.log(`analysis held by refused bars: ${what}: ${refused.reason}`);
    await raiseAlert(deploymentBarsAlert({ model: this.plan.model, deploymentId: this.state.deploymentId, what, refused }));
  }

  /**
   * The A/B test's deadline came without a decision: the champion is kept. (ALERT_REFUSED_BARS) When
   * its last looks were held by refused bars, the test was not undecided but unjudged: the reason
   * names the bars and deployment_inconclusive says so, as a canary step's deadline does.
   */
  private async endAtDeadline(): Promise<DeploymentState> {
    const plain = 'A/B test deadline reached without a decision';
    if (!patched(ALERT_REFUSED_BARS)) return this.keepChampion(plain);
    const looks = this.state.analyses.filter((a) => a.phase === 'ab-test').slice(-REFUSED_LOOKS_CONSIDERED);
    const refused = looks.filter((a) => a.ab?.unverifiedBars !== undefined);
    const newest = refused.at(-1)?.ab?.unverifiedBars;
    if (newest === undefined) return this.keepChampion(plain);
    const reason = `${plain}: outcomes not judged in ${refused.length} of its last ${looks.length} looks, measured on bars MODEL_SIGNING_KEY does not vouch for (${newest.reason})`;
    await raiseAlert({
      rule: 'deployment_inconclusive',
      severity: 'warning',
      subject: `model ${this.plan.model}`,
      message: `deployment ${this.state.deploymentId} ended keeping v${this.champion}: ${reason}`.slice(0, 10_000),
      evidence: { deploymentId: this.state.deploymentId, unverifiedBars: newest, analyses: this.state.analyses.slice(-3) },
    });
    return this.keepChampion(reason);
  }

  /**
   * (ANALYSE_EVERY_HOLD) One look at an A/B test paused by hand, B still serving. B losing (worse on
   * hit rate, or failing the serving guards: A wins) ends the test keeping the champion, as it would
   * unpaused, with the alert, since nobody was told otherwise; a challenger that no longer verifies
   * or traffic taken over end it as outside the pause. A win for B, no difference at
   * maxSamplesPerVariant, or the deadline, move nothing while a person holds the test: theirs to
   * resume (the next look decides) or abort.
   */
  private async analyseAbHeld(p: AbPosition, status: HeldStatus): Promise<HeldEnd | undefined> {
    const report = await this.analyseAb(p, status);
    if ('superseded' in report) return report;
    if ('unverified' in report) return { unverified: report.unverified, where: `the A/B test while held (${status})` };
    if (this.abortReason !== undefined) return undefined;
    const previous = this.state.analyses.at(-2);
    const reasons = report.reasons.join('; ');
    if (report.decision === 'stop-winner' && report.winner !== 'B') return { failed: `A/B test while held (${status}): A won (${reasons})` };
    // Once per run of the same decision: a pause of days looks every analysisSeconds.
    if (report.decision !== 'continue' && (previous?.verdict !== report.decision || previous.held !== status)) {
      this.log(`A/B test while held (${status}): ${report.decision === 'stop-winner' ? 'B won' : 'no difference'} (${reasons}); nothing moved while held: resume (the next analysis decides) or abort`);
    }
    return undefined;
  }

  /**
   * Waits `seconds` unless an abort or a person's decision comes first; holds while paused (with
   * `watch`, analysing on the way: see hold). Continue-as-new happens here, between analyses, when
   * the history is due for it.
   */
  private async waitAndHold(seconds: number, watch?: HeldWatch): Promise<WaitResult | HeldEnd> {
    const until = Date.now() + seconds * 1000;
    for (;;) {
      await this.continueAsNewIfDue();
      if (this.abortReason !== undefined) return 'aborted';
      if (this.controls.decisionWaiting) return 'decision';
      if (this.controls.flags.paused) {
        const ended = await this.hold('paused', watch);
        if (ended) return ended;
        continue;
      }
      // A run continued while paused shows 'paused'; a resume delivered with its first task acts
      // before this loop can hold, so hold() never restores the status, and the resume update
      // (which answers once the status changes) would never finish, blocking every later
      // continue-as-new. Only that case reaches here with 'paused', so other histories replay as before.
      if (this.state.status === 'paused' && patched('resume-on-carried-run')) this.state.status = baseStatus(this.position);
      const left = until - Date.now();
      if (left <= 0) return 'elapsed';
      if (!(await this.waitFor(() => this.controls.decisionWaiting || this.controls.flags.paused || this.canContinueNow(), left))) return 'elapsed';
    }
  }

  /**
   * Shows `status` until resumed, aborted or a decision arrives (continuing as new while it lasts, if
   * due). With `watch` (a canary step, or the step before a gate, or an A/B test, whose challenger
   * serves) and its marker, it also analyses every `watch.seconds` and returns how an analysis ended
   * the deployment, if one did; a person's resume, decision or abort still ends the wait at once, not
   * at the next analysis.
   */
  private async hold(status: HeldStatus, watch?: HeldWatch): Promise<HeldEnd | undefined> {
    this.state.status = status;
    const held = () => this.controls.flags.paused && !this.controls.decisionWaiting;
    const every = (watch?.seconds ?? 0) * 1000;
    let next = Date.now() + every;
    while (held()) {
      if (watch && patched(watch.patch)) {
        const left = next - Date.now();
        if (left > 0 && (await this.waitFor(() => !held() || this.canContinueNow(), left))) {
          if (held()) await this.continueAsNewIfDue();
          continue;
        }
        if (!held()) continue;
        const ended = await watch.analyse(status);
        if (ended) return ended;
        next = Date.now() + every;
        continue;
      }
      await this.waitFor(() => !this.controls.flags.paused || this.controls.decisionWaiting || this.canContinueNow());
      // Only while still held: a run continued right after a resume would carry the held status
      // into the next run, which shows it until something else changes it.
      if (this.controls.flags.paused && !this.controls.decisionWaiting) await this.continueAsNewIfDue();
    }
    this.state.status = baseStatus(this.position);
    return undefined;
  }

  /** A wait for time or a person (see Controls.idle). */
  private async waitFor(fn: () => boolean, ms?: number): Promise<boolean> {
    this.controls.idle = true;
    try {
      return ms === undefined ? (await condition(fn), true) : await condition(fn, ms);
    } finally {
      this.controls.idle = false;
    }
  }

  private due(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength >= this.plan.continueAsNewAfterEvents;
  }
  /** Due, and nothing in flight that this run must answer first. */
  private canContinueNow(): boolean {
    return this.due() && allHandlersFinished() && !this.controls.decisionWaiting;
  }

  private async continueAsNewIfDue(boundary = false): Promise<void> {
    if (!(boundary || this.due()) || this.controls.decisionWaiting || !allHandlersFinished()) return;
    await condition(allHandlersFinished);
    const { state } = this;
    this.log(`run ${state.run} continues as new after ${workflowInfo().historyLength} history events`);
    state.run++;
    const carry: DeploymentCarry = { state, position: this.position, controls: this.controls.flags, deploymentStart: this.input.deploymentStart };
    await continueAsNew<(request: DeploymentRequest, carried?: DeploymentCarry) => Promise<DeploymentState>>(this.input.request, carry);
  }

  private async promote(reason: string, message: string): Promise<DeploymentState> {
    const unservable = await this.verifyBeforeMove('before the promotion', false);
    if (unservable) return unservable;
    const promoted = await uninterrupted(() => promoteChallenger({ ...executionChain(), deploymentId: this.state.deploymentId, model: this.plan.model, challengerVersion: this.plan.challengerVersion, championVersion: this.champion, movedBy: this.by, reason }));
    const taken = supersededBy(promoted);
    if (taken !== undefined) return this.stopSuperseded(taken);
    this.state.challengerWeight = 1;
    return this.finish('promoted', message);
  }

  /**
   * Someone else took the traffic over (a manual rollback, an admin edit of the routes): the
   * deployment ends without moving anything back, since its champion may be what was rolled away from.
   */
  private stopSuperseded(why: string): Promise<DeploymentState> {
    this.log(`traffic taken over: ${why}`);
    return this.plan.mode === 'ab' ? this.keepChampion(`stopped: ${why}`, { verifyChampion: false }) : this.rollBack(`stopped: ${why}`, false, { verifyChampion: false });
  }

  /**
   * (Runs with the VERIFY_BEFORE_MOVES marker.) Verifies the challenger, and the champion when
   * `champion` (the traffic it keeps), before a traffic move; undefined when they verify, else the
   * deployment's end: a challenger rolled back, or a stop when the champion no longer verifies.
   */
  private async verifyBeforeMove(where: string, champion: boolean): Promise<DeploymentState | undefined> {
    if (!patched(VERIFY_BEFORE_MOVES)) return undefined;
    const unverified = await verifyDeploymentVersions({ model: this.plan.model, challengerVersion: this.plan.challengerVersion, ...(champion ? { championVersion: this.champion } : {}) });
    return unverified.length === 0 ? undefined : this.onUnverified(unverified, where, champion);
  }

  /**
   * A version under test no longer verifies (its registry row was edited, its artifact changed or
   * its evaluation now vetoes it; the API has withdrawn the model): a challenger is rolled back at
   * once, the reason recorded; a champion is never rolled back to, so the deployment stops and
   * reports. `championVerified`: the champion was checked with it (and passed, unless listed).
   */
  private onUnverified(unverified: UnverifiedVersion[], where: string, championVerified: boolean): Promise<DeploymentState> {
    const text = unverifiedText(unverified);
    if (unverified.some((u) => u.role === 'champion')) return this.stopUnservableChampion(unverified, `found ${where}`);
    const reason = `${where}: ${text}`;
    return this.plan.mode === 'ab' ? this.keepChampion(reason, { alert: true, verifyChampion: !championVerified }) : this.rollBack(reason, true, { verifyChampion: !championVerified });
  }

  /**
   * The champion no longer verifies, so moving the traffic back to it would serve what the API
   * refuses: nothing is moved (the routes, weights and aliases stay as they are), a critical alert
   * says so, and the deployment ends 'stopped' for a person to route the traffic by hand.
   */
  private async stopUnservableChampion(unverified: UnverifiedVersion[], context: string, ending?: { reason: string; status?: DeploymentStatus }): Promise<DeploymentState> {
    const { state, plan } = this;
    const text = unverifiedText(unverified);
    let traffic: string;
    if (patched(TAKEOVER_BEFORE_STOP)) {
      const now = await deploymentTraffic({ deploymentId: state.deploymentId, model: plan.model });
      if (now.superseded !== undefined) {
        // The person already routed the traffic away: nothing to stop for, nor to ask of them.
        this.log(`traffic taken over: ${now.superseded} (${text}, found ${context}; not stopped: the traffic is no longer this deployment's)`);
        const reason = ending?.reason ?? `stopped: ${now.superseded}`;
        return plan.mode === 'ab' ? this.keepChampion(reason, { verifyChampion: false, status: ending?.status }) : this.rollBack(reason, false, { verifyChampion: false, status: ending?.status });
      }
      traffic = trafficText(now.serving);
    } else {
      const weight = `${Math.round(state.challengerWeight * 100)}%`;
      traffic = plan.mode === 'ab' ? `A/B split, v${plan.challengerVersion} (B) at ${weight}` : state.challengerWeight > 0 ? `v${plan.challengerVersion} at ${weight}, v${this.champion} on the rest` : `v${this.champion} serving`;
    }
    const advice = `route the traffic to a version that verifies (mlp models rollback ${plan.model} --to-version N) or restore v${this.champion}`;
    await raiseAlert({
      rule: 'deployment_stopped',
      severity: 'critical',
      subject: `model ${plan.model}`,
      message: `deployment ${state.deploymentId} stopped without rolling back: ${text}; traffic left as it is (${traffic}): ${advice}`,
      evidence: { deploymentId: state.deploymentId, unverified, context, analyses: state.analyses.slice(-3) },
    });
    return this.finish('stopped', `stopped, not rolled back to v${this.champion} (${context}): ${text}; traffic left as it is (${traffic}): ${advice}`);
  }

  /** The rollback's destination must still verify (VERIFY_BEFORE_MOVES), else the deployment stops instead; undefined when it may go on. */
  private async championUnservable(reason: string, verifyChampion: boolean, status?: DeploymentStatus): Promise<DeploymentState | undefined> {
    if (!verifyChampion || this.state.championVersion === null || !patched(VERIFY_BEFORE_MOVES)) return undefined;
    const unverified = await verifyDeploymentVersions({ model: this.plan.model, championVersion: this.champion });
    return unverified.length === 0 ? undefined : this.stopUnservableChampion(unverified, `while rolling back: ${reason}`, { reason, status });
  }

  /**
   * (Runs with the ENDING_OUTLIVES_CANCEL marker.) Runs `end`, a rollback or an A/B test's end that
   * has begun, to its end even if the workflow is cancelled meanwhile; a cancellation that came
   * during it is noted (finish writes the note into the record) and then ends the workflow cancelled,
   * with nothing left to undo (endCancelled finds the end recorded).
   */
  private async runToItsEnd(what: string, end: () => Promise<DeploymentState>): Promise<DeploymentState> {
    if (this.ending !== undefined || !patched(ENDING_OUTLIVES_CANCEL)) return end();
    const ending = { scope: CancellationScope.current(), what, noted: false };
    this.ending = ending;
    try {
      const done = await CancellationScope.nonCancellable(end);
      if (!ending.scope.consideredCancelled) return done;
      this.noteCancelledWhileEnding();
      throw new CancelledFailure(`${CANCELLED_REASON} during ${what}, which ran to its end (${done.status})`);
    } finally {
      this.ending = undefined;
    }
  }

  /** Logs, once, that the workflow was cancelled while the deployment was ending on its own. */
  private noteCancelledWhileEnding(): void {
    const e = this.ending;
    if (!e || e.noted || !e.scope.consideredCancelled) return;
    e.noted = true;
    this.log(`${CANCELLED_REASON} during ${e.what}: it ran to its end, and the deployment ends as that decided`);
  }

  private keepChampion(reason: string, options: { alert?: boolean; verifyChampion?: boolean; status?: DeploymentStatus } = {}): Promise<DeploymentState> {
    return this.runToItsEnd('the end of the A/B test', () => this.keepChampionNow(reason, options));
  }

  private async keepChampionNow(reason: string, options: { alert?: boolean; verifyChampion?: boolean; status?: DeploymentStatus }): Promise<DeploymentState> {
    const stopped = await this.championUnservable(reason, options.verifyChampion ?? true, options.status);
    if (stopped) return stopped;
    const done = await uninterrupted(() => rollBackDeployment({ ...executionChain(), deploymentId: this.state.deploymentId, model: this.plan.model, championVersion: this.champion, challengerVersion: this.plan.challengerVersion, movedBy: this.by, reason }));
    const taken = this.takenOverEnd(done, reason);
    if (options.alert) {
      const message = taken?.superseded ? `v${this.plan.challengerVersion} (B) not withdrawn (${reason}): ${taken.message}` : `v${this.plan.challengerVersion} (B) withdrawn: ${reason}`;
      await raiseAlert({ rule: 'deployment_rolled_back', severity: 'critical', subject: `model ${this.plan.model}`, message, evidence: { deploymentId: this.state.deploymentId, analyses: this.state.analyses.slice(-3) } });
    }
    if (taken) return this.finish(taken.superseded ? 'superseded' : (options.status ?? 'kept-champion'), taken.message);
    return this.finish(options.status ?? 'kept-champion', `champion v${this.champion} kept: ${reason}`);
  }

  /**
   * How an end whose rollback found the traffic taken over reads (undefined when the rollback moved
   * it): from what the activity found serving, so a challenger a person made champion (or left
   * serving) is recorded as taken over, never withdrawn. Answers recorded before `serving` was
   * added keep their wording. Sets the challenger's weight to its share of what serves.
   */
  private takenOverEnd(done: void | { trafficLeft: string; serving?: ServingNow }, reason: string): { superseded: boolean; message: string } | undefined {
    const left = done ? done.trafficLeft : undefined;
    const serving = done ? done.serving : undefined;
    this.state.challengerWeight = 0;
    if (left === undefined) return undefined;
    const challenger = this.plan.challengerVersion;
    if (serving === undefined) return { superseded: false, message: `v${challenger} withdrawn, traffic left as it is (${left}): ${reason}` };
    this.state.challengerWeight = challengerShare(challenger, serving);
    return takeoverEnd(challenger, serving, left, reason);
  }

  private rollBack(reason: string, alert: boolean, options: { verifyChampion?: boolean; status?: DeploymentStatus } = {}): Promise<DeploymentState> {
    return this.runToItsEnd('the rollback', () => this.rollBackNow(reason, alert, options));
  }

  private async rollBackNow(reason: string, alert: boolean, options: { verifyChampion?: boolean; status?: DeploymentStatus }): Promise<DeploymentState> {
    const { state, plan } = this;
    const stopped = await this.championUnservable(reason, options.verifyChampion ?? true, options.status);
    if (stopped) return stopped;
    const done = await uninterrupted(() => rollBackDeployment({ ...executionChain(), deploymentId: state.deploymentId, model: plan.model, championVersion: this.champion, challengerVersion: plan.challengerVersion, movedBy: this.by, reason }));
    // A rollback that found the traffic taken over left it alone (the champion may be what was rolled away from).
    const taken = this.takenOverEnd(done, reason);
    if (alert) {
      const message = taken?.superseded ? `v${plan.challengerVersion} not rolled back (${reason}): ${taken.message}` : `v${plan.challengerVersion} rolled back: ${reason}`;
      await raiseAlert({ rule: 'deployment_rolled_back', severity: 'critical', subject: `model ${plan.model}`, message, evidence: { deploymentId: state.deploymentId, analyses: state.analyses.slice(-3) } });
    }
    if (taken) return this.finish(taken.superseded ? 'superseded' : (options.status ?? 'rolled-back'), taken.message);
    return this.finish(options.status ?? 'rolled-back', `rolled back to v${this.champion}: ${reason}`);
  }

  /** Final status, outcome stored; returns once every update handler has answered. */
  private async finish(status: DeploymentStatus, message: string): Promise<DeploymentState> {
    this.state.status = status;
    this.state.blockers = [];
    this.controls.settle();
    this.noteCancelledWhileEnding();
    this.log(message);
    await uninterrupted(() => finishDeployment({ ...executionChain(), deploymentId: this.state.deploymentId, status, outcome: this.state }));
    this.recorded = true;
    await condition(allHandlersFinished);
    return this.state;
  }

  /**
   * The workflow was cancelled (`temporal workflow cancel`, the Web UI's "Request cancellation"),
   * which no update or validator sees: the deployment ends as an abort at the same place ends (traffic
   * back to the champion and the canary alias cleared, or the A/B test ended keeping the champion;
   * nothing moved before the traffic did), its row 'cancelled', and deployment_cancelled says so,
   * all in a scope the cancellation cannot interrupt. Left to itself, the cancelled run ended with
   * the challenger serving, its row 'running' and nothing reported. The caller rethrows the
   * cancellation, so the workflow still ends cancelled. A cancellation during a rollback or an A/B
   * test's end (runToItsEnd) reaches here only once that end is recorded: nothing is left to do.
   * False for a replayed history from before this handling (it ended cancelled at once).
   */
  async endCancelled(): Promise<boolean> {
    // Recorded already (a cancellation while the update handlers were being answered): it has ended.
    if (this.recorded) return true;
    if (!patched(ROLLBACK_ON_CANCEL)) return false;
    await uninterrupted(async () => {
      const { state, plan } = this;
      this.log('the workflow was cancelled: ending as an abort does');
      const p = this.position;
      if (p.phase === 'approval') await this.finish('cancelled', `not deployed: ${CANCELLED_REASON}`);
      else if (p.phase === 'ab') await this.keepChampion(CANCELLED_REASON, { status: 'cancelled' });
      else await this.rollBack(CANCELLED_REASON, false, { status: 'cancelled' });
      await raiseAlert({
        rule: 'deployment_cancelled',
        severity: 'warning',
        subject: `model ${plan.model}`,
        message: `deployment ${state.deploymentId} of ${plan.model} v${plan.challengerVersion} was cancelled in Temporal, not aborted (mlp deployments abort): ${state.decisions[state.decisions.length - 1].message}`,
        evidence: { deploymentId: state.deploymentId, status: state.status, analyses: state.analyses.slice(-3) },
      });
    });
    return true;
  }
}
