/**
 * Which leakage guards an experiment switched off or loosened beyond the defaults (and whether it
 * switched off the evidence tests against the naive baselines), each as a verdict
 * of its own ("not run" / "loosened") for the candidate's record, the run report and the promotion
 * decision. Automatic promotion refuses a candidate with any of them unless the experiment carries
 * `promotion.allowRelaxedGuards` with a reason (lib/registry/promotion.ts).
 */
import type { RelaxedGuard } from '../registry/promotion';
import { backtestOptionsSchema, type BacktestOptions } from '../backtest/input';
import { DEFAULT_PLAUSIBILITY, type PlausibilityBound } from '../training/guards';
import { deploymentOptionsSchema } from '../deployment/plan';
import { guardsSchema, plausibilityFor, type Experiment, type GuardsConfig } from './experiment';

/** The settings an experiment without `guards` gets: the yardstick for "loosened". */
const DEFAULTS = guardsSchema.parse(undefined);
const BACKTEST_DEFAULTS = backtestOptionsSchema.parse({});
/** The promotion level an experiment without `promotion.alpha` gets. */
const DEFAULT_ALPHA = 0.05;
/** The floors an experiment without `promotion.minAuc` / `promotion.margin` gets. */
const DEFAULT_MIN_AUC = 0.5;
const DEFAULT_MARGIN = 0.005;
/** The plan a promotion's deployment runs without promotion.deployment: the yardstick for its thresholds. */
const PLAN_DEFAULTS = deploymentOptionsSchema.parse({ canary: {}, ab: {} }) as Required<Pick<DeploymentOptions, 'canary' | 'ab'>>;

type DeploymentOptions = NonNullable<Experiment['promotion']['deployment']>;
type Thresholds = Required<DeploymentOptions>['canary']['thresholds'];
/** Whether a larger value of a threshold lets more through ('up') or a smaller one ('down': samples), and the word for it. */
type Direction = { looser: 'up' | 'down'; what: string };
/** What an A/B test reads of canary.thresholds: the serving guards (lib/deployment/ab-report.ts). */
const SERVING_THRESHOLDS = {
  maxErrorRate: { looser: 'up', what: 'bound loosened' },
  maxP99LatencyMs: { looser: 'up', what: 'bound loosened' },
  grossErrorRate: { looser: 'up', what: 'bound loosened' },
  minServingPredictions: { looser: 'down', what: 'sample reduced' },
} satisfies Partial<Record<keyof Thresholds, Direction>>;
const CANARY_THRESHOLDS: Record<keyof Thresholds, Direction> = {
  ...SERVING_THRESHOLDS,
  minMaturedPairs: { looser: 'down', what: 'sample reduced' },
  maxHitRateDrop: { looser: 'up', what: 'bound loosened' },
  maxPsi: { looser: 'up', what: 'bound loosened' },
  minScoreShift: { looser: 'up', what: 'bound loosened' },
  alpha: { looser: 'up', what: 'evidence level raised' },
};

export function relaxedGuardsOf(experiment: {
  guards: GuardsConfig;
  label: { kind: Experiment['label']['kind'] };
  promotion?: { alpha?: number; metric?: Experiment['promotion']['metric']; minAuc?: number; margin?: number; deploy?: Experiment['promotion']['deploy']; deployment?: DeploymentOptions };
  backtest?: Pick<BacktestOptions, 'costBps' | 'slippageBps'> & Partial<Pick<BacktestOptions, 'strategy' | 'borrowRate' | 'riskFreeRate' | 'periodsPerYear'>>;
}): RelaxedGuard[] {
  const g = experiment.guards;
  const out: RelaxedGuard[] = [];
  const notRun = (guard: RelaxedGuard['guard'], setting: string, value: unknown) => out.push({ guard, status: 'not_run', setting, message: `not run: disabled by ${setting} ${String(value)}` });
  const looser = (guard: RelaxedGuard['guard'], setting: string, value: number, dflt: number, what = 'bound loosened') => out.push({ guard, status: 'loosened', setting, message: `${what}: ${setting} ${value} ${value > dflt ? '>' : '<'} default ${dflt}` });

  if (g.pointInTime.rows === 0) notRun('point_in_time_audit', 'guards.pointInTime.rows', 0);
  else {
    // A smaller sample finds a look-ahead on fewer dates: less power, the same kind of relaxation.
    if (g.pointInTime.rows < DEFAULTS.pointInTime.rows) looser('point_in_time_audit', 'guards.pointInTime.rows', g.pointInTime.rows, DEFAULTS.pointInTime.rows, 'sample reduced');
    if (g.pointInTime.dates < DEFAULTS.pointInTime.dates) looser('point_in_time_audit', 'guards.pointInTime.dates', g.pointInTime.dates, DEFAULTS.pointInTime.dates, 'sample reduced');
  }
  if (!g.singleFeatureScan) notRun('single_feature_scan', 'guards.singleFeatureScan', false);
  if (!g.shuffledLabel) notRun('shuffled_label', 'guards.shuffledLabel', false);
  else if (g.shuffledLabelTolerance > DEFAULTS.shuffledLabelTolerance) looser('shuffled_label', 'guards.shuffledLabelTolerance', g.shuffledLabelTolerance, DEFAULTS.shuffledLabelTolerance);

  // Only the label kind trained on matters; the bound is also the single-feature scan's ceiling.
  const kind = experiment.label.kind;
  const bound = plausibilityFor(experiment);
  const own = g.plausibility[kind] ?? {};
  const keys: Array<keyof PlausibilityBound> = ['maxAuc', 'maxAucAboveBaseline', 'maxAccuracy'];
  for (const key of keys) {
    const dflt = DEFAULT_PLAUSIBILITY[kind][key];
    if (!(bound[key] > dflt)) continue;
    const setting = own[key] === undefined && key === 'maxAccuracy' ? 'guards.plausibleDirectionAccuracy' : `guards.plausibility.${kind}.${key}`;
    looser('plausibility_bound', setting, bound[key], dflt);
  }

  // The evidence tests are no leakage guard, but off they let a model worse than a naive baseline promote on its point score alone.
  const alpha = experiment.promotion?.alpha ?? DEFAULT_ALPHA;
  if (alpha >= 1) out.push({ guard: 'baseline_evidence', status: 'not_run', setting: 'promotion.alpha', message: 'not run: the tests against the naive baselines and the champion are disabled by promotion.alpha 1' });
  // 0.99 tests in name only: a no-edge model 0.003 AUC above market breadth (p 0.45) became first champion.
  else if (alpha > DEFAULT_ALPHA) looser('baseline_evidence', 'promotion.alpha', alpha, DEFAULT_ALPHA, 'evidence level raised');

  // Floors a challenger must pass: minAuc 0 let a model worse than chance become first champion, margin 0 replace one it merely ties.
  const p = experiment.promotion;
  if (p?.minAuc !== undefined && p.minAuc < DEFAULT_MIN_AUC) looser('promotion_floor', 'promotion.minAuc', p.minAuc, DEFAULT_MIN_AUC, 'floor lowered');
  if (p?.margin !== undefined && p.margin < DEFAULT_MARGIN) looser('promotion_floor', 'promotion.margin', p.margin, DEFAULT_MARGIN, 'floor lowered');
  out.push(...relaxedDeploymentOf(p));

  // Backtest settings that flatter exactly what a Sharpe promotion judges: a strategy losing money
  // after 6 bps per unit of turnover became first champion at 0 costs.
  const b = experiment.backtest;
  if (experiment.promotion?.metric === 'sharpe' && b !== undefined) {
    const given = b.costBps + b.slippageBps;
    const dflt = BACKTEST_DEFAULTS.costBps + BACKTEST_DEFAULTS.slippageBps;
    const lowered = (setting: string, message: string) => out.push({ guard: 'backtest_costs', status: 'loosened', setting, message: `${message} under a Sharpe promotion` });
    if (given < dflt) lowered('backtest.costBps + backtest.slippageBps', `costs lowered: backtest.costBps ${b.costBps} + backtest.slippageBps ${b.slippageBps} = ${given} bps per unit of turnover < default ${dflt}`);
    // Borrowing is charged on shorts only; a rate below the default flatters a long/short book.
    if (b.strategy === 'long_short' && b.borrowRate !== undefined && b.borrowRate < BACKTEST_DEFAULTS.borrowRate) lowered('backtest.borrowRate', `borrowing cost lowered: backtest.borrowRate ${b.borrowRate} < default ${BACKTEST_DEFAULTS.borrowRate}`);
    // A negative rate adds |rf|/volatility to every Sharpe ratio: most to the calmest strategy.
    if (b.riskFreeRate !== undefined && b.riskFreeRate < BACKTEST_DEFAULTS.riskFreeRate) lowered('backtest.riskFreeRate', `risk-free rate lowered: backtest.riskFreeRate ${b.riskFreeRate} < default ${BACKTEST_DEFAULTS.riskFreeRate}`);
    // More periods a year annualise the same daily Sharpe ratio higher (margins are annual).
    if (b.periodsPerYear !== undefined && b.periodsPerYear > BACKTEST_DEFAULTS.periodsPerYear) lowered('backtest.periodsPerYear', `annualisation raised: backtest.periodsPerYear ${b.periodsPerYear} > default ${BACKTEST_DEFAULTS.periodsPerYear}`);
  }

  const d = g.degenerateScores;
  if (d.maxConstantDays > DEFAULTS.degenerateScores.maxConstantDays) looser('degenerate_scores', 'guards.degenerateScores.maxConstantDays', d.maxConstantDays, DEFAULTS.degenerateScores.maxConstantDays);
  if (d.maxTiedCutDays > DEFAULTS.degenerateScores.maxTiedCutDays) looser('degenerate_scores', 'guards.degenerateScores.maxTiedCutDays', d.maxTiedCutDays, DEFAULTS.degenerateScores.maxTiedCutDays);
  return out;
}

/**
 * The thresholds of the deployment a promotion starts (auto, or manual once a person approves its
 * start: the steps then run on them) that let a worse or less healthy challenger through than the
 * defaults: maxHitRateDrop 1 and alpha 0.99 promoted any canary. Only what the plan's mode reads: a
 * canary its nine thresholds and failureLimit; an A/B test the serving guards (error rates, latency,
 * minServingPredictions), ab.alpha and ab.minSamplesPerVariant.
 *
 * And the traffic a challenger serves before any analysis has judged it, which no threshold
 * protects: a canary's first step when no shadow phase precedes it (default 5%), an A/B test's
 * challengerWeight (default 0.5). Steps [100] gave the challenger all traffic at once, and an A/B
 * weight of 0.99 did nearly so while leaving the control 1%, the share the serving guards compare
 * the challenger with: a B failing 5% of its predictions against the control's and the allowed 1%
 * is failed after 600 served predictions (both arms, at their expected error counts) at 0.5, after
 * 13,400 at 0.99.
 * Not counted: a shadow phase judges the challenger before its first step, on evidence scaled to
 * that step's share; the later steps widen on the same scaled evidence (lib/deployment/canary-
 * analysis.ts: a canary worse by twice the margin reaches a share w with chance at most alpha / w,
 * whatever the steps), so fewer or larger steps after the first only move traffic sooner. Analysis
 * timing (every rule is anytime-valid), deadlines (an inconclusive step pauses for a person, an A/B
 * test ends keeping the champion) and passesPerStep (its default is its minimum) let no worse
 * challenger through, and deploy "auto" drops a person's approval of the start, not a rule.
 */
function relaxedDeploymentOf(promotion: { deploy?: Experiment['promotion']['deploy']; deployment?: DeploymentOptions } | undefined): RelaxedGuard[] {
  if (promotion?.deployment === undefined || promotion.deploy === 'off') return [];
  const plan = promotion.deployment;
  const out: RelaxedGuard[] = [];
  const judge = (setting: string, value: number | undefined, dflt: number, d: Direction, why = '') => {
    if (value === undefined || !(d.looser === 'up' ? value > dflt : value < dflt)) return;
    out.push({ guard: 'deployment_thresholds', status: 'loosened', setting: `promotion.deployment.${setting}`, message: `${d.what}: promotion.deployment.${setting} ${value} ${value > dflt ? '>' : '<'} default ${dflt}${why}` });
  };
  const unjudgedShare: Direction = { looser: 'up', what: 'share before any analysis raised' };
  const mode = plan.mode ?? 'canary';
  const thresholds = plan.canary?.thresholds;
  const read: Partial<Record<keyof Thresholds, Direction>> = mode === 'canary' ? CANARY_THRESHOLDS : SERVING_THRESHOLDS;
  for (const [key, d] of Object.entries(read) as Array<[keyof Thresholds, Direction]>) judge(`canary.thresholds.${key}`, thresholds?.[key], PLAN_DEFAULTS.canary.thresholds[key], d);
  if (mode === 'canary') {
    judge('canary.failureLimit', plan.canary?.failureLimit, PLAN_DEFAULTS.canary.failureLimit, { looser: 'up', what: 'bound loosened' });
    // The default plan has no shadow phase, so its first step is the share it serves unjudged.
    if (!((plan.shadowSeconds ?? 0) > 0)) judge('canary.steps[0]', plan.canary?.steps?.[0], PLAN_DEFAULTS.canary.steps[0], unjudgedShare, ' (percent of the traffic; no shadow phase judges the challenger first)');
  } else {
    judge('ab.alpha', plan.ab?.alpha, PLAN_DEFAULTS.ab.alpha, { looser: 'up', what: 'evidence level raised' });
    judge('ab.minSamplesPerVariant', plan.ab?.minSamplesPerVariant, PLAN_DEFAULTS.ab.minSamplesPerVariant, { looser: 'down', what: 'sample reduced' });
    judge('ab.challengerWeight', plan.ab?.challengerWeight, PLAN_DEFAULTS.ab.challengerWeight, unjudgedShare, " (the control's share, which the serving guards compare the challenger with, shrinks too)");
  }
  return out;
}
