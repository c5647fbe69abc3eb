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
import { guardsSchema, plausibilityFor, type Experiment, type GuardsConfig } from './experiment';

/** The settings an experiment without `guards` gets: the yardstick for "loosened". */
const DEFAULTS = guardsSchema.parse(undefined);
const BACKTEST_DEFAULTS = backtestOptionsSchema.parse({});
/** The promotion level an experiment without `promotion.alpha` gets. */
const DEFAULT_ALPHA = 0.05;

export function relaxedGuardsOf(experiment: {
  guards: GuardsConfig;
  label: { kind: Experiment['label']['kind'] };
  promotion?: { alpha?: number; metric?: Experiment['promotion']['metric'] };
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
