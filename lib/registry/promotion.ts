/**
 * The promotion policy. A newly trained model becomes `challenger` (or `champion` when there is
 * none) only if, in this order: no guard tripped; it is the best algorithm of its run; it passes
 * the absolute floor; it beats the strongest naive baseline on the promotion metric with day-aware
 * evidence (one-sided p below `alpha`, divided by the number of algorithms it was picked from); and it beats the current champion, re-run on the same
 * out-of-sample period, by the margin. The decision names the first rule that failed, with numbers.
 */
import type { GuardVerdict } from '../training/guards';

export type PromotionMetric = 'auc' | 'accuracy_lift' | 'sharpe';

export interface PromotionPolicy {
  metric: PromotionMetric;
  margin: number;
  minAuc: number;
  /** Evidence level against the strongest naive baseline; 1 turns the requirement off. */
  alpha?: number;
}

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
  accuracyLift: number;
  sharpe: number;
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
  /** Older registry rows carried guard alarms here; still honoured. */
  leakageAlarm?: string;
  shuffledLabelPassed: boolean;
}

export interface PromotionDecision {
  promote: boolean;
  reason: string;
}

const metricOf = (s: CandidateScores, metric: PromotionMetric) => (metric === 'auc' ? s.auc : metric === 'accuracy_lift' ? s.accuracyLift : s.sharpe);

const fmt = (x: number, digits = 4) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));

export function promotionDecision(candidate: CandidateScores, champion: CandidateScores | undefined, policy: PromotionPolicy): PromotionDecision {
  const no = (reason: string): PromotionDecision => ({ promote: false, reason: `not promoted: ${reason}` });
  const tripped = candidate.trippedGuards ?? [];
  if (tripped.length > 0) return no(tripped.map((g) => `guard ${g.guard} tripped: ${g.message}`).join('; '));
  if (candidate.leakageAlarm) return no(candidate.leakageAlarm);
  if (!candidate.shuffledLabelPassed) return no('the shuffled-label control failed');
  if (candidate.bestOfRun === false) return no(`not the best algorithm of its run${candidate.bestAlgorithm ? ` (${candidate.bestAlgorithm} is)` : ''}`);
  if (!(candidate.auc >= policy.minAuc)) return no(`out-of-sample AUC ${fmt(candidate.auc)} is below the floor ${policy.minAuc}`);
  const score = metricOf(candidate, policy.metric);
  if (!Number.isFinite(score)) return no(`${policy.metric} is not defined for this model`);
  const alpha = policy.alpha ?? 0.05;
  let evidenceText = '';
  if (alpha < 1) {
    const e = candidate.evidence?.[policy.metric];
    if (!e) return no(`there is no day-aware evidence for ${policy.metric} against a naive baseline`);
    const k = Math.max(1, candidate.candidatesCompared ?? 1);
    const level = alpha / k;
    const levelText = k > 1 ? `${fmt(level)} (${alpha} / ${k}: the best of ${k} algorithms was picked)` : String(alpha);
    const what = `${policy.metric} ${e.difference >= 0 ? '+' : ''}${fmt(e.difference)} over ${e.versus} (95% interval from ${fmt(e.lower)}, one-sided p ${e.pValue.toPrecision(2)}, ${e.inference ?? 'clustered by days and symbols'})`;
    if (!(e.pValue < level)) return no(`no evidence it beats the strongest naive baseline: ${what}, p must be below ${levelText}`);
    evidenceText = `; beats ${e.versus}: ${what}, below ${levelText}`;
  }
  if (!champion) return { promote: true, reason: `no champion yet; ${policy.metric} ${fmt(score)} passes the floors${evidenceText}` };
  const best = metricOf(champion, policy.metric);
  if (score >= best + policy.margin) return { promote: true, reason: `${policy.metric} ${fmt(score)} beats the champion's ${fmt(best)} on the same period by at least ${policy.margin}${evidenceText}` };
  return no(`${policy.metric} ${fmt(score)} does not beat the champion's ${fmt(best)} by ${policy.margin}`);
}

/** What promotion reads from an evaluation report (the headline numbers and their day-aware evidence). */
export interface EvaluatedModel {
  classification: { rocAuc: number };
  baseline: { name: string; accuracyLift: number; liftInterval: [number, number]; pValue: number; noInformation?: { accuracyLift: number; liftInterval: [number, number]; pValue: number } };
  auc?: { versus: string; difference: { value: number; interval: [number, number]; pValue: number } };
  backtest: { strategy: Record<string, number>; excessReturn?: { value: number; interval: [number, number]; pValue: number }; excessReturnBenchmark?: { exposure: number; description: string } };
  guards?: GuardVerdict[];
  leakageAlarm?: string;
}

/** The scores of one evaluated model, with every tripped guard (its own and its dataset's). */
export function candidateScoresOf(report: EvaluatedModel, extra: { datasetGuards?: readonly GuardVerdict[]; shuffledLabel?: { passed: boolean; message: string } } = {}): CandidateScores {
  const tripped = [...(extra.datasetGuards ?? []), ...(report.guards ?? [])].filter((g) => g.tripped);
  if (extra.shuffledLabel && !extra.shuffledLabel.passed) tripped.push({ guard: 'shuffled_label', tripped: true, message: extra.shuffledLabel.message });
  const evidence: CandidateScores['evidence'] = {
    accuracy_lift: { versus: report.baseline.name, difference: report.baseline.accuracyLift, lower: report.baseline.liftInterval[0], pValue: report.baseline.pValue },
  };
  // Accuracy must also beat the evaluation period's majority class (the no-information rate): the weaker evidence counts.
  const nir = report.baseline.noInformation;
  if (nir && !(nir.pValue <= report.baseline.pValue)) evidence.accuracy_lift = { versus: "evaluation_majority (the period's own majority class, the no-information rate)", difference: nir.accuracyLift, lower: nir.liftInterval[0], pValue: nir.pValue };
  if (report.auc) evidence.auc = { versus: report.auc.versus, difference: report.auc.difference.value, lower: report.auc.difference.interval[0], pValue: report.auc.difference.pValue };
  const excess = report.backtest.excessReturn;
  if (excess) {
    const against = report.backtest.excessReturnBenchmark;
    evidence.sharpe = { versus: against ? `${against.description}, daily net return difference` : 'buy-and-hold (daily net return difference)', difference: excess.value, lower: excess.interval[0], pValue: excess.pValue, inference: 'Newey–West over days' };
  }
  return {
    auc: report.classification.rocAuc,
    accuracyLift: report.baseline.accuracyLift,
    sharpe: report.backtest.strategy.sharpe,
    evidence,
    trippedGuards: tripped,
    // Reports from before the guards list carried the alarm alone.
    leakageAlarm: report.guards ? undefined : report.leakageAlarm,
    shuffledLabelPassed: extra.shuffledLabel?.passed ?? true,
  };
}

/** Guards that judge the model's scores against the backtest's settings, not a leak: they veto promotion, not serving. */
const NOT_A_LEAK = new Set(['degenerate_scores']);

/**
 * Why a registered version must never take traffic, from what its evaluation recorded in the
 * registry row (`metrics`), or undefined. A guard that tripped on the model or its dataset (a
 * suspected leak, implausible skill) or a failed shuffled-label control vetoes promotion; the same
 * record keeps a manual deployment, a rollback target, or an alias or route row edited by hand
 * from serving the version. Degenerate scores veto promotion only: they say the backtest's top-k
 * cuts were ties under that experiment's settings (and older rows judged market-timing models so),
 * not that the model saw the future. With MODEL_SIGNING_KEY the record is signed, so the veto
 * cannot be edited away either.
 */
export function servingVeto(metrics: Record<string, unknown>): string | undefined {
  const scores = metrics.scores as { trippedGuards?: unknown; leakageAlarm?: unknown } | undefined;
  const report = metrics.outOfSample as { guards?: unknown; leakageAlarm?: unknown } | undefined;
  const shuffled = metrics.shuffledLabel as { passed?: unknown; message?: unknown } | undefined;
  const verdicts = [scores?.trippedGuards, report?.guards].flatMap((list) => (Array.isArray(list) ? (list as Array<Partial<GuardVerdict> | null>) : []));
  const reasons = new Set<string>();
  for (const g of verdicts) if (g?.tripped === true && !NOT_A_LEAK.has(String(g.guard))) reasons.add(`guard ${String(g.guard)} tripped: ${String(g.message)}`);
  for (const alarm of [scores?.leakageAlarm, report?.leakageAlarm]) if (typeof alarm === 'string' && alarm !== '') reasons.add(alarm);
  if (shuffled?.passed === false && ![...reasons].some((r) => r.startsWith('guard shuffled_label'))) reasons.add(`the shuffled-label control failed: ${String(shuffled.message)}`);
  return reasons.size > 0 ? [...reasons].join('; ') : undefined;
}
