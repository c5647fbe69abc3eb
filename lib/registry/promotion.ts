/**
 * The promotion policy: a newly trained model becomes `challenger` only if it beats the current
 * champion on the same out-of-sample period by the configured margin and passes the absolute
 * floors. The decision and its reason are recorded with the alias move.
 */
export interface PromotionPolicy {
  metric: 'auc' | 'accuracy_lift' | 'sharpe';
  margin: number;
  minAuc: number;
}

export interface CandidateScores {
  auc: number;
  accuracyLift: number;
  sharpe: number;
  leakageAlarm?: string;
  shuffledLabelPassed: boolean;
}

export interface PromotionDecision {
  promote: boolean;
  reason: string;
}

const metricOf = (s: CandidateScores, metric: PromotionPolicy['metric']) => (metric === 'auc' ? s.auc : metric === 'accuracy_lift' ? s.accuracyLift : s.sharpe);

export function promotionDecision(candidate: CandidateScores, champion: CandidateScores | undefined, policy: PromotionPolicy): PromotionDecision {
  if (candidate.leakageAlarm) return { promote: false, reason: `not promoted: ${candidate.leakageAlarm}` };
  if (!candidate.shuffledLabelPassed) return { promote: false, reason: 'not promoted: the shuffled-label control failed' };
  if (!(candidate.auc >= policy.minAuc)) return { promote: false, reason: `not promoted: out-of-sample AUC ${candidate.auc.toFixed(4)} is below the floor ${policy.minAuc}` };
  const score = metricOf(candidate, policy.metric);
  if (!Number.isFinite(score)) return { promote: false, reason: `not promoted: ${policy.metric} is not defined for this model` };
  if (!champion) return { promote: true, reason: `no champion yet; ${policy.metric} ${score.toFixed(4)} passes the floors` };
  const best = metricOf(champion, policy.metric);
  if (score >= best + policy.margin) return { promote: true, reason: `${policy.metric} ${score.toFixed(4)} beats the champion's ${best.toFixed(4)} on the same period by at least ${policy.margin}` };
  return { promote: false, reason: `not promoted: ${policy.metric} ${score.toFixed(4)} does not beat the champion's ${best.toFixed(4)} by ${policy.margin}` };
}
