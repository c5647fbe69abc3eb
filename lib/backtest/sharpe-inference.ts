/**
 * Is a Sharpe ratio better than luck? The probabilistic Sharpe ratio (Bailey & López de Prado 2012)
 * and the deflated Sharpe ratio (Bailey & López de Prado 2014), which also corrects for the best of
 * many trials having been picked. All Sharpe ratios here are per period (not annualised), as the
 * formulas require.
 */
import { neweyWestFromInfluence, type Estimate } from '../stats/dependent-inference';
import { normalCdf, normalInverseCdf } from '../stats/normal';

/** Euler–Mascheroni constant, used by the expected maximum of N standard normals. */
export const EULER_MASCHERONI = 0.5772156649015329;

export interface SharpeSample {
  /** Observed Sharpe ratio per period (mean / standard deviation of per-period returns, not annualised). */
  sharpe: number;
  /** Number of returns the Sharpe ratio was measured on (T). */
  observations: number;
  /** Skewness of the returns (0 for a normal distribution). */
  skewness: number;
  /** Kurtosis of the returns, not excess (3 for a normal distribution). */
  kurtosis: number;
}

/**
 * Probabilistic Sharpe ratio: P(true SR > benchmarkSharpe) given the observed one,
 * Φ((SR − SR*)·√(T − 1) / √(1 − γ₃·SR + (γ₄ − 1)/4·SR²)).
 */
export function probabilisticSharpeRatio(sample: SharpeSample, benchmarkSharpe = 0): number {
  const { sharpe, observations, skewness, kurtosis } = sample;
  if (!Number.isFinite(sharpe) || !Number.isFinite(benchmarkSharpe)) return NaN;
  if (!(observations >= 2)) throw new RangeError(`The probabilistic Sharpe ratio needs at least 2 observations, got ${observations}`);
  const variance = 1 - skewness * sharpe + ((kurtosis - 1) / 4) * sharpe * sharpe;
  if (!(variance > 0)) {
    throw new RangeError(`Skewness ${skewness} and kurtosis ${kurtosis} give a non-positive Sharpe ratio variance at SR ${sharpe}; check they are per-period moments and kurtosis is not excess kurtosis`);
  }
  return normalCdf(((sharpe - benchmarkSharpe) * Math.sqrt(observations - 1)) / Math.sqrt(variance));
}

/**
 * Expected maximum Sharpe ratio among N independent trials whose Sharpe ratios have the given variance
 * and mean 0: √V·((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e))). The formula is asymptotic and gives −∞
 * at N = 1, where the exact answer (the mean of a single trial) is 0, so N = 1 returns 0.
 */
export function expectedMaxSharpe(trials: number, trialSharpeVariance: number): number {
  if (!Number.isInteger(trials) || trials < 1) throw new RangeError(`The number of trials must be a whole number >= 1, got ${trials}`);
  if (!(trialSharpeVariance >= 0)) throw new RangeError(`The variance of the trial Sharpe ratios must be >= 0, got ${trialSharpeVariance}`);
  if (trials === 1 || trialSharpeVariance === 0) return 0;
  const g = EULER_MASCHERONI;
  return Math.sqrt(trialSharpeVariance) * ((1 - g) * normalInverseCdf(1 - 1 / trials) + g * normalInverseCdf(1 - 1 / (trials * Math.E)));
}

export interface DeflatedSharpeInput extends SharpeSample {
  /** Number of independent strategy configurations tried (N) before this one was picked. */
  trials: number;
  /** Variance of the per-period Sharpe ratios across those trials. */
  trialSharpeVariance: number;
}

/**
 * Deflated Sharpe ratio: the probabilistic Sharpe ratio against the expected maximum Sharpe ratio of
 * N trials, above `benchmarkSharpe` (per period, default 0): P(true SR > benchmark + what the best of N
 * skill-less trials reaches by luck). The benchmark's Sharpe ratio is taken as measured (its own
 * sampling error is not counted; sharpeDifference below counts both).
 */
export function deflatedSharpeRatio(input: DeflatedSharpeInput & { benchmarkSharpe?: number }): number {
  return probabilisticSharpeRatio(input, (input.benchmarkSharpe ?? 0) + expectedMaxSharpe(input.trials, input.trialSharpeVariance));
}

/** A deviation this small beside the mean is rounding, not spread (returns vary by far more than 10⁻¹² of their mean): no Sharpe ratio. */
export function noSpread(std: number, mean: number): boolean {
  return std <= 1e-12 * Math.abs(mean);
}

/**
 * Influence values of a per-period Sharpe ratio μ/σ (population moments) on each period:
 * (r − μ)/σ − SR·((r − μ)² − σ²)/(2σ²). Their mean is 0; the Sharpe ratio moves by about their mean
 * when the sample changes (the delta method).
 */
function sharpeInfluence(r: Float64Array): { sharpe: number; influence: Float64Array } {
  const n = r.length;
  let mean = 0;
  for (const v of r) mean += v;
  mean /= n;
  let variance = 0;
  for (const v of r) variance += (v - mean) ** 2;
  variance /= n;
  const sd = Math.sqrt(variance);
  // Returns that never change: no spread (the mean's rounding would leave a noise deviation, above).
  if (!(sd > 0) || noSpread(sd, mean)) return { sharpe: NaN, influence: new Float64Array(n).fill(NaN) };
  const sharpe = mean / sd;
  return { sharpe, influence: Float64Array.from(r, (v) => (v - mean) / sd - (sharpe * ((v - mean) ** 2 - variance)) / (2 * variance)) };
}

/**
 * The per-period Sharpe ratio of `a` minus that of `b` on the same periods (paired), or minus 0
 * without `b`, with a Newey–West standard error of the difference of their influence values: the
 * HAC test of Ledoit & Wolf (2008, "Robust performance hypothesis testing with the Sharpe ratio"),
 * which for independent normal returns is Jobson–Korkie's with Memmel's (2003) correction. One-sided
 * p: a is better. Pass excess returns (over the risk-free rate); periods where either is NaN are left out.
 */
export function sharpeDifference(a: Float64Array, b: Float64Array | undefined, options: { lags?: number; confidence?: number; evidence?: boolean } = {}): Estimate {
  if (b && b.length !== a.length) throw new RangeError(`Sharpe ratios compared on the same periods need aligned returns, got ${a.length} and ${b.length}`);
  const keep = Int32Array.from({ length: a.length }, (_, t) => t).filter((t) => Number.isFinite(a[t]) && (!b || Number.isFinite(b[t])));
  const sa = sharpeInfluence(Float64Array.from(keep, (t) => a[t]));
  const sb = b ? sharpeInfluence(Float64Array.from(keep, (t) => b[t])) : { sharpe: 0, influence: new Float64Array(keep.length) };
  const influence = Float64Array.from(sa.influence, (v, i) => v - sb.influence[i]);
  return neweyWestFromInfluence(sa.sharpe - sb.sharpe, influence, { ...options, method: b ? 'paired Sharpe ratio difference (delta method)' : 'Sharpe ratio (delta method)' });
}
