/**
 * Is the canary safe to widen? Judged from the prediction log of one step, over three kinds of
 * evidence:
 *
 * 1. Serving health of the canary (error rate, p99 latency). Known at once, so it fails the canary
 *    whatever the outcomes.
 * 2. Score shift: the canary's and the reference's probabilities on the same requests (PSI on the
 *    reference's deciles for size, two-sample KS for significance). Also known at once.
 * 3. Paired hit rate on requests where both predicted and the outcome has matured. Pairing removes
 *    the request-to-request variance (both models face the same symbol and day), and the exact
 *    McNemar test uses only the discordant requests.
 *
 * Verdict: `fail` when any threshold below is crossed; otherwise `inconclusive` while fewer than
 * minMaturedPairs pairs have matured; otherwise `pass`.
 *
 * The hit-rate rule, precisely: with d = canary hit rate − reference hit rate on the matured pairs
 * and p = P(X ≤ b) for X ~ Binomial(b + c, ½) (b = pairs only the canary got right, c = only the
 * reference), the canary fails when d < −maxHitRateDrop AND p < alpha. The first part ignores drops
 * too small to matter, the second drops that could be chance. Note the test is of "the canary is
 * worse at all", not "worse by more than maxHitRateDrop"; a large but noisy drop passes once the
 * minimum pairs are in, so set minMaturedPairs for the power you want.
 *
 * The shift rule is built the same way: fail when PSI > maxPsi AND the KS p-value < alpha. KS
 * assumes independent samples; the two scores of one request are positively correlated, which makes
 * it conservative here. Requests and days are not independent either (one market move moves every
 * symbol), so all p-values are somewhat optimistic; the thresholds are guards, not proofs.
 */
import { z } from 'zod';
import { BadInputError, describeValidationError } from '../errors';
import { kolmogorovSmirnovTwoSample, populationStabilityIndex } from '../stats/distribution-shift';
import { nearestRankQuantileOfSorted, sortedAscending } from '../stats/quantiles';
import { mcNemarTest } from '../validation/metrics';
import type { PredictionWithOutcome } from './outcomes';

export const canaryThresholdsSchema = z.object({
  /** Share of the canary's predictions that failed. */
  maxErrorRate: z.number().min(0).max(1).default(0.01),
  maxP99LatencyMs: z.number().positive().default(50),
  /** Matured, labelled pairs needed before the hit rates are judged. */
  minMaturedPairs: z.number().int().min(1).default(30),
  /** Hit-rate drop (absolute, 0.02 = 2 points) that fails the canary when also significant. */
  maxHitRateDrop: z.number().min(0).max(1).default(0.02),
  maxPsi: z.number().min(0).default(0.25),
  /** Significance level of the one-sided McNemar and the KS test. */
  alpha: z.number().gt(0).lt(1).default(0.05),
});
export type CanaryThresholds = z.infer<typeof canaryThresholdsSchema>;
export type CanaryThresholdsInput = z.input<typeof canaryThresholdsSchema>;

export interface VariantServingStats {
  variant: string;
  /** All predictions of the variant, served or not. */
  predictions: number;
  /** Predictions that were the response. */
  served: number;
  /** Predictions with an error or without a probability. */
  errors: number;
  errorRate: number | null;
  /** Nearest-rank latency percentiles over all the variant's predictions, in ms. */
  p50LatencyMs: number | null;
  p99LatencyMs: number | null;
}

export interface PairedComparison {
  /** Requests where both the canary and the reference returned a prediction. */
  requests: number;
  /** Of those, pairs with a matured label: the rows the hit rates below are computed on. */
  pairs: number;
  unmatured: number;
  /** Matured without a label (dead zone, missing bar). */
  noLabel: number;
  canaryHitRate: number | null;
  referenceHitRate: number | null;
  /** canaryHitRate − referenceHitRate. */
  difference: number | null;
  /** Discordant pairs: only the canary right (b), only the reference right (c). */
  canaryOnlyCorrect: number;
  referenceOnlyCorrect: number;
  /** Exact two-sided McNemar p-value. */
  pValue: number;
  /** Exact one-sided p-value of "the canary is worse": P(X ≤ b), X ~ Binomial(b + c, ½). */
  pValueCanaryWorse: number;
}

export interface ScoreShift {
  /** Requests with a probability from both. */
  pairs: number;
  /** Canary against the reference's deciles; null without pairs. */
  psi: number | null;
  ksStatistic: number | null;
  ksPValue: number | null;
}

export type CanaryVerdict = 'pass' | 'fail' | 'inconclusive';

export interface CanaryAnalysis {
  canary: string;
  reference: string;
  thresholds: CanaryThresholds;
  /** Every variant in the rows, by name. */
  variants: VariantServingStats[];
  paired: PairedComparison;
  shift: ScoreShift;
  /** Paired requests whose outcome has not matured yet (same as paired.unmatured). */
  unmatured: number;
  verdict: CanaryVerdict;
  reasons: string[];
}

export interface CanaryAnalysisOptions {
  /** Variant name of the canary. */
  canary: string;
  /** Variant it is compared with, normally 'champion'. */
  reference: string;
  thresholds?: CanaryThresholdsInput;
}

const isError = (r: PredictionWithOutcome) => r.error !== null || r.probability === null;

/** The class the prediction stood for; the logged class when present, else the probability at ½. */
function predictedClassOf(r: PredictionWithOutcome): number {
  return r.predictedClass ?? ((r.probability as number) >= 0.5 ? 1 : 0);
}

export function servingStatsOf(variant: string, rows: readonly PredictionWithOutcome[]): VariantServingStats {
  const errors = rows.filter(isError).length;
  const latency = sortedAscending(rows.map((r) => r.latencyUs / 1000));
  const n = rows.length;
  return {
    variant,
    predictions: n,
    served: rows.filter((r) => r.served).length,
    errors,
    errorRate: n > 0 ? errors / n : null,
    p50LatencyMs: n > 0 ? nearestRankQuantileOfSorted(latency, 0.5) : null,
    p99LatencyMs: n > 0 ? nearestRankQuantileOfSorted(latency, 0.99) : null,
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const num = (x: number, digits = 3) => x.toFixed(digits);

function parseThresholds(input: CanaryThresholdsInput | undefined): CanaryThresholds {
  const parsed = canaryThresholdsSchema.safeParse(input ?? {});
  if (!parsed.success) throw new BadInputError(`invalid canary thresholds: ${describeValidationError(parsed.error)}`);
  return parsed.data;
}

export function analyseCanary(rows: readonly PredictionWithOutcome[], options: CanaryAnalysisOptions): CanaryAnalysis {
  const { canary, reference } = options;
  if (canary === reference) throw new BadInputError(`the canary and the reference must be different variants, both are "${canary}"`);
  const thresholds = parseThresholds(options.thresholds);
  const { alpha } = thresholds;

  const byVariant = new Map<string, PredictionWithOutcome[]>();
  for (const r of rows) {
    const list = byVariant.get(r.variant);
    if (list) list.push(r);
    else byVariant.set(r.variant, [r]);
  }
  const variants = [...byVariant.keys()].sort().map((v) => servingStatsOf(v, byVariant.get(v) as PredictionWithOutcome[]));
  const canaryStats = variants.find((v) => v.variant === canary) ?? servingStatsOf(canary, []);

  // Pairs: the canary's and the reference's predictions on the same request.
  const referenceOf = new Map<string, PredictionWithOutcome>();
  for (const r of byVariant.get(reference) ?? []) referenceOf.set(r.requestId, r);
  const canaryScores: number[] = [];
  const referenceScores: number[] = [];
  let pairs = 0;
  let unmatured = 0;
  let noLabel = 0;
  let canaryHits = 0;
  let referenceHits = 0;
  let b = 0;
  let c = 0;
  for (const x of byVariant.get(canary) ?? []) {
    const y = referenceOf.get(x.requestId);
    if (!y || isError(x) || isError(y)) continue;
    canaryScores.push(x.probability as number);
    referenceScores.push(y.probability as number);
    if (!x.matured || !y.matured) {
      unmatured++;
      continue;
    }
    if (x.outcome === null || y.outcome === null) {
      noLabel++;
      continue;
    }
    pairs++;
    const canaryRight = predictedClassOf(x) === x.outcome;
    const referenceRight = predictedClassOf(y) === y.outcome;
    if (canaryRight) canaryHits++;
    if (referenceRight) referenceHits++;
    if (canaryRight && !referenceRight) b++;
    if (referenceRight && !canaryRight) c++;
  }
  const mcNemar = mcNemarTest(b, c);
  const paired: PairedComparison = {
    requests: canaryScores.length,
    pairs,
    unmatured,
    noLabel,
    canaryHitRate: pairs > 0 ? canaryHits / pairs : null,
    referenceHitRate: pairs > 0 ? referenceHits / pairs : null,
    difference: pairs > 0 ? (b - c) / pairs : null,
    canaryOnlyCorrect: b,
    referenceOnlyCorrect: c,
    pValue: mcNemar.pValue,
    pValueCanaryWorse: mcNemarTest(c, b).pValueFirstBetter,
  };
  const ks = kolmogorovSmirnovTwoSample(canaryScores, referenceScores);
  const hasScores = canaryScores.length > 0;
  const shift: ScoreShift = {
    pairs: canaryScores.length,
    psi: hasScores ? populationStabilityIndex(referenceScores, canaryScores).psi : null,
    ksStatistic: hasScores ? ks.statistic : null,
    ksPValue: hasScores ? ks.pValue : null,
  };

  const failures: string[] = [];
  const notes: string[] = [];
  if (canaryStats.predictions === 0) {
    return { canary, reference, thresholds, variants, paired, shift, unmatured, verdict: 'inconclusive', reasons: [`no predictions of variant "${canary}" in the window: is traffic routed to it?`] };
  }
  const errorRate = canaryStats.errorRate as number;
  const p99 = canaryStats.p99LatencyMs as number;
  if (errorRate > thresholds.maxErrorRate) failures.push(`canary error rate ${pct(errorRate)} (${canaryStats.errors} of ${canaryStats.predictions}) is above ${pct(thresholds.maxErrorRate)}`);
  else notes.push(`canary error rate ${pct(errorRate)} is within ${pct(thresholds.maxErrorRate)}`);
  if (p99 > thresholds.maxP99LatencyMs) failures.push(`canary p99 latency ${num(p99, 1)} ms is above ${thresholds.maxP99LatencyMs} ms`);
  else notes.push(`canary p99 latency ${num(p99, 1)} ms is within ${thresholds.maxP99LatencyMs} ms`);
  if (shift.psi !== null && shift.ksPValue !== null) {
    const text = `score shift on ${shift.pairs} paired requests: PSI ${num(shift.psi)}, KS D ${num(shift.ksStatistic as number)} (p ${num(shift.ksPValue, 4)})`;
    if (shift.psi > thresholds.maxPsi && shift.ksPValue < alpha) failures.push(`${text} exceeds PSI ${thresholds.maxPsi} and is significant at ${alpha}`);
    else notes.push(`${text}: within PSI ${thresholds.maxPsi} or not significant at ${alpha}`);
  } else notes.push(`no requests with predictions from both "${canary}" and "${reference}": score shift and hit rates cannot be compared (is the reference predicting on canary requests?)`);

  if (failures.length > 0) return { canary, reference, thresholds, variants, paired, shift, unmatured, verdict: 'fail', reasons: failures };
  if (pairs < thresholds.minMaturedPairs) {
    return { canary, reference, thresholds, variants, paired, shift, unmatured, verdict: 'inconclusive', reasons: [`only ${pairs} matured pairs (need ${thresholds.minMaturedPairs}); ${unmatured} paired requests await their outcome`, ...notes] };
  }
  const d = paired.difference as number;
  const hitText = `paired hit rate canary ${pct(paired.canaryHitRate as number)} vs ${reference} ${pct(paired.referenceHitRate as number)} on ${pairs} pairs (difference ${(100 * d).toFixed(1)} points, one-sided McNemar p ${num(paired.pValueCanaryWorse, 4)})`;
  if (d < -thresholds.maxHitRateDrop && paired.pValueCanaryWorse < alpha) {
    return { canary, reference, thresholds, variants, paired, shift, unmatured, verdict: 'fail', reasons: [`${hitText}: drop larger than ${(100 * thresholds.maxHitRateDrop).toFixed(1)} points and significant at ${alpha}`] };
  }
  return { canary, reference, thresholds, variants, paired, shift, unmatured, verdict: 'pass', reasons: [`${hitText}: no significant drop larger than ${(100 * thresholds.maxHitRateDrop).toFixed(1)} points`, ...notes] };
}
