/**
 * Distribution functions behind the tests of lib/validation and lib/stats: χ²₁, the gamma and
 * incomplete beta functions, the binomial and Student's t distributions. Implemented here (a few
 * dozen lines each, checked against scipy values in the tests) rather than pulled in as a dependency.
 */
import { BadInputError } from '../errors';
import { normalCdf, normalInverseCdf } from './normal';

function invalid(message: string): never {
  throw new BadInputError(message, 'INVALID_METRIC_INPUT');
}

/** P(χ²₁ ≥ x): a χ²₁ variable is Z², so this is P(|Z| ≥ √x). */
export function chiSquare1UpperTail(x: number): number {
  return x <= 0 ? 1 : 2 * normalCdf(-Math.sqrt(x));
}

const LANCZOS = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];

/** ln Γ(x) for x > 0 (Lanczos, g = 7; about 15 significant digits). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const y = x - 1;
  let sum = LANCZOS[0];
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i] / (y + i);
  const t = y + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** Continued fraction of the incomplete beta function (modified Lentz), converging for x < (a+1)/(a+b+2). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  const guard = (v: number) => (Math.abs(v) < tiny ? tiny : v);
  let c = 1;
  let d = 1 / guard(1 - ((a + b) * x) / (a + 1));
  let h = d;
  // Iterations grow like √max(a, b): 10⁵ covers binomial trials far beyond any test set.
  for (let m = 1; m <= 100_000; m++) {
    const even = (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m));
    d = 1 / guard(1 + even * d);
    c = guard(1 + even / c);
    h *= d * c;
    const odd = (-(a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 / guard(1 + odd * d);
    c = guard(1 + odd / c);
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < 1e-15) break;
  }
  return h;
}

/** Regularised incomplete beta I_x(a, b). */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x));
  // Evaluate the fraction where it converges fast; use the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) elsewhere.
  return x < (a + 1) / (a + b + 2) ? (front * betaContinuedFraction(x, a, b)) / a : 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

function checkBinomial(k: number, n: number, p: number): void {
  if (!Number.isInteger(k) || !Number.isInteger(n) || n < 0) invalid(`Binomial counts must be integers with n >= 0, got k = ${k}, n = ${n}`);
  if (!(p >= 0 && p <= 1)) invalid(`Binomial probability must be in [0, 1], got ${p}`);
}

/** P(X = k) for X ~ Binomial(n, p). */
export function binomialProbability(k: number, n: number, p: number): number {
  checkBinomial(k, n, p);
  if (k < 0 || k > n) return 0;
  if (p === 0 || p === 1) return k === n * p ? 1 : 0;
  return Math.exp(logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1) + k * Math.log(p) + (n - k) * Math.log1p(-p));
}

/** P(X ≥ k) for X ~ Binomial(n, p); with k = correct rows and p = p0 it is the one-sided p-value of "accuracy > p0". */
export function binomialUpperTail(k: number, n: number, p: number): number {
  checkBinomial(k, n, p);
  if (k <= 0) return 1;
  if (k > n) return 0;
  return regularizedBeta(p, k, n - k + 1);
}

/** P(X ≤ k) for X ~ Binomial(n, p). */
export function binomialLowerTail(k: number, n: number, p: number): number {
  checkBinomial(k, n, p);
  if (k < 0) return 0;
  if (k >= n) return 1;
  return regularizedBeta(1 - p, n - k, k + 1);
}

/** P(T ≤ t) for Student's t with `df` degrees of freedom (df may be fractional, > 0). */
export function studentTCdf(t: number, df: number): number {
  if (!(df > 0)) invalid(`Student's t needs degrees of freedom > 0, got ${df}`);
  if (Number.isNaN(t)) return NaN;
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  const tail = 0.5 * regularizedBeta(df / (df + t * t), df / 2, 0.5); // P(T > |t|)
  return t >= 0 ? 1 - tail : tail;
}

/** The p-quantile of Student's t with `df` degrees of freedom (bisection on the CDF; ~1e-12). */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) invalid(`a quantile needs 0 < p < 1, got ${p}`);
  if (p === 0.5) return 0;
  // Start from the normal quantile; t tails are heavier, so widen until the root is bracketed.
  let lo = normalInverseCdf(p) - 1;
  let hi = normalInverseCdf(p) + 1;
  while (studentTCdf(lo, df) > p) lo = lo * 2 - 1;
  while (studentTCdf(hi, df) < p) hi = hi * 2 + 1;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * Math.max(1, Math.abs(lo)); i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
