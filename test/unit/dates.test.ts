import {
  addDays,
  compareIsoDates,
  formatIsoDate,
  fromEpochDay,
  isIsoDate,
  parseIsoDate,
  toEpochDay,
  weekdayOf,
} from '../../lib/calendar/dates';

describe('isIsoDate', () => {
  it.each(['1970-01-01', '2016-02-29', '2000-02-29', '2019-12-31', '0001-01-01', '9999-12-31'])('accepts %s', (s) => {
    expect(isIsoDate(s)).toBe(true);
  });

  it.each([
    '2019-02-29', // not a leap year
    '1900-02-29', // century, not divisible by 400
    '2019-04-31',
    '2019-13-01',
    '2019-00-10',
    '2019-01-00',
    '2019-1-01',
    '19-01-01',
    '2019/01/01',
    ' 2019-01-01',
    '2019-01-01T00:00:00Z',
    '2019-01-01\n',
    '',
  ])('rejects %j', (s) => {
    expect(isIsoDate(s)).toBe(false);
  });
});

describe('epoch days', () => {
  it('matches known anchors', () => {
    expect(toEpochDay('1970-01-01')).toBe(0);
    expect(toEpochDay('1970-01-02')).toBe(1);
    expect(toEpochDay('1969-12-31')).toBe(-1);
    expect(toEpochDay('2000-03-01')).toBe(11017);
    expect(fromEpochDay(0)).toBe('1970-01-01');
    expect(fromEpochDay(-719528)).toBe('0000-01-01');
  });

  it('agrees with Date.UTC for every day from 1899 to 2101 and round-trips', () => {
    const start = Date.UTC(1899, 0, 1) / 86_400_000;
    const end = Date.UTC(2101, 11, 31) / 86_400_000;
    const mismatches: string[] = [];
    for (let day = start; day <= end; day++) {
      const iso = new Date(day * 86_400_000).toISOString().slice(0, 10);
      if (fromEpochDay(day) !== iso || toEpochDay(iso) !== day) mismatches.push(`${day} ${iso}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('rejects non-integers, out-of-range years and malformed input', () => {
    expect(() => fromEpochDay(1.5)).toThrow(RangeError);
    expect(() => fromEpochDay(toEpochDay('9999-12-31') + 1)).toThrow(RangeError);
    expect(() => toEpochDay('2019-02-29')).toThrow(RangeError);
    expect(() => parseIsoDate('yesterday')).toThrow(/Not an ISO date/);
  });
});

describe('addDays', () => {
  it('crosses month, year and leap-day boundaries', () => {
    expect(addDays('2016-02-28', 1)).toBe('2016-02-29');
    expect(addDays('2016-02-29', 1)).toBe('2016-03-01');
    expect(addDays('2017-02-28', 1)).toBe('2017-03-01');
    expect(addDays('2019-12-31', 1)).toBe('2020-01-01');
    expect(addDays('2020-01-01', -1)).toBe('2019-12-31');
    expect(addDays('2020-06-15', 0)).toBe('2020-06-15');
    expect(addDays('2000-01-01', 366)).toBe('2001-01-01');
  });

  it('is unaffected by DST transitions (pure day arithmetic)', () => {
    expect(addDays('2021-03-13', 1)).toBe('2021-03-14');
    expect(addDays('2021-03-14', 1)).toBe('2021-03-15');
    expect(addDays('2021-11-07', 1)).toBe('2021-11-08');
  });

  it('rejects fractional offsets', () => {
    expect(() => addDays('2020-01-01', 0.5)).toThrow(RangeError);
  });
});

describe('weekdayOf', () => {
  it('uses 0 = Sunday', () => {
    expect(weekdayOf('1970-01-01')).toBe(4); // Thursday
    expect(weekdayOf('2024-06-16')).toBe(0); // Sunday
    expect(weekdayOf('2024-06-17')).toBe(1);
    expect(weekdayOf('2024-06-22')).toBe(6);
    expect(weekdayOf('1969-12-31')).toBe(3); // negative epoch day
    expect(weekdayOf('2000-02-29')).toBe(2);
  });
});

describe('compareIsoDates', () => {
  it('orders dates and works as a sort comparator', () => {
    expect(compareIsoDates('2020-01-01', '2020-01-02')).toBe(-1);
    expect(compareIsoDates('2020-01-02', '2020-01-01')).toBe(1);
    expect(compareIsoDates('2020-01-01', '2020-01-01')).toBe(0);
    expect(['2020-03-01', '1999-12-31', '2020-02-29'].sort(compareIsoDates)).toEqual([
      '1999-12-31',
      '2020-02-29',
      '2020-03-01',
    ]);
  });

  it('throws on malformed input instead of comparing strings', () => {
    expect(() => compareIsoDates('2020-1-1', '2020-01-02')).toThrow(RangeError);
  });
});

describe('formatIsoDate', () => {
  it('pads and validates', () => {
    expect(formatIsoDate(987, 3, 4)).toBe('0987-03-04');
    expect(() => formatIsoDate(2019, 2, 29)).toThrow(RangeError);
    expect(() => formatIsoDate(10000, 1, 1)).toThrow(RangeError);
  });
});
