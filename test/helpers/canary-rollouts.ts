/**
 * Simulated canary rollouts through the real analyseCanary, with the deployment workflow's step
 * logic: the challenger takes each step's share of the symbols, the champion predicts on the same
 * requests, one request per symbol and trading day, outcomes mature `horizon` sessions after their
 * feature date, and the canary is analysed at the end of every day (an intermediate step with
 * decision 'widen', the last with 'promote'; serving health and the score shift on the step's own
 * rows, the hit rate on the whole rollout's). A failed analysis rolls back (failureLimit 1), a pass
 * moves to the next step or promotes (passesPerStep 1); a step deadline would only pause the
 * rollout for a person, so it is not modelled: the rollout waits until a decision or maxDays.
 *
 * The market: daily returns r = 0.5·market + √0.75·idiosyncratic per symbol; the outcome of
 * feature date t is the sign of the returns of sessions t+1..t+horizon (so 5-session labels of
 * consecutive days overlap). Each model predicts the sign of that sum plus noise, tuned to be right
 * 54% of the time; a healthy canary shares half the champion's noise (equal skill, a third of the
 * symbol-days discordant), a flipped one predicts the opposite of the champion on a share of the
 * symbols and as the champion on the others, and one with a `canaryHitRate` of its own is a different
 * model: the sign of ±latent plus noise of its own (no error shared with the champion), tuned to be
 * right that share of the time (below ½ it leans against the outcome). Used by the canary unit test
 * (a few rollouts) and bench/canary-rollouts.ts (many).
 */
import { analyseCanary, type CanaryThresholdsInput } from '../../lib/deployment/canary-analysis';
import type { PredictionWithOutcome } from '../../lib/deployment/outcomes';
import { rng } from '../../lib/random';

export interface RolloutSetting {
  seed: number;
  symbols: number;
  /** Label horizon in sessions (lags = horizon − 1). */
  horizon: number;
  /** Share of the symbols on which the canary predicts the opposite of the champion; 0: a healthy canary of equal skill. */
  flippedShare: number;
  /**
   * A canary of its own skill instead (flippedShare must be 0): right this share of the time, its
   * errors independent of the champion's. 0.445: 9.5 points worse than the champion's 0.54.
   */
  canaryHitRate?: number;
  /** Trading days after which an undecided rollout is given up. */
  maxDays: number;
  steps?: number[];
  /** Analyse at the end of every n-th day only (default 1): fewer looks, faster runs, decisions a little later. */
  analyseEvery?: number;
  /**
   * Default: the defaults, with the score-shift rule switched off (minScoreShift 1): a canary that
   * flips the champion's scores moves them with each day's market, and the shift rule would roll it
   * back before the hit rate is judged; these rollouts measure the hit-rate rule.
   */
  thresholds?: CanaryThresholdsInput;
  /**
   * What a widening is told it widens to: 'next' (default) the next step's share, as the deployment
   * workflow does; 'full' nothing, so every widening needs the full-traffic bound 1/alpha.
   */
  widenTo?: 'next' | 'full';
}

export interface RolloutResult {
  result: 'promoted' | 'rolled-back' | 'undecided';
  /** Trading days from the first step to the decision (maxDays when undecided). */
  days: number;
  /** Step (0-based) at which it ended. */
  step: number;
  /** The reasons of the deciding analysis. */
  reasons: string[];
  /** Trading days from the first step to the start of each step reached (index: step; 0 for the first). */
  reachedAt: number[];
}

/** Noise of a model's signal that makes it right 54% of the time: P(right) = ½ + arcsin(1/√(1 + σ²))/π. */
const NOISE = Math.sqrt(1 / Math.sin(0.04 * Math.PI) ** 2 - 1);
/** Noise that makes a signal ±latent + noise right with probability `hitRate` (its sign: hitRate ≥ ½). */
const noiseFor = (hitRate: number) => Math.sqrt(1 / Math.sin(Math.abs(hitRate - 0.5) * Math.PI) ** 2 - 1);
const dateOf = (t: number) => new Date(Date.UTC(2024, 0, 2) + t * 86_400_000).toISOString().slice(0, 10);

export function simulateRollout(setting: RolloutSetting): RolloutResult {
  const { symbols, horizon, flippedShare, maxDays, canaryHitRate } = setting;
  if (canaryHitRate !== undefined && (flippedShare !== 0 || !(canaryHitRate > 0 && canaryHitRate < 1 && canaryHitRate !== 0.5))) throw new Error(`canaryHitRate needs flippedShare 0 and a rate in (0, 1) other than ½, got ${canaryHitRate}`);
  const ownNoise = canaryHitRate === undefined ? 0 : noiseFor(canaryHitRate);
  const ownSign = canaryHitRate === undefined || canaryHitRate > 0.5 ? 1 : -1;
  const steps = setting.steps ?? [5, 25, 50, 100];
  const next = rng(setting.seed);
  const normal = () => Math.sqrt(-2 * Math.log(Math.max(next(), 1e-12))) * Math.cos(2 * Math.PI * next());
  // Daily returns for every session a feature date's outcome may need.
  const returns: Float64Array[] = [];
  for (let t = 0; t < maxDays + horizon + 1; t++) {
    const market = normal();
    returns.push(Float64Array.from({ length: symbols }, () => 0.5 * market + Math.sqrt(0.75) * normal()));
  }
  const flipped = (s: number) => s < Math.round(flippedShare * symbols);
  const rows: PredictionWithOutcome[] = [];
  const pending: { day: number; rows: PredictionWithOutcome[]; outcomes: (0 | 1)[] }[] = [];
  let step = 0;
  let stepStart = 0;
  let request = 0;
  const reachedAt = [0];
  for (let t = 0; t < maxDays; t++) {
    const weight = steps[step] / 100;
    const createdAt = `${dateOf(t)}T15:00:00.000Z`;
    const today: PredictionWithOutcome[] = [];
    const outcomes: (0 | 1)[] = [];
    for (let s = 0; s < symbols; s++) {
      let sum = 0;
      for (let k = 1; k <= horizon; k++) sum += returns[t + k][s];
      const latent = sum / Math.sqrt(horizon);
      const outcome: 0 | 1 = latent > 0 ? 1 : 0;
      const shared = (NOISE / Math.SQRT2) * normal();
      const champion = latent + shared + (NOISE / Math.SQRT2) * normal();
      const healthy = latent + shared + (NOISE / Math.SQRT2) * normal();
      // Drawn only for such a canary, so the other settings' draws (and results) are unchanged.
      const own = canaryHitRate === undefined ? 0 : ownSign * latent + ownNoise * normal();
      if (next() >= weight) continue;
      const pr = 1 / (1 + Math.exp(-0.25 * champion));
      const pc = canaryHitRate !== undefined ? 1 / (1 + Math.exp(-0.25 * own)) : flipped(s) ? 1 - pr : flippedShare > 0 ? pr : 1 / (1 + Math.exp(-0.25 * healthy));
      const base = { requestId: `r${request}`, model: 'sim', symbol: `S${s}`, routingKey: `S${s}`, asOf: dateOf(t), latencyUs: 5000, error: null, createdAt, outcome: null, matured: false };
      today.push({ ...base, id: `r${request}:canary`, version: 2, variant: 'canary', served: true, probability: pc, predictedClass: pc >= 0.5 ? 1 : 0 });
      today.push({ ...base, id: `r${request}:champion`, version: 1, variant: 'champion', served: false, probability: pr, predictedClass: pr >= 0.5 ? 1 : 0 });
      outcomes.push(outcome, outcome);
      request++;
    }
    rows.push(...today);
    pending.push({ day: t, rows: today, outcomes });
    // End of day t: the outcomes of feature dates up to t − horizon are known.
    while (pending.length > 0 && pending[0].day <= t - horizon) {
      const p = pending.shift() as (typeof pending)[number];
      p.rows.forEach((r, i) => Object.assign(r, { matured: true, outcome: p.outcomes[i] }));
    }
    if ((t + 1) % (setting.analyseEvery ?? 1) !== 0) continue;
    const last = step === steps.length - 1;
    const a = analyseCanary(rows, { canary: 'canary', reference: 'champion', lags: horizon - 1, decision: last ? 'promote' : 'widen', ...(last || setting.widenTo === 'full' ? {} : { widenTo: steps[step + 1] / 100 }), stepSince: `${dateOf(stepStart)}T00:00:00.000Z`, thresholds: setting.thresholds ?? { minScoreShift: 1 } });
    if (a.verdict === 'fail') return { result: 'rolled-back', days: t + 1, step, reasons: a.reasons, reachedAt };
    if (a.verdict === 'pass') {
      if (last) return { result: 'promoted', days: t + 1, step, reasons: a.reasons, reachedAt };
      step++;
      stepStart = t + 1;
      reachedAt.push(t + 1);
    }
  }
  return { result: 'undecided', days: maxDays, step, reasons: [], reachedAt };
}

export interface RolloutRates {
  runs: number;
  promoted: number;
  rolledBack: number;
  undecided: number;
  /** Median trading days to a promotion / a rollback (null without any). */
  medianDaysToPromote: number | null;
  medianDaysToRollBack: number | null;
  /** Per step (index), the rollouts that reached it (the first: all). */
  reached: number[];
  /** Per step, the rollouts that reached it and were then rolled back (at that step or a later one). */
  reachedThenRolledBack: number[];
  /** Per step, the median trading day (from the first step) on which the rollouts that reached it got there. */
  medianDayReached: (number | null)[];
  /** Median trading days served at the last step (full traffic) by the rollouts rolled back there (null without any). */
  medianDaysAtLastStepBeforeRollBack: number | null;
}

export function rolloutRates(setting: Omit<RolloutSetting, 'seed'>, seeds: readonly number[]): RolloutRates {
  const results = seeds.map((seed) => simulateRollout({ ...setting, seed }));
  const steps = (setting.steps ?? [5, 25, 50, 100]).length;
  const median = (xs: number[]) => (xs.length === 0 ? null : xs.sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]);
  const of = (r: RolloutResult['result']) => results.filter((x) => x.result === r);
  return {
    runs: results.length,
    promoted: of('promoted').length,
    rolledBack: of('rolled-back').length,
    undecided: of('undecided').length,
    medianDaysToPromote: median(of('promoted').map((x) => x.days)),
    medianDaysToRollBack: median(of('rolled-back').map((x) => x.days)),
    reached: Array.from({ length: steps }, (_, k) => results.filter((x) => x.step >= k).length),
    medianDayReached: Array.from({ length: steps }, (_, k) => median(results.filter((x) => x.step >= k).map((x) => x.reachedAt[k]))),
    reachedThenRolledBack: Array.from({ length: steps }, (_, k) => of('rolled-back').filter((x) => x.step >= k).length),
    medianDaysAtLastStepBeforeRollBack: median(of('rolled-back').filter((x) => x.step === steps - 1).map((x) => x.days - x.reachedAt[steps - 1])),
  };
}
