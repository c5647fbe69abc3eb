/**
 * Group-sequential testing: a test looked at again and again as data accrue, stopping at the first
 * look that crosses its boundary. Testing every look at the fixed-sample α ("peeking") makes the
 * chance of some false crossing grow with the looks (daily looks over two weeks: 3–4×α).
 *
 * The boundary here is O'Brien–Fleming's in its continuous-monitoring form: for one side, cross at
 * information fraction t ∈ (0, 1] when Z ≥ c/√t, i.e. when the score B(t) = Z·√t reaches c. Under
 * H0, B is a Brownian motion in t, and by the reflection principle P(sup_{s≤t} B(s) ≥ c) =
 * 2(1 − Φ(c/√t)): exactly Lan & DeMets's O'Brien–Fleming-type spending function α(t) (Lan & DeMets
 * 1983). So the chance of a false crossing by information t is at most α(t) however many looks are
 * taken and whenever they are taken (discrete looks cross less often than the continuous path), and
 * a look needs to know only its own t: no look count, no record of earlier boundaries. The price
 * against a boundary fitted to a known schedule of k looks: at t = 1 the critical value is
 * Φ⁻¹(1 − α/2) for a one-sided α (2.24 for 0.025, against 1.96 for one look and ~2.0–2.1 for 5–10
 * planned looks). Early looks need overwhelming evidence (t = 0.25: z ≥ 4.48), so chance swings
 * while little has matured cannot stop a test.
 *
 * Valid as long as t does not understate how much of the final information a look holds in a way
 * that shrinks the boundary: t from elapsed time is conservative when information accrues in
 * proportion to time or faster, and the caller should measure time on the scale on which data
 * mature (see lib/deployment/ab-report.ts).
 */
import { BadInputError } from '../errors';
import { normalCdf, normalInverseCdf } from './normal';

export interface SequentialBoundary {
  /** Information fraction of the look, clamped to [0, 1]. */
  informationFraction: number;
  /** One-sided α spent by this information over any number of looks: 2(1 − Φ(c/√t)). */
  alphaSpent: number;
  /** Critical z of the look (Infinity at t = 0). */
  z: number;
  /** One-sided nominal p-value a look must beat: 1 − Φ(z). */
  nominalAlpha: number;
}

/** The one-sided continuous O'Brien–Fleming boundary of total one-sided level `alpha` at information fraction t. */
export function obrienFlemingBoundary(alpha: number, informationFraction: number): SequentialBoundary {
  if (!(alpha > 0 && alpha < 1)) throw new BadInputError(`alpha must be in (0, 1), got ${alpha}`, 'INVALID_METRIC_INPUT');
  if (Number.isNaN(informationFraction)) throw new BadInputError('information fraction is NaN', 'INVALID_METRIC_INPUT');
  const t = Math.min(1, Math.max(0, informationFraction));
  const c = normalInverseCdf(1 - alpha / 2);
  if (t === 0) return { informationFraction: 0, alphaSpent: 0, z: Infinity, nominalAlpha: 0 };
  const z = c / Math.sqrt(t);
  return { informationFraction: t, alphaSpent: 2 * normalCdf(-z), z, nominalAlpha: normalCdf(-z) };
}

/** The z a one-sided p-value stands for (Infinity for 0), to compare Student t p-values with a z boundary. */
export function zOfOneSidedPValue(p: number): number {
  if (Number.isNaN(p)) return NaN;
  if (p <= 0) return Infinity;
  if (p >= 1) return -Infinity;
  return -normalInverseCdf(p);
}
