/**
 * What a deployment does, declared: canary steps or an A/B test, analysis timing, thresholds.
 * Parsed once (by the activity that starts a deployment) so the workflow only sees valid plans.
 */
import { z } from 'zod';
import { BadInputError, describeValidationError } from '../errors';
import { canaryThresholdsSchema, type CanaryThresholds } from './canary-analysis';

/** The longest step deadline a plan may set, and the cap of the default. */
const MAX_STEP_DEADLINE_SECONDS = 365 * 86_400;

// Temporal timers resolve to about a second, so shorter waits would only pretend to be shorter.
const seconds = (d: number) => z.number().min(1).max(30 * 86_400).default(d);
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
      /** The test ends undecided (champion kept) after this long. */
      deadlineSeconds: seconds(14 * 86_400),
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
/** A parsed request, every default filled in (stepDeadlineSeconds too). */
export type DeploymentPlan = Omit<ParsedRequest, 'canary'> & { canary: ParsedRequest['canary'] & { stepDeadlineSeconds: number } };

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
  return Math.min(MAX_STEP_DEADLINE_SECONDS, Math.ceil(((60 + 10 * labelHorizon) * 7) / 5) * 86_400);
}

/**
 * Parses and checks a deployment request. `labelHorizon`: the challenger's label horizon in
 * sessions, for the default step deadline (unknown: 1, the shortest deadline any label has).
 */
export function parseDeploymentRequest(raw: unknown, context: { labelHorizon?: number } = {}): DeploymentPlan {
  const parsed = deploymentRequestSchema.safeParse(raw);
  if (!parsed.success) throw new BadInputError(`invalid deployment request: ${describeValidationError(parsed.error)}`);
  const { stepDeadlineSeconds } = parsed.data.canary;
  const plan: DeploymentPlan = { ...parsed.data, canary: { ...parsed.data.canary, stepDeadlineSeconds: stepDeadlineSeconds ?? defaultStepDeadlineSeconds(context.labelHorizon ?? 1) } };
  return plan;
}
