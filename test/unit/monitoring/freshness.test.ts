import type { CalendarSpec } from '@temporalio/client';
import { MONITOR_CALENDARS, monitorCalendars } from '../../../client/schedules';
import { addDays, weekdayOf } from '../../../lib/calendar/dates';
import { newYorkClock, nyseCloseTime, nyseEarlyCloses, nyseHolidays, nyseTradingDaysBetween, previousNyseTradingDay } from '../../../lib/calendar/nyse';
import { DEFAULT_FRESHNESS_OPTIONS, freshnessOf, latestExpectedSession, tradingDaysBehind } from '../../../lib/monitoring/freshness';
import { parseMonitoringRules } from '../../../lib/monitoring/monitoring-rules';

// Instants in UTC; New York is UTC−4 in July (EDT) and UTC−5 in January (EST).
const at = (iso: string) => new Date(iso);

describe('freshness against the NYSE calendar', () => {
  it('reads the New York clock across daylight-saving time', () => {
    expect(newYorkClock(at('2024-07-08T14:00:00Z'))).toEqual({ date: '2024-07-08', minutes: 10 * 60 });
    expect(newYorkClock(at('2024-01-08T14:00:00Z'))).toEqual({ date: '2024-01-08', minutes: 9 * 60 });
    expect(newYorkClock(at('2024-07-09T03:30:00Z'))).toEqual({ date: '2024-07-08', minutes: 23 * 60 + 30 });
  });

  it('expects the session that has closed (with grace), skipping weekends and holidays', () => {
    // Monday 8 July 2024, 10:00 New York: today is not closed yet → Friday 5 July.
    expect(latestExpectedSession(at('2024-07-08T14:00:00Z'))).toBe('2024-07-05');
    // Monday 19:00 New York, past 16:00 + 2 h grace → Monday.
    expect(latestExpectedSession(at('2024-07-08T23:00:00Z'))).toBe('2024-07-08');
    // Monday 17:00: closed but inside the grace period → still Friday.
    expect(latestExpectedSession(at('2024-07-08T21:00:00Z'))).toBe('2024-07-05');
    // Sunday → Friday; Friday 5 July 2024 after Independence Day (Thursday) → Wednesday 3 July on Friday morning.
    expect(latestExpectedSession(at('2024-07-07T18:00:00Z'))).toBe('2024-07-05');
    expect(latestExpectedSession(at('2024-07-05T13:00:00Z'))).toBe('2024-07-03');
    // Good Friday 29 March 2024 evening → Thursday 28 March.
    expect(latestExpectedSession(at('2024-03-29T23:30:00Z'))).toBe('2024-03-28');
  });

  it('counts lag in trading days, so a weekend or a holiday is never staleness', () => {
    expect(tradingDaysBehind('2024-07-05', '2024-07-05')).toBe(0);
    expect(tradingDaysBehind('2024-07-08', '2024-07-05')).toBe(0);
    // Wednesday 3 July → Friday 5 July: 4 July is a holiday, so one session missing.
    expect(tradingDaysBehind('2024-07-03', '2024-07-05')).toBe(1);
    // Friday 28 June → Monday 8 July: 1, 2, 3, 5, 8 July.
    expect(tradingDaysBehind('2024-06-28', '2024-07-08')).toBe(5);
    // Thursday before Good Friday → the Monday after: one session (Monday 1 April).
    expect(tradingDaysBehind('2024-03-28', '2024-04-01')).toBe(1);
  });

  it('reports stale symbols beyond the allowed lag, worst first, and symbols without bars', () => {
    const now = at('2024-07-08T14:00:00Z'); // expects Friday 5 July
    const report = freshnessOf(
      new Map<string, string | undefined>([
        ['AAA', '2024-07-05'],
        ['BBB', '2024-07-03'], // one session behind: allowed
        ['CCC', '2024-07-01'], // 2 and 3 July, 5 July: three behind
        ['DDD', undefined],
      ]),
      now,
      { maxLagDays: 1, graceMinutes: 120 },
    );
    expect(report.status).toBe('stale');
    expect(report.expectedSession).toBe('2024-07-05');
    expect(report.staleSymbols).toBe(2);
    expect(report.stalest.map((s) => [s.symbol, s.lagDays])).toEqual([
      ['DDD', null],
      ['CCC', 3],
    ]);
    expect(report.maxLagDays).toBe(3);
    expect(report.newestBar).toBe('2024-07-05');

    // Over a long weekend nothing is stale: Saturday 6 July with Friday's bars.
    const weekend = freshnessOf(new Map([['AAA', '2024-07-05']]), at('2024-07-06T15:00:00Z'), { maxLagDays: 0, graceMinutes: 120 });
    expect(weekend.status).toBe('fresh');
    expect(freshnessOf(new Map(), now).status).toBe('unavailable');
  });
});

// ---- When is a missing session alerted? Against the monitoring schedule's own calendars. ----

/** The instant of a New York wall-clock time (`minutes` after midnight of `date`; may pass 1440). */
function newYorkInstant(date: string, minutes: number): Date {
  const day = addDays(date, Math.floor(minutes / 1440));
  const m = minutes % 1440;
  for (const offsetHours of [4, 5]) {
    const t = new Date(Date.parse(`${day}T00:00:00Z`) + (m + offsetHours * 60) * 60_000);
    const c = newYorkClock(t);
    if (c.date === day && c.minutes === m) return t;
  }
  throw new Error(`no instant for ${day} ${m} min in New York`);
}

const WEEKDAYS = ['SUNDAY', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY'];
type Range<T> = T | { start: T; end?: T; step?: number };
/** Values of a calendar field in the forms the schedules use (a value, a range, a list of them, '*'). */
function expand<T extends string | number>(field: Range<T> | Range<T>[] | '*' | undefined, all: readonly T[], fallback: T[]): T[] {
  if (field === undefined) return fallback;
  if (field === '*') return [...all];
  const out: T[] = [];
  for (const r of Array.isArray(field) ? field : [field]) {
    if (typeof r === 'object') {
      const from = all.indexOf(r.start);
      const to = all.indexOf(r.end ?? r.start);
      for (let i = from; i <= to; i += r.step ?? 1) out.push(all[i]);
    } else out.push(r);
  }
  return out;
}
const HOURS = Array.from({ length: 24 }, (_, i) => i);
const MINUTES = Array.from({ length: 60 }, (_, i) => i);
/** Every instant the calendars fire between two New York dates (inclusive), ascending. */
function firingTimes(calendars: CalendarSpec[], from: string, to: string): Date[] {
  const out: Date[] = [];
  for (let date = from; date <= to; date = addDays(date, 1)) {
    for (const c of calendars) {
      if (c.month !== undefined || c.dayOfMonth !== undefined || c.year !== undefined) throw new Error('calendar field not simulated');
      if (!expand(c.dayOfWeek as Range<string> | Range<string>[] | '*' | undefined, WEEKDAYS, [...WEEKDAYS]).includes(WEEKDAYS[weekdayOf(date)])) continue;
      for (const h of expand(c.hour as Range<number> | Range<number>[] | '*' | undefined, HOURS, [0])) for (const m of expand(c.minute as Range<number> | Range<number>[] | '*' | undefined, MINUTES, [0])) out.push(newYorkInstant(date, h * 60 + m));
    }
  }
  return out.sort((a, b) => a.getTime() - b.getTime());
}

/** When a session's bar is due, computed here from the calendar's close times: close + grace, New York time. */
const dueAt = (session: string, grace: number) => {
  const close = nyseCloseTime(session) as string;
  return newYorkInstant(session, Number(close.slice(0, 2)) * 60 + Number(close.slice(3)) + grace);
};

describe('freshness at the monitoring schedule\'s runs: a missing session is alerted at the first run after its bar is due', () => {
  // Two full years: DST changes, every holiday kind, Good Friday, the early closes (day before
  // Independence Day, day after Thanksgiving, Christmas Eve) and a one-off closure (2025-01-09).
  const FROM = '2024-01-01';
  const TO = '2025-12-31';
  const sessions = nyseTradingDaysBetween('2023-12-20', '2026-01-05');
  const grace = DEFAULT_FRESHNESS_OPTIONS.graceMinutes;
  const runs = firingTimes(MONITOR_CALENDARS, FROM, TO);
  const options = parseMonitoringRules({}).data_stale;

  const dueTimes = sessions.map((s) => dueAt(s, grace).getTime());
  /** The newest bar a feed that delivers every bar by its due time has stored at `t` (`stopAfter`: the feed broke after that session). */
  function newestAt(t: Date, stopAfter?: string): string {
    let newest = sessions[0];
    sessions.forEach((s, i) => {
      if (dueTimes[i] <= t.getTime() && (stopAfter === undefined || s <= stopAfter)) newest = s;
    });
    return newest;
  }

  it('covers what it claims: early closes, holidays and weekends are in the simulated years', () => {
    expect([...nyseEarlyCloses(2024).keys(), ...nyseEarlyCloses(2025).keys()]).toEqual(['2024-07-03', '2024-11-29', '2024-12-24', '2025-07-03', '2025-11-28', '2025-12-24']);
    expect(nyseHolidays(2025).has('2025-01-09')).toBe(true);
    expect(options).toMatchObject({ maxLagDays: 0, graceMinutes: 120 });
    expect(runs.length).toBeGreaterThan(2 * 250 * 9);
  });

  it('has a monitoring run after the grace period on every trading day (early closes too), the same day', () => {
    for (const g of [0, 30, 60, 120, 200, 400]) {
      const times = firingTimes(monitorCalendars(g), FROM, TO);
      for (const s of nyseTradingDaysBetween(FROM, TO)) {
        const due = dueAt(s, g).getTime();
        const first = times.find((t) => t.getTime() >= due);
        expect([g, s, first && newYorkClock(first).date]).toEqual([g, s, s]);
      }
    }
  });

  it('never alarms with complete data: a year of runs over weekends, holidays, early closes and DST changes', () => {
    const alarms = runs.filter((t) => {
      const newest = newestAt(t);
      return freshnessOf(new Map([['AAA', newest], ['BBB', newest]]), t, options).status !== 'fresh';
    });
    expect(alarms.map((t) => t.toISOString())).toEqual([]);
  });

  it('alerts one missing session a week at the first run after its bar was due, every time, and never before', () => {
    // One session per ISO week, cycling through the weekdays, plus the ones next to holidays and the early closes.
    const missing = new Set<string>();
    const weeks = new Map<string, string[]>();
    for (const s of nyseTradingDaysBetween(FROM, TO)) {
      const monday = addDays(s, -((weekdayOf(s) + 6) % 7));
      weeks.set(monday, [...(weeks.get(monday) ?? []), s]);
    }
    [...weeks.values()].forEach((days, i) => missing.add(days[i % days.length]));
    for (const s of ['2024-03-28', '2024-07-03', '2024-11-29', '2024-12-24', '2025-01-08', '2025-01-10', '2025-07-03', '2025-12-24', '2025-12-31']) missing.add(s);
    expect(missing.size).toBeGreaterThanOrEqual(104);

    for (const session of [...missing].sort()) {
      // The feed broke after the previous session: its bar and no later one is stored.
      const before = previousNyseTradingDay(session);
      const due = dueAt(session, grace);
      const from = dueAt(before, grace).getTime();
      const window = runs.filter((t) => t.getTime() >= from && t.getTime() <= due.getTime() + 4 * 86_400_000);
      const statuses = window.map((t) => ({ t, status: freshnessOf(new Map([['AAA', newestAt(t)], ['BBB', newestAt(t, before)]]), t, options).status }));
      const firstStale = statuses.find((x) => x.status === 'stale');
      const firstRunAfterDue = window.find((t) => t >= due);
      expect([session, firstStale?.t.toISOString()]).toEqual([session, firstRunAfterDue?.toISOString()]);
      // Before it, fresh; from it on, stale at every run (until the bars come).
      expect(statuses.filter((x) => x.t < due).every((x) => x.status === 'fresh')).toBe(true);
      expect(statuses.filter((x) => x.t >= due).every((x) => x.status === 'stale')).toBe(true);
      // The same New York evening, within minutes of being due.
      expect(newYorkClock(firstStale?.t as Date).date).toBe(session);
      expect((firstStale?.t.getTime() as number) - due.getTime()).toBeLessThanOrEqual(60 * 60_000);
    }
  });

  it('reproduces the reported cases: Tuesday 2024-03-12 missing, and Thursday 2024-03-28 before Good Friday', () => {
    const monday = new Map([['AAPL', '2024-03-11'], ['MSFT', '2024-03-11']]);
    // Tuesday 17:59: not due yet; 18:00 (16:00 + 120 min): due, stale; Wednesday's runs: stale.
    expect(freshnessOf(monday, at('2024-03-12T21:59:00Z')).status).toBe('fresh');
    for (const t of ['2024-03-12T22:00:00Z', '2024-03-12T22:30:00Z', '2024-03-13T14:35:00Z', '2024-03-13T20:35:00Z']) expect([t, freshnessOf(monday, at(t)).status]).toEqual([t, 'stale']);
    const wednesday = freshnessOf(monday, at('2024-03-13T14:35:00Z'));
    expect(wednesday).toMatchObject({ expectedSession: '2024-03-12', maxLagDays: 1, staleSymbols: 2 });
    expect(wednesday.reason).toMatch(/2 of 2 symbols are behind the 2024-03-12 session/);
    const thursday = new Map([['AAPL', '2024-03-27']]);
    for (const t of ['2024-03-28T22:05:00Z', '2024-03-30T16:35:00Z', '2024-04-01T13:35:00Z']) expect([t, freshnessOf(thursday, at(t)).status]).toEqual([t, 'stale']);
    // Thursday's bar in: fresh over Good Friday and the weekend, until Monday's is due.
    const withThursday = new Map([['AAPL', '2024-03-28']]);
    for (const t of ['2024-03-29T16:35:00Z', '2024-03-31T16:35:00Z', '2024-04-01T20:35:00Z']) expect([t, freshnessOf(withThursday, at(t)).status]).toEqual([t, 'fresh']);
    expect(freshnessOf(withThursday, at('2024-04-01T22:05:00Z')).status).toBe('stale');
  });

  it('expects an early close\'s bar at its own close (13:00) plus the grace', () => {
    // Wednesday 3 July 2024 closes at 13:00 (EDT, UTC−4): due at 15:00.
    expect(latestExpectedSession(at('2024-07-03T18:59:00Z'))).toBe('2024-07-02');
    expect(latestExpectedSession(at('2024-07-03T19:00:00Z'))).toBe('2024-07-03');
    expect(freshnessOf(new Map([['AAA', '2024-07-02']]), at('2024-07-03T19:35:00Z')).status).toBe('stale');
    expect(freshnessOf(new Map([['AAA', '2024-07-03']]), at('2024-07-05T13:35:00Z')).status).toBe('fresh');
    // A grace into the next day: Friday's bar due Saturday 01:00.
    expect(latestExpectedSession(at('2024-07-06T04:59:00Z'), 540)).toBe('2024-07-03');
    expect(latestExpectedSession(at('2024-07-06T05:00:00Z'), 540)).toBe('2024-07-05');
  });
});
