import { firstNyseCloseAfter, isNyseTradingDay, NYSE_REGULAR_CLOSE, nyseCloseTime, nyseEarlyCloses, nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { effectiveTradingDay, parseHeadlinesCsv } from '../../lib/news/headlines';

/**
 * Every NYSE early close per year. 2000-2025: the per-year tests of pandas_market_calendars
 * (tests/test_nyse_calendar_early_years.py, exact lists, from the NYSE's history of closings);
 * 2026-2028: the NYSE's own announcements of its holiday and early-closings calendars (2024-11-08
 * for 2025-2027, 2025-12-23 for 2026-2028); 2029-2030: the rules (July 3 Tue, Nov 23, Dec 24 Mon;
 * July 3 Wed, Nov 29, Dec 24 Tue). All at 13:00 but 2005-06-01 (15:56, a systems problem).
 */
const EARLY_CLOSES: Record<number, string[]> = {
  2000: ['07-03', '11-24'], // Christmas Eve on a Sunday
  2001: ['07-03', '11-23', '12-24'],
  2002: ['07-05', '11-29', '12-24'], // July 4 a Thursday before 2013: Friday July 5, not Wednesday July 3
  2003: ['07-03', '11-28', '12-24', '12-26'], // and the Friday after Christmas, once
  2004: ['11-26'], // July 4 a Sunday (observed Monday); Christmas Eve the observed Christmas
  2005: ['06-01', '11-25'],
  2006: ['07-03', '11-24'],
  2007: ['07-03', '11-23', '12-24'],
  2008: ['07-03', '11-28', '12-24'],
  2009: ['11-27', '12-24'], // July 4 a Saturday: Friday July 3 closed, Thursday July 2 a full day
  2010: ['11-26'],
  2011: ['11-25'], // July 4 a Monday
  2012: ['07-03', '11-23', '12-24'],
  2013: ['07-03', '11-29', '12-24'], // July 4 a Thursday from 2013 on: Wednesday July 3
  2014: ['07-03', '11-28', '12-24'],
  2015: ['11-27', '12-24'],
  2016: ['11-25'],
  2017: ['07-03', '11-24'],
  2018: ['07-03', '11-23', '12-24'],
  2019: ['07-03', '11-29', '12-24'],
  2020: ['11-27', '12-24'],
  2021: ['11-26'], // Christmas Eve the observed Christmas
  2022: ['11-25'], // Christmas Eve a Saturday: Friday Dec 23 a full day
  2023: ['07-03', '11-24'],
  2024: ['07-03', '11-29', '12-24'],
  2025: ['07-03', '11-28', '12-24'],
  2026: ['11-27', '12-24'], // July 4 a Saturday: Friday July 3 closed
  2027: ['11-26'], // July 4 a Sunday; Christmas Eve the observed Christmas
  2028: ['07-03', '11-24'],
  2029: ['07-03', '11-23', '12-24'],
  2030: ['07-03', '11-29', '12-24'],
};

describe('NYSE early closes', () => {
  it.each(Object.entries(EARLY_CLOSES))('lists those of %s', (year, expected) => {
    const closes = nyseEarlyCloses(Number(year));
    expect([...closes.keys()]).toEqual(expected.map((d) => `${year}-${d}`));
    for (const [date, { close }] of closes) expect(close).toBe(date === '2005-06-01' ? '15:56' : '13:00');
  });

  it('gives each trading day its close, and none to a closed day', () => {
    expect(nyseCloseTime('2017-11-24')).toBe('13:00'); // day after Thanksgiving
    expect(nyseCloseTime('2017-11-22')).toBe(NYSE_REGULAR_CLOSE);
    expect(nyseCloseTime('2017-11-23')).toBeUndefined(); // Thanksgiving
    expect(nyseCloseTime('2017-11-25')).toBeUndefined(); // Saturday
    expect(nyseCloseTime('2002-07-03')).toBe('16:00'); // a Wednesday July 3 before 2013
    expect(nyseCloseTime('2013-07-05')).toBe('16:00'); // a Friday July 5 from 2013 on
    expect(nyseCloseTime('2026-07-02')).toBe('16:00'); // before a Friday July 3 holiday
    expect(nyseCloseTime('2026-07-03')).toBeUndefined();
    expect(nyseCloseTime('2027-12-23')).toBe('16:00'); // before a Friday Dec 24 holiday
    expect(nyseCloseTime('2005-06-01')).toBe('15:56');
  });

  it('closes early only on trading days, before 16:00, in the requested year', () => {
    for (let year = 1990; year <= 2100; year++) {
      for (const [date, { close }] of nyseEarlyCloses(year)) {
        expect(date.startsWith(`${year}-`)).toBe(true);
        expect(isNyseTradingDay(date)).toBe(true);
        expect(close < NYSE_REGULAR_CLOSE).toBe(true);
      }
    }
  });

  it('refuses a time that is not HH:MM', () => {
    expect(() => firstNyseCloseAfter('2017-11-24', '9:30')).toThrow(RangeError);
    expect(() => firstNyseCloseAfter('2017-11-24', '24:00')).toThrow(RangeError);
  });
});

describe('headlines on early-close days', () => {
  it('count on the next trading day from the early close on, before it on the day', () => {
    expect(effectiveTradingDay('2017-11-24', '14:30')).toBe('2017-11-27');
    expect(effectiveTradingDay('2017-11-24', '13:00')).toBe('2017-11-27');
    expect(effectiveTradingDay('2017-11-24', '12:59')).toBe('2017-11-24');
    expect(effectiveTradingDay('2017-07-03', '15:00')).toBe('2017-07-05');
    expect(effectiveTradingDay('2018-12-24', '13:45')).toBe('2018-12-26');
    expect(effectiveTradingDay('2002-07-05', '13:30')).toBe('2002-07-08');
    expect(effectiveTradingDay('2002-07-03', '15:00')).toBe('2002-07-03'); // a full day then
    expect(effectiveTradingDay('2005-06-01', '15:57')).toBe('2005-06-02');
    expect(parseHeadlinesCsv('date,time,symbol,headline\n2017-11-24,14:30,AAA,AAA plunges after downgrade\n', 'x.csv').headlines[0].effectiveDate).toBe('2017-11-27');
  });

  it('leave normal days as they were: before 16:00 that day, from 16:00 the next', () => {
    expect(effectiveTradingDay('2017-11-22', '15:59')).toBe('2017-11-22');
    expect(effectiveTradingDay('2017-11-22', '16:00')).toBe('2017-11-24');
    expect(effectiveTradingDay('2017-11-24', undefined)).toBe('2017-11-27');
  });

  it('follow each trading day\'s close, 2000-2030', () => {
    const minuteBefore = (hhmm: string) => {
      const m = Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3)) - 1;
      return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
    };
    const days = nyseTradingDaysBetween('2000-01-01', '2030-12-31');
    let early = 0;
    days.forEach((day, i) => {
      const close = nyseCloseTime(day) as string;
      if (close !== '16:00') early++;
      expect(effectiveTradingDay(day, minuteBefore(close))).toBe(day);
      if (i + 1 < days.length) {
        expect(effectiveTradingDay(day, close)).toBe(days[i + 1]);
        expect(effectiveTradingDay(day, '15:59')).toBe(close === '16:00' ? day : days[i + 1]);
      }
    });
    expect(early).toBe(Object.values(EARLY_CLOSES).reduce((n, d) => n + d.length, 0));
  });
});
