/** Scores of probabilities of class 1 against 0/1 outcomes. */
import { averageRanksOf } from '../validation/metrics';

/** Mean squared error (p − y)²; NaN for no rows. */
export function brierScoreOf(probability: ArrayLike<number>, outcome: ArrayLike<number>): number {
  if (probability.length !== outcome.length) throw new RangeError(`Brier score needs one outcome per probability, got ${probability.length} and ${outcome.length}`);
  let sum = 0;
  for (let i = 0; i < probability.length; i++) sum += (probability[i] - outcome[i]) ** 2;
  return probability.length === 0 ? NaN : sum / probability.length;
}

/**
 * ROC AUC by the Mann–Whitney rank sum (ties count half); NaN unless both classes occur, and NaN
 * when any score is NaN: a missing score has no rank (sorted among the others it gave 0.5 or
 * 0.625 for a perfect ranking, by where it stood). Callers drop rows without a score first.
 */
export function binaryAucOf(probability: ArrayLike<number>, outcome: ArrayLike<number>): number {
  if (probability.length !== outcome.length) throw new RangeError(`AUC needs one outcome per probability, got ${probability.length} and ${outcome.length}`);
  for (let i = 0; i < probability.length; i++) if (Number.isNaN(probability[i])) return NaN;
  const ranks = averageRanksOf(Float64Array.from(probability));
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < outcome.length; i++) {
    if (outcome[i] === 1) {
      positives++;
      rankSum += ranks[i];
    }
  }
  const negatives = outcome.length - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}
