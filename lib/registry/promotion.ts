/**
 * The promotion policy. A newly trained model becomes `challenger` (or `champion` when there is
 * none) only if, in this order: no guard tripped; every guard gave a verdict (one that did not run
 * is not passed) and none was switched off or loosened by the experiment, unless it sets
 * promotion.allowRelaxedGuards with a reason, which the decision then names; it is the best
 * algorithm of its run; it passes the absolute floor; it beats the strongest naive baseline on the
 * promotion metric with day-aware evidence; and it beats the current champion, re-run on the same
 * out-of-sample period, by the margin and with a significant paired difference on the same rows. The decision names the first
 * rule that failed, with numbers.
 *
 * The level of both tests (challengeLevel): `alpha` is spent over every challenge of one champion
 * (or of "no champion yet") on an overlapping evaluation period, the n-th getting alpha / (n(n + 1)),
 * so however often a model is retrained on the same data (new seeds, new searches) the chance that a
 * model without skill ever gets through stays below alpha; and each challenge's share is divided by
 * the number of algorithms its run picked the best from (Bonferroni). Registration counts the
 * challenges (lib/registry/challenges.ts).
 *
 * Evidence no older than what it replaces (evidenceAgeVeto): a challenger whose evaluation period
 * ends before the champion's recorded evaluation period ended, or before the newest period already
 * challenged for the model, is registered but not promoted. A run with a backdated cut-off is judged
 * on an older market than the one the model would trade; picking among historical periods is a
 * search, and the count of challenges only restarts on outcomes newer than every one looked at.
 * Nor is one whose period ends more than its label horizon + a grace before the newest stored data
 * (staleEvaluationVeto), first champion included, unless the experiment allows it explicitly.
 */
import { annualisedText, MIN_ANNUALISED_PERIODS } from '../backtest/short-sample';
import type { GuardName, GuardVerdict } from '../training/guards';

/**
 * What decides. `auc`: the pooled out-of-sample ROC AUC, every row against every row, which rewards
 * timing the market (one score for every stock of a day) as much as ranking stocks. `within_day_auc`:
 * the mean of the daily AUCs across each day's stocks, the ranking alone, for a model that is used to
 * rank stocks; its evidence is free of the day-to-day luck of market-timing rules, which swamped a
 * real per-stock edge on `auc` (promoted in 15 of 60 seeds, where its within-day difference had
 * p < 0.00625 in 58). `accuracy_lift`: accuracy over the strongest naive baseline. `sharpe`: the backtest.
 */
export type PromotionMetric = 'auc' | 'within_day_auc' | 'accuracy_lift' | 'sharpe';

export interface PromotionPolicy {
  metric: PromotionMetric;
  margin: number;
  minAuc: number;
  /** Evidence level against the strongest naive baseline; 1 turns the requirement off. */
  alpha?: number;
  /**
   * Promote although the evaluation period ends well before the newest stored data (a backdated
   * cut-off): an explicit choice, recorded with the experiment and named in the decision.
   */
  allowBackdatedEvaluation?: boolean;
  /**
   * Promote although leakage guards were switched off or loosened (CandidateScores.relaxedGuards):
   * an explicit choice with its reason, recorded with the experiment and named in the decision.
   */
  allowRelaxedGuards?: { reason: string };
}

/**
 * A guard the experiment switched off (`not_run`) or ran with a bound looser than its default
 * (`loosened`), recorded beside the verdicts (lib/experiments/relaxed-guards.ts).
 */
export interface RelaxedGuard {
  /**
   * `baseline_evidence`: the tests against the naive baselines and the champion, off at promotion.alpha 1;
   * `backtest_costs`: trading costs below the defaults under a Sharpe promotion;
   * `promotion_floor`: promotion.minAuc or promotion.margin below its default;
   * `deployment_thresholds`: the plan of the deployment a promotion starts lets a worse or less
   * healthy challenger through than the defaults would, or gives it more traffic before any analysis.
   */
  guard: GuardName | 'baseline_evidence' | 'backtest_costs' | 'promotion_floor' | 'deployment_thresholds';
  status: 'not_run' | 'loosened';
  /** The experiment setting, e.g. `guards.shuffledLabel`. */
  setting: string;
  /** E.g. "not run: disabled by guards.shuffledLabel false", "bound loosened: guards.plausibility.direction.maxAuc 1 > default 0.6". */
  message: string;
}

/**
 * The guards whose verdict promotion needs: one with no verdict is not passed, unless the experiment
 * switched it off (then it is a relaxed guard, promoted only with promotion.allowRelaxedGuards).
 */
export const PROMOTION_GUARDS: readonly GuardName[] = ['point_in_time_audit', 'single_feature_scan', 'plausibility_bound', 'degenerate_scores', 'shuffled_label'];

/** The model against the strongest naive baseline on one metric, from inference that respects correlated rows. */
export interface MetricEvidence {
  versus: string;
  /** Model minus baseline. */
  difference: number;
  /** Lower end of the two-sided 95% interval of the difference. */
  lower: number;
  /** One-sided p-value of "the model is better". */
  pValue: number;
  /** How the rows' dependence was handled, for the decision's text (default: clustered by days and symbols). */
  inference?: string;
}

export interface CandidateScores {
  auc: number;
  /** The within-day AUC (mean of the daily AUCs across symbols); absent for reports from before it was measured. */
  withinDayAuc?: number;
  accuracyLift: number;
  /** NaN when the backtest was too short to annualise (sharpeNote says so). */
  sharpe: number;
  /** Why `sharpe` is undefined: "n/a (3 periods; annualised from 20)". */
  sharpeNote?: string;
  /** Per promotion metric, the evidence that the model beats the strongest naive baseline. */
  evidence?: Partial<Record<PromotionMetric, MetricEvidence>>;
  /** Guards that tripped for this model or its dataset: any one vetoes promotion. */
  trippedGuards?: GuardVerdict[];
  /** False for a run's other algorithms: only the run's best may move an alias. */
  bestOfRun?: boolean;
  /** The run's best algorithm, named in the others' reason. */
  bestAlgorithm?: string;
  /**
   * How many algorithms the run picked its best from. Picking the best of k and then testing it at
   * alpha overstates the evidence, so the test is made at alpha / k (Bonferroni).
   */
  candidatesCompared?: number;
  /** Which challenge of the champion on this evaluation period this is (registration counts them); absent: the first. */
  challenge?: ChallengeCount;
  /**
   * Per promotion metric, this model minus the champion re-run on the same rows (paired; clustered
   * by days and symbols, daily returns Newey–West): a challenger must beat the champion with
   * evidence, not by a point difference on one draw.
   */
  versusChampion?: Partial<Record<PromotionMetric, MetricEvidence>>;
  /** The evaluation period's first and last decision days (ISO dates), when known. */
  period?: { from: string; to: string };
  /** The champion's evaluation period as its registration recorded it, when known. */
  championPeriod?: { from: string; to: string; version: number };
  /** How far the evaluation period ends before the newest stored session of the universe (evaluationLag), when known. */
  evaluationLag?: EvaluationLag;
  /** Older registry rows carried guard alarms here; still honoured. */
  leakageAlarm?: string;
  /** The shuffled-label control's result; absent when it did not run, which is not a pass. */
  shuffledLabelPassed?: boolean;
  /**
   * Every guard with a verdict on this model or its dataset (candidateScoresOf). When present, a
   * PROMOTION_GUARDS member missing here and not switched off by the experiment vetoes promotion.
   * Absent in scores built by hand: then only the shuffled-label control's result is required.
   */
  judgedBy?: string[];
  /** Guards the experiment switched off or loosened (registration fills them in from the experiment). */
  relaxedGuards?: RelaxedGuard[];
}

export interface PromotionDecision {
  promote: boolean;
  reason: string;
}

/** A candidate's score on a promotion metric (NaN when it was not measured). */
export function metricOf(s: Pick<CandidateScores, 'auc' | 'withinDayAuc' | 'accuracyLift' | 'sharpe'>, metric: PromotionMetric): number {
  switch (metric) {
    case 'auc':
      return s.auc;
    case 'within_day_auc':
      return typeof s.withinDayAuc === 'number' ? s.withinDayAuc : NaN;
    case 'accuracy_lift':
      return s.accuracyLift;
    case 'sharpe':
      return s.sharpe;
  }
}

const fmt = (x: number, digits = 4) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));

/** Which challenge of one champion on one evaluation period a candidate is. */
export interface ChallengeCount {
  /** 1 for the first challenge of this champion (or of "no champion yet") on an overlapping evaluation period, 2 for the next, … */
  number: number;
  /** The champion challenged; null when there was none. */
  championVersion: number | null;
  /** Of the earlier challenges counted, how many were under other model names on the same outcomes (lib/registry/challenges.ts sameOutcomesElsewhere). */
  underOtherNames?: number;
  /**
   * Of those, the runs counted as their registry rows state although no key held here vouches for
   * them (registered before MODEL_SIGNING_KEY was set, or signed with a key dropped after a rotation),
   * named ("dir-b v2"): a note, so the operator can sign them.
   */
  unvouchedUnderOtherNames?: readonly string[];
  /** The newest evaluation period already challenged for the model (any champion), when one was recorded. */
  newestPeriod?: { from: string; to: string; challengerVersion: number };
}

/**
 * Why a candidate's evidence is too old to promote it, or undefined: its evaluation period ends
 * before the champion's recorded one ended, or before the newest period already challenged for the
 * model ended. Without a period of its own nothing can be said (older reports).
 */
export function evidenceAgeVeto(candidate: Pick<CandidateScores, 'period' | 'championPeriod' | 'challenge'>): string | undefined {
  const own = candidate.period;
  if (!own) return undefined;
  const span = (p: { from: string; to: string }) => `${p.from} to ${p.to}`;
  const champion = candidate.championPeriod;
  if (champion && own.to < champion.to) {
    return `its evaluation period ${span(own)} ends before champion v${champion.version}'s (${span(champion)}): evidence older than the champion's cannot replace it; retrain with a cut-off that evaluates through ${champion.to} or later`;
  }
  const newest = candidate.challenge?.newestPeriod;
  if (newest && own.to < newest.to) {
    return `its evaluation period ${span(own)} ends before the newest period already challenged for this model (${span(newest)}, v${newest.challengerVersion}): a backdated evaluation is a search over historical periods, not new evidence; retrain with a cut-off that evaluates through ${newest.to} or later`;
  }
  return undefined;
}

/**
 * Sessions a run's evaluation may end before the newest stored session beyond its label's horizon
 * (the newest h sessions can have no label yet): a daily retrain that started before the last import.
 */
export const EVALUATION_GRACE_SESSIONS = 5;

/** How far an evaluation period ends before the newest stored session of its universe. */
export interface EvaluationLag {
  /** The newest session with a stored bar for the universe's symbols when the run registered. */
  newestSession: string;
  /** NYSE sessions after the evaluation period's last day, up to and including newestSession. */
  sessionsAfter: number;
  /** The label horizon + EVALUATION_GRACE_SESSIONS. */
  allowed: number;
}

/**
 * Why a candidate's evidence is too old to promote it on its own, or undefined: its evaluation
 * period ends more than the label horizon + a grace before the newest stored data. A champion is
 * judged on the newest outcomes available; one judged on an old market (a cut-off moved back over
 * history) with no newer challenge recorded yet would otherwise become a first champion unseen.
 */
export function staleEvaluationVeto(candidate: Pick<CandidateScores, 'period' | 'evaluationLag'>): string | undefined {
  const lag = candidate.evaluationLag;
  const own = candidate.period;
  if (!lag || !own || !(lag.sessionsAfter > lag.allowed)) return undefined;
  return `its evaluation period ${own.from} to ${own.to} ends ${lag.sessionsAfter} sessions before the newest stored session of its universe (${lag.newestSession}), more than the label horizon + ${EVALUATION_GRACE_SESSIONS} (${lag.allowed}): a model is judged on the newest outcomes available; retrain without the cut-off, or set promotion.allowBackdatedEvaluation to promote on this period`;
}

/** Share of alpha the n-th challenge spends: 1/(n(n + 1)), which over every n sums to 1. */
export function challengeShare(n: number): number {
  const m = Math.max(1, Math.floor(n));
  return 1 / (m * (m + 1));
}

/**
 * The level a candidate's one-sided tests must pass: alpha × challengeShare(n) / k, with n its
 * challenge number (1 when not counted) and k the algorithms its run picked it from.
 */
export function challengeLevel(alpha: number, candidate: Pick<CandidateScores, 'candidatesCompared' | 'challenge'>): { level: number; text: string } {
  const k = Math.max(1, candidate.candidatesCompared ?? 1);
  const n = Math.max(1, Math.floor(candidate.challenge?.number ?? 1));
  const spent = n * (n + 1);
  const level = alpha / spent / k;
  const champion = candidate.challenge ? (candidate.challenge.championVersion === null ? 'of "no champion yet"' : `of champion v${candidate.challenge.championVersion}`) : '(no earlier challenge counted)';
  const elsewhere = candidate.challenge?.underOtherNames ?? 0;
  const unvouched = candidate.challenge?.unvouchedUnderOtherNames ?? [];
  const named = unvouched.length > 3 ? `${unvouched.slice(0, 3).join(', ')} and ${unvouched.length - 3} more` : unvouched.join(', ');
  const note = unvouched.length > 0 ? `; ${unvouched.length} of them counted as their registry rows state, which no key held here vouches for (${named})` : '';
  const parts = [`${alpha} / ${spent}: challenge ${n} ${champion} on this period${elsewhere > 0 ? ` (${elsewhere} of the earlier ones on the same outcomes under other model names${note})` : ''}, ${alpha} spent over all of them`];
  if (k > 1) parts.push(`/ ${k}: the best of ${k} algorithms was picked`);
  return { level, text: `${level.toPrecision(3)} (${parts.join('; ')})` };
}

/**
 * A p-value as a number, NaN when it is not one: evidence crosses Temporal as JSON, where an
 * undefined p-value (NaN) arrives as null, and `null < level` is true.
 */
const pOf = (e: Pick<MetricEvidence, 'pValue'>): number => (typeof e.pValue === 'number' ? e.pValue : NaN);
const pText = (p: number) => (Number.isFinite(p) ? p.toPrecision(2) : 'undefined');

/**
 * A stored day-aware p-value for people: two significant digits, or undefined with why (NaN, null
 * in stored JSON: the evaluation had too few independent units, e.g. 5 days of 5-day labels, or the
 * figures compared did not vary, e.g. the returns of a strategy that never traded).
 */
export function pValueText(p: number | null | undefined): string {
  return typeof p === 'number' && Number.isFinite(p) ? p.toPrecision(2) : 'undefined (too few independent days or symbols in the evaluation period for day-aware evidence, or nothing varied: e.g. a strategy that never traded)';
}

const describe = (metric: PromotionMetric, e: MetricEvidence, versus = e.versus) => `${metric} ${e.difference >= 0 ? '+' : ''}${fmt(e.difference)} over ${versus} (95% interval from ${fmt(e.lower)}, one-sided p ${pText(pOf(e))}, ${e.inference ?? 'clustered by days and symbols'})`;

const relaxedText = (relaxed: readonly RelaxedGuard[]) => relaxed.map((r) => `${r.guard} ${r.message}`).join('; ');

/**
 * Guards promotion needs a verdict from that gave none and that the experiment did not switch off:
 * the shuffled-label control without a result, and, for scores from candidateScoresOf, any
 * PROMOTION_GUARDS member missing from `judgedBy`.
 */
export function unjudgedGuards(candidate: Pick<CandidateScores, 'judgedBy' | 'relaxedGuards' | 'shuffledLabelPassed'>): GuardName[] {
  const off = new Set((candidate.relaxedGuards ?? []).filter((r) => r.status === 'not_run').map((r) => r.guard));
  const judged = new Set(candidate.judgedBy ?? PROMOTION_GUARDS);
  return PROMOTION_GUARDS.filter((g) => !off.has(g) && (g === 'shuffled_label' ? candidate.shuffledLabelPassed !== true : !judged.has(g)));
}

export function promotionDecision(candidate: CandidateScores, champion: CandidateScores | undefined, policy: PromotionPolicy): PromotionDecision {
  const no = (reason: string): PromotionDecision => ({ promote: false, reason: `not promoted: ${reason}` });
  const tripped = candidate.trippedGuards ?? [];
  if (tripped.length > 0) return no(tripped.map((g) => `guard ${g.guard} tripped: ${g.message}`).join('; '));
  if (candidate.leakageAlarm) return no(candidate.leakageAlarm);
  if (candidate.shuffledLabelPassed === false) return no('the shuffled-label control failed');
  const unjudged = unjudgedGuards(candidate);
  if (unjudged.length > 0) return no(`no verdict from ${unjudged.join(', ')}: a guard that did not run is not passed`);
  const relaxed = candidate.relaxedGuards ?? [];
  if (relaxed.length > 0 && !policy.allowRelaxedGuards) return no(`guards relaxed by the experiment: ${relaxedText(relaxed)}; promote with the default guard settings, or set promotion.allowRelaxedGuards with a reason`);
  if (candidate.bestOfRun === false) return no(`not the best algorithm of its run${candidate.bestAlgorithm ? ` (${candidate.bestAlgorithm} is)` : ''}`);
  const stale = evidenceAgeVeto(candidate);
  if (stale !== undefined) return no(stale);
  const backdated = staleEvaluationVeto(candidate);
  if (backdated !== undefined && !policy.allowBackdatedEvaluation) return no(backdated);
  const allowed = [
    ...(backdated === undefined ? [] : [`backdated evaluation allowed by promotion.allowBackdatedEvaluation (${candidate.evaluationLag?.sessionsAfter} sessions before ${candidate.evaluationLag?.newestSession})`]),
    ...(relaxed.length === 0 ? [] : [`relaxed leakage guards allowed by promotion.allowRelaxedGuards (${JSON.stringify(policy.allowRelaxedGuards?.reason)}): ${relaxedText(relaxed)}`]),
  ];
  const promote = (reason: string): PromotionDecision => ({ promote: true, reason: [reason, ...allowed].join('; ') });
  if (!(candidate.auc >= policy.minAuc)) return no(`out-of-sample AUC ${fmt(candidate.auc)} is below the floor ${policy.minAuc}`);
  const score = metricOf(candidate, policy.metric);
  if (!Number.isFinite(score)) return no(`${policy.metric} is not defined for this model${policy.metric === 'sharpe' && candidate.sharpeNote ? `: ${candidate.sharpeNote}` : ''}`);
  // The floor holds for the ranking the metric judges too.
  if (policy.metric === 'within_day_auc' && !(score >= policy.minAuc)) return no(`within-day AUC ${fmt(score)} is below the floor ${policy.minAuc}`);
  const alpha = policy.alpha ?? 0.05;
  const { level, text: levelText } = challengeLevel(alpha, candidate);
  // At alpha 1 the tests are off (a relaxed guard, promoted only with promotion.allowRelaxedGuards): the reason says so.
  let evidenceText = alpha < 1 ? '' : '; not tested against the naive baselines (promotion.alpha 1)';
  if (alpha < 1) {
    const e = candidate.evidence?.[policy.metric];
    if (!e) return no(`there is no day-aware evidence for ${policy.metric} against a naive baseline`);
    const what = describe(policy.metric, e);
    if (!(pOf(e) < level)) return no(`no evidence it beats the strongest naive baseline: ${what}, p must be below ${levelText}`);
    evidenceText = `; beats ${e.versus}: ${what}, below ${levelText}`;
  }
  if (!champion) return promote(`no champion yet; ${policy.metric} ${fmt(score)} passes the floors${evidenceText}`);
  const best = metricOf(champion, policy.metric);
  if (!(score >= best + policy.margin)) return no(`${policy.metric} ${fmt(score)} does not beat the champion's ${fmt(best)} by ${policy.margin}`);
  let pairedText = alpha < 1 ? '' : '; no paired test against the champion (promotion.alpha 1)';
  if (alpha < 1) {
    // A point difference on one draw is no evidence: the champion re-run and the challenger are
    // compared on the same rows, with the same dependence as every other test.
    const paired = candidate.versusChampion?.[policy.metric];
    if (!paired) return no(`${policy.metric} ${fmt(score)} beats the champion's ${fmt(best)} by ${policy.margin}, but there is no paired evidence against the champion on the same rows`);
    const what = describe(policy.metric, paired);
    if (!(pOf(paired) < level)) return no(`no evidence it beats the champion on the same rows: ${what}, p must be below ${levelText}`);
    pairedText = `; paired on the same rows: ${what}`;
  }
  return promote(`${policy.metric} ${fmt(score)} beats the champion's ${fmt(best)} on the same period by at least ${policy.margin}${pairedText}${evidenceText}`);
}

/** A challenger's paired comparison with the champion re-run on the same rows (lib/training/evaluation-report.ts championComparisonOf). */
export interface ChampionComparisonInput {
  championVersion?: number;
  rows: number;
  days: number;
  auc: { value: number; interval: [number, number]; pValue: number };
  /** Absent in comparisons from before it was measured: then there is no paired evidence on `within_day_auc`. */
  withinDayAuc?: { value: number; interval: [number, number]; pValue: number };
  accuracy: { value: number; interval: [number, number]; pValue: number };
  sharpe: { value: number; interval: [number, number]; pValue: number };
}

/** The paired evidence against the champion, per promotion metric, from a comparison on the same rows. */
export function championEvidenceOf(c: ChampionComparisonInput): Partial<Record<PromotionMetric, MetricEvidence>> {
  const champion = c.championVersion !== undefined ? `champion v${c.championVersion}` : 'the champion';
  const of = (e: ChampionComparisonInput['auc'], versus: string, inference: string): MetricEvidence => ({ versus, difference: e.value, lower: e.interval[0], pValue: e.pValue, inference });
  return {
    auc: of(c.auc, `${champion} re-run, AUC difference on the same ${c.rows} rows`, 'paired, clustered by days and symbols'),
    ...(c.withinDayAuc ? { within_day_auc: of(c.withinDayAuc, `${champion} re-run, within-day AUC difference on the same ${c.rows} rows`, "paired, within-day (each day's stocks ranked), clustered by days and symbols") } : {}),
    accuracy_lift: of(c.accuracy, `${champion} re-run, accuracy difference on the same ${c.rows} rows`, 'paired, clustered by days and symbols'),
    sharpe: of(c.sharpe, `${champion} re-run, annualised Sharpe difference on the same ${c.days} days`, 'paired by day, Newey–West (Ledoit–Wolf)'),
  };
}

/** What promotion reads from an evaluation report (the headline numbers and their day-aware evidence). */
export interface EvaluatedModel {
  classification: { rocAuc: number };
  baseline: { name: string; accuracyLift: number; liftInterval: [number, number]; pValue: number; noInformation?: { accuracyLift: number; liftInterval: [number, number]; pValue: number } };
  auc?: { versus: string; difference: { value: number; interval: [number, number]; pValue: number }; withinDay?: { value: number; versus: string; difference: { value: number; interval: [number, number]; pValue: number } } };
  backtest: {
    strategy: Record<string, number>;
    excessReturn?: { value: number; interval: [number, number]; pValue: number };
    excessReturnBenchmark?: { exposure: number; description: string };
    marketModel?: { alpha: { value: number; interval: [number, number]; pValue: number }; beta: { value: number } };
    sharpeDifference?: { versus: 'buy_and_hold' | 'cash'; rivalSharpe: number; difference: { value: number; interval: [number, number]; pValue: number } };
    versusNaiveStrategy?: { versus: string; rivalSharpe: number; difference: { value: number; interval: [number, number]; pValue: number } };
  };
  guards?: GuardVerdict[];
  leakageAlarm?: string;
}

/**
 * A report's accuracy lift over one baseline, as stored: JSON gives an undefined figure (NaN) back as
 * null, and reports of older versions lack the lift and its interval.
 */
export interface StoredAccuracyLift {
  accuracy?: number | null;
  accuracyLift?: number | null;
  liftInterval?: readonly (number | null)[];
  pValue?: number | null;
}

/** One comparison of the model's accuracy with a baseline's on the same rows (NaN: undefined or not recorded). */
export interface AccuracyComparison {
  versus: string;
  /** The evaluation period's own majority class (the no-information rate): known only in hindsight. */
  hindsight: boolean;
  /** The baseline's accuracy. */
  accuracy: number;
  lift: number;
  interval: [number, number];
  /** One-sided (model better), rows dependent by day and symbol. */
  pValue: number;
}

/** The name of the no-information rate's baseline (lib/validation/baselines.ts). */
export const NO_INFORMATION_BASELINE = 'evaluation_majority';

/**
 * The accuracy comparison promotion judges `accuracy_lift` on, and the other one: the lift over the
 * strongest fair baseline, or over the evaluation period's own majority class (the no-information
 * rate, in hindsight) where that evidence is the weaker (its p-value not below the fair one's). A
 * model that says "down" on every row of a falling period beats every fair baseline (the pre-period
 * rose) and has no skill: shown beside the fair baseline alone, it read as an edge.
 */
export function accuracyComparisonsOf(baseline: StoredAccuracyLift & { name?: string; noInformation?: StoredAccuracyLift }): { judged: AccuracyComparison; other?: AccuracyComparison } {
  const num = (x: number | null | undefined) => (typeof x === 'number' ? x : NaN);
  const of = (x: StoredAccuracyLift, versus: string, hindsight: boolean): AccuracyComparison => ({ versus, hindsight, accuracy: num(x.accuracy), lift: num(x.accuracyLift), interval: [num(x.liftInterval?.[0]), num(x.liftInterval?.[1])], pValue: num(x.pValue) });
  const fair = of(baseline, baseline.name ?? 'baseline', false);
  const nir = baseline.noInformation;
  if (!nir) return { judged: fair };
  const noInformation = of(nir, NO_INFORMATION_BASELINE, true);
  // As stored (null where NaN), as promotion has always compared them: the weaker evidence counts.
  return nir.pValue! <= baseline.pValue! ? { judged: fair, other: noInformation } : { judged: noInformation, other: fair };
}

/** The scores of one evaluated model, with every tripped guard (its own and its dataset's). */
export function candidateScoresOf(report: EvaluatedModel, extra: { datasetGuards?: readonly GuardVerdict[]; shuffledLabel?: { passed: boolean; message: string }; relaxedGuards?: RelaxedGuard[] } = {}): CandidateScores {
  const verdicts = [...(extra.datasetGuards ?? []), ...(report.guards ?? [])];
  const tripped = verdicts.filter((g) => g.tripped);
  if (extra.shuffledLabel && !extra.shuffledLabel.passed) tripped.push({ guard: 'shuffled_label', tripped: true, message: extra.shuffledLabel.message });
  // Accuracy must also beat the evaluation period's majority class (the no-information rate): the weaker evidence counts.
  const nir = report.baseline.noInformation;
  const judgedAccuracy = accuracyComparisonsOf(report.baseline).judged;
  const evidence: CandidateScores['evidence'] = {
    accuracy_lift:
      nir && judgedAccuracy.hindsight
        ? { versus: `${NO_INFORMATION_BASELINE} (the period's own majority class, the no-information rate)`, difference: nir.accuracyLift, lower: nir.liftInterval[0], pValue: nir.pValue }
        : { versus: report.baseline.name, difference: report.baseline.accuracyLift, lower: report.baseline.liftInterval[0], pValue: report.baseline.pValue },
  };
  if (report.auc) evidence.auc = { versus: report.auc.versus, difference: report.auc.difference.value, lower: report.auc.difference.interval[0], pValue: report.auc.difference.pValue };
  // Against the fair baseline with the best within-day AUC (a rule that gives every stock of a day one score has 0.5).
  const withinDay = report.auc?.withinDay;
  if (withinDay) evidence.within_day_auc = { versus: withinDay.versus, difference: withinDay.difference.value, lower: withinDay.difference.interval[0], pValue: withinDay.difference.pValue, inference: "within-day (each day's stocks ranked), clustered by days and symbols" };
  // An annualised Sharpe ratio of fewer than MIN_ANNUALISED_PERIODS periods is no figure to promote
  // on (3 days annualised to 47.6): the score is undefined and there is no evidence on `sharpe`.
  const short = shortBacktest(report.backtest);
  const sharpe = short ? undefined : sharpeEvidenceOf(report.backtest);
  if (sharpe) evidence.sharpe = sharpe;
  return {
    auc: report.classification.rocAuc,
    ...(withinDay ? { withinDayAuc: withinDay.value } : {}),
    accuracyLift: report.baseline.accuracyLift,
    sharpe: short ? NaN : report.backtest.strategy.sharpe,
    ...(short ? { sharpeNote: `annualised Sharpe ratio ${annualisedText(report.backtest.strategy.sharpe, report.backtest.strategy.periods, 2)}` } : {}),
    evidence,
    trippedGuards: tripped,
    // Reports from before the guards list carried the alarm alone.
    leakageAlarm: report.guards ? undefined : report.leakageAlarm,
    // No control (switched off, or never run) is no pass: promotionDecision says which.
    ...(extra.shuffledLabel ? { shuffledLabelPassed: extra.shuffledLabel.passed } : {}),
    judgedBy: [...new Set([...verdicts.map((g) => g.guard), ...(extra.shuffledLabel ? ['shuffled_label'] : [])])],
    ...(extra.relaxedGuards && extra.relaxedGuards.length > 0 ? { relaxedGuards: extra.relaxedGuards } : {}),
  };
}

/**
 * Evidence on `sharpe`: the strategy must beat every naive way of holding the market, and the weakest
 * of these comparisons is the evidence (an intersection–union test: each at the level, no
 * adjustment). Its alpha over buy-and-hold at the beta it took (skill beyond market exposure: long
 * the highest-beta stocks is net exposure 1 and beat buy-and-hold at exposure 1 on real S&P 500 data,
 * p 0.035, with no skill and a Sharpe ratio below buy-and-hold's); its Sharpe ratio against the
 * stronger of buy-and-hold's and cash's (0); and its return against buy-and-hold at the same average
 * net exposure (a mostly flat model of noise beat full buy-and-hold in a falling market); and, where
 * the report traded them, its Sharpe ratio against the best of the naive rules traded the same way (a
 * model that is the 5-day reversal rule beat the market in 9 of 10 synthetic markets with a reversal
 * effect and was promoted, where on `auc` the same rule is the baseline). Reports from before the
 * regression was measured give no evidence on `sharpe`.
 */
/** Whether the backtest is too short for annualised figures (reports from before `periods` was stored: no). */
function shortBacktest(backtest: EvaluatedModel['backtest']): boolean {
  const periods = backtest.strategy.periods;
  return typeof periods === 'number' && periods < MIN_ANNUALISED_PERIODS;
}

function sharpeEvidenceOf(backtest: EvaluatedModel['backtest']): MetricEvidence | undefined {
  const { marketModel, sharpeDifference, excessReturn, excessReturnBenchmark } = backtest;
  if (!marketModel || !sharpeDifference) return undefined;
  const a = marketModel.alpha;
  const parts: MetricEvidence[] = [
    {
      versus: `buy-and-hold at the strategy's beta (${fmt(marketModel.beta.value, 2)}), alpha per day`,
      difference: a.value,
      lower: a.interval[0],
      pValue: a.pValue,
      inference: 'regression on the market, Newey–West over days',
    },
  ];
  const d = sharpeDifference.difference;
  const rival = sharpeDifference.versus === 'buy_and_hold' ? `buy-and-hold's Sharpe ratio ${fmt(sharpeDifference.rivalSharpe, 2)}` : "cash's Sharpe ratio 0 (buy-and-hold's was not positive)";
  parts.push({ versus: `${rival}, annualised Sharpe difference`, difference: d.value, lower: d.interval[0], pValue: d.pValue, inference: 'paired by day, Newey–West (Ledoit–Wolf)' });
  if (excessReturn && excessReturnBenchmark) parts.push({ versus: `${excessReturnBenchmark.description}, daily net return difference`, difference: excessReturn.value, lower: excessReturn.interval[0], pValue: excessReturn.pValue, inference: 'Newey–West over days' });
  // The naive rule with the best Sharpe ratio, traded exactly as the model: beating the market is no
  // skill when a rule anyone could apply (reversal, market timing) beats it as well.
  const naive = backtest.versusNaiveStrategy;
  if (naive) parts.push({ versus: `the naive rule ${naive.versus} traded the same way (Sharpe ratio ${fmt(naive.rivalSharpe, 2)}), annualised Sharpe difference`, difference: naive.difference.value, lower: naive.difference.interval[0], pValue: naive.difference.pValue, inference: 'paired by day, Newey–West (Ledoit–Wolf)' });
  // Undefined p-values (NaN, or null once through JSON) are no evidence: they rank as the weakest.
  const weakest = parts.find((x) => Number.isNaN(pOf(x))) ?? parts.reduce((w, x) => (pOf(x) > pOf(w) ? x : w));
  const sign = (x: number) => (x >= 0 ? '+' : '');
  const others = parts.filter((x) => x !== weakest).map((x) => `${sign(x.difference)}${fmt(x.difference)} over ${x.versus}, one-sided p ${pText(pOf(x))}`);
  return { ...weakest, inference: `${weakest.inference}; and ${others.join('; and ')}` };
}

/** Guards that judge the model's scores against the backtest's settings, not a leak: they veto promotion, not serving. */
const NOT_A_LEAK = new Set(['degenerate_scores', 'baseline_evidence', 'backtest_costs', 'promotion_floor', 'deployment_thresholds']);

/**
 * Why a registered version must never take traffic, from what its evaluation recorded in the
 * registry row (`metrics`), or undefined. A guard that tripped on the model or its dataset (a
 * suspected leak, implausible skill) or a failed shuffled-label control vetoes promotion; the same
 * record keeps a manual deployment, a rollback target, or an alias or route row edited by hand
 * from serving the version. Degenerate scores veto promotion only: they say the backtest's top-k
 * cuts were ties under that experiment's settings (and older rows judged market-timing models so),
 * not that the model saw the future. Leakage guards its experiment switched off or loosened veto it
 * too, unless the experiment allowed that with a reason (recorded as scores.relaxedGuardsAllowed).
 * With MODEL_SIGNING_KEY the record is signed, so the veto cannot be edited away either.
 */
export function servingVeto(metrics: Record<string, unknown>): string | undefined {
  const scores = metrics.scores as { trippedGuards?: unknown; leakageAlarm?: unknown; relaxedGuards?: unknown; relaxedGuardsAllowed?: unknown } | undefined;
  const report = metrics.outOfSample as { guards?: unknown; leakageAlarm?: unknown } | undefined;
  const shuffled = metrics.shuffledLabel as { passed?: unknown; message?: unknown } | undefined;
  const verdicts = [scores?.trippedGuards, report?.guards].flatMap((list) => (Array.isArray(list) ? (list as Array<Partial<GuardVerdict> | null>) : []));
  const reasons = new Set<string>();
  for (const g of verdicts) if (g?.tripped === true && !NOT_A_LEAK.has(String(g.guard))) reasons.add(`guard ${String(g.guard)} tripped: ${String(g.message)}`);
  for (const alarm of [scores?.leakageAlarm, report?.leakageAlarm]) if (typeof alarm === 'string' && alarm !== '') reasons.add(alarm);
  if (shuffled?.passed === false && ![...reasons].some((r) => r.startsWith('guard shuffled_label'))) reasons.add(`the shuffled-label control failed: ${String(shuffled.message)}`);
  // Leakage guards its experiment switched off or loosened, without promotion.allowRelaxedGuards:
  // automatic promotion refuses such a version, so a manual deployment or a rollback must not serve it either.
  const relaxed = (Array.isArray(scores?.relaxedGuards) ? (scores.relaxedGuards as Array<Partial<RelaxedGuard> | null>) : []).filter((r) => r && !NOT_A_LEAK.has(String(r.guard)));
  if (relaxed.length > 0 && typeof scores?.relaxedGuardsAllowed !== 'string') {
    reasons.add(`leakage guards relaxed by its experiment without promotion.allowRelaxedGuards: ${relaxed.map((r) => `${String(r?.guard)} ${String(r?.message)}`).join('; ')}`);
  }
  return reasons.size > 0 ? [...reasons].join('; ') : undefined;
}
