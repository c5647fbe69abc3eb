/**
 * Upper tail of the chi-square distribution through the regularised incomplete gamma function
 * (series below a + 1, Lentz's continued fraction above, as in Numerical Recipes §6.2). Degrees of
 * freedom need not be integers: the drift test uses Satterthwaite's fractional ones.
 */
import { logGamma, regularizedBeta } from '../stats/distributions';

const EPS = 1e-15;
const MAX_ITERATIONS = 10_000;

/** P(a, x) by its power series; converges quickly for x < a + 1. */
function lowerSeries(a: number, x: number): number {
  let term = 1 / a;
  let sum = term;
  for (let n = 1; n < MAX_ITERATIONS; n++) {
    term *= x / (a + n);
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * EPS) break;
  }
  return sum * Math.exp(-x + a * Math.log(x) - logGamma(a));
}

/** Q(a, x) by its continued fraction (modified Lentz); converges quickly for x > a + 1. */
function upperFraction(a: number, x: number): number {
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < MAX_ITERATIONS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPS) break;
  }
  return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h;
}

/** Regularised upper incomplete gamma Q(a, x) = Γ(a, x) / Γ(a). */
export function regularizedGammaQ(a: number, x: number): number {
  if (!(a > 0)) throw new RangeError(`the incomplete gamma function needs a > 0, got ${a}`);
  if (Number.isNaN(x)) return NaN;
  if (x <= 0) return 1;
  if (x === Infinity) return 0;
  return x < a + 1 ? Math.max(0, 1 - lowerSeries(a, x)) : Math.min(1, upperFraction(a, x));
}

/** P(X ≥ x) for X ~ χ²(df); df > 0, fractional allowed. */
export function chiSquareUpperTail(x: number, df: number): number {
  if (!(df > 0)) throw new RangeError(`chi-square needs df > 0, got ${df}`);
  return regularizedGammaQ(df / 2, x / 2);
}

/**
 * P(F ≥ f) for F ~ F(d1, d2). With d1 = 1 it is the χ²(1) tail of a statistic whose scale was
 * estimated from d2 independent observations: the predictive tail, heavier than the plug-in one.
 */
export function fUpperTail(f: number, d1: number, d2: number): number {
  if (!(d1 > 0) || !(d2 > 0)) throw new RangeError(`the F distribution needs positive degrees of freedom, got ${d1} and ${d2}`);
  if (Number.isNaN(f)) return NaN;
  if (f <= 0) return 1;
  return regularizedBeta(d2 / (d2 + d1 * f), d2 / 2, d1 / 2);
}
