import type { Bar } from '../market-data/bar';
import { interpolatedQuantileOfSorted, sortedAscending } from '../stats/quantiles';
import type { InstrumentKind } from '../market-data/instruments';
import { nextNyseTradingDay, previousNyseTradingDay } from '../calendar/nyse';
import type { QualityPolicy } from './policy';
import { extremeMoveMessage, glitchLimit, glitchMessage, glitchRunLimit, glitchRuns, ONE_BAR_GLITCH_RETURN_TOLERANCE, spliceFinding, SPLICE_BEFORE_BARS, unitChangeFinding } from './rules';
import { issue, type QualityIssue } from './rules-catalog';
import { equalWithinRounding } from './duplicate-series';
import { ALL_SPLITS, closeSplits, nearestSplit, splitsIn } from './splits';
import { plural } from '../plural';
import { describeScale, moveScaleVolatility, type MoveScale } from './move-scale';

/**
 * Rules that need the symbol's stored bars. They run when the snapshot is judged
 * (lib/ingest/judge.ts), against the store as it is then, before the publish; the rows they reject
 * leave the staged snapshot, so the publish keeps the stored bar and reports it as unconfirmed
 * (`unconfirmed_stored_bar`, with the rule), as for a row rejected when it was read.
 *
 * - `volume_vanished` (reject): a row whose volume is 0 where the stored bar of its date has a
 *   positive volume. A file without volumes (a blank or missing column read as 0, a vendor that
 *   stopped sending them) would otherwise revise every stored volume to 0 with no finding: the
 *   prices are equal, so nothing else notices. A series that never had volume (an index, a rate)
 *   has none stored and is not affected; a stored bar is corrected by a row with a volume.
 * - `one_bar_glitch` (reject) at the edges of a file: the file's first or last row has no row on one
 *   side, so the stage-time rule (rules.ts oneBarGlitches) cannot judge it; here the series is the
 *   snapshot's rows with the stored bars given (the nearest ones before and after them) around
 *   them, and any glitch run holding a row of the snapshot rejects that row. A stored bar more than
 *   STORED_NEIGHBOUR_DAYS calendar days from the file's rows is not a neighbour. The newest row of a
 *   symbol, with no bar after it in the file or the store, cannot be told from a real move (a -40%
 *   earnings day is the newest row as often as a glitch is): it is published, with its extreme_move
 *   flag when the file has the bar before it (a one-row daily file has none: nothing to compare).
 * - `one_bar_glitch` (retract) of STORED bars the snapshot's rows reveal: a glitch stored as the
 *   newest bar of a symbol (a live bar, a daily file's last row) had no bar after it and was stored;
 *   when a row arrives next to it that agrees with the stored bar on its other side (the same
 *   glitchRuns test, limits and policy), the stored bar is the glitch the rule describes, and it is
 *   retracted: removed from `bars` in the transaction that stores the row, logged in
 *   `bar_revisions` with no new values, and quarantined with its values (`retracted`). Only runs of
 *   stored bars that the snapshot does not replace, with a row of it beside them; not a move into a
 *   run that the unadjusted_split rule reads as a split as of its day (price by a split ratio,
 *   volume by the inverse): that stays as stored, flagged as before.
 * - `extreme_move` (flag) where the file's rows meet stored bars (its edges, a date it lacks inside
 *   it): the stage-time rule sees only the file's rows, so a file continuing a stored series on
 *   another basis (halved prices from its first row on) or a one-row daily file with a real jump
 *   carried no finding at all. The message names the seam and asks to check the price basis.
 * - `zero_volume` (flag): an equity's or ETF's rows in the snapshot (those not rejected) have volume
 *   0 throughout, or on ZERO_VOLUME_RUN or more consecutive rows. Equities trade every session: in
 *   the 382 real S&P 500 files four rows have volume 0, each with its prices missing too (rejected
 *   when read). Indices, volatility indices, rates and synthetic series (by the request's
 *   `instruments` and the naming convention of lib/market-data/instruments.ts) are not checked.
 */
export const STORED_NEIGHBOUR_DAYS = 14;
/**
 * Calendar days of stored bars on each side of a symbol's rows that the rules read the symbol's
 * level from (about 69 sessions): the 60 sessions volume_glitch may read on one side, and the 60
 * returns of σ for one_bar_glitch and extreme_move on the symbol's own scale (lib/quality/move-scale.ts).
 * An import's judging (lib/ingest/judge.ts) and the live path (lib/streaming/stored-bar-judging.ts)
 * both give `context` this reach, so a bar gets the same verdict whichever way it comes.
 */
export const STORED_CONTEXT_DAYS = 100;
export const ZERO_VOLUME_RUN = 5;

/** Kinds that trade shares every session, so a volume of 0 says the volume is missing. */
export const VOLUME_KINDS: ReadonlySet<InstrumentKind> = new Set<InstrumentKind>(['equity', 'foreign_equity', 'etf']);

export interface StoredBarInput {
  symbol: string;
  /** The snapshot's accepted bars of the symbol, ascending by date. */
  staged: readonly Bar[];
  /**
   * Stored bars of the symbol, ascending by date: at least the nearest two before its first staged
   * bar and after its last (within STORED_NEIGHBOUR_DAYS) and those on the dates of its staged bars
   * with volume 0 (lib/ingest/judge.ts reads just these). More do no harm.
   */
  stored: readonly Bar[];
  kind: InstrumentKind;
  /** The file the symbol's rows came from (the findings' source). */
  source: string;
  /**
   * Stored bars of the symbol around and over the staged dates (the more of the ten sessions on each
   * side of a row, the better), for volume_glitch; `stored` when not given.
   */
  context?: readonly Bar[];
}

export interface StoredBarFindings {
  issues: QualityIssue[];
  /** Dates of staged bars rejected (not to be published), with their rule. */
  rejected: Map<string, QualityIssue>;
  /** Stored bars the staged ones show to be a glitch, by date: to be removed with the publish (not in `issues`). */
  retracted: Map<string, RetractedBar>;
}

/** A stored bar found to be a one-bar glitch once a bar beside it arrived: removed, kept as evidence. */
export interface RetractedBar {
  /** The stored bar, as stored. */
  bar: Bar;
  /** The staged bars beside its run that reveal it (one at least must be published for the retraction to stand). */
  revealedBy: string[];
  /** The one_bar_glitch finding for the quarantine (raw: the stored values); retractionFinding names what stored the bar. */
  issue: QualityIssue;
  /** The finding's message after the bar's values: how it was stored and what reveals it. */
  evidence: string;
}

/** The retraction's finding with `origin` (what stored the bar: lib/store/bars.ts describeStoredVersion) in its message. */
export function retractionFinding(r: RetractedBar, origin: string): QualityIssue {
  return { ...r.issue, message: `${retractionLead(r.bar)}, ${origin}, ${r.evidence}` };
}

const retractionLead = (b: Bar): string => `the stored bar of ${b.symbol} ${b.date} (open ${b.open}, high ${b.high}, low ${b.low}, close ${b.close}, volume ${b.volume})`;

/** A stored bar's values as the quarantine's raw text of a retraction. */
export const storedBarRaw = (b: Bar): string => `${b.date},${b.open},${b.high},${b.low},${b.close},${b.volume}`;

/** The findings of the rules above for one symbol. */
export function storedBarIssues(input: StoredBarInput, policy: Pick<QualityPolicy, 'extremeMoveLimit'>): StoredBarFindings {
  const { symbol, staged, stored, kind, source } = input;
  const issues: QualityIssue[] = [];
  const rejected = new Map<string, QualityIssue>();
  const reject = (found: QualityIssue): void => {
    if (found.date === null || rejected.has(found.date)) return;
    rejected.set(found.date, found);
    issues.push(found);
  };
  const at = (date: string) => ({ symbol, date, source, line: null, raw: null });
  const storedOn = new Map(stored.map((b) => [b.date, b]));

  for (const b of staged) {
    const old = storedOn.get(b.date);
    if (old === undefined || !(old.volume > 0) || b.volume !== 0) continue;
    reject(
      issue('volume_vanished', {
        ...at(b.date),
        message: `volume ${b.volume} would replace the stored volume ${old.volume} of ${symbol} ${b.date}: a file without volumes (a blank or missing column read as 0) does not erase them; the row is rejected and the stored bar kept (import a file with the volume to revise it)`,
      }),
    );
  }

  // The series as it would be published: the stored bars given, with the snapshot's rows in their place.
  const merged = new Map<string, { bar: Bar; staged: boolean }>();
  for (const b of stored) merged.set(b.date, { bar: b, staged: false });
  for (const b of staged) if (!rejected.has(b.date)) merged.set(b.date, { bar: b, staged: true });
  const byDate = (a: { bar: Bar }, b: { bar: Bar }) => (a.bar.date < b.bar.date ? -1 : a.bar.date > b.bar.date ? 1 : 0);
  const series = [...merged.values()].sort(byDate);
  // Judged on the series as it would be published with the stored history around it (`context`):
  // the symbol's volatility and volume level before a row come from there, so a revision of one old
  // bar (a one-row file, a file's edge) is judged on the symbol's own scale as a row inside a file is.
  const history = new Map<string, { bar: Bar; staged: boolean }>();
  for (const b of input.context ?? []) history.set(b.date, { bar: b, staged: false });
  for (const [date, s] of merged) history.set(date, s);
  const full = history.size === merged.size ? series : [...history.values()].sort(byDate);
  const limit = glitchLimit(policy);
  const retracted = new Map<string, RetractedBar>();
  for (const { first, last, scale } of glitchRuns(full.map((s) => s.bar.close), limit, full.map((s) => s.bar.volume))) {
    const run = full.slice(first, last + 1);
    if (!run.some((s) => s.staged)) {
      // Stored bars only: a glitch stored when nothing came after (or before) it, revealed by a row beside it.
      for (const r of revealedRun(full, first, last, limit, input.context ?? stored, input.source, scale)) retracted.set(r.bar.date, r);
      continue;
    }
    const before = full[first - 1];
    const after = full[last + 1];
    const where = `, the bar before ${before.staged ? 'in the file' : 'as stored'} and the bar after ${after.staged ? 'in the file' : 'as stored'}`;
    const message = glitchMessage(before.bar, run.map((s) => s.bar), after.bar, limit, where, scale);
    for (const s of run) if (s.staged) reject(issue('one_bar_glitch', { ...at(s.bar.date), message }));
  }

  // Where the file's rows meet stored bars (its edges, a date it lacks) the stage-time extreme_move
  // rule saw only one side: a file continuing a stored series on another basis (halved prices from
  // its first row) showed no finding at all.
  // The seams as they will be: a retracted stored bar is no neighbour.
  const seams = retracted.size === 0 ? series : series.filter((s) => s.staged || !retracted.has(s.bar.date));
  // The volatility before a seam, from the series as published (rejected rows and retracted bars left out).
  const published = full.filter((s) => (s.staged ? !rejected.has(s.bar.date) : !retracted.has(s.bar.date)));
  const publishedCloses = published.map((s) => s.bar.close);
  const indexOf = new Map(published.map((s, k) => [s.bar.date, k]));
  // Measured across splits, as the file's own rows are (glitchRuns): a split is no move of the symbol's.
  let publishedSplits: Map<number, number> | undefined;
  const basis = () => ({ splits: (publishedSplits ??= closeSplits(publishedCloses, published.map((s) => s.bar.volume))) });
  for (let i = 1; i < seams.length; i++) {
    const [prev, cur] = [seams[i - 1], seams[i]];
    if (prev.staged === cur.staged || rejected.has(prev.bar.date) || rejected.has(cur.bar.date)) continue;
    const extreme = extremeMoveMessage(prev.bar.close, cur.bar.close, policy.extremeMoveLimit, moveScaleVolatility(publishedCloses, indexOf.get(cur.bar.date) ?? 0, basis()));
    if (extreme === undefined || issues.some((f) => f.rule === 'one_bar_glitch' && (f.date === prev.bar.date || f.date === cur.bar.date))) continue;
    const seam = `${prev.staged ? 'the file' : 'as stored'} ${prev.bar.date} -> ${cur.staged ? 'the file' : 'as stored'} ${cur.bar.date}`;
    issues.push(issue('extreme_move', { ...at((cur.staged ? cur : prev).bar.date), message: `${extreme}, where the file meets the stored bars (${seam}): check the file is on the stored series' price basis` }));
  }

  for (const found of volumeGlitches(symbol, staged.filter((b) => !rejected.has(b.date)), input.context ?? stored, source)) reject(found);

  if (VOLUME_KINDS.has(kind)) {
    const kept = staged.filter((b) => !rejected.has(b.date));
    let runStart = -1;
    let longest: { from: number; to: number } | undefined;
    for (let i = 0; i <= kept.length; i++) {
      if (i < kept.length && kept[i].volume === 0) {
        if (runStart < 0) runStart = i;
        continue;
      }
      if (runStart >= 0 && (!longest || i - 1 - runStart > longest.to - longest.from)) longest = { from: runStart, to: i - 1 };
      runStart = -1;
    }
    const length = longest ? longest.to - longest.from + 1 : 0;
    if (longest && (length === kept.length || length >= ZERO_VOLUME_RUN)) {
      const from = kept[longest.from].date;
      const to = kept[longest.to].date;
      const storedVolume = stored.some((b) => b.volume > 0) ? '; the stored bars around them have volume' : '';
      const what = length === kept.length ? `volume is 0 on all ${length} of its rows (${from}..${to})` : `volume is 0 on ${length} consecutive rows (${from}..${to}) of its ${kept.length}`;
      issues.push(issue('zero_volume', { ...at(from), message: `${what}${storedVolume}: ${kind === 'etf' ? 'an ETF' : 'an equity'} trades every session, so the file's volumes are missing (a blank or absent column read as 0); stored as read, declare the series' kind in \`instruments\` if it has no volume` }));
    }
  }
  // A retraction stands only with a row that reveals it being published.
  for (const [date, r] of retracted) if (r.revealedBy.every((d) => rejected.has(d))) retracted.delete(date);
  return { issues, rejected, retracted };
}

/**
 * The stored bars of the glitch run series[first..last] (none of them staged) that a staged bar
 * beside the run reveals, as retractions; none when neither neighbour is staged (the store's own
 * bars, judged when they came), or when a move into a bar of the run is a split by the
 * unadjusted_split rule as of that bar's day (`context`: stored bars before it give the volume level).
 */
function revealedRun(series: ReadonlyArray<{ bar: Bar; staged: boolean }>, first: number, last: number, limit: number, context: readonly Bar[], source: string, scale?: MoveScale): RetractedBar[] {
  const before = series[first - 1];
  const after = series[last + 1];
  const revealedBy = [before, after].filter((s) => s.staged).map((s) => s.bar.date);
  if (revealedBy.length === 0) return [];
  const run = series.slice(first, last + 1).map((s) => s.bar);
  // A new bar equal in close and volume to a stored bar of the sessions before the run is a stale
  // re-send of that bar under the next date (a feed repeating itself), not the price the run left:
  // it is no evidence against the run, which is kept (a replay of the real files deleted 24 of 729
  // real moves of 10-35% this way; the repeat of the bar just before is shiftedRepeatIssue's).
  if (after.staged && storedCopyBefore(after.bar, context, series, run[0].date)) return [];
  // The series up to the run's last bar, with the stored bars of `context` before it for the volume level.
  const upTo = new Map<string, Bar>();
  for (const b of context) if (b.date <= run[run.length - 1].date) upTo.set(b.date, b);
  for (const s of series.slice(0, last + 1)) upTo.set(s.bar.date, s.bar);
  const bars = [...upTo.values()].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
  const from = bars.findIndex((b) => b.date === run[0].date);
  if (splitsIn(bars, from, bars.length, true).length > 0) return [];
  const symbol = run[0].symbol;
  const shown = (s: { bar: Bar; staged: boolean }) => `${s.bar.close} (${s.bar.date}, ${s.staged ? 'new' : 'as stored'})`;
  const pct = (ratio: number) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)}%`;
  const revealing = revealedBy.join(' and ');
  const evidence =
    `was stored with no bar ${after.staged ? 'after' : 'before'} it to judge it by; the session of ${revealing} reveals it: close ${shown(before)} -> ${run.map((b) => b.close).join(', ')} -> ${shown(after)}: ` +
    `${pct(run[0].close / before.bar.close)}, then ${pct(after.bar.close / run[run.length - 1].close)}, ${scale ? `${describeScale(Math.log(run[0].close / before.bar.close), scale)}, on no volume spike` : `beyond the ${(glitchRunLimit(limit, run.length) * 100).toFixed(0)}% glitch limit either way`}, and the bar after is back within ${(ONE_BAR_GLITCH_RETURN_TOLERANCE * 100).toFixed(0)}% of the bar before: ${run.length === 1 ? 'a one-bar glitch' : `a glitch of ${run.length} bars`} (a misplaced decimal point, a wrong price), not a move; retracted: removed from the stored bars (logged in bar_revisions with no new values), features from ${run[0].date} recomputed`;
  return run.map((bar) => ({
    bar,
    revealedBy,
    evidence,
    issue: issue('one_bar_glitch', { symbol, date: bar.date, source, line: null, raw: storedBarRaw(bar), message: `${retractionLead(bar)} ${evidence}` }),
  }));
}

/** Stored sessions before a run whose bars a stale re-send could copy (storedCopyBefore). */
const STALE_COPY_SESSIONS = 5;

/** Whether `bar` repeats the close and volume of one of the STALE_COPY_SESSIONS stored bars before `before`. */
function storedCopyBefore(bar: Bar, context: readonly Bar[], series: ReadonlyArray<{ bar: Bar; staged: boolean }>, before: string): boolean {
  if (!(bar.volume > 0)) return false;
  const stored = new Map<string, Bar>();
  for (const b of context) if (b.date < before) stored.set(b.date, b);
  for (const s of series) if (!s.staged && s.bar.date < before) stored.set(s.bar.date, s.bar);
  const recent = [...stored.values()].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0)).slice(-STALE_COPY_SESSIONS);
  return recent.some((b) => b.volume === bar.volume && equalWithinRounding(b.close, bar.close));
}

/**
 * A volume this many times the level of the sessions around it is a misplaced decimal point or
 * another unit (shares counted in thousandths), not trading: in the 382 real S&P 500 files the
 * largest is ×44 (AOS on 25 July 2017, index news); ×1000 was published over a good stored volume.
 */
export const VOLUME_GLITCH_FACTOR = 200;
/**
 * Below the level by this factor, a row is a glitch only where it would revise a stored volume that
 * fits the level: real files hold such volumes of their own (when-issued days: WRK traded 100 shares
 * on 26 June 2015 beside a level of 2 million, GOOG 7,932 on 1 April 2014), as read and stored.
 */
export const VOLUME_DROP_FACTOR = 100;
/** Sessions on each side of a row whose volumes give its level; a side counts with at least half of them. */
const VOLUME_LEVEL_SESSIONS = 10;
/** Sides whose medians differ by more than this are two regimes (a listing, another unit): no level. */
const VOLUME_LEVEL_SIDES_AGREE = 3;

/**
 * With sessions on one side only (a row appended after the newest stored one), the level is read
 * from this many of them, at least VOLUME_ONE_SIDED_MIN with volume: the first regular-way days
 * after when-issued trading are ×390 to ×700 the few days before them (GOOG 3 April 2014, WRK
 * 2 July 2015, BHF 7 August 2017), a real listing; over 40 or more sessions on one side the largest
 * in the 382 files is ×80 (COTY's first days).
 */
export const VOLUME_ONE_SIDED_SESSIONS = 60;
const VOLUME_ONE_SIDED_MIN = 40;

/** The median of the positive volumes in `volumes`, or undefined with fewer than `min` of them. */
function sideLevel(volumes: readonly number[], min = VOLUME_LEVEL_SESSIONS / 2): number | undefined {
  const positive = volumes.filter((v) => v > 0).sort((a, b) => a - b);
  if (positive.length < min) return undefined;
  const m = positive.length >> 1;
  return positive.length % 2 === 1 ? positive[m] : (positive[m - 1] + positive[m]) / 2;
}

/**
 * `volume_glitch` (reject): a row's volume VOLUME_GLITCH_FACTOR times the level of the ten sessions
 * on each side of it (the file's rows, and the stored bars in `context` where the file has none), or
 * VOLUME_DROP_FACTOR times below it where it would replace a stored volume that fits the level. The
 * level is the geometric mean of each side's median, or one side's alone; sides more than ×3 apart
 * are two regimes (a file in other units meeting the stored bars is volume_basis_splice's) and give
 * none; so do rows that all revise their stored volumes by one common factor of ×10 or more. One row with its volume ×1000, or cut to three digits, revised good stored volumes with no
 * finding: the prices agree, and the basis rules need a factor common to most shared sessions.
 */
export function volumeGlitches(symbol: string, staged: readonly Bar[], context: readonly Bar[], source: string): QualityIssue[] {
  if (staged.length === 0) return [];
  const storedOn = new Map(context.map((b) => [b.date, b]));
  // Every row that meets a stored bar off by one common factor of ×10 or more: another unit, which
  // the volume basis rule names (volume_basis_splice), not a glitch of one row.
  const ratios = staged.flatMap((b) => {
    const old = storedOn.get(b.date);
    return old !== undefined && old.volume > 0 && b.volume > 0 ? [b.volume / old.volume] : [];
  });
  if (ratios.length > 0) {
    const sorted = [...ratios].sort((a, b) => a - b);
    const median = sorted[sorted.length >> 1];
    if ((median >= 10 || median <= 0.1) && sorted[0] >= median / 1.5 && sorted[sorted.length - 1] <= median * 1.5) return [];
  }
  const merged = new Map<string, { bar: Bar; staged: boolean }>();
  for (const b of context) merged.set(b.date, { bar: b, staged: false });
  for (const b of staged) merged.set(b.date, { bar: b, staged: true });
  const series = [...merged.values()].sort((a, b) => (a.bar.date < b.bar.date ? -1 : a.bar.date > b.bar.date ? 1 : 0));
  const volumes = series.map((s) => s.bar.volume);
  const issues: QualityIssue[] = [];
  for (let i = 0; i < series.length; i++) {
    const { bar, staged: mine } = series[i];
    if (!mine || !(bar.volume > 0)) continue;
    let before = sideLevel(volumes.slice(Math.max(0, i - VOLUME_LEVEL_SESSIONS), i));
    let after = sideLevel(volumes.slice(i + 1, i + 1 + VOLUME_LEVEL_SESSIONS));
    if (before !== undefined && after !== undefined && Math.max(before, after) / Math.min(before, after) > VOLUME_LEVEL_SIDES_AGREE) continue;
    // One side only: a longer history of it, or no level (a young series' first sessions).
    if (after === undefined) before = sideLevel(volumes.slice(Math.max(0, i - VOLUME_ONE_SIDED_SESSIONS), i), VOLUME_ONE_SIDED_MIN);
    else if (before === undefined) after = sideLevel(volumes.slice(i + 1, i + 1 + VOLUME_ONE_SIDED_SESSIONS), VOLUME_ONE_SIDED_MIN);
    const level = before !== undefined && after !== undefined ? Math.sqrt(before * after) : (before ?? after);
    if (level === undefined) continue;
    const old = storedOn.get(bar.date);
    const sides = `the median of the sessions ${before !== undefined && after !== undefined ? `before it (${before}) and after it (${after})` : before !== undefined ? `before it (${before})` : `after it (${after})`}`;
    const at = { symbol, date: bar.date, source, line: null, raw: null };
    if (bar.volume >= VOLUME_GLITCH_FACTOR * level) {
      const kept = old !== undefined ? `; the stored volume ${old.volume} is kept` : '';
      issues.push(issue('volume_glitch', { ...at, message: `volume ${bar.volume} is ${Math.round(bar.volume / level)} times the level of the sessions around it (${sides}), beyond ×${VOLUME_GLITCH_FACTOR} (the largest in the real S&P 500 files is ×44, ×80 against one side): a misplaced decimal point or another unit, not trading; rejected${kept}` }));
    } else if (bar.volume * VOLUME_DROP_FACTOR <= level && old !== undefined && old.volume * 10 >= level && old.volume <= 10 * level) {
      issues.push(issue('volume_glitch', { ...at, message: `volume ${bar.volume} would replace the stored volume ${old.volume} of ${symbol} ${bar.date}, and is 1/${Math.round(level / bar.volume)} of the level of the sessions around it (${sides}), which the stored volume fits: a cut or misplaced digit; rejected, and the stored volume kept` }));
    }
  }
  return issues;
}

/**
 * `series_splice` (reject, the whole series; the import fails) where the file's rows meet the stored
 * bars: the stage-time rule (rules.ts spliceFinding) sees the file's rows only, so a file continuing
 * a stored series without overlapping it, in cents (×100 from its first row) or another security's
 * bars, was published with an extreme_move flag at the seam. The same test runs on the series as it
 * would be published (the stored bars given, the file's rows in their place) at each seam, when the
 * bars after it are the file's. `staged` are the rows to be published (not rejected).
 */
export function seamSpliceIssue(input: { symbol: string; staged: readonly Bar[]; stored: readonly Bar[]; source: string }, policy: Pick<QualityPolicy, 'extremeMoveLimit'>): QualityIssue | undefined {
  const { symbol, staged, stored, source } = input;
  if (staged.length === 0 || stored.length === 0) return undefined;
  const merged = new Map<string, { bar: Bar; staged: boolean }>();
  for (const b of stored) merged.set(b.date, { bar: b, staged: false });
  for (const b of staged) merged.set(b.date, { bar: b, staged: true });
  const series = [...merged.values()].sort((a, b) => (a.bar.date < b.bar.date ? -1 : a.bar.date > b.bar.date ? 1 : 0));
  const bars = series.map((s) => s.bar);
  for (let i = 1; i < series.length; i++) {
    if (series[i - 1].staged === series[i].staged) continue;
    // The stored bars before the seam are trusted (a glitched first row of the file is one_bar_glitch's, judged before this).
    const found = spliceFinding(bars, i, policy.extremeMoveLimit, series[i - 1].staged ? SPLICE_BEFORE_BARS : 1);
    if (found === undefined) continue;
    const seam = `${series[i - 1].staged ? 'the file' : 'as stored'} ${bars[i - 1].date} -> ${series[i].staged ? 'the file' : 'as stored'} ${bars[i].date}`;
    return issue('series_splice', { symbol, date: bars[i].date, source, line: null, raw: null, message: `where the file meets the stored bars of ${symbol} (${seam}): ${found}` });
  }
  return undefined;
}

/**
 * `price_unit_change` (reject, the whole series; the import fails; rules.ts unitChangeFinding): a
 * step of every price by a power of ten with the volume not moving by the inverse, found on the
 * series as it would be published (the stored bars in `context` given, the file's rows in their
 * place), at every step into or out of a row of the file: inside the file, where it continues the
 * stored bars (a one-row daily update in cents), or where the stored bars continue it. No bars after
 * the step are needed (series_splice needs 20), so a file's last rows and a short update in cents are
 * refused, and the store is left as it was. `staged` are the rows to be published (not rejected),
 * with their lines in the file when known; `declaredSplits` the shares multipliers the file's split
 * column states, by date (a step of that power on that date is the split).
 */
export function unitChangeIssue(input: { symbol: string; staged: readonly Bar[]; context: readonly Bar[]; source: string; lineOf?: (date: string) => number | null; declaredSplits?: ReadonlyMap<string, number>; origin?: 'file' | 'stream' }): QualityIssue | undefined {
  const { symbol, staged, context, source, lineOf, declaredSplits } = input;
  const origin = input.origin ?? 'file';
  const side = origin === 'file' ? 'the file' : 'the stream';
  if (staged.length === 0) return undefined;
  // No two closes ×/÷√10 apart: no step rounds to a power of ten (nearly every series; nothing to sort).
  let low = Infinity;
  let high = 0;
  for (const list of [staged, context]) {
    for (const b of list) {
      if (b.close < low) low = b.close;
      if (b.close > high) high = b.close;
    }
  }
  if (!(high > 0) || high < low * Math.sqrt(10)) return undefined;
  const merged = new Map<string, { bar: Bar; staged: boolean }>();
  for (const b of context) merged.set(b.date, { bar: b, staged: false });
  for (const b of staged) merged.set(b.date, { bar: b, staged: true });
  const series = [...merged.values()].sort((a, b) => (a.bar.date < b.bar.date ? -1 : a.bar.date > b.bar.date ? 1 : 0));
  const bars = series.map((s) => s.bar);
  for (let i = 1; i < series.length; i++) {
    if (!series[i].staged && !series[i - 1].staged) continue;
    const found = unitChangeFinding(bars, i, declaredSplits, origin);
    if (found === undefined) continue;
    const where = series[i].staged ? (series[i - 1].staged ? `in ${origin === 'file' ? "the file's rows" : "the stream's bars"} of ${symbol}` : `where ${side} continues the stored bars of ${symbol}`) : `where the stored bars of ${symbol} continue ${side}`;
    const line = series[i].staged ? (lineOf?.(bars[i].date) ?? null) : null;
    return issue('price_unit_change', { symbol, date: bars[i].date, source, line, raw: null, message: `${where} (${series[i - 1].staged ? side : 'as stored'} ${bars[i - 1].date} -> ${series[i].staged ? side : 'as stored'} ${bars[i].date}): ${found}` });
  }
  return undefined;
}

/**
 * `volume_basis_splice` (reject, the whole series; the import fails): the rows revise the stored
 * volumes they share by a common factor of VOLUME_BASIS_MIN_FACTOR or more either way (volumes in
 * thousands, or in lots of 100 shares, where the stored ones are in shares, or the other way
 * round): VOLUME_BASIS_AGREE_SHARE of the shared sessions with volumes within ×/÷VOLUME_BASIS_AGREE
 * of the median factor; or by a smaller one beyond ×/÷VOLUME_BASIS_MIN_TIGHT_FACTOR on which they
 * agree within ×/÷VOLUME_BASIS_TIGHT_AGREE (another volume definition applied as one factor). An
 * overlap of fewer than BASIS_MIN_SHARED sessions counts only for units (×10 and beyond), every
 * session agreeing: one re-sent bar whose stored volume was an early or another tape's count differs
 * by less. The prices being equal, no price rule saw it, and a file in thousands over
 * the stored bars from a day on revised each shared volume ÷1000, leaving the older ones in shares:
 * a ÷1000 volume step that never traded. Vendors counting volume otherwise (primary exchange against
 * consolidated tape) differ by a few times at most, and not by one factor each day. Only when stored
 * bars the rows do not revise would stay on the old units (outside the rows' dates, or dates the
 * rows lack); rows holding every stored bar move the whole series to their units.
 */
export const VOLUME_BASIS_MIN_FACTOR = 10;
export const VOLUME_BASIS_AGREE = 1.5;
export const VOLUME_BASIS_AGREE_SHARE = 0.8;
/** Slack (log) on VOLUME_BASIS_MIN_FACTOR for volumes rounded to whole shares. */
const VOLUME_ROUNDING = 0.01;
/** A smaller common factor of the volumes, beyond ×/÷ this, counts when the sessions agree with it within ×/÷VOLUME_BASIS_TIGHT_AGREE. */
export const VOLUME_BASIS_MIN_TIGHT_FACTOR = 1.5;
export const VOLUME_BASIS_TIGHT_AGREE = 1.03;

/** The common factor of the staged volumes to the stored ones they share, with its evidence, or undefined (see above). */
export function volumeBasisFactor(staged: readonly Bar[], stored: ReadonlyArray<Pick<Bar, 'date' | 'volume'>>): { factor: number; sessions: number; agree: number; within: number } | undefined {
  const storedOn = new Map(stored.map((b) => [b.date, b.volume]));
  const logs: number[] = [];
  const slack: number[] = [];
  for (const b of staged) {
    const old = storedOn.get(b.date);
    if (old === undefined || !(old > 0) || !(b.volume > 0)) continue;
    logs.push(Math.log(b.volume / old));
    slack.push(0.5 / b.volume + 0.5 / old);
  }
  if (logs.length === 0) return undefined;
  const median = interpolatedQuantileOfSorted(sortedAscending(logs), 0.5);
  // Units (×10 and beyond, within the rounding of whole shares: ÷10 rounded came out a hair short of
  // it) agree loosely; a smaller factor (another volume definition) only when nearly every session
  // shows it to a few percent, which the day-to-day differences of two tapes never do.
  const short = logs.length < BASIS_MIN_SHARED;
  const within = Math.abs(median) >= Math.log(VOLUME_BASIS_MIN_FACTOR) - VOLUME_ROUNDING ? VOLUME_BASIS_AGREE : !short && Math.abs(median) >= Math.log(VOLUME_BASIS_MIN_TIGHT_FACTOR) ? VOLUME_BASIS_TIGHT_AGREE : undefined;
  if (within === undefined) return undefined;
  const agree = logs.filter((l, k) => Math.abs(l - median) <= Math.log(within) + slack[k]).length;
  // An overlap of a few sessions counts only when every one of them agrees.
  if (agree < (short ? logs.length : VOLUME_BASIS_AGREE_SHARE * logs.length)) return undefined;
  return { factor: Math.exp(median), sessions: logs.length, agree, within };
}

/**
 * Volumes stepping to other units inside the series as it would be published (the file's rows with
 * the stored bars around them), where no session is shared to read a common factor from: a year
 * appended in thousands (2,934 for 2,934,299), a daily update in lots of 100, a file switching units
 * mid-way. At a row next to a row of the file, the median volume of up to VOLUME_STEP_SESSIONS
 * sessions from it against that of the VOLUME_STEP_SESSIONS before it (at least half of them with
 * volume): ×VOLUME_STEP_UP or more, or ÷VOLUME_STEP_DOWN or less, with 3 sessions or more from it;
 * with fewer (an update of a row or two) ×VOLUME_GLITCH_FACTOR and ÷VOLUME_STEP_DOWN_SHORT; a step up
 * only after 40 sessions (BHF's first regular-way days stand ×91 over its few when-issued ones). In
 * the 382 real files, so measured, the medians step at most ×13.8 and ÷6.6, one session ×61 and ÷14.
 */
export const VOLUME_STEP_SESSIONS = 20;
export const VOLUME_STEP_UP = 60;
export const VOLUME_STEP_DOWN = 30;
/** ÷ for an update of one or two rows: below lots of 100 read as shares (÷100 exactly, give or take the day). */
export const VOLUME_STEP_DOWN_SHORT = 50;

/** A move of the volume from one session to the next below which no step in units is looked for (a step by a unit moves it by about its factor). */
export const VOLUME_STEP_JUMP = 5;

export function volumeUnitStep(symbol: string, staged: readonly Bar[], context: readonly Bar[], source: string, origin: 'file' | 'stream' = 'file'): QualityIssue | undefined {
  if (staged.length === 0) return undefined;
  const merged = new Map<string, { bar: Bar; staged: boolean }>();
  for (const b of context) merged.set(b.date, { bar: b, staged: false });
  for (const b of staged) merged.set(b.date, { bar: b, staged: true });
  const series = [...merged.values()].sort((a, b) => (a.bar.date < b.bar.date ? -1 : a.bar.date > b.bar.date ? 1 : 0));
  const volumes = series.map((s) => s.bar.volume);
  for (let i = 1; i < series.length; i++) {
    if (!series[i].staged && !series[i - 1].staged) continue;
    // A step in units moves the volume from one session to the next by about its factor: only there is a level read.
    const [a, b] = [volumes[i - 1], volumes[i]];
    if (!(a > 0 && b > 0) || Math.max(a / b, b / a) < VOLUME_STEP_JUMP) continue;
    const before = sideLevel(volumes.slice(Math.max(0, i - VOLUME_STEP_SESSIONS), i), VOLUME_STEP_SESSIONS / 2);
    const fromIt = volumes.slice(i, i + VOLUME_STEP_SESSIONS).filter((v) => v > 0);
    if (before === undefined || fromIt.length === 0) continue;
    const after = sideLevel(fromIt, 1) as number;
    const [up, down] = fromIt.length >= 3 ? [VOLUME_STEP_UP, VOLUME_STEP_DOWN] : [VOLUME_GLITCH_FACTOR, VOLUME_STEP_DOWN_SHORT];
    const ratio = after / before;
    if (ratio < up && ratio > 1 / down) continue;
    // Up only after 40 sessions: a young series' first regular-way days stand ×40 over its when-issued ones.
    if (ratio >= up && i < 2 * VOLUME_STEP_SESSIONS) continue;
    const side = origin === 'file' ? 'the file' : 'the stream';
    const where = series[i].staged ? (series[i - 1].staged ? `in ${side}` : `where ${side} continues the stored bars`) : `where the stored bars continue ${side}`;
    const outcome = origin === 'file' ? 'the series is rejected whole and nothing of it is published. Import volumes in one unit (the stored bars\' shares)' : 'the live bars from the step on are rejected and the stored bars kept. Send volumes in one unit (the stored bars\' shares)';
    return issue('volume_basis_splice', {
      symbol,
      date: series[i].bar.date,
      source,
      line: null,
      raw: null,
      message: `the volumes of ${symbol} step ${where} at ${series[i].bar.date}: the median of the ${fromIt.length} session${fromIt.length === 1 ? '' : 's'} from it is ${after}, ${ratio >= 1 ? `${Math.round(ratio)} times` : `1/${Math.round(1 / ratio)} of`} the median of the sessions before it (${before}), beyond ${ratio >= 1 ? `×${up}` : `÷${down}`} (the real S&P 500 files step at most ×13.8 and ÷6.6, one session ×61 and ÷14): volumes in other units (thousands, lots of 100) from there on, and every volume feature would read the step as trading; ${outcome}`,
    });
  }
  return undefined;
}

export function volumeBasisIssue(input: { symbol: string; staged: readonly Bar[]; stored: ReadonlyArray<Pick<Bar, 'date' | 'volume'>>; storedRange: { from: string; to: string }; source: string; origin?: 'file' | 'stream' }): QualityIssue | undefined {
  const { symbol, staged, stored, storedRange, source } = input;
  const live = input.origin === 'stream';
  const found = volumeBasisFactor(staged, stored);
  if (found === undefined) return undefined;
  const { factor, sessions, agree, within } = found;
  const stagedDates = new Set(staged.map((b) => b.date));
  const first = staged[0].date;
  const last = staged[staged.length - 1].date;
  const lacking = stored.filter((b) => !stagedDates.has(b.date)).length;
  const outside = storedRange.from < first || storedRange.to > last;
  if (!outside && lacking === 0) return undefined;
  const left = [storedRange.from < first && `before ${first}`, storedRange.to > last && `after ${last}`, lacking > 0 && `on ${lacking} date${lacking === 1 ? '' : 's'} within them the rows lack`].filter(Boolean).join(', ');
  return issue('volume_basis_splice', {
    symbol,
    date: null,
    source,
    line: null,
    raw: null,
    message: `the ${live ? 'live bars' : 'rows'} of ${symbol} revise the stored volumes of the ${sessions} sessions they share by a common factor of ×${factor.toPrecision(3)} (${agree} of them within ×/÷${within} of it): ${live ? 'their' : "the file's"} volumes are in other units (thousands, lots of 100) or of another definition than the stored ones, and the stored bars ${left} would keep the old units, a volume step that never traded; ${live ? `the live bars up to ${last} are rejected and the stored bars kept. Send volumes in the stored units (shares), or import` : 'the series is rejected whole and nothing of it is published. Import volumes in the stored units (shares), or'} the whole history of ${symbol} (stored ${storedRange.from}..${storedRange.to}) in one unit`,
  });
}

/**
 * Price basis. A file whose prices are on another basis than the stored series (split-adjusted where
 * the stored bars are not, or the other way round; dividend-adjusted; in cents) revises every stored
 * bar it shares by about one factor. Each revision is a valid bar, so no row rule sees it; but the
 * stored bars it does not reach (older history from another file, days it lacks) stay on the old
 * basis, and the published series holds a jump by that factor that never traded: a split-adjusted
 * download of the last two years over stored unadjusted history halves every price from its first
 * day, a -50% "return" at the seam.
 *
 * The factor is read at each end of the sessions the file shares with the store (up to
 * BASIS_EDGE_SESSIONS shared sessions; fewer than BASIS_MIN_SHARED only when every shared bar moved
 * whole, SharedSession.uniform): the median of the logs of new
 * close / stored close, when it is beyond BASIS_MIN_SHIFT and BASIS_AGREE_SHARE of those sessions
 * agree with it within BASIS_AGREE (plus half a cent on either price for rounding). Corrections of a
 * few bars, and vendors rounding differently, give no common factor.
 *
 * - `price_basis_splice` (reject, the whole series; the import fails): such a factor at an end of
 *   the shared sessions with a stored bar beyond it that the file does not revise (before its first
 *   shared session, after its last), or a stored bar inside them that the file lacks or rejected
 *   while the shared sessions around it carry a factor: the store would hold a series spliced from
 *   two bases. Nothing is published; the stored bars stay as they were.
 * - `price_basis_change` (flag): no stored bar is left on the old basis beside the revised ones (the
 *   file holds every stored bar of the symbol: an adjusted history downloaded again after a split),
 *   so the whole series moves to the file's basis consistently and is published; flagged as evidence
 *   when the factor is beyond BASIS_FLAG_SHIFT (a split, a reverse split, other units). A smaller one
 *   (dividends re-adjusted: the whole history moves by a percent or so every quarter) is routine and
 *   gives no finding; its revisions are logged as any others.
 */
export const BASIS_EDGE_SESSIONS = 10;
export const BASIS_MIN_SHARED = 5;
/** |log(new close / stored close)| beyond which a common factor is another basis (0.2%). */
export const BASIS_MIN_SHIFT = 0.002;
/** How far (log) one shared session may be from the common factor and still agree with it, before rounding. */
export const BASIS_AGREE = 0.001;
export const BASIS_AGREE_SHARE = 0.8;
/** |log factor| beyond which a whole history moved to another basis is flagged (10%: no dividend adjusts by that much). */
export const BASIS_FLAG_SHIFT = Math.log(1.1);

/** A stored bar and the snapshot's bar of the same session. */
export interface SharedSession {
  date: string;
  stored: number;
  staged: number;
  /**
   * Whether open, high and low moved by the close's factor too (within BASIS_AGREE and rounding);
   * undefined when the stored bar's open, high and low were not read. Read only on an overlap too
   * short for a common factor of the closes (BASIS_MIN_SHARED): there a corrected close is told from
   * another basis by the whole bar moving.
   */
  uniform?: boolean;
}

/** The common factor (new / stored close) of `shared`, with the sessions it was read on; undefined when there is none. */
export interface BasisFactor {
  factor: number;
  from: string;
  to: string;
  sessions: number;
}

export function basisFactor(shared: readonly SharedSession[]): BasisFactor | undefined {
  // Fewer shared sessions than a common factor of closes needs (an update overlapping the store by a
  // few bars, or an import scoped to its last few days): only bars that moved whole, every one of
  // them by one factor. Before, such an update revised its 1-4 stored bars by ×0.5 (split-adjusted)
  // or ×0.97 (dividends) and left the older history on the old basis, with no finding.
  const short = shared.length < BASIS_MIN_SHARED;
  if (shared.length === 0 || (short && !shared.every((s) => s.uniform === true))) return undefined;
  const logs = shared.map((s) => Math.log(s.staged / s.stored));
  if (!logs.every(Number.isFinite)) return undefined;
  const median = interpolatedQuantileOfSorted(sortedAscending(logs), 0.5);
  if (Math.abs(median) <= BASIS_MIN_SHIFT) return undefined;
  const agree = shared.filter((s, k) => Math.abs(logs[k] - median) <= BASIS_AGREE + 0.005 / s.staged + 0.005 / s.stored).length;
  if (agree < (short ? shared.length : BASIS_AGREE_SHARE * shared.length)) return undefined;
  return { factor: Math.exp(median), from: shared[0].date, to: shared[shared.length - 1].date, sessions: shared.length };
}

/** The sessions `staged` shares with `stored` (both ascending by date), ascending. */
/** A stored bar's date and close: all the comparisons of closes read. */
export type StoredClose = Pick<Bar, 'date' | 'close'>;

export function sharedSessions(staged: readonly Bar[], stored: ReadonlyArray<StoredClose & Partial<Pick<Bar, 'open' | 'high' | 'low'>>>): SharedSession[] {
  const storedOn = new Map(stored.map((b) => [b.date, b]));
  const out: SharedSession[] = [];
  for (const b of staged) {
    const old = storedOn.get(b.date);
    if (old === undefined) continue;
    const session: SharedSession = { date: b.date, stored: old.close, staged: b.close };
    if (old.open !== undefined && old.high !== undefined && old.low !== undefined) {
      const factor = Math.log(b.close / old.close);
      const moved = (x: number, y: number): boolean => Math.abs(Math.log(x / y) - factor) <= BASIS_AGREE + 0.005 / x + 0.005 / y + 0.005 / b.close + 0.005 / old.close;
      session.uniform = moved(b.open, old.open) && moved(b.high, old.high) && moved(b.low, old.low);
    }
    out.push(session);
  }
  return out;
}

/** Sessions before the first step of the ratio from which an edge's factor is read (edgeBasisFactor). */
export const BASIS_EDGE_RUN_MIN = 2;

/**
 * The common factor at one end of the shared sessions: of the BASIS_EDGE_SESSIONS there, or, when a
 * step of the ratio splits them (a dividend the file adjusts for and the stored bars do not), of the
 * sessions from that end up to the first step (BASIS_EDGE_RUN_MIN or more; fewer than
 * BASIS_MIN_SHARED only when every bar moved whole). A dividend-adjusted download starting five
 * sessions before an ex-date split its first ten 5 to 5, no factor was read, and it was published
 * over the unadjusted history, a ×0.945 seam that never traded. Measured on the real files (each
 * series stored, its rows from a random session re-imported, 1,146 cases): dividend-adjusted ones
 * (0.6% a quarter) are found in 1,138 (1,034 before); as stored, rounded to cents, or with their
 * first two closes corrected by 3%, none.
 */
export function edgeBasisFactor(shared: readonly SharedSession[], end: 'first' | 'last'): BasisFactor | undefined {
  const edge = end === 'first' ? shared.slice(0, BASIS_EDGE_SESSIONS) : shared.slice(-BASIS_EDGE_SESSIONS).reverse();
  const inOrder = (sessions: SharedSession[]) => (end === 'first' ? sessions : [...sessions].reverse());
  const whole = basisFactor(inOrder(edge));
  if (whole) return whole;
  let k = 1;
  while (k < edge.length && pairBreak(edge[k - 1], edge[k]) === false) k++;
  return k < edge.length && k >= BASIS_EDGE_RUN_MIN ? basisFactor(inOrder(edge.slice(0, k))) : undefined;
}

/** Whether either end of the shared sessions carries a common factor: the cheap test before reading every stored bar. */
export function basisAtEdges(shared: readonly SharedSession[]): boolean {
  return edgeBasisFactor(shared, 'first') !== undefined || edgeBasisFactor(shared, 'last') !== undefined;
}

const shownFactor = (f: number): string => `×${f.toPrecision(4)}`;

export interface PriceBasisInput {
  symbol: string;
  /** The snapshot's bars of the symbol that are to be published (not rejected), ascending by date. */
  staged: readonly Bar[];
  /** Every stored bar of the symbol, ascending by date. */
  stored: readonly Bar[];
  source: string;
  /**
   * Where the bars come from, for the message: an imported file (the default; its series is
   * rejected whole) or live bars of a stream (lib/streaming/stored-bar-judging.ts: the bars that
   * would revise stored ones are rejected).
   */
  origin?: 'file' | 'stream';
}

/** A step of the close ratio between consecutive shared sessions beyond which one side moved to another basis (the smallest split, ×1.4). */
export const BASIS_STEP = Math.log(1.4);

/**
 * The largest step of the file's basis inside the shared sessions: consecutive shared sessions over
 * which the file's close moves by BASIS_STEP or more beyond the stored close's move, the file's move
 * being the larger one. A download switching to cents on its own rows (on a heavy-volume day, which
 * spliceFinding leaves to the basis rules) had the factor ×1 at one end and ×100 at the other, and
 * was published as a basis change of the stored bars. The other way round (the stored series holds
 * the jump: an unadjusted split stored, the file adjusted) the file is the smooth one, and the
 * history moves to its basis as before; so does a step by a split ratio (a raw file over
 * split-adjusted stored bars holds the split as it traded).
 */
function basisStep(shared: readonly SharedSession[]): { before: SharedSession; at: SharedSession } | undefined {
  let found: { before: SharedSession; at: SharedSession; size: number } | undefined;
  for (let k = 1; k < shared.length; k++) {
    const [a, b] = [shared[k - 1], shared[k]];
    const file = Math.log(b.staged / a.staged);
    const store = Math.log(b.stored / a.stored);
    const size = Math.abs(file - store);
    // A split ratio is a split: the file unadjusted over split-adjusted stored bars holds it as traded
    // prices did, and the whole series moves to the file's basis as before (price_basis_change).
    if (nearestSplit(Math.exp(file - store), 0.04, ALL_SPLITS) !== undefined) continue;
    if (size >= BASIS_STEP && Math.abs(file) > Math.abs(store) && (found === undefined || size > found.size)) found = { before: a, at: b, size };
  }
  return found;
}

/** The `price_basis_splice` or `price_basis_change` finding of one symbol, or undefined (see above). */
export function priceBasisIssue(input: PriceBasisInput): QualityIssue | undefined {
  const { symbol, staged, stored, source } = input;
  const live = input.origin === 'stream';
  const shared = sharedSessions(staged, stored);
  // Live bars revise one or two stored bars as a matter of course (a vendor's restatement of a day
  // by 1-2% on every price, the corrected bar of a split day, a replayed segment whose staleness the
  // consumer decides): they are judged on BASIS_MIN_SHARED shared sessions. Judged on any overlap, a
  // whole-bar restatement ×1.01 was refused with a message telling the operator to re-import the
  // history, and the ×1.4 correction it was meant to stop went through as soon as the batch also
  // carried one unchanged session: what is stored then depended on where the batch was cut.
  if (shared.length === 0 || (live && shared.length < BASIS_MIN_SHARED)) return undefined;
  const low = edgeBasisFactor(shared, 'first');
  const high = edgeBasisFactor(shared, 'last');
  if (!low && !high) return undefined;
  const stagedDates = new Set(staged.map((b) => b.date));
  const first = shared[0].date;
  const last = shared[shared.length - 1].date;
  const splices: string[] = [];
  const step = basisStep(shared);
  if (step) {
    splices.push(`between ${step.before.date} and ${step.at.date} ${live ? 'their' : "the file's"} close moves ${shownFactor(step.at.staged / step.before.staged)} where the stored close moved ${shownFactor(step.at.stored / step.before.stored)}: ${live ? 'they' : 'its rows'} step from the stored basis to another there, a jump that never traded`);
  }
  const left = stored.filter((b) => !stagedDates.has(b.date));
  const below = left.filter((b) => b.date < first);
  const above = left.filter((b) => b.date > last);
  if (low && below.length > 0) {
    const seam = below[below.length - 1];
    splices.push(`${below.length} stored bar${below.length === 1 ? '' : 's'} before it (${below[0].date}..${seam.date}) would stay on the old basis, a ${shownFactor(low.factor)} jump between ${seam.date} and ${first} that never traded`);
  }
  if (high && above.length > 0) {
    const seam = above[0];
    splices.push(`${above.length} stored bar${above.length === 1 ? '' : 's'} after it (${seam.date}..${above[above.length - 1].date}) would stay on the old basis, a ${shownFactor(1 / high.factor)} jump between ${last} and ${seam.date} that never traded`);
  }
  // Stored bars inside the shared sessions that the file does not revise (it lacks or rejected the
  // row): kept as stored, each one on the old basis between revised neighbours.
  const inside = left.filter((b) => b.date > first && b.date < last);
  let insideSpliced = 0;
  let example: { date: string; factor: number } | undefined;
  for (const b of inside) {
    let k = 0;
    while (k < shared.length && shared[k].date < b.date) k++;
    const around = basisFactor(shared.slice(Math.max(0, k - BASIS_EDGE_SESSIONS / 2), k + BASIS_EDGE_SESSIONS / 2));
    if (!around) continue;
    insideSpliced++;
    example ??= { date: b.date, factor: around.factor };
  }
  if (example) {
    splices.push(`${insideSpliced} stored bar${insideSpliced === 1 ? '' : 's'} within it that the ${live ? 'bars lack' : 'file lacks or rejected'} (first ${example.date}) would stay on the old basis between bars revised by ${shownFactor(example.factor)}`);
  }
  const factors = [low && `${shownFactor(low.factor)} on the first ${low.sessions} shared sessions (${low.from}..${low.to})`, high && `${shownFactor(high.factor)} on the last ${high.sessions} (${high.from}..${high.to})`].filter(Boolean).join(' and ');
  const what = `the ${live ? 'live bars' : 'rows'} of ${symbol} revise the ${shared.length} stored bars they share (${first}..${last}) by a common factor of the close, ${factors}: ${live ? 'their' : "the file's"} prices are on another basis than the stored series (adjusted for a split or dividends where the stored bars are not, or the other way round, or in other units)`;
  if (splices.length > 0) {
    return issue('price_basis_splice', {
      symbol,
      date: null,
      source,
      line: null,
      raw: null,
      message: live
        ? `${what}, and ${splices.join('; ')}: the stored series would be spliced from two bases; the live bars up to ${last} are rejected and the stored bars kept. Import the whole history of ${symbol} on one basis (its stored bars span ${stored[0].date}..${stored[stored.length - 1].date}), or send bars on the stored basis`
        : `${what}, and ${splices.join('; ')}: the stored series would be spliced from two bases; the series is rejected whole and nothing of it is published. Import the whole history of ${symbol} on one basis (its stored bars span ${stored[0].date}..${stored[stored.length - 1].date}), or a file on the stored basis`,
    });
  }
  if (Math.max(Math.abs(Math.log(low?.factor ?? 1)), Math.abs(Math.log(high?.factor ?? 1))) <= BASIS_FLAG_SHIFT) return undefined;
  return issue('price_basis_change', {
    symbol,
    date: first,
    source,
    line: null,
    raw: null,
    message: `${what}; ${live ? 'stored' : 'published'} with its revisions logged: ${left.length === 0 ? `the ${live ? 'bars hold' : 'file holds'} every stored bar of ${symbol} (${stored[0].date}..${stored[stored.length - 1].date}), so the whole series moves to its basis` : `the ${left.length} stored bars it does not revise meet the revised ones without a jump (the factor is 1 at that end)`}`,
  });
}

/**
 * Another security's prices. A file's rows of a symbol that revise its stored bars are, if they are
 * that security's, on one price basis or another: the ratio of the file's close to the stored close
 * is the same from one shared session to the next (1 when the values agree, the basis factor
 * otherwise, stepping only at a dividend or split one side adjusts for, or at a corrected bar).
 * The closes of another security (a file named after the wrong symbol, an export of the wrong
 * ticker) move otherwise almost every session: the ratio changes by the two stocks' return
 * difference, about a percent a day. So does the same security's file dated sessions late or early.
 * Each such pair of shared sessions is a break; no rule before saw it: every revised bar is a valid
 * bar and there is no common factor, so such a file revised all 1,259 stored bars of IBM with
 * MSFT's, flagged at most as a duplicate of MSFT when MSFT was stored.
 *
 * - `series_mismatch` (reject, the whole series; the import fails): anywhere in the sessions the
 *   file shares with the store, some MISMATCH_EDGE_SESSIONS consecutive shared sessions hold at least
 *   MISMATCH_MIN_PAIRS pairs of consecutive shared sessions and more than MISMATCH_SHARE of them
 *   break: the ratio moves by more than MISMATCH_STEP beyond rounding (half a cent on each of the
 *   four closes). On real series of one security breaks are ex-dividend days and splits, a few a
 *   year, and a corrected bar's two; between two S&P 500 stocks most sessions are one. Every window
 *   is read, not only the two ends: a file matching the store at both ends with another security's
 *   bars between them revised those bars unseen. The message counts the breaks over all shared
 *   sessions and names the first window that broke.
 * - An overlap too short for that (fewer than MISMATCH_MIN_PAIRS pairs in all: an update of the last
 *   few sessions) is another security's when more than MISMATCH_SHARE of its pairs (one at least)
 *   break and every shared close lies beyond ×/÷MISMATCH_SHORT_FACTOR from the stored one: a
 *   msft.us.csv holding IBM's last 8 bars revised MSFT's closes ×1.78 with no finding (no common
 *   factor, 7 pairs). The same security's file is that far only on another basis (one ratio, no
 *   breaks) or across a split it is adjusted for (the sessions after it agree); corrections revise
 *   a bar by a few percent.
 */
export const MISMATCH_EDGE_SESSIONS = 2 * BASIS_EDGE_SESSIONS;
export const MISMATCH_MIN_PAIRS = 10;
export const MISMATCH_SHARE = 0.5;
export const MISMATCH_SHORT_FACTOR = 1.25;
/** |change of log(file close / stored close)| from one shared session to the next beyond which (and rounding) the two do not move together. */
export const MISMATCH_STEP = 0.002;

/** Pairs of consecutive shared sessions in `shared` and those whose close ratio breaks (above), with the first break. */
export function ratioBreaks(shared: readonly SharedSession[]): { pairs: number; breaks: number; first?: { before: SharedSession; at: SharedSession } } {
  let breaks = 0;
  let first: { before: SharedSession; at: SharedSession } | undefined;
  let pairs = 0;
  for (let k = 1; k < shared.length; k++) {
    const [a, b] = [shared[k - 1], shared[k]];
    const broken = pairBreak(a, b);
    if (broken === undefined) continue;
    pairs++;
    if (!broken) continue;
    breaks++;
    first ??= { before: a, at: b };
  }
  return first ? { pairs, breaks, first } : { pairs, breaks };
}

/** Whether the close ratio moves from shared session `a` to `b` beyond MISMATCH_STEP and rounding; undefined when a close is not positive (no pair). */
function pairBreak(a: SharedSession, b: SharedSession): boolean | undefined {
  if (!(a.staged > 0 && a.stored > 0 && b.staged > 0 && b.stored > 0)) return undefined;
  const step = Math.abs(Math.log(b.staged / b.stored) - Math.log(a.staged / a.stored));
  const rounding = 0.005 / a.staged + 0.005 / a.stored + 0.005 / b.staged + 0.005 / b.stored;
  return step > MISMATCH_STEP + rounding;
}

/**
 * The first MISMATCH_EDGE_SESSIONS consecutive sessions of `shared` whose pairs break as another
 * security's do (at least MISMATCH_MIN_PAIRS pairs, more than MISMATCH_SHARE of them breaks), as the
 * index of its first session with its counts; undefined when no window does. One pass: each pair's
 * break is judged once and windows are counted by prefix sums. An overlap of fewer pairs in all is
 * judged whole, with every close beyond MISMATCH_SHORT_FACTOR (`short`).
 */
export function mismatchedWindow(shared: readonly SharedSession[]): { start: number; end: number; pairs: number; breaks: number; short?: true } | undefined {
  const n = shared.length;
  if (n < 2) return undefined;
  // pairsTo[k] / breaksTo[k]: pairs (k-1, k) counted up to session k.
  const pairsTo = new Int32Array(n);
  const breaksTo = new Int32Array(n);
  for (let k = 1; k < n; k++) {
    const r = pairBreak(shared[k - 1], shared[k]);
    pairsTo[k] = pairsTo[k - 1] + (r === undefined ? 0 : 1);
    breaksTo[k] = breaksTo[k - 1] + (r === true ? 1 : 0);
  }
  const width = Math.min(MISMATCH_EDGE_SESSIONS, n);
  for (let start = 0; start + width <= n; start++) {
    const end = start + width - 1;
    const pairs = pairsTo[end] - pairsTo[start];
    const breaks = breaksTo[end] - breaksTo[start];
    if (pairs >= MISMATCH_MIN_PAIRS && breaks > MISMATCH_SHARE * pairs) return { start, end, pairs, breaks };
  }
  const [pairs, breaks] = [pairsTo[n - 1], breaksTo[n - 1]];
  if (pairs >= MISMATCH_MIN_PAIRS || breaks === 0 || breaks <= MISMATCH_SHARE * pairs) return undefined;
  const far = Math.log(MISMATCH_SHORT_FACTOR);
  return shared.every((s) => Math.abs(Math.log(s.staged / s.stored)) > far) ? { start: 0, end: n - 1, pairs, breaks, short: true } : undefined;
}

/** The `series_mismatch` finding of one symbol (above), or undefined. `stored` holds at least the stored bars over the file's dates; `storedRange` is the whole stored series' first and last date, for the message. */
export function seriesMismatchIssue(input: { symbol: string; staged: readonly Bar[]; stored: readonly StoredClose[]; source: string; storedRange?: { from: string; to: string } }): QualityIssue | undefined {
  const { symbol, staged, stored, source } = input;
  const shared = sharedSessions(staged, stored);
  const window = mismatchedWindow(shared);
  if (window === undefined) return undefined;
  const all = ratioBreaks(shared);
  const at = all.first as { before: SharedSession; at: SharedSession };
  const shown = (s: SharedSession) => `${s.date}: file ${s.staged}, stored ${s.stored}`;
  const range = input.storedRange ?? { from: stored[0].date, to: stored[stored.length - 1].date };
  const far = window.short ? `, and every one of the ${shared.length} shared closes lies beyond ×${MISMATCH_SHORT_FACTOR} or ÷${MISMATCH_SHORT_FACTOR} from the stored one (an overlap too short for ${MISMATCH_MIN_PAIRS} pairs is judged so)` : '';
  return issue('series_mismatch', {
    symbol,
    date: null,
    source,
    line: null,
    raw: null,
    message:
      `the rows of ${symbol} do not move with the stored bars of ${symbol} they revise: from one shared session to the next, the ratio of the file's close to the stored close changes by more than ${(MISMATCH_STEP * 100).toFixed(1)}% beyond rounding on ${count(all.breaks)} of ${count(all.pairs)} pairs of consecutive shared sessions (${shared[0].date}..${shared[shared.length - 1].date}; ${window.breaks} of the ${window.pairs} pairs of the ${window.end - window.start + 1} shared sessions ${shared[window.start].date}..${shared[window.end].date}), first between ${shown(at.before)} and ${shown(at.at)}${far}, ` +
      `where one security's closes on any price basis keep one ratio but at dividends and splits: the file holds another security's prices (a file named after another symbol) or bars dated on other sessions, not a correction of ${symbol}'s; the series is rejected whole and nothing of it is published. ` +
      `A correction revises a few bars; if the stored bars of ${symbol} (${range.from}..${range.to}) are the wrong security's, they must be removed before a file of ${symbol} can be imported`,
  });
}

const count = (n: number): string => n.toLocaleString('en-US');

/**
 * `misdated_series` at the seam with the stored bars (reject, the whole series). A file dated one
 * session off repeats a stored bar on the next (late) or previous (early) session: a late update's
 * first row is the bar the store already holds for the session before, and an overlapping late
 * file's every row is the stored bar of the session before its date. The market-correlation test
 * (lib/quality/duplicate-series.ts) needs MIN_COMMON_SESSIONS of the file's sessions, so a daily or
 * monthly update dated late reached the store unjudged, and with it the market's move of each session
 * into the label of the session it was filed under. Two ways to see it, each on the file rows whose
 * adjacent session has a stored bar, skipping rows equal to the stored bar of their own date (a
 * re-import of a stored bar that happens to repeat its neighbour says nothing) and places where
 * either series repeats itself (a flat fixture, an untraded stretch copied forward):
 *
 * - close and volume: two sessions of one security with the same close and the same positive
 *   volume do not happen: equal volumes to the share are a copy. Found when every comparison (at
 *   least one) is a repeat: a one-row daily update dated late is found.
 * - prices alone: a re-download from another vendor counts volume its own way (×0.97–1.10 of the
 *   stored volumes), so a file dated a session off with exact prices repeated no volume and was
 *   published over the stored bars with no finding, each row revising its date's bar with its
 *   neighbour's. Open, high, low and close equal within rounding (a bar with a range) on
 *   SHIFT_PRICE_MIN_ROWS rows or more and SHIFT_PRICE_SHARE of the comparisons find it. One such row
 *   is no evidence: 372 of the 466,960 bars of the 382 real S&P 500 files repeat the previous
 *   session's four prices (a vendor's copy forward, at most 4 in one file, 156 of them with a volume
 *   of their own); a row equal to the file's own row on either side is such a copy and is skipped.
 */
export const SHIFT_PRICE_MIN_ROWS = 3;
export const SHIFT_PRICE_SHARE = 0.9;

type StoredBarPrices = Pick<Bar, 'date' | 'open' | 'high' | 'low' | 'close' | 'volume'>;

export function shiftedRepeatIssue(input: { symbol: string; staged: readonly Bar[]; stored: ReadonlyArray<StoredBarPrices>; source: string }): QualityIssue | undefined {
  const { symbol, staged, stored, source } = input;
  const storedOn = new Map(stored.map((b) => [b.date, b]));
  const stagedOn = new Map(staged.map((b) => [b.date, b]));
  const sameCloseVolume = (a: StoredBarPrices, b: StoredBarPrices): boolean => a.volume > 0 && a.volume === b.volume && equalWithinRounding(a.close, b.close);
  const samePrices = (a: StoredBarPrices, b: StoredBarPrices): boolean => a.high > a.low && equalWithinRounding(a.open, b.open) && equalWithinRounding(a.high, b.high) && equalWithinRounding(a.low, b.low) && equalWithinRounding(a.close, b.close);
  const step = (date: string, lag: -1 | 1): string => (lag < 0 ? previousNyseTradingDay(date) : nextNyseTradingDay(date));
  for (const lag of [-1, 1] as const) {
    // Close and volume: every comparison a repeat.
    let compared = 0;
    let repeats = 0;
    let first: { file: Bar; stored: string } | undefined;
    for (const b of staged) {
      const own = storedOn.get(b.date);
      if (own && sameCloseVolume(b, own)) continue;
      const adjacent = step(b.date, lag);
      const s = storedOn.get(adjacent);
      if (!s) continue;
      // A stored series that repeats itself there (a flat fixture, an untraded stretch copied
      // forward by its vendor) says nothing about the file's dates.
      const beyond = storedOn.get(step(adjacent, lag));
      if (beyond && sameCloseVolume(beyond, s)) continue;
      // A file that goes on repeating the row (flat) says nothing either. A row equal to the file's
      // row before it is a copied bar, wrong whatever its date: it counts.
      const after = stagedOn.get(step(b.date, lag === -1 ? 1 : -1));
      if (after && sameCloseVolume(after, b)) continue;
      compared++;
      if (!sameCloseVolume(b, s)) break;
      repeats++;
      first ??= { file: b, stored: adjacent };
    }
    if (compared > 0 && repeats === compared && first) return misdatedAtSeam(symbol, source, lag, first, `close ${first.file.close}, volume ${first.file.volume}`, repeats, repeats, 'two sessions of one security never share a close and a volume to the share');
  }
  for (const lag of [-1, 1] as const) {
    // Prices alone (another vendor's volumes): nearly every comparison a repeat, on a few rows at least.
    let compared = 0;
    let repeats = 0;
    let first: { file: Bar; stored: string } | undefined;
    for (const b of staged) {
      const own = storedOn.get(b.date);
      if (own && (samePrices(b, own) || sameCloseVolume(b, own))) continue;
      const adjacent = step(b.date, lag);
      const s = storedOn.get(adjacent);
      if (!s || !(b.high > b.low)) continue;
      const beyond = storedOn.get(step(adjacent, lag));
      if (beyond && samePrices(beyond, s)) continue;
      // A row equal to the file's own row on either side is a bar copied forward (as the real files
      // hold), whatever the dates: only a file whose rows differ from each other tells them.
      const before = stagedOn.get(step(b.date, -1));
      const after = stagedOn.get(step(b.date, 1));
      if ((before && samePrices(before, b)) || (after && samePrices(after, b))) continue;
      compared++;
      if (!samePrices(b, s)) continue;
      repeats++;
      first ??= { file: b, stored: adjacent };
    }
    if (first && repeats >= SHIFT_PRICE_MIN_ROWS && repeats >= SHIFT_PRICE_SHARE * compared) {
      const f = first.file;
      return misdatedAtSeam(symbol, source, lag, first, `open ${f.open}, high ${f.high}, low ${f.low}, close ${f.close}; the file's volumes are its own, e.g. ${f.volume} where the stored bar has ${storedOn.get(first.stored)?.volume}`, repeats, compared, `two sessions of one security never share all four prices session after session (the real S&P 500 files repeat them on 372 of 466,960 sessions, at most 4 in a file, each a copy of the bar before; such copies in the file are not counted)`);
    }
  }
  return undefined;
}

/** The misdated_series finding of shiftedRepeatIssue: the first repeat, what repeats, on how many rows, and why that is a copy. */
function misdatedAtSeam(symbol: string, source: string, lag: -1 | 1, first: { file: Bar; stored: string }, values: string, repeats: number, compared: number, why: string): QualityIssue {
  const how = lag < 0 ? 'late (each bar filed under the next session\'s date, so its label of a session is the market\'s move of that session, which the market columns hold)' : 'early (each bar filed under the previous session\'s date: future prices under today\'s dates)';
  const side = lag < 0 ? 'before' : 'after';
  return issue('misdated_series', {
    symbol,
    date: first.file.date,
    source,
    line: null,
    raw: null,
    message: `the bar of ${symbol} dated ${first.file.date} in the file repeats the stored bar of ${first.stored}, the session ${side} (${values}), on ${repeats} of ${plural(compared, 'row')} that ${compared === 1 ? 'meets' : 'meet'} a stored bar on the session ${side} ${compared === 1 ? 'its' : 'their'} date: ${why}, so the file's bars look dated 1 session ${how}. The series is rejected whole and the import fails: fix the dates at the source (or remove a bar copied forward)`,
  });
}
