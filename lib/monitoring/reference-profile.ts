/**
 * What a model version saw in training, the reference its live inputs and scores are compared
 * with: per feature, decile bins plus a bin beyond each 0.1% tail (where enough days support it)
 * and a bin for missing values, with their shares; mean and standard deviation; and the null model
 * of the drift test: for window lengths of 1 to 60 sessions, the mean, variance and maximum of the
 * divergence of the training period's own W-day windows from the whole, and the tail of the
 * divergence of windows bootstrapped from blocks of training days. The same for the model's scores.
 *
 * Why a null model: rows of one day share the market (every symbol's features move together, and
 * market-wide features are one value per day), and rolling indicators overlap from day to day. A
 * 10-day window of 400 symbols is far fewer than 4 000 independent draws, so a plain chi-square
 * test would flag ordinary market days. See drift.ts for how the null is used.
 */
import { z } from 'zod';
import { fmix32, rng } from '../random';
import { binCount, binOf, chiSquareDivergence, edgesAroundMaximum, edgesAtLevels, roundSignificant, sortedSample } from './binning';

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
    /** 95% quantile of the divergence of bootstrapped windows, and the mean excess over it. */
    tail: z.array(z.number().nonnegative()),
    excess: z.array(z.number().nonnegative()),
  })
  .refine((g) => [g.windows, g.rows, g.mean, g.variance, g.max, g.tail, g.excess].every((a) => a.length === g.days.length), 'every null-grid array needs one entry per window length');
export type NullGrid = z.infer<typeof nullGridSchema>;

/** The grid's entries, shortest window first. */
export function nullEntries(grid: NullGrid): WindowNull[] {
  return grid.days.map((days, i) => ({ days, windows: grid.windows[i], rows: grid.rows[i], mean: grid.mean[i], variance: grid.variance[i], max: grid.max[i], tail: grid.tail[i], excess: grid.excess[i] }));
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
  /** Quantile bins per feature (10–20; default 10) and for the scores (default 20). */
  bins?: number;
  scoreBins?: number;
  createdAt?: string;
}

const round = (x: number) => roundSignificant(x, 6);
const round4 = (x: number) => roundSignificant(x, 4);
const round3 = (x: number) => roundSignificant(x, 3);

/** Mean and variance (Welford) of the divergence of every W-day window, for each W in the grid. */
function windowNulls(bins: Uint8Array, dayRank: Int32Array, days: number, shares: readonly number[], seed: number): NullGrid {
  const k = shares.length;
  const prefix = new Float64Array((days + 1) * k);
  for (let i = 0; i < bins.length; i++) prefix[(dayRank[i] + 1) * k + bins[i]]++;
  for (let d = 1; d <= days; d++) for (let b = 0; b < k; b++) prefix[d * k + b] += prefix[(d - 1) * k + b];
  const out: NullGrid = { days: [], windows: [], rows: [], mean: [], variance: [], max: [], tail: [], excess: [] };
  const window = new Array<number>(k);
  for (const w of NULL_WINDOW_DAYS) {
    const windows = days - w + 1;
    if (windows < MIN_NULL_WINDOWS) break;
    let mean = 0;
    let m2 = 0;
    let rows = 0;
    let max = 0;
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
    const tail = bootstrapTail(prefix, days, k, w, shares, seed);
    out.tail.push(round3(tail.threshold));
    out.excess.push(round3(tail.meanExcess));
  }
  return out;
}

/**
 * The upper tail of the divergence of W-day windows assembled from blocks of training days drawn
 * at random (blocks of up to BOOTSTRAP_BLOCK_DAYS consecutive days keep short-range dependence):
 * its 95% quantile and the mean excess over it. Far more windows than the training period holds,
 * so the tail is seen rather than assumed: a few days in the same extreme bin, fat-tailed market
 * days. drift.ts extrapolates it exponentially (peaks over threshold).
 */
function bootstrapTail(prefix: Float64Array, days: number, k: number, w: number, shares: readonly number[], seed: number): { threshold: number; meanExcess: number } {
  const block = Math.min(w, BOOTSTRAP_BLOCK_DAYS);
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
export function profileColumn(name: string, values: Float64Array, dayRank: Int32Array, days: number, bins: number): ColumnProfile {
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
    nulls: windowNulls(binned, dayRank, days, shares, seedOf(name)),
  };
}

/** The profile of a model's scores (one per row, with its day ordinal). */
export function scoreProfileOf(scores: Float64Array, day: Int32Array, bins = 20): ColumnProfile {
  const { rank, days } = dayRanks(day);
  return profileColumn('score', scores, rank, days, checkBins(bins, 'score bins'));
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
  return {
    format: 1,
    model: input.model,
    version: input.version,
    featureSetVersion: input.featureSetVersion,
    createdAt: input.createdAt ?? new Date().toISOString(),
    period: { from: input.dayLabels[first], to: input.dayLabels[last], days, rows: features.rows },
    symbols: input.symbols.length <= MAX_LISTED_SYMBOLS ? [...input.symbols] : [],
    scoreSource: score ? (input.scores as { source: 'walk-forward' | 'final-model' }).source : 'none',
    features: features.columns.map((name, c) => profileColumn(name, column(features, c), rank, days, bins)),
    score,
  };
}
