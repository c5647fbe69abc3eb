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

export function relaxedGuardsOf(experiment: {
  guards: GuardsConfig;
  label: { kind: Experiment['label']['kind'] };
  promotion?: { alpha?: number; metric?: Experiment['promotion']['metric'] };
  backtest?: Pick<BacktestOptions, 'costBps' | 'slippageBps'>;
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
  if ((experiment.promotion?.alpha ?? 0.05) >= 1) out.push({ guard: 'baseline_evidence', status: 'not_run', setting: 'promotion.alpha', message: 'not run: the tests against the naive baselines and the champion are disabled by promotion.alpha 1' });

  // Trading costs below the defaults flatter exactly what a Sharpe promotion judges: a strategy
  // losing money after 6 bps per unit of turnover became first champion at 0.
  const costs = experiment.backtest;
  if (experiment.promotion?.metric === 'sharpe' && costs !== undefined) {
    const given = costs.costBps + costs.slippageBps;
    const dflt = BACKTEST_DEFAULTS.costBps + BACKTEST_DEFAULTS.slippageBps;
    if (given < dflt) {
      out.push({ guard: 'backtest_costs', status: 'loosened', setting: 'backtest.costBps + backtest.slippageBps', message: `costs lowered under a Sharpe promotion: backtest.costBps ${costs.costBps} + backtest.slippageBps ${costs.slippageBps} = ${given} bps per unit of turnover < default ${dflt}` });
    }
  }

  const d = g.degenerateScores;
  if (d.maxConstantDays > DEFAULTS.degenerateScores.maxConstantDays) looser('degenerate_scores', 'guards.degenerateScores.maxConstantDays', d.maxConstantDays, DEFAULTS.degenerateScores.maxConstantDays);
  if (d.maxTiedCutDays > DEFAULTS.degenerateScores.maxTiedCutDays) looser('degenerate_scores', 'guards.degenerateScores.maxTiedCutDays', d.maxTiedCutDays, DEFAULTS.degenerateScores.maxTiedCutDays);
  return out;
}
