/** The standard normal distribution, implemented here to avoid a dependency; shared by validation and backtest statistics. */

const SQRT_2PI = Math.sqrt(2 * Math.PI);

/**
 * Standard normal CDF Φ(x), to about 1e-15 absolute: Hart's (1968) rational approximation as given by
 * West (2005), "Better approximations to cumulative normal functions"; a continued fraction beyond |x| = 7.07.
 */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const z = Math.abs(x);
  let tail: number; // P(Z > |x|)
  if (z > 37) tail = 0;
  else {
    const e = Math.exp((-z * z) / 2);
    if (z < 7.07106781186547) {
      let num = 3.52624965998911e-2 * z + 0.700383064443688;
      num = num * z + 6.37396220353165;
      num = num * z + 33.912866078383;
      num = num * z + 112.079291497871;
      num = num * z + 221.213596169931;
      num = num * z + 220.206867912376;
      let den = 8.83883476483184e-2 * z + 1.75566716318264;
      den = den * z + 16.064177579207;
      den = den * z + 86.7807322029461;
      den = den * z + 296.564248779674;
      den = den * z + 637.333633378831;
      den = den * z + 793.826512519948;
      den = den * z + 440.413735824752;
      tail = (e * num) / den;
    } else {
      // Mills-ratio continued fraction z + 1/(z + 2/(z + 3/…)); 30 terms give ~1e-14 relative for z >= 7
      // (West's 4 terms only reach ~1e-8 relative, which the quantile's refinement step would inherit).
      let cf = z;
      for (let k = 30; k >= 1; k--) cf = z + k / cf;
      tail = e / cf / SQRT_2PI;
    }
  }
  return x > 0 ? 1 - tail : tail;
}

// Acklam's rational approximation of Φ⁻¹ (relative error 1.15e-9), then one Halley step on Φ for full precision.
const A = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
const B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
const C = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
const D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
const P_LOW = 0.02425;

/** Standard normal quantile Φ⁻¹(p): −Infinity at 0, +Infinity at 1. */
export function normalInverseCdf(p: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`normalInverseCdf needs a probability in [0, 1], got ${p}`);
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  let x: number;
  if (p < P_LOW || p > 1 - P_LOW) {
    const q = Math.sqrt(-2 * Math.log(p < P_LOW ? p : 1 - p));
    const v = (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1);
    x = p < P_LOW ? v : -v;
  } else {
    const q = p - 0.5;
    const r = q * q;
    x = ((((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q) / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1);
  }
  // Halley refinement; in the upper tail work with 1 − p so the tiny error is not lost to rounding near 1.
  // Beyond |x| = 37 Φ underflows to 0 and cannot refine anything.
  if (Math.abs(x) > 37) return x;
  const error = p > 0.5 ? 1 - p - normalCdf(-x) : normalCdf(x) - p;
  const u = error * SQRT_2PI * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}
