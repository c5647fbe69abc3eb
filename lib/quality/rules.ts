import { groupBy } from '../group-by';
import { countNyseTradingDaysBetween, isNyseTradingDay, missingNyseTradingDays, newYorkClock, nextNyseTradingDay, nyseCloseTime, nyseTradingDaysBetween, previousNyseTradingDay } from '../calendar/nyse';
import { EARLIEST_BAR_DATE, limitProblem, type Bar } from '../market-data/bar';
import type { CandidateBar } from '../market-data/csv-reader';
import { binomialUpperTail } from '../stats/distributions';
import { SESSION_CLOSE_MARGIN_MINUTES, type QualityPolicy } from './policy';
import { issue, type QualityIssue, type QualityRuleId } from './rules-catalog';
import { memoize } from '../memo';
import { ALL_SPLITS, closeSplits, HINTED_SPLITS, nearestSplit, splitFinding } from './splits';
import { plural } from '../plural';
import { MOVE_SCALE_FLOOR, MOVE_SCALE_SIGMAS, moveScaleVolatility, scaledMoveLimit, scaledReturnTolerance, describeScale, type MoveScale } from './move-scale';

/**
 * The exchange's calendar date at `now` (bars are dated in New York), as YYYY-MM-DD: a bar dated
 * after it cannot have traded yet.
 */
export function newYorkDate(now: Date): string {
  return newYorkClock(now).date;
}

/** The exchange's time of day at `now`, HH:MM (24-hour, New York). */
export function newYorkTime(now: Date): string {
  return hhmmOf(newYorkClock(now).minutes);
}

const minutesOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
const hhmmOf = (minutes: number): string => `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

/**
 * The import's own New York trading day while its bar is not final: `date` (the New York date of
 * the clock) is a trading day and the clock (`clock`, HH:MM New York) is before its close (`close`:
 * 16:00, or the early close of lib/calendar/nyse.ts) plus the margin (`finalAt`).
 */
export interface OpenSession {
  date: string;
  close: string;
  finalAt: string;
  clock: string;
}

/**
 * The session a bar dated on the clock's New York date would come from, when that bar cannot be
 * final yet: before the day's NYSE close plus `marginMinutes` (SESSION_CLOSE_MARGIN_MINUTES). Undefined
 * once that time has passed, or when the day is no trading day (no bar of it is valid anyway).
 */
export function openSession(now: Date, marginMinutes = SESSION_CLOSE_MARGIN_MINUTES): OpenSession | undefined {
  const { date, minutes } = newYorkClock(now);
  const close = nyseCloseTime(date);
  if (close === undefined) return undefined;
  const finalAt = minutesOf(close) + marginMinutes;
  return minutes < finalAt ? { date, close, finalAt: hhmmOf(finalAt), clock: hhmmOf(minutes) } : undefined;
}

/** What a row rule is judged with: the clock's New York date and open session, and who checks. */
interface RowContext {
  today?: string;
  session?: OpenSession;
  checkedBy: 'import' | 'live consumer';
}

/**
 * One row rule: whether `bar` breaks it (cheap: run on every bar, live ones included) and, only for
 * a bar that does, the message. rowIssue and rowPasses both walk ROW_RULES, so the live consumer's
 * pre-check cannot skip a rule the import applies (it once lacked price_field_glitch).
 */
interface RowRule {
  rule: QualityRuleId;
  broken: (bar: Bar, context: RowContext) => boolean;
  message: (bar: Bar, context: RowContext) => string;
}

/** isNyseTradingDay per date, remembered (a live batch has few dates, each checked for every bar). */
const tradingDay = memoize(isNyseTradingDay, 100_000);

/** In order: the first rule a row breaks is its finding. Comparisons are written so NaN breaks none of them (limits catch it). */
const ROW_RULES: readonly RowRule[] = [
  {
    rule: 'future_date',
    broken: (bar, c) => c.today !== undefined && bar.date > c.today,
    message: (bar, c) => `${bar.date} is after ${c.today}, the ${c.checkedBy === 'import' ? 'date of the import' : "New York date of the live consumer's clock"}`,
  },
  {
    rule: 'session_not_closed',
    broken: (bar, c) => c.session !== undefined && bar.date === c.session.date,
    message: (bar, c) => {
      const session = c.session as OpenSession;
      return `${bar.date} is the ${c.checkedBy}'s own trading day and its session was not over: the ${c.checkedBy}'s clock read ${session.clock} New York, before the ${session.close} close plus ${minutesOf(session.finalAt) - minutesOf(session.close)} minutes (${session.finalAt}), so the bar is unfinished`;
    },
  },
  { rule: 'invalid_date', broken: (bar) => bar.date < EARLIEST_BAR_DATE, message: (bar) => `${bar.date} is before ${EARLIEST_BAR_DATE}: no exchange's daily data is that old` },
  { rule: 'implausible_value', broken: (bar) => implausibleField(bar) !== undefined, message: (bar) => implausibleField(bar) as string },
  { rule: 'non_trading_day', broken: (bar) => !tradingDay(bar.date), message: (bar) => `${bar.date} is not an NYSE trading day` },
  {
    rule: 'non_positive_price',
    broken: (bar) => bar.open <= 0 || bar.high <= 0 || bar.low <= 0 || bar.close <= 0,
    message: (bar) => {
      const field = (['open', 'high', 'low', 'close'] as const).find((f) => bar[f] <= 0) ?? 'close';
      return `${field} is ${bar[field]}`;
    },
  },
  {
    rule: 'ohlc_inconsistent',
    broken: (bar) => bar.high < Math.max(bar.open, bar.close) || bar.low > Math.min(bar.open, bar.close) || bar.high < bar.low,
    message: (bar) => `open ${bar.open}, high ${bar.high}, low ${bar.low}, close ${bar.close} do not fit high >= max(open, close) >= min(open, close) >= low`,
  },
  { rule: 'price_field_glitch', broken: (bar) => farField(bar) !== undefined, message: (bar) => farPriceMessage(bar, farField(bar) ?? 'open') },
  { rule: 'negative_volume', broken: (bar) => bar.volume < 0, message: (bar) => `volume is ${bar.volume}` },
];

/**
 * Row-level rules: the first one a row breaks rejects it (one issue per rejected row). With
 * `today` (the New York date of the import's clock), a bar dated after it is a `future_date`; with
 * `session` (openSession of that clock: its trading day has not closed yet), a bar dated on that day
 * is `session_not_closed`, an unfinished bar. `checkedBy` words the messages for where the check
 * runs: an import, or the live consumer (lib/streaming/stream-quality.ts), whose clock it is.
 * Values must be finite and within the limits of lib/market-data/bar.ts (`implausible_value`):
 * the readers check each field as read, this checks the values about to be stored, whatever made them.
 */
export function rowIssue(bar: CandidateBar, today?: string, session?: OpenSession, checkedBy: 'import' | 'live consumer' = 'import'): QualityIssue | undefined {
  const context: RowContext = { today, session, checkedBy };
  for (const rule of ROW_RULES) {
    if (rule.broken(bar, context)) return issue(rule.rule, { symbol: bar.symbol, date: bar.date, source: bar.source, line: bar.line, raw: bar.raw, message: rule.message(bar, context) });
  }
  return undefined;
}

/**
 * True exactly when rowIssue(bar, today) finds nothing (no session given: the live consumer judges
 * unfinished bars by when they were produced), without making an issue: the live consumer's fast path.
 */
export function rowPasses(bar: Bar, today: string): boolean {
  const context: RowContext = { today, checkedBy: 'live consumer' };
  for (const rule of ROW_RULES) if (rule.broken(bar, context)) return false;
  return true;
}

/**
 * rowIssue as an import judges its rows at `clock`: bars dated after the clock's New York date, and
 * its own trading day's bar until the close plus the policy's margin.
 */
export function rowRules(clock: Date, policy: Pick<QualityPolicy, 'sessionCloseMarginMinutes'>): (bar: CandidateBar) => QualityIssue | undefined {
  const today = newYorkDate(clock);
  const session = openSession(clock, policy.sessionCloseMarginMinutes ?? SESSION_CLOSE_MARGIN_MINUTES);
  return (bar) => rowIssue(bar, today, session);
}

/**
 * How far (as a factor either way) a bar's open, high or low may lie from its own close before it is
 * a misplaced decimal point or a wrong price rather than a print: a high of 1557.9 on a close of 155.8
 * stays OHLC-consistent, so no other row rule sees it, and the range and gap features read it. In the
 * 382 real S&P 500 files the farthest is XL's low of 5.40 on a close of 36.79 on 24 August 2015 (the
 * opening crash, ×6.8); the next is ×1.9. A decimal slip is ×10 or more.
 */
export const PRICE_FIELD_GLITCH_FACTOR = 8;

/** The first of open, high and low beyond PRICE_FIELD_GLITCH_FACTOR either way from the close, or undefined. */
function farField(bar: Bar): 'open' | 'high' | 'low' | undefined {
  for (const field of ['open', 'high', 'low'] as const) {
    const ratio = bar[field] / bar.close;
    if (ratio > PRICE_FIELD_GLITCH_FACTOR || ratio < 1 / PRICE_FIELD_GLITCH_FACTOR) return field;
  }
  return undefined;
}

function farPriceMessage(bar: Bar, field: 'open' | 'high' | 'low'): string {
  const ratio = bar[field] / bar.close;
  const times = ratio > 1 ? `${ratio.toFixed(1)} times` : `1/${(1 / ratio).toFixed(1)} of`;
  return `${field} ${bar[field]} is ${times} the close ${bar.close}, beyond ×${PRICE_FIELD_GLITCH_FACTOR} either way (no print in the real S&P 500 files is beyond ×6.8): a misplaced decimal point or a wrong price; rejected, and a stored bar for its date is kept`;
}

const VALUE_FIELDS = ['open', 'high', 'low', 'close', 'volume'] as const;

/** The first value of `bar` beyond the limits of lib/market-data/bar.ts, as "<field> <value> <why>", or undefined. */
export function implausibleField(bar: Bar): string | undefined {
  for (const field of VALUE_FIELDS) {
    const problem = limitProblem(bar[field], field === 'volume');
    if (problem !== undefined) return `${field} ${bar[field]} ${problem}`;
  }
  return undefined;
}

function sameValues(a: Bar, b: Bar): boolean {
  return a.open === b.open && a.high === b.high && a.low === b.low && a.close === b.close && a.volume === b.volume;
}

/**
 * Duplicate (symbol, date) rows. Exact copies keep the first row; conflicting copies reject every
 * copy, because nothing says which one is right and a wrong bar is worse than a missing one.
 */
export function splitDuplicates(bars: readonly CandidateBar[]): { unique: CandidateBar[]; issues: QualityIssue[] } {
  const groups = groupBy(bars, (b) => `${b.symbol}\u0000${b.date}`);
  const unique: CandidateBar[] = [];
  const issues: QualityIssue[] = [];
  for (const group of groups.values()) {
    const [first, ...rest] = group;
    if (rest.length === 0) {
      unique.push(first);
      continue;
    }
    const conflicting = rest.some((b) => !sameValues(b, first));
    const rejected = conflicting ? group : rest;
    if (!conflicting) unique.push(first);
    for (const b of rejected) {
      issues.push(
        issue('duplicate_date', {
          symbol: b.symbol,
          date: b.date,
          source: b.source,
          line: b.line,
          raw: b.raw,
          message: conflicting
            ? `${group.length} rows for ${b.symbol} ${b.date} with different values (lines ${group.map((g) => g.line).join(', ')}); all rejected`
            : `exact copy of line ${first.line}`,
        }),
      );
    }
  }
  return { unique, issues };
}

/**
 * `out_of_order_date`: a row of a file in date order (ascending, or descending as some vendors
 * write) whose date lies far from both rows around it and out of that order: a mistyped date (2016
 * for 2017, a month or a day digit). Sorting the rows published it as a bar of another session (a
 * stray bar in an older year, a bar a year after the real data ends) and over a good stored bar of
 * the date it names. It is rejected: its date is not what the vendor meant, so it says nothing about
 * the stored bar of that date, and it counts toward its file's share as other rejected rows do (a
 * file with many is rejected whole, file_bad_row_share).
 *
 * A row is judged against the rows around it in its file (one symbol, one source, file order): it
 * is out of place when it lies more than ORDER_TYPO_MIN_SESSIONS NYSE sessions from the row before
 * it and from the row after it (at either end of the file, from its one neighbour), or, as a run of
 * up to ORDER_TYPO_MAX_RUN adjacent rows (one typo copied to the next row), every one of them from
 * the rows around the run; and it is out of the order the file's other rows keep. It is kept (the
 * file is flagged unsorted_input, as before) when:
 *  - there is no order to break: longer runs out of place (two sorted blocks, a shuffled file, rows
 *    of two periods interleaved), or the other rows stepping against their order on more than
 *    ORDER_TYPO_MAX_SHARE of their steps;
 *  - it lies between the rows around it in the file's order (a row between two long halts);
 *  - no session is missing where it stands (or only sessions that other rows out of place hold: two
 *    rows exchanged), and another row of the file has its date (a row repeated: duplicate_date judges
 *    the copies) or its date is a session the other rows lack, within their dates or continuing them:
 *    the session just beyond either end, or within ORDER_TYPO_MIN_SESSIONS sessions of a row next to
 *    it in its run that continues them (a row moved; the newest rows appended to a file newest first,
 *    in either order, however many).
 * A retyped row whose date another row of the file has is rejected alone, so that row is kept. At an
 * end of the file no session shows missing: a row there whose date a kept row has, with values no row
 * of that date has, is the retype (an exact copy is a repeat).
 * Swapped neighbouring sessions lie a session or two apart and are never out of place.
 */
export const ORDER_TYPO_MIN_SESSIONS = 5;
export const ORDER_TYPO_MAX_RUN = 2;
export const ORDER_TYPO_MAX_SHARE = 0.2;

const DAY_MS = 86_400_000;
const calendarDaysApart = (a: string, b: string): number => Math.abs(Date.parse(b) - Date.parse(a)) / DAY_MS;

/** NYSE sessions after the earlier of `a` and `b` up to the later one: 1 for neighbouring sessions. */
export function sessionsApart(a: string, b: string): number {
  const [lo, hi] = a < b ? [a, b] : [b, a];
  return countNyseTradingDaysBetween(lo, hi) - (isNyseTradingDay(lo) ? 1 : 0);
}

/** Whether `a` and `b` lie more than ORDER_TYPO_MIN_SESSIONS NYSE sessions apart. */
function farApart(a: string, b: string): boolean {
  const days = calendarDaysApart(a, b);
  // At most a session a calendar day, and 5 sessions never span three weeks (holidays included).
  if (days <= ORDER_TYPO_MIN_SESSIONS) return false;
  if (days > 21) return true;
  return sessionsApart(a, b) > ORDER_TYPO_MIN_SESSIONS;
}

/** The trading days strictly between `a` and `b`, or undefined when there are more than `max`. */
function sessionsBetween(a: string, b: string, max: number): string[] | undefined {
  const [lo, hi] = a < b ? [a, b] : [b, a];
  if (calendarDaysApart(lo, hi) > 2 * max + 10 && sessionsApart(lo, hi) > max + 1) return undefined;
  const days = nyseTradingDaysBetween(lo, hi).filter((d) => d !== lo && d !== hi);
  return days.length > max ? undefined : days;
}

/** In how many characters two dates differ. */
const charsApart = (a: string, b: string): number => [...a].filter((c, k) => c !== b[k]).length;

/**
 * The rows of one symbol's rows of one file (`list`, in file order) that a mistyped date explains
 * (ORDER_TYPO_MIN_SESSIONS above), each with its out_of_order_date message.
 */
export function misdatedRows(list: readonly CandidateBar[]): Map<CandidateBar, string> {
  const out = new Map<CandidateBar, string>();
  const n = list.length;
  const d = list.map((b) => b.date);
  let up = false;
  let down = false;
  for (let i = 1; i < n; i++) {
    if (d[i] > d[i - 1]) up = true;
    else if (d[i] < d[i - 1]) down = true;
  }
  if (n < 3 || !(up && down)) return out;

  // Rows out of place: single rows inside the file, then runs, then the rows at either end, each
  // against the nearest row not out of place (the row after a typo at the end is none).
  const marked = new Array<boolean>(n).fill(false);
  for (let i = 1; i < n - 1; i++) marked[i] = farApart(d[i], d[i - 1]) && farApart(d[i], d[i + 1]);
  for (let run = 2; run <= ORDER_TYPO_MAX_RUN; run++) {
    for (let s = 0; s + run <= n; s++) {
      const e = s + run - 1;
      if (s === 0 && e === n - 1) continue;
      let free = true;
      for (let k = Math.max(0, s - 1); k <= Math.min(n - 1, e + 1) && free; k++) free = !marked[k];
      let far = free;
      for (let k = s; k <= e && far; k++) far = (s === 0 || farApart(d[k], d[s - 1])) && (e === n - 1 || farApart(d[k], d[e + 1]));
      if (far) for (let k = s; k <= e; k++) marked[k] = true;
    }
  }
  const nearestKept = (from: number, step: number): number => {
    let k = from;
    while (k >= 0 && k < n && marked[k]) k += step;
    return k;
  };
  if (!marked[0]) {
    const j = nearestKept(1, 1);
    marked[0] = j < n && farApart(d[0], d[j]);
  }
  if (!marked[n - 1]) {
    const j = nearestKept(n - 2, -1);
    marked[n - 1] = j >= 0 && farApart(d[n - 1], d[j]);
  }
  // A longer run out of place is a block in another order (two sorted blocks, a shuffle), no typo.
  for (let s = 0; s < n; s++) {
    if (!marked[s]) continue;
    let e = s;
    while (e + 1 < n && marked[e + 1]) e++;
    if (e - s + 1 > ORDER_TYPO_MAX_RUN) marked.fill(false, s, e + 1);
    s = e;
  }

  // The order the other rows keep.
  const kept = d.filter((_, i) => !marked[i]);
  let forward = 0;
  let back = 0;
  for (let i = 1; i < kept.length; i++) {
    if (kept[i] > kept[i - 1]) forward++;
    else if (kept[i] < kept[i - 1]) back++;
  }
  if (forward === back || Math.min(forward, back) > ORDER_TYPO_MAX_SHARE * (kept.length - 1)) return out;
  const ascending = forward > back;
  const precedes = (a: string, b: string): boolean => (ascending ? a < b : a > b);
  const copies = new Map<string, number>();
  for (const date of d) copies.set(date, (copies.get(date) ?? 0) + 1);
  const misplaced = new Set(d.filter((_, i) => marked[i]));
  const first = kept.reduce((a, b) => (b < a ? b : a));
  const last = kept.reduce((a, b) => (b > a ? b : a));
  // A row whose date lies within the other rows' dates, or continues them: the session just beyond their
  // range, or within ORDER_TYPO_MIN_SESSIONS sessions of a row next to it in its run that continues them
  // (the newest rows appended to a file newest first, in either order). Such a row was moved there, not
  // retyped. A row a few sessions beyond the range, sessions missing between, stays a typo: the last row
  // of a year typed with the year before (2017-12-29 as 2016-12-29 in a file from 2017-01-03) is one.
  const continues = marked.map((m, i) => m && (d[i] >= first || sessionsApart(d[i], first) <= 1) && (d[i] <= last || sessionsApart(last, d[i]) <= 1));
  for (let grown = true; grown; ) {
    grown = false;
    for (let i = 0; i < n; i++) {
      if (!marked[i] || continues[i]) continue;
      const linked = (k: number): boolean => k >= 0 && k < n && continues[k] && !farApart(d[i], d[k]);
      if (linked(i - 1) || linked(i + 1)) {
        continues[i] = true;
        grown = true;
      }
    }
  }

  for (let i = 0; i < n; i++) {
    if (!marked[i]) continue;
    const p = nearestKept(i - 1, -1);
    const q = nearestKept(i + 1, 1);
    const prev = p >= 0 ? d[p] : undefined;
    const next = q < n ? d[q] : undefined;
    if (!((prev !== undefined && precedes(d[i], prev)) || (next !== undefined && precedes(next, d[i])))) continue;
    // A kept row of the file with this row's date, when no row with that date has this row's values.
    const copy = list.find((b, k) => !marked[k] && b.date === d[i]);
    const retypedCopy = copy !== undefined && !list.some((b, k) => k !== i && b.date === d[i] && sameValues(b, list[i]));
    const atEnd = prev === undefined || next === undefined;
    // A session missing where the row stands, which no other row out of place holds, is the one a typo
    // took away; without one the row was moved (or repeated), not retyped. At an end of the file nothing
    // shows a session missing, but a row there with the date of a kept row and other values can only be
    // a retype: an exact copy is a repeat, left to duplicate_date.
    const hole = prev !== undefined && next !== undefined ? sessionsBetween(prev, next, misplaced.size) : [];
    const retyped = hole === undefined || hole.some((h) => !misplaced.has(h)) || (atEnd && retypedCopy);
    if (!retyped && ((copies.get(d[i]) ?? 0) > 1 || continues[i])) continue;
    out.set(list[i], typoMessage(list[i], p >= 0 ? list[p] : undefined, q < n ? list[q] : undefined, ascending, meantSession(i, hole), copy));
  }
  return out;

  /**
   * What the message says of the session row `i` likely stood for: the session missing where it stands,
   * nearest to what was written; at an end of the file, where none shows missing, the session beyond the
   * other rows' range on that side (the k-th for the k-th row from them) when no row of the file has it.
   */
  function meantSession(i: number, hole: readonly string[] | undefined): string {
    const atStart = nearestKept(i - 1, -1) < 0;
    if (!atStart && nearestKept(i + 1, 1) < n) {
      if (hole === undefined || hole.length === 0 || hole.length > 3) return '';
      const meant = [...hole].sort((a, b) => charsApart(a, d[i]) - charsApart(b, d[i]))[0];
      return `, likely for ${meant} (the session missing there)`;
    }
    const steps = atStart ? nearestKept(i + 1, 1) - i : i - nearestKept(i - 1, -1);
    const after = atStart !== ascending;
    let meant = after ? last : first;
    for (let k = 0; k < steps; k++) meant = after ? nextNyseTradingDay(meant) : previousNyseTradingDay(meant);
    const side = atStart ? 'start' : 'end';
    return d.includes(meant)
      ? `; at the ${side} of a file the session it stood for is unknown`
      : `, likely for ${meant} (the session ${after ? 'after' : 'before'} the file's other rows, which it lacks)`;
  }
}

function typoMessage(bar: CandidateBar, prev: CandidateBar | undefined, next: CandidateBar | undefined, ascending: boolean, likely: string, copy: CandidateBar | undefined): string {
  const row = (b: CandidateBar): string => `${b.date} (line ${b.line})`;
  const where =
    prev && next ? `between the rows of ${row(prev)} and ${row(next)}` : prev ? `at the end, after the row of ${row(prev)},` : `at the start, before the row of ${row(next as CandidateBar)},`;
  const kept = copy !== undefined ? `the row of line ${copy.line} with that date is kept` : `a stored bar for ${bar.date} is kept`;
  return `dated ${bar.date}, it stands ${where} of a file in ${ascending ? 'ascending' : 'descending'} date order, more than ${ORDER_TYPO_MIN_SESSIONS} NYSE sessions from ${prev && next ? 'both' : 'it'}: a mistyped date${likely}; rejected, and ${kept}`;
}

/**
 * `out_of_order_date` at the ends of a file in date order. A first or last row whose date is mistyped
 * but still lies beyond the file's other rows in its order (an update of 2018 whose first row reads
 * 2017-01-03, or 2013-01-02 before the stored history; a last row 2018-12-28 for 2018-02-07) breaks
 * no order, so misdatedRows keeps it, and sorting it in published another session's prices over the
 * good stored bar of the date it names, a stray bar before the history, or a newest bar months after
 * the data, and widened the file's range over stored bars it lacks (reported unconfirmed). Such a row
 * is told apart by the stored bars of its symbol (lib/ingest/import-bars.ts reads them): a lone end
 * row more than ORDER_TYPO_MIN_SESSIONS NYSE sessions from its neighbour in the file, with at least
 * one stored session strictly between them, would make the file jump over stored bars it lacks;
 * with none between, one more than END_ROW_LONE_MAX_SESSIONS sessions from its neighbour (a listing
 * or a halt of a month with a single row after it is rare, and once more rows follow it, it is no end
 * row). Updates that continue the stored bars, files that start before them and continue them, and
 * halts of a few sessions meet neither.
 */
export const END_ROW_LONE_MAX_SESSIONS = 20;

/** An end row of a file in date order lying far from the row next to it (endRowGaps). */
export interface EndRowGap {
  row: CandidateBar;
  /** The row next to it in the file, of the rows left once rows other rules reject are left out. */
  neighbour: CandidateBar;
  /** Whether the row opens the file (else it closes it). */
  atStart: boolean;
  ascending: boolean;
  /** NYSE sessions from the neighbour to the row. */
  sessions: number;
  /** The session beside the neighbour on the row's side, when no row of the file has it: the likely one meant. */
  meant?: string;
}

/** The stored bars of the row's symbol strictly between an end row and its neighbour. */
export interface StoredBetween {
  count: number;
  from: string | null;
  to: string | null;
}

/**
 * The first and last rows of each symbol's rows of one file (per source, file order) that lie more
 * than ORDER_TYPO_MIN_SESSIONS sessions from the row next to them, that row being no more than that
 * from the one after it, when the file keeps one date order
 * once the rows misdatedRows rejects and those `rejected` says another rule rejects are left out.
 * Each is judged with the stored bars between it and its neighbour (endRowIssue). `rejected` is
 * asked of the rows at the ends only, unless the file is out of order with them.
 */
export function endRowGaps(bars: readonly CandidateBar[], rejected: (bar: CandidateBar) => boolean = () => false): EndRowGap[] {
  const out: EndRowGap[] = [];
  const direction = (rows: readonly CandidateBar[]): { up: boolean; down: boolean } => {
    let up = false;
    let down = false;
    for (let i = 1; i < rows.length; i++) {
      if (rows[i].date > rows[i - 1].date) up = true;
      else if (rows[i].date < rows[i - 1].date) down = true;
    }
    return { up, down };
  };
  for (const all of groupBy(bars, (b) => `${b.symbol}\u0000${b.source}`).values()) {
    let rows: readonly CandidateBar[] = all;
    let { up, down } = direction(rows);
    // Out of order: without the rows misdatedRows rejects, and then without those other rules reject
    // (leaving rows out of a file in order keeps it in order).
    if (up && down) {
      const misdated = misdatedRows(all);
      rows = all.filter((b) => !misdated.has(b));
      ({ up, down } = direction(rows));
    }
    if (up && down) {
      rows = rows.filter((b) => !rejected(b));
      ({ up, down } = direction(rows));
    }
    // An unsorted file has no ends to judge (misdatedRows and unsorted_input judge it).
    if (up === down) continue;
    // The first three rows from each end that no other rule rejects: the end row, its neighbour, one more.
    const ends = (step: 1 | -1): CandidateBar[] => {
      const found: CandidateBar[] = [];
      for (let i = step === 1 ? 0 : rows.length - 1; i >= 0 && i < rows.length && found.length < 3; i += step) if (!rejected(rows[i])) found.push(rows[i]);
      return found;
    };
    for (const atStart of [true, false]) {
      const [row, neighbour, third] = ends(atStart ? 1 : -1);
      // Lone: the rows after its neighbour are close (bars of another interval, monthly, are bar_interval's).
      if (third === undefined || !farApart(row.date, neighbour.date) || farApart(neighbour.date, third.date)) continue;
      const later = row.date > neighbour.date;
      const meant = later ? nextNyseTradingDay(neighbour.date) : previousNyseTradingDay(neighbour.date);
      // In a file in order only a row other rules reject can hold it.
      const taken = all.some((b) => b.date === meant);
      out.push({ row, neighbour, atStart, ascending: up, sessions: sessionsApart(row.date, neighbour.date), ...(taken ? {} : { meant }) });
    }
  }
  return out;
}

/** The out_of_order_date finding of an end row far from its neighbour (endRowGaps), given the stored bars between them, or undefined when it stands. */
export function endRowIssue(gap: EndRowGap, stored: StoredBetween): QualityIssue | undefined {
  const { row, neighbour, sessions } = gap;
  if (stored.count === 0 && sessions <= END_ROW_LONE_MAX_SESSIONS) return undefined;
  const where = gap.atStart ? `at the start, before the row of ${neighbour.date} (line ${neighbour.line}),` : `at the end, after the row of ${neighbour.date} (line ${neighbour.line}),`;
  const side = row.date > neighbour.date ? 'after' : 'before';
  const likely = gap.meant !== undefined ? `, likely for ${gap.meant} (the session ${side} the file's other rows, which it lacks)` : `; at the ${gap.atStart ? 'start' : 'end'} of a file the session it stood for is unknown`;
  const order = `of a file in ${gap.ascending ? 'ascending' : 'descending'} date order`;
  const message =
    stored.count > 0
      ? `dated ${row.date}, it stands ${where} ${order}, ${sessions} NYSE sessions from it (more than ${ORDER_TYPO_MIN_SESSIONS}), and the store holds ${plural(stored.count, 'bar')} of ${row.symbol} between them (${stored.from}..${stored.to}) that the file lacks: a mistyped date${likely}; rejected, and a stored bar for ${row.date} is kept`
      : `dated ${row.date}, it stands alone ${where} ${order}, ${sessions} NYSE sessions from it (more than ${END_ROW_LONE_MAX_SESSIONS}), with no stored bar of ${row.symbol} between them: a single row a month or more beyond the rest is far more often a mistyped date than a listing or a halt${likely}; rejected, and a stored bar for ${row.date} is kept. If its date is right, import it again once the file holds more rows on its side of the gap (a row with neighbours is not judged so)`;
  return issue('out_of_order_date', { symbol: row.symbol, date: row.date, source: row.source, line: row.line, raw: row.raw, message });
}

/**
 * Order findings of a file's rows: out_of_order_date for rows a mistyped date explains (misdatedRows),
 * except rows in `rejected` (another rule rejects them already), and unsorted_input for a file whose
 * rows for one symbol are neither ascending nor descending by date once those rows are left out.
 */
export function orderIssues(bars: readonly CandidateBar[], rejected: ReadonlySet<CandidateBar> = new Set()): QualityIssue[] {
  return orderFindings(bars, rejected).issues;
}

/** orderIssues, with the rows it rejects as out_of_order_date and their findings. */
export function orderFindings(bars: readonly CandidateBar[], rejected: ReadonlySet<CandidateBar> = new Set()): { issues: QualityIssue[]; misdated: Map<CandidateBar, QualityIssue> } {
  const bySymbolSource = groupBy(bars, (b) => `${b.symbol}\u0000${b.source}`);
  const issues: QualityIssue[] = [];
  const rejects = new Map<CandidateBar, QualityIssue>();
  for (const all of bySymbolSource.values()) {
    const misdated = misdatedRows(all);
    for (const [b, message] of misdated) {
      if (rejected.has(b)) continue;
      const found = issue('out_of_order_date', { symbol: b.symbol, date: b.date, source: b.source, line: b.line, raw: b.raw, message });
      rejects.set(b, found);
      issues.push(found);
    }
    const list = misdated.size === 0 ? all : all.filter((b) => !misdated.has(b));
    let up = 0;
    let down = 0;
    let firstBreak: CandidateBar | undefined;
    for (let i = 1; i < list.length; i++) {
      if (list[i].date > list[i - 1].date) up++;
      else if (list[i].date < list[i - 1].date) down++;
      if (up > 0 && down > 0 && !firstBreak) firstBreak = list[i];
    }
    if (firstBreak) {
      issues.push(
        issue('unsorted_input', {
          symbol: firstBreak.symbol,
          date: firstBreak.date,
          source: firstBreak.source,
          line: firstBreak.line,
          raw: firstBreak.raw,
          message: `dates out of order from line ${firstBreak.line} (${up} steps forward, ${down} back); rows were sorted`,
        }),
      );
    }
  }
  return { issues, misdated: rejects };
}

/**
 * The extreme_move message for a close moving from `prevClose` to `close`, or undefined within the
 * limit. With `sigma` (the symbol's robust daily volatility before the move, lib/quality/move-scale.ts)
 * a move beyond scaledMoveLimit of it is flagged too: a +20% day of a large-cap is news or an error.
 */
export function extremeMoveMessage(prevClose: number, close: number, limit: number, sigma = Number.NaN): string | undefined {
  const move = close / prevClose - 1;
  const head = `close ${prevClose} -> ${close} (${(move * 100).toFixed(1)}%)`;
  if (Math.abs(move) > limit) return `${head}${splitHint(close / prevClose)}`;
  const scaled = scaledMoveLimit(sigma);
  const log = Math.log(close / prevClose);
  return Math.abs(log) > scaled ? `${head}, ${describeScale(log, { sigma, sigmas: MOVE_SCALE_SIGMAS, limit: scaled })}${splitHint(close / prevClose)}` : undefined;
}

function splitHint(ratio: number): string {
  const near = nearestSplit(ratio, 0.04, HINTED_SPLITS);
  return near === undefined ? '' : `; looks like an unadjusted ${near.label} split`;
}

/**
 * `one_bar_glitch`: a row (or two adjacent rows) whose close is beyond the move limit from both the
 * bar before and the bar after, while those two agree: a misplaced decimal point (149.63 written
 * 14963), a price of 0.000001, a fat finger, which the next bar undoes. extreme_move only flags a
 * move, so such a row was published over a good stored bar; as one row the gate rejects it (a
 * stored bar for its date is kept and reported unconfirmed; a new series gets it quarantined).
 *
 * Moves are measured on the log scale, so a glitch ×k and its undoing ÷k count alike: a move is
 * beyond the limit when the closes differ by more than the factor 1 + limit (1.35 by default: +35%
 * up, -25.9% down). The limit is the policy's extremeMoveLimit, never below
 * ONE_BAR_GLITCH_MIN_LIMIT (a lower limit asks for more flags, not for rejected rows). The bars around
 * must agree within ONE_BAR_GLITCH_RETURN_TOLERANCE (10%): back near the previous level.
 * Measured on the 382 real S&P 500 files (466,184 two-day spans): one row rejected, NWL 2017-09-14
 * (close 44.22, 30.81, 43.2: a vendor glitch of that file, the day MPC and MRK are off too); the same
 * one for any tolerance from 2.3% to unbounded and any limit from 25% to 35%. At a 20% limit MPC
 * 2017-09-14 joins (a glitch too), and with a 15% tolerance WMB 2016-01-13 (a real -18% / +34%
 * reversal); at 15%, four real reversals. Two-day moves beyond 10% are 0.49% of all, so glitches
 * planted at seeded days (×100, ÷100, ×10, ÷10, ×1.5, ×0.6, a price of 1e-6) are rejected 99.4% to
 * 99.6% of the time (two-row ones 98.9% to 99.2%); the misses sit on days the price itself moved
 * more than 10% in two days.
 * Runs of one or two rows are also judged on the symbol's own volatility (glitchRuns, the scaled
 * test; lib/quality/move-scale.ts): with it, seven more rows of the real files are rejected, COP, MPC and
 * MRK on 2017-09-14 among them, each a vendor glitch (docs/ingestion-and-quality.md).
 * A row has to have a bar on both sides: the first and last rows of a file are judged against the
 * stored bars around them when the snapshot is judged (lib/quality/stored-rules.ts); a last row with
 * no bar after it anywhere (the newest day) cannot be told from a real move and is only flagged.
 *
 * Blocks of 3 to ONE_BAR_GLITCH_MAX_BLOCK_ROWS rows are judged the same way at a stricter factor,
 * ×/÷(1 + ONE_BAR_GLITCH_BLOCK_LIMIT) (×1.5, or the glitch limit when higher): a few rows in cents,
 * or mislabelled with another symbol's name (another security's level, ×3.6), between bars that
 * agree. Nothing else judged them: they are too few for series_splice (5 bars before a move, 20
 * after) and series_mismatch (10 pairs of shared sessions), so they were published over good stored
 * bars. Measured on the 382 real S&P 500 files: no run of 3 to 30 rows each beyond ×1.25 from both
 * bars around it with those within 10% (the closest, CHK from 2016-04-12 for 18 rows, ×1.23); up to
 * 60 rows, one beyond ×1.25 (NWL from 2017-09-15, 34 rows, behind its glitched 2017-09-14) and none
 * beyond ×1.5.
 */
const medianOf = (values: readonly number[]): number => {
  const v = [...values].sort((a, b) => a - b);
  const n = v.length;
  return n === 0 ? Number.NaN : n % 2 === 1 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
};

/** The fewest sessions with volume a volume is measured against (volumeMultiple). */
export const VOLUME_REFERENCE_MIN_BARS = 5;

/**
 * How many times `volume` is the median of `reference`, the symbol's own volumes around it (the
 * SPLICE_AFTER_BARS bars after a move for series_splice, the ones before a reversal for
 * one_bar_glitch): what makes a day's volume a spike. NaN without VOLUME_REFERENCE_MIN_BARS positive
 * volumes (an index, a young series): no spike can be read.
 */
export function volumeMultiple(volume: number, reference: readonly number[]): number {
  const traded = reference.filter((v) => v > 0);
  if (traded.length < VOLUME_REFERENCE_MIN_BARS || !(volume >= 0)) return Number.NaN;
  return volume / medianOf(traded);
}

export const ONE_BAR_GLITCH_MIN_LIMIT = 0.25;
export const ONE_BAR_GLITCH_RETURN_TOLERANCE = 0.1;
/** The longest run of rows judged as a glitch at the glitch limit: a longer one may be a real move undone later. */
export const ONE_BAR_GLITCH_MAX_ROWS = 2;
/** The longest block of rows judged as a glitch, at the stricter ONE_BAR_GLITCH_BLOCK_LIMIT. */
export const ONE_BAR_GLITCH_MAX_BLOCK_ROWS = 30;
export const ONE_BAR_GLITCH_BLOCK_LIMIT = 0.5;
/**
 * A move that traded this many times the median volume of the SPLICE_AFTER_BARS sessions before it
 * (volumeMultiple), reversed the next session on a spike as series_splice reads one
 * (SPLICE_MAX_VOLUME_SPIKE times the same median), is a real move undone (a pump and its collapse,
 * news retracted), not a glitch: kept, with its extreme_move flags. The rule decides with the bar
 * after, by design, for data errors; without this a real spike was deleted because of the next
 * day's bar (20 pumps of +35% on 6 times the volume, undone the next day on 4 times: 7 rejected),
 * and the labels spanning it left training and scoring. In the 382 real S&P 500 files 1.21% of
 * sessions trade 3 times their prior 20 sessions' median with the next at 1.5 times (1.94% at 2.5,
 * 3.5% at 2), so a data glitch on such a pair of days is the rare one kept. Runs of one or two bars
 * only (a block is another unit or security).
 */
export const ONE_BAR_GLITCH_HEAVY_VOLUME = 3;
/** No heavy volume keeps a move beyond this factor either way: no trading day moves a price so (the largest close-to-close move in the 382 real files is ÷2.7), a misplaced point does. */
export const ONE_BAR_GLITCH_HEAVY_MAX_MOVE = 3;

/** A run of glitched bars, by index into the series: `first` to `last` inclusive, between bars first - 1 and last + 1. */
export interface GlitchRun {
  first: number;
  last: number;
  /** Set when the run was found by the symbol's own volatility (lib/quality/move-scale.ts), not the fixed limit. */
  scale?: MoveScale;
}

/** The glitch limit `policy` sets: its extremeMoveLimit, never below ONE_BAR_GLITCH_MIN_LIMIT. */
export const glitchLimit = (policy: Pick<QualityPolicy, 'extremeMoveLimit'>): number => Math.max(policy.extremeMoveLimit, ONE_BAR_GLITCH_MIN_LIMIT);

/** The limit a run of `rows` glitched bars is judged at: `limit` up to ONE_BAR_GLITCH_MAX_ROWS rows, the block limit beyond. */
export const glitchRunLimit = (limit: number, rows: number): number => (rows <= ONE_BAR_GLITCH_MAX_ROWS ? limit : Math.max(limit, ONE_BAR_GLITCH_BLOCK_LIMIT));

/**
 * Runs of bars (closes ascending by date) each beyond glitchRunLimit (`limit` for one or two, the
 * block limit for 3 to ONE_BAR_GLITCH_MAX_BLOCK_ROWS) from both the bar before the run and the bar
 * after it, those two within ONE_BAR_GLITCH_RETURN_TOLERANCE of each other and in no run. A bar is
 * in at most one run; shorter runs are found first.
 * Runs of one or two bars are also found on the symbol's own scale (lib/quality/move-scale.ts): each
 * bar beyond scaledMoveLimit of the volatility before the run from both bars around it, those two
 * within scaledReturnTolerance of each other, and no bar of the run traded ONE_BAR_GLITCH_HEAVY_VOLUME
 * times the median volume of the SPLICE_AFTER_BARS sessions before it (a spike undone is a real move;
 * the run carries its `scale`). `sigmas` and `floor` are for measuring other settings.
 */
export function glitchRuns(closes: readonly number[], limit: number, volumes?: readonly number[], kept?: GlitchRun[], sigmas = MOVE_SCALE_SIGMAS, floor = MOVE_SCALE_FLOOR): GlitchRun[] {
  const near = Math.log(1 + ONE_BAR_GLITCH_RETURN_TOLERANCE);
  const runs: GlitchRun[] = [];
  const taken = new Set<number>();
  // How many bars from each one lie beyond the block limit from the bar before it: a block can start
  // only where that many do, which in a real series is almost nowhere (read once, not per length).
  const block = Math.log(1 + glitchRunLimit(limit, ONE_BAR_GLITCH_MAX_BLOCK_ROWS));
  const reach = new Int32Array(closes.length);
  for (let first = 1; first < closes.length; first++) {
    while (reach[first] < ONE_BAR_GLITCH_MAX_BLOCK_ROWS && first + reach[first] < closes.length && Math.abs(Math.log(closes[first + reach[first]] / closes[first - 1])) > block) reach[first]++;
  }
  // The scaled test: only where a bar lies beyond the floor from the bar before it (rare), so σ is read there only.
  const floorMove = Math.log(1 + floor);
  // σ on the series as the rule reads it (ScaleBasis): without the bars found glitched so far (a glitch
  // 11 sessions before a typo switched the scaled test off for it) and across unadjusted splits (read
  // from closes and volumes, closeSplits: a 2:1 split is no move of the symbol's).
  const sigmaAt = new Map<number, { s: number; glitched: number }>();
  let splits: Map<number, number> | undefined;
  const sigmaBefore = (first: number): number => {
    const known = sigmaAt.get(first);
    if (known !== undefined && known.glitched === taken.size) return known.s;
    splits ??= volumes ? closeSplits(closes, volumes) : new Map<number, number>();
    const s = moveScaleVolatility(closes, first, { glitched: taken, splits });
    sigmaAt.set(first, { s, glitched: taken.size });
    return s;
  };
  for (let length = 1; length <= ONE_BAR_GLITCH_MAX_BLOCK_ROWS; length++) {
    const beyond = Math.log(1 + glitchRunLimit(limit, length));
    const far = (a: number, b: number): boolean => Math.abs(Math.log(a / b)) > beyond;
    for (let first = 1; first + length < closes.length; first++) {
      if (length > ONE_BAR_GLITCH_MAX_ROWS && reach[first] < length) continue;
      const last = first + length - 1;
      const before = closes[first - 1];
      const after = closes[last + 1];
      // The bars around a run are the series' level: a bar already found glitched is none (the good
      // rows between two glitched blocks are no block of their own).
      if (taken.has(first - 1) || taken.has(last + 1)) continue;
      const back = Math.abs(Math.log(after / before));
      let glitch = back <= near;
      for (let k = first; k <= last && glitch; k++) glitch = !taken.has(k) && far(closes[k], before) && far(closes[k], after);
      if (glitch) {
        if (volumes && length <= ONE_BAR_GLITCH_MAX_ROWS && heavyReversal(closes, volumes, first, last)) {
          kept?.push({ first, last });
          continue;
        }
        runs.push({ first, last });
        for (let k = first; k <= last; k++) taken.add(k);
        continue;
      }
      if (length > ONE_BAR_GLITCH_MAX_ROWS || !(Math.abs(Math.log(closes[first] / before)) > floorMove)) continue;
      const scale = scaledGlitch(closes, volumes, first, last, sigmaBefore(first), sigmas, floor, taken);
      if (scale === undefined) continue;
      runs.push({ first, last, scale });
      for (let k = first; k <= last; k++) taken.add(k);
    }
  }
  return runs.sort((a, b) => a.first - b.first);
}

/** The scale on which closes[first..last] is a glitch (glitchRuns, the scaled test), or undefined. */
function scaledGlitch(closes: readonly number[], volumes: readonly number[] | undefined, first: number, last: number, sigma: number, sigmas: number, floor: number, taken: ReadonlySet<number>): MoveScale | undefined {
  const limit = scaledMoveLimit(sigma, sigmas, floor);
  if (!Number.isFinite(limit)) return undefined;
  const before = closes[first - 1];
  const after = closes[last + 1];
  if (Math.abs(Math.log(after / before)) > scaledReturnTolerance(sigma, last - first + 1, Math.log(1 + ONE_BAR_GLITCH_RETURN_TOLERANCE))) return undefined;
  for (let k = first; k <= last; k++) {
    if (taken.has(k) || !(Math.abs(Math.log(closes[k] / before)) > limit) || !(Math.abs(Math.log(closes[k] / after)) > limit)) return undefined;
  }
  // A spike on heavy volume, or undone on heavy volume, is a real move (news, a squeeze, a rumour
  // denied): a mistyped price trades as the days around it do (ZTS 2015-06-25, +11.4% then -12.2%
  // on 8 times the volume, is kept).
  if (volumes) {
    const reference = volumes.slice(Math.max(0, first - SPLICE_AFTER_BARS), first);
    for (let k = first; k <= last + 1; k++) if (volumeMultiple(volumes[k], reference) >= ONE_BAR_GLITCH_HEAVY_VOLUME) return undefined;
  }
  return { sigma, sigmas, limit };
}

/**
 * Whether the run first..last (one or two bars) traded ONE_BAR_GLITCH_HEAVY_VOLUME times the median
 * volume of the SPLICE_AFTER_BARS bars before it and the bar after it, its reversal,
 * SPLICE_MAX_VOLUME_SPIKE times, with the move within ONE_BAR_GLITCH_HEAVY_MAX_MOVE: a real move
 * undone, not a glitch.
 */
export function heavyReversal(closes: readonly number[], volumes: readonly number[], first: number, last: number): boolean {
  if (Math.abs(Math.log(closes[first] / closes[first - 1])) > Math.log(ONE_BAR_GLITCH_HEAVY_MAX_MOVE)) return false;
  const reference = volumes.slice(Math.max(0, first - SPLICE_AFTER_BARS), first);
  return volumeMultiple(volumes[first], reference) >= ONE_BAR_GLITCH_HEAVY_VOLUME && volumeMultiple(volumes[last + 1], reference) >= SPLICE_MAX_VOLUME_SPIKE;
}

const signedPercent = (ratio: number): string => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)}%`;

/** The `one_bar_glitch` message for the bars of `run` between `before` and `after` (`limit` the glitch limit); `where` names the neighbours when they are not rows of the file. */
export function glitchMessage(before: Pick<Bar, 'date' | 'close'>, run: ReadonlyArray<Pick<Bar, 'date' | 'close'>>, after: Pick<Bar, 'date' | 'close'>, glitch: number, where = '', scale?: MoveScale): string {
  const first = run[0];
  const last = run[run.length - 1];
  if (scale !== undefined) {
    const rows = run.length === 1 ? `the row of ${first.date} is a one-bar glitch` : `the ${run.length} rows ${first.date}..${last.date} are a glitch`;
    return `close ${before.close} (${before.date}) -> ${run.map((b) => b.close).join(', ')} -> ${after.close} (${after.date})${where}: ${signedPercent(first.close / before.close)}, then ${signedPercent(after.close / last.close)}, ${describeScale(Math.log(first.close / before.close), scale)}, on no volume spike, and the bar after is back within ${signedPercent(after.close / before.close).replace(/^[+-]/, '')} of the bar before: ${rows} (a mistyped price), not a move; rejected, and a stored bar for ${run.length === 1 ? 'its date' : 'their dates'} is kept`;
  }
  const limit = glitchRunLimit(glitch, run.length);
  const block = run.length > ONE_BAR_GLITCH_MAX_ROWS;
  const rows = run.length === 1 ? `the row of ${first.date}` : `the ${run.length} rows ${first.date}..${last.date}`;
  const closes = run.length <= 6 ? run.map((b) => b.close).join(', ') : `${first.close}, … (${run.length - 2} more), ${last.close}`;
  const what = run.length === 1 ? 'is a one-bar glitch (a misplaced decimal point, a wrong price)' : block ? 'are a block off the series (prices in another unit, rows of another security, a wrong price)' : 'are a glitch (a misplaced decimal point, a wrong price)';
  return `close ${before.close} (${before.date}) -> ${closes} -> ${after.close} (${after.date})${where}: ${signedPercent(first.close / before.close)}, then ${signedPercent(after.close / last.close)}, ${block ? 'every one of the rows' : 'each'} a move beyond ×${(1 + limit).toFixed(2)} or ÷${(1 + limit).toFixed(2)} (the ${(limit * 100).toFixed(0)}% limit ${block ? `of a block of ${ONE_BAR_GLITCH_MAX_ROWS + 1} to ${ONE_BAR_GLITCH_MAX_BLOCK_ROWS} rows ` : ''}either way), and the bar after is back within ${(ONE_BAR_GLITCH_RETURN_TOLERANCE * 100).toFixed(0)}% of the bar before: ${rows} ${what}, not a move; rejected, and a stored bar for ${run.length === 1 ? 'its date' : 'their dates'} is kept`;
}

/**
 * `one_bar_glitch` findings of one symbol's rows (ascending by date, rows that passed the row rules
 * and the duplicate check), one per glitched row.
 */
export function oneBarGlitches(series: readonly CandidateBar[], policy: Pick<QualityPolicy, 'extremeMoveLimit'>): QualityIssue[] {
  const limit = glitchLimit(policy);
  const issues: QualityIssue[] = [];
  const kept: GlitchRun[] = [];
  const volumes = series.map((b) => b.volume);
  const closes = series.map((b) => b.close);
  for (const { first, last, scale } of glitchRuns(closes, limit, volumes, kept)) {
    const run = series.slice(first, last + 1);
    const message = glitchMessage(series[first - 1], run, series[last + 1], limit, '', scale);
    for (const b of run) issues.push(issue('one_bar_glitch', { symbol: b.symbol, date: b.date, source: b.source, line: b.line, raw: b.raw, message }));
  }
  // A real move undone on heavy volume: kept, and flagged with what kept it.
  for (const { first, last } of kept) {
    const reference = volumes.slice(Math.max(0, first - SPLICE_AFTER_BARS), first);
    const [before, bar, after] = [series[first - 1], series[first], series[last + 1]];
    const message = `close ${before.close} (${before.date}) -> ${series.slice(first, last + 1).map((b) => b.close).join(', ')} -> ${after.close} (${after.date}): ${signedPercent(bar.close / before.close)}, then ${signedPercent(after.close / series[last].close)}, undone the next session as a glitch is, but on heavy volume (${volumeMultiple(bar.volume, reference).toFixed(1)} and ${volumeMultiple(after.volume, reference).toFixed(1)} times the median of the ${reference.length} sessions before): a real move reversed, not a data error; kept`;
    for (const b of series.slice(first, last + 1)) issues.push(issue('extreme_move', { symbol: b.symbol, date: b.date, source: b.source, line: b.line, raw: b.raw, message }));
  }
  return issues;
}

/**
 * `next_session_leak`: bars that carry the next session's prices. A daily bar whose high and low span
 * two sessions (high_t = max(high_t, high_t+1), a vendor's time-zone slip or a look-ahead written into
 * the file) stays OHLC-consistent, so no row rule sees it, and the point-in-time audit recomputes
 * features from the same bars; yet a model reading the range learns tomorrow's. Its trace: bar t+1
 * lies inside bar t's range and shares its high or low ("touches"), which clean data shows only where
 * prices coincide at a tick. The base rate depends on the tick and the price level, so the series
 * is its own control: touches two bars apart (t+2 inside t, sharing an extreme) are not made by the
 * smear and scale with the tick the same way. In the 382 real S&P 500 files, pooled, next-bar touches
 * are 1.86 times as frequent as two-bar ones (a bar is nearer the next one than the one after);
 * NEXT_SESSION_TOUCH_RATIO (2) is the null, and the series is flagged when its next-bar touches are
 * beyond it with a one-sided binomial p below NEXT_SESSION_MAX_P and in excess of it on at least
 * NEXT_SESSION_MIN_EXCESS of the bars (so a very long clean series with a slightly higher ratio is not
 * flagged on significance alone). Measured: no clean file flagged (lowest p 0.036, largest excess
 * 1.9%); with the smear on 25% of days 378 of 382 flagged, on 10% 367, on 5% 236 (short
 * series cannot reach the threshold). Exact copies of the previous bar are left out (stale_close's
 * business, and no range of the next session).
 */
export const NEXT_SESSION_TOUCH_RATIO = 2;
export const NEXT_SESSION_MAX_P = 1e-6;
export const NEXT_SESSION_MIN_EXCESS = 0.01;

/** Bars t with bar t+lag inside bar t's range and sharing its high or its low (not an exact copy). */
function rangeTouches(series: readonly CandidateBar[], lag: number): number {
  let k = 0;
  for (let t = 0; t + lag < series.length; t++) {
    const a = series[t];
    const b = series[t + lag];
    if (a.open === b.open && a.high === b.high && a.low === b.low && a.close === b.close) continue;
    if (b.high <= a.high && b.low >= a.low && (b.high === a.high || b.low === a.low)) k++;
  }
  return k;
}

export interface NextSessionEvidence {
  /** Bars whose next bar lies inside their range and shares its high or low. */
  nextTouches: number;
  /** The same, two bars on (the series' own control). */
  laterTouches: number;
  /** One-sided binomial p of nextTouches among both under NEXT_SESSION_TOUCH_RATIO. */
  pValue: number;
  /** (nextTouches - ratio × laterTouches) / (bars - 1): the share of bars in excess of the control. */
  excess: number;
  leaks: boolean;
}

export function nextSessionEvidence(series: readonly CandidateBar[]): NextSessionEvidence {
  const nextTouches = rangeTouches(series, 1);
  const laterTouches = rangeTouches(series, 2);
  const r = NEXT_SESSION_TOUCH_RATIO;
  const pValue = binomialUpperTail(nextTouches, nextTouches + laterTouches, r / (1 + r));
  const excess = series.length < 2 ? 0 : (nextTouches - r * laterTouches) / (series.length - 1);
  return { nextTouches, laterTouches, pValue, excess, leaks: pValue < NEXT_SESSION_MAX_P && excess >= NEXT_SESSION_MIN_EXCESS };
}

/**
 * A level break that no trade explains: two securities (or two price units, cents after dollars)
 * spliced in time inside one series. Measured on the 382 real S&P 500 files: of the 19 days whose
 * close moved beyond 35%, every one that kept its new level either traded on a volume spike (the
 * day's volume at least 1.5 times the median of the next SPLICE_AFTER_BARS bars: earnings, news) or
 * moved by a split ratio (DISCK 2014-08-07, LNT 2016-05-20); where one security's bars are followed
 * by another's, the first bar after the seam is an ordinary day of the second. So the move into
 * bar i is a splice when it is beyond the extreme-move limit as a factor either way (×/÷1.35), within 4% of no split ratio (n:1 or 1:n up to 50, 3:2, 4:3, 5:4 and their reverses) with the traded value carrying on, keeps its
 * level (the median of the SPLICE_AFTER_BARS closes from i is beyond SPLICE_LEVEL_KEPT of the move,
 * the same way), and the bar's volume is under SPLICE_MAX_VOLUME_SPIKE times the median volume of
 * the SPLICE_AFTER_BARS bars after it, and the SPLICE_BEFORE_BARS closes before it lie on the old level. Planted at random days into pairs of the real files (one
 * security's bars up to the day, another's after), 62.6% of 2,755 splices are found, no real series
 * is; the rest join two securities of similar price, which this cannot tell. Without volumes (an
 * index) or without SPLICE_AFTER_BARS bars after the move, nothing is said (the extreme_move flag
 * stays).
 */
export const SPLICE_AFTER_BARS = 20;
export const SPLICE_MAX_VOLUME_SPIKE = 1.5;
export const SPLICE_LEVEL_KEPT = 0.7;
/** Bars before the move that must all lie on its far side (in a file; the stored bars before a seam are trusted). */
export const SPLICE_BEFORE_BARS = 5;
const SPLICE_SPLIT_TOLERANCE = 0.04;
/** A move by a split ratio whose traded value (close × median volume) stays within ×/÷ this is a split, not a splice. */
const SPLICE_SPLIT_VALUE_FACTOR = 3;

/** Why the move into `series[i]` is a splice of two series (see above), or undefined. */
/** Price unit factors a series may step by (cents and dollars, a misplaced point): within 15% of ×/÷100 or ×/÷1000. */
const UNIT_STEPS = [100, 1000];
function unitStep(ratio: number): number | undefined {
  for (const u of UNIT_STEPS) for (const f of [u, 1 / u]) if (Math.abs(Math.log(ratio / f)) < Math.log(1.15)) return f;
  return undefined;
}

export function spliceFinding(series: readonly Bar[], i: number, limit: number, before = SPLICE_BEFORE_BARS): string | undefined {
  if (i < Math.max(1, before) || i + SPLICE_AFTER_BARS >= series.length) return undefined;
  const prev = series[i - 1];
  const bar = series[i];
  const ratio = bar.close / prev.close;
  // Beyond the limit as a factor either way (×1.35 or ÷1.35), as one_bar_glitch measures moves.
  if (!(prev.close > 0) || !(Math.abs(Math.log(ratio)) > Math.log(1 + limit))) return undefined;
  // The old level must hold before the move too: a file's first row glitched (no bar before it in the
  // file; one_bar_glitch judges it with the stored bars) moves once into the true level.
  const move0 = Math.log(ratio);
  if (series.slice(i - before, i).some((b) => !(b.close > 0) || Math.sign(Math.log(bar.close / b.close)) !== Math.sign(move0) || Math.abs(Math.log(bar.close / b.close)) < SPLICE_LEVEL_KEPT * Math.abs(move0))) return undefined;
  const after = series.slice(i + 1, i + 1 + SPLICE_AFTER_BARS);
  const afterVolume = medianOf(after.map((b) => b.volume));
  // A split moves the share count by the inverse ratio, so the traded value (price × volume) carries
  // on; another security's traded value is its own.
  const beforeVolume = medianOf(series.slice(Math.max(0, i - SPLICE_AFTER_BARS), i).map((b) => b.volume));
  if (nearestSplit(ratio, SPLICE_SPLIT_TOLERANCE, ALL_SPLITS) !== undefined && Math.abs(Math.log((ratio * afterVolume) / beforeVolume)) < Math.log(SPLICE_SPLIT_VALUE_FACTOR)) return undefined;
  // ×100 or ×1000 (or the inverse), held: dollars and cents, or a misplaced point; no day's trading
  // moves a price so (the largest close-to-close move in the 382 real files is ÷2.7), heavy volume or not.
  const units = unitStep(ratio);
  if (units === undefined && (!(bar.volume > 0) || !(afterVolume > 0) || bar.volume >= SPLICE_MAX_VOLUME_SPIKE * afterVolume)) return undefined;
  const level = medianOf(series.slice(i, i + SPLICE_AFTER_BARS).map((b) => b.close)) / prev.close;
  const move = Math.log(ratio);
  if (Math.sign(Math.log(level)) !== Math.sign(move) || Math.abs(Math.log(level)) < SPLICE_LEVEL_KEPT * Math.abs(move)) return undefined;
  if (units !== undefined) {
    return (
      `close ${prev.close} (${prev.date}) -> ${bar.close} (${bar.date}), ×${ratio.toPrecision(4)}, about ${units >= 1 ? `×${units}` : `÷${Math.round(1 / units)}`}, and the series stays there (median of the ${SPLICE_AFTER_BARS} closes from ${bar.date}: ${level.toPrecision(4)} times ${prev.close}): another price unit (cents and dollars) from ${bar.date} on, not trading, whatever the day's volume (${bar.volume}); ` +
      `the series is rejected whole and nothing of it is published: import one security's bars in one unit`
    );
  }
  return (
    `close ${prev.close} (${prev.date}) -> ${bar.close} (${bar.date}), ×${ratio.toPrecision(4)}, and the series stays there (median of the ${SPLICE_AFTER_BARS} closes from ${bar.date}: ${level.toPrecision(4)} times ${prev.close}), ` +
    `yet that day traded ${bar.volume}, no more than an ordinary day after it (median ${afterVolume}), and no split ratio fits: a move that size trades on a volume spike, so the bars before and after ${bar.date} look like two securities, or two price units (cents and dollars), spliced into one series; ` +
    `the series is rejected whole and nothing of it is published: import one security's bars on one basis`
  );
}

/**
 * `price_unit_change`: a step of every price by a power of ten (×10^k, k ≠ 0: cents after dollars,
 * dollars after cents, a misplaced decimal point applied from a row on) whose share volume did not
 * move by the inverse, as a split's would. series_splice (above) judges such a step only with
 * SPLICE_AFTER_BARS bars after it, so a file whose last rows (or a daily update of a few rows) were
 * in cents was published with an extreme_move flag, its bars the newest in the store. This needs no
 * bars after the step: the move into `series[i]` is one when
 * - the open, high, low and close of `series[i]` all lie within ×/÷UNIT_CHANGE_PRICE_TOLERANCE of
 *   10^k times the close before (every price moved by the one factor; a row with one field slipped
 *   is price_field_glitch's);
 * - the UNIT_CHANGE_BEFORE_BARS closes before it (or as many as there are) lie on the old level (nearer
 *   it than the new one): the step is from there, not out of a glitch;
 * - the file declares no split of that power on the step's date (`declaredSplits`: a split column's
 *   shares multiplier, 0.1 for a 1:10 reverse split, by date);
 * - the volume did not move by the inverse: the median volume from `series[i]` on (up to
 *   UNIT_CHANGE_VOLUME_BARS bars, while the closes stay at the new level) against the median of the
 *   UNIT_CHANGE_VOLUME_BARS before it did not come within ×/÷√10 of the split's inverse from the side
 *   of no change (a 1:10 reverse split moves the price ×10 and the volume ÷10: less than ÷√10, halfway
 *   on the log scale, is no split; a 1:100 one moves it ÷100: less than ÷31.6 is none, so a quiet day
 *   at a tenth of the volume excuses no ×100). Only that direction counts: a row in cents whose volume
 *   was scaled with it (×100), or moved the same way on a busy day, is no split;
 * - for a step of ×/÷10 only, the step's own session traded under UNIT_CHANGE_NEWS_VOLUME times the
 *   median volume before it: a penny stock that really goes ×10 (or a crash ÷10) on news trades tens
 *   of times its usual volume that day, however its volume settles after (the move is then kept, with
 *   its extreme_move flag). The bound is twice the step, so a row scaled whole (prices and volume
 *   ×10) stays a unit change. A step of ×/÷100 or more is no market move, whatever the volume.
 * Without volumes on either side only a step of ×/÷100 or more counts (nothing trades so, nor does a
 * 1:100 reverse split happen unannounced in an index); a ×/÷10 step with no volume stays ambiguous
 * (a 1:10 reverse split of a series without volumes looks the same) and is only flagged extreme_move.
 * When the step is near the start of the series (at most UNIT_CHANGE_BEFORE_BARS bars before it, all
 * there are) and more bars follow it on the new level than stand before it, the few leading bars are
 * the ones off (a first row in cents): the message names them and their unit. The series is still
 * rejected whole.
 * The largest close-to-close move in the 382 real S&P 500 files is ÷2.7, so no real session comes near
 * the price test; their two unadjusted splits (2:1 and 1:2 reverse) are no power of ten.
 */
export const UNIT_CHANGE_PRICE_TOLERANCE = 1.25;
export const UNIT_CHANGE_BEFORE_BARS = 5;
export const UNIT_CHANGE_VOLUME_BARS = 10;
export const UNIT_CHANGE_NEWS_VOLUME = 20;

/** The power of ten (k) every price of `bar` moved by from the close `prevClose`, within UNIT_CHANGE_PRICE_TOLERANCE, or undefined. */
function unitPower(prevClose: number, bar: Bar): number | undefined {
  if (!(prevClose > 0) || !(bar.close > 0)) return undefined;
  const k = Math.round(Math.log10(bar.close / prevClose));
  if (k === 0) return undefined;
  const level = prevClose * 10 ** k;
  const within = [bar.open, bar.high, bar.low, bar.close].every((p) => p > 0 && Math.abs(Math.log(p / level)) < Math.log(UNIT_CHANGE_PRICE_TOLERANCE));
  return within ? k : undefined;
}

/** What rows ×10^k (k ≠ 0) against their neighbours' unit hold. */
const unitName = (k: number): string => (k === 2 ? 'cents' : k === -2 ? 'dollars after cents' : 'other units');

/**
 * Why the move into `series[i]` (ascending by date) is a change of price unit (see above), or
 * undefined. `declaredSplits`: the shares multiplier a file's split column states, by date.
 */
export function unitChangeFinding(series: readonly Bar[], i: number, declaredSplits?: ReadonlyMap<string, number>, origin: 'file' | 'stream' = 'file'): string | undefined {
  if (i < 1 || i >= series.length) return undefined;
  const prev = series[i - 1];
  const bar = series[i];
  const k = unitPower(prev.close, bar);
  if (k === undefined) return undefined;
  const factor = 10 ** k;
  // A split the file declares on that day, of that power (0.1 shares for ×10 prices).
  const declared = declaredSplits?.get(bar.date);
  if (declared !== undefined && declared > 0 && Math.round(-Math.log10(declared)) === k) return undefined;
  // Nearer the old level than the new one (log midpoint): the closes before the step stood there.
  const midway = Math.log(factor) / 2;
  const before = series.slice(Math.max(0, i - UNIT_CHANGE_BEFORE_BARS), i);
  if (before.some((b) => !(b.close > 0) || Math.abs(Math.log(b.close / prev.close)) >= Math.abs(midway))) return undefined;
  const after: Bar[] = [];
  for (let j = i; j < series.length && after.length < UNIT_CHANGE_VOLUME_BARS; j++) {
    if (!(series[j].close > 0) || Math.abs(Math.log(series[j].close / bar.close)) >= Math.abs(midway)) break;
    after.push(series[j]);
  }
  const volumesBefore = series.slice(Math.max(0, i - UNIT_CHANGE_VOLUME_BARS), i).map((b) => b.volume).filter((v) => v > 0);
  const volumesAfter = after.map((b) => b.volume).filter((v) => v > 0);
  const unit = k > 0 ? `×${factor}` : `÷${Math.round(1 / factor)}`;
  const head = `close ${prev.close} (${prev.date}) -> ${bar.close} (${bar.date}), ×${(bar.close / prev.close).toPrecision(4)}, about ${unit}, with open ${bar.open}, high ${bar.high} and low ${bar.low} moved alike`;
  // The few first bars of the series off, the rest on the step's level: those are named.
  const leading = i === before.length && i < after.length;
  const rows = (n: number, from: string) => (n === 1 ? `the row of ${from} looks` : `the ${n} rows from ${from} look`);
  const off = leading ? `${i === 1 ? `the first row, of ${series[0].date}, looks` : `the first ${i} rows, from ${series[0].date}, look`} like prices in ${unitName(-k)} beside the rows from ${bar.date} on` : `${rows(after.length, bar.date)} like prices in ${unitName(k)}`;
  const kept = `${off} (or a misplaced decimal point), not a market move; ${origin === 'file' ? "the series is rejected whole and nothing of it is published: import one security's bars in one price unit" : 'the bars from the step on are rejected and the stored bars kept: send the bars in the stored unit (a real split: import it with its split declared)'}`;
  if (volumesBefore.length === 0 || volumesAfter.length === 0) {
    if (Math.abs(k) < 2) return undefined;
    return `${head}, and no volume to tell a split by, but no session trades ${unit}: ${kept}`;
  }
  const volumeBefore = medianOf(volumesBefore);
  const volumeAfter = medianOf(volumesAfter);
  const moved = volumeAfter / volumeBefore;
  // Within ×/÷√10 of the split's inverse (÷10^k), from the side of no change: halfway for ×/÷10.
  if (-Math.sign(k) * Math.log10(moved) >= Math.abs(k) - 0.5) return undefined;
  // A real ×/÷10 day: its own session trades many times the usual volume (news).
  const dayVolume = bar.volume / volumeBefore;
  if (Math.abs(k) === 1 && dayVolume >= UNIT_CHANGE_NEWS_VOLUME) return undefined;
  const volumes = `volume ${volumeBefore} (median of the ${plural(volumesBefore.length, 'bar')} before) -> ${volumeAfter} (median of ${volumesAfter.length === 1 ? 'that bar' : `the ${volumesAfter.length} bars from it`}), ×${moved.toPrecision(3)}`;
  const split = `a ${k > 0 ? `1:${factor} reverse split` : `${Math.round(1 / factor)}:1 split`} would have moved it ${k > 0 ? `÷${factor}` : `×${Math.round(1 / factor)}`}, and ${origin === 'file' ? 'the file declares none' : 'a stream declares no splits'}`;
  const news = Math.abs(k) === 1 ? `, and the day traded ×${dayVolume.toPrecision(3)} the volume before (a real ×10 day on news trades ${UNIT_CHANGE_NEWS_VOLUME} times or more)` : '';
  return `${head}, ${volumes}: the volume did not move by the inverse (${split})${news}, so no split; ${kept}`;
}

/**
 * Bars of another interval (weekly, monthly) in the daily store. Each is stored as the bar of its
 * date and read as one session by every feature: a weekly bar's open, high, low and volume are the
 * week's, a return between two of them five sessions', and a weekly bar dated on the week's first
 * session holds that week's later closes. So a series of BAR_INTERVAL_MIN_BARS or more bars whose
 * consecutive bars lie a median of BAR_INTERVAL_MAX_MEDIAN_SESSIONS NYSE sessions apart or more is
 * rejected whole. Real daily files are a session apart (median 1 in each of the 382 S&P 500 files);
 * weekly bars are 5 apart, monthly about 21. An update of a few rows is not judged.
 */
export const BAR_INTERVAL_MIN_BARS = 5;
export const BAR_INTERVAL_MAX_MEDIAN_SESSIONS = 3;

/** Why a symbol's bars (ascending by date) are not daily bars, or undefined. */
export function barIntervalFinding(series: readonly Bar[]): string | undefined {
  if (series.length < BAR_INTERVAL_MIN_BARS) return undefined;
  const gaps: number[] = [];
  for (let i = 1; i < series.length; i++) gaps.push(countNyseTradingDaysBetween(series[i - 1].date, series[i].date) - 1);
  const median = medianOf(gaps);
  if (median < BAR_INTERVAL_MAX_MEDIAN_SESSIONS) return undefined;
  const what = median >= 15 ? 'monthly' : median >= 4 ? 'weekly' : 'not daily';
  return `its ${series.length} bars (${series[0].date}..${series[series.length - 1].date}) lie a median of ${median} NYSE sessions apart, not one: bars of another interval (${what}) stored as daily bars would give each a session's place, with the open, high, low and volume of several and returns over several; the series is rejected whole: import daily bars`;
}

/** Separate runs of missing sessions that any SPARSE_SERIES_WINDOW sessions of a symbol's file may hold (policy.maxSessionGaps). */
export const SPARSE_SERIES_MAX_GAPS = 4;
export const SPARSE_SERIES_WINDOW = 60;

/**
 * A file whose series skips sessions here and there is not a daily series: a row is labelled only
 * when every session of its horizon is stored, so the rows left are those whose windows missed
 * every dropped session, and a file without a symbol's down days (10 of 26 sessions missing, in 6
 * runs) gave it only rising labels while passing with calendar_gap flags. In the 382 real S&P 500
 * files, no 60 sessions hold more than 2 such runs (5 files hold any). Sessions whose row is in the
 * file but was rejected are not missing (their rows are counted against the file's bad-row share).
 */
export function sparseSeriesFinding(dates: readonly string[], rejectedDates: ReadonlySet<string>, maxGaps: number): string | undefined {
  if (dates.length < 2) return undefined;
  const present = rejectedDates.size === 0 ? dates : [...new Set([...dates, ...[...rejectedDates].filter((d) => d > dates[0] && d < dates[dates.length - 1])])].sort();
  const gaps = missingNyseTradingDays(present);
  if (gaps.length <= maxGaps) return undefined;
  // Each run's place in sessions from the first bar; the window slides over those places.
  const at = gaps.map((g) => countNyseTradingDaysBetween(present[0], g.from));
  for (let i = 0, j = 0; j < at.length; j++) {
    while (at[j] - at[i] >= SPARSE_SERIES_WINDOW) i++;
    if (j - i + 1 > maxGaps) {
      const runs = gaps.slice(i, j + 1);
      const missing = runs.reduce((sum, g) => sum + g.days, 0);
      return `${runs.length} separate runs of missing NYSE sessions (${missing} sessions, ${runs.map((g) => (g.days === 1 ? g.from : `${g.from}..${g.to}`)).join(', ')}) within ${SPARSE_SERIES_WINDOW} sessions, more than the ${maxGaps} allowed (maxSessionGaps): a series with sessions dropped here and there labels only the rows whose horizons missed them, so its labels are a selection (a file without its down days labels only rises); the series is rejected whole: import the complete daily series, or raise maxSessionGaps for a universe of thinly traded securities`;
    }
  }
  return undefined;
}

/**
 * Series-level rules on one symbol's accepted bars, ascending by date; `rejectedDates`: the dates of
 * that symbol's rows in the input that were rejected; `undatedRejections`: its rejected rows whose
 * date could not be read (each may fill one missing session).
 */
export function seriesIssues(series: readonly CandidateBar[], policy: QualityPolicy, rejectedDates: ReadonlySet<string> = new Set(), undatedRejections = 0): QualityIssue[] {
  if (series.length === 0) return [];
  const symbol = series[0].symbol;
  const issues: QualityIssue[] = [];
  const at = (b: CandidateBar) => ({ symbol, date: b.date, source: b.source, line: b.line, raw: b.raw });

  if (series.length < policy.minHistoryBars) {
    issues.push(
      issue('short_series', {
        symbol,
        date: series[0].date,
        source: series[0].source,
        line: null,
        raw: null,
        message: `${plural(series.length, 'bar')}, the feature look-back needs ${policy.minHistoryBars}`,
      }),
    );
  }

  for (const gap of missingNyseTradingDays(series.map((b) => b.date))) {
    const after = series.find((b) => b.date > gap.from) ?? series[0];
    issues.push(
      issue('calendar_gap', {
        symbol,
        date: gap.from,
        source: after.source,
        line: null,
        raw: null,
        message: gap.days === 1 ? `trading day ${gap.from} missing` : `${gap.days} trading days missing ${gap.from}..${gap.to}`,
      }),
    );
  }

  // The symbol's volatility before bar i, read only for moves beyond the scaled rule's floor.
  const closes = series.map((b) => b.close);
  const floor = Math.log(1 + MOVE_SCALE_FLOOR);
  // Measured across unadjusted splits, as glitchRuns measures it (the glitched rows are not in the series).
  let splits: Map<number, number> | undefined;
  const sigmaBefore = (i: number): number => (Math.abs(Math.log(closes[i] / closes[i - 1])) > floor ? moveScaleVolatility(closes, i, { splits: (splits ??= closeSplits(closes, series.map((b) => b.volume))) }) : Number.NaN);
  let runStart = 0;
  for (let i = 1; i <= series.length; i++) {
    const prev = series[i - 1];
    if (i < series.length) {
      const bar = series[i];
      const extreme = extremeMoveMessage(prev.close, bar.close, policy.extremeMoveLimit, sigmaBefore(i));
      if (extreme !== undefined) issues.push(issue('extreme_move', { ...at(bar), message: extreme }));
      const split = splitFinding(series, i);
      if (split !== undefined) issues.push(issue('unadjusted_split', { ...at(bar), message: split }));
      const splice = spliceFinding(series, i, policy.extremeMoveLimit);
      if (splice !== undefined) issues.push(issue('series_splice', { ...at(bar), message: splice }));
      if (bar.close === series[runStart].close) continue;
    }
    const runLength = i - runStart;
    if (runLength >= policy.staleCloseDays) {
      const first = series[runStart];
      issues.push(
        issue('stale_close', {
          ...at(first),
          message: `close stayed ${first.close} for ${runLength} bars (${first.date}..${prev.date})`,
        }),
      );
    }
    runStart = i;
  }

  const interval = barIntervalFinding(series);
  if (interval !== undefined) issues.push(issue('bar_interval', { symbol, date: series[0].date, source: series[series.length - 1].source, line: null, raw: null, message: interval }));
  else {
    const sparse = sparseSeriesFinding(series.map((b) => b.date), rejectedDates, (policy.maxSessionGaps ?? SPARSE_SERIES_MAX_GAPS) + undatedRejections);
    if (sparse !== undefined) issues.push(issue('sparse_series', { symbol, date: series[0].date, source: series[series.length - 1].source, line: null, raw: null, message: sparse }));
  }

  const leak = nextSessionEvidence(series);
  if (leak.leaks) {
    const last = series[series.length - 1];
    issues.push(
      issue('next_session_leak', {
        symbol,
        date: series[0].date,
        source: last.source,
        line: null,
        raw: null,
        message: `its bars carry the next session's prices: on ${leak.nextTouches} of ${series.length - 1} bars the next bar lies inside the bar's range and shares its high or low, against ${leak.laterTouches} two bars on (clean data: about ${NEXT_SESSION_TOUCH_RATIO} to 1; p ${leak.pValue.toExponential(1)}, ${(leak.excess * 100).toFixed(1)}% of bars in excess), as when each day's high and low include the next day's; the series is rejected whole`,
      }),
    );
  }
  return issues;
}
