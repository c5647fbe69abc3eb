/**
 * Symbol clusters for inference. Clustering rows by symbol assumes symbols are independent units,
 * which share classes of one company are not (GOOG/GOOGL, BRK-A/BRK-B), nor is a symbol imported
 * twice under two names: their returns are near identical, so counting them as two clusters halves
 * their share of the variance and shrinks standard errors (a universe of 20 companies listed twice
 * each reads as 40 independent ones). Here symbols whose daily series (e.g. forward returns) correlate
 * above `minCorrelation` on at least `minCommonDays` common days are merged into one cluster
 * (transitively: A ~ B and B ~ C put all three together), before any symbol clustering.
 *
 * Cost: all pairs of symbols are compared, each first on SCREEN_DAYS evenly spaced days (a dot
 * product of standardised values where both symbols have all of them); only pairs correlated at
 * SCREEN_CORRELATION or more there get the exact correlation over all common days. For a pair at
 * 0.95 the subsample correlation's standard error is about (1 − ρ²)/√128 ≈ 0.01, so the screen, 15
 * of those below, drops no near duplicate; stocks of one sector (ρ ≈ 0.4–0.7) rarely pass it. On 500
 * symbols × 1,300 days this takes about 60–75 ms of CPU, against 0.4–0.6 s for the exact correlation
 * of all 125,000 pairs (measured on a loaded 2-core machine; test/unit/stats/symbol-clusters.test.ts
 * holds it under a generous bound).
 */
import { BadInputError } from '../errors';

export interface NearDuplicateOptions {
  /** Pearson correlation over common days at or above which two symbols are one cluster (default 0.95). */
  minCorrelation?: number;
  /** Common days (both values finite) needed to judge a pair (default 60, about a quarter of trading). */
  minCommonDays?: number;
}

export interface SymbolGroups {
  /** Group of each symbol id (0 .. groups − 1, in order of each group's smallest symbol id); −1 for ids without rows. */
  groupOf: Int32Array;
  groups: number;
  /** The groups of two or more symbol ids, each ascending: what was merged. */
  merged: number[][];
}

export const NEAR_DUPLICATE_CORRELATION = 0.95;
export const NEAR_DUPLICATE_MIN_DAYS = 60;
/** Days of the screening subsample. */
const SCREEN_DAYS = 128;
/** A pair correlated below this on the subsample is not compared on all days. */
const SCREEN_CORRELATION = 0.8;
/** The screen is only trusted on at least this many common subsample days; fewer: compare on all days. */
const SCREEN_MIN_COMMON = 32;

function invalid(message: string): never {
  throw new BadInputError(message, 'INVALID_METRIC_INPUT');
}

/** Pearson correlation of rows a and b of a symbols × days matrix over the given day indices where both are finite. */
function correlationOn(x: Float64Array, a: number, b: number, days: number, at: Int32Array | undefined): { r: number; n: number } {
  let n = 0;
  let sa = 0;
  let sb = 0;
  let saa = 0;
  let sbb = 0;
  let sab = 0;
  const oa = a * days;
  const ob = b * days;
  const count = at ? at.length : days;
  for (let k = 0; k < count; k++) {
    const t = at ? at[k] : k;
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
  return { r: va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : NaN, n };
}

/**
 * The screen on SCREEN_DAYS evenly spaced days. A symbol with a value on each of them has its values
 * there standardised (mean 0, sum of squares 1), so the correlation of two such symbols is a dot
 * product; others get the correlation over the subsample days both have.
 */
function screenOf(x: Float64Array, n: number, days: number): { passes: (a: number, b: number) => boolean } {
  const m = Math.min(days, SCREEN_DAYS);
  const at = Int32Array.from({ length: m }, (_, k) => Math.floor(((k + 0.5) * days) / m));
  const z = new Float64Array(n * m);
  const complete = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let mean = 0;
    let ok = true;
    for (let k = 0; k < m; k++) {
      const v = x[i * days + at[k]];
      if (Number.isNaN(v)) ok = false;
      mean += v;
    }
    if (!ok) continue;
    mean /= m;
    let ss = 0;
    for (let k = 0; k < m; k++) ss += (x[i * days + at[k]] - mean) ** 2;
    if (!(ss > 0)) continue;
    const scale = 1 / Math.sqrt(ss);
    for (let k = 0; k < m; k++) z[i * m + k] = (x[i * days + at[k]] - mean) * scale;
    complete[i] = 1;
  }
  return {
    passes(a, b) {
      if (complete[a] && complete[b]) {
        let dot = 0;
        const oa = a * m;
        const ob = b * m;
        for (let k = 0; k < m; k++) dot += z[oa + k] * z[ob + k];
        return dot >= SCREEN_CORRELATION;
      }
      const s = correlationOn(x, a, b, days, at);
      return s.n < SCREEN_MIN_COMMON || s.r >= SCREEN_CORRELATION;
    },
  };
}

/**
 * Groups of symbols whose per-day values are near duplicates. `symbolOfRow` and `dayOfRow` are
 * non-negative integer ids (any range), `value` the row's value (NaN = missing); a (symbol, day) given
 * twice keeps its last value.
 */
export function nearDuplicateSymbolGroups(symbolOfRow: Int32Array, dayOfRow: Int32Array, value: Float64Array, options: NearDuplicateOptions = {}): SymbolGroups {
  const minCorrelation = options.minCorrelation ?? NEAR_DUPLICATE_CORRELATION;
  const minCommonDays = options.minCommonDays ?? NEAR_DUPLICATE_MIN_DAYS;
  if (!(minCorrelation > 0 && minCorrelation <= 1)) invalid(`minCorrelation must be in (0, 1], got ${minCorrelation}`);
  if (!(Number.isInteger(minCommonDays) && minCommonDays >= 3)) invalid(`minCommonDays must be an integer >= 3, got ${minCommonDays}`);
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
  const finite = Int32Array.from({ length: n }, (_, i) => {
    let c = 0;
    for (let t = 0; t < days; t++) if (!Number.isNaN(x[i * days + t])) c++;
    return c;
  });
  const screen = screenOf(x, n, days);
  for (let a = 0; a < n; a++) {
    if (finite[a] < minCommonDays) continue;
    for (let b = a + 1; b < n; b++) {
      if (finite[b] < minCommonDays || find(a) === find(b)) continue;
      if (!screen.passes(a, b)) continue;
      const { r, n: common } = correlationOn(x, a, b, days, undefined);
      if (common >= minCommonDays && r >= minCorrelation) parent[find(b)] = find(a);
    }
  }

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
  return { groupOf, groups: members.length, merged: members.filter((m) => m.length > 1) };
}

/** The symbol cluster of each row: its symbol's group. */
export function symbolClustersOf(symbolOfRow: Int32Array, groups: SymbolGroups): Int32Array {
  return Int32Array.from(symbolOfRow, (s) => {
    const g = s < groups.groupOf.length ? groups.groupOf[s] : -1;
    if (g < 0) invalid(`symbol id ${s} has no group: the groups were built from other rows`);
    return g;
  });
}

/** Merged groups by name, for messages: "GOOG = GOOGL; BRK-A = BRK-B". */
export function describeMergedSymbols(groups: SymbolGroups, names: readonly string[]): string {
  return groups.merged.map((m) => m.map((s) => names[s] ?? `#${s}`).join(' = ')).join('; ');
}
