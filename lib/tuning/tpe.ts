/**
 * Tree-structured Parzen Estimator (Bergstra et al. 2011, "Algorithms for hyper-parameter optimization"),
 * following Optuna's univariate TPESampler: completed trials are split into the best γ fraction ("good")
 * and the rest ("bad"); each searched dimension gets a Parzen estimator per group, l(x) from the good
 * trials and g(x) from the bad ones; candidates are drawn from l and the one with the largest
 * log l(x) − log g(x), summed over dimensions, is suggested.
 *
 * - Scores are maximised: higher is better (e.g. cross-validated ROC AUC). NaN scores (failed or
 *   degenerate trials) rank as the worst.
 * - Numeric dimensions live in the unit space of search-space.ts (log-scaled where `log`; ints widened to
 *   [low − 0.5, high + 0.5] so each integer owns an equal bin). There, each estimator is a mixture of
 *   Gaussians truncated to [0, 1], one per trial, with bandwidth = the larger distance to its sorted
 *   neighbours (endpoints count only their inner neighbour) clipped to [1 / min(100, 1 + kernels), 1]
 *   ("magic clip"), plus a prior component N(0.5, 1). Ints are scored by the probability mass of their bin
 *   and rounded when mapped back.
 * - A choice gets a smoothed categorical distribution: each trial's kernel puts weight 1 + w/k on its own
 *   value and w/k on every value (w = priorWeight, k = kernels), plus a uniform prior kernel.
 * - Trials are weighted as Optuna does: equally, except beyond 25 trials in a group, where older ones
 *   (by trial index) ramp down linearly.
 *
 * Deterministic: the suggestion depends only on (space, seed, trialIndex, options) and the *set* of completed
 * trials. They are put in trial-index order first, so the order they completed in does not matter.
 * Pure computation (workflow-safe): no clock, no Math.random, no I/O.
 */
import { rng } from '../random';
import { normalCdf, normalInverseCdf } from '../stats/normal';
import { suggestRandom, trialSeed } from './random-search';
import { dimensionsOf, encodeOne, fixedParamsOf, numericFromUnit, numericToUnit, paramsKey, type Dimension, type Params, type SearchSpace } from './search-space';

/** A finished trial. `index` is its trial index (the one it was suggested for); only used for ordering. */
export interface CompletedTrial {
  index: number;
  /** Checked against the space: a trial whose searched params do not fit it is ignored. */
  params: Readonly<Record<string, unknown>>;
  /** Higher is better; NaN = failed (ranked worst). */
  score: number;
}

export interface TpeOptions {
  /**
   * Trials 0 … nStartup − 1 are random (the same params suggestRandom gives). Default: 10, or for a
   * small `budget` ceil(budget / 3) (at least 1) so that TPE still guides two thirds of the trials.
   */
  nStartup?: number;
  /** The planned number of trials; only used for the default nStartup. */
  budget?: number;
  /** Fraction of completed trials in the good group, (0, 1]; at least one trial. Default 0.25. */
  gamma?: number;
  /** Candidates drawn from l(x) per suggestion. Default 24. */
  nCandidates?: number;
  /** Weight of the prior component relative to one trial. Default 1. */
  priorWeight?: number;
}

const DEFAULT_STARTUP = 10;
const TPE_STREAM = 0x7e5;

/** The default number of random start-up trials for a planned budget (10 when unknown). */
export function defaultStartupTrials(budget?: number): number {
  if (budget === undefined) return DEFAULT_STARTUP;
  return Math.min(DEFAULT_STARTUP, Math.max(1, Math.ceil(budget / 3)));
}

type NumericDim = Extract<Dimension, { lo: number }>;
type ChoiceDim = Extract<Dimension, { kind: 'choice' }>;

/** An encoded completed trial: coordinates in dimensionsOf order (unit coordinate, or choice index). */
interface Encoded {
  index: number;
  key: string;
  score: number;
  x: number[];
}

/**
 * TPE's suggestion for trial `trialIndex`. Random (suggestRandom) for the start-up trials and while no
 * usable trial has completed. Completed trials whose params do not fit the space (missing, out of range,
 * unknown choice) are ignored rather than failing the workflow. Among the candidates it prefers the best one
 * whose params were not already tried (matters for small int / choice spaces), else the best.
 */
export function suggestTpe(space: SearchSpace, history: readonly CompletedTrial[], seed: number, trialIndex: number, options: TpeOptions = {}): Params {
  const nStartup = options.nStartup ?? defaultStartupTrials(options.budget);
  const gamma = options.gamma ?? 0.25;
  const nCandidates = options.nCandidates ?? 24;
  const priorWeight = options.priorWeight ?? 1;
  if (!Number.isInteger(nStartup) || nStartup < 0) throw new RangeError(`nStartup must be a non-negative integer, got ${nStartup}`);
  if (!(gamma > 0 && gamma <= 1)) throw new RangeError(`gamma must be in (0, 1], got ${gamma}`);
  if (!Number.isInteger(nCandidates) || nCandidates < 1) throw new RangeError(`nCandidates must be a positive integer, got ${nCandidates}`);
  if (!(priorWeight > 0 && Number.isFinite(priorWeight))) throw new RangeError(`priorWeight must be positive, got ${priorWeight}`);

  const dims = dimensionsOf(space);
  if (dims.length === 0) return fixedParamsOf(space);
  const trials = encodeHistory(dims, history);
  if (trialIndex < nStartup || trials.length === 0) return suggestRandom(space, seed, trialIndex);

  // Rank by score (NaN worst), ties by trial order; the top γ are good.
  const ranked = trials.map((_, i) => i).sort((a, b) => compareScores(trials[b].score, trials[a].score) || a - b);
  const nGood = Math.min(trials.length, Math.max(1, Math.ceil(gamma * trials.length)));
  const isGood = new Array<boolean>(trials.length).fill(false);
  for (let r = 0; r < nGood; r++) isGood[ranked[r]] = true;
  const good = trials.filter((_, i) => isGood[i]); // still in trial order, for the weights
  const bad = trials.filter((_, i) => !isGood[i]);

  const random = rng(trialSeed(seed, trialIndex, TPE_STREAM));
  type Estimators = { dim: ChoiceDim; l: Categorical; g: Categorical } | { dim: NumericDim; l: Mixture; g: Mixture };
  const estimators = dims.map((dim, d): Estimators => {
    const goodX = good.map((t) => t.x[d]);
    const badX = bad.map((t) => t.x[d]);
    return dim.kind === 'choice'
      ? { dim, l: buildCategorical(dim, goodX, priorWeight), g: buildCategorical(dim, badX, priorWeight) }
      : { dim, l: buildMixture(goodX, priorWeight), g: buildMixture(badX, priorWeight) };
  });

  // Candidates: each coordinate drawn from its dimension's l; score = Σ log l − log g.
  const candidates: { params: Params; score: number }[] = [];
  for (let c = 0; c < nCandidates; c++) {
    const params = fixedParamsOf(space);
    let score = 0;
    for (const e of estimators) {
      if (e.dim.kind === 'choice') {
        const { l, g } = e as Extract<Estimators, { l: Categorical }>;
        const k = sampleCategorical(l.p, random);
        params[e.dim.name] = e.dim.values[k];
        score += Math.log(l.p[k]) - Math.log(g.p[k]);
      } else {
        const { dim, l, g } = e as Extract<Estimators, { l: Mixture }>;
        const u = sampleMixture(l, random);
        const v = numericFromUnit(dim, u);
        params[dim.name] = v;
        if (dim.kind === 'int') {
          // The probability of the integer's bin, not a density.
          const a = Math.max(0, numericToUnit(dim, v - 0.5));
          const b = Math.min(1, numericToUnit(dim, v + 0.5));
          score += logMassMixture(l, a, b) - logMassMixture(g, a, b);
        } else {
          score += logPdfMixture(l, u) - logPdfMixture(g, u);
        }
      }
    }
    candidates.push({ params, score });
  }

  const tried = new Set(trials.map((t) => t.key));
  const order = candidates.map((_, i) => i).sort((a, b) => compareScores(candidates[b].score, candidates[a].score) || a - b);
  const searchedKey = (params: Params) => paramsKey(Object.fromEntries(dims.map((dim) => [dim.name, params[dim.name]])));
  const pick = order.find((i) => !tried.has(searchedKey(candidates[i].params))) ?? order[0];
  return sortKeys(candidates[pick].params);
}

/** a vs b with NaN below everything (including −Infinity). */
function compareScores(a: number, b: number): number {
  const na = Number.isNaN(a);
  const nb = Number.isNaN(b);
  if (na || nb) return na === nb ? 0 : na ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function sortKeys(params: Params): Params {
  const out: Params = {};
  for (const k of Object.keys(params).sort(byCodeUnit)) out[k] = params[k];
  return out;
}

/** Usable trials in a canonical order: by trial index, then params key, then score. */
function encodeHistory(dims: readonly Dimension[], history: readonly CompletedTrial[]): Encoded[] {
  const out: Encoded[] = [];
  for (const t of history) {
    const x: number[] = [];
    for (const dim of dims) {
      const v = encodeOne(dim, t.params[dim.name]);
      if (typeof v === 'string') break;
      x.push(v);
    }
    if (x.length !== dims.length) continue;
    const key = paramsKey(Object.fromEntries(dims.map((dim, d) => [dim.name, dim.kind === 'choice' ? dim.values[x[d]] : (t.params[dim.name] as number)])));
    out.push({ index: t.index, key, score: typeof t.score === 'number' ? t.score : NaN, x });
  }
  return out.sort((a, b) => a.index - b.index || byCodeUnit(a.key, b.key) || compareScores(a.score, b.score));
}

/** Optuna's default_weights: all 1 up to 25 trials, then a linear ramp from 1/n for the oldest n − 25. */
function trialWeights(n: number): number[] {
  if (n < 25) return new Array<number>(n).fill(1);
  const ramp = n - 25;
  const w: number[] = [];
  for (let i = 0; i < ramp; i++) w.push(ramp === 1 ? 1 / n : 1 / n + (i * (1 - 1 / n)) / (ramp - 1));
  for (let i = 0; i < 25; i++) w.push(1);
  return w;
}

/** Mixture weights: the trials' then the prior's, normalised. */
function mixtureWeights(n: number, priorWeight: number): number[] {
  const w = [...trialWeights(n), priorWeight];
  const total = w.reduce((s, v) => s + v, 0);
  return w.map((v) => v / total);
}

/** A mixture of Gaussians truncated to [0, 1]. */
interface Mixture {
  kind: 'mixture';
  w: number[];
  mu: number[];
  sigma: number[];
  /** log of each component's mass inside [0, 1]. */
  logZ: number[];
  /** Φ((0 − μ)/σ) and Φ((1 − μ)/σ), for sampling. */
  cdfLow: number[];
  cdfHigh: number[];
}

interface Categorical {
  kind: 'categorical';
  p: number[];
}

function buildCategorical(dim: ChoiceDim, xs: readonly number[], priorWeight: number): Categorical {
  const C = dim.values.length;
  const w = mixtureWeights(xs.length, priorWeight);
  const kernels = xs.length + 1;
  const smoothing = priorWeight / kernels;
  const p = new Array<number>(C).fill(w[xs.length] / C); // the prior kernel: uniform
  xs.forEach((k, i) => {
    const norm = 1 + C * smoothing;
    for (let c = 0; c < C; c++) p[c] += (w[i] * ((c === k ? 1 : 0) + smoothing)) / norm;
  });
  return { kind: 'categorical', p };
}

/**
 * Optuna's univariate Parzen estimator in unit space: one truncated Gaussian per trial, centred on it,
 * with bandwidth = the larger gap to its neighbours among the sorted centres (the prior's centre 0.5
 * included; 0 and 1 as outer bounds; the outermost centres use only their inner gap), clipped to
 * [1 / min(100, 1 + kernels), 1]; plus the prior N(0.5, 1).
 */
function buildMixture(xs: readonly number[], priorWeight: number): Mixture {
  const n = xs.length;
  const mu = [...xs, 0.5];
  const sigma = new Array<number>(n + 1).fill(1);
  if (n > 0) {
    const order = mu.map((_, i) => i).sort((a, b) => mu[a] - mu[b] || a - b);
    const s = [0, ...order.map((i) => mu[i]), 1];
    const minSigma = 1 / Math.min(100, 1 + (n + 1));
    order.forEach((i, r) => {
      let bw: number;
      if (r === 0) bw = s[2] - s[1];
      else if (r === order.length - 1) bw = s[r + 1] - s[r];
      else bw = Math.max(s[r + 1] - s[r], s[r + 2] - s[r + 1]);
      sigma[i] = Math.min(1, Math.max(minSigma, bw));
    });
    sigma[n] = 1; // the prior
  }
  const w = mixtureWeights(n, priorWeight);
  const cdfLow = mu.map((m, j) => normalCdf((0 - m) / sigma[j]));
  const cdfHigh = mu.map((m, j) => normalCdf((1 - m) / sigma[j]));
  const logZ = mu.map((m, j) => logNormalMass((0 - m) / sigma[j], (1 - m) / sigma[j]));
  return { kind: 'mixture', w, mu, sigma, logZ, cdfLow, cdfHigh };
}

function sampleCategorical(p: readonly number[], random: () => number): number {
  const u = random();
  let acc = 0;
  for (let k = 0; k < p.length; k++) {
    acc += p[k];
    if (u < acc) return k;
  }
  return p.length - 1;
}

function sampleMixture(m: Mixture, random: () => number): number {
  const j = sampleCategorical(m.w, random);
  const p = m.cdfLow[j] + random() * (m.cdfHigh[j] - m.cdfLow[j]);
  const x = m.mu[j] + m.sigma[j] * normalInverseCdf(Math.min(1, Math.max(0, p)));
  return x > 0 ? (x < 1 ? x : 1) : 0;
}

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

function logSumExp(terms: readonly number[]): number {
  let max = -Infinity;
  for (const t of terms) if (t > max) max = t;
  if (max === -Infinity) return -Infinity;
  let s = 0;
  for (const t of terms) s += Math.exp(t - max);
  return max + Math.log(s);
}

function logPdfMixture(m: Mixture, x: number): number {
  return logSumExp(
    m.mu.map((mu, j) => {
      const z = (x - mu) / m.sigma[j];
      return Math.log(m.w[j]) - 0.5 * z * z - Math.log(m.sigma[j]) - LOG_SQRT_2PI - m.logZ[j];
    }),
  );
}

/** log Φ(zb) − Φ(za) for za <= zb, without cancellation in the upper tail. */
function logNormalMass(za: number, zb: number): number {
  const mass = za > 0 ? normalCdf(-za) - normalCdf(-zb) : normalCdf(zb) - normalCdf(za);
  return Math.log(Math.max(mass, Number.MIN_VALUE));
}

function logMassMixture(m: Mixture, a: number, b: number): number {
  return logSumExp(m.mu.map((mu, j) => Math.log(m.w[j]) + logNormalMass((a - mu) / m.sigma[j], (b - mu) / m.sigma[j]) - m.logZ[j]));
}
