/**
 * Evidence that a rate is above an allowed one, valid however often it is looked at.
 *
 * k events (errors, slow predictions) in n independent trials, against H0: rate ≤ p0. The evidence
 * is the mean, over alternatives p1 = p0 with its odds multiplied by 2, 4, …, 2^ALTERNATIVES, of
 * the likelihood ratio (p1/p0)^k ((1 − p1)/(1 − p0))^(n − k). Each ratio is a non-negative
 * supermartingale in n under any rate ≤ p0, so their mean is too, and by Ville's inequality
 * P(it ever reaches 1/α) ≤ α: a guard re-judged on a growing window every few minutes for days
 * keeps its level, which a fixed-n test at α per look does not (its error grows with every look).
 * The price is some power on a single look; the mixture over alternatives keeps it for gross and
 * moderate excesses alike without choosing one.
 */
import { BadInputError } from '../errors';

/** Odds multipliers 2^1 … 2^8: from a doubled rate to one 256 times the allowed odds. */
const ALTERNATIVES = 8;

/** The mixture likelihood ratio of "rate > p0" on k events in n trials (1: no evidence). */
export function excessRateEvidence(k: number, n: number, p0: number): number {
  if (!Number.isInteger(k) || !Number.isInteger(n) || n < 0 || k < 0 || k > n) throw new BadInputError(`excess-rate evidence needs integer counts 0 <= k <= n, got ${k} of ${n}`);
  if (!(p0 >= 0 && p0 <= 1)) throw new BadInputError(`excess-rate evidence needs an allowed rate in [0, 1], got ${p0}`);
  if (p0 === 1) return 1;
  // Under a rate of 0 a single event is proof.
  if (p0 === 0) return k > 0 ? Infinity : 1;
  const odds0 = p0 / (1 - p0);
  let sum = 0;
  for (let j = 1; j <= ALTERNATIVES; j++) {
    const odds = odds0 * 2 ** j;
    const p1 = odds / (1 + odds);
    sum += Math.exp(k * Math.log(p1 / p0) + (n - k) * Math.log((1 - p1) / (1 - p0)));
  }
  return sum / ALTERNATIVES;
}
