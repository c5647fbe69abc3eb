import { candidateScoresOf, challengeLevel, challengeShare, promotionDecision, servingVeto, type CandidateScores, type MetricEvidence, type RelaxedGuard } from '../../lib/registry/promotion';
import { LEAKY_METRICS } from '../helpers/registration';

const policy = { metric: 'auc' as const, margin: 0.005, minAuc: 0.5, alpha: 0.05 };
const beats: MetricEvidence = { versus: 'momentum_sign', difference: 0.02, lower: 0.008, pValue: 0.001 };
const scores = (auc: number, extra: Partial<CandidateScores> = {}): CandidateScores => ({ auc, accuracyLift: 0.01, sharpe: 0.5, shuffledLabelPassed: true, evidence: { auc: beats, accuracy_lift: beats, sharpe: beats }, ...extra });

describe('promotion policy', () => {
  it('promotes the first model that passes the floors and beats its baseline, then only a margin winner', () => {
    expect(promotionDecision(scores(0.52), undefined, policy)).toMatchObject({ promote: true, reason: expect.stringMatching(/^no champion yet; auc 0\.5200 passes the floors; beats momentum_sign: auc \+0\.0200 over momentum_sign/) });
    expect(promotionDecision(scores(0.49), undefined, policy)).toEqual({ promote: false, reason: 'not promoted: out-of-sample AUC 0.4900 is below the floor 0.5' });
    expect(promotionDecision(scores(0.524), scores(0.52), policy)).toEqual({ promote: false, reason: "not promoted: auc 0.5240 does not beat the champion's 0.5200 by 0.005" });
    // Over a champion, the paired difference on the same rows must be significant too.
    const paired: MetricEvidence = { versus: 'champion v1 re-run, AUC difference on the same 4000 rows', difference: 0.006, lower: 0.001, pValue: 0.004, inference: 'paired, clustered by days and symbols' };
    expect(promotionDecision(scores(0.526, { versusChampion: { auc: paired } }), scores(0.52), policy)).toMatchObject({ promote: true, reason: expect.stringMatching(/^auc 0\.5260 beats the champion's 0\.5200 on the same period by at least 0\.005; paired on the same rows: auc \+0\.0060 over champion v1 re-run/) });
    expect(promotionDecision(scores(0.6), scores(0.52), { ...policy, metric: 'sharpe' }).promote).toBe(false);
  });

  it('does not promote a model that is no better than its strongest naive baseline, even as the first champion', () => {
    // AUC 0.506 with accuracy equal to the baseline (p = 1): once promoted and deployed as "passing the floors".
    const weak = scores(0.506, { evidence: { auc: { versus: 'pre_period_majority', difference: 0.006, lower: -0.011, pValue: 0.24 }, accuracy_lift: { versus: 'always_up', difference: 0, lower: -0.02, pValue: 1 } } });
    const auc = promotionDecision(weak, undefined, policy);
    expect(auc.promote).toBe(false);
    expect(auc.reason).toMatch(/^not promoted: no evidence it beats the strongest naive baseline: auc \+0\.0060 over pre_period_majority .*p 0\.24.*below 0\.0250 \(0\.05 \/ 2: challenge 1/);
    expect(promotionDecision(weak, undefined, { ...policy, metric: 'accuracy_lift' }).reason).toMatch(/accuracy_lift \+0\.0000 over always_up/);
    // Without evidence at all (an older report) nothing is promoted either.
    expect(promotionDecision(scores(0.6, { evidence: undefined }), undefined, policy).reason).toMatch(/no day-aware evidence/);
    // The best of four algorithms is tested at its challenge's share of 0.05, / 4: p 0.02 is not enough then, but is for a single one.
    const picked = scores(0.54, { evidence: { auc: { versus: 'momentum_sign', difference: 0.025, lower: -0.002, pValue: 0.02 } } });
    expect(promotionDecision({ ...picked, candidatesCompared: 4 }, undefined, policy).reason).toMatch(/p 0\.020, clustered by days and symbols\), p must be below 0\.00625 \(0\.05 \/ 2: challenge 1 \(no earlier challenge counted\) on this period, 0\.05 spent over all of them; \/ 4: the best of 4 algorithms was picked\)$/);
    expect(promotionDecision({ ...picked, candidatesCompared: 1 }, undefined, policy).promote).toBe(true);
    // alpha 1 turns the requirement off (tests, deliberate overrides).
    expect(promotionDecision(weak, undefined, { ...policy, alpha: 1 }).promote).toBe(true);
  });

  it('spends alpha once over every challenge of a champion on a period: the n-th gets alpha / (n(n + 1)), / k', () => {
    const levels = Array.from({ length: 2000 }, (_, i) => challengeLevel(0.05, { challenge: { number: i + 1, championVersion: 3 }, candidatesCompared: 1 }).level);
    expect(levels.slice(0, 3)).toEqual([0.025, 0.05 / 6, 0.05 / 12]);
    expect(levels.every((l, i) => i === 0 || l < levels[i - 1])).toBe(true);
    expect(levels.reduce((a, b) => a + b, 0)).toBeLessThan(0.05);
    expect(challengeShare(1) + challengeShare(2) + challengeShare(3)).toBeCloseTo(0.75, 12);
    expect(challengeLevel(0.05, { challenge: { number: 2, championVersion: null }, candidatesCompared: 4 })).toEqual({ level: 0.05 / 6 / 4, text: '0.00208 (0.05 / 6: challenge 2 of "no champion yet" on this period, 0.05 spent over all of them; / 4: the best of 4 algorithms was picked)' });
    // The second challenge of the same champion fails where the first passed.
    const e: MetricEvidence = { versus: 'momentum_sign', difference: 0.02, lower: 0.001, pValue: 0.02 };
    expect(promotionDecision(scores(0.55, { evidence: { auc: e }, challenge: { number: 1, championVersion: null } }), undefined, policy).promote).toBe(true);
    expect(promotionDecision(scores(0.55, { evidence: { auc: e }, challenge: { number: 2, championVersion: null } }), undefined, policy).promote).toBe(false);
  });

  it('reads an undefined p-value (NaN, null once through Temporal\'s JSON) as no evidence', () => {
    const undefinedP = { versus: 'momentum_sign', difference: 0.03, lower: NaN, pValue: null as unknown as number };
    expect(promotionDecision(scores(0.56, { evidence: { auc: undefinedP } }), undefined, policy)).toEqual({ promote: false, reason: expect.stringMatching(/^not promoted: no evidence it beats the strongest naive baseline: auc \+0\.0300 over momentum_sign \(95% interval from NaN, one-sided p undefined,/) });
    expect(promotionDecision(scores(0.56, { evidence: { auc: { ...undefinedP, pValue: NaN } } }), undefined, policy).promote).toBe(false);
    const paired = { versus: 'champion v1 re-run', difference: 0.01, lower: NaN, pValue: null as unknown as number };
    expect(promotionDecision(scores(0.56, { versusChampion: { auc: paired } }), scores(0.55), policy).reason).toMatch(/^not promoted: no evidence it beats the champion on the same rows/);
  });

  it('never promotes a model that tripped a guard, and names the guard and its evidence', () => {
    const leaking = scores(0.99, { trippedGuards: [{ guard: 'single_feature_scan', tripped: true, message: 'suspected leak: f3 alone scores AUC 1.0000' }] });
    expect(promotionDecision(leaking, undefined, policy)).toEqual({ promote: false, reason: 'not promoted: guard single_feature_scan tripped: suspected leak: f3 alone scores AUC 1.0000' });
    expect(promotionDecision(scores(0.9, { leakageAlarm: 'too good' }), undefined, policy).reason).toBe('not promoted: too good');
    expect(promotionDecision(scores(0.6, { shuffledLabelPassed: false }), undefined, policy).promote).toBe(false);
  });

  it('says a model was not the best of its run in its own words, not as a leakage alarm', () => {
    const other = scores(0.55, { bestOfRun: false, bestAlgorithm: 'gradient_boosting' });
    expect(promotionDecision(other, undefined, policy)).toEqual({ promote: false, reason: 'not promoted: not the best algorithm of its run (gradient_boosting is)' });
    expect(other.leakageAlarm).toBeUndefined();
  });

  it('reads the evidence and every tripped guard from an evaluation report', () => {
    const report = {
      classification: { rocAuc: 0.55 },
      baseline: { name: 'always_up', accuracyLift: 0.01, liftInterval: [-0.01, 0.03] as [number, number], pValue: 0.2 },
      auc: { versus: 'momentum_sign', difference: { value: 0.04, interval: [0.02, 0.06] as [number, number], pValue: 0.0004 } },
      backtest: {
        strategy: { sharpe: 1.1 },
        excessReturn: { value: 0.0002, interval: [-0.0001, 0.0005] as [number, number], pValue: 0.01 },
        excessReturnBenchmark: { exposure: 1, description: "buy-and-hold at the strategy's average net exposure (1.000)" },
        marketModel: { alpha: { value: 0.0001, interval: [-0.0001, 0.0003] as [number, number], pValue: 0.1 }, beta: { value: 1.4 } },
        sharpeDifference: { versus: 'buy_and_hold' as const, rivalSharpe: 1.3, difference: { value: -0.2, interval: [-0.9, 0.5] as [number, number], pValue: 0.7 } },
      },
      guards: [{ guard: 'plausibility_bound' as const, tripped: false, message: 'fine' }, { guard: 'degenerate_scores' as const, tripped: true, message: 'constant' }],
    };
    const s = candidateScoresOf(report, { datasetGuards: [{ guard: 'point_in_time_audit', tripped: true, message: 'ret_1 differs' }], shuffledLabel: { passed: true, message: 'at chance' } });
    expect(s.evidence).toEqual({
      auc: { versus: 'momentum_sign', difference: 0.04, lower: 0.02, pValue: 0.0004 },
      accuracy_lift: { versus: 'always_up', difference: 0.01, lower: -0.01, pValue: 0.2 },
      // The weakest of the three comparisons with the market is the evidence, naming the others.
      sharpe: {
        versus: "buy-and-hold's Sharpe ratio 1.30, annualised Sharpe difference",
        difference: -0.2,
        lower: -0.9,
        pValue: 0.7,
        inference: "paired by day, Newey–West (Ledoit–Wolf); and +0.0001 over buy-and-hold at the strategy's beta (1.40), alpha per day, one-sided p 0.10; and +0.0002 over buy-and-hold at the strategy's average net exposure (1.000), daily net return difference, one-sided p 0.010",
      },
    });
    // A report from before the market regression: no evidence on sharpe, rather than the exposure-matched return alone.
    expect(candidateScoresOf({ ...report, backtest: { strategy: { sharpe: 1.1 }, excessReturn: report.backtest.excessReturn } }).evidence?.sharpe).toBeUndefined();
    expect(s.trippedGuards?.map((g) => g.guard)).toEqual(['point_in_time_audit', 'degenerate_scores']);
    expect(promotionDecision(s, undefined, policy).reason).toMatch(/^not promoted: guard point_in_time_audit tripped: ret_1 differs; guard degenerate_scores tripped: constant$/);
  });

  it('has no Sharpe score nor evidence from a backtest too short to annualise, and says why', () => {
    // 3 days of a winning book annualise to a Sharpe ratio of 47.6, against buy-and-hold's 12.3.
    const short = {
      classification: { rocAuc: 0.6 },
      baseline: { name: 'always_up', accuracyLift: 0.05, liftInterval: [0.03, 0.07] as [number, number], pValue: 1e-6 },
      backtest: {
        strategy: { sharpe: 47.6, periods: 3 },
        marketModel: { alpha: { value: 0.01, interval: [0.005, 0.02] as [number, number], pValue: 0.001 }, beta: { value: 1 } },
        sharpeDifference: { versus: 'buy_and_hold' as const, rivalSharpe: 12.3, difference: { value: 35.3, interval: [20, 50] as [number, number], pValue: 0.001 } },
      },
      guards: [{ guard: 'plausibility_bound' as const, tripped: false, message: 'fine' }, { guard: 'degenerate_scores' as const, tripped: false, message: 'fine' }],
    };
    const datasetGuards = [{ guard: 'point_in_time_audit' as const, tripped: false, message: 'matches' }, { guard: 'single_feature_scan' as const, tripped: false, message: 'none' }];
    const s = candidateScoresOf(short, { datasetGuards, shuffledLabel: { passed: true, message: 'at chance' } });
    expect(s.sharpe).toBeNaN();
    expect(s.evidence?.sharpe).toBeUndefined();
    expect(promotionDecision(s, undefined, { ...policy, metric: 'sharpe' }).reason).toBe('not promoted: sharpe is not defined for this model: annualised Sharpe ratio n/a (3 periods; annualised from 20)');
    // From 20 periods on, as before.
    const long = candidateScoresOf({ ...short, backtest: { ...short.backtest, strategy: { sharpe: 1.2, periods: 20 } } });
    expect(long.sharpe).toBe(1.2);
    expect(long.evidence?.sharpe?.inference).toMatch(/buy-and-hold's Sharpe ratio 12\.30/);
  });
});

describe('guards that did not run or were loosened', () => {
  const report = {
    classification: { rocAuc: 0.6 },
    baseline: { name: 'always_up', accuracyLift: 0.05, liftInterval: [0.03, 0.07] as [number, number], pValue: 1e-6 },
    auc: { versus: 'momentum_sign', difference: { value: 0.1, interval: [0.08, 0.12] as [number, number], pValue: 1e-9 } },
    backtest: { strategy: { sharpe: 1 } },
    guards: [{ guard: 'plausibility_bound' as const, tripped: false, message: 'fine' }, { guard: 'degenerate_scores' as const, tripped: false, message: 'fine' }],
  };
  const dataset = [{ guard: 'point_in_time_audit' as const, tripped: false, message: 'matches' }, { guard: 'single_feature_scan' as const, tripped: false, message: 'none' }];
  const shuffled = { passed: true, message: 'at chance' };
  const off: RelaxedGuard[] = [
    { guard: 'shuffled_label', status: 'not_run', setting: 'guards.shuffledLabel', message: 'not run: disabled by guards.shuffledLabel false' },
    { guard: 'plausibility_bound', status: 'loosened', setting: 'guards.plausibility.direction.maxAuc', message: 'bound loosened: guards.plausibility.direction.maxAuc 1 > default 0.6' },
  ];

  it('counts a missing shuffled-label control or dataset verdict as not passed', () => {
    expect(promotionDecision(candidateScoresOf(report, { datasetGuards: dataset, shuffledLabel: shuffled }), undefined, policy).promote).toBe(true);
    const noControl = candidateScoresOf(report, { datasetGuards: dataset });
    expect(noControl.shuffledLabelPassed).toBeUndefined();
    expect(promotionDecision(noControl, undefined, policy)).toEqual({ promote: false, reason: 'not promoted: no verdict from shuffled_label: a guard that did not run is not passed' });
    expect(promotionDecision(candidateScoresOf(report, { datasetGuards: [], shuffledLabel: shuffled }), undefined, policy).reason).toBe('not promoted: no verdict from point_in_time_audit, single_feature_scan: a guard that did not run is not passed');
    expect(promotionDecision(scores(0.6, { shuffledLabelPassed: undefined }), undefined, policy).promote).toBe(false);
  });

  it('refuses relaxed guards unless the experiment allows them with a reason, which the decision names', () => {
    const relaxed = candidateScoresOf(report, { datasetGuards: dataset, relaxedGuards: off });
    const refused = promotionDecision(relaxed, undefined, policy);
    expect(refused.promote).toBe(false);
    expect(refused.reason).toBe(
      'not promoted: guards relaxed by the experiment: shuffled_label not run: disabled by guards.shuffledLabel false; plausibility_bound bound loosened: guards.plausibility.direction.maxAuc 1 > default 0.6; promote with the default guard settings, or set promotion.allowRelaxedGuards with a reason',
    );
    const allowed = promotionDecision(relaxed, undefined, { ...policy, allowRelaxedGuards: { reason: 'research run, reviewed by hand' } });
    expect(allowed.promote).toBe(true);
    expect(allowed.reason).toMatch(/; relaxed leakage guards allowed by promotion\.allowRelaxedGuards \("research run, reviewed by hand"\): shuffled_label not run: disabled by guards\.shuffledLabel false; plausibility_bound bound loosened: guards\.plausibility\.direction\.maxAuc 1 > default 0\.6$/);
    // A switched-off guard is no excuse for one that should have run: the audit's verdict is still required.
    expect(promotionDecision(candidateScoresOf(report, { datasetGuards: [dataset[1]], relaxedGuards: off }), undefined, { ...policy, allowRelaxedGuards: { reason: 'research run, reviewed by hand' } }).reason).toMatch(/^not promoted: no verdict from point_in_time_audit/);
    // Nor does the override pass a tripped guard.
    expect(promotionDecision(candidateScoresOf({ ...report, guards: [{ guard: 'plausibility_bound', tripped: true, message: 'AUC 0.99' }] }, { datasetGuards: dataset, relaxedGuards: off }), undefined, { ...policy, allowRelaxedGuards: { reason: 'research run, reviewed by hand' } }).reason).toBe('not promoted: guard plausibility_bound tripped: AUC 0.99');
  });
});

describe('servingVeto', () => {
  it('reads every kind of recorded veto, and none from an honest or an older row', () => {
    expect(servingVeto(LEAKY_METRICS)).toBe('guard single_feature_scan tripped: suspected leak: ret_5 alone scores AUC 0.9900');
    expect(servingVeto({ outOfSample: { guards: [{ guard: 'point_in_time_audit', tripped: true, message: 'ret_5 differs' }] } })).toBe('guard point_in_time_audit tripped: ret_5 differs');
    expect(servingVeto({ outOfSample: { leakageAlarm: 'AUC 0.97 is implausible' } })).toBe('AUC 0.97 is implausible');
    expect(servingVeto({ shuffledLabel: { passed: false, message: 'AUC 0.62 on permuted labels' } })).toBe('the shuffled-label control failed: AUC 0.62 on permuted labels');
    // The same guard recorded twice (in the report and in the scores) is named once.
    const twice = { outOfSample: { guards: [{ guard: 'plausibility_bound', tripped: true, message: 'AUC 0.8' }] }, scores: { trippedGuards: [{ guard: 'plausibility_bound', tripped: true, message: 'AUC 0.8' }] } };
    expect(servingVeto(twice)).toBe('guard plausibility_bound tripped: AUC 0.8');
    expect(servingVeto({})).toBeUndefined();
    // Degenerate scores veto promotion, not serving: ties of a top-k backtest are no leak.
    expect(servingVeto({ outOfSample: { guards: [{ guard: 'degenerate_scores', tripped: true, message: 'ties decided 90% of top-20 cuts' }] }, scores: { trippedGuards: [{ guard: 'degenerate_scores', tripped: true, message: 'ties decided 90% of top-20 cuts' }] } })).toBeUndefined();
    // A row registered before the scores were recorded: its report alone decides.
    expect(servingVeto({ outOfSample: { classification: { rocAuc: 0.52 }, guards: [{ guard: 'plausibility_bound', tripped: false, message: 'within range' }] }, cv: { auc: 0.53 } })).toBeUndefined();
    expect(servingVeto({ outOfSample: { guards: [{ guard: 'plausibility_bound', tripped: false, message: 'fine' }] }, scores: { trippedGuards: [] }, shuffledLabel: { passed: true } })).toBeUndefined();
  });

  it('vetoes a version whose experiment switched leakage guards off without promotion.allowRelaxedGuards, so no manual deployment or rollback serves what promotion refused', () => {
    const relaxedGuards = [
      { guard: 'shuffled_label', status: 'not_run', setting: 'guards.shuffledLabel', message: 'not run: disabled by guards.shuffledLabel false' },
      { guard: 'degenerate_scores', status: 'loosened', setting: 'guards.degenerateScores.maxTiedCutDays', message: 'bound loosened: guards.degenerateScores.maxTiedCutDays 1 > default 0.2' },
    ];
    expect(servingVeto({ scores: { trippedGuards: [], relaxedGuards } })).toBe('leakage guards relaxed by its experiment without promotion.allowRelaxedGuards: shuffled_label not run: disabled by guards.shuffledLabel false');
    expect(servingVeto({ scores: { trippedGuards: [], relaxedGuards, relaxedGuardsAllowed: 'a research run, guards off on purpose' } })).toBeUndefined();
    // Degenerate-score limits are no leakage guard: loosened alone, they veto nothing.
    expect(servingVeto({ scores: { relaxedGuards: relaxedGuards.slice(1) } })).toBeUndefined();
  });
});

describe('promotion floors and deployment thresholds loosened by the experiment', () => {
  const loosened: RelaxedGuard[] = [
    { guard: 'promotion_floor', status: 'loosened', setting: 'promotion.minAuc', message: 'floor lowered: promotion.minAuc 0 < default 0.5' },
    { guard: 'deployment_thresholds', status: 'loosened', setting: 'promotion.deployment.canary.thresholds.maxHitRateDrop', message: 'bound loosened: promotion.deployment.canary.thresholds.maxHitRateDrop 1 > default 0.05' },
  ];

  it('block promotion unless promotion.allowRelaxedGuards gives a reason, which the decision names', () => {
    const candidate = scores(0.6, { relaxedGuards: loosened });
    expect(promotionDecision(candidate, undefined, { ...policy, minAuc: 0 }).reason).toMatch(/^not promoted: .*promotion_floor floor lowered: promotion\.minAuc 0 < default 0\.5; deployment_thresholds bound loosened: promotion\.deployment\.canary\.thresholds\.maxHitRateDrop 1 > default 0\.05; .*promotion\.allowRelaxedGuards/);
    const allowed = promotionDecision(candidate, undefined, { ...policy, minAuc: 0, allowRelaxedGuards: { reason: 'shadow universe, reviewed weekly' } });
    expect(allowed.promote).toBe(true);
    expect(allowed.reason).toContain('allowed by promotion.allowRelaxedGuards ("shadow universe, reviewed weekly"): promotion_floor');
  });

  it('veto no serving: they are settings of the promotion and the rollout, not flaws of the model', () => {
    expect(servingVeto({ scores: { trippedGuards: [], relaxedGuards: loosened } })).toBeUndefined();
  });
});
