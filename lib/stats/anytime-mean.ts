/**
 * Evidence about the mean of values summed per cluster, valid however often it is looked at: an
 * e-process, whose chance of ever reaching 1/α under the null is at most α (Ville's inequality), so
 * an analysis may be repeated every few minutes for weeks on a growing sample and keep its level,
 * which a fixed-sample test at α per look does not.
 *
 * The data are clusters in a fixed order (feature dates, or blocks of them), each the sum of the
 * values of its `count` members (symbol-days). The null concerns the mean per member, m0: with
 * X_t = sum_t − m0·count_t, H0 says each X_t is symmetric about 0 or leans away from the
 * alternative's side, given the earlier clusters. Nothing is assumed about the dependence inside a
 * cluster (the symbols of one day share its market move): as in the sign-flip test, a cluster is
 * one unit however many members it has, but a cluster of 100 members weighs more than one of 5.
 *
 * For conditionally symmetric X_t, exp(λ·S − λ²·V/2), S = Σ X_t, V = Σ X_t², is a supermartingale
 * for every λ (de la Peña 1999; Howard et al. 2021): self-normalised, so no variance need be known
 * and no bound on X assumed (a bounded-mean betting test, which needs no symmetry, may bet at most
 * 1/(the largest possible loss): in simulated default canary rollouts of 100 symbols it took a
 * median of 107 trading days to promote an equally good canary at a 5-point margin, this one 25). Mixing λ
 * over a half-normal of precision ρ gives the closed form
 *   E = 2·√(ρ/(V + ρ))·exp(S²/(2(V + ρ)))·Φ(S/√(V + ρ))
 * (evidence that the mean is above m0; below: the same on −X). The running maximum over the
 * clusters is reported, since every earlier value was a look the data allowed.
 *
 * Exactness: at m0 = 0 with two exchangeable models the day sums of their paired differences are
 * symmetric (the sign-flip test's null), so the bound is exact; against a shifted null (m0 ≠ 0,
 * "worse by δ") X_t is symmetric only approximately, as a sum of many discordant pairs is, so that
 * side's level holds as the normal approximation does.
 */
import { BadInputError } from '../errors';
import { normalCdf } from './normal';

export interface ClusterSum {
  /** Σ of the cluster's values. */
  sum: number;
  /** Members (≥ 0; a cluster of none is skipped). */
  count: number;
}

export interface AnytimeEvidence {
  /** Running maximum of the e-process: H0 rejected at α once ≥ 1/α. */
  evidence: number;
  /** The e-process after the last cluster (≤ evidence). */
  current: number;
  /** Clusters with at least one member. */
  clusters: number;
}

/**
 * Precision ρ of the mixture, in the squared units of a cluster sum: the boundary is tightest at
 * V ≈ ρ·(2·ln(1/α) + ln(1 + 2·ln(1/α))) ≈ 800 at α 0.05 (a few weeks of tens of discordant pairs a
 * day), and within a few per cent of that from a tenth to ten times it.
 */
export const MIXTURE_PRECISION = 100;

function checkClusters(clusters: readonly ClusterSum[], m0: number): void {
  if (!Number.isFinite(m0)) throw new BadInputError(`anytime mean evidence needs a finite null mean, got ${m0}`, 'INVALID_METRIC_INPUT');
  for (const c of clusters) {
    if (!(Number.isInteger(c.count) && c.count >= 0)) throw new BadInputError(`a cluster's member count must be an integer >= 0, got ${c.count}`, 'INVALID_METRIC_INPUT');
    if (!Number.isFinite(c.sum)) throw new BadInputError(`a cluster sum must be finite, got ${c.sum}`, 'INVALID_METRIC_INPUT');
  }
}

function evidenceOf(xs: Iterable<number>, rho: number): AnytimeEvidence {
  let s = 0;
  let v = 0;
  let best = 1;
  let current = 1;
  let clusters = 0;
  for (const x of xs) {
    clusters++;
    s += x;
    v += x * x;
    const scale = v + rho;
    current = 2 * Math.sqrt(rho / scale) * Math.exp((s * s) / (2 * scale)) * normalCdf(s / Math.sqrt(scale));
    best = Math.max(best, current);
  }
  return { evidence: best, current, clusters };
}

/** Evidence against H0 "the mean per member is ≤ m0" (that it is above m0). */
export function meanAboveEvidence(clusters: readonly ClusterSum[], m0: number, rho = MIXTURE_PRECISION): AnytimeEvidence {
  checkClusters(clusters, m0);
  return evidenceOf(clusters.filter((c) => c.count > 0).map((c) => c.sum - m0 * c.count), rho);
}

/** Evidence against H0 "the mean per member is ≥ m0" (that it is below m0). */
export function meanBelowEvidence(clusters: readonly ClusterSum[], m0: number, rho = MIXTURE_PRECISION): AnytimeEvidence {
  checkClusters(clusters, m0);
  return evidenceOf(clusters.filter((c) => c.count > 0).map((c) => m0 * c.count - c.sum), rho);
}

/**
 * Prior variance g of the standardised effect (mean / sd of one observation) in tMixtureEvidence.
 * It sets the most n observations can show, however clear: (1 + n·g)^((n − 1)/2) as t → ∞. At the
 * unit-information g = 1 that is 11 on 4 and 36 on 5, so an A/B challenger wrong on every outcome
 * waited for 5 blocks (25 matured days of 5-day labels) to reach 1/α = 20; at 2 it is 27 on 4 (7 on
 * 3, 121 on 5). Over 100 simulated 40-day A/B tests of 5-day labels (blocks of 5 days) the share
 * decided on a B 10 and 5 points better was 89% and 27% at g = 2 (89% and 25% at 1, 86% and 23% at
 * 8); over 400 tests of equal models, 2.0–2.3% (1.3–1.5% at 1) at α 5%.
 */
export const T_MIXTURE_G = 2;

/**
 * The fewest observations on which tMixtureEvidence can reach `bound` (1/α), however clear they
 * are: the most n observations can show is (1 + n·g)^((n − 1)/2) (t → ∞), so the smallest n where
 * that reaches the bound (4 at α 0.05 and g 2: 7 on 3, 27 on 4; 5 at α 0.01).
 */
export function tMixtureMinObservations(bound: number, g = T_MIXTURE_G): number {
  if (!(Number.isFinite(bound) && bound > 1)) throw new BadInputError(`an evidence bound must be a finite number above 1, got ${bound}`, 'INVALID_METRIC_INPUT');
  if (!(Number.isFinite(g) && g > 0)) throw new BadInputError(`the t mixture's prior variance must be a positive number, got ${g}`, 'INVALID_METRIC_INPUT');
  let n = 2;
  // Compared in logs, as tMixtureEvidence computes it; the bound grows without limit in n, so this ends.
  while (((n - 1) / 2) * Math.log1p(n * g) < Math.log(bound)) n++;
  return n;
}

/** Anytime evidence that a mean is above 0 and that it is below 0, from one process. */
export interface TwoSidedAnytimeEvidence {
  /** Running maximum of the process over the prefixes whose mean was above 0 (1 if none). */
  above: number;
  /** The same over the prefixes whose mean was below 0. */
  below: number;
  /** The process after the last observation. */
  current: number;
  /** Observations. */
  observations: number;
}

/**
 * Evidence that the mean of independent, roughly normal observations of unknown common variance is
 * not 0, valid however often it is looked at: the sequential t-test, the Bayes factor of a normal
 * prior of variance g on the standardised mean against 0, the unknown scale given the right-Haar
 * prior 1/σ (Rouder et al. 2009 for its closed form; Lai 1976; Pérez-Ortiz et al. 2024 for why it
 * is an e-process: a test martingale under the null in the filtration of the scale-free statistics):
 *   B_n = (1 + n·g)^(−1/2) · ((1 + t²/ν) / (1 + t²/(ν(1 + n·g))))^(n/2),   ν = n − 1,
 * t the one-sample t statistic of the first n observations (B_1 = 1: one observation has no scale).
 *
 * Why beside the self-normalised mixture above: that one assumes only symmetry, and pays for it,
 * since S²/V ≤ n it can never exceed about exp(n/2) on n clusters, short of 1/α = 20–40 before 8–9
 * independent clusters, the whole of an eight-week test of 5-day labels however large the effect.
 * Assuming normal observations (sums of many symbol-days each) this one reaches 40 on 8 of them with
 * a clear effect.
 */
export function tMixtureEvidence(xs: readonly number[], g = T_MIXTURE_G): TwoSidedAnytimeEvidence {
  if (!(Number.isFinite(g) && g > 0)) throw new BadInputError(`the t mixture's prior variance must be a positive number, got ${g}`, 'INVALID_METRIC_INPUT');
  for (const x of xs) if (!Number.isFinite(x)) throw new BadInputError(`an observation must be finite, got ${x}`, 'INVALID_METRIC_INPUT');
  let sum = 0;
  let above = 1;
  let below = 1;
  let current = 1;
  for (let n = 1; n <= xs.length; n++) {
    sum += xs[n - 1];
    if (n === 1) continue;
    const mean = sum / n;
    let ss = 0;
    for (let i = 0; i < n; i++) ss += (xs[i] - mean) ** 2;
    // t²/ν = n·mean²/ss; identical observations: 0 if they are 0, else the limit t → ∞.
    const r = ss > 0 ? (n * mean * mean) / ss : mean === 0 ? 0 : Infinity;
    const spread = 1 + n * g;
    const logRatio = r === Infinity ? Math.log(spread) : Math.log1p(r) - Math.log1p(r / spread);
    current = Math.exp(-0.5 * Math.log(spread) + (n / 2) * logRatio);
    if (mean > 0) above = Math.max(above, current);
    if (mean < 0) below = Math.max(below, current);
  }
  return { above, below, current, observations: xs.length };
}
