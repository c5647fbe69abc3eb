/**
 * Row caps (a search's maxTrainRows / maxTestRows, walkForward.maxTrainRows, final.maxTrainRows, an
 * algorithm's `rows`, the permutation-importance sample): which rows a capped fit or score keeps.
 *
 * Dataset rows are ordered by decision day, then symbol, so keeping every k-th row aliases with the
 * number of symbols: with 20 symbols and k = 4 every day kept symbols 0, 4, 8, 12, 16 and nothing of
 * the other 15 (a registered model trained on a quarter of the universe). Keeping whole days instead
 * would leave a 1,500-row SVM fold of the S&P 500 three days of history. So the sample is stratified
 * both ways, and deterministic (no seed: the same rows and cap give the same sample):
 *   - days: each decision day keeps its share of the cap in proportion to its rows (cumulative
 *     rounding, so the kept rows sum to the cap exactly and every stretch of time keeps its share);
 *   - symbols: within a day, the symbols furthest behind their own proportional share so far are
 *     kept (ties broken by a hash of day and symbol, so no symbol is favoured), which rotates the
 *     kept symbols from day to day and keeps each symbol's count within a row or two of its share.
 * A day with more rows than the cap (a huge universe, a tiny cap) keeps its share like any other.
 *
 * Samplers that see only a matrix (a tree's bin-edge sample, a drift profile's quantile sample) know
 * neither days nor symbols, only that rows come in that order: they take one row from each of equal
 * stretches of rows, at an offset within it drawn by a hash, one draw per run of 16 stretches (spreadPosition).
 */
import { fmix32 } from '../random';
import type { TrainingDataset } from './dataset';

/**
 * At most `limit` of the dataset rows `rows` (all of them when there are no more), spread over the
 * decision days and the symbols in proportion to their rows; in the order given.
 */
export function thinRows(ds: Pick<TrainingDataset, 'start' | 'symbol'>, rows: Int32Array, limit: number): Int32Array {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`a row cap must be a whole number of at least 1, not ${limit}`);
  if (rows.length <= limit) return rows;
  const known = thinned.get(rows) ?? [];
  thinned.set(rows, known);
  const hit = known.find((k) => k.start === ds.start && k.symbol === ds.symbol && k.limit === limit);
  if (hit) return hit.out;
  const out = stratifiedSample(ds, rows, limit);
  known.push({ start: ds.start, symbol: ds.symbol, limit, out });
  return out;
}

/**
 * Samples already drawn, by the rows they were drawn from: every trial of a search thins the same
 * (cached) fold rows to the same caps (~5 ms each for 200,000 rows).
 */
const thinned = new WeakMap<Int32Array, Array<{ start: Int32Array; symbol: Int32Array; limit: number; out: Int32Array }>>();

function stratifiedSample(ds: Pick<TrainingDataset, 'start' | 'symbol'>, rows: Int32Array, limit: number): Int32Array {
  const n = rows.length;
  // Positions of `rows` in day order (callers pass them in time order already; sorted only if not).
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) sorted = ds.start[rows[i]] >= ds.start[rows[i - 1]];
  const order = sorted ? undefined : positionsByDay(ds.start, rows);
  const at = (i: number) => (order ? order[i] : i);

  // Credit of each symbol in units of 1/n rows: + limit per row it has, − n per row kept (integers, exact).
  let symbols = 0;
  for (let i = 0; i < n; i++) symbols = Math.max(symbols, ds.symbol[rows[i]] + 1);
  const credit = new Float64Array(symbols);
  const keep = new Uint8Array(n);
  // One day's keys at a time (fresh memory is slow to touch: not two arrays of every row).
  let widest = 0;
  for (let from = 0; from < n; ) {
    let to = from + 1;
    while (to < n && ds.start[rows[at(to)]] === ds.start[rows[at(from)]]) to++;
    widest = Math.max(widest, to - from);
    from = to;
  }
  const keys = new Float64Array(widest);
  const scratch = new Float64Array(widest);
  let seen = 0;
  for (let from = 0; from < n; ) {
    const day = ds.start[rows[at(from)]];
    let to = from;
    while (to < n && ds.start[rows[at(to)]] === day) to++;
    // The day's quota: its cumulative share of the cap, rounded down, less what earlier days took.
    const quota = Math.floor(((seen + to - from) * limit) / n) - Math.floor((seen * limit) / n);
    seen += to - from;
    const dayHash = fmix32(day);
    for (let i = from; i < to; i++) {
      const s = ds.symbol[rows[at(i)]];
      credit[s] += limit;
      // Credits differ by whole units, so a tie-break in [0, 1) orders only equal credits.
      keys[i - from] = credit[s] + fmix32((dayHash ^ s) >>> 0) / 4294967296;
    }
    if (quota > 0) {
      scratch.set(keys.subarray(0, to - from));
      const threshold = nthSmallest(scratch.subarray(0, to - from), to - from - quota);
      for (let i = from, taken = 0; i < to && taken < quota; i++) {
        if (keys[i - from] < threshold) continue;
        keep[at(i)] = 1;
        credit[ds.symbol[rows[at(i)]]] -= n;
        taken++;
      }
    }
    from = to;
  }
  const out = new Int32Array(limit);
  for (let i = 0, o = 0; i < n; i++) if (keep[i]) out[o++] = rows[i];
  return out;
}

/** Positions 0..n−1 of `rows` ordered by decision day, then position. */
function positionsByDay(start: Int32Array, rows: Int32Array): Int32Array {
  const order = new Int32Array(rows.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  return order.sort((a, b) => start[rows[a]] - start[rows[b]] || a - b);
}

/** The k-th smallest value (from 0) of `a`, which it reorders (quickselect: linear on average, where sorting each day's keys took most of the time). */
function nthSmallest(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}

/**
 * Position of sample i of `take` (i = 0 … take − 1) spread over n rows ordered by day, then symbol
 * (take ≤ n): one row of the i-th of `take` equal stretches, [⌊i·n/take⌋, ⌊(i+1)·n/take⌋), at an
 * offset within it drawn from a hash. The stretch's first row alone (every k-th row) kept the same
 * symbols every day when k divided their number (20 symbols, k = 4: S0, S4, …, S16). Every stretch of
 * time keeps its share exactly, and every symbol its share on average, whatever their number.
 * Runs of 16 stretches (SPREAD_RUN_BITS) share one draw (the same fraction of their width): a run's rows are
 * then equally spaced, which the processor's prefetcher follows when a tree's edge sample gathers
 * rows from a large matrix (a draw per stretch made that gather 3× slower), and a symbol's count
 * strays a little more from its share (a few percent at 50,000 rows). Deterministic (a fixed hash, no
 * seed); positions increase with i; take = n gives i.
 */
export function spreadPosition(i: number, n: number, take: number): number {
  const from = Math.floor((i * n) / take);
  const width = Math.floor(((i + 1) * n) / take) - from;
  return width > 1 ? from + Math.floor((fmix32(((i >>> SPREAD_RUN_BITS) ^ SPREAD_SALT) >>> 0) / 4294967296) * width) : from;
}

/** Stretches that share one draw: 2^SPREAD_RUN_BITS (16). */
const SPREAD_RUN_BITS = 4;
/** Mixed into the run number so the offsets do not start from fmix32(0) = 0. */
const SPREAD_SALT = 0x2545f491;
