/**
 * The point-in-time audit: for a seeded sample of (symbol, date) rows of a training dataset, every
 * feature is recomputed from the store's inputs dated up to that date only (bars of the whole
 * universe, the volatility index, headlines), through the materialiser's own loading and
 * computation, and compared with the dataset's value. A feature that reads bar t+1 or later, however
 * it got there (a code change, an overwritten column, the label or forward return copied in, rows
 * left stale by revised bars), differs and is named. The shuffled-label control cannot see such a
 * leak: permuting the labels also breaks its correlation with them. What the audit cannot see is
 * look-ahead inside the stored bars (a daily high/low that includes the next session's): it
 * recomputes from those same bars and agrees with them; that is the quality gate's to catch
 * (next_session_leak, lib/quality/rules.ts).
 */
import { BadInputError } from '../errors';
import { defineFeatureSet } from '../features/feature-set';
import { seriesFeedingEveryRow } from '../features/stale-rows';
import { knownStaleFrom } from '../store/features';
import { readStoredFeatureSet } from '../features/stored-feature-set';
import { computeFromInputs, featureInputsUpTo, loadFeatureInputs, type FeatureInputs } from '../features/materialize';
import { frameRow, normalisesAcrossSymbols } from '../features/compute-features';
import { rng } from '../random';
import type { Database } from '../store/database';
import type { TrainingDataset } from './dataset';
import { yieldToEventLoop } from '../event-loop';

export interface PointInTimeAuditOptions {
  /** Rows to check in all (default 200), spread evenly over the sampled dates; a date with fewer rows gives all it has. */
  rows?: number;
  /** Distinct decision dates sampled (default 6); one of them is in the last 10% of the dataset's dates. */
  dates?: number;
  /**
   * Besides that spread sample, every row on the last `newest` decision days of each symbol (default
   * 3; 0: none): the end of a series is where a feature computed with bars that came later, or a row
   * left stale by revised bars, shows first. These are the dataset's newest days for every symbol
   * still listed then; of symbols whose rows end earlier (delisted), at most END_SYMBOLS, drawn by seed.
   * The dataset's rows need a known label, so they stop a label horizon before the newest stored
   * feature rows: those last few stored rows, which no training uses, are not audited.
   */
  newest?: number;
  seed: number;
  /** Relative tolerance: |a - b| <= tolerance × max(1, |a|, |b|) (default 1e-9). */
  tolerance?: number;
  /**
   * The universe the feature set was materialised over (the snapshot's symbols), because market
   * and cross-sectional columns depend on all of it. Default: every symbol in the bar store, as
   * materializeFeatures does without `symbols`.
   */
  symbols?: readonly string[];
  /** Threads for the per-symbol columns of each recomputation (as materializeFeatures; default 1). */
  threads?: number;
}

export interface PointInTimeMismatch {
  feature: string;
  /** Sampled rows on which the feature differs. */
  rows: number;
  example: { symbol: string; date: string; stored: number; recomputed: number };
}

export interface PointInTimeAudit {
  passed: boolean;
  rowsChecked: number;
  datesChecked: string[];
  /** Of datesChecked, those audited as the last decision days of a symbol's rows. */
  newestDatesChecked?: string[];
  features: number;
  mismatchedFeatures: PointInTimeMismatch[];
  /**
   * Symbols whose stored rows are known to be stale on or before the dataset's last decision day
   * (bars revised under them since they were computed, not recomputed yet), with the date they are
   * stale from: whatever the sample shows, the dataset holds rows made from other bars than its labels.
   */
  staleRows?: Array<{ symbol: string; from: string }>;
  message: string;
  seconds: number;
}

const DEFAULT_ROWS = 200;
const DEFAULT_DATES = 6;
const DEFAULT_NEWEST = 3;
/**
 * Symbols whose rows end before the dataset's newest days whose last days are audited too: each adds
 * up to `newest` dates to recompute (~0.7 s each on the full universe), so a universe with many
 * delisted symbols gets a seeded few, not all.
 */
const END_SYMBOLS = 2;
const DEFAULT_TOLERANCE = 1e-9;
/** The newest dates are where stale or look-ahead rows are most likely: one sampled date is always there. */
const RECENT_SHARE = 0.1;
/** Features named in the message; the result lists all of them. */
const NAMED_IN_MESSAGE = 5;

/** Both undefined, identical (infinities included), or within the relative tolerance. */
export function sameFeatureValue(a: number, b: number, tolerance: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  return a === b || Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(a), Math.abs(b));
}

/** k distinct integers from [from, to), seeded, in ascending order. */
function sampleRange(random: () => number, from: number, to: number, k: number): number[] {
  const pool = Array.from({ length: to - from }, (_, i) => from + i);
  const n = Math.min(k, pool.length);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, n).sort((a, b) => a - b);
}

/**
 * Rows at the end of each symbol's series, by decision day: every row on the last `newest` decision
 * days of each symbol, for symbols listed on the dataset's newest day; of symbols whose rows end
 * before it, END_SYMBOLS drawn by seed.
 */
function newestRows(ds: TrainingDataset, newest: number, seed: number): Map<number, number[]> {
  const out = new Map<number, number[]>();
  if (newest <= 0 || ds.rows === 0) return out;
  // The last `newest` rows of each symbol, by decision day (rows of one symbol have distinct days).
  const last = new Map<number, number[]>();
  for (let r = 0; r < ds.rows; r++) {
    const list = last.get(ds.symbol[r]) ?? [];
    if (list.length === 0) last.set(ds.symbol[r], list);
    if (list.length < newest) list.push(r);
    else {
      let oldest = 0;
      for (let i = 1; i < list.length; i++) if (ds.start[list[i]] < ds.start[list[oldest]]) oldest = i;
      if (ds.start[r] > ds.start[list[oldest]]) list[oldest] = r;
    }
  }
  let newestDay = -1;
  for (let r = 0; r < ds.rows; r++) newestDay = Math.max(newestDay, ds.start[r]);
  const ends = [...last.keys()].sort((a, b) => a - b);
  const current = ends.filter((s) => (last.get(s) as number[]).some((r) => ds.start[r] === newestDay));
  const listed = new Set(current);
  const earlier = ends.filter((s) => !listed.has(s));
  const random = rng(seed ^ 0x5bd1e995);
  const picked = [...current, ...sampleRange(random, 0, earlier.length, END_SYMBOLS).map((i) => earlier[i])];
  for (const s of picked) {
    for (const r of last.get(s) as number[]) {
      const list = out.get(ds.start[r]);
      if (list) list.push(r);
      else out.set(ds.start[r], [r]);
    }
  }
  return out;
}

/**
 * Decision days to audit (indices into ds.days) with the rows to check on each: one day drawn from
 * each of `dates - 1` equal strata of the first 90% of the dataset's decision days and one from the
 * last 10%, then `rows` rows spread evenly over them; and besides, every row at the end of each
 * symbol's series (newestRows).
 */
function sampleRows(ds: TrainingDataset, rows: number, dates: number, newest: number, seed: number): Array<{ day: number; rows: number[]; newest: boolean }> {
  const spread = spreadRows(ds, rows, dates, seed);
  if (rows <= 0) return spread;
  const ends = newestRows(ds, newest, seed);
  const byDay = new Map(spread.map((p) => [p.day, { ...p, newest: false }]));
  for (const [day, list] of ends) {
    const known = byDay.get(day);
    byDay.set(day, { day, rows: [...new Set([...(known?.rows ?? []), ...list])].sort((a, b) => a - b), newest: true });
  }
  return [...byDay.values()].sort((a, b) => a.day - b.day);
}

function spreadRows(ds: TrainingDataset, rows: number, dates: number, seed: number): Array<{ day: number; rows: number[]; newest: boolean }> {
  const rowsOfDay = new Map<number, number[]>();
  for (let r = 0; r < ds.rows; r++) {
    const list = rowsOfDay.get(ds.start[r]);
    if (list) list.push(r);
    else rowsOfDay.set(ds.start[r], [r]);
  }
  const days = [...rowsOfDay.keys()].sort((a, b) => a - b);
  if (days.length === 0 || rows <= 0 || dates <= 0) return [];
  const random = rng(seed);
  const k = Math.min(dates, days.length, rows); // every audited date gets at least one row
  const recentFrom = Math.min(days.length - 1, Math.floor(days.length * (1 - RECENT_SHARE)));
  const picked = new Set<number>([recentFrom + Math.floor(random() * (days.length - recentFrom))]);
  const strata = k - 1;
  for (let s = 0; s < strata; s++) {
    const lo = Math.floor((recentFrom * s) / strata);
    const hi = Math.max(lo + 1, Math.floor((recentFrom * (s + 1)) / strata));
    picked.add(lo + Math.floor(random() * (hi - lo)));
  }
  // Tiny datasets: strata may be empty or collide; fill up with any days not picked yet.
  for (const extra of sampleRange(random, 0, days.length, days.length)) {
    if (picked.size >= k) break;
    picked.add(extra);
  }
  const chosen = [...picked].sort((a, b) => a - b);
  return chosen.map((p, i) => {
    const candidates = rowsOfDay.get(days[p]) as number[];
    const quota = Math.floor((rows * (i + 1)) / chosen.length) - Math.floor((rows * i) / chosen.length);
    return { day: days[p], rows: sampleRange(random, 0, candidates.length, quota).map((j) => candidates[j]), newest: false };
  });
}

const show = (x: number) => (Number.isNaN(x) ? 'undefined (NaN)' : String(Number(x.toPrecision(4))));

/**
 * Recomputes a seeded sample of the dataset's feature rows from inputs dated up to each row's date
 * and compares them with the dataset. Any difference fails the audit and names the feature.
 */
export async function auditPointInTime(store: Database, ds: TrainingDataset, options: PointInTimeAuditOptions): Promise<PointInTimeAudit> {
  const started = performance.now();
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE;
  // Recomputed by this code only if this code gives the stored definition the dataset's version.
  const set = await readStoredFeatureSet(store, ds.featureSetVersion, 'the point-in-time audit recomputes features from its definition');
  const plan = sampleRows(ds, options.rows ?? DEFAULT_ROWS, options.dates ?? DEFAULT_DATES, options.newest ?? DEFAULT_NEWEST, options.seed);
  const p = ds.columns.length;
  const mismatches = new Map<string, PointInTimeMismatch>();
  const missing: Array<{ symbol: string; date: string }> = [];
  let rowsChecked = 0;
  let columnsOf: number[] | undefined; // dataset column -> recomputed column

  // Read once up to the newest audited date, then cut at each date: the same inputs as a load with `to`.
  const loaded = plan.length > 0 ? await loadFeatureInputs(store, set, { symbols: options.symbols, to: ds.days[plan[plan.length - 1].day] }) : undefined;
  // Without cross-sectional normalisation a row depends on no other symbol's row: only the sampled
  // symbols need per-symbol work (every symbol still counts in the market-wide columns).
  const independentRows = !normalisesAcrossSymbols(set);
  for (const { day, rows } of plan) {
    // A date at a time (~0.7 s each on the full universe): the worker's other activities start meanwhile.
    await yieldToEventLoop();
    const date = ds.days[day];
    const inputs = featureInputsUpTo(set, loaded as FeatureInputs, date);
    const rowsFor = independentRows ? new Set(rows.map((r) => ds.symbols[ds.symbol[r]])) : undefined;
    // fromDate: only the audited date's rows are framed; values still come from the whole history up to it.
    const computed = await computeFromInputs(set, inputs, { fromDate: date, rowsFor, threads: options.threads });
    if (!columnsOf) {
      const at = new Map(computed.columns.map((c, i) => [c, i]));
      const absent = ds.columns.filter((c) => !at.has(c));
      if (absent.length > 0) throw new BadInputError(`the dataset has columns that feature set ${set.version} does not compute (${absent.slice(0, 5).join(', ')}); it was not built from this feature set`);
      columnsOf = ds.columns.map((c) => at.get(c) as number);
    }
    const rowOf = new Map<string, Float64Array>();
    for (const frame of computed.frames) if (frame.dates[0] === date) rowOf.set(frame.symbol, frameRow(frame, 0));
    for (const r of rows) {
      const symbol = ds.symbols[ds.symbol[r]];
      const recomputed = rowOf.get(symbol);
      if (!recomputed) missing.push({ symbol, date });
      rowsChecked++;
      for (let c = 0; c < p; c++) {
        const stored = ds.values[r * p + c];
        const value = recomputed ? recomputed[columnsOf[c]] : NaN;
        if (sameFeatureValue(stored, value, tolerance)) continue;
        const m = mismatches.get(ds.columns[c]);
        if (m) m.rows++;
        else mismatches.set(ds.columns[c], { feature: ds.columns[c], rows: 1, example: { symbol, date, stored, recomputed: value } });
      }
    }
  }

  // Rows the store knows to be stale (a publish revised bars after the features step, a live
  // correction): a sample of a few dates misses a revision between them, and short windows carry it
  // only a few days; the dataset's rows of those dates were made from other bars than its labels.
  // Market and cross-sectional columns carry any stored series' revision to every symbol's rows.
  const lastDay = ds.rows > 0 ? ds.days[ds.start[ds.rows - 1]] : undefined;
  const everyRow = seriesFeedingEveryRow(set);
  const crosses = everyRow !== undefined;
  const inDataset = new Set(ds.symbols);
  const feeds = (symbol: string) => inDataset.has(symbol) || (everyRow?.(symbol) ?? false);
  const staleRows = lastDay === undefined ? [] : [...(await knownStaleFrom(store, ds.featureSetVersion))].filter(([symbol, from]) => from <= lastDay && feeds(symbol)).map(([symbol, from]) => ({ symbol, from })).sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : a.symbol < b.symbol ? -1 : 1));

  const datesChecked = plan.map(({ day }) => ds.days[day]);
  const newestDatesChecked = plan.filter((p) => p.newest).map(({ day }) => ds.days[day]);
  // Dataset column order, so the same leak always reads the same.
  const mismatchedFeatures = ds.columns.flatMap((c) => mismatches.get(c) ?? []);
  const passed = mismatchedFeatures.length === 0 && staleRows.length === 0;
  const currentVersion = defineFeatureSet(set).version;
  let message: string;
  const staleText =
    staleRows.length > 0
      ? `stored feature rows the dataset was built from are stale: ${staleRows.slice(0, NAMED_IN_MESSAGE).map((x) => `${x.symbol} from ${x.from}`).join(', ')}${staleRows.length > NAMED_IN_MESSAGE ? ` and ${staleRows.length - NAMED_IN_MESSAGE} more symbols` : ''} (bars revised after the rows were computed${crosses ? '; the set\'s market or cross-sectional columns carry that to every symbol\'s rows of those dates' : ''}), while its labels come from the revised bars; materialise the features again and rebuild the dataset`
      : '';
  if (rowsChecked === 0 && staleRows.length === 0) {
    message = 'the dataset has no rows; nothing to audit';
  } else if (mismatchedFeatures.length === 0 && staleRows.length > 0) {
    message = `${rowsChecked} sampled rows equal the recomputation, but ${staleText}; the run fails as leaking`;
  } else if (passed) {
    const ends = newestDatesChecked.length > 0 ? `; ${newestDatesChecked.length} of them the last decision days of the symbols' series` : '';
    message = `${rowsChecked} rows on ${datesChecked.length} dates (${datesChecked[0]} .. ${datesChecked[datesChecked.length - 1]}${ends}) recomputed from the data up to each date: all ${p} features equal the dataset's (relative tolerance ${tolerance})`;
  } else {
    const named = mismatchedFeatures.slice(0, NAMED_IN_MESSAGE).map(({ feature, rows, example: e }) =>
      `feature ${feature} on ${e.symbol} ${e.date} is ${show(e.stored)} in the dataset but ${show(e.recomputed)} when recomputed from bars up to ${e.date} (${rows} of ${rowsChecked} sampled rows differ)`,
    );
    const more = mismatchedFeatures.length > NAMED_IN_MESSAGE ? `; and ${mismatchedFeatures.length - NAMED_IN_MESSAGE} more features` : '';
    const absent = missing.length > 0 ? `; ${missing.length} sampled rows (e.g. ${missing[0].symbol} ${missing[0].date}) have no features at all when recomputed from the data up to their date, so the stored row needed later data` : '';
    const code = currentVersion !== set.version ? `; note: ${set.version} was materialised by another feature code version (this code defines it as ${currentVersion}), so changed code may explain the difference` : '';
    message = `${named.join('; ')}${more}${absent}: the feature reads data after its date (look-ahead) or the stored rows are stale (bars revised after materialisation, rows written by other code or another universe)${code}${staleText ? `; ${staleText}` : ''}; the run fails as leaking`;
  }
  return { passed, rowsChecked, datesChecked, newestDatesChecked, features: p, mismatchedFeatures, ...(staleRows.length > 0 ? { staleRows } : {}), message, seconds: (performance.now() - started) / 1000 };
}
