/**
 * A lone bar judged against its symbol's stored series around its date, the same rule for an
 * import's rows (lib/ingest/import-bars.ts, when a file is read) and for live bars
 * (lib/streaming/stored-bar-judging.ts). The file rules for mistyped dates (rules.ts misdatedRows,
 * endRowIssue) need rows around the mistyped one, so a file of one or two rows, and a live bar, were
 * never judged so:
 *
 * - a bar (or two) years before the symbol's stored history, with no other bar within
 *   END_ROW_LONE_MAX_SESSIONS sessions, was stored: SYN01 stored 2016-01-04..2018-06-29, a bar dated
 *   2014-06-27 joined the series with about 380 sessions missing and no finding, and the features of
 *   the first stored sessions (ema_ratio_50, rsi_14, adx_14) read it as the session before;
 * - a bar whose year was typed one early revised the year-old stored bar of that date (SYN01
 *   2017-06-28 close 214.11 -> 233.05, +8.8%, under the move limit), its prices the newest stored
 *   bar's: the live misdated_series check only looks 5 sessions away.
 *
 * Both are rejected as `out_of_order_date` (a mistyped date: its date is not believed, so it widens
 * no range and reports no stored bar). Backfills (the older history reaching the stored bars), the
 * feed going on after a pause (a bar after the newest stored one), look-back re-sends and corrections
 * that fit the bars around their date are not touched.
 */
import { nextNyseTradingDay, previousNyseTradingDay } from '../calendar/nyse';
import type { Bar } from '../market-data/bar';
import { plural } from '../plural';
import { END_ROW_LONE_MAX_SESSIONS, ORDER_TYPO_MIN_SESSIONS, sessionsApart } from './rules';
import { issue, type QualityIssue } from './rules-catalog';

/** The most bars a lone run holds: one row, or two adjacent ones (a file of fewer than 3 rows is no file endRowIssue can judge). */
export const STRAY_MAX_BARS = 2;
/** The newest stored bars a revision is compared with. */
export const STRAY_NEWEST_BARS = 5;
/** A revision lies at least this far (the largest log distance of open, high, low and close) from every stored bar around its date before it can be misdated. */
export const MISDATED_REVISION_MIN_DISTANCE = 0.05;
/** …and the newest stored bars fit it this many times better. */
export const MISDATED_REVISION_FIT_RATIO = 4;

/** A bar to judge, with where it came from when it is a file's row. */
export interface StrayCandidate extends Bar {
  source?: string;
  line?: number;
  raw?: string;
}

/** What the rule reads of the symbol's stored bars around a run. */
export interface StoredAround {
  /** The nearest stored bar dated before the run's first bar. */
  before?: Bar;
  /** Stored bars dated from the run's first bar to its last, ascending. */
  inside: readonly Bar[];
  /** The nearest stored bar dated after the run's last bar. */
  after?: Bar;
  /** The symbol's newest stored bars, ascending (up to STRAY_NEWEST_BARS). */
  newest: readonly Bar[];
}

/** Calendar days beyond which END_ROW_LONE_MAX_SESSIONS sessions are always exceeded (20 sessions span at most 31 days, holidays included). */
const FAR_CALENDAR_DAYS = 35;
const DAY_MS = 86_400_000;

/** Whether more than END_ROW_LONE_MAX_SESSIONS NYSE sessions lie between two dates. */
export function beyondLoneLimit(a: string, b: string): boolean {
  const days = Math.abs(Date.parse(b) - Date.parse(a)) / DAY_MS;
  if (days <= END_ROW_LONE_MAX_SESSIONS) return false;
  if (days > FAR_CALENDAR_DAYS) return true;
  return sessionsApart(a, b) > END_ROW_LONE_MAX_SESSIONS;
}

/**
 * The runs of a symbol's incoming bars (ascending by date, one per date) at either end of them
 * that hold at most STRAY_MAX_BARS bars and lie more than END_ROW_LONE_MAX_SESSIONS sessions from
 * the other incoming bars: the bars to judge against the store. A run between two others is left
 * alone, as a file's row between two long halts is.
 */
export function loneRuns<T extends { date: string }>(bars: readonly T[]): T[][] {
  const runs = incomingRuns(bars);
  const ends = runs.length <= 1 ? runs : [runs[0], runs[runs.length - 1]];
  return ends.filter((r) => r.length <= STRAY_MAX_BARS);
}

/** A symbol's incoming bars (ascending by date) cut where more than END_ROW_LONE_MAX_SESSIONS sessions lie between two. */
export function incomingRuns<T extends { date: string }>(bars: readonly T[]): T[][] {
  if (bars.length === 0) return [];
  const runs: T[][] = [[bars[0]]];
  for (let i = 1; i < bars.length; i++) {
    if (beyondLoneLimit(bars[i - 1].date, bars[i].date)) runs.push([bars[i]]);
    else runs[runs.length - 1].push(bars[i]);
  }
  return runs;
}

/**
 * The calendar_gap flag of bars kept although more than END_ROW_LONE_MAX_SESSIONS sessions lie
 * between them and the symbol's stored bars: a run after the newest stored bar (the feed or the
 * daily files going on after a pause), or a block of older history (more than STRAY_MAX_BARS bars)
 * before the first stored one. The rows' own rules see no gap there, since the stored bars are not
 * theirs. Undefined when the gap is within the limit.
 */
export function storedGapFlag(bar: StrayCandidate, stored: string, origin: 'file' | 'live batch'): QualityIssue | undefined {
  if (!beyondLoneLimit(bar.date, stored)) return undefined;
  const [from, to] = bar.date < stored ? [bar.date, stored] : [stored, bar.date];
  const missing = sessionsApart(from, to) - 1;
  const where = bar.date < stored ? `between the ${origin}'s bars of ${bar.symbol}, to ${bar.date}, and its first stored bar (${stored})` : `between ${bar.symbol}'s newest stored bar (${stored}) and the ${origin}'s bars, from ${bar.date}`;
  return issue('calendar_gap', {
    symbol: bar.symbol,
    date: nextNyseTradingDay(from),
    source: bar.source ?? '',
    line: null,
    raw: null,
    message: `${plural(missing, 'trading day')} missing ${nextNyseTradingDay(from)}..${previousNyseTradingDay(to)}, ${where}: more than ${END_ROW_LONE_MAX_SESSIONS} sessions; stored (a halt, a pause of the feed, a history with a hole), and the features across the gap read the bars on either side as consecutive sessions`,
  });
}

/** StoredAround of a run, taken from the symbol's stored bars (ascending): for readers that hold them all. */
export function storedAroundOf(stored: readonly Bar[], first: string, last: string): StoredAround {
  let before: Bar | undefined;
  let after: Bar | undefined;
  const inside: Bar[] = [];
  for (const b of stored) {
    if (b.date < first) before = b;
    else if (b.date <= last) inside.push(b);
    else if (after === undefined) after = b;
  }
  return { before, inside, after, newest: stored.slice(-STRAY_NEWEST_BARS) };
}

/** The largest log distance between two bars' open, high, low and close. */
function priceDistance(a: Bar, b: Bar): number {
  let d = 0;
  for (const f of ['open', 'high', 'low', 'close'] as const) d = Math.max(d, Math.abs(Math.log(a[f] / b[f])));
  return d;
}

const percent = (x: number): string => `${(x * 100).toFixed(1)}%`;
const signedPercent = (ratio: number): string => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)}%`;

/**
 * The out_of_order_date findings of a lone run (loneRuns) of one symbol's bars, given the stored bars
 * around it; `origin` words where the bars came from. A bar is rejected:
 *
 * - when no stored bar lies within END_ROW_LONE_MAX_SESSIONS sessions of the run, and the store
 *   holds a bar of the symbol after it (the run lies before the stored history, or alone inside a
 *   stored gap): a bar or two that far from the rest is far more often a mistyped date than a
 *   backfill, which brings the older history up to the stored bars. A run after the newest stored
 *   bar is the feed going on after a pause, and is stored (calendar_gap names the gap);
 * - when it revises a stored bar more than ORDER_TYPO_MIN_SESSIONS sessions before the newest
 *   stored one, its prices lie MISDATED_REVISION_MIN_DISTANCE or more from the stored bars of its
 *   date and the sessions beside it, and one of the newest stored bars fits them
 *   MISDATED_REVISION_FIT_RATIO times better: a recent session's bar under a mistyped year. A
 *   correction fits the bars around its date, whatever the newest ones are.
 */
export function strayBarIssues<T extends StrayCandidate>(run: readonly T[], stored: StoredAround, origin: 'file' | 'live batch'): Map<T, QualityIssue> {
  const out = new Map<T, QualityIssue>();
  if (run.length === 0) return out;
  const symbol = run[0].symbol;
  const first = run[0].date;
  const last = run[run.length - 1].date;
  const at = (b: T) => ({ symbol: b.symbol, date: b.date, source: b.source ?? '', line: b.line ?? null, raw: b.raw ?? null });
  const near = stored.inside.length > 0 || (stored.before !== undefined && !beyondLoneLimit(stored.before.date, first)) || (stored.after !== undefined && !beyondLoneLimit(last, stored.after.date));
  if (!near && stored.after !== undefined) {
    const after = stored.after;
    const gap = sessionsApart(last, after.date);
    const where =
      stored.before === undefined
        ? `the store's first bar of ${symbol} is ${after.date}, ${plural(gap, 'NYSE session')} after it (${plural(gap - 1, 'session')} missing between)`
        : `it lies inside a gap of ${symbol}'s stored bars, ${plural(sessionsApart(stored.before.date, first), 'NYSE session')} after the stored bar of ${stored.before.date} and ${plural(gap, 'session')} before the one of ${after.date}`;
    for (const b of run) {
      const other = run.find((r) => r !== b);
      const alone = other === undefined ? 'it stands alone' : `it and the bar of ${other.date} stand alone`;
      out.set(
        b,
        issue('out_of_order_date', {
          ...at(b),
          message: `dated ${b.date}, ${alone}: no other bar of ${symbol} in the ${origin} or the store within ${END_ROW_LONE_MAX_SESSIONS} NYSE sessions of it, and ${where}. A single bar (or two) that far from the stored history, with stored bars after it, is far more often a mistyped date (a year typed wrong) than a backfill, and stored it would join the series across the gap (the features of ${after.date} would read it as the session before); rejected, and a stored bar for ${b.date} is kept. If its date is right, import the history around it, reaching within ${END_ROW_LONE_MAX_SESSIONS} sessions of the stored bars`,
        }),
      );
    }
    return out;
  }
  const newestDate = stored.newest.at(-1)?.date;
  if (newestDate === undefined) return out;
  const known = [...(stored.before ? [stored.before] : []), ...stored.inside, ...(stored.after ? [stored.after] : [])];
  for (const b of run) {
    const own = stored.inside.find((s) => s.date === b.date);
    if (own === undefined || (own.open === b.open && own.high === b.high && own.low === b.low && own.close === b.close)) continue;
    const behind = sessionsApart(b.date, newestDate);
    if (b.date >= newestDate || behind <= ORDER_TYPO_MIN_SESSIONS) continue;
    // Its own date's stored bar and the stored sessions beside it (a corrected glitch fits these).
    const i = known.indexOf(own);
    const around = known.slice(Math.max(0, i - 1), i + 2).filter((s) => !run.some((r) => r !== b && r.date === s.date));
    const ownFit = Math.min(...around.map((s) => priceDistance(b, s)));
    if (ownFit < MISDATED_REVISION_MIN_DISTANCE) continue;
    const recent = stored.newest.filter((s) => s.date > b.date && sessionsApart(b.date, s.date) > ORDER_TYPO_MIN_SESSIONS);
    let match: Bar | undefined;
    let matchFit = Number.POSITIVE_INFINITY;
    for (const s of recent) {
      const d = priceDistance(b, s);
      if (d < matchFit) [match, matchFit] = [s, d];
    }
    if (match === undefined || matchFit * MISDATED_REVISION_FIT_RATIO > ownFit) continue;
    out.set(
      b,
      issue('out_of_order_date', {
        ...at(b),
        message: `dated ${b.date}, it would revise the stored bar of that date (close ${own.close} -> ${b.close}, ${signedPercent(b.close / own.close)}), ${plural(behind, 'NYSE session')} before ${symbol}'s newest stored bar (${newestDate}), yet its prices lie ${percent(ownFit)} or more from the stored bars around ${b.date} (${around.map((s) => s.date).join(', ')}) and within ${percent(matchFit)} of the stored bar of ${match.date} (close ${match.close}), one of the newest: a recent session's bar under a mistyped date (a year typed wrong), not a correction; rejected, and the stored bar of ${b.date} is kept. A correction of that bar fits the bars around it, or comes with them (the ${origin === 'file' ? "file's rows" : "batch's bars"} of the sessions around it)`,
      }),
    );
  }
  return out;
}
