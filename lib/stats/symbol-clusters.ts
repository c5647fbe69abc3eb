/**
 * Symbol clusters for inference. Clustering rows by symbol assumes symbols are independent units,
 * which share classes of one company are not (GOOG/GOOGL, BRK-A/BRK-B), nor is a symbol imported
 * twice under two names: their returns are near identical, so counting them as two clusters halves
 * their share of the variance and shrinks standard errors (a universe of 20 companies listed twice
 * each reads as 40 independent ones). Here symbols whose daily series (e.g. forward returns) correlate
 * above `minCorrelation` on at least `minCommonDays` common days are merged into one cluster
 * (transitively: A ~ B and B ~ C put all three together), before any symbol clustering. So are
 * symbols whose series correlate so at a lag of 1..`maxLag` days (5 by default): another stock's
 * bars filed a session early or late (a file holding tomorrow's bars of another symbol) give that
 * stock's series shifted by a day, which on the same day correlates only as much as overlapping
 * forward returns do (5-day returns one day apart: about 0.8), so a same-day comparison missed it.
 *
 * Cost: all pairs of symbols are compared at every lag (scanLaggedPairs), each first on QUICK_DAYS
 * and then SCREEN_DAYS evenly spaced days (dot products of standardised values); only pairs
 * correlated within SCREEN_MARGIN of the threshold there get the exact correlation over all common
 * days. For a pair at 0.95 the subsample correlation's standard error is about (1 − ρ²)/√128 ≈ 0.01,
 * so the screen, 15 of those below, drops no near duplicate; stocks of one sector (ρ ≈ 0.4–0.7)
 * rarely pass it. On 500 symbols × 1,300 days this takes about 80–160 ms of CPU at 11 lags (same
 * day only, maxLag 0: 20–70 ms), against seconds for the exact correlation of all 125,000 pairs at
 * each lag (measured on a loaded 2-core machine; test/unit/stats/symbol-clusters.test.ts holds it
 * under a generous bound).
 */
import { BadInputError } from '../errors';

export interface NearDuplicateOptions {
  /** Pearson correlation over common days at or above which two symbols are one cluster (default 0.95). */
  minCorrelation?: number;
  /** Common days (both values finite) needed to judge a pair (default 60, about a quarter of trading). */
  minCommonDays?: number;
  /**
   * Days of lag also compared, each way (default NEAR_DUPLICATE_MAX_LAG): a symbol whose values are
   * another's shifted by 1..maxLag days (another stock's bars dated a session early or late) is the
   * same stock too; 0 compares same-day values only.
   */
  maxLag?: number;
}

export interface SymbolGroups {
  /** Group of each symbol id (0 .. groups − 1, in order of each group's smallest symbol id); −1 for ids without rows. */
  groupOf: Int32Array;
  groups: number;
  /** The groups of two or more symbol ids, each ascending: what was merged. */
  merged: number[][];
  /** Pairs merged at a non-zero lag (symbol `b`'s value of day t + lag is symbol `a`'s of day t), for messages; absent when none. */
  lagged?: Array<{ a: number; b: number; lag: number }>;
}

export const NEAR_DUPLICATE_CORRELATION = 0.95;
export const NEAR_DUPLICATE_MIN_DAYS = 60;
/** Lags (days, each way) compared by default: a week of sessions. */
export const NEAR_DUPLICATE_MAX_LAG = 5;
/** Days of the screening subsample. */
const SCREEN_DAYS = 128;
/** How far below the correlation asked for a pair may score on the subsample and still be compared on all days. */
const SCREEN_MARGIN = 0.15;
/**
 * A row missing at most 1/SCREEN_MAX_MISSING of the subsample days (a halt, a gap in the file) is
 * screened as complete, its missing values 0 (the mean): that scales a correlation by 15/16 at worst
 * (0.95 reads 0.89), still above the screen's bar. Rows missing more are compared on the days both have.
 */
const SCREEN_MAX_MISSING = 16;
/** The screen is only trusted on at least this many common subsample days; fewer: compare on all days. */
const SCREEN_MIN_COMMON = 32;
/**
 * The quick screen: every eighth subsample day, and how far below the screen's bar a pair may score
 * there. At ρ = 0.95 its standard error is about (1 − ρ²)/√16 ≈ 0.025 (0.07 at ρ = 0.85), so the
 * margin drops no pair that could pass the screen; unrelated rows (ρ ≈ 0, standard error ≈ 0.25)
 * seldom reach it, and most of the pairs × lags compared are unrelated.
 */
const QUICK_DAYS = 16;
const QUICK_MARGIN = 0.3;

function invalid(message: string): never {
  throw new BadInputError(message, 'INVALID_METRIC_INPUT');
}

/**
 * Pearson correlation of row a of a rows × days matrix with row b shifted by `lag` days (a's day t
 * against b's day t + lag), over days t in [from, to) where both values are finite (a day beyond
 * b's ends counts as missing). NaN when either side's sum of squared deviations is at most
 * `minVariance` (a constant row has none). Row a against itself at lag 1 is its autocorrelation.
 */
export function laggedCorrelation(x: Float64Array, a: number, b: number, days: number, lag: number, from: number, to: number, minVariance = 0): { r: number; n: number } {
  let n = 0;
  let sa = 0;
  let sb = 0;
  let saa = 0;
  let sbb = 0;
  let sab = 0;
  const oa = a * days;
  const ob = b * days + lag;
  for (let t = Math.max(from, -lag); t < to && t + lag < days; t++) {
    const u = x[oa + t];
    const v = x[ob + t];
    // NaN marks a missing value; the comparison fails for it.
    if (!(u === u && v === v)) continue;
    n++;
    sa += u;
    sb += v;
    saa += u * u;
    sbb += v * v;
    sab += u * v;
  }
  if (n < 2) return { r: NaN, n };
  const cov = sab - (sa * sb) / n;
  const va = saa - (sa * sa) / n;
  const vb = sbb - (sb * sb) / n;
  return { r: va > minVariance && vb > minVariance ? cov / Math.sqrt(va * vb) : NaN, n };
}

/** The subsample screen of every row at every lag (screenOf). */
interface Screen {
  /** Subsample days, and days of the quick screen (0: none). */
  m: number;
  q: number;
  /** Row i's standardised subsample at lag l (−maxLag..maxLag) from ((l + maxLag) * rows + i) * m; 0 where missing. */
  z: Float64Array;
  /** The same on the quick screen's days, for complete rows, from ((l + maxLag) * rows + i) * q. */
  zq: Float64Array;
  /** Whether row i has (nearly: SCREEN_MAX_MISSING) every subsample day at lag l, at (l + maxLag) * rows + i. */
  complete: Uint8Array;
  /** The correlation of rows a and b (at the lag) over the subsample days both have; undefined below SCREEN_MIN_COMMON of them. */
  masked: (a: number, b: number, lag: number) => number | undefined;
}

/**
 * The screen on SCREEN_DAYS evenly spaced days, for each lag: row b's values on those days shifted by
 * the lag. Each row's values there are standardised (mean 0, sum of squares 1 over the days it has).
 * The correlation of two rows with a value on each of them is then a dot product, taken first on
 * QUICK_DAYS of the days against a lower bar (QUICK_MARGIN below the threshold), which
 * most pairs of unrelated rows already fail. Rows with missing days there (a later listing, a
 * halt) are compared on the days both have, with each row's own standardisation (undefined below
 * SCREEN_MIN_COMMON such days: compare on all days).
 */
function screenOf(x: Float64Array, n: number, days: number, maxLag: number): Screen {
  const m = Math.min(days, SCREEN_DAYS);
  const at = Int32Array.from({ length: m }, (_, k) => Math.floor(((k + 0.5) * days) / m));
  const q = m >= SCREEN_DAYS ? QUICK_DAYS : 0;
  const step = q > 0 ? m / q : 1;
  const lags = 2 * maxLag + 1;
  // z[((lag + maxLag) * n + i) * m + k]: row i's standardised value on subsample day k at that lag
  // (0 where missing, `has` 0 there); zq the same for a complete row on every (m / q)th of those days.
  const z = new Float64Array(lags * n * m);
  const has = new Float64Array(lags * n * m);
  const zq = new Float64Array(lags * n * q);
  const complete = new Uint8Array(lags * n);
  const raw = new Float64Array(m);
  for (let l = 0; l < lags; l++) {
    const lag = l - maxLag;
    for (let i = 0; i < n; i++) {
      const o = (l * n + i) * m;
      let count = 0;
      let mean = 0;
      for (let k = 0; k < m; k++) {
        const t = at[k] + lag;
        raw[k] = t >= 0 && t < days ? x[i * days + t] : NaN;
        if (Number.isNaN(raw[k])) continue;
        count++;
        mean += raw[k];
      }
      if (count < 2) continue;
      mean /= count;
      let ss = 0;
      for (let k = 0; k < m; k++) if (!Number.isNaN(raw[k])) ss += (raw[k] - mean) ** 2;
      if (!(ss > 0)) continue;
      const scale = 1 / Math.sqrt(ss);
      for (let k = 0; k < m; k++) {
        if (Number.isNaN(raw[k])) continue;
        z[o + k] = (raw[k] - mean) * scale;
        has[o + k] = 1;
      }
      if (count < m - Math.floor(m / SCREEN_MAX_MISSING)) continue;
      complete[l * n + i] = 1;
      if (q === 0) continue;
      let cq = 0;
      let mq = 0;
      for (let k = 0; k < q; k++) {
        if (Number.isNaN(raw[k * step])) continue;
        cq++;
        mq += raw[k * step];
      }
      mq /= cq;
      let sq = 0;
      for (let k = 0; k < q; k++) if (!Number.isNaN(raw[k * step])) sq += (raw[k * step] - mq) ** 2;
      const sc = sq > 0 ? 1 / Math.sqrt(sq) : 0;
      for (let k = 0; k < q; k++) zq[(l * n + i) * q + k] = Number.isNaN(raw[k * step]) ? 0 : (raw[k * step] - mq) * sc;
    }
  }
  return {
    m,
    q,
    z,
    zq,
    complete,
    masked(a, b, lag) {
      const oa = (maxLag * n + a) * m;
      const ob = ((lag + maxLag) * n + b) * m;
      let common = 0;
      let ab = 0;
      let aa = 0;
      let bb = 0;
      for (let k = 0; k < m; k++) {
        const u = z[oa + k];
        const v = z[ob + k];
        const hu = has[oa + k];
        const hv = has[ob + k];
        common += hu * hv;
        ab += u * v;
        aa += u * u * hv;
        bb += v * v * hu;
      }
      return common < SCREEN_MIN_COMMON ? undefined : ab / Math.sqrt(aa * bb);
    },
  };
}

/** A pair of rows whose values correlate at a lag: row a's day t with row b's day t + lag. */
export interface LaggedMatch {
  a: number;
  b: number;
  lag: number;
  /** Pearson correlation over the common days. */
  r: number;
  /** Days on which both values are finite. */
  common: number;
}

export interface LaggedScanOptions {
  /** Correlation over all common days at or above which a pair (at a lag) matches. */
  minCorrelation: number;
  /** Common days needed to judge a pair at a lag. */
  minCommonDays: number;
  /** Lags compared: −maxLag..maxLag days, 0 first, then ±1, ±2, … */
  maxLag: number;
  /** Whether to compare rows a < b at all (default: every pair); asked once per pair, before its lags. */
  compare?: (a: number, b: number) => boolean;
  /**
   * Only pairs whose first row a is below this are compared (default: every row): the rows judged,
   * placed first, against all, at a cost in pairs of leading × rows rather than rows².
   */
  leading?: number;
}

/**
 * Every pair of rows a < b of `x` (rows × days, row-major, NaN = missing) whose values correlate at
 * `minCorrelation` or more at some lag in −maxLag..maxLag on `minCommonDays` common days or more,
 * reported to `onMatch` as found (its `true` stops the pair's other lags), lag 0 first, then ±1, ±2, … Unrelated rows cost a
 * dot product per lag: each pair is first compared on SCREEN_DAYS evenly spaced days, and only a
 * pair within SCREEN_MARGIN of the threshold there (its subsample correlation's standard error is
 * about (1 − ρ²)/√128 ≈ 0.01 at ρ = 0.95) gets the correlation over all common days; a pair with
 * too few common subsample days (a short series, or one with many gaps) always does, and a pair
 * whose ranges overlap by fewer than `minCommonDays` days at a lag is not compared at that lag.
 */
export function scanLaggedPairs(x: Float64Array, rows: number, days: number, options: LaggedScanOptions, onMatch: (match: LaggedMatch) => boolean | void): void {
  const { minCorrelation, minCommonDays, maxLag, compare } = options;
  if (!(Number.isInteger(maxLag) && maxLag >= 0)) invalid(`maxLag must be an integer >= 0, got ${maxLag}`);
  if (x.length !== rows * days) invalid(`A ${rows} × ${days} matrix has ${rows * days} values, got ${x.length}`);
  // Finite values of each row: their count up to each day, and the first and last day with one.
  const upTo = new Int32Array(rows * (days + 1));
  const first = new Int32Array(rows).fill(days);
  const last = new Int32Array(rows).fill(-1);
  for (let i = 0; i < rows; i++) {
    const o = i * (days + 1);
    for (let t = 0; t < days; t++) {
      const finite = !Number.isNaN(x[i * days + t]);
      upTo[o + t + 1] = upTo[o + t] + (finite ? 1 : 0);
      if (finite) {
        if (first[i] === days) first[i] = t;
        last[i] = t;
      }
    }
  }
  const finiteIn = (i: number, from: number, to: number): number => upTo[i * (days + 1) + to] - upTo[i * (days + 1) + from];
  const threshold = minCorrelation - SCREEN_MARGIN;
  const quick = threshold - QUICK_MARGIN;
  const { m, q, z, zq, complete, masked } = screenOf(x, rows, days, maxLag);
  const lags = [0];
  for (let l = 1; l <= maxLag; l++) lags.push(l, -l);
  // The hot loop (pairs × lags) reads the screen's arrays directly, lag by lag over the rows b after
  // a (contiguous in the screen's arrays): no call for a pair the quick screen drops.
  const skip = new Uint8Array(rows);
  const leading = Math.min(rows, options.leading ?? rows);
  for (let a = 0; a < leading; a++) {
    if (finiteIn(a, 0, days) < minCommonDays) continue;
    for (let b = a + 1; b < rows; b++) skip[b] = finiteIn(b, 0, days) < minCommonDays || (compare !== undefined && !compare(a, b)) ? 1 : 0;
    const completeA = complete[maxLag * rows + a] === 1;
    const za = (maxLag * rows + a) * m;
    const zqa = (maxLag * rows + a) * q;
    for (const lag of lags) {
      for (let b = a + 1; b < rows; b++) {
        if (skip[b]) continue;
        const l = (lag + maxLag) * rows + b;
        const both = completeA && complete[l] === 1;
        if (both && q > 0) {
          let dot = 0;
          for (let k = 0, o = l * q; k < q; k++) dot += zq[zqa + k] * zq[o + k];
          if (!(dot >= quick)) continue;
        }
        // Days t of a with b's day t + lag inside both rows' finite ranges.
        const from = Math.max(first[a], first[b] - lag);
        const to = Math.min(last[a], last[b] - lag) + 1;
        if (to - from < minCommonDays || finiteIn(a, from, to) < minCommonDays || finiteIn(b, from + lag, to + lag) < minCommonDays) continue;
        let screened: number | undefined;
        if (both) {
          screened = 0;
          for (let k = 0, o = l * m; k < m; k++) screened += z[za + k] * z[o + k];
        } else screened = masked(a, b, lag);
        if (screened !== undefined && !(screened >= threshold)) continue;
        const { r, n } = laggedCorrelation(x, a, b, days, lag, from, to);
        if (n >= minCommonDays && r >= minCorrelation && onMatch({ a, b, lag, r, common: n }) === true) skip[b] = 1;
      }
    }
  }
}

/**
 * Groups of symbols whose per-day values are near duplicates, at the same day or up to `maxLag` days
 * apart. `symbolOfRow` and `dayOfRow` are non-negative integer ids (any range; lags count the
 * distinct day ids present, in order), `value` the row's value (NaN = missing); a (symbol, day) given
 * twice keeps its last value.
 */
export function nearDuplicateSymbolGroups(symbolOfRow: Int32Array, dayOfRow: Int32Array, value: Float64Array, options: NearDuplicateOptions = {}): SymbolGroups {
  const minCorrelation = options.minCorrelation ?? NEAR_DUPLICATE_CORRELATION;
  const minCommonDays = options.minCommonDays ?? NEAR_DUPLICATE_MIN_DAYS;
  const maxLag = options.maxLag ?? NEAR_DUPLICATE_MAX_LAG;
  if (!(minCorrelation > 0 && minCorrelation <= 1)) invalid(`minCorrelation must be in (0, 1], got ${minCorrelation}`);
  if (!(Number.isInteger(minCommonDays) && minCommonDays >= 3)) invalid(`minCommonDays must be an integer >= 3, got ${minCommonDays}`);
  if (!(Number.isInteger(maxLag) && maxLag >= 0)) invalid(`maxLag must be an integer >= 0, got ${maxLag}`);
  const rows = symbolOfRow.length;
  if (dayOfRow.length !== rows || value.length !== rows) invalid(`There are ${rows} symbol ids, ${dayOfRow.length} day ids and ${value.length} values; one of each per row`);
  let maxSymbol = -1;
  for (const s of symbolOfRow) {
    if (!Number.isInteger(s) || s < 0) invalid(`symbol ids must be integers >= 0, got ${s}`);
    if (s > maxSymbol) maxSymbol = s;
  }
  // Compact symbols (those with rows) and days.
  const slot = new Int32Array(maxSymbol + 1).fill(-1);
  const ids: number[] = [];
  for (const s of symbolOfRow) if (slot[s] < 0) slot[s] = ids.push(s) - 1;
  let maxDay = -1;
  for (const d of dayOfRow) {
    if (!Number.isInteger(d) || d < 0) invalid(`day ids must be integers >= 0, got ${d}`);
    if (d > maxDay) maxDay = d;
  }
  const dayAt = new Int32Array(maxDay + 1).fill(-1);
  for (const d of dayOfRow) dayAt[d] = 0;
  let days = 0;
  for (let d = 0; d <= maxDay; d++) if (dayAt[d] === 0) dayAt[d] = days++ + 1;
  const n = ids.length;
  const x = new Float64Array(n * days).fill(NaN);
  for (let r = 0; r < rows; r++) x[slot[symbolOfRow[r]] * days + dayAt[dayOfRow[r]] - 1] = value[r];

  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => {
    let root = i;
    while (parent[root] !== root) root = parent[root];
    for (let j = i; parent[j] !== root; ) {
      const next = parent[j];
      parent[j] = root;
      j = next;
    }
    return root;
  };
  const lagged: Array<{ a: number; b: number; lag: number }> = [];
  scanLaggedPairs(x, n, days, { minCorrelation, minCommonDays, maxLag, compare: (a, b) => find(a) !== find(b) }, ({ a, b, lag }) => {
    parent[find(b)] = find(a);
    if (lag !== 0) lagged.push({ a: ids[a], b: ids[b], lag });
    return true;
  });

  // Groups numbered by their smallest symbol id, so the same data always give the same ids.
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => ids[i] - ids[j]);
  const groupOfRoot = new Map<number, number>();
  const groupOf = new Int32Array(maxSymbol + 1).fill(-1);
  const members: number[][] = [];
  for (const i of order) {
    const root = find(i);
    let g = groupOfRoot.get(root);
    if (g === undefined) {
      groupOfRoot.set(root, (g = members.length));
      members.push([]);
    }
    groupOf[ids[i]] = g;
    members[g].push(ids[i]);
  }
  return { groupOf, groups: members.length, merged: members.filter((m) => m.length > 1), ...(lagged.length > 0 ? { lagged } : {}) };
}

/** The symbol cluster of each row: its symbol's group. */
export function symbolClustersOf(symbolOfRow: Int32Array, groups: SymbolGroups): Int32Array {
  return Int32Array.from(symbolOfRow, (s) => {
    const g = s < groups.groupOf.length ? groups.groupOf[s] : -1;
    if (g < 0) invalid(`symbol id ${s} has no group: the groups were built from other rows`);
    return g;
  });
}

/**
 * Merged groups by name, for messages: "GOOG = GOOGL; BRK-A = BRK-B", with the pairs merged at a lag
 * said so: "SYN01 = ZDUP (ZDUP on day t = SYN01 on day t+1)".
 */
export function describeMergedSymbols(groups: SymbolGroups, names: readonly string[]): string {
  const name = (s: number): string => names[s] ?? `#${s}`;
  const day = (shift: number): string => (shift === 0 ? 't' : shift > 0 ? `t+${shift}` : `t${shift}`);
  return groups.merged
    .map((m) => {
      const lagged = (groups.lagged ?? []).filter((p) => m.includes(p.a));
      // b's value of day t + lag is a's of day t: b on day t = a on day t − lag.
      const how = lagged.map((p) => `${name(p.b)} on day t = ${name(p.a)} on day ${day(-p.lag)}`).join(', ');
      return `${m.map(name).join(' = ')}${how ? ` (${how})` : ''}`;
    })
    .join('; ');
}
