/**
 * The score-shift rule of the canary analysis: does the canary score like a working copy of its
 * model? It is there to catch a canary broken in serving (features skewed or in the wrong order, a
 * stale or wrong model, constant scores) at once, long before a hit-rate test has matured days.
 *
 * What the canary's scores (one per symbol-day) are compared with:
 *
 * - its own expected scores (`against: 'canary-profile'`): the score histogram of the canary
 *   version's reference profile, stored signed at registration from its walk-forward
 *   (out-of-sample) predictions (lib/monitoring/registration-profile.ts). A different model of
 *   equal skill scores differently from the champion, legitimately; against its own profile it is
 *   judged only on whether it still scores like itself. Significance is prediction drift's
 *   (lib/monitoring/drift.ts compareColumn): the chi-square divergence of the live bin shares
 *   against a null taken from the profile's own training windows of as many days, so the shared
 *   market move of a day and the overlap of consecutive days are in the null, not counted as
 *   independent evidence.
 * - without such a profile (registered before profiles, outside a training run, a score histogram
 *   from the final model on its training rows, which is more extreme than anything it serves): the
 *   reference variant's scores on the same symbol-days (`against: 'reference'`), as before, which a
 *   canary that is simply a different model can fail; the analysis says so. Its significance is a
 *   permutation test of the KS statistic over days: each day's two score vectors swap labels
 *   together, so a day counts once whatever its symbols share (the textbook KS p-value, which
 *   takes symbol-days for independent, is kept as `ksPValue` for the record). With d days the
 *   smallest p-value is 2/2^d: below 6 days it cannot reach 0.05.
 *
 * In both, the size is PSI on the comparison's bins and the mean absolute difference of the
 * quantiles (meanShift, in probability units): the rule fails only when all three are crossed.
 */
import { chiSquareDivergence, judgedBins } from '../monitoring/binning';
import { compareColumn } from '../monitoring/drift';
import type { ColumnProfile } from '../monitoring/reference-profile';
import { rng } from '../random';
import { kolmogorovSmirnovTwoSample, meanQuantileShift, populationStabilityIndex } from '../stats/distribution-shift';
import { sortedAscending } from '../stats/quantiles';

export interface ScoreShift {
  /** What the canary's scores were compared with: its own out-of-sample score profile, or the reference's scores on the same symbol-days. */
  against: 'canary-profile' | 'reference';
  /** Symbol-days with a probability from both (one score per model each): the canary's judged. */
  pairs: number;
  /** Their distinct feature dates: the units of the significance test. */
  days: number;
  /** On the profile's bins (canary-profile), or the reference's deciles (reference); null without pairs. */
  psi: number | null;
  /**
   * p-value of the rule: against the profile, the day-clustered null of its training windows
   * (drift.ts); against the reference, the KS statistic permuted over days, computed only when
   * the size thresholds are crossed. Null without pairs, or not computed.
   */
  pValue: number | null;
  /** Chi-square divergence of the live bin shares from the profile's (canary-profile only, else null). */
  divergence: number | null;
  /** The largest divergence of a training window of as many days, as drift.ts scales it (canary-profile only, else null). */
  trainingMax: number | null;
  /** KS statistic of canary against reference scores (reference only, else null). */
  ksStatistic: number | null;
  /** Its textbook p-value, taking symbol-days for independent: for the record, not judged (reference only). */
  ksPValue: number | null;
  /** Mean absolute difference of the score quantiles (Wasserstein-1, probability units); null without pairs. */
  meanShift: number | null;
}

const empty = (against: ScoreShift['against']): ScoreShift => ({ against, pairs: 0, days: 0, psi: null, pValue: null, divergence: null, trainingMax: null, ksStatistic: null, ksPValue: null, meanShift: null });

/** Dense day ordinals of the feature dates, and how many there are. */
function dayOrdinals(days: readonly string[]): { ordinal: Int32Array; count: number } {
  const distinct = [...new Set(days)].sort();
  const of = new Map(distinct.map((d, i) => [d, i]));
  return { ordinal: Int32Array.from(days, (d) => of.get(d) as number), count: distinct.length };
}

/**
 * ∫ |F_live − F_ref| dx with F_ref the profile's binned CDF: linear between its edges, the mass of
 * the two outer bins at the outermost edges (the profile keeps no values beyond them: tails of the
 * expected scores count as pulled in to the 0.1% / 99.9% tail edges, or the outer quantile edges).
 */
export function meanShiftFromProfile(edges: readonly number[], shares: readonly number[], scores: readonly number[]): number {
  const n = scores.length;
  if (n === 0 || edges.length === 0) return NaN;
  const valueShare = shares.slice(0, edges.length + 1).reduce((a, s) => a + s, 0);
  if (!(valueShare > 0)) return NaN;
  // F_ref at edge k (bins are (e[k−1], e[k]]): the shares of bins 0..k.
  const cumulative: number[] = [];
  let c = 0;
  for (let k = 0; k < edges.length; k++) cumulative.push((c += shares[k]) / valueShare);
  // F_ref on the open interval of the segment [x0, x1], at its two ends.
  const refOn = (x0: number, x1: number): [number, number] => {
    const mid = (x0 + x1) / 2;
    if (mid < edges[0]) return [0, 0];
    if (mid >= edges[edges.length - 1]) return [1, 1];
    let k = 0;
    while (edges[k + 1] <= mid) k++;
    const at = (x: number) => cumulative[k] + ((x - edges[k]) / (edges[k + 1] - edges[k])) * (cumulative[k + 1] - cumulative[k]);
    return [at(x0), at(x1)];
  };
  const live = sortedAscending([...scores]);
  const points = sortedAscending([...new Set([...edges, ...live])]);
  let area = 0;
  let below = 0;
  for (let p = 0; p + 1 < points.length; p++) {
    const [x0, x1] = [points[p], points[p + 1]];
    while (below < n && live[below] <= x0) below++;
    const [r0, r1] = refOn(x0, x1);
    const [g0, g1] = [below / n - r0, below / n - r1];
    const w = x1 - x0;
    area += g0 * g1 >= 0 ? ((Math.abs(g0) + Math.abs(g1)) / 2) * w : (w * (g0 * g0 + g1 * g1)) / (2 * (Math.abs(g0) + Math.abs(g1)));
  }
  return area;
}

/** The canary's scores (feature date of each) against its own out-of-sample score profile. */
export function shiftAgainstProfile(profile: ColumnProfile, scores: readonly number[], days: readonly string[]): ScoreShift {
  if (scores.length === 0) return empty('canary-profile');
  const { ordinal, count } = dayOrdinals(days);
  const c = compareColumn(profile, scores, ordinal);
  const bins = judgedBins(profile);
  return {
    against: 'canary-profile',
    pairs: scores.length,
    days: count,
    psi: c.psi,
    pValue: c.pValue,
    divergence: chiSquareDivergence(bins.shares, c.liveShares),
    trainingMax: c.trainingMax,
    ksStatistic: null,
    ksPValue: null,
    meanShift: meanShiftFromProfile(bins.edges, bins.shares, scores),
  };
}

/** Day labellings enumerated in full up to this many days (2^10 = 1024); beyond, drawn at random. */
const EXACT_PERMUTATION_DAYS = 10;
const RANDOM_PERMUTATIONS = 999;
/** A fixed seed: the same evidence gives the same p-value on every retry of the analysis. */
const PERMUTATION_SEED = 0x5eed5;

/**
 * P(D* ≥ D) over relabellings that swap the canary's and the reference's scores of a whole day at
 * once (the observed labelling counted, so p ≥ 1/permutations). Valid when, with no shift, the
 * two models' scores of a day are exchangeable as vectors, however strongly the day's symbols move
 * together.
 */
export function dayPermutationKsPValue(canary: readonly number[], reference: readonly number[], days: readonly string[]): number {
  const n = canary.length;
  const { ordinal, count } = dayOrdinals(days);
  // Pooled scores in order, each with its day and whether it is the canary's.
  const order = Array.from({ length: 2 * n }, (_, i) => i).sort((a, b) => (a < n ? canary[a] : reference[a - n]) - (b < n ? canary[b] : reference[b - n]));
  const value = Float64Array.from(order, (i) => (i < n ? canary[i] : reference[i - n]));
  const day = Int32Array.from(order, (i) => ordinal[i % n]);
  const isCanary = Uint8Array.from(order, (i) => (i < n ? 1 : 0));
  const swap = new Uint8Array(count);
  const statistic = () => {
    let a = 0;
    let b = 0;
    let d = 0;
    for (let i = 0; i < 2 * n; ) {
      const v = value[i];
      for (; i < 2 * n && value[i] === v; i++) {
        if (isCanary[i] ^ swap[day[i]]) a++;
        else b++;
      }
      d = Math.max(d, Math.abs(a - b));
    }
    return d; // both samples hold n scores: |F_a − F_b| · n
  };
  const observed = statistic();
  let atLeast = 0;
  let total = 0;
  if (count <= EXACT_PERMUTATION_DAYS) {
    for (let pattern = 0; pattern < 2 ** count; pattern++) {
      for (let k = 0; k < count; k++) swap[k] = (pattern >> k) & 1;
      if (statistic() >= observed) atLeast++;
      total++;
    }
    return atLeast / total;
  }
  const next = rng(PERMUTATION_SEED);
  atLeast = 1;
  total = 1;
  for (let r = 0; r < RANDOM_PERMUTATIONS; r++) {
    for (let k = 0; k < count; k++) swap[k] = next() < 0.5 ? 1 : 0;
    if (statistic() >= observed) atLeast++;
    total++;
  }
  return atLeast / total;
}

/**
 * The canary's scores against the reference's on the same symbol-days (both lists in the same order,
 * with the feature date of each). The permutation p-value is computed only when the size crosses
 * `sizeGate` (PSI above maxPsi and mean shift above minScoreShift): otherwise the rule passes
 * whatever it is, and it costs up to 1 000 passes over the scores. Null when not computed.
 */
export function shiftAgainstReference(canary: readonly number[], reference: readonly number[], days: readonly string[], sizeGate: { maxPsi: number; minScoreShift: number }): ScoreShift {
  if (canary.length === 0) return empty('reference');
  const ks = kolmogorovSmirnovTwoSample(canary, reference);
  const psi = populationStabilityIndex(reference, canary).psi;
  const meanShift = meanQuantileShift(canary, reference);
  return {
    against: 'reference',
    pairs: canary.length,
    days: new Set(days).size,
    psi,
    pValue: psi > sizeGate.maxPsi && meanShift > sizeGate.minScoreShift ? dayPermutationKsPValue(canary, reference, days) : null,
    divergence: null,
    trainingMax: null,
    ksStatistic: ks.statistic,
    ksPValue: ks.pValue,
    meanShift,
  };
}
