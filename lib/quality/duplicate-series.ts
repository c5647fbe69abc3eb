import { nyseTradingDaysBetween } from '../calendar/nyse';
import type { Bar } from '../market-data/bar';
import { knownInstrumentKind, type InstrumentKind } from '../market-data/instruments';
import { laggedCorrelation, NEAR_DUPLICATE_CORRELATION, scanLaggedPairs } from '../stats/symbol-clusters';
import { issue, type QualityIssue } from './rules-catalog';

/**
 * Series that are another symbol's series (snapshot-level rules: every series of the snapshot against
 * every other series of the snapshot and of the store, lib/ingest/judge.ts).
 *
 * A file holding another symbol's bars one session early (ZDUP's bar of day t is SYN01's bar of
 * t+1: tomorrow's prices under another name) passed every rule: each bar is a valid bar, and the
 * series is a plausible stock. Stored, it feeds tomorrow's prices of SYN01 into the market columns
 * (advance/decline, dispersion, breadth) and the market baselines, which then "predict" SYN01; the
 * point-in-time audit (it recomputes from the same stored bars) and the single-feature scan cannot
 * see it, and the inference's near-duplicate clustering compared same-day values only.
 *
 * - `lagged_duplicate` (reject, the whole series): a series of the snapshot equals another series at
 *   a lag of 1..DUPLICATE_MAX_LAG sessions either way (its bar of session t is the other's bar of
 *   t+lag): OHLC equal within rounding (EQUAL_BAR_TOLERANCE) on EQUAL_BAR_SHARE of the common
 *   sessions or more, or daily close-to-close returns correlating LAGGED_DUPLICATE_CORRELATION or
 *   more (unless either series' returns are smooth, SMOOTH_AUTOCORRELATION: a ramp or a sine
 *   correlates with anything smooth at any lag), on MIN_COMMON_SESSIONS common sessions or more (of
 *   the snapshot's bars). Two stocks are
 *   never that close a session apart: across the 382 S&P 500 files, 2013-2018, the highest
 *   correlation of daily returns at lags 1..5 between two symbols is 0.48 (EVHC/PCLN, 292 common
 *   days, one shared outlier). Which of the two is rejected: the one of this snapshot when the other
 *   is stored (it is the one added later); of two in the snapshot, the one new to the store, else the
 *   one ahead (holding the other's later bars). The finding names both symbols and the lag, and the
 *   gate fails naming them.
 * - `duplicate_series` (flag): the same at lag 0 (the same session's bars under two symbols), with
 *   returns correlating NEAR_DUPLICATE_CORRELATION (0.95, the threshold at which inference clusters
 *   two symbols as one, lib/stats/symbol-clusters.ts) or more. A symbol imported twice is one, but
 *   share classes of one company and ETFs tracking one index are legitimately this close (in the
 *   S&P 500 files FOX/FOXA 0.978, NWS/NWSA 0.960, UA/UAA 0.955), so it is evidence only: the bars
 *   are stored as read. Equal volumes too (to the share, on EQUAL_BAR_SHARE of the sessions with
 *   equal prices) make it `lagged_duplicate` at lag 0: two securities never trade them, so it is
 *   one security under a second spelling (BRKB beside BRK.B).
 *
 * - `misdated_series` (reject, the whole series): a series of the snapshot of any kind but another
 *   market's (MISDATED_JUDGED_KINDS) whose daily returns move with, or against, the market (the mean
 *   return of the other US equities, at least MIN_MARKET_SERIES of them on a session) of another
 *   session, 1..DUPLICATE_MAX_LAG away, more than with or against the same session's: its bars are
 *   dated sessions late or early. A late-dated file's
 *   label on session t is the market's move of t, which the market columns of t hold (a 1-day
 *   direction AUC of 0.77 from advance/decline alone); an early-dated one puts its future into every
 *   other stock's market columns. Decided by the gap between the two correlations in units of
 *   1/√sessions: at least MISDATED_GAP_Z (5), the other session's correlation at least
 *   MISDATED_MIN_CORRELATION, on MIN_COMMON_SESSIONS of the snapshot's returns or more. In the 382
 *   S&P 500 files, 2013-2018, every series moves with its own session's market (correlation 0.15 to
 *   0.8) more than with any other's (at most 0.23, and never above its own session's): the largest
 *   gap is −0.05, where a file dated one session off gives +5 (the least market-bound stock, NEM)
 *   to +25. Whether a series moves with the market or against it (a volatility index, an inverse
 *   fund) is not read from its name: the gap is between the strengths of the two ties, whichever way
 *   each goes (misdatedAt). The orientation had come from a list of VIX-family names: a VIX-like feed
 *   dated two sessions early was rejected named VIX9D but judged as a stock named VXST (CBOE's 9-day
 *   VIX before 2017), and published; a volatility_index feature on it (which takes any symbol) became
 *   champion, OOS AUC 0.5596 against 0.5206 on the series dated right. Over the 382 files as they
 *   are, no series is tied more strongly either way to another session's market than to its own
 *   (largest gap −1.5); dated one session late, one early or two early, 378, 377 and 377 of them are
 *   found (379, 378, 378 by the signed gap, which assumed they move with the market).
 *
 * Cost: every pair is screened on returns' ranks at every lag (lib/stats/symbol-clusters.ts
 * scanLaggedPairs: a dot product on a subsample of days), ranks so that a copy with a few garbled
 * days still stands out, each series of the snapshot on its own returns over its own sessions
 * (candidatePairs); only pairs whose rank correlation reaches CANDIDATE_RANK_CORRELATION are
 * compared bar by bar.
 */
export const DUPLICATE_MAX_LAG = 5;
export const MIN_COMMON_SESSIONS = 60;
export const LAGGED_DUPLICATE_CORRELATION = 0.99;
export const DUPLICATE_SERIES_CORRELATION = NEAR_DUPLICATE_CORRELATION;
export const EQUAL_BAR_SHARE = 0.95;
/** Prices are equal within rounding: half a cent, or 0.05% of the price, whichever is larger. */
export const EQUAL_BAR_TOLERANCE = { absolute: 0.005, relative: 5e-4 };
/**
 * Lag-1 autocorrelation of a series' daily returns above which it is smooth (a ramp, a sine: test
 * fixtures, not prices; in the S&P 500 files the highest is 0.17), so that its returns' correlation
 * with another series says nothing and only equal bars make it a duplicate.
 */
export const SMOOTH_AUTOCORRELATION = 0.5;
/** Other US equities with a return on a session for the market's mean return of that session to count. */
export const MIN_MARKET_SERIES = 20;
/** (correlation with another session's market − with the same session's) × √sessions at which a series is misdated. */
export const MISDATED_GAP_Z = 5;
/** The least correlation with another session's market that can make a series misdated (noise never reaches it on a long series). */
export const MISDATED_MIN_CORRELATION = 0.1;
/**
 * Kinds of series misdated_series judges: every kind whose bars can feed features dated by NYSE
 * sessions (a universe of equities, ETFs, indices, synthetic series, futures or currencies; any
 * series as the volatility_index feature's input, which takes any symbol). Not another market's
 * (foreign_equity): its bar of day t closed hours before the NYSE's and follows the US day before,
 * so against the US market it always looks dated a session late.
 */
export const MISDATED_JUDGED_KINDS: ReadonlySet<InstrumentKind> = new Set<InstrumentKind>(['equity', 'etf', 'index', 'volatility_index', 'synthetic', 'future', 'fx']);
/** Fewest US equities on each side of a split into two groups dated a session apart (laggedGroups), and on a session for a group's mean return to count. */
export const MIN_GROUP_SERIES = 5;
/** Returns between the windows a short update is judged on (misdatedSeries), and the longest (about the year of stored bars the judge reads). */
const WINDOW_STEP_SESSIONS = 20;
const MISDATED_MAX_WINDOW = 260;
/** Returns a short update needs of its own to lean one way (leansTheSameWay); with fewer, the window's last ones count. */
const LEAN_RETURNS = 20;
/** How much longer than a series' own returns' sessions the window the others are ranked over may be (candidatePairs' groups of spans). */
const SPAN_GROUP_SLACK = 0.1;
/** Rank correlation of daily returns (over all common days, at a lag) that makes a pair a candidate. */
const CANDIDATE_RANK_CORRELATION = 0.85;

/** One symbol's bars, ascending by date, as the snapshot would leave them: its staged bars, with stored bars around them. */
export interface DuplicateCheckSeries {
  symbol: string;
  /** YYYY-MM-DD, ascending, one per bar. */
  date: readonly string[];
  open: ArrayLike<number>;
  high: ArrayLike<number>;
  low: ArrayLike<number>;
  close: ArrayLike<number>;
  /** Shares traded per bar (absent: not compared bar for bar, exactCopies). */
  volume?: ArrayLike<number>;
  /** Per bar, 1 when it is the snapshot's, 0 when stored; absent for a stored series (compared with, never judged). */
  staged?: ArrayLike<number>;
  /** Whether the store held bars of the symbol before this snapshot (a symbol new to the store is the one added later). */
  storedBefore: boolean;
  /**
   * The series' kind as declared (an import's or the store's `instruments`) or read from its symbol;
   * absent: read from the symbol (knownInstrumentKind). Which series are judged misdated and which
   * make the market go by it.
   */
  kind?: InstrumentKind;
  /** The file of the snapshot's rows (the findings' source). */
  source?: string;
}

/** Two symbols whose series are one: `symbol`'s bar of session t is `other`'s bar of session t + lag. */
export interface DuplicatePair {
  symbol: string;
  other: string;
  lag: number;
  /** Common sessions compared (`symbol`'s bars of the snapshot with a bar of `other` `lag` sessions on). */
  sessions: number;
  /** Share of them with open, high, low and close equal within rounding. */
  equalShare: number;
  /** Correlation of daily close-to-close log returns over the common sessions (`symbol`'s own returns: between two of its bars of the snapshot). */
  correlation: number;
  /** Whether `other` is in the snapshot too (else it is stored). */
  otherInSnapshot: boolean;
}

export interface DuplicateSeriesFindings {
  /** `lagged_duplicate` (one per rejected series) and `duplicate_series` findings. */
  issues: QualityIssue[];
  /** Series rejected whole, by symbol: the lagged_duplicate finding. */
  rejected: Map<string, QualityIssue>;
  /** Every pair found (lagged or not), for reports. */
  pairs: DuplicatePair[];
}

/**
 * A series of `staged` bars with `stored` bars of the symbol on other dates (a stored bar on a staged
 * bar's date is replaced by it), ascending: the columns duplicateSeriesIssues takes.
 */
export function seriesOfBars(symbol: string, staged: readonly Bar[], stored: readonly Bar[], options: { storedBefore?: boolean; source?: string; kind?: InstrumentKind } = {}): DuplicateCheckSeries {
  const ascending = (bars: readonly Bar[]): readonly Bar[] => (bars.every((b, k) => k === 0 || bars[k - 1].date < b.date) ? bars : [...bars].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0)));
  const a = ascending(staged);
  const b = ascending(stored);
  // Typed columns: a snapshot's series are held together while it is judged (the whole S&P 500 folder: 467,000 bars).
  const size = a.length + b.length;
  const out = { date: new Array<string>(), open: new Float64Array(size), high: new Float64Array(size), low: new Float64Array(size), close: new Float64Array(size), volume: new Float64Array(size), staged: new Uint8Array(size) };
  const push = (bar: Bar, isStaged: number): void => {
    const k = out.date.length;
    out.date.push(bar.date);
    out.open[k] = bar.open;
    out.high[k] = bar.high;
    out.low[k] = bar.low;
    out.close[k] = bar.close;
    out.volume[k] = bar.volume;
    out.staged[k] = isStaged;
  };
  // Merge the two ascending lists; the staged bar wins a date both have.
  for (let i = 0, j = 0; i < a.length || j < b.length; ) {
    if (j >= b.length || (i < a.length && a[i].date <= b[j].date)) {
      if (j < b.length && b[j].date === a[i].date) j++;
      push(a[i++], 1);
    } else push(b[j++], 0);
  }
  const n = out.date.length;
  return {
    symbol,
    date: out.date,
    open: out.open.subarray(0, n),
    high: out.high.subarray(0, n),
    low: out.low.subarray(0, n),
    close: out.close.subarray(0, n),
    volume: out.volume.subarray(0, n),
    ...(staged.length > 0 ? { staged: out.staged.subarray(0, n) } : {}),
    storedBefore: options.storedBefore ?? stored.length > 0,
    ...(options.source !== undefined ? { source: options.source } : {}),
    ...(options.kind !== undefined ? { kind: options.kind } : {}),
  };
}

/** A series' kind: as declared, else read from its symbol (undefined for a suffix no rule reads). */
const kindOf = (S: DuplicateCheckSeries): InstrumentKind | undefined => S.kind ?? knownInstrumentKind(S.symbol);

/** Two prices equal within the rounding of vendors' exports (EQUAL_BAR_TOLERANCE). */
export const equalWithinRounding = (x: number, y: number): boolean => Math.abs(x - y) <= Math.max(EQUAL_BAR_TOLERANCE.absolute, EQUAL_BAR_TOLERANCE.relative * Math.max(Math.abs(x), Math.abs(y))) + 1e-12;

/** Average ranks of a row's finite values, centred (NaN stays NaN): Spearman's correlation is then Pearson's of these. */
function ranksInPlace(x: Float64Array, o: number, length: number): void {
  let count = 0;
  for (let t = 0; t < length; t++) if (!Number.isNaN(x[o + t])) count++;
  const sorted = new Float64Array(count);
  for (let t = 0, k = 0; t < length; t++) if (!Number.isNaN(x[o + t])) sorted[k++] = x[o + t];
  sorted.sort();
  const centre = (count + 1) / 2;
  for (let t = 0; t < length; t++) {
    const v = x[o + t];
    if (Number.isNaN(v)) continue;
    // Ties: the average of the ranks from the first value not below v to the last not above it.
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    let end = lo;
    hi = count;
    while (end < hi) {
      const mid = (end + hi) >> 1;
      if (sorted[mid] <= v) end = mid + 1;
      else hi = mid;
    }
    x[o + t] = (lo + 1 + end) / 2 - centre;
  }
}

const sessionWord = (n: number): string => `${n} session${n === 1 ? '' : 's'}`;

/**
 * The findings of `lagged_duplicate` and `duplicate_series` (above) over the series given: those with
 * `staged` bars are judged, each against every other series given (staged or stored).
 */
export function duplicateSeriesIssues(series: readonly DuplicateCheckSeries[]): DuplicateSeriesFindings {
  const out: DuplicateSeriesFindings = { issues: [], rejected: new Map(), pairs: [] };
  const judged = series.map((s) => s.staged !== undefined && Array.prototype.some.call(s.staged, (v: number) => v === 1));
  // A series on its own: closes of the next session under each date (every symbol of a file shifted alike).
  for (const [i, S] of series.entries()) if (judged[i] && kindOf(S) === 'equity') misdatedCloses(S, out);
  if (!judged.some(Boolean) || series.length < 2) return out;

  // Sessions: the NYSE's between the first and last date, and any other date a bar has.
  let first = '9999-12-31';
  let last = '0000-01-01';
  for (const s of series) {
    if (s.date.length === 0) continue;
    if (s.date[0] < first) first = s.date[0];
    if (s.date[s.date.length - 1] > last) last = s.date[s.date.length - 1];
  }
  const all = new Set(first <= last ? nyseTradingDaysBetween(first, last) : []);
  for (const s of series) for (const d of s.date) all.add(d);
  const sessions = [...all].sort();
  const sessionOf = new Map(sessions.map((d, i) => [d, i]));
  const days = sessions.length;
  const n = series.length;

  // Per series: the bar on each session (−1: none), and daily close-to-close log returns (NaN without both bars).
  const barAt = new Int32Array(n * days).fill(-1);
  const returns = new Float64Array(n * days).fill(NaN);
  for (const [i, s] of series.entries()) {
    // Dates ascending, sessions ascending: one walk.
    for (let k = 0, t = s.date.length > 0 ? (sessionOf.get(s.date[0]) as number) : 0; k < s.date.length; k++) {
      while (sessions[t] < s.date[k]) t++;
      barAt[i * days + t] = k;
    }
    for (let t = 1; t < days; t++) {
      const k = barAt[i * days + t];
      const p = barAt[i * days + t - 1];
      if (k < 0 || p < 0 || !(s.close[k] > 0) || !(s.close[p] > 0)) continue;
      returns[i * days + t] = Math.log(s.close[k] / s.close[p]);
    }
  }
  // Returns that move smoothly from day to day (a ramp, a sine: no traded price does) correlate at
  // every lag and with any other smooth series: for those only equal bars count.
  const smooth = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    // Constant returns (no variance: r is NaN) are as smooth as it gets.
    const { r, n: m } = laggedCorrelation(returns, i, i, days, 1, 0, days, 1e-18);
    smooth[i] = m >= 2 && !(r <= SMOOTH_AUTOCORRELATION) ? 1 : 0;
  }

  /** `s`'s bars of the snapshot on session t against `o`'s bars of session t + lag. */
  const compare = (s: number, o: number, lag: number): { sessions: number; equalShare: number; copyShare: number; correlation: number } => {
    const S = series[s];
    const O = series[o];
    let bars = 0;
    let equal = 0;
    let copies = 0;
    let m = 0;
    let sa = 0;
    let sb = 0;
    let saa = 0;
    let sbb = 0;
    let sab = 0;
    for (let t = Math.max(0, -lag); t < days && t + lag < days; t++) {
      const k = barAt[s * days + t];
      const j = barAt[o * days + t + lag];
      if (k < 0 || j < 0 || S.staged?.[k] !== 1) continue;
      bars++;
      if (equalWithinRounding(S.open[k], O.open[j]) && equalWithinRounding(S.high[k], O.high[j]) && equalWithinRounding(S.low[k], O.low[j]) && equalWithinRounding(S.close[k], O.close[j])) {
        equal++;
        const volume = S.volume?.[k];
        if (volume !== undefined && volume > 0 && O.volume?.[j] === volume) copies++;
      }
      // The series' own returns only (between two of its bars of the snapshot), as the screen reads
      // them: the return from a stored bar into its first row is, in a copy, the seam between two
      // securities, an outlier that took copies not equal bar for bar below the bar.
      if (!(k > 0 && S.staged?.[k - 1] === 1)) continue;
      const u = returns[s * days + t];
      const v = returns[o * days + t + lag];
      if (!(u === u && v === v)) continue;
      m++;
      sa += u;
      sb += v;
      saa += u * u;
      sbb += v * v;
      sab += u * v;
    }
    const cov = sab - (sa * sb) / m;
    const va = saa - (sa * sa) / m;
    const vb = sbb - (sb * sb) / m;
    return { sessions: bars, equalShare: bars > 0 ? equal / bars : 0, copyShare: bars > 0 ? copies / bars : 0, correlation: m >= 2 && va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : NaN };
  };
  const isDuplicate = (c: { sessions: number; equalShare: number; correlation: number }, s: number, o: number, lag: number): boolean =>
    c.sessions >= MIN_COMMON_SESSIONS && (c.equalShare >= EQUAL_BAR_SHARE || (!smooth[s] && !smooth[o] && c.correlation >= (lag === 0 ? DUPLICATE_SERIES_CORRELATION : LAGGED_DUPLICATE_CORRELATION)));

  // Per unordered pair, the best lag found (most equal bars, then the highest correlation).
  const found = new Map<string, DuplicatePair & { s: number; o: number; both: boolean; copyShare: number }>();
  const better = (x: DuplicatePair, y: DuplicatePair | undefined): boolean => !y || x.equalShare > y.equalShare || (x.equalShare === y.equalShare && x.correlation > y.correlation);
  candidatePairs(series, judged, { returns, barAt, days }, (a, b, lag) => {
    // Series a's session t goes with series b's session t + lag. Each side of the snapshot is judged on its own bars.
    const sides: Array<[number, number, number]> = [];
    if (judged[a]) sides.push([a, b, lag]);
    if (judged[b]) sides.push([b, a, lag === 0 ? 0 : -lag]);
    const verified = sides.map(([s, o, l]) => ({ s, o, l, c: compare(s, o, l) })).filter((v) => isDuplicate(v.c, v.s, v.o, v.l));
    if (verified.length === 0) return;
    const key = `${Math.min(a, b)}:${Math.max(a, b)}`;
    const pick = pickRejected(verified, series);
    const pair = { symbol: series[pick.s].symbol, other: series[pick.o].symbol, lag: pick.l, sessions: pick.c.sessions, equalShare: pick.c.equalShare, correlation: pick.c.correlation, otherInSnapshot: judged[pick.o], s: pick.s, o: pick.o, both: verified.length === 2, copyShare: pick.c.copyShare };
    // A pair that is one series at a lag is not "the same day's" series: the lagged finding wins.
    const previous = found.get(key);
    if (!previous || (previous.lag === 0 && pair.lag !== 0) || ((previous.lag === 0) === (pair.lag === 0) && better(pair, previous))) found.set(key, pair);
  });

  for (const p of [...found.values()].sort((x, y) => (x.symbol < y.symbol ? -1 : x.symbol > y.symbol ? 1 : x.other < y.other ? -1 : 1))) {
    const { s, o, both, copyShare, ...pair } = p;
    out.pairs.push(pair);
    const S = series[s];
    const where = pair.otherInSnapshot ? 'in this import' : 'stored';
    const evidence = `on ${(pair.equalShare * 100).toFixed(1)}% of ${pair.sessions} common sessions OHLC are equal within rounding, and daily returns correlate ${Number.isNaN(pair.correlation) ? 'n/a' : pair.correlation.toFixed(4)}`;
    if (pair.lag === 0 && copyShare >= EQUAL_BAR_SHARE && !out.rejected.has(S.symbol)) {
      // Equal volumes too: no two securities trade them (share classes and index ETFs differ), so
      // this is one series under a second spelling (BRKB beside BRK.B), held twice in every universe.
      const copy = both ? (S.storedBefore !== series[o].storedBefore ? series[o].storedBefore ? S : series[o] : S) : S;
      const kept = copy === S ? pair.other : S.symbol;
      const chosen = !both ? '' : S.storedBefore !== series[o].storedBefore ? `; of the two, ${copy.symbol} is the one new to the store` : `; which of the two is the copy the bars cannot tell, so ${copy.symbol} (sorting later) is rejected`;
      rejectSeries(out, copy, 'lagged_duplicate', `series of ${copy.symbol} is ${kept}'s (${copy === S ? where : 'in this import'}) under another symbol: ${evidence}, and on ${(copyShare * 100).toFixed(1)}% of them the volume is equal to the share, which two securities never trade (share classes and ETFs on one index differ in volume)${chosen}. One security held twice is counted twice in market columns, baselines and inference; the series is rejected whole and the import fails`);
      continue;
    }
    if (pair.lag === 0) {
      out.issues.push(
        issue('duplicate_series', {
          symbol: S.symbol,
          date: null,
          source: S.source ?? S.symbol,
          line: null,
          raw: null,
          message: `${S.symbol}'s bars are the same sessions' bars of ${pair.other} (${where}): ${evidence}; share classes of one company or ETFs tracking one index are legitimately this close, a symbol imported twice under two names is not; stored as read, and inference clusters them as one symbol`,
        }),
      );
      continue;
    }
    if (out.rejected.has(S.symbol)) continue;
    const k = Math.abs(pair.lag);
    const how = pair.lag > 0
      ? `its bar of each session is ${pair.other}'s bar of ${sessionWord(k)} later (session t holds t+${k}: another symbol's future prices)`
      : `its bar of each session is ${pair.other}'s bar of ${sessionWord(k)} earlier (session t holds t-${k}: another symbol's stale prices)`;
    const chosen = !both ? '' : S.storedBefore !== series[o].storedBefore ? `; of the two, ${S.symbol} is the one new to the store` : `; which of the two is the copy the bars cannot tell, so ${S.symbol} is rejected as the one ahead (its bars are ${pair.other}'s future)`;
    rejectSeries(out, S, 'lagged_duplicate', `series of ${S.symbol} is ${pair.other}'s (${where}) shifted by ${pair.lag > 0 ? '+' : '-'}${sessionWord(k)}: ${how}; ${evidence}${chosen}. Another symbol's bars filed sessions early or late are no series of their own, and would leak one symbol's future into market columns and baselines; the series is rejected whole and the import fails`);
  }
  exactCopies(series, judged, { barAt, days }, out);
  misdatedSeries(series, judged, smooth, { returns, barAt, days }, out);
  return out;
}

/**
 * The candidate screen of lagged_duplicate and duplicate_series: pairs of series (a < b) whose
 * returns' ranks correlate CANDIDATE_RANK_CORRELATION or more at a lag (a's session t with b's
 * session t + lag), each pair and lag reported once, for the bar-by-bar comparison.
 *
 * A series of the snapshot is screened on its own returns (between two of its bars of the snapshot:
 * the bars the comparison reads), ranked among themselves, against every other series' returns over
 * the same sessions and DUPLICATE_MAX_LAG more either side, ranked over those. Screened over its
 * whole series, its stored bars diluted a copy: SYN02's rows holding SYN01's 85 bars of 2018-03..06
 * after SYN02's stored bars to February fell below the bar with 20 or more of those, never reached
 * the comparison, and were published (59 rows or fewer are exactCopies', which found them).
 * Ranks over a longer span than the copy's would not do either: a copy's returns ranked among
 * themselves against the same returns ranked over the whole file correlate 0.92 at the lowest over
 * the 382 S&P 500 files (windows of 59 to 250 returns), 0.97 at the 1st percentile. Series whose own
 * returns span nearly the same sessions are screened together (SPAN_GROUP_SLACK), each screen
 * comparing only pairs with one of them (the folder of the 382 files into an empty store: the 357
 * of 2013-02-08..2018-02-07 in one screen, with the later listings whose spans are within 10% of it).
 */
function candidatePairs(series: readonly DuplicateCheckSeries[], judged: readonly boolean[], m: { returns: Float64Array; barAt: Int32Array; days: number }, onCandidate: (a: number, b: number, lag: number) => void): void {
  const { returns, barAt, days } = m;
  const n = series.length;
  // Returns between MIN_COMMON_SESSIONS bars.
  const minReturns = MIN_COMMON_SESSIONS - 1;
  // A series' own returns: between two of its bars of the snapshot (not the one from a stored bar
  // into its first row: in a copy that is the seam between two securities, an outlier).
  const own = new Uint8Array(n * days);
  const spans = new Map<string, { first: number; last: number; members: number[] }>();
  for (let i = 0; i < n; i++) {
    const staged = series[i].staged;
    if (!judged[i] || staged === undefined) continue;
    let first = -1;
    let last = -1;
    let count = 0;
    for (let t = 0; t < days; t++) {
      const k = barAt[i * days + t];
      if (!(k > 0 && staged[k] === 1 && staged[k - 1] === 1 && returns[i * days + t] === returns[i * days + t])) continue;
      own[i * days + t] = 1;
      if (first < 0) first = t;
      last = t;
      count++;
    }
    // Fewer own returns cannot make MIN_COMMON_SESSIONS compared bars: exactCopies judges those.
    if (count < minReturns) continue;
    const key = `${first}:${last}`;
    let span = spans.get(key);
    if (!span) spans.set(key, (span = { first, last, members: [] }));
    span.members.push(i);
  }
  if (spans.size === 0) return;
  // Spans of nearly the same sessions share one screen: the other series are ranked over the group's
  // sessions, at most SPAN_GROUP_SLACK longer than any member's own (a member's ranks are its own
  // returns' whatever the window). A screen per span ranked every series over its window for each:
  // the folder with each file starting on another session (382 spans) took 8.7 s of CPU, not 1.3.
  const groups: Array<{ first: number; last: number; shortest: number; members: number[] }> = [];
  for (const span of [...spans.values()].sort((p, q) => p.first - q.first || p.last - q.last)) {
    const group = groups[groups.length - 1];
    const length = span.last - span.first + 1;
    if (group) {
      const last = Math.max(group.last, span.last);
      if (last - group.first + 1 <= (1 + SPAN_GROUP_SLACK) * Math.min(group.shortest, length)) {
        group.last = last;
        group.shortest = Math.min(group.shortest, length);
        group.members.push(...span.members);
        continue;
      }
    }
    groups.push({ first: span.first, last: span.last, shortest: length, members: [...span.members] });
  }
  // Each series' sessions with a return, ascending by the return: ranks within any window in one pass.
  const order: Int32Array[] = [];
  for (let i = 0; i < n; i++) {
    const row = returns.subarray(i * days, (i + 1) * days);
    const finite: number[] = [];
    for (let t = 0; t < days; t++) if (row[t] === row[t]) finite.push(t);
    order.push(Int32Array.from(finite).sort((a, b) => row[a] - row[b]));
  }
  const seen = new Set<string>();
  let x = new Float64Array(0);
  for (const { first, last, members } of groups) {
    const from = Math.max(0, first - DUPLICATE_MAX_LAG);
    const to = Math.min(days, last + 1 + DUPLICATE_MAX_LAG);
    const width = to - from;
    const member = new Uint8Array(n);
    for (const i of members) member[i] = 1;
    // One row per series over the window: a member's own returns (the side judged, and the side
    // compared with for another member: the sessions it lacks there are a few at the edges), any
    // other series' returns (the side compared with), as average ranks, centred (ranksInPlace).
    if (x.length < n * width) x = new Float64Array(n * width);
    // The span's members first: the scan compares only pairs with a member (scanLaggedPairs'
    // `leading`), so a span costs its rows × the window, not rows² (a folder of files each starting
    // on another session makes a span per file).
    const rowSeries: number[] = [];
    // Members ascending, as the rows were: of two members, the lower is the pair's first row (the
    // screen's subsample of days is not symmetric, and a copy with garbled days passes it one way).
    const inOrder = [...members].sort((p, q) => p - q);
    for (let i = 0; i < n; i++) if (!member[i]) inOrder.push(i);
    let leading = 0;
    for (const i of inOrder) {
      const o = rowSeries.length * width;
      const row = i * days;
      const mask = member[i] ? i * days : -1;
      const sorted = order[i];
      let count = 0;
      for (const t of sorted) if (t >= from && t < to && (mask < 0 || own[mask + t] === 1)) count++;
      if (count < minReturns) continue;
      x.fill(NaN, o, o + width);
      // Walking the returns in ascending order, each tie gets the average of its ranks.
      const centre = (count + 1) / 2;
      let below = 0;
      for (let k = 0; k < sorted.length; ) {
        let end = k;
        let tied = 0;
        for (; end < sorted.length && returns[row + sorted[end]] === returns[row + sorted[k]]; end++) {
          const t = sorted[end];
          if (t >= from && t < to && (mask < 0 || own[mask + t] === 1)) tied++;
        }
        if (tied > 0) {
          const rank = below + (tied + 1) / 2 - centre;
          for (let j = k; j < end; j++) {
            const t = sorted[j];
            if (t >= from && t < to && (mask < 0 || own[mask + t] === 1)) x[o + t - from] = rank;
          }
          below += tied;
        }
        k = end;
      }
      rowSeries.push(i);
      if (member[i]) leading++;
    }
    const rows = rowSeries.length;
    scanLaggedPairs(x.subarray(0, rows * width), rows, width, { minCorrelation: CANDIDATE_RANK_CORRELATION, minCommonDays: minReturns, maxLag: DUPLICATE_MAX_LAG, leading }, ({ a, b, lag }) => {
      // Row a's session t goes with row b's t + lag; reported with the lower series first.
      const [s, o, l] = rowSeries[a] < rowSeries[b] ? [rowSeries[a], rowSeries[b], lag] : [rowSeries[b], rowSeries[a], -lag];
      const key = `${s}:${o}:${l}`;
      if (seen.has(key)) return;
      seen.add(key);
      onCandidate(s, o, l);
    });
  }
}

/** Equal bars, close to the cent and volume to the share, on this many sessions or more make a copy (exactCopies). */
export const COPY_MIN_SESSIONS = 5;
/**
 * Bars of the same session equal in open, high, low and close to the cent and in volume to the
 * share (positive, with a range: high above low) that make a copy on their own (exactCopies): one.
 * Two securities never trade the same four prices and the same number of shares on one session: in
 * the 382 real S&P 500 files, 466,960 bars, no two symbols share even the four prices of a date.
 */
export const COPY_SAME_SESSION_BARS = 1;

/**
 * `lagged_duplicate` for copies too short for the tests above (they need MIN_COMMON_SESSIONS of the
 * snapshot's bars): a series of the snapshot with fewer whose bars are another series' bars, at a lag of
 * −DUPLICATE_MAX_LAG..DUPLICATE_MAX_LAG sessions, close to the cent and volume to the share (a
 * positive volume), on COPY_MIN_SESSIONS or more of its bars and EQUAL_BAR_SHARE of those the other
 * has a bar for. Two securities never trade equal volumes on a week of sessions (share classes and
 * ETFs on one index differ in volume), so this is the same bars under a second symbol: a monthly
 * `IBM.csv` holding HON's bars of the month (similar prices, no overlap with IBM's stored bars) was
 * published before with no finding. A longer copy is the tests above's (at lag 0 with equal volumes, rejected too).
 *
 * On the same session one bar is enough (COPY_SAME_SESSION_BARS): the four prices to the cent and the
 * volume to the share, with a range. A daily update of one to four rows whose `a.csv` held ABT's
 * rows, beside ABT's own, was published with no finding: too few sessions for the rest. Without a
 * volume on either side (0: an index, a file without the column) the four prices alone need
 * COPY_MIN_SESSIONS such sessions. Symbols are compared as stored: a vendor's spellings of one
 * security (BRK-B, BRK.B.US) are one stored symbol already (lib/market-data/symbols.ts), and share
 * classes (GOOG, GOOGL) trade volumes and prices of their own.
 */
function exactCopies(series: readonly DuplicateCheckSeries[], judged: readonly boolean[], m: { barAt: Int32Array; days: number }, out: DuplicateSeriesFindings): void {
  const { barAt, days } = m;
  // Only series with fewer than MIN_COMMON_SESSIONS bars of the snapshot are judged here.
  const stagedBars = (S: DuplicateCheckSeries): number => {
    let count = 0;
    for (let k = 0; k < S.date.length; k++) count += S.staged?.[k] === 1 ? 1 : 0;
    return count;
  };
  const short = series.map((S, i) => judged[i] && stagedBars(S) < MIN_COMMON_SESSIONS);
  if (!short.some(Boolean)) return;
  // Per short series, every bar of the snapshot against every series' bar at each lag: a comparison
  // of two numbers per pair (a daily update of 382 symbols: 1.6 million; a monthly one: 34 million).
  const cents = (x: number): number => Math.round(x * 100);
  const width = 2 * DUPLICATE_MAX_LAG + 1;
  const equal = new Int32Array(series.length * width);
  // Same session: bars equal in all four prices to the cent, with equal positive volumes (`whole`) or without a volume on either side (`bare`).
  const whole = new Int32Array(series.length);
  const bare = new Int32Array(series.length);
  const samePrices = (S: DuplicateCheckSeries, k: number, O: DuplicateCheckSeries, j: number): boolean =>
    S.high[k] > S.low[k] && cents(S.open[k]) === cents(O.open[j]) && cents(S.high[k]) === cents(O.high[j]) && cents(S.low[k]) === cents(O.low[j]) && cents(S.close[k]) === cents(O.close[j]);
  for (let s = 0; s < series.length; s++) {
    const S = series[s];
    // A series long enough for the tests above is theirs (a copy at lag 0 stays a flag there).
    if (!short[s] || out.rejected.has(S.symbol)) continue;
    equal.fill(0);
    whole.fill(0);
    bare.fill(0);
    for (let t = 0; t < days; t++) {
      const k = barAt[s * days + t];
      if (k < 0 || S.staged?.[k] !== 1 || !(S.close[k] > 0)) continue;
      // Volumes not given: not compared bar for bar (DuplicateCheckSeries.volume).
      const volume = S.volume?.[k];
      if (volume === undefined) continue;
      if (!(volume > 0)) {
        // No volume (0): the same session's four prices only, on more sessions (below).
        for (let o = 0; o < series.length; o++) {
          const j = barAt[o * days + t];
          const other = series[o].volume?.[j];
          if (j >= 0 && o !== s && other !== undefined && !(other > 0) && samePrices(S, k, series[o], j)) bare[o]++;
        }
        continue;
      }
      const c = cents(S.close[k]);
      for (let lag = -DUPLICATE_MAX_LAG; lag <= DUPLICATE_MAX_LAG; lag++) {
        const u = t + lag;
        if (u < 0 || u >= days) continue;
        for (let o = 0; o < series.length; o++) {
          const j = barAt[o * days + u];
          if (j < 0 || o === s) continue;
          const O = series[o];
          if (O.volume?.[j] !== volume || cents(O.close[j]) !== c) continue;
          equal[o * width + lag + DUPLICATE_MAX_LAG]++;
          if (lag === 0 && samePrices(S, k, O, j)) whole[o]++;
        }
      }
    }
    let best: { o: number; lag: number; equal: number; sessions: number; same?: 'whole' | 'bare' } | undefined;
    const sessionsWith = (o: number, lag: number): number => {
      let sessions = 0;
      for (let t = Math.max(0, -lag); t < days && t + lag < days; t++) {
        const k = barAt[s * days + t];
        if (k >= 0 && S.staged?.[k] === 1 && barAt[o * days + t + lag] >= 0) sessions++;
      }
      return sessions;
    };
    for (let pair = 0; pair < equal.length; pair++) {
      const count = equal[pair];
      if (count < COPY_MIN_SESSIONS) continue;
      const o = Math.floor(pair / width);
      const lag = (pair % width) - DUPLICATE_MAX_LAG;
      const sessions = sessionsWith(o, lag);
      if (count >= EQUAL_BAR_SHARE * sessions && (!best || count > best.equal)) best = { o, lag, equal: count, sessions };
    }
    // A bar of the same session, every value equal: another security's bar, however few the sessions.
    for (let o = 0; !best && o < series.length; o++) {
      if (whole[o] >= COPY_SAME_SESSION_BARS) best = { o, lag: 0, equal: whole[o], sessions: sessionsWith(o, 0), same: 'whole' };
      else if (bare[o] >= COPY_MIN_SESSIONS) best = { o, lag: 0, equal: bare[o], sessions: sessionsWith(o, 0), same: 'bare' };
    }
    if (!best) continue;
    const O = series[best.o];
    // Both in the snapshot: one is rejected, the one new to the store, else the one ahead (lag > 0:
    // its bars are the other's later ones), else at lag 0 the one whose bars do not continue its own
    // stored bars (seamMove), else the one whose symbol sorts later (the bars cannot tell). A pair
    // already decided is left as it is. The other series, when long, is not judged here: this one is rejected.
    let chosen = '';
    if (judged[best.o] && out.rejected.has(O.symbol)) continue;
    if (judged[best.o] && short[best.o]) {
      const [mine, theirs] = [seamMove(S), seamMove(O)];
      const bySeam = best.lag === 0 && S.storedBefore && O.storedBefore && mine !== undefined && theirs !== undefined && Math.abs(mine - theirs) > SEAM_MOVE_MARGIN;
      const keep = S.storedBefore !== O.storedBefore ? S.storedBefore : best.lag !== 0 ? best.lag < 0 : bySeam ? mine < theirs : S.symbol < O.symbol;
      if (keep) continue;
      if (S.storedBefore !== O.storedBefore) chosen = `; of the two, ${S.symbol} is the one new to the store`;
      else if (bySeam) chosen = `; of the two, ${S.symbol}'s rows are the copy: they move ${(mine * 100).toFixed(1)}% from ${S.symbol}'s stored bar before them, where ${O.symbol}'s move ${(theirs * 100).toFixed(1)}% from its own`;
      else if (best.lag === 0) chosen = `; which of the two is the copy the bars cannot tell, so ${S.symbol} (sorting later) is rejected`;
    }
    const where = judged[best.o] ? 'in this import' : 'stored';
    const k = Math.abs(best.lag);
    const when = best.lag === 0 ? 'on the same sessions' : `${sessionWord(k)} ${best.lag > 0 ? 'later (its bar of session t is the other\'s bar of t+' + k + ': another symbol\'s future prices)' : 'earlier (its bar of session t is the other\'s bar of t-' + k + ')'}`;
    const what =
      best.same === 'whole'
        ? `on ${best.equal} of the ${best.sessions} session${best.sessions === 1 ? '' : 's'} of this import where ${O.symbol} has a bar to compare, open, high, low and close are equal to the cent and the volume to the share; two securities never trade the same prices and the same number of shares on one session (share classes and ETFs on one index do not either)`
        : best.same === 'bare'
          ? `on ${best.equal} of the ${best.sessions} sessions of this import where ${O.symbol} has a bar to compare, open, high, low and close are equal to the cent (neither has a volume); two securities never print the same four prices session after session`
          : `on ${best.equal} of the ${best.sessions} sessions of this import where ${O.symbol} has a bar to compare, the close is equal to the cent and the volume to the share; two securities never trade equal volumes (share classes and ETFs on one index do not either)`;
    rejectSeries(out, S, 'lagged_duplicate', `series of ${S.symbol} holds ${O.symbol}'s bars (${where}) ${when}: ${what}, so these are ${O.symbol}'s bars under a second symbol (a file named after the wrong symbol, or copied)${chosen}. The series is rejected whole and the import fails`);
  }
}

/** |log| of a close move beyond which one of two series holding the same bar is told the copy by its seam with its own stored bars. */
const SEAM_MOVE_MARGIN = 0.02;

/** |log(close of the series' first bar of the snapshot / close of the stored bar before it)|, or undefined when it has none before. */
function seamMove(S: DuplicateCheckSeries): number | undefined {
  for (let k = 1; k < S.date.length; k++) {
    if (S.staged?.[k] !== 1) continue;
    if (S.staged[k - 1] === 1 || !(S.close[k] > 0 && S.close[k - 1] > 0)) return undefined;
    return Math.abs(Math.log(S.close[k] / S.close[k - 1]));
  }
  return undefined;
}

/** A market against which misdating is judged: per session the mean return of some US equities, per series whether it is left out of it. */
interface Market {
  /** Sum and count of the returns on each session. */
  sum: Float64Array;
  count: Int32Array;
  /** Fewest series on a session for its mean to count. */
  min: number;
  /** Whether series i's own returns are in the sums (then they are taken out for it). */
  holds: (i: number) => boolean;
  /** A group's market judges only the series outside the group. */
  group: boolean;
  /** The market as the message names it. */
  name: string;
  /** Said after the verdict. */
  note: string;
}

/** Sum and count per session of the returns of the series `member` says. */
function marketOf(returns: Float64Array, n: number, days: number, member: (i: number) => boolean): { sum: Float64Array; count: Int32Array } {
  const sum = new Float64Array(days);
  const count = new Int32Array(days);
  for (let i = 0; i < n; i++) {
    if (!member(i)) continue;
    for (let t = 0; t < days; t++) {
      const v = returns[i * days + t];
      if (v === v) {
        sum[t] += v;
        count[t]++;
      }
    }
  }
  return { sum, count };
}

/**
 * Two groups of US equities that move together within each group and with the other group one
 * session apart: the sign of the leading eigenvector of C0 − C1, where C0 is the same-session
 * correlation matrix of daily returns and C1 the sum of the ±1-session ones (power iteration on
 * portfolios of standardised returns, no n × n matrix). In a market dated alike that vector is the
 * market factor, one sign; when a share of the universe is dated a session late, within-group pairs
 * move on the same session and between-group pairs a session apart, and the vector splits them.
 * Judged on the sessions from `from` on. Returns each series' group (+1, −1; 0: not an equity with enough returns), or undefined when there
 * is no such split: the two groups' mean returns must move a session apart by the misdating test
 * itself (MISDATED_GAP_Z), so a split of a market dated alike (sectors) is never one.
 */
function laggedGroups(returns: Float64Array, n: number, days: number, equity: readonly boolean[], from: number): Int8Array | undefined {
  const z = new Float64Array(n * days);
  const used: number[] = [];
  for (let i = 0; i < n; i++) {
    if (!equity[i]) continue;
    let m = 0;
    let s = 0;
    let ss = 0;
    for (let t = from; t < days; t++) {
      const v = returns[i * days + t];
      if (v === v) {
        m++;
        s += v;
        ss += v * v;
      }
    }
    const variance = m > 1 ? (ss - (s * s) / m) / (m - 1) : 0;
    if (m < MIN_COMMON_SESSIONS || !(variance > 1e-18)) continue;
    const sd = Math.sqrt(variance);
    for (let t = from; t < days; t++) {
      const v = returns[i * days + t];
      z[i * days + t] = v === v ? (v - s / m) / sd : 0;
    }
    used.push(i);
  }
  if (used.length < 2 * MIN_GROUP_SERIES) return undefined;
  // A fixed start with both signs, so that no split is orthogonal to it.
  let v = used.map((i) => Math.sin(1 + i * 2.399963));
  const portfolio = new Float64Array(days);
  let rayleigh = 0;
  for (let iteration = 0; iteration < 60; iteration++) {
    portfolio.fill(0);
    for (const [k, i] of used.entries()) for (let t = from; t < days; t++) portfolio[t] += v[k] * z[i * days + t];
    const next = used.map((i) => {
      let w = 0;
      for (let t = from; t < days; t++) w += z[i * days + t] * (portfolio[t] - (t > from ? portfolio[t - 1] : 0) - (t + 1 < days ? portfolio[t + 1] : 0));
      return w;
    });
    rayleigh = next.reduce((a, w, k) => a + w * v[k], 0);
    const norm = Math.sqrt(next.reduce((a, w) => a + w * w, 0));
    if (!(norm > 0)) return undefined;
    const moved = next.reduce((a, w, k) => a + Math.abs(w / norm - v[k]), 0);
    v = next.map((w) => w / norm);
    if (moved < 1e-6 * used.length) break;
  }
  if (!(rayleigh > 0)) return undefined;
  const group = new Int8Array(n);
  for (const [k, i] of used.entries()) group[i] = v[k] >= 0 ? 1 : -1;
  const plus = used.filter((i) => group[i] === 1).length;
  if (plus < MIN_GROUP_SERIES || used.length - plus < MIN_GROUP_SERIES) return undefined;
  // The groups' mean returns: a session apart, or no split.
  const a = marketOf(returns, n, days, (i) => group[i] === 1);
  const b = marketOf(returns, n, days, (i) => group[i] === -1);
  const x = new Float64Array(2 * days);
  for (let t = 0; t < days; t++) {
    x[t] = a.count[t] >= MIN_GROUP_SERIES ? a.sum[t] / a.count[t] : NaN;
    x[days + t] = b.count[t] >= MIN_GROUP_SERIES ? b.sum[t] / b.count[t] : NaN;
  }
  const same = laggedCorrelation(x, 0, 1, days, 0, from, days);
  for (const lag of [-1, 1]) {
    const other = laggedCorrelation(x, 0, 1, days, lag, from, days);
    if (misdatedAt(same, other) !== undefined) return group;
  }
  return undefined;
}

/**
 * Whether the series' returns of the snapshot alone are tied to the market at the window's lag, the
 * way (`sign`) the window found, more strongly than to their own sessions' either way (misdatedAt;
 * no significance asked: the window gave it).
 */
function leansTheSameWay(returns: Float64Array, barAt: Int32Array, S: DuplicateCheckSeries, i: number, days: number, worst: { lag: number; window: [number, number]; marketRow: Float64Array }, sign: number): boolean {
  const y = new Float64Array(2 * days);
  y.set(worst.marketRow, days);
  let staged = 0;
  for (let t = 0; t < days; t++) {
    const k = barAt[i * days + t];
    const v = returns[i * days + t];
    const mine = v === v && k >= 0 && (S.staged as ArrayLike<number>)[k] === 1;
    y[t] = mine ? sign * v : NaN;
    staged += mine ? 1 : 0;
  }
  // Too few of its own returns to lean anywhere (a daily update: one): the window's last LEAN_RETURNS
  // returns, the stored ones before the update included, say where the series stands now.
  if (staged < LEAN_RETURNS) {
    for (let t = worst.window[1] - 1, taken = 0; t >= worst.window[0]; t--) {
      const v = returns[i * days + t];
      if (!(v === v)) continue;
      y[t] = taken < LEAN_RETURNS ? sign * v : NaN;
      taken++;
    }
  }
  const same = laggedCorrelation(y, 0, 1, days, 0, worst.window[0], worst.window[1]);
  const other = laggedCorrelation(y, 0, 1, days, worst.lag, worst.window[0], worst.window[1]);
  return other.r > (same.r === same.r ? Math.abs(same.r) : 0);
}

/** Rows 0 and 1 of `x` (days each) as ranks (ranksInPlace) within `window`, the market's widened by `reach` sessions either side for the lags; NaN elsewhere. */
function windowRanks(x: Float64Array, days: number, window: [number, number], reach: number): Float64Array {
  const y = new Float64Array(2 * days).fill(NaN);
  const [from, to] = window;
  y.set(x.subarray(from, to), from);
  const a = Math.max(0, from - reach);
  const b = Math.min(days, to + reach);
  y.set(x.subarray(days + a, days + b), days + a);
  ranksInPlace(y, from, to - from);
  ranksInPlace(y, days + a, b - a);
  return y;
}

/**
 * `misdated_series` (above): each judged series (MISDATED_JUDGED_KINDS) against the other US equities' mean
 * return, at lags −DUPLICATE_MAX_LAG..DUPLICATE_MAX_LAG; and, when the US equities split into two
 * groups dated a session apart (laggedGroups: a third or half of the universe misdated makes the mean
 * of all a blend of both dates, against which no series stands out), against the other group's.
 * A series with MIN_COMMON_SESSIONS returns of the snapshot is judged on them. A shorter one (a daily
 * or monthly update) is judged on its returns up to its last one in the snapshot, stored ones
 * included, over windows of MIN_COMMON_SESSIONS sessions or more ending there: a vendor that starts
 * dating a feed late is found once enough of its misdated sessions are stored, where before no update
 * was ever judged.
 */
function misdatedSeries(series: readonly DuplicateCheckSeries[], judged: readonly boolean[], smooth: Uint8Array, m: { returns: Float64Array; barAt: Int32Array; days: number }, out: DuplicateSeriesFindings): void {
  const { returns, barAt, days } = m;
  const n = series.length;
  const kinds = series.map(kindOf);
  const equity = kinds.map((k, i) => k === 'equity' && !smooth[i]);
  const all = marketOf(returns, n, days, (i) => kinds[i] === 'equity');
  const markets: Market[] = [{ ...all, min: MIN_MARKET_SERIES, holds: (i) => kinds[i] === 'equity', group: false, name: 'the other US equities\' mean return', note: '' }];
  // Row 0: the series' returns judged; row 1: the market without it.
  const x = new Float64Array(2 * days);
  // A smooth market (fixtures of ramps and sines, no traded one) or series correlates at every lag: nothing to tell.
  for (let t = 0; t < days; t++) x[days + t] = all.count[t] >= MIN_MARKET_SERIES ? all.sum[t] / all.count[t] : NaN;
  const marketAutocorrelation = laggedCorrelation(x, 1, 1, days, 1, 0, days);
  if (!(marketAutocorrelation.r <= SMOOTH_AUTOCORRELATION)) return;
  // Over every session, and over the last few months (a feed dated late from some day on splits only its recent sessions).
  const splits = new Map<string, Int8Array>();
  for (const recent of [days, 3 * MIN_COMMON_SESSIONS, 3 * MIN_COMMON_SESSIONS / 2]) {
    if (recent !== days && recent >= days) continue;
    const found = laggedGroups(returns, n, days, equity, days - recent);
    if (!found) continue;
    // One split whichever group the eigenvector's sign put first.
    const first = found.find((g) => g !== 0) ?? 1;
    splits.set(Array.from(found, (g) => g * first + 1).join(''), found);
  }
  for (const groups of splits.values()) {
    for (const g of [1, -1]) {
      const members = series.filter((_, i) => groups[i] === g).map((s) => s.symbol);
      const shown = members.length > 8 ? `${members.slice(0, 8).join(', ')} and ${members.length - 8} more` : members.join(', ');
      markets.push({
        ...marketOf(returns, n, days, (i) => groups[i] === g),
        min: MIN_GROUP_SERIES,
        holds: (i) => groups[i] === g,
        group: true,
        name: `the mean return of ${members.length} US equities that move together a session apart from the others (${shown})`,
        note: ' The US equities of this import and the store split into two groups dated a session apart; which group\'s dates are right the bars cannot tell, and any series of the snapshot on the other side of one is rejected.',
      });
    }
  }
  for (let i = 0; i < n; i++) {
    const S = series[i];
    const kind = kinds[i];
    if (!judged[i] || smooth[i] || out.rejected.has(S.symbol) || kind === undefined || !MISDATED_JUDGED_KINDS.has(kind)) continue;
    let staged = 0;
    let lastStaged = -1;
    for (let t = 0; t < days; t++) {
      const k = barAt[i * days + t];
      if (returns[i * days + t] === returns[i * days + t] && k >= 0 && (S.staged as ArrayLike<number>)[k] === 1) {
        staged++;
        lastStaged = t;
      }
    }
    if (lastStaged < 0) continue;
    // Judged on its own returns of the snapshot when there are enough, else on every return up to its last one in it.
    const own = staged >= MIN_COMMON_SESSIONS;
    for (let t = 0; t < days; t++) {
      const v = returns[i * days + t];
      const k = barAt[i * days + t];
      x[t] = v === v && (own ? (S.staged as ArrayLike<number>)[k] === 1 : t <= lastStaged) ? v : NaN;
    }
    // Windows: the whole for a series judged on its own returns; else those ending at its last return of the snapshot.
    const windows: Array<[number, number]> = [];
    if (own) windows.push([0, days]);
    else {
      let count = 0;
      for (let t = lastStaged; t >= 0 && count < MISDATED_MAX_WINDOW; t--) {
        if (!(x[t] === x[t])) continue;
        count++;
        if (count >= MIN_COMMON_SESSIONS && (count - MIN_COMMON_SESSIONS) % WINDOW_STEP_SESSIONS === 0) windows.push([t, lastStaged + 1]);
      }
    }
    let worst: { lag: number; r: number; same: number; sessions: number; gap: number; sign: 1 | -1; market: Market; window: [number, number]; marketRow: Float64Array } | undefined;
    for (const market of markets) {
      const self = market.holds(i);
      if (market.group && self) continue;
      for (let t = 0; t < days; t++) {
        const v = returns[i * days + t];
        const inside = self && v === v ? 1 : 0;
        const others = market.count[t] - inside;
        x[days + t] = others >= market.min ? (market.sum[t] - (inside ? v : 0)) / others : NaN;
      }
      for (const window of windows) {
        // Judged on ranks: one crash of the stock and one of the market a few sessions apart (WYNN's
        // −19% on 26 January 2018 and the market's fall of 2–5 February) give Pearson's correlation
        // over 140 sessions a lag of its own. So over an import's own sessions too: WYNN's real bars
        // from 4 August 2017, imported after the earlier ones, were rejected as dated 5 sessions
        // early (Pearson 0.56 at lag 5 against 0.09; ranks 0.31 against 0.13).
        const y = windowRanks(x, days, window, DUPLICATE_MAX_LAG);
        const same = laggedCorrelation(y, 0, 1, days, 0, window[0], window[1]);
        if (!(same.n >= MIN_COMMON_SESSIONS)) continue;
        // A short update's many windows are judged at one session either way only (a feed stamped
        // with its delivery date): ten lags over every window found a lag of 2 in KO's 60 sessions to
        // 9 January 2018 (gap 5.2) when the real files were imported day by day.
        const reach = own ? DUPLICATE_MAX_LAG : 1;
        for (let lag = -reach; lag <= reach; lag++) {
          if (lag === 0) continue;
          const other = laggedCorrelation(y, 0, 1, days, lag, window[0], window[1]);
          // Which way the series moves with the market is the data's, never its name's: a VIX-like
          // feed moves against it, and named VXST rather than VIX it was judged as a stock.
          const gap = misdatedAt(same, other, true);
          const sign = other.r < 0 ? -1 : 1;
          if (gap !== undefined && (!worst || gap > worst.gap)) worst = { lag, r: other.r, same: same.r, sessions: same.n, gap, sign, market, window, marketRow: x.slice(days) };
        }
      }
    }
    if (!worst) continue;
    // A short update is rejected only when its own returns lean the same way: a correct update of a
    // series whose stored bars are misdated is not the misdated data (those must be removed by hand).
    const sign = worst.sign;
    if (!own && !leansTheSameWay(returns, barAt, S, i, days, worst, sign)) continue;
    const k = Math.abs(worst.lag);
    // Own session t against the market of t + lag: lag < 0, the bars are dated k sessions after they traded.
    const how = worst.lag < 0 ? `dated ${sessionWord(k)} late (its bar of session t traded on t-${k})` : `dated ${sessionWord(k)} early (its bar of session t traded on t+${k}: future prices under today's dates)`;
    let over = `over ${worst.sessions} sessions of this import`;
    if (!own) {
      let mine = 0;
      for (let t = worst.window[0]; t < worst.window[1]; t++) {
        const b = barAt[i * days + t];
        if (x[t] === x[t] && b >= 0 && (S.staged as ArrayLike<number>)[b] === 1) mine++;
      }
      over = `over the ${worst.sessions} sessions up to its last one in this import (${S.date[barAt[i * days + worst.window[0]]] ?? '?'}..${S.date[barAt[i * days + lastStaged]]}; ${mine} of them this import's, the rest stored before it)`;
    }
    rejectSeries(out, S, 'misdated_series', `series of ${S.symbol} moves ${sign < 0 ? 'against' : 'with'} the market of ${sessionWord(k)} ${worst.lag < 0 ? 'earlier' : 'later'}, not of its own sessions: its daily returns correlate ${worst.r.toFixed(3)} with ${worst.market.name} ${sessionWord(k)} ${worst.lag < 0 ? 'before' : 'after'} and ${Number.isNaN(worst.same) ? 'n/a' : worst.same.toFixed(3)} with the same session's, ${over} (gap ${worst.gap.toFixed(1)}/√sessions between the two ties' strengths, whichever way each goes; ${MISDATED_GAP_Z} decides): the bars look ${how}. Misdated bars put the market's move into the features of the session they are filed under; the series is rejected whole and the import fails (fix the dates at the source${own ? '' : '; stored bars of it that are misdated must be removed and imported again'}).${worst.market.note}`);
  }
}

/**
 * The gap, in units of 1/√sessions, by which a series moves with the market of another session
 * (`other`) more than with its own (`same`), when that says misdated: the other session's correlation
 * at least MISDATED_MIN_CORRELATION on MIN_COMMON_SESSIONS or more, the gap MISDATED_GAP_Z or more.
 * `either`: the series may move with the market or against it (a volatility index, an inverse fund),
 * and which way is not known beforehand: the gap is between the two ties' strengths, |other| − |same|,
 * whatever their signs. Read as (other − same) in the other session's direction, a tie to the own
 * session the opposite way would count as evidence: the 382 real files as monthly updates
 * (2016-01..2018-02) gave 82 findings, and as daily ones (2017-10-02..2018-02-07) 91, each a stock
 * moving with its own session's market (COG: +0.31) about as strongly as against the session
 * before's (−0.33); as strengths, none. Without `either` (two groups of US
 * equities, which move with the market), the signed gap.
 * NaN (no variance, no common days) never passes.
 */
function misdatedAt(same: { r: number; n: number }, other: { r: number; n: number }, either = false): number | undefined {
  const own = same.r === same.r ? same.r : 0;
  const strength = either ? Math.abs(other.r) : other.r;
  const gap = (strength - (either ? Math.abs(own) : own)) * Math.sqrt(Math.min(other.n, same.n));
  return other.n >= MIN_COMMON_SESSIONS && strength >= MISDATED_MIN_CORRELATION && gap >= MISDATED_GAP_Z ? gap : undefined;
}

/** Sessions of a series' own bars the closes-of-another-session test needs (the real files' 250-session windows: see MISDATED_CLOSE_RANK_CORRELATION). */
export const MISDATED_CLOSE_MIN_SESSIONS = 250;
/**
 * The rank correlation between a series' overnight gaps (open over the previous close) and its
 * sessions' own moves (close over open) at or below which its closes are those of the next session.
 * A close filed a session early makes each gap the day's move undone (the previous "close" is this
 * session's): the two correlate −0.56 to −0.72 over the whole of each of the 382 S&P 500 files so
 * shifted (median −0.63), and above −0.50 on none of their 250-session windows; the files as they
 * are correlate −0.18 to +0.11 (median 0.005), and −0.40 at the lowest of their 372,013 windows of
 * 250 sessions (CMCSA from 2016-03-15). Equities only: a T-bill ETF moving below a tick, its open
 * and close at the bid or the ask, reaches −0.43, and a volatility index's open mean-reverts.
 */
export const MISDATED_CLOSE_RANK_CORRELATION = -0.45;

/**
 * `misdated_series` for closes of another session than their opens: bars whose closes were filed one
 * session early (close of t+1 under t, each high and low widened to hold it) pass every other rule
 * when every symbol of an import is shifted alike (nothing moves out of step with the market), and
 * their 1-day return holds the next session's move: a 10-day direction model trained on 25 such
 * files became first champion (AUC 0.587, p 0.002; 0.503 on the files as they are). Judged on the
 * gaps and moves of the series' bars whose session is the snapshot's, with the bar before it (stored
 * or staged) on the previous row.
 */
function misdatedCloses(S: DuplicateCheckSeries, out: DuplicateSeriesFindings): void {
  const gap: number[] = [];
  const move: number[] = [];
  let staleOpens = 0;
  for (let k = 1; k < S.date.length; k++) {
    if (S.staged !== undefined && S.staged[k] !== 1) continue;
    const previous = S.close[k - 1];
    const open = S.open[k];
    const close = S.close[k];
    if (!(previous > 0 && open > 0 && close > 0)) continue;
    gap.push(Math.log(open / previous));
    move.push(Math.log(close / open));
    if (open === S.open[k - 1]) staleOpens++;
  }
  if (gap.length < MISDATED_CLOSE_MIN_SESSIONS) return;
  // Opens set to the previous close (some vendors' indices) leave no gap to judge, and opens that do
  // not move (a placeholder) make every gap the previous close's mirror: neither is judged.
  if (gap.filter((g) => g !== 0).length < gap.length / 2 || staleOpens > gap.length / 2) return;
  const x = Float64Array.from(gap);
  const y = Float64Array.from(move);
  ranksInPlace(x, 0, x.length);
  ranksInPlace(y, 0, y.length);
  let xy = 0;
  let xx = 0;
  let yy = 0;
  for (let t = 0; t < x.length; t++) {
    xy += x[t] * y[t];
    xx += x[t] * x[t];
    yy += y[t] * y[t];
  }
  const r = xx > 0 && yy > 0 ? xy / Math.sqrt(xx * yy) : NaN;
  if (!(r <= MISDATED_CLOSE_RANK_CORRELATION)) return;
  rejectSeries(
    out,
    S,
    'misdated_series',
    `series of ${S.symbol}: its closes look like those of the next session, filed under the session before: over ${gap.length} sessions each overnight gap (open over the previous close) undoes the session's own move (close over open), rank correlation ${r.toFixed(3)} (at most ${MISDATED_CLOSE_RANK_CORRELATION} decides; the 382 S&P 500 files as they are: −0.18 to +0.11 over each, −0.40 at the lowest 250-session window). Closes of the next session put its move into every feature of the session they are filed under; the series is rejected whole and the import fails (fix the dates at the source)`,
  );
}

/** Rejects series S whole with a finding of `rule` (series-level: no date, line or row). */
function rejectSeries(out: DuplicateSeriesFindings, S: DuplicateCheckSeries, rule: 'lagged_duplicate' | 'misdated_series', message: string): void {
  const finding = issue(rule, { symbol: S.symbol, date: null, source: S.source ?? S.symbol, line: null, raw: null, message });
  out.rejected.set(S.symbol, finding);
  out.issues.push(finding);
}

/**
 * Of a pair found from both sides (both series in the snapshot), the one to name: at a lag, the one
 * to reject, new to the store (added later), else the one ahead (its bars are the other's later
 * ones: lag > 0); at lag 0 (a flag), the one whose symbol sorts later. Found from one side only (the
 * other is stored, or its own bars are too few), that side.
 */
function pickRejected<T extends { s: number; o: number; l: number }>(verified: T[], series: readonly DuplicateCheckSeries[]): T {
  if (verified.length === 1) return verified[0];
  const [x, y] = verified;
  // The same sessions' bars (a flag): on the symbol that sorts later.
  if (x.l === 0) return series[x.s].symbol > series[y.s].symbol ? x : y;
  const newX = !series[x.s].storedBefore;
  const newY = !series[y.s].storedBefore;
  if (newX !== newY) return newX ? x : y;
  // Both stored before: the copy is the one whose rows do not continue its own stored bars (the
  // seam between two securities): a seam of BROKEN_SEAM median own returns or more, SEAM_RATIO times
  // the other's or more. Without this the one ahead was rejected, so a symbol's true bars were
  // refused and another symbol's bars published under it, when the copy held them a session late.
  const seamX = seamSize(series[x.s]);
  const seamY = seamSize(series[y.s]);
  if (seamX !== undefined && seamY !== undefined) {
    if (seamY >= BROKEN_SEAM && seamY >= SEAM_RATIO * seamX) return y;
    if (seamX >= BROKEN_SEAM && seamX >= SEAM_RATIO * seamY) return x;
  }
  return x.l > 0 ? x : y;
}

/** A seam of this many median own absolute returns is no ordinary session (about 1 normal day in 10^5 goes beyond)... */
const BROKEN_SEAM = 6;
/** ...and it decides only against a seam this many times smaller. */
const SEAM_RATIO = 4;

/**
 * The return from the series' last stored bar into its first row of the snapshot, in median absolute
 * returns between its own rows; undefined without such a seam or without own returns.
 */
function seamSize(S: DuplicateCheckSeries): number | undefined {
  if (S.staged === undefined) return undefined;
  let seam: number | undefined;
  const own: number[] = [];
  for (let k = 1; k < S.close.length; k++) {
    if (S.staged[k] !== 1 || !(S.close[k] > 0) || !(S.close[k - 1] > 0)) continue;
    const r = Math.abs(Math.log(S.close[k] / S.close[k - 1]));
    if (S.staged[k - 1] === 1) own.push(r);
    else if (seam === undefined) seam = r;
  }
  if (seam === undefined || own.length < 20) return undefined;
  own.sort((a, b) => a - b);
  const median = own[own.length >> 1];
  return median > 0 ? seam / median : undefined;
}
