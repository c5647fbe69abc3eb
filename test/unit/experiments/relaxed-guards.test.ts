import fs from 'node:fs';
import path from 'node:path';
import { experimentSchema } from '../../../lib/experiments/experiment';
import { relaxedGuardsOf } from '../../../lib/experiments/relaxed-guards';

const base = { name: 'x', label: { kind: 'direction', horizon: 5 }, algorithms: [{ algorithm: 'logistic_regression' }] };
const parse = (extra: Record<string, unknown>) => experimentSchema.parse({ ...base, ...extra });

describe('relaxedGuardsOf', () => {
  it('finds nothing relaxed in the defaults, in tighter settings, or in the shipped experiments', () => {
    expect(relaxedGuardsOf(parse({}))).toEqual([]);
    expect(relaxedGuardsOf(parse({ guards: { pointInTime: { rows: 500, dates: 10 }, shuffledLabelTolerance: 0.02, plausibility: { direction: { maxAuc: 0.58 } }, degenerateScores: { maxConstantDays: 0.01, maxTiedCutDays: 0.1 }, onTrip: 'fail' } }))).toEqual([]);
    const dir = path.resolve(__dirname, '../../../experiments');
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json'))) expect([file, relaxedGuardsOf(experimentSchema.parse(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'))))]).toEqual([file, []]);
  });

  it('records every guard switched off or loosened beyond its default, naming the setting', () => {
    // The independent check's settings: every leakage guard off or unable to trip.
    const e = parse({ guards: { pointInTime: { rows: 0 }, singleFeatureScan: false, shuffledLabel: false, shuffledLabelTolerance: 0.5, plausibility: { direction: { maxAuc: 1, maxAucAboveBaseline: 0.5, maxAccuracy: 1 } }, degenerateScores: { maxConstantDays: 1, maxTiedCutDays: 1 } } });
    expect(relaxedGuardsOf(e).map((r) => `${r.guard} ${r.status}: ${r.message}`)).toEqual([
      'point_in_time_audit not_run: not run: disabled by guards.pointInTime.rows 0',
      'single_feature_scan not_run: not run: disabled by guards.singleFeatureScan false',
      'shuffled_label not_run: not run: disabled by guards.shuffledLabel false',
      'plausibility_bound loosened: bound loosened: guards.plausibility.direction.maxAuc 1 > default 0.6',
      'plausibility_bound loosened: bound loosened: guards.plausibility.direction.maxAucAboveBaseline 0.5 > default 0.08',
      'plausibility_bound loosened: bound loosened: guards.plausibility.direction.maxAccuracy 1 > default 0.65',
      'degenerate_scores loosened: bound loosened: guards.degenerateScores.maxConstantDays 1 > default 0.05',
      'degenerate_scores loosened: bound loosened: guards.degenerateScores.maxTiedCutDays 1 > default 0.2',
    ]);
  });

  it('judges the bound of the label kind trained on, the legacy accuracy name, a smaller audit and a wider tolerance', () => {
    // Another kind's bound does not apply; volatility regime's own defaults are higher.
    expect(relaxedGuardsOf(parse({ guards: { plausibility: { triple_barrier: { maxAuc: 0.9 } } } }))).toEqual([]);
    expect(relaxedGuardsOf(parse({ label: { kind: 'volatility_regime', horizon: 20 }, guards: { plausibility: { volatility_regime: { maxAuc: 0.9 } } } }))).toEqual([]);
    expect(relaxedGuardsOf(parse({ label: { kind: 'volatility_regime', horizon: 20 }, guards: { plausibility: { volatility_regime: { maxAuc: 0.99 } } } })).map((r) => r.message)).toEqual(['bound loosened: guards.plausibility.volatility_regime.maxAuc 0.99 > default 0.95']);
    expect(relaxedGuardsOf(parse({ guards: { plausibleDirectionAccuracy: 0.8 } })).map((r) => r.message)).toEqual(['bound loosened: guards.plausibleDirectionAccuracy 0.8 > default 0.65']);
    expect(relaxedGuardsOf(parse({ guards: { pointInTime: { rows: 30, dates: 3 }, shuffledLabelTolerance: 0.05 } })).map((r) => [r.guard, r.status, r.message])).toEqual([
      ['point_in_time_audit', 'loosened', 'sample reduced: guards.pointInTime.rows 30 < default 200'],
      ['point_in_time_audit', 'loosened', 'sample reduced: guards.pointInTime.dates 3 < default 6'],
      ['shuffled_label', 'loosened', 'bound loosened: guards.shuffledLabelTolerance 0.05 > default 0.03'],
    ]);
  });
});

describe('promotion.alpha above the default', () => {
  it('is a loosened baseline_evidence (0.99 tested in name only); 1 turns the tests off; the default or lower is none', () => {
    expect(relaxedGuardsOf(parse({ promotion: { alpha: 0.99 } })).map((r) => [r.guard, r.status, r.message])).toEqual([['baseline_evidence', 'loosened', 'evidence level raised: promotion.alpha 0.99 > default 0.05']]);
    expect(relaxedGuardsOf(parse({ promotion: { alpha: 1 } })).map((r) => r.status)).toEqual(['not_run']);
    expect(relaxedGuardsOf(parse({ promotion: { alpha: 0.05 } }))).toEqual([]);
    expect(relaxedGuardsOf(parse({ promotion: { alpha: 0.01 } }))).toEqual([]);
  });
});

describe('trading costs under a Sharpe promotion', () => {
  it('are a loosened setting when below the defaults (1 + 5 bps), and only when Sharpe decides', () => {
    const sharpe = { metric: 'sharpe' as const };
    expect(relaxedGuardsOf(parse({ promotion: sharpe, backtest: { costBps: 0, slippageBps: 0 } })).map((r) => [r.guard, r.status, r.message])).toEqual([
      ['backtest_costs', 'loosened', 'costs lowered: backtest.costBps 0 + backtest.slippageBps 0 = 0 bps per unit of turnover < default 6 under a Sharpe promotion'],
    ]);
    expect(relaxedGuardsOf(parse({ promotion: sharpe, backtest: { strategy: 'long_short', threshold: 0.6, borrowRate: 0, riskFreeRate: -0.02, periodsPerYear: 365 } })).map((r) => r.setting)).toEqual([
      'backtest.borrowRate',
      'backtest.riskFreeRate',
      'backtest.periodsPerYear',
    ]);
    // Borrowing costs nothing on a long-only book.
    expect(relaxedGuardsOf(parse({ promotion: sharpe, backtest: { borrowRate: 0 } }))).toEqual([]);
    expect(relaxedGuardsOf(parse({ promotion: sharpe, backtest: { costBps: 4, slippageBps: 2 } }))).toEqual([]);
    expect(relaxedGuardsOf(parse({ promotion: sharpe, backtest: { costBps: 10, slippageBps: 10 } }))).toEqual([]);
    // AUC or accuracy promotion does not read the backtest: costs there change no decision.
    expect(relaxedGuardsOf(parse({ backtest: { costBps: 0, slippageBps: 0 } }))).toEqual([]);
  });
});

describe('promotion.allowRelaxedGuards', () => {
  it('is absent by default and needs a reason', () => {
    expect(parse({}).promotion.allowRelaxedGuards).toBeUndefined();
    expect(parse({ promotion: { allowRelaxedGuards: { reason: 'smoke test on 3 symbols' } } }).promotion.allowRelaxedGuards).toEqual({ reason: 'smoke test on 3 symbols' });
    expect(experimentSchema.safeParse({ ...base, promotion: { allowRelaxedGuards: true } }).success).toBe(false);
    expect(experimentSchema.safeParse({ ...base, promotion: { allowRelaxedGuards: {} } }).success).toBe(false);
    expect(experimentSchema.safeParse({ ...base, promotion: { allowRelaxedGuards: { reason: '   ' } } }).success).toBe(false);
  });
});

describe('promotion floors below their defaults', () => {
  it('are loosened promotion_floor settings: minAuc below 0.5, margin below 0.005', () => {
    expect(relaxedGuardsOf(parse({ promotion: { minAuc: 0, margin: 0 } })).map((r) => [r.guard, r.status, r.setting, r.message])).toEqual([
      ['promotion_floor', 'loosened', 'promotion.minAuc', 'floor lowered: promotion.minAuc 0 < default 0.5'],
      ['promotion_floor', 'loosened', 'promotion.margin', 'floor lowered: promotion.margin 0 < default 0.005'],
    ]);
    expect(relaxedGuardsOf(parse({ promotion: { minAuc: 0.55, margin: 0.01 } }))).toEqual([]);
    expect(relaxedGuardsOf(parse({ promotion: { minAuc: 0.5, margin: 0.005 } }))).toEqual([]);
  });
});

describe('deployment thresholds of a plan a promotion starts', () => {
  const deployment = (deploy: 'auto' | 'manual' | 'off', plan: Record<string, unknown>) => parse({ promotion: { deploy, deployment: plan } });

  it('are loosened deployment_thresholds when they let a worse or less healthy canary through, each named', () => {
    const thresholds = { maxErrorRate: 0.5, maxP99LatencyMs: 500, grossErrorRate: 0.9, minServingPredictions: 5, minMaturedPairs: 3, maxHitRateDrop: 1, maxPsi: 5, minScoreShift: 0.5, alpha: 0.99 };
    expect(relaxedGuardsOf(deployment('auto', { canary: { thresholds, failureLimit: 3 } })).map((r) => [r.guard, r.status, r.message])).toEqual([
      ['deployment_thresholds', 'loosened', 'bound loosened: promotion.deployment.canary.thresholds.maxErrorRate 0.5 > default 0.01'],
      ['deployment_thresholds', 'loosened', 'bound loosened: promotion.deployment.canary.thresholds.maxP99LatencyMs 500 > default 50'],
      ['deployment_thresholds', 'loosened', 'bound loosened: promotion.deployment.canary.thresholds.grossErrorRate 0.9 > default 0.2'],
      ['deployment_thresholds', 'loosened', 'sample reduced: promotion.deployment.canary.thresholds.minServingPredictions 5 < default 50'],
      ['deployment_thresholds', 'loosened', 'sample reduced: promotion.deployment.canary.thresholds.minMaturedPairs 3 < default 30'],
      ['deployment_thresholds', 'loosened', 'bound loosened: promotion.deployment.canary.thresholds.maxHitRateDrop 1 > default 0.05'],
      ['deployment_thresholds', 'loosened', 'bound loosened: promotion.deployment.canary.thresholds.maxPsi 5 > default 0.25'],
      ['deployment_thresholds', 'loosened', 'bound loosened: promotion.deployment.canary.thresholds.minScoreShift 0.5 > default 0.01'],
      ['deployment_thresholds', 'loosened', 'evidence level raised: promotion.deployment.canary.thresholds.alpha 0.99 > default 0.05'],
      ['deployment_thresholds', 'loosened', 'bound loosened: promotion.deployment.canary.failureLimit 3 > default 1'],
    ]);
    // The probe's plan: {maxHitRateDrop: 1, alpha: 0.99}, manual deployments run it too once approved.
    expect(relaxedGuardsOf(deployment('manual', { canary: { thresholds: { maxHitRateDrop: 1, alpha: 0.99 } } })).map((r) => r.setting)).toEqual(['promotion.deployment.canary.thresholds.maxHitRateDrop', 'promotion.deployment.canary.thresholds.alpha']);
  });

  it('judge an A/B plan by what the A/B test reads: its alpha and sample, and the serving guards', () => {
    const e = deployment('auto', { mode: 'ab', ab: { alpha: 0.3, minSamplesPerVariant: 10 }, canary: { thresholds: { maxErrorRate: 0.2, maxHitRateDrop: 1 }, failureLimit: 5 } });
    expect(relaxedGuardsOf(e).map((r) => r.setting)).toEqual(['promotion.deployment.canary.thresholds.maxErrorRate', 'promotion.deployment.ab.alpha', 'promotion.deployment.ab.minSamplesPerVariant']);
  });

  it('count a challenger serving more traffic than the default before any analysis has judged it: a first canary step above 5% without a shadow phase, an A/B weight above 0.5', () => {
    const shares = (deploy: 'auto' | 'manual', plan: Record<string, unknown>) => relaxedGuardsOf(deployment(deploy, plan)).map((r) => [r.guard, r.status, r.setting, r.message]);
    // All traffic at once, no canary at all.
    expect(shares('auto', { canary: { steps: [100] } })).toEqual([['deployment_thresholds', 'loosened', 'promotion.deployment.canary.steps[0]', 'share before any analysis raised: promotion.deployment.canary.steps[0] 100 > default 5 (percent of the traffic; no shadow phase judges the challenger first)']]);
    expect(shares('manual', { canary: { steps: [10, 100] } }).map((r) => r[2])).toEqual(['promotion.deployment.canary.steps[0]']);
    // The champion keeps 1%.
    expect(shares('auto', { mode: 'ab', ab: { challengerWeight: 0.99 } })).toEqual([['deployment_thresholds', 'loosened', 'promotion.deployment.ab.challengerWeight', 'share before any analysis raised: promotion.deployment.ab.challengerWeight 0.99 > default 0.5 (the control\'s share, which the serving guards compare the challenger with, shrinks too)']]);
    // A shadow phase judges the challenger before its first step (widening evidence scaled to that step's share).
    expect(shares('auto', { shadowSeconds: 3600, canary: { steps: [100] } })).toEqual([]);
    expect(shares('auto', { shadowSeconds: 3600, canary: { steps: [50, 100] } })).toEqual([]);
    // Only what the plan's mode runs: a canary's steps in an A/B plan, an A/B weight in a canary plan, are not.
    expect(shares('auto', { mode: 'ab', canary: { steps: [100] } })).toEqual([]);
    expect(shares('auto', { canary: { steps: [5, 25, 50, 100] }, ab: { challengerWeight: 0.99 } })).toEqual([]);
  });

  it('are none when tighter or equal to the defaults, or when no deployment is started (deploy "off")', () => {
    expect(relaxedGuardsOf(deployment('auto', { canary: { thresholds: { maxErrorRate: 0.005, maxHitRateDrop: 0.03, alpha: 0.01, minMaturedPairs: 100 } } }))).toEqual([]);
    // Fewer, larger steps after the first: each widens only on evidence scaled to the share it moves to.
    expect(relaxedGuardsOf(deployment('auto', { canary: { steps: [5, 100], analysisSeconds: 60 } }))).toEqual([]);
    expect(relaxedGuardsOf(deployment('auto', { canary: { steps: [1, 2, 5, 25, 50, 100], stepDeadlineSeconds: 30 * 86_400 }, ab: { challengerWeight: 0.9 } }))).toEqual([]);
    expect(relaxedGuardsOf(deployment('auto', { mode: 'ab', ab: { challengerWeight: 0.1, deadlineSeconds: 90 * 86_400, maxSamplesPerVariant: 500 } }))).toEqual([]);
    expect(relaxedGuardsOf(deployment('off', { canary: { thresholds: { maxHitRateDrop: 1 } } }))).toEqual([]);
  });
});
