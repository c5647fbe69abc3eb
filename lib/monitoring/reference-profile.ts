/**
 * What a model version saw in training, the reference its live inputs and scores are compared
 * with: per feature, decile bins plus a bin beyond each 0.1% tail (where enough days support it)
 * and a bin for missing values, with their shares; mean and standard deviation; and the null model
 * of the drift test: for window lengths of 1 to 60 sessions, the mean, variance and maximum of the
 * divergence of the training period's own W-day windows from the whole, and the tail of the
 * divergence of windows bootstrapped from blocks of training days; how many days the column stays in
 * a state (`persistence`); and the group of features whose days move together (`cluster`). The same
 * for the model's scores (no group).
 *
 * Why a null model: rows of one day share the market (every symbol's features move together, and
 * market-wide features are one value per day), and rolling indicators overlap from day to day. A
 * 10-day window of 400 symbols is far fewer than 4 000 independent draws, so a plain chi-square
 * test would flag ordinary market days. See drift.ts for how the null is used.
 */
import { z } from 'zod';
import { fmix32, rng } from '../random';
import { binCount, binOf, chiSquareDivergence, DIVERGENCE_FLOOR, edgesAroundMaximum, edgesAtLevels, psiOfShares, roundSignificant, sortedSample } from './binning';

/** Window lengths (trading days) whose null divergence is stored; live windows interpolate between them. */
export const NULL_WINDOW_DAYS = [1, 2, 5, 10, 20, 40, 60] as const;
/** Windows needed before a length's null moments are trusted (stride one day, so they overlap). */
const MIN_NULL_WINDOWS = 20;
/** Bootstrapped windows per length, and the longest run of consecutive training days a bootstrapped window takes at once. */
const BOOTSTRAP_WINDOWS = 2000;
const BOOTSTRAP_BLOCK_DAYS = 5;

/** A seed per column name, so profiles are reproducible. */
function seedOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return fmix32(h >>> 0);
}

/** Share of the training values beyond each tail edge. */
export const TAIL_SHARE = 0.001;
/**
 * A tail edge is kept only when the training values beyond it come from at least this many
 * distinct days: a market-wide feature has one value per day, and its 0.1% tail would be a single
 * day, no basis for calling anything beyond it unusual.
 */
const MIN_TAIL_DAYS = 20;
/** Symbols are listed in the profile (for freshness) up to this many; beyond, the list is left out to keep it small. */
const MAX_LISTED_SYMBOLS = 1000;

/** The null moments of one window length, as drift.ts uses them. */
export interface WindowNull {
  /** Window length in trading days. */
  days: number;
  windows: number;
  /** Mean rows per window. */
  rows: number;
  /** Mean, variance and maximum of the chi-square divergence of a window's bin shares from the reference shares. */
  mean: number;
  variance: number;
  max: number;
  /** The largest PSI of a training window; absent in profiles stored before it was kept. */
  maxPsi?: number;
  /** 95% quantile of the divergence of bootstrapped windows, and the mean excess over it. */
  tail: number;
  excess: number;
}

/** WindowNull per grid length, stored as parallel arrays (a third of the JSON of an object per length). */
const nullGridSchema = z
  .object({
    days: z.array(z.number().int().positive()),
    windows: z.array(z.number().int().positive()),
    rows: z.array(z.number().nonnegative()),
    mean: z.array(z.number().nonnegative()),
    variance: z.array(z.number().nonnegative()),
    max: z.array(z.number().nonnegative()),
    /** The largest PSI of a training window of each length (a persistent feature's 10-day windows sit in one or two bins: PSI 2–5 is its ordinary); absent in profiles stored before. */
    maxPsi: z.array(z.number().nonnegative()).optional(),
    /** 95% quantile of the divergence of bootstrapped windows, and the mean excess over it. */
    tail: z.array(z.number().nonnegative()),
    excess: z.array(z.number().nonnegative()),
    /**
     * Integrated autocorrelation time, in trading days, of the column's daily bin shares: how long a
     * state lasts (a 252-day high ~ months, a 1-day return ~ 1). Windows closer together than this
     * are one observation of the state, not several. Absent in profiles stored before it was kept.
     */
    persistence: z.number().positive().optional(),
  })
  .refine((g) => [g.windows, g.rows, g.mean, g.variance, g.max, g.tail, g.excess, ...(g.maxPsi ? [g.maxPsi] : [])].every((a) => a.length === g.days.length), 'every null-grid array needs one entry per window length');
export type NullGrid = z.infer<typeof nullGridSchema>;

/** The grid's entries, shortest window first. */
export function nullEntries(grid: NullGrid): WindowNull[] {
  return grid.days.map((days, i) => ({ days, windows: grid.windows[i], rows: grid.rows[i], mean: grid.mean[i], variance: grid.variance[i], max: grid.max[i], ...(grid.maxPsi ? { maxPsi: grid.maxPsi[i] } : {}), tail: grid.tail[i], excess: grid.excess[i] }));
}

const columnProfileSchema = z.object({
  name: z.string(),
  /** Rows with a finite value. */
  count: z.number().int().nonnegative(),
  missingShare: z.number().min(0).max(1),
  mean: z.number().nullable(),
  std: z.number().nullable(),
  /** Interior bin edges, ascending: bins are (edge[k−1], edge[k]]. */
  edges: z.array(z.number()),
  /** Share of all rows per bin: edges.length + 1 value bins, then the missing bin. */
  shares: z.array(z.number().min(0).max(1)),
  nulls: nullGridSchema,
  /**
   * The first feature (in column order) of the group whose daily levels move with this one's
   * (|correlation| ≥ CLUSTER_CORRELATION): features the market's common move shifts together count
   * once when drift's severity is judged. Absent for scores and in profiles stored before.
   */
  cluster: z.string().optional(),
});
export type ColumnProfile = z.infer<typeof columnProfileSchema>;

export const referenceProfileSchema = z
  .object({
    format: z.literal(1),
    model: z.string(),
    version: z.number().int().positive(),
    featureSetVersion: z.string(),
    createdAt: z.string(),
    /** Decision days and rows of the training data the profile describes. */
    period: z.object({ from: z.string(), to: z.string(), days: z.number().int(), rows: z.number().int() }),
    symbols: z.array(z.string()),
    /** Where the score histogram comes from: out-of-sample walk-forward predictions (preferred), or the final model on its training rows. */
    scoreSource: z.enum(['walk-forward', 'final-model', 'none']),
    features: z.array(columnProfileSchema),
    score: columnProfileSchema.nullable(),
  })
  .superRefine((p, ctx) => {
    for (const [i, c] of [...p.features, ...(p.score ? [p.score] : [])].entries()) {
      if (c.shares.length !== binCount(c.edges)) ctx.addIssue({ code: 'custom', path: ['features', i, 'shares'], message: `${c.name}: ${c.shares.length} shares for ${c.edges.length} edges (expected ${binCount(c.edges)})` });
    }
  });
export type ReferenceProfile = z.infer<typeof referenceProfileSchema>;

/** Rows of one kind (features or scores), each with its trading day as an ordinal (consecutive trading days: consecutive numbers). */
export interface ProfileRows {
  columns: readonly string[];
  rows: number;
  /** rows × columns, row-major. */
  values: Float64Array;
  day: Int32Array;
}

export interface ReferenceProfileInput {
  model: string;
  version: number;
  featureSetVersion: string;
  features: ProfileRows;
  /** ISO date of each day ordinal used in `day`. */
  dayLabels: readonly string[];
  symbols: readonly string[];
  /** P(up) per row, one column. */
  scores?: ProfileRows & { source: 'walk-forward' | 'final-model' };
  /**
   * Each feature's look-back in trading days (compute-features featureLookbacks), when the feature
   * set is known: the least persistence its values can have, since a day's value shares that many
   * bars with its neighbours' (a 252-day high over a 349-day training period shows an
   * autocorrelation time of ~19 days, its state lasts far longer).
   */
  lookbacks?: Readonly<Record<string, number>>;
  /** Quantile bins per feature (10–20; default 10) and for the scores (default 20). */
  bins?: number;
  scoreBins?: number;
  createdAt?: string;
}

const round = (x: number) => roundSignificant(x, 6);
const round4 = (x: number) => roundSignificant(x, 4);
const round3 = (x: number) => roundSignificant(x, 3);

/**
 * The integrated autocorrelation time of the daily bin shares, weighted as the divergence weighs
 * them: τ = 1 + 2 Σ ρ(h), the sum cut where Geyer's initial positive sequence ends (pairs of lags
 * whose sum turns negative). ρ(h) is taken against the between-day part of the variance (the
 * sampling noise of a day's rows, (bins − 1)/rows, removed), so a 20-symbol universe does not
 * read as short-lived. 1 for days that are independent; clamped to 1..days.
 */
function persistenceOf(prefix: Float64Array, days: number, k: number, shares: readonly number[]): number {
  if (days < 3) return 1;
  const dev = new Float64Array(days * k);
  let noise = 0;
  for (let d = 0; d < days; d++) {
    let n = 0;
    for (let b = 0; b < k; b++) n += prefix[(d + 1) * k + b] - prefix[d * k + b];
    for (let b = 0; b < k; b++) {
      const w = 1 / Math.sqrt(Math.max(shares[b], DIVERGENCE_FLOOR));
      dev[d * k + b] = n > 0 ? ((prefix[(d + 1) * k + b] - prefix[d * k + b]) / n - shares[b]) * w : 0;
      if (n > 0) noise += (shares[b] * (1 - shares[b])) / Math.max(shares[b], DIVERGENCE_FLOOR) / n;
    }
  }
  const gamma = (h: number) => {
    let s = 0;
    for (let i = 0; i < (days - h) * k; i++) s += dev[i] * dev[i + h * k];
    return s / (days - h);
  };
  const between = gamma(0) - noise / days;
  if (!(between > 0)) return 1;
  let tau = -1;
  for (let h = 0; h + 1 < days; h += 2) {
    const pair = (h === 0 ? between : gamma(h)) / between + gamma(h + 1) / between;
    if (pair <= 0) break;
    tau += 2 * pair;
  }
  return Math.min(days, Math.max(1, tau));
}

/** Mean and variance (Welford) of the divergence of every W-day window, for each W in the grid. */
function windowNulls(bins: Uint8Array, dayRank: Int32Array, days: number, shares: readonly number[], seed: number, lookback: number): NullGrid {
  const k = shares.length;
  const prefix = new Float64Array((days + 1) * k);
  for (let i = 0; i < bins.length; i++) prefix[(dayRank[i] + 1) * k + bins[i]]++;
  for (let d = 1; d <= days; d++) for (let b = 0; b < k; b++) prefix[d * k + b] += prefix[(d - 1) * k + b];
  const persistence = Math.min(days, Math.max(persistenceOf(prefix, days, k, shares), lookback));
  const maxPsi: number[] = [];
  const out: NullGrid = { days: [], windows: [], rows: [], mean: [], variance: [], max: [], maxPsi, tail: [], excess: [], persistence: round3(persistence) };
  const window = new Array<number>(k);
  for (const w of NULL_WINDOW_DAYS) {
    const windows = days - w + 1;
    if (windows < MIN_NULL_WINDOWS) break;
    let mean = 0;
    let m2 = 0;
    let rows = 0;
    let max = 0;
    let largestPsi = 0;
    for (let s = 0; s < windows; s++) {
      let n = 0;
      for (let b = 0; b < k; b++) {
        window[b] = prefix[(s + w) * k + b] - prefix[s * k + b];
        n += window[b];
      }
      rows += n;
      for (let b = 0; b < k; b++) window[b] = n > 0 ? window[b] / n : 0;
      const d = chiSquareDivergence(shares, window);
      max = Math.max(max, d);
      largestPsi = Math.max(largestPsi, psiOfShares(shares, window));
      const delta = d - mean;
      mean += delta / (s + 1);
      m2 += delta * (d - mean);
    }
    out.days.push(w);
    out.windows.push(windows);
    out.rows.push(round3(rows / windows));
    out.mean.push(round3(mean));
    out.variance.push(round3(windows > 1 ? m2 / (windows - 1) : 0));
    out.max.push(round3(max));
    maxPsi.push(round3(largestPsi));
    const tail = bootstrapTail(prefix, days, k, w, shares, seed, persistence);
    out.tail.push(round3(tail.threshold));
    out.excess.push(round3(tail.meanExcess));
  }
  return out;
}

/**
 * The upper tail of the divergence of W-day windows assembled from blocks of training days drawn
 * at random (blocks of BOOTSTRAP_BLOCK_DAYS consecutive days, or of the column's persistence when
 * longer, keep its dependence):
 * its 95% quantile and the mean excess over it. Far more windows than the training period holds,
 * so the tail is seen rather than assumed: a few days in the same extreme bin, fat-tailed market
 * days. drift.ts extrapolates it exponentially (peaks over threshold).
 */
function bootstrapTail(prefix: Float64Array, days: number, k: number, w: number, shares: readonly number[], seed: number, persistence: number): { threshold: number; meanExcess: number } {
  // Blocks as long as the column's states last: shorter ones would mix states a real window never mixes, and narrow the tail.
  const block = Math.min(w, Math.max(BOOTSTRAP_BLOCK_DAYS, Math.round(persistence)));
  const next = rng(fmix32(seed ^ Math.imul(w, 0x9e3779b1)));
  const counts = new Array<number>(k);
  const d = new Float64Array(BOOTSTRAP_WINDOWS);
  for (let i = 0; i < BOOTSTRAP_WINDOWS; i++) {
    counts.fill(0);
    for (let taken = 0; taken < w; taken += block) {
      const length = Math.min(block, w - taken);
      const start = Math.floor(next() * (days - length + 1));
      for (let b = 0; b < k; b++) counts[b] += prefix[(start + length) * k + b] - prefix[start * k + b];
    }
    const n = counts.reduce((a, c) => a + c, 0);
    d[i] = chiSquareDivergence(shares, counts.map((c) => (n > 0 ? c / n : 0)));
  }
  d.sort();
  const threshold = d[Math.floor(0.95 * BOOTSTRAP_WINDOWS)];
  let excess = 0;
  let beyond = 0;
  for (let i = 0; i < BOOTSTRAP_WINDOWS; i++) {
    if (d[i] > threshold) {
      excess += d[i] - threshold;
      beyond++;
    }
  }
  return { threshold, meanExcess: beyond > 0 ? excess / beyond : 0 };
}

/** Dense ranks 0..D−1 of the day ordinals, and D. */
function dayRanks(day: Int32Array): { rank: Int32Array; days: number } {
  const distinct = [...new Set(day)].sort((a, b) => a - b);
  const rankOf = new Map(distinct.map((d, i) => [d, i]));
  return { rank: Int32Array.from(day, (d) => rankOf.get(d) as number), days: distinct.length };
}

/**
 * The quantile edges plus a tail edge at each end (values at the extremes of training) where the
 * values beyond it are spread over at least MIN_TAIL_DAYS days. A broken feed or a unit change
 * sends values there; a rally or a calm month does not.
 */
function withSupportedTails(edges: number[], tails: [number | undefined, number | undefined], values: Float64Array, dayRank: Int32Array): number[] {
  if (edges.length === 0) return edges;
  const [low, high] = tails;
  const lowDays = new Set<number>();
  const highDays = new Set<number>();
  for (let i = 0; i < values.length; i++) {
    if (low !== undefined && values[i] <= low) lowDays.add(dayRank[i]);
    else if (high !== undefined && values[i] > high) highDays.add(dayRank[i]);
  }
  const out = [...edges];
  if (low !== undefined && low < edges[0] && lowDays.size >= MIN_TAIL_DAYS) out.unshift(low);
  if (high !== undefined && high > edges[edges.length - 1] && highDays.size >= MIN_TAIL_DAYS) out.push(high);
  return out;
}

/** The profile of one column of row-major values. */
export function profileColumn(name: string, values: Float64Array, dayRank: Int32Array, days: number, bins: number, lookback = 1): ColumnProfile {
  const n = values.length;
  const sorted = sortedSample(values);
  const quantiles = withSupportedTails(edgesAtLevels(sorted, Array.from({ length: bins - 1 }, (_, k) => (k + 1) / bins)), [edgesAtLevels(sorted, [TAIL_SHARE])[0], edgesAtLevels(sorted, [1 - TAIL_SHARE])[0]], values, dayRank);
  // Every quantile edge at the maximum (a constant, or nearly all values at the maximum): below, at and above it.
  const edges = quantiles.length === 0 ? edgesAroundMaximum(sorted) : quantiles;
  const binned = new Uint8Array(n);
  const counts = new Array<number>(binCount(edges)).fill(0);
  let count = 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const b = binOf(edges, values[i]);
    binned[i] = b;
    counts[b]++;
    if (Number.isFinite(values[i])) {
      count++;
      sum += values[i];
    }
  }
  const mean = count > 0 ? sum / count : NaN;
  let ss = 0;
  for (let i = 0; i < n; i++) if (Number.isFinite(values[i])) ss += (values[i] - mean) ** 2;
  const shares = counts.map((c) => (n > 0 ? c / n : 0));
  return {
    name,
    count,
    missingShare: round4(n > 0 ? (n - count) / n : 0),
    mean: count > 0 ? round(mean) : null,
    std: count > 1 ? round(Math.sqrt(ss / (count - 1))) : null,
    edges,
    shares: shares.map(round4),
    nulls: windowNulls(binned, dayRank, days, shares, seedOf(name), lookback),
  };
}

/** The profile of a model's scores (one per row, with its day ordinal). */
export function scoreProfileOf(scores: Float64Array, day: Int32Array, bins = 20): ColumnProfile {
  const { rank, days } = dayRanks(day);
  return profileColumn('score', scores, rank, days, checkBins(bins, 'score bins'));
}

/** Features whose daily levels correlate at least this much (either sign) are one group for drift's severity. */
export const CLUSTER_CORRELATION = 0.5;

/**
 * Each feature's group: average-linkage clustering of the features' daily levels (the day's mean bin,
 * so a heavy tail or a unit does not weigh), joined while the groups' mean |correlation| is at least
 * CLUSTER_CORRELATION. Named by their first feature in column order. In a selloff the trend,
 * volatility and range features move as one: the market's move, not many independent findings.
 */
export function featureClusters(columns: readonly string[], dailyLevels: readonly Float64Array[], days: number): string[] {
  const p = columns.length;
  const level = dailyLevels.map((x) => {
    const mean = x.reduce((a, b) => a + b, 0) / Math.max(days, 1);
    const centred = x.map((v) => v - mean);
    const norm = Math.sqrt(centred.reduce((a, b) => a + b * b, 0));
    return norm > 0 ? centred.map((v) => v / norm) : centred;
  });
  const corr = (a: number, b: number) => Math.abs(level[a].reduce((s, v, d) => s + v * level[b][d], 0));
  const r = Array.from({ length: p }, (_, a) => Array.from({ length: p }, (__, b) => (a === b ? 1 : corr(a, b))));
  let groups = Array.from({ length: p }, (_, f) => [f]);
  for (;;) {
    let best: [number, number, number] | undefined;
    for (let i = 0; i < groups.length; i++) {
      for (let j = i + 1; j < groups.length; j++) {
        let s = 0;
        for (const a of groups[i]) for (const b of groups[j]) s += r[a][b];
        const link = s / (groups[i].length * groups[j].length);
        if (link >= CLUSTER_CORRELATION && (!best || link > best[2])) best = [i, j, link];
      }
    }
    if (!best) break;
    const [i, j] = best;
    groups = [...groups.filter((_, g) => g !== i && g !== j), [...groups[i], ...groups[j]]];
  }
  const out = new Array<string>(p);
  for (const g of groups) {
    const first = Math.min(...g);
    for (const f of g) out[f] = columns[first];
  }
  return out;
}

/** The day's mean bin of a column's finite values, per day (0 on a day without any). */
function dailyLevel(profile: ColumnProfile, values: Float64Array, dayRank: Int32Array, days: number): Float64Array {
  const sum = new Float64Array(days);
  const count = new Float64Array(days);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) continue;
    sum[dayRank[i]] += binOf(profile.edges, values[i]);
    count[dayRank[i]]++;
  }
  return sum.map((s, d) => (count[d] > 0 ? s / count[d] : 0));
}

function column(rows: ProfileRows, c: number): Float64Array {
  const p = rows.columns.length;
  const out = new Float64Array(rows.rows);
  for (let r = 0; r < rows.rows; r++) out[r] = rows.values[r * p + c];
  return out;
}

function checkBins(bins: number, what: string): number {
  if (!Number.isInteger(bins) || bins < 2 || bins > 50) throw new RangeError(`${what} must be an integer in 2..50 (10–20 is usual), got ${bins}`);
  return bins;
}

export function buildReferenceProfile(input: ReferenceProfileInput): ReferenceProfile {
  const bins = checkBins(input.bins ?? 10, 'feature bins');
  const scoreBins = checkBins(input.scoreBins ?? 20, 'score bins');
  const { features } = input;
  if (features.values.length !== features.rows * features.columns.length || features.day.length !== features.rows) {
    throw new RangeError(`reference rows are inconsistent: ${features.rows} rows × ${features.columns.length} columns, ${features.values.length} values, ${features.day.length} days`);
  }
  if (features.rows === 0) throw new RangeError(`model ${input.model} v${input.version}: no training rows to build a reference profile from`);
  const { rank, days } = dayRanks(features.day);
  let first = Infinity;
  let last = -Infinity;
  for (const d of features.day) {
    first = Math.min(first, d);
    last = Math.max(last, d);
  }
  const score = input.scores && input.scores.rows > 0 ? scoreProfileOf(column(input.scores, 0), input.scores.day, scoreBins) : null;
  const levels: Float64Array[] = [];
  const profiles = features.columns.map((name, c) => {
    const values = column(features, c);
    const profile = profileColumn(name, values, rank, days, bins, input.lookbacks?.[name] ?? 1);
    levels.push(dailyLevel(profile, values, rank, days));
    return profile;
  });
  const clusters = featureClusters(features.columns, levels, days);
  return {
    format: 1,
    model: input.model,
    version: input.version,
    featureSetVersion: input.featureSetVersion,
    createdAt: input.createdAt ?? new Date().toISOString(),
    period: { from: input.dayLabels[first], to: input.dayLabels[last], days, rows: features.rows },
    symbols: input.symbols.length <= MAX_LISTED_SYMBOLS ? [...input.symbols] : [],
    scoreSource: score ? (input.scores as { source: 'walk-forward' | 'final-model' }).source : 'none',
    features: profiles.map((profile, c) => ({ ...profile, cluster: clusters[c] })),
    score,
  };
}
