/**
 * The NYSE calendar, computed from the exchange's rules, so no network or yearly table is needed:
 * full-day closures (nyseHolidays) and each trading day's close time (nyseCloseTime), 16:00 US
 * Eastern or 13:00 on the scheduled early closes (nyseEarlyCloses).
 *
 * Scope: the holiday rules are those in force since 1998 (MLK Day added). The one-off closure table
 * starts in 2001, so earlier years can miss ad-hoc closures, and future ad-hoc closures must be added
 * to ONE_OFF_CLOSURES. Early closes follow the rules with the years they started (below), and the
 * one-off early closes from 1996 on (ONE_OFF_EARLY_CLOSES); earlier ones are not modelled.
 */
import { addDays, formatIsoDate, fromEpochDay, isIsoDate, parseIsoDate, toEpochDay, weekdayOf } from './dates';
import { lowerBound, upperBound } from '../sorted';
import { memoize } from '../memo';

/** Unscheduled closures (events, national days of mourning) that no rule predicts. */
const ONE_OFF_CLOSURES: ReadonlyArray<readonly [date: string, name: string]> = [
  ['2001-09-11', 'September 11 attacks'],
  ['2001-09-12', 'September 11 attacks'],
  ['2001-09-13', 'September 11 attacks'],
  ['2001-09-14', 'September 11 attacks'],
  ['2004-06-11', 'National Day of Mourning (Ronald Reagan)'],
  ['2007-01-02', 'National Day of Mourning (Gerald Ford)'],
  ['2012-10-29', 'Hurricane Sandy'],
  ['2012-10-30', 'Hurricane Sandy'],
  ['2018-12-05', 'National Day of Mourning (George H.W. Bush)'],
  ['2025-01-09', 'National Day of Mourning (Jimmy Carter)'],
];

/**
 * Unscheduled early closes (close time, US Eastern) that no rule predicts, from 1996 on. Source:
 * pandas_market_calendars (holidays/nyse.py and its per-year tests), which follows the NYSE's
 * history of closings.
 */
const ONE_OFF_EARLY_CLOSES: ReadonlyArray<readonly [date: string, close: string, name: string]> = [
  ['1996-01-08', '14:00', 'Snowstorm'],
  ['1996-12-24', '13:00', 'Christmas Eve'],
  ['1997-10-27', '15:30', 'Circuit breaker'],
  ['1997-12-24', '13:00', 'Christmas Eve'],
  ['1997-12-26', '13:00', 'Day after Christmas'],
  ['1998-12-24', '13:00', 'Christmas Eve'],
  ['2003-12-26', '13:00', 'Day after Christmas'],
  ['2005-06-01', '15:56', 'Systems communication problem'],
];

/** The regular close, US Eastern time. */
export const NYSE_REGULAR_CLOSE = '16:00';
/** The close of the scheduled early closes (half days), US Eastern time. */
export const NYSE_EARLY_CLOSE = '13:00';

const MIN_YEAR = 1;
const MAX_YEAR = 9999;

function assertYear(year: number): void {
  if (!Number.isInteger(year) || year < MIN_YEAR || year > MAX_YEAR) {
    throw new RangeError(`Year must be an integer in ${MIN_YEAR}..${MAX_YEAR}, got ${year}`);
  }
}

/** Easter Sunday by the anonymous Gregorian (Meeus/Jones/Butcher) algorithm. */
export function easterSunday(year: number): string {
  assertYear(year);
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return formatIsoDate(year, month, day);
}

/** n-th (1-based) given weekday of a month. */
function nthWeekday(year: number, month: number, weekday: number, n: number): string {
  const first = formatIsoDate(year, month, 1);
  const offset = (weekday - weekdayOf(first) + 7) % 7;
  return addDays(first, offset + (n - 1) * 7);
}

function lastWeekday(year: number, month: number, weekday: number): string {
  const nextMonthFirst = month === 12 ? formatIsoDate(year + 1, 1, 1) : formatIsoDate(year, month + 1, 1);
  const last = addDays(nextMonthFirst, -1);
  return addDays(last, -((weekdayOf(last) - weekday + 7) % 7));
}

/** Saturday holidays close the Friday before, Sunday holidays the Monday after. */
function observedSatFriSunMon(iso: string): string {
  const wd = weekdayOf(iso);
  return wd === 6 ? addDays(iso, -1) : wd === 0 ? addDays(iso, 1) : iso;
}

const MONDAY = 1;
const TUESDAY = 2;
const WEDNESDAY = 3;
const THURSDAY = 4;

function computeHolidays(year: number): Map<string, string> {
  const out = new Map<string, string>();
  const add = (date: string, name: string): void => {
    const existing = out.get(date);
    out.set(date, existing === undefined ? name : `${existing}; ${name}`);
  };

  // NYSE Rule 7.2: a Saturday New Year's Day is not moved to Friday Dec 31 (year-end accounting).
  const newYear = formatIsoDate(year, 1, 1);
  const newYearWd = weekdayOf(newYear);
  if (newYearWd === 0) add(addDays(newYear, 1), "New Year's Day (observed)");
  else if (newYearWd !== 6) add(newYear, "New Year's Day");

  if (year >= 1998) add(nthWeekday(year, 1, MONDAY, 3), 'Martin Luther King Jr. Day');
  add(nthWeekday(year, 2, MONDAY, 3), "Washington's Birthday");
  add(addDays(easterSunday(year), -2), 'Good Friday');
  add(lastWeekday(year, 5, MONDAY), 'Memorial Day');
  if (year >= 2022) add(observedSatFriSunMon(formatIsoDate(year, 6, 19)), 'Juneteenth National Independence Day');
  add(observedSatFriSunMon(formatIsoDate(year, 7, 4)), 'Independence Day');
  add(nthWeekday(year, 9, MONDAY, 1), 'Labor Day');
  add(nthWeekday(year, 11, THURSDAY, 4), 'Thanksgiving Day');
  add(observedSatFriSunMon(formatIsoDate(year, 12, 25)), 'Christmas Day');

  const prefix = `${String(year).padStart(4, '0')}-`;
  for (const [date, name] of ONE_OFF_CLOSURES) if (date.startsWith(prefix)) add(date, name);

  // Ascending iteration order is friendlier for callers that print the map.
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export interface EarlyClose {
  /** HH:MM, US Eastern. */
  close: string;
  name: string;
}

/**
 * The NYSE's scheduled 13:00 closes, by the rules the exchange announces each year (its yearly
 * holiday and early-closings calendar, e.g. the 2025-2027 and 2026-2028 announcements), with the
 * years the rules started as pandas_market_calendars dates them:
 * - the day after Thanksgiving (since 1993);
 * - the day before Independence Day, July 3, when it is a Monday, Tuesday or Thursday (since 1995)
 *   or a Wednesday (since 2013: 2013-07-03; from 1996 to 2012 a Thursday July 4 had its early close
 *   on Friday July 5 instead, 2002-07-05). A Saturday July 4 is observed on Friday July 3 (closed),
 *   a Sunday one on Monday July 5: no early close then (2009, 2015, 2020, 2026; 2004, 2010, 2021,
 *   2027), nor when July 4 is a Monday;
 * - Christmas Eve, Monday to Thursday (since 1999; on a Friday it is the observed Christmas).
 * Only trading days: a rule's date that is a full closure stays closed.
 */
function computeEarlyCloses(year: number): Map<string, EarlyClose> {
  const out = new Map<string, EarlyClose>();
  const add = (date: string, close: string, name: string): void => {
    if (isNyseTradingDay(date)) out.set(date, { close, name });
  };
  if (year >= 1993) add(addDays(nthWeekday(year, 11, THURSDAY, 4), 1), NYSE_EARLY_CLOSE, 'Day after Thanksgiving');
  const july3 = formatIsoDate(year, 7, 3);
  const july3Wd = weekdayOf(july3);
  if (year >= 1995 && (july3Wd === MONDAY || july3Wd === TUESDAY || july3Wd === THURSDAY)) add(july3, NYSE_EARLY_CLOSE, 'Day before Independence Day');
  if (july3Wd === WEDNESDAY) {
    if (year >= 2013) add(july3, NYSE_EARLY_CLOSE, 'Day before Independence Day');
    else if (year >= 1996) add(formatIsoDate(year, 7, 5), NYSE_EARLY_CLOSE, 'Day after Independence Day');
  }
  const christmasEve = formatIsoDate(year, 12, 24);
  const christmasEveWd = weekdayOf(christmasEve);
  if (year >= 1999 && christmasEveWd >= MONDAY && christmasEveWd <= THURSDAY) add(christmasEve, NYSE_EARLY_CLOSE, 'Christmas Eve');

  const prefix = `${String(year).padStart(4, '0')}-`;
  for (const [date, close, name] of ONE_OFF_EARLY_CLOSES) if (date.startsWith(prefix)) add(date, close, name);
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

const holidaysOf = memoize(computeHolidays);
const earlyClosesOf = memoize(computeEarlyCloses);

/** Full-day closures falling in `year` (date -> holiday name), ascending. Every observed date lies in `year` itself. */
export function nyseHolidays(year: number): ReadonlyMap<string, string> {
  assertYear(year);
  return holidaysOf(year);
}

export function isNyseTradingDay(iso: string): boolean {
  const wd = weekdayOf(iso);
  if (wd === 0 || wd === 6) return false;
  return !nyseHolidays(parseIsoDate(iso).year).has(iso);
}

/** Trading days of `year` that close before 16:00 (date -> close time and reason), ascending. */
export function nyseEarlyCloses(year: number): ReadonlyMap<string, EarlyClose> {
  assertYear(year);
  return earlyClosesOf(year);
}

/** The close of trading day `iso` (HH:MM, US Eastern: 16:00, or earlier on an early close); undefined when the exchange is closed. */
export function nyseCloseTime(iso: string): string | undefined {
  if (!isNyseTradingDay(iso)) return undefined;
  return nyseEarlyCloses(parseIsoDate(iso).year).get(iso)?.close ?? NYSE_REGULAR_CLOSE;
}

const HH_MM = /^([01]\d|2[0-3]):[0-5]\d$/;

/**
 * The first trading day whose close comes after `time` (HH:MM, US Eastern) on `date`: `date` itself
 * when it is a trading day and `time` is before its close, otherwise the next trading day. At the
 * close itself the day's closing price is being set, so that counts as after it.
 */
export function firstNyseCloseAfter(date: string, time: string): string {
  if (!HH_MM.test(time)) throw new RangeError(`Not a time of day (HH:MM): ${JSON.stringify(time)}`);
  const close = nyseCloseTime(date);
  return close !== undefined && time < close ? date : nextNyseTradingDay(date);
}

/** All trading days of a year, ascending; remembered so decade-long ranges are slices, not day-by-day checks. */
const tradingDaysOfYear = memoize((year: number): readonly string[] => {
  const holidays = nyseHolidays(year);
  const list: string[] = [];
  const start = toEpochDay(formatIsoDate(year, 1, 1));
  const end = toEpochDay(formatIsoDate(year, 12, 31));
  for (let d = start; d <= end; d++) {
    const wd = (((d + 4) % 7) + 7) % 7;
    if (wd === 0 || wd === 6) continue;
    const iso = fromEpochDay(d);
    if (!holidays.has(iso)) list.push(iso);
  }
  return list;
});

function yearSlices(from: string, to: string, visit: (days: readonly string[], start: number, end: number) => void): void {
  const fromYear = parseIsoDate(from).year;
  const toYear = parseIsoDate(to).year;
  if (from > to) return;
  for (let year = fromYear; year <= toYear; year++) {
    const days = tradingDaysOfYear(year);
    const start = year === fromYear ? lowerBound(days, from) : 0;
    const end = year === toYear ? upperBound(days, to) : days.length;
    if (end > start) visit(days, start, end);
  }
}

/** Trading days in [from, to], ascending; empty when from > to. */
export function nyseTradingDaysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  yearSlices(from, to, (days, start, end) => {
    for (let i = start; i < end; i++) out.push(days[i]);
  });
  return out;
}

export function countNyseTradingDaysBetween(from: string, to: string): number {
  let count = 0;
  yearSlices(from, to, (_days, start, end) => {
    count += end - start;
  });
  return count;
}

/** The first trading day strictly after `iso` (which need not be a trading day). */
export function nextNyseTradingDay(iso: string): string {
  let day = addDays(iso, 1);
  while (!isNyseTradingDay(day)) day = addDays(day, 1);
  return day;
}

/**
 * The `n`-th trading day strictly after `iso` (which need not be a trading day): n = 1 is
 * nextNyseTradingDay. What a horizon of n sessions from a bar dated `iso` ends on.
 */
export function nthNyseTradingDayAfter(iso: string, n: number): string {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`n must be a whole number of trading days, at least 1, got ${n}`);
  // A year has about 252 trading days in 365: 1.5 calendar days a session, plus the longest closures, is enough at once.
  for (let span = Math.ceil(n * 1.5) + 10; ; span *= 2) {
    const days = nyseTradingDaysBetween(addDays(iso, 1), addDays(iso, span));
    if (days.length >= n) return days[n - 1];
  }
}

/** The last trading day strictly before `iso`. */
export function previousNyseTradingDay(iso: string): string {
  let day = addDays(iso, -1);
  while (!isNyseTradingDay(day)) day = addDays(day, -1);
  return day;
}

export interface MissingTradingDays {
  /** first missing trading day of the run */
  from: string;
  /** last missing trading day of the run */
  to: string;
  /** number of trading days in the run */
  days: number;
}

/**
 * Runs of consecutive trading days absent from `sortedDates`, strictly between its first and last date.
 * The list must be ascending; repeated dates and non-trading dates are tolerated (they simply fill nothing).
 */
export function missingNyseTradingDays(sortedDates: readonly string[]): MissingTradingDays[] {
  for (let i = 0; i < sortedDates.length; i++) {
    const date = sortedDates[i];
    if (!isIsoDate(date)) throw new RangeError(`Not an ISO date at index ${i}: ${JSON.stringify(date)}`);
    if (i > 0 && date < sortedDates[i - 1]) {
      throw new RangeError(`Dates must be ascending: ${sortedDates[i - 1]} is followed by ${date} at index ${i}`);
    }
  }
  if (sortedDates.length < 2) return [];

  const gaps: MissingTradingDays[] = [];
  let runFrom: string | undefined;
  let runTo = '';
  let runDays = 0;
  let j = 0;
  const expected = nyseTradingDaysBetween(sortedDates[0], sortedDates[sortedDates.length - 1]);
  for (const day of expected) {
    while (j < sortedDates.length && sortedDates[j] < day) j++;
    if (j < sortedDates.length && sortedDates[j] === day) {
      if (runFrom !== undefined) gaps.push({ from: runFrom, to: runTo, days: runDays });
      runFrom = undefined;
      runDays = 0;
    } else {
      runFrom ??= day;
      runTo = day;
      runDays++;
    }
  }
  // Only reachable when the last date is not itself a trading day.
  if (runFrom !== undefined) gaps.push({ from: runFrom, to: runTo, days: runDays });
  return gaps;
}

const NEW_YORK = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/New_York', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });

/** The exchange's clock at `now`: the New York calendar date (bars are dated so) and minutes since its midnight. */
export function newYorkClock(now: Date): { date: string; minutes: number } {
  const parts = Object.fromEntries(NEW_YORK.formatToParts(now).map((p) => [p.type, p.value]));
  return { date: `${parts.year}-${parts.month}-${parts.day}`, minutes: Number(parts.hour) * 60 + Number(parts.minute) };
}
