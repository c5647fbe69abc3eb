import { addDays, weekdayOf } from '../../lib/calendar/dates';
import {
  countNyseTradingDaysBetween,
  easterSunday,
  isNyseTradingDay,
  missingNyseTradingDays,
  nextNyseTradingDay,
  nthNyseTradingDayAfter,
  nyseHolidays,
  nyseTradingDaysBetween,
  previousNyseTradingDay,
} from '../../lib/calendar/nyse';

// Hand-checked against the NYSE's published holiday calendars.
const HOLIDAYS: Record<number, string[]> = {
  2013: ['2013-01-01', '2013-01-21', '2013-02-18', '2013-03-29', '2013-05-27', '2013-07-04', '2013-09-02', '2013-11-28', '2013-12-25'],
  // Christmas on Sunday -> Monday Dec 26.
  2016: ['2016-01-01', '2016-01-18', '2016-02-15', '2016-03-25', '2016-05-30', '2016-07-04', '2016-09-05', '2016-11-24', '2016-12-26'],
  // Bush national day of mourning on Dec 5.
  2018: [
    '2018-01-01', '2018-01-15', '2018-02-19', '2018-03-30', '2018-05-28', '2018-07-04', '2018-09-03', '2018-11-22', '2018-12-05',
    '2018-12-25',
  ],
  // July 4 on Sunday -> Monday; Christmas on Saturday -> Friday Dec 24; no Juneteenth yet;
  // New Year 2022 is a Saturday and is NOT observed on Friday 2021-12-31.
  2021: ['2021-01-01', '2021-01-18', '2021-02-15', '2021-04-02', '2021-05-31', '2021-07-05', '2021-09-06', '2021-11-25', '2021-12-24'],
  // No New Year closure at all; Juneteenth (Sunday) -> Monday June 20; Christmas (Sunday) -> Monday.
  2022: ['2022-01-17', '2022-02-21', '2022-04-15', '2022-05-30', '2022-06-20', '2022-07-04', '2022-09-05', '2022-11-24', '2022-12-26'],
  // New Year on Sunday -> Monday Jan 2.
  2023: [
    '2023-01-02', '2023-01-16', '2023-02-20', '2023-04-07', '2023-05-29', '2023-06-19', '2023-07-04', '2023-09-04', '2023-11-23',
    '2023-12-25',
  ],
  // Carter national day of mourning on Jan 9.
  2025: [
    '2025-01-01', '2025-01-09', '2025-01-20', '2025-02-17', '2025-04-18', '2025-05-26', '2025-06-19', '2025-07-04', '2025-09-01',
    '2025-11-27', '2025-12-25',
  ],
};

describe('nyseHolidays', () => {
  it.each(Object.entries(HOLIDAYS))('lists the %s closures', (year, expected) => {
    expect([...nyseHolidays(Number(year)).keys()]).toEqual(expected);
  });

  it('names holidays', () => {
    const h2022 = nyseHolidays(2022);
    expect(h2022.get('2022-06-20')).toMatch(/Juneteenth/);
    expect(h2022.get('2022-04-15')).toBe('Good Friday');
    expect(nyseHolidays(2025).get('2025-01-09')).toMatch(/Carter/);
    expect(nyseHolidays(2021).get('2021-12-24')).toBe('Christmas Day');
  });

  it('applies Saturday/Sunday observance rules', () => {
    expect(nyseHolidays(2017).has('2017-01-02')).toBe(true); // New Year on Sunday -> Monday
    expect(nyseHolidays(2010).has('2010-12-31')).toBe(false); // New Year 2011 on Saturday: open Friday
    expect(nyseHolidays(2026).has('2026-07-03')).toBe(true); // July 4 on Saturday -> Friday
    expect(nyseHolidays(2027).has('2027-06-18')).toBe(true); // Juneteenth on Saturday -> Friday
    expect(nyseHolidays(2027).has('2027-12-24')).toBe(true); // Christmas on Saturday -> Friday
  });

  it('has MLK Day only from 1998 and Juneteenth only from 2022', () => {
    expect([...nyseHolidays(1997).values()]).not.toContain('Martin Luther King Jr. Day');
    expect(nyseHolidays(1998).get('1998-01-19')).toBe('Martin Luther King Jr. Day');
    expect(nyseHolidays(2021).has('2021-06-18')).toBe(false);
  });

  it('includes the one-off closures', () => {
    for (const date of ['2001-09-11', '2001-09-12', '2001-09-13', '2001-09-14', '2004-06-11', '2007-01-02', '2012-10-29', '2012-10-30']) {
      expect(isNyseTradingDay(date)).toBe(false);
    }
  });

  it('only ever closes weekdays of the requested year', () => {
    for (let year = 1990; year <= 2100; year++) {
      for (const date of nyseHolidays(year).keys()) {
        expect(date.startsWith(`${year}-`)).toBe(true);
        expect([0, 6]).not.toContain(weekdayOf(date));
      }
    }
  });

  it('caches per year and rejects bad years', () => {
    expect(nyseHolidays(2019)).toBe(nyseHolidays(2019));
    expect(() => nyseHolidays(2019.5)).toThrow(RangeError);
    expect(() => nyseHolidays(0)).toThrow(RangeError);
  });
});

describe('easterSunday', () => {
  it.each([
    [1818, '1818-03-22'],
    [2000, '2000-04-23'],
    [2008, '2008-03-23'],
    [2011, '2011-04-24'],
    [2019, '2019-04-21'],
    [2024, '2024-03-31'],
    [2038, '2038-04-25'],
    [2285, '2285-03-22'],
  ])('%i -> %s', (year, expected) => {
    expect(easterSunday(year)).toBe(expected);
  });
});

describe('isNyseTradingDay', () => {
  it('closes on weekends', () => {
    expect(isNyseTradingDay('2018-06-16')).toBe(false); // Saturday
    expect(isNyseTradingDay('2018-06-17')).toBe(false); // Sunday
    expect(isNyseTradingDay('2018-06-18')).toBe(true);
  });

  it('stays open on the Friday before a Saturday New Year', () => {
    expect(isNyseTradingDay('2021-12-31')).toBe(true);
    expect(isNyseTradingDay('2010-12-31')).toBe(true);
  });

  it('throws on malformed dates', () => {
    expect(() => isNyseTradingDay('2019-02-29')).toThrow(RangeError);
  });
});

describe('trading-day ranges', () => {
  it.each([
    [2001, 248],
    [2012, 250],
    [2014, 252],
    [2015, 252],
    [2016, 252],
    [2017, 251],
    [2018, 251],
    [2019, 252],
    [2020, 253],
    [2021, 252],
    [2022, 251],
    [2023, 250],
    [2024, 252],
    [2025, 250],
  ])('%i has %i trading days', (year, expected) => {
    expect(countNyseTradingDaysBetween(`${year}-01-01`, `${year}-12-31`)).toBe(expected);
    expect(nyseTradingDaysBetween(`${year}-01-01`, `${year}-12-31`)).toHaveLength(expected);
  });

  it('is inclusive at both ends and ascending', () => {
    expect(nyseTradingDaysBetween('2018-11-30', '2018-12-07')).toEqual([
      '2018-11-30',
      '2018-12-03',
      '2018-12-04',
      '2018-12-06',
      '2018-12-07',
    ]);
    expect(nyseTradingDaysBetween('2018-12-07', '2018-12-07')).toEqual(['2018-12-07']);
    expect(nyseTradingDaysBetween('2018-12-08', '2018-12-09')).toEqual([]);
    expect(nyseTradingDaysBetween('2018-12-10', '2018-12-01')).toEqual([]);
    expect(countNyseTradingDaysBetween('2018-12-10', '2018-12-01')).toBe(0);
  });

  it('agrees with day-by-day checks across decades', () => {
    const days = nyseTradingDaysBetween('1995-03-15', '2035-10-20');

    const bruteForce: string[] = [];
    for (let d = '1995-03-15'; d <= '2035-10-20'; d = addDays(d, 1)) if (isNyseTradingDay(d)) bruteForce.push(d);
    expect(days).toEqual(bruteForce);
    expect(countNyseTradingDaysBetween('1995-03-15', '2035-10-20')).toBe(bruteForce.length);
  });

  it('returns a fresh array each call', () => {
    const a = nyseTradingDaysBetween('2020-01-01', '2020-01-31');
    a.length = 0;
    expect(nyseTradingDaysBetween('2020-01-01', '2020-01-31')).toHaveLength(21);
  });
});

describe('next / previous trading day', () => {
  it.each([
    ['2018-12-04', '2018-12-06'], // over Bush day of mourning
    ['2019-12-31', '2020-01-02'],
    ['2019-04-18', '2019-04-22'], // over Good Friday and the weekend
    ['2001-09-10', '2001-09-17'],
    ['2020-06-13', '2020-06-15'], // from a Saturday
  ])('next after %s is %s', (from, expected) => {
    expect(nextNyseTradingDay(from)).toBe(expected);
  });

  it.each([
    ['2019-01-02', '2018-12-31'],
    ['2019-04-22', '2019-04-18'],
    ['2018-12-06', '2018-12-04'],
    ['2020-06-14', '2020-06-12'], // from a Sunday
  ])('previous before %s is %s', (from, expected) => {
    expect(previousNyseTradingDay(from)).toBe(expected);
  });
});

describe('missingNyseTradingDays', () => {
  it('finds nothing for short or complete series', () => {
    expect(missingNyseTradingDays([])).toEqual([]);
    expect(missingNyseTradingDays(['2019-01-02'])).toEqual([]);
    expect(missingNyseTradingDays(nyseTradingDaysBetween('2018-01-01', '2019-12-31'))).toEqual([]);
  });

  it('does not count weekends or holidays as missing', () => {
    expect(missingNyseTradingDays(['2018-12-04', '2018-12-06'])).toEqual([]);
    expect(missingNyseTradingDays(['2021-12-23', '2021-12-27'])).toEqual([]);
  });

  it('reports runs of consecutive missing trading days across weekends and holidays', () => {
    const all = nyseTradingDaysBetween('2018-12-20', '2019-01-15');
    const kept = all.filter((d) => !['2018-12-26', '2019-01-02', '2019-01-03', '2019-01-04', '2019-01-07'].includes(d));
    expect(missingNyseTradingDays(kept)).toEqual([
      { from: '2018-12-26', to: '2018-12-26', days: 1 },
      { from: '2019-01-02', to: '2019-01-07', days: 4 },
    ]);
  });

  it('counts only days strictly between the first and last dates', () => {
    // Nothing before Jan 3 or after Jan 10 is reported, whatever the calendar says.
    expect(missingNyseTradingDays(['2019-01-03', '2019-01-10'])).toEqual([{ from: '2019-01-04', to: '2019-01-09', days: 4 }]);
    // A non-trading last date still bounds the search.
    expect(missingNyseTradingDays(['2019-01-02', '2019-01-05'])).toEqual([{ from: '2019-01-03', to: '2019-01-04', days: 2 }]);
  });

  it('tolerates repeated dates', () => {
    expect(missingNyseTradingDays(['2019-01-02', '2019-01-02', '2019-01-04', '2019-01-04'])).toEqual([
      { from: '2019-01-03', to: '2019-01-03', days: 1 },
    ]);
  });

  it('rejects unsorted or malformed input', () => {
    expect(() => missingNyseTradingDays(['2019-01-04', '2019-01-02'])).toThrow(/ascending/);
    expect(() => missingNyseTradingDays(['2019-01-02', '2019-1-4'])).toThrow(RangeError);
  });
});

describe('nthNyseTradingDayAfter', () => {
  it('counts trading days strictly after the date, skipping weekends, holidays and one-off closures', () => {
    expect(nthNyseTradingDayAfter('2024-03-01', 1)).toBe('2024-03-04');
    expect(nthNyseTradingDayAfter('2024-03-01', 5)).toBe('2024-03-08');
    expect(nthNyseTradingDayAfter('2024-03-02', 1)).toBe('2024-03-04'); // from a Saturday
    expect(nthNyseTradingDayAfter('2024-12-23', 2)).toBe('2024-12-26'); // Christmas
    expect(nthNyseTradingDayAfter('2001-09-10', 1)).toBe('2001-09-17'); // closed 09-11 … 09-14
    for (const [from, n] of [['2024-01-02', 252], ['2018-12-03', 20], ['2016-06-30', 1000]] as const) {
      expect(nthNyseTradingDayAfter(from, n)).toBe(nyseTradingDaysBetween(addDays(from, 1), addDays(from, 4 * n))[n - 1]);
    }
    expect(() => nthNyseTradingDayAfter('2024-03-01', 0)).toThrow(RangeError);
  });
});
