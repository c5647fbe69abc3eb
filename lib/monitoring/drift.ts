/**
 * Has the live data moved away from what the model was trained on? Per feature (and for the
 * model's scores), the live window is binned on the reference's quantile bins and judged on three
 * counts, all required before anything is called drift, so ordinary noise does not page anyone:
 *
 * - size: the population stability index of the binned shares, at least `minPsi` (0.2 by default;
 *   < 0.1 is usually read as stable, > 0.25 as a large shift);
 * - significance: a chi-square-type test on the binned shares whose null distribution comes from
 *   the training period itself, because rows of one day share the market's move and rolling
 *   indicators overlap from day to day (a 10-day window of 400 symbols is nowhere near 4 000
 *   independent rows). With m and v the mean and variance of the divergence D of the training
 *   period's W-day windows, D is taken as offset + λ·χ²(1), λ = √(v/2), offset = m − λ: all the
 *   variance in one direction (the market's move of the window), the heaviest tail those moments
 *   allow, with the predictive F(1, days/max(W, τ)) in place of χ²(1) since λ is estimated from that
 *   many independent windows: τ is the column's persistence (persistenceDays), so a 252-day high,
 *   whose state lasts months, counts the few states the training period held, not its 10-day
 *   windows (it counted days/W before, and long-look-back features were "drifted"
 *   for weeks on end through the 2015–16 selloffs). A block bootstrap of training days gives a second, empirical tail (its 95%
 *   point and mean excess, extrapolated exponentially); the larger p-value is kept. Across features
 *   the p-values are controlled by Benjamini–Hochberg at `q`. The null is never narrower than that
 *   of independent rows (n·D ~ χ²(bins − 1));
 * - novelty (`beyondTraining`): the live divergence exceeds that of every W-day window of the
 *   training period.
 *
 * A live window with fewer rows than the training windows had is judged more leniently (the null
 * is scaled up by the ratio), never more strictly. Measured calibration (test/unit/monitoring and
 * bench/drift-detection.ts): at most about q of windows flag anything when days are independent
 * draws; regimes more persistent than the training period can sample are flagged when they go
 * beyond anything it saw.
 */
import { binCounts, chiSquareDivergence, judgedBins, psiOfShares, roundSignificant } from './binning';
import { chiSquareUpperTail, fUpperTail } from './chi-square';
import { benjaminiHochbergAdjusted } from './false-discovery';
import type { FeatureRowsLag } from './freshness';
import { nullEntries, type ColumnProfile, type ReferenceProfile, type WindowNull } from './reference-profile';

export interface DriftOptions {
  /** False discovery rate across the features (default 0.01). */
  q: number;
  /** Smallest PSI that counts as drift, however significant (default 0.2). */
  minPsi: number;
  /** Fewer live days or rows than this: "insufficient data", never an alarm. */
  minDays: number;
  minRows: number;
  /** Also require the live divergence to exceed every training window of the same length (default true). */
  beyondTraining: boolean;
}

export const DEFAULT_DRIFT_OPTIONS: DriftOptions = { q: 0.01, minPsi: 0.2, minDays: 5, minRows: 100, beyondTraining: true };

/**
 * How many days the column stays in a state: the larger of the autocorrelation time stored at
 * profiling (`nulls.persistence`, absent in profiles stored before) and what the grid shows, where
 * a window's mean divergence (less the sampling noise of its rows) falls like τ/W once W passes τ:
 * τ ≈ W·excess(W)/excess(1), at most W. Both are lower bounds when the training period is not
 * much longer than the state (a 252-day high over 349 days): the autocorrelation is taken about
 * the period's own mean.
 */
export function persistenceDays(profile: ColumnProfile, k: number): number {
  const stored = profile.nulls.persistence ?? 1;
  const grid = nullEntries(profile.nulls);
  const excess = (n: WindowNull) => Math.max(0, n.mean - k / Math.max(n.rows, 1));
  if (grid.length < 2 || grid[0].days !== 1 || !(excess(grid[0]) > 0)) return stored;
  return Math.max(stored, ...grid.slice(1).map((n) => Math.min(n.days, (n.days * excess(n)) / excess(grid[0]))));
}

export interface ColumnComparison {
  name: string;
  rows: number;
  days: number;
  psi: number;
  /** Chi-square divergence of the live shares from the reference shares. */
  divergence: number;
  /** The null approximation: divergence ≈ offset + scale · χ²(1). */
  offset: number;
  scale: number;
  pValue: number;
  /** The largest divergence of a training window of this length (scaled like the null); the live one must exceed it to count as drift. */
  trainingMax: number;
  /** The largest PSI of a training window of this length (scaled like the null); undefined for profiles stored before it was kept. */
  trainingMaxPsi: number | undefined;
  /** Days a state of the column lasts (persistenceDays), and the independent training windows the null rests on. */
  persistence: number;
  independentWindows: number;
  /** The bins judged on (the profile's, or those of a constant column stored without edges: judgedBins) and their reference shares. */
  edges: readonly number[];
  referenceShares: readonly number[];
  liveShares: number[];
  liveMean: number | null;
  liveStd: number | null;
  liveMissingShare: number;
}

const r4 = (x: number) => roundSignificant(x, 4);
const r3 = (x: number) => roundSignificant(x, 3);

/** The null moments for a window of `days` days: log-log interpolation of the stored grid, clamped at its ends. */
export function nullAt(nulls: readonly WindowNull[], days: number): WindowNull | undefined {
  if (nulls.length === 0) return undefined;
  if (days <= nulls[0].days) return nulls[0];
  const last = nulls[nulls.length - 1];
  // Beyond the grid the last length's (larger) divergence is kept: conservative.
  if (days >= last.days) return last;
  const i = nulls.findIndex((n) => n.days >= days);
  const [a, b] = [nulls[i - 1], nulls[i]];
  const t = (Math.log(days) - Math.log(a.days)) / (Math.log(b.days) - Math.log(a.days));
  const lerp = (x: number, y: number) => (x > 0 && y > 0 ? Math.exp(Math.log(x) + t * (Math.log(y) - Math.log(x))) : x + t * (y - x));
  const maxPsi = a.maxPsi !== undefined && b.maxPsi !== undefined ? { maxPsi: lerp(a.maxPsi, b.maxPsi) } : {};
  return { days, windows: Math.min(a.windows, b.windows), rows: lerp(a.rows, b.rows), mean: lerp(a.mean, b.mean), variance: lerp(a.variance, b.variance), max: lerp(a.max, b.max), ...maxPsi, tail: lerp(a.tail, b.tail), excess: lerp(a.excess, b.excess) };
}

/** One column's live values (any order) against its reference profile. */
export function compareColumn(profile: ColumnProfile, values: ArrayLike<number>, dayIds: ArrayLike<number>): ColumnComparison {
  const n = values.length;
  const days = new Set(Array.from(dayIds)).size;
  const bins = judgedBins(profile);
  const counts = binCounts(bins.edges, bins.round ? Float64Array.from(values, (x) => roundSignificant(x, 6)) : values);
  const liveShares = counts.map((c) => (n > 0 ? c / n : 0));
  let finite = 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if (Number.isFinite(values[i])) {
      finite++;
      sum += values[i];
    }
  }
  const mean = finite > 0 ? sum / finite : NaN;
  let ss = 0;
  for (let i = 0; i < n; i++) if (Number.isFinite(values[i])) ss += (values[i] - mean) ** 2;

  const divergence = chiSquareDivergence(bins.shares, liveShares);
  const psi = psiOfShares(bins.shares, liveShares);
  // Independent rows: n·D ~ χ²(k − 1), so D has mean (k − 1)/n and variance 2(k − 1)/n².
  const k = Math.max(1, bins.shares.filter((s) => s > 0).length - 1);
  const iidMean = k / Math.max(n, 1);
  const iidVariance = (2 * k) / Math.max(n, 1) ** 2;
  const reference = nullAt(nullEntries(profile.nulls), Math.max(days, 1));
  const inflate = reference && n > 0 ? Math.max(1, reference.rows / n) : 1;
  const nullMean = Math.max((reference?.mean ?? 0) * inflate, iidMean);
  const nullVariance = Math.max((reference?.variance ?? 0) * inflate * inflate, iidVariance);
  // All the variance in one direction (the market's move of the window): the heaviest tail these moments allow.
  const scale = Math.sqrt(nullVariance / 2);
  const offset = Math.max(0, nullMean - scale);
  // The moments come from about windows / max(days, persistence) independent training windows (a
  // state lasting longer than the window is one observation however many windows cover it): the
  // predictive F tail, not the plug-in χ².
  const persistence = persistenceDays(profile, k);
  const independentWindows = reference ? Math.max(2, reference.windows / Math.max(reference.days, persistence)) : Infinity;
  const excessOverOffset = (divergence - offset) / scale;
  const momentP = n === 0 || divergence <= offset ? 1 : Number.isFinite(independentWindows) ? fUpperTail(excessOverOffset, 1, independentWindows) : chiSquareUpperTail(excessOverOffset, 1);
  // The bootstrapped tail, extrapolated exponentially beyond its 95% point; the larger p-value is kept.
  const tail = (reference?.tail ?? 0) * inflate;
  const excess = Math.max((reference?.excess ?? 0) * inflate, scale);
  const tailP = !reference || reference.tail === 0 ? 0 : divergence <= tail ? 0.05 : 0.05 * Math.exp(-(divergence - tail) / excess);
  const pValue = n > 0 ? Math.max(momentP, tailP) : 1;
  const trainingMax = (reference?.max ?? 0) * inflate;
  const trainingMaxPsi = reference?.maxPsi === undefined ? undefined : reference.maxPsi * inflate;
  return {
    name: profile.name,
    rows: n,
    days,
    psi,
    divergence,
    offset,
    scale,
    pValue,
    trainingMax,
    trainingMaxPsi,
    persistence,
    independentWindows,
    edges: bins.edges,
    referenceShares: bins.shares,
    liveShares,
    liveMean: finite > 0 ? mean : null,
    liveStd: finite > 1 ? Math.sqrt(ss / (finite - 1)) : null,
    liveMissingShare: n > 0 ? (n - finite) / n : 0,
  };
}

/** Live feature rows: the latest trading days of the model's feature set. */
export interface LiveFeatureWindow {
  columns: string[];
  /** Distinct trading days in the window, ascending. */
  dates: string[];
  rows: number;
  /** rows × columns, row-major. */
  values: Float64Array;
  /** Index into dates of each row. */
  day: Int32Array;
}

export interface FeatureDrift {
  name: string;
  psi: number;
  pValue: number;
  /** Benjamini–Hochberg adjusted p-value. */
  qValue: number;
  drifted: boolean;
  /** The third condition: the live divergence against the largest of the training windows of its length. Absent in reports stored before. */
  divergence?: number;
  trainingMax?: number;
  /** The largest PSI of a training window of the length: a PSI that large is the feature's ordinary, not a severe shift. Absent for profiles (and reports) from before. */
  trainingMaxPsi?: number;
  /** The profile's group of features moving together (severity counts groups); absent when the profile has none. */
  cluster?: string;
  referenceMean: number | null;
  liveMean: number | null;
  referenceStd: number | null;
  liveStd: number | null;
  referenceMissingShare: number;
  liveMissingShare: number;
  /** Bin shares (missing last), for drifted features only. */
  shares?: { edges: number[]; reference: number[]; live: number[] };
}

/** `stale`: the live feature rows trail the bars by more than allowed, and are not judged (staleFeatureDrift). */
export type DriftStatus = 'stable' | 'drift' | 'insufficient-data' | 'unavailable' | 'stale';

export interface FeatureDriftReport {
  status: DriftStatus;
  reason: string;
  window: { from: string | null; to: string | null; days: number; rows: number };
  q: number;
  minPsi: number;
  /** Names of the drifted features, largest PSI first. */
  drifted: string[];
  maxPsi: number | null;
  /** Every tested feature, largest PSI first. */
  features: FeatureDrift[];
  /** Reference features absent from the live rows (a feature-set mismatch). */
  missingColumns: string[];
  /** How far the window's feature rows trail the bars, when the report looked; absent in reports stored before it did. */
  featureLag?: FeatureRowsLag;
  /**
   * With MODEL_SIGNING_KEY: the window's stored rows that no held key vouches for (edited in the
   * database, unsigned, another key's). Drift is then `unavailable`, judged on nothing, and the
   * features_unverified rule alerts. Absent when every row verified.
   */
  unverifiedRows?: { featureSet: string; rows: number; symbols: string[]; problems: string[] };
}

/** The conditions a drift needs, as a reason names them: every one that decides. */
function conditions(options: DriftOptions, significance: string): string {
  return options.beyondTraining ? `PSI ≥ ${options.minPsi}, ${significance} and a divergence beyond every training window of its length` : `PSI ≥ ${options.minPsi} and ${significance}`;
}

/** Distinct groups among drifted features (a feature of a profile without groups is its own). */
export function driftedGroups(drifted: ReadonlyArray<Pick<FeatureDrift, 'name' | 'cluster'>>): number {
  return new Set(drifted.map((f) => f.cluster ?? `feature ${f.name}`)).size;
}

function emptyReport(status: DriftStatus, reason: string, window: FeatureDriftReport['window'], options: DriftOptions): FeatureDriftReport {
  return { status, reason, window, q: options.q, minPsi: options.minPsi, drifted: [], maxPsi: null, features: [], missingColumns: [] };
}

export function detectFeatureDrift(profile: ReferenceProfile, live: LiveFeatureWindow, options: DriftOptions = DEFAULT_DRIFT_OPTIONS): FeatureDriftReport {
  const window = { from: live.dates[0] ?? null, to: live.dates[live.dates.length - 1] ?? null, days: live.dates.length, rows: live.rows };
  if (live.dates.length < options.minDays || live.rows < options.minRows) {
    return emptyReport('insufficient-data', `${live.dates.length} live days and ${live.rows} rows after the training period (${profile.period.to}); drift is judged from ${options.minDays} days and ${options.minRows} rows`, window, options);
  }
  const p = live.columns.length;
  const indexOf = new Map(live.columns.map((c, i) => [c, i]));
  const missingColumns = profile.features.filter((f) => !indexOf.has(f.name)).map((f) => f.name);
  const tested = profile.features.filter((f) => indexOf.has(f.name));
  const comparisons = tested.map((f) => {
    const c = indexOf.get(f.name) as number;
    const values = new Float64Array(live.rows);
    for (let r = 0; r < live.rows; r++) values[r] = live.values[r * p + c];
    return compareColumn(f, values, live.day);
  });
  const qValues = benjaminiHochbergAdjusted(comparisons.map((c) => c.pValue));
  const features: FeatureDrift[] = comparisons.map((c, i) => {
    const f = tested[i];
    const drifted = qValues[i] <= options.q && c.psi >= options.minPsi && (!options.beyondTraining || c.divergence > c.trainingMax);
    return {
      name: c.name,
      psi: r4(c.psi),
      pValue: r3(c.pValue),
      qValue: r3(qValues[i]),
      drifted,
      divergence: r4(c.divergence),
      trainingMax: r4(c.trainingMax),
      ...(c.trainingMaxPsi !== undefined ? { trainingMaxPsi: r4(c.trainingMaxPsi) } : {}),
      ...(f.cluster !== undefined ? { cluster: f.cluster } : {}),
      referenceMean: f.mean,
      liveMean: c.liveMean === null ? null : r4(c.liveMean),
      referenceStd: f.std,
      liveStd: c.liveStd === null ? null : r4(c.liveStd),
      referenceMissingShare: f.missingShare,
      liveMissingShare: r4(c.liveMissingShare),
      ...(drifted ? { shares: { edges: [...c.edges], reference: [...c.referenceShares], live: c.liveShares.map(r4) } } : {}),
    };
  });
  features.sort((a, b) => b.psi - a.psi);
  const drifted = features.filter((f) => f.drifted).map((f) => f.name);
  const maxPsi = features.length > 0 ? features[0].psi : null;
  const required = conditions(options, `BH q ≤ ${options.q}`);
  const groups = driftedGroups(features.filter((f) => f.drifted));
  const reason =
    drifted.length > 0
      ? `${drifted.length} of ${features.length} features drifted${groups < drifted.length ? ` in ${groups} ${groups === 1 ? 'group' : 'groups'} moving together` : ''} (${required}): ${drifted.slice(0, 5).join(', ')}${drifted.length > 5 ? ', …' : ''}`
      : `no feature drifted (largest PSI ${maxPsi === null ? 'n/a' : maxPsi.toFixed(3)}; ${required} ${options.beyondTraining ? 'all' : 'both'} required)`;
  return { status: drifted.length > 0 ? 'drift' : 'stable', reason, window, q: options.q, minPsi: options.minPsi, drifted, maxPsi, features, missingColumns };
}

/**
 * The report of a window whose feature rows trail the bars by more than `lag.maxLagSessions`:
 * `stale`, judged on nothing (a shift since would go unseen, and "stable" says it was looked for),
 * naming the lag; what the old rows showed stays in the reason.
 */
export function staleFeatureDrift(report: FeatureDriftReport, lag: FeatureRowsLag): FeatureDriftReport {
  const rows = report.window.to === null ? `have no row after the training period (last day ${lag.through})` : `end on ${lag.through}`;
  const reason =
    `the feature rows of ${lag.featureSet} ${rows}, ${lag.sessionsBehind} sessions before the bars (newest ${lag.newestBar}, latest session due ${lag.expectedSession}), ` +
    `more than features_stale.maxLagSessions (${lag.maxLagSessions}): the feature set is not being materialised, and drift is not judged on rows that old (they showed: ${report.reason})`;
  return { ...report, status: 'stale', reason, drifted: [], maxPsi: null, features: [], featureLag: lag };
}

export interface PredictionDriftReport {
  status: DriftStatus;
  reason: string;
  rows: number;
  days: number;
  psi: number | null;
  pValue: number | null;
  referenceMean: number | null;
  liveMean: number | null;
  /** The live divergence and the largest of the training windows of its length: the third condition. Absent when not judged. */
  divergence?: number;
  trainingMax?: number;
  shares?: { edges: number[]; reference: number[]; live: number[] };
}

/** Live scores (one per symbol and day) against the reference score histogram: the same test, alone (no multiplicity). */
export function detectPredictionDrift(profile: ReferenceProfile, scores: { values: ArrayLike<number>; day: ArrayLike<number> }, options: DriftOptions = DEFAULT_DRIFT_OPTIONS): PredictionDriftReport {
  const rows = scores.values.length;
  const days = new Set(Array.from(scores.day)).size;
  const base = { rows, days, psi: null, pValue: null, referenceMean: profile.score?.mean ?? null, liveMean: null };
  if (!profile.score) return { ...base, status: 'unavailable', reason: 'the reference profile has no score histogram' };
  if (days < options.minDays || rows < options.minRows) return { ...base, status: 'insufficient-data', reason: `${rows} live scores on ${days} days; prediction drift is judged from ${options.minDays} days and ${options.minRows} scores` };
  const c = compareColumn(profile.score, scores.values, scores.day);
  const drifted = c.pValue <= options.q && c.psi >= options.minPsi && (!options.beyondTraining || c.divergence > c.trainingMax);
  return {
    ...base,
    status: drifted ? 'drift' : 'stable',
    reason: `score PSI ${c.psi.toFixed(3)}, p ${c.pValue.toPrecision(3)}, divergence ${r4(c.divergence)} ${c.divergence > c.trainingMax ? '>' : '≤'} the training windows' largest ${r4(c.trainingMax)} on ${rows} scores over ${days} days: ${drifted ? 'drifted' : 'not drifted'} (${conditions(options, `p ≤ ${options.q}`)} ${options.beyondTraining ? 'all' : 'both'} required)`,
    psi: r4(c.psi),
    pValue: r3(c.pValue),
    divergence: r4(c.divergence),
    trainingMax: r4(c.trainingMax),
    liveMean: c.liveMean === null ? null : r4(c.liveMean),
    ...(drifted ? { shares: { edges: [...c.edges], reference: [...c.referenceShares], live: c.liveShares.map(r4) } } : {}),
  };
}
