/**
 * What a deployment does, declared: canary steps or an A/B test, analysis timing, thresholds.
 * Parsed once (by the activity that starts a deployment) so the workflow only sees valid plans.
 */
import { z } from 'zod';
import { BadInputError, describeValidationError } from '../errors';
import { minBlocksToDecide, minSessionsToDecide, sessionsToMatureBlocks } from './ab-report';
import { canaryThresholdsSchema, type CanaryThresholds } from './canary-analysis';

/** The longest step or A/B deadline a plan may set, and the cap of the defaults. */
const MAX_STEP_DEADLINE_SECONDS = 365 * 86_400;
const DAY_SECONDS = 86_400;

/** Calendar seconds of `sessions` NYSE sessions: × 7/5 for weekends, rounded up to whole days (holidays not counted). */
const calendarSecondsOf = (sessions: number) => Math.ceil((sessions * 7) / 5) * DAY_SECONDS;

/**
 * Time between analyses. Sub-second values exist for tests that drive thousands of analysis loops
 * (continue-as-new); in production each analysis reads the prediction log, so keep it at minutes.
 */
const analysisSeconds = (d: number) => z.number().min(0.01).max(30 * 86_400).default(d);

const deploymentRequestShape = z.strictObject({
  model: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'a registered model name'),
  challengerVersion: z.number().int().positive(),
  mode: z.enum(['canary', 'ab']).default('canary'),
  /** Person or system that asked, for the decision log and the alias history. */
  startedBy: z.string().min(1).max(255).default('cli'),
  /** Wait for an `approveStart` update before any traffic moves (promotion.deploy = "manual"). */
  requireApproval: z.boolean().default(false),
  /** Challenger predicts on every request without serving, before any traffic moves (0 = no shadow phase). */
  shadowSeconds: z.number().min(0).max(30 * 86_400).default(0),
  canary: z
    .strictObject({
      /** Traffic share of the challenger at each step, in percent, rising, ending at 100. */
      steps: z.array(z.number().gt(0).max(100)).min(1).default([5, 25, 50, 100]),
      /** Time between analyses. */
      analysisSeconds: analysisSeconds(300),
      /** Analyses that must pass at each step before the next (the first may come after analysisSeconds). */
      passesPerStep: z.number().int().min(1).max(100).default(1),
      /**
       * A step still inconclusive this long after it began pauses the rollout for a person. Default:
       * from the label horizon h of the challenger (defaultStepDeadlineSeconds: 60 + 10·h sessions as
       * calendar days), since the hit rate waits for outcomes to mature and needs weeks of them; a
       * fixed 3 days paused every step of 5-session labels.
       */
      stepDeadlineSeconds: z.number().min(1).max(MAX_STEP_DEADLINE_SECONDS).optional(),
      /** Failed analyses (over the whole rollout) that trigger the automatic rollback. */
      failureLimit: z.number().int().min(1).max(100).default(1),
      thresholds: canaryThresholdsSchema.prefault({}),
    })
    .prefault({}),
  ab: z
    .strictObject({
      /** Traffic share of the challenger (B); the champion (A) gets the rest. */
      challengerWeight: z.number().gt(0).lt(1).default(0.5),
      analysisSeconds: analysisSeconds(3600),
      alpha: z.number().gt(0).lt(0.5).default(0.05),
      minSamplesPerVariant: z.number().int().min(1).default(100),
      maxSamplesPerVariant: z.number().int().min(1).optional(),
      /**
       * The test ends undecided (champion kept) after this long. Default: from the challenger's label
       * horizon (defaultAbDeadlineSeconds); one shorter than any decision needs (minAbDeadlineSeconds)
       * is refused where the horizon is known. A fixed 14 days could never decide: it holds at most 3
       * blocks of 1-session labels, and the report decides on no fewer than 4.
       */
      // At least a second: Temporal timers resolve to about one.
      deadlineSeconds: z.number().min(1).max(MAX_STEP_DEADLINE_SECONDS).optional(),
    })
    .prefault({}),
  /**
   * History events one workflow run may reach before it continues as new (same workflow id, state
   * carried). Temporal warns at 10,240 events and terminates at 51,200; a rollout that waits for
   * days would otherwise reach them. Low values are for tests.
   */
  continueAsNewAfterEvents: z.number().int().min(100).max(10_000).default(5_000),
});

/** The minServingPredictions a plan without its own gets (for the A/B check of an experiment's partial plan). */
const DEFAULT_MIN_SERVING_PREDICTIONS = canaryThresholdsSchema.parse({}).minServingPredictions;

/**
 * Checks across fields, shared by a request and an experiment's promotion.deployment: in the schema
 * both are read with, an experiment whose plan a deployment would refuse is refused when it is read,
 * not after its run has trained and promoted (a first model's champion alias had then moved with no
 * route serving it).
 */
function refinePlan(plan: { mode?: 'canary' | 'ab'; canary?: { steps: number[]; thresholds: CanaryThresholds }; ab?: { maxSamplesPerVariant?: number } }, ctx: z.RefinementCtx): void {
  const steps = plan.canary?.steps;
  if (steps && (steps.some((s, i) => i > 0 && s <= steps[i - 1]) || steps[steps.length - 1] !== 100)) {
    ctx.addIssue({ code: 'custom', path: ['canary', 'steps'], message: `must rise and end at 100, got [${steps.join(', ')}]` });
  }
  // Every matured symbol-day was served at least once, so a test that stops at max symbol-days per arm
  // has judged each arm's serving health only if max reaches minServingPredictions; below it, a better
  // challenger could end the test unjudged and the champion would be kept as "no difference".
  const max = plan.ab?.maxSamplesPerVariant;
  const minServingPredictions = plan.canary?.thresholds.minServingPredictions ?? DEFAULT_MIN_SERVING_PREDICTIONS;
  if (plan.mode === 'ab' && max !== undefined && max < minServingPredictions) {
    ctx.addIssue({ code: 'custom', path: ['ab', 'maxSamplesPerVariant'], message: `${max} is below canary.thresholds.minServingPredictions ${minServingPredictions}: the test could stop before any arm's serving health is judged` });
  }
}

export const deploymentRequestSchema = deploymentRequestShape.superRefine(refinePlan);

/** The parts of a request an experiment may set for the deployments its runs start, checked as a request is. */
export const deploymentOptionsSchema = deploymentRequestShape.pick({ mode: true, shadowSeconds: true, canary: true, ab: true }).partial().superRefine(refinePlan);
export type DeploymentOptions = z.input<typeof deploymentOptionsSchema>;

export type DeploymentRequest = z.input<typeof deploymentRequestSchema>;
type ParsedRequest = z.output<typeof deploymentRequestSchema>;
/** A parsed request, every default filled in (stepDeadlineSeconds and the A/B deadlineSeconds too). */
export type DeploymentPlan = Omit<ParsedRequest, 'canary' | 'ab'> & { canary: ParsedRequest['canary'] & { stepDeadlineSeconds: number }; ab: ParsedRequest['ab'] & { deadlineSeconds: number } };

/**
 * The default step deadline for labels of `labelHorizon` sessions: 60 + 10·h sessions, as calendar
 * days (× 7/5, rounded up: 98 days for h = 1, 154 for h = 5). A step widens only on evidence that
 * the canary is not 10 points worse (canary-analysis.ts), so on simulated default rollouts
 * (bench/canary-rollouts.ts, 100 symbols, 20 seeds) an equally good canary spent a median of 45
 * trading days at the 5% step with 1-session labels and 74 with 5-session ones (promoted after 65
 * and 136 in all); the deadline is about 1.5 times the time at that step, so a median rollout does
 * not pause for a person, and a slow one does (how often was not measured: the simulation does not
 * model the deadline).
 */
export function defaultStepDeadlineSeconds(labelHorizon: number): number {
  if (!(Number.isInteger(labelHorizon) && labelHorizon >= 1)) throw new BadInputError(`a label horizon must be a whole number of sessions >= 1, got ${JSON.stringify(labelHorizon)}`);
  // Never beyond what a plan may set (a year): long horizons (20-session volatility labels: 364 days)
  // decide slowly, and a person should look at a step that has waited a year.
  return Math.min(MAX_STEP_DEADLINE_SECONDS, calendarSecondsOf(60 + 10 * labelHorizon));
}

/**
 * The shortest A/B deadline in which a test of `labelHorizon`-session labels at `alpha` can decide at
 * all: minSessionsToDecide (ab-report.ts, from the report's own rule) as calendar days, rounded up
 * (17 days for h = 1, 34 for h = 5 at α 0.05). Assumes no holidays and a session's outcome read as soon
 * as it closes, so a real test needs a little longer still.
 */
export function minAbDeadlineSeconds(labelHorizon: number, alpha = 0.05): number {
  return calendarSecondsOf(minSessionsToDecide(labelHorizon, alpha));
}

/**
 * The default A/B deadline: time for twice the blocks the report needs before any decision
 * (2·minBlocksToDecide, 8 at α 0.05) to mature, as calendar days (34 days for h = 1, 62 for h = 5,
 * 251 for h = 20), at most a year. The bare minimum decides only on a challenger right or wrong on
 * almost every outcome; on simulated tests of 5-session labels, 100 symbols and an even split, 40
 * matured days (8 blocks of 5, 44 sessions: this default) found a B 10 points better in 89% of 100
 * tests (ab-report.ts, anytime-mean.ts, T_MIXTURE_G). Smaller differences need longer: set it.
 */
export function defaultAbDeadlineSeconds(labelHorizon: number, alpha = 0.05): number {
  return Math.min(MAX_STEP_DEADLINE_SECONDS, calendarSecondsOf(sessionsToMatureBlocks(2 * minBlocksToDecide(alpha), labelHorizon)));
}

const daysText = (s: number) => `${Math.ceil(s / DAY_SECONDS)} days`;

/**
 * Why an A/B plan for a challenger of `labelHorizon`-session labels could never decide, if it could
 * not: an explicit ab.deadlineSeconds shorter than minAbDeadlineSeconds, or labels so long that no
 * deadline a plan may set is long enough. Undefined for a canary plan (its A/B part does not run).
 */
export function abDeadlineProblem(plan: { mode?: 'canary' | 'ab'; ab?: { deadlineSeconds?: number; alpha?: number } }, labelHorizon: number): { path: string[]; message: string } | undefined {
  if (plan.mode !== 'ab') return undefined;
  const alpha = plan.ab?.alpha ?? 0.05;
  const min = minAbDeadlineSeconds(labelHorizon, alpha);
  const sessions = minSessionsToDecide(labelHorizon, alpha);
  const why = `an A/B test of ${labelHorizon}-session labels at alpha ${alpha} decides on no fewer than ${sessions} sessions (${minBlocksToDecide(alpha)} complete blocks of matured days, the last maturing ${labelHorizon} session${labelHorizon === 1 ? '' : 's'} after its prediction), about ${daysText(min)}`;
  if (min > MAX_STEP_DEADLINE_SECONDS) return { path: ['mode'], message: `${why}, beyond the longest deadline a plan may set (${daysText(MAX_STEP_DEADLINE_SECONDS)}): deploy it as a canary` };
  const deadline = plan.ab?.deadlineSeconds;
  if (deadline === undefined || deadline >= min) return undefined;
  return {
    path: ['ab', 'deadlineSeconds'],
    message: `${deadline} s (${(deadline / DAY_SECONDS).toFixed(1)} days) is shorter than any decision needs: ${why} (${min} s); the test could only end undecided with the champion kept. Leave it out for the default (${daysText(defaultAbDeadlineSeconds(labelHorizon, alpha))}) or give at least ${min}`,
  };
}

/**
 * Parses and checks a deployment request. `labelHorizon`: the challenger's label horizon in
 * sessions, for the default step and A/B deadlines (unknown: 1, the shortest deadlines any label
 * has) and the refusal of an A/B deadline too short to decide (only when known: not guessed);
 * `tooShortAbDeadline: 'default'` replaces such a deadline by the default instead (plans stored
 * before the rule).
 */
export function parseDeploymentRequest(raw: unknown, context: { labelHorizon?: number; tooShortAbDeadline?: 'refuse' | 'default' } = {}): DeploymentPlan {
  const parsed = deploymentRequestSchema.safeParse(raw);
  if (!parsed.success) throw new BadInputError(`invalid deployment request: ${describeValidationError(parsed.error)}`);
  const h = context.labelHorizon ?? 1;
  const { canary } = parsed.data;
  let { ab } = parsed.data;
  if (context.labelHorizon !== undefined) {
    const problem = abDeadlineProblem(parsed.data, context.labelHorizon);
    // An experiment's plan (its file was checked when read) stored before the rule carries the old
    // 14-day default: it takes the horizon's default instead of failing after its run has trained.
    if (problem && problem.path[0] === 'ab' && context.tooShortAbDeadline === 'default') ab = { ...ab, deadlineSeconds: undefined };
    else if (problem) throw new BadInputError(`invalid deployment request: ${problem.path.join('.')}: ${problem.message}`);
  }
  const plan: DeploymentPlan = {
    ...parsed.data,
    canary: { ...canary, stepDeadlineSeconds: canary.stepDeadlineSeconds ?? defaultStepDeadlineSeconds(h) },
    ab: { ...ab, deadlineSeconds: ab.deadlineSeconds ?? defaultAbDeadlineSeconds(h, ab.alpha) },
  };
  return plan;
}
