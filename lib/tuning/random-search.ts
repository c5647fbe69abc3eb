/**
 * Random search: trial i's params depend only on (seed, i), never on other trials or on timing, so a
 * replayed workflow, a retried suggestion or trials suggested in parallel all get the same params.
 * Pure computation (workflow-safe).
 */
import { fmix32, rng } from '../random';
import { sampleParams, type Params, type SearchSpace } from './search-space';

function checkIndex(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a non-negative integer, got ${n}`);
}

/**
 * A 32-bit PRNG seed for one trial, from the experiment seed, the trial index and a stream number (so
 * different uses of the same trial get unrelated streams). Neighbouring seeds and indices give unrelated
 * seeds (plain seed + index would give overlapping mulberry32 streams).
 */
export function trialSeed(seed: number, trialIndex: number, stream = 0): number {
  checkIndex('seed', seed);
  checkIndex('trialIndex', trialIndex);
  let h = fmix32((seed >>> 0) ^ 0x9e3779b9);
  h = fmix32(h ^ Math.floor(seed / 2 ** 32) ^ 0x7f4a7c15);
  h = fmix32(h ^ fmix32((trialIndex >>> 0) + 0x6a09e667));
  h = fmix32(h ^ fmix32(Math.floor(trialIndex / 2 ** 32) + 0xbb67ae85));
  return fmix32(h ^ fmix32((stream >>> 0) + 0x3c6ef372));
}

/** Trial `trialIndex`'s params: sampleParams with a PRNG seeded from (seed, trialIndex) only. */
export function suggestRandom(space: SearchSpace, seed: number, trialIndex: number): Params {
  return sampleParams(space, rng(trialSeed(seed, trialIndex)));
}
