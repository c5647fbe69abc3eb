/**
 * Serving guards: errors and latency of a variant, judged against a reference on the same window.
 * The canary's (against the champion) and each A/B challenger's (against the control) are judged
 * here alike.
 *
 * maxErrorRate and maxP99LatencyMs state rates: at most maxErrorRate of the variant's predictions
 * fail, and at most 1% take longer than maxP99LatencyMs (its p99 is within the limit). Before, the
 * guards compared the window's own error rate and nearest-rank p99 with them: below 100 rows that
 * p99 is the maximum, so one GC pause (20–58 ms on this machine class) in 40 predictions failed
 * the step, and with failureLimit 1 rolled back a canary exactly as fast as the champion (3.5–17%
 * of first analyses at a pause in 500 predictions); one error in fewer than 100 did the same. The
 * A/B report had the same rule and excluded a challenger as fast as the control in 3.7–17.8% of
 * draws of 20–99 requests per arm at a pause in 500.
 *
 * Now a rate guard fails the variant only when the evidence shows both that its rate is above the
 * allowed one and that it is above the reference's on the same window (a slow host or a feature
 * store failing both is not the variant's doing, and rolling back would not cure it). Evidence is
 * excessRateEvidence (lib/stats/excess-rate.ts) reaching 1/alpha: against the allowed rate on the
 * variant's predictions, and against the reference by the share of the window's events (errors,
 * slow predictions) that fell on the variant, which is its share of the predictions when the rates
 * are equal. Both keep their level however many analyses look at a growing window. One hard
 * absolute guard stays: an error rate shown above grossErrorRate fails whatever the reference
 * does. Below minServingPredictions predictions of the variant the guards cannot fail it and say
 * so; it cannot pass on them either (a canary step does not pass, an A/B challenger does not win).
 */
import { excessRateEvidence } from '../stats/excess-rate';
import type { CanaryThresholds } from './canary-analysis';

/** A variant's predictions in the window, those that failed, and those slower than the latency limit. */
export interface ServingCounts {
  predictions: number;
  errors: number;
  slow: number;
  /** Nearest-rank p99 latency in ms, reported only. */
  p99LatencyMs?: number | null;
}

export interface ServingJudgement {
  failures: string[];
  notes: string[];
  /** Set when the variant has too few predictions for the guards to fail it: it cannot pass then. */
  inconclusive?: string;
}

/** Share of predictions above the latency limit the limit allows: it is a p99. */
export const ALLOWED_SLOW_SHARE = 0.01;

type Thresholds = Pick<CanaryThresholds, 'alpha' | 'maxErrorRate' | 'maxP99LatencyMs' | 'grossErrorRate' | 'minServingPredictions'>;

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
/** No trials, no evidence. */
const excessRateEvidenceSafe = (k: number, n: number, p0: number) => (n === 0 ? 1 : excessRateEvidence(k, n, p0));
const ratio = (e: number) => (e >= 1e6 ? '> 10^6' : e.toFixed(1));

/**
 * The guards on `subject` (the canary, an A/B challenger) against `reference` (the champion, the
 * control) on the same window; `names` are how the reasons call them ("canary", "B"; "champion",
 * "control A").
 */
export function judgeServing(subject: ServingCounts, reference: ServingCounts | undefined, t: Thresholds, names: { subject: string; reference: string }): ServingJudgement {
  const bar = 1 / t.alpha;
  const n = subject.predictions;
  const ref = reference !== undefined && reference.predictions > 0 ? reference : undefined;
  const share = ref ? n / (n + ref.predictions) : 1;
  const refText = (k: number) => (ref ? `${names.reference} ${k} of ${ref.predictions} (${pct(k / ref.predictions)})` : `no ${names.reference} predictions to compare with`);
  const p99 = subject.p99LatencyMs === undefined || subject.p99LatencyMs === null ? '' : `${names.subject} p99 latency ${subject.p99LatencyMs.toFixed(1)} ms; `;
  const errorsText = `${names.subject} error rate ${pct(subject.errors / n)} (${subject.errors} of ${n}), ${refText(ref?.errors ?? 0)}`;
  const slowText = `${p99}${subject.slow} of ${n} ${names.subject} predictions (${pct(subject.slow / n)}) over ${t.maxP99LatencyMs} ms, ${refText(ref?.slow ?? 0)}`;
  if (n < t.minServingPredictions) {
    const why = `serving guards inconclusive: ${n} ${names.subject} predictions (need ${t.minServingPredictions}; below 100 the p99 is the slowest one, and one error is over 1%): ${errorsText}; ${slowText}`;
    return { failures: [], notes: [why], inconclusive: why };
  }
  const failures: string[] = [];
  const notes: string[] = [];
  const guard = (k: number, kRef: number, allowed: number, text: string, allowedText: string) => {
    const overAllowed = excessRateEvidenceSafe(k, n, allowed);
    // Without reference predictions there is nothing to compare with: the allowed rate alone decides.
    const overReference = ref ? excessRateEvidenceSafe(k, k + kRef, share) : Infinity;
    const evidence = `likelihood ratio ${ratio(overAllowed)} that it is above ${allowedText}${ref ? `, ${ratio(overReference)} that it is above the ${names.reference}'s` : ''}, failing at ${ratio(bar)} (1/alpha)`;
    if (overAllowed >= bar && overReference >= bar) failures.push(`${text}: above ${allowedText} and ${ref ? `the ${names.reference}'s` : 'without a reference'} (${evidence})`);
    else notes.push(`${text}: not shown above ${allowedText} and above the ${names.reference}'s (${evidence})`);
  };
  const gross = excessRateEvidenceSafe(subject.errors, n, t.grossErrorRate);
  if (gross >= bar) failures.push(`${errorsText}: far above anything plausible, shown above ${pct(t.grossErrorRate)} (likelihood ratio ${ratio(gross)}, failing at ${ratio(bar)}) whatever the ${names.reference} does`);
  else guard(subject.errors, ref?.errors ?? 0, t.maxErrorRate, errorsText, `the allowed ${pct(t.maxErrorRate)}`);
  guard(subject.slow, ref?.slow ?? 0, ALLOWED_SLOW_SHARE, slowText, `the 1% a p99 of ${t.maxP99LatencyMs} ms allows`);
  return { failures, notes };
}
