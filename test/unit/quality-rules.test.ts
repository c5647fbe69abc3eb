import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import type { CandidateBar } from '../../lib/market-data/csv-reader';
import { qualityPolicySchema, type QualityPolicy } from '../../lib/quality/policy';
import { endRowGaps, endRowIssue, newYorkDate, orderIssues, rowIssue, seriesIssues, splitDuplicates } from '../../lib/quality/rules';
import { issue, QUALITY_RULES, type QualityRuleId } from '../../lib/quality/rules-catalog';

const SRC = '/x/aapl.us.csv';

/** A valid candidate bar; `line` defaults to 2, raw mirrors the values like a CSV row would. */
function bar(date: string, over: Partial<CandidateBar> = {}): CandidateBar {
  const b = { symbol: 'AAPL', date, open: 10, high: 11, low: 9, close: 10, volume: 1000, source: SRC, line: 2, ...over };
  return { ...b, raw: over.raw ?? `${b.date},${b.open},${b.high},${b.low},${b.close},${b.volume}` };
}

/** One bar per close on consecutive NYSE trading days from 2019-01-02, lines 2.. in order. */
function series(closes: readonly number[], start = '2019-01-02'): CandidateBar[] {
  const days = nyseTradingDaysBetween(start, '2019-12-31');
  return closes.map((close, i) => bar(days[i], { open: close, high: close, low: close, close, line: i + 2 }));
}

const DEFAULTS = qualityPolicySchema.parse({});
/** Defaults, but long enough history is 1 bar so short_series stays out of the way. */
const POLICY: QualityPolicy = { ...DEFAULTS, minHistoryBars: 1 };

const rules = (issues: ReadonlyArray<{ rule: QualityRuleId }>): QualityRuleId[] => issues.map((i) => i.rule);

describe('rules catalog', () => {
  it('flags only series/order findings; every other rule rejects the row', () => {
    const flags = Object.entries(QUALITY_RULES)
      .filter(([, r]) => r.severity === 'flag')
      .map(([id]) => id)
      .sort();
    expect(flags).toEqual(['ambiguous_adjustment', 'calendar_gap', 'duplicate_series', 'extreme_move', 'price_basis_change', 'short_series', 'stale_close', 'symbol_not_file_name', 'unadjusted_split', 'unsorted_input', 'zero_volume']);
    expect(Object.keys(QUALITY_RULES)).toHaveLength(54);
  });

  it('issue() fills rule and severity from the catalog', () => {
    const fields = { symbol: 'X', date: '2019-01-02', source: 's', line: 3, message: 'm', raw: 'r' };
    expect(issue('duplicate_date', fields)).toEqual({ rule: 'duplicate_date', severity: 'reject', ...fields });
    expect(issue('stale_close', fields)).toEqual({ rule: 'stale_close', severity: 'flag', ...fields });
  });
});

describe('policy defaults', () => {
  it('fills every threshold', () => {
    expect(DEFAULTS).toEqual({ maxBadRowShare: 0.02, extremeMoveLimit: 0.35, staleCloseDays: 5, minHistoryBars: 254 });
  });

  it('rejects out-of-range thresholds', () => {
    expect(qualityPolicySchema.safeParse({ maxBadRowShare: 1.5 }).success).toBe(false);
    expect(qualityPolicySchema.safeParse({ staleCloseDays: 1 }).success).toBe(false);
    expect(qualityPolicySchema.safeParse({ extremeMoveLimit: 0 }).success).toBe(false);
    expect(qualityPolicySchema.safeParse({ minHistoryBars: 2.5 }).success).toBe(false);
  });
});

describe('future_date', () => {
  it('rejects a bar dated after the New York date of the clock, before any other rule', () => {
    expect(rowIssue(bar('2019-01-03'), '2019-01-02')).toEqual({
      rule: 'future_date',
      severity: 'reject',
      symbol: 'AAPL',
      date: '2019-01-03',
      source: SRC,
      line: 2,
      message: '2019-01-03 is after 2019-01-02, the date of the import',
      raw: '2019-01-03,10,11,9,10,1000',
    });
    expect(rowIssue(bar('2099-01-03', { open: -1 }), '2019-01-02')?.rule).toBe('future_date');
    expect(rowIssue(bar('2019-01-02'), '2019-01-02')).toBeUndefined();
    // Without a clock the rule does not apply (live bars are checked by the stream's own clock).
    expect(rowIssue(bar('2099-01-02'))).toBeUndefined();
  });

  it('takes the date in New York, not UTC', () => {
    // 02:00 UTC on 3 January is still 2 January in New York.
    expect(newYorkDate(new Date('2019-01-03T02:00:00Z'))).toBe('2019-01-02');
    expect(newYorkDate(new Date('2019-01-03T05:00:00Z'))).toBe('2019-01-03');
  });
});

describe('rowIssue', () => {
  it('returns undefined for a clean row, including zero volume and flat OHLC', () => {
    expect(rowIssue(bar('2019-01-02'))).toBeUndefined();
    expect(rowIssue(bar('2019-01-02', { volume: 0 }))).toBeUndefined();
    expect(rowIssue(bar('2019-01-02', { open: 5, high: 5, low: 5, close: 5 }))).toBeUndefined();
  });

  it('rejects a Saturday as non_trading_day, carrying source, line and raw', () => {
    const b = bar('2017-12-23', { line: 7, raw: 'the raw row' });
    expect(rowIssue(b)).toEqual({
      rule: 'non_trading_day',
      severity: 'reject',
      symbol: 'AAPL',
      date: '2017-12-23',
      source: SRC,
      line: 7,
      raw: 'the raw row',
      message: '2017-12-23 is not an NYSE trading day',
    });
  });

  it('rejects an NYSE holiday (Christmas 2017, a Monday) and a Sunday', () => {
    expect(rowIssue(bar('2017-12-25'))?.rule).toBe('non_trading_day');
    expect(rowIssue(bar('2017-12-24'))?.rule).toBe('non_trading_day');
    expect(rowIssue(bar('2017-12-26'))).toBeUndefined();
  });

  it('checks the calendar before the prices', () => {
    expect(rowIssue(bar('2017-12-23', { open: -1, volume: -1 }))?.rule).toBe('non_trading_day');
  });

  it.each([
    ['open 0', { open: 0 }, 'open is 0'],
    ['negative low', { low: -1 }, 'low is -1'],
    ['negative close', { close: -3, low: -4 }, 'low is -4'],
    ['zero everything', { open: 0, high: 0, low: 0, close: 0 }, 'open is 0'],
    ['negative high', { high: -0.5 }, 'high is -0.5'],
  ])('rejects %s as non_positive_price', (_name, over, message) => {
    const found = rowIssue(bar('2019-01-02', over));
    expect(found?.rule).toBe('non_positive_price');
    expect(found?.message).toBe(message);
  });

  it.each([
    ['high < close', { open: 10, high: 11, low: 9, close: 12 }],
    ['high < open', { open: 12, high: 11, low: 9, close: 10 }],
    ['low > open', { open: 9, high: 12, low: 10, close: 11 }],
    ['low > close', { open: 11, high: 12, low: 10.5, close: 10 }],
    ['high < low', { open: 10, high: 9, low: 11, close: 10 }],
  ])('rejects %s as ohlc_inconsistent', (_name, over) => {
    const found = rowIssue(bar('2019-01-02', over));
    expect(found?.rule).toBe('ohlc_inconsistent');
    expect(found?.message).toBe(
      `open ${over.open}, high ${over.high}, low ${over.low}, close ${over.close} do not fit high >= max(open, close) >= min(open, close) >= low`,
    );
  });

  it('rejects a negative volume', () => {
    const found = rowIssue(bar('2019-01-02', { volume: -5, line: 4 }));
    expect(found).toMatchObject({ rule: 'negative_volume', severity: 'reject', message: 'volume is -5', line: 4, source: SRC });
  });

  it.each([
    ['an infinite volume', { volume: Number.POSITIVE_INFINITY }, 'volume Infinity is not a finite number'],
    ['a NaN close', { close: Number.NaN }, 'close NaN is not a finite number'],
    ['a high beyond the price limit', { high: 8.1e13 }, 'high 81000000000000 is beyond 1e+7'],
    ['a volume beyond the volume limit', { volume: 3.4e15 }, 'volume 3400000000000000 is beyond 1e+14'],
    ['positive prices below the minimum', { open: 1e-300, high: 1e-300, low: 1e-300, close: 1e-300 }, 'open 1e-300 is below 1e-6'],
  ])('rejects %s as implausible_value, whatever produced the bar', (_name, over, message) => {
    const found = rowIssue(bar('2019-01-02', over));
    expect(found).toMatchObject({ rule: 'implausible_value', severity: 'reject', message, source: SRC, line: 2 });
  });

  it('accepts values at the limits', () => {
    expect(rowIssue(bar('2019-01-02', { open: 1e-6, low: 1e-6, high: 2e-6, close: 2e-6, volume: 1e14 }))).toBeUndefined();
    expect(rowIssue(bar('2019-01-02', { open: 5e6, low: 5e6, high: 1e7, close: 1e7, volume: 0 }))).toBeUndefined();
  });

  it.each([
    ['a high 10 times the close', { open: 155, high: 1557.9, low: 154, close: 155.8 }, 'high 1557.9 is 10.0 times the close 155.8'],
    ['a low a tenth of the close', { open: 148, high: 149, low: 14.703, close: 147.5 }, 'low 14.703 is 1/10.0 of the close 147.5'],
    ['an open 100 times the close', { open: 14252, high: 14252, low: 139.9, close: 140.7 }, 'open 14252 is 101.3 times the close 140.7'],
  ])('rejects %s as price_field_glitch: consistent OHLC, but a misplaced decimal point', (_name, over, message) => {
    const found = rowIssue(bar('2019-01-02', over));
    expect(found).toMatchObject({ rule: 'price_field_glitch', severity: 'reject' });
    expect(found?.message).toContain(message);
  });

  it('keeps a crash print within ×8 of the close (XL on 24 August 2015: low 5.40, close 36.79)', () => {
    expect(rowIssue(bar('2015-08-24', { open: 35.24, high: 37.62, low: 5.4, close: 36.79 }))).toBeUndefined();
  });

  it('reports only the first rule broken', () => {
    // Non-positive price and negative volume: the price rule wins.
    expect(rowIssue(bar('2019-01-02', { low: 0, volume: -1 }))?.rule).toBe('non_positive_price');
    // Inconsistent OHLC and negative volume: OHLC wins.
    expect(rowIssue(bar('2019-01-02', { high: 9.5, volume: -1 }))?.rule).toBe('ohlc_inconsistent');
  });
});

describe('splitDuplicates', () => {
  it('passes through rows with distinct (symbol, date), in order', () => {
    const rows = [bar('2019-01-03', { line: 2 }), bar('2019-01-02', { line: 3 }), bar('2019-01-02', { symbol: 'MSFT', line: 4 })];
    const { unique, issues } = splitDuplicates(rows);
    expect(unique).toEqual(rows);
    expect(issues).toEqual([]);
  });

  it('keeps the first of exact copies and rejects the rest', () => {
    const first = bar('2019-01-02', { line: 2 });
    const copy1 = bar('2019-01-02', { line: 3 });
    const other = bar('2019-01-03', { line: 4 });
    const copy2 = bar('2019-01-02', { line: 5, source: '/other.csv' });
    const { unique, issues } = splitDuplicates([first, copy1, other, copy2]);
    expect(unique).toEqual([first, other]);
    expect(issues).toEqual([
      { rule: 'duplicate_date', severity: 'reject', symbol: 'AAPL', date: '2019-01-02', source: SRC, line: 3, raw: copy1.raw, message: 'exact copy of line 2' },
      { rule: 'duplicate_date', severity: 'reject', symbol: 'AAPL', date: '2019-01-02', source: '/other.csv', line: 5, raw: copy2.raw, message: 'exact copy of line 2' },
    ]);
  });

  it('rejects every copy when the values conflict', () => {
    const a = bar('2019-01-02', { line: 2 });
    const b = bar('2019-01-02', { line: 3, close: 10.5 });
    const keep = bar('2019-01-03', { line: 4 });
    const { unique, issues } = splitDuplicates([a, b, keep]);
    expect(unique).toEqual([keep]);
    expect(issues.map((i) => [i.rule, i.line, i.raw])).toEqual([
      ['duplicate_date', 2, a.raw],
      ['duplicate_date', 3, b.raw],
    ]);
    expect(issues.map((i) => i.message)).toEqual([
      '2 rows for AAPL 2019-01-02 with different values (lines 2, 3); all rejected',
      '2 rows for AAPL 2019-01-02 with different values (lines 2, 3); all rejected',
    ]);
  });

  it('rejects all copies when any one of them conflicts, even if others are exact', () => {
    const rows = [bar('2019-01-02', { line: 2 }), bar('2019-01-02', { line: 3 }), bar('2019-01-02', { line: 4, volume: 1 })];
    const { unique, issues } = splitDuplicates(rows);
    expect(unique).toEqual([]);
    expect(issues.map((i) => i.line)).toEqual([2, 3, 4]);
    expect(issues[0].message).toBe('3 rows for AAPL 2019-01-02 with different values (lines 2, 3, 4); all rejected');
  });

  it.each(['open', 'high', 'low', 'close', 'volume'] as const)('treats a difference in %s as a conflict', (field) => {
    const a = bar('2019-01-02', { line: 2 });
    const b = bar('2019-01-02', { line: 3, [field]: a[field] + 0.25 });
    expect(splitDuplicates([a, b]).unique).toEqual([]);
  });
});

describe('orderIssues', () => {
  const dates = ['2019-01-02', '2019-01-03', '2019-01-04', '2019-01-07', '2019-01-08'];
  const file = (order: string[], over: Partial<CandidateBar> = {}): CandidateBar[] => order.map((d, i) => bar(d, { line: i + 2, ...over }));

  it('accepts ascending and fully descending files', () => {
    expect(orderIssues(file(dates))).toEqual([]);
    expect(orderIssues(file([...dates].reverse()))).toEqual([]);
    expect(orderIssues([])).toEqual([]);
  });

  it('does not treat repeated dates as out of order', () => {
    expect(orderIssues(file(['2019-01-02', '2019-01-02', '2019-01-03']))).toEqual([]);
  });

  it('flags a swapped pair once, at the first row that breaks the direction', () => {
    const rows = file(['2019-01-02', '2019-01-04', '2019-01-03', '2019-01-07', '2019-01-08']);
    expect(orderIssues(rows)).toEqual([
      {
        rule: 'unsorted_input',
        severity: 'flag',
        symbol: 'AAPL',
        date: '2019-01-03',
        source: SRC,
        line: 4,
        raw: rows[2].raw,
        message: 'dates out of order from line 4 (3 steps forward, 1 back); rows were sorted',
      },
    ]);
  });

  it('flags a swapped pair in a descending file', () => {
    const found = orderIssues(file(['2019-01-08', '2019-01-07', '2019-01-03', '2019-01-04', '2019-01-02']));
    expect(found.map((i) => [i.date, i.line, i.message])).toEqual([['2019-01-04', 5, 'dates out of order from line 5 (1 steps forward, 3 back); rows were sorted']]);
  });

  it('flags once per (symbol, source) however many swaps there are', () => {
    const messy = file(['2019-01-03', '2019-01-02', '2019-01-07', '2019-01-04', '2019-01-08']);
    const msft = file(['2019-01-02', '2019-01-04', '2019-01-03'], { symbol: 'MSFT' });
    const otherSource = file(['2019-01-02', '2019-01-04', '2019-01-03'], { source: '/y.csv' });
    const found = orderIssues([...messy, ...msft, ...otherSource]);
    expect(found.map((i) => [i.symbol, i.source, i.date])).toEqual([
      ['AAPL', SRC, '2019-01-07'],
      ['MSFT', SRC, '2019-01-03'],
      ['AAPL', '/y.csv', '2019-01-03'],
    ]);
  });

  it('judges each source on its own: two sorted files for one symbol are fine together', () => {
    const a = file(['2019-01-07', '2019-01-08']);
    const b = file(['2019-01-02', '2019-01-03'], { source: '/y.csv' });
    expect(orderIssues([...a, ...b])).toEqual([]);
  });
});

describe('out_of_order_date', () => {
  // 40 sessions of 2017 from 2017-06-01, in file order; `at` retypes the row of one of them.
  const days = nyseTradingDaysBetween('2017-06-01', '2017-07-31').slice(0, 40);
  const file = (dates: readonly string[], over: Partial<CandidateBar> = {}): CandidateBar[] => dates.map((d, i) => bar(d, { line: i + 2, ...over }));
  const retyped = (dates: readonly string[], from: string, to: string): string[] => dates.map((d) => (d === from ? to : d));
  const found = (rows: readonly CandidateBar[], rejected?: ReadonlySet<CandidateBar>): Array<[string, string | null, number | null]> => orderIssues(rows, rejected).map((i) => [i.rule, i.date, i.line]);

  it('rejects a row whose year is mistyped, naming its date, its neighbours and the likely session, and flags nothing else', () => {
    const rows = file(retyped(days, '2017-06-14', '2016-06-14'));
    expect(orderIssues(rows)).toEqual([
      {
        rule: 'out_of_order_date',
        severity: 'reject',
        symbol: 'AAPL',
        date: '2016-06-14',
        source: SRC,
        line: 11,
        raw: rows[9].raw,
        message:
          'dated 2016-06-14, it stands between the rows of 2017-06-13 (line 10) and 2017-06-15 (line 12) of a file in ascending date order, more than 5 NYSE sessions from both: a mistyped date, likely for 2017-06-14 (the session missing there); rejected, and a stored bar for 2016-06-14 is kept',
      },
    ]);
  });

  it('rejects a year typed into the future, a month typo, and one in a descending file', () => {
    expect(found(file(retyped(days, '2017-06-14', '2019-06-14')))).toEqual([['out_of_order_date', '2019-06-14', 11]]);
    expect(found(file(retyped(days, '2017-06-14', '2017-08-14')))).toEqual([['out_of_order_date', '2017-08-14', 11]]);
    const descending = file(retyped([...days].reverse(), '2017-06-14', '2006-06-14'));
    expect(found(descending)).toEqual([['out_of_order_date', '2006-06-14', 32]]);
    expect(orderIssues(descending)[0].message).toContain('of a file in descending date order');
  });

  it('rejects a mistyped first or last row against its one neighbour, and two adjacent rows mistyped alike', () => {
    expect(found(file(retyped(days, days[39], '2007-07-27')))).toEqual([['out_of_order_date', '2007-07-27', 41]]);
    expect(found(file(retyped(days, days[0], '2018-06-01')))).toEqual([['out_of_order_date', '2018-06-01', 2]]);
    const two = file(retyped(retyped(days, '2017-06-14', '2016-06-14'), '2017-06-15', '2016-06-15'));
    expect(found(two)).toEqual([
      ['out_of_order_date', '2016-06-14', 11],
      ['out_of_order_date', '2016-06-15', 12],
    ]);
  });

  it('takes the typo next to the last row for the odd one, not the last row', () => {
    expect(found(file(retyped(days, days[38], '2018-07-28')))).toEqual([['out_of_order_date', '2018-07-28', 40]]);
  });

  it('keeps swapped neighbouring sessions, a row moved to another place and two rows exchanged (unsorted_input)', () => {
    const swapped = [...days];
    [swapped[10], swapped[11]] = [swapped[11], swapped[10]];
    expect(found(file(swapped))).toEqual([['unsorted_input', swapped[11], 13]]);
    const moved = [...days.slice(0, 5), days[30], ...days.slice(5, 30), ...days.slice(31)];
    expect(found(file(moved))).toEqual([['unsorted_input', days[5], 8]]);
    const toEnd = [...days.slice(1), days[0]];
    expect(found(file(toEnd))).toEqual([['unsorted_input', days[0], 41]]);
    const exchanged = [...days];
    [exchanged[5], exchanged[30]] = [exchanged[30], exchanged[5]];
    expect(rules(orderIssues(file(exchanged)))).toEqual(['unsorted_input']);
  });

  it('leaves a row repeated elsewhere to duplicate_date, and rejects a retyped row whose date another row has', () => {
    expect(found(file([...days, days[10]]))).toEqual([['unsorted_input', days[10], 42]]);
    expect(found(file([...days.slice(0, 5), days[30], ...days.slice(5)]))).toEqual([['unsorted_input', days[5], 8]]);
    // The row of 2017-07-05 dated 2017-06-05, a date the file has: the session missing where it stands gives it away.
    expect(found(file(retyped(days, '2017-07-05', '2017-06-05')))).toEqual([['out_of_order_date', '2017-06-05', 25]]);
  });

  it('keeps shuffled files, sorted blocks and rows of two periods interleaved unsorted, not rejected', () => {
    const shuffled = [...days].sort((a, b) => (a.slice(8) === b.slice(8) ? a.localeCompare(b) : a.slice(8).localeCompare(b.slice(8))));
    expect(rules(orderIssues(file(shuffled)))).toEqual(['unsorted_input']);
    expect(rules(orderIssues(file([...days.slice(20), ...days.slice(0, 20)])))).toEqual(['unsorted_input']);
    const older = nyseTradingDaysBetween('2016-06-01', '2016-07-31').slice(0, 20);
    const interleaved = older.flatMap((d, i) => [d, days[i]]);
    expect(rules(orderIssues(file(interleaved)))).toEqual(['unsorted_input']);
  });

  it('judges each symbol of an interleaved file on its own', () => {
    const aapl = file(retyped(days, '2017-06-14', '2016-06-14'));
    const msft = file(days, { symbol: 'MSFT' });
    const rows = aapl.flatMap((b, i) => [b, msft[i]]);
    expect(orderIssues(rows).map((i) => [i.rule, i.symbol, i.date])).toEqual([['out_of_order_date', 'AAPL', '2016-06-14']]);
  });

  it('reports no typo for a row another rule rejects already, and no unsorted_input for it either', () => {
    const rows = file(retyped(days, '2017-06-14', '2016-06-18'));
    expect(found(rows, new Set([rows[9]]))).toEqual([]);
  });

  it('keeps rows appended or prepended that continue the file session by session, however many, in either order (unsorted_input)', () => {
    const year = nyseTradingDaysBetween('2017-01-03', '2017-12-29');
    const descending = [...year].reverse();
    const update = nyseTradingDaysBetween('2018-01-02', '2018-01-12');
    // `cat update.csv >> aapl.csv` onto a file in descending order, and the newest rows prepended to an ascending one.
    for (const k of [1, 2, 3, 5]) {
      for (const added of [update.slice(0, k), update.slice(0, k).reverse()]) {
        expect(rules(orderIssues(file([...descending, ...added])))).toEqual(['unsorted_input']);
        expect(rules(orderIssues(file([...added, ...year])))).toEqual(['unsorted_input']);
      }
    }
    // The older sessions before a file's first row, at the other end.
    const older = nyseTradingDaysBetween('2016-12-27', '2016-12-30');
    expect(rules(orderIssues(file([...year, ...older])))).toEqual(['unsorted_input']);
    expect(rules(orderIssues(file([...older.slice(2), ...descending])))).toEqual(['unsorted_input']);
    // The next session and one a few sessions after it (sessions between them absent), and two rows moved into the file.
    expect(rules(orderIssues(file([...descending, '2018-01-08', '2018-01-02'])))).toEqual(['unsorted_input']);
    expect(rules(orderIssues(file([...year.slice(0, 100), '2018-01-02', '2018-01-03', ...year.slice(100)])))).toEqual(['unsorted_input']);
  });

  it('still rejects an end row beyond the session after the file and far from the row next to it in its run', () => {
    const year = nyseTradingDaysBetween('2017-01-03', '2017-12-29');
    const descending = [...year].reverse();
    // The newest row appended, then one typed a year late after it.
    const rows = file([...descending, '2018-01-02', '2019-01-03']);
    expect(found(rows)).toEqual([
      ['out_of_order_date', '2019-01-03', rows.length + 1],
      ['unsorted_input', '2018-01-02', rows.length],
    ]);
    // The last row's year typed a year early: a few sessions before the first row, sessions missing between.
    expect(found(file([...year.slice(0, -1), '2016-12-29']))).toEqual([['out_of_order_date', '2016-12-29', year.length + 1]]);
    expect(found(file(['2018-01-04', ...year]))).toEqual([['out_of_order_date', '2018-01-04', 2]]);
    // The two oldest rows' years typed 2019 at the end of a descending file: each far from the file, near each other.
    expect(rules(orderIssues(file([...descending.slice(0, -2), '2019-01-04', '2019-01-03'])))).toEqual(['out_of_order_date', 'out_of_order_date']);
  });

  it('rejects a retyped last or first row whose date another row has, with other values, and keeps that row; an exact copy is left to duplicate_date', () => {
    const year = nyseTradingDaysBetween('2017-01-03', '2017-12-29');
    const priced = (dates: readonly string[]): CandidateBar[] => dates.map((d, i) => bar(d, { line: i + 2, close: 100 + i / 10, raw: `${d},row ${i}` }));
    // The row of 2017-12-29 typed 2017-06-27, a session the file has.
    const last = priced([...year.slice(0, -1), '2017-06-27']);
    expect(orderIssues(last).map((i) => [i.rule, i.date, i.line])).toEqual([['out_of_order_date', '2017-06-27', year.length + 1]]);
    const message = orderIssues(last)[0].message;
    expect(message).toContain('at the end, after the row of 2017-12-28 (line 251)');
    expect(message).toContain('likely for 2017-12-29 (the session after the file\'s other rows, which it lacks)');
    expect(message).toContain('the row of line 123 with that date is kept');
    // The first row, and the same in a descending file (its last row is the oldest).
    const first = priced(['2017-06-27', ...year.slice(1)]);
    expect(orderIssues(first).map((i) => [i.rule, i.line])).toEqual([['out_of_order_date', 2]]);
    expect(orderIssues(first)[0].message).toContain('likely for 2017-01-03 (the session before the file\'s other rows, which it lacks)');
    const descending = priced([...[...year].reverse().slice(0, -1), '2017-06-27']);
    expect(orderIssues(descending).map((i) => [i.rule, i.line])).toEqual([['out_of_order_date', year.length + 1]]);
    expect(orderIssues(descending)[0].message).toContain('likely for 2017-01-03 (the session before');
    // When a row of the file has the session after the other rows (the newest, prepended), which one was meant is unknown.
    const both = priced(['2018-01-02', ...year, '2017-06-27']);
    expect(orderIssues(both).map((i) => [i.rule, i.line])).toEqual([
      ['out_of_order_date', year.length + 3],
      ['unsorted_input', 4],
    ]);
    expect(orderIssues(both)[0].message).toContain('; at the end of a file the session it stood for is unknown; rejected');
    // An exact copy of that row at the end is a repeat: duplicate_date keeps the first.
    const repeated = priced(year);
    const copy = { ...repeated[120], line: year.length + 2 };
    expect(rules(orderIssues([...repeated, copy]))).toEqual(['unsorted_input']);
  });

  it('keeps an in-order row between long gaps', () => {
    expect(found(file(['2017-01-03', '2017-01-04', '2017-03-01', '2017-05-01', '2017-05-02']))).toEqual([]);
  });
});

describe('out_of_order_date at the ends of a file in order', () => {
  const year = nyseTradingDaysBetween('2018-01-02', '2018-02-07');
  const file = (dates: readonly string[]): CandidateBar[] => dates.map((d, i) => bar(d, { line: i + 2 }));
  const gapsOf = (rows: readonly CandidateBar[], rejected?: (b: CandidateBar) => boolean) => endRowGaps(rows, rejected).map((g) => [g.row.date, g.neighbour.date, g.atStart, g.sessions, g.meant]);
  const none = { count: 0, from: null, to: null };

  it('finds a first or last row more than 5 sessions from its neighbour, in either order, with the session it likely stood for', () => {
    // 2018-01-02 typed 2017-01-03, 2013-01-02; 2018-02-07 typed 2018-12-28; the same file newest first.
    expect(gapsOf(file(['2017-01-03', ...year.slice(1)]))).toEqual([['2017-01-03', '2018-01-03', true, 252, '2018-01-02']]);
    expect(gapsOf(file([...year.slice(0, -1), '2018-12-28']))).toEqual([['2018-12-28', '2018-02-06', false, 225, '2018-02-07']]);
    expect(gapsOf(file(['2013-01-02', ...year.slice(1)]).reverse())).toEqual([['2013-01-02', '2018-01-03', false, 1260, '2018-01-02']]);
    // A halt of 5 sessions is no gap; nor is anything in a file of fewer than 3 rows or out of order (misdatedRows judges it).
    expect(gapsOf(file([...year, '2018-02-14']))).toEqual([]);
    expect(gapsOf(file(['2017-01-03', '2018-01-03']))).toEqual([]);
    // Nor a row whose neighbour is as far from the next (monthly bars: bar_interval judges them).
    expect(gapsOf(file(['2017-10-02', '2017-11-01', '2017-12-01', '2018-01-02', '2018-02-01']))).toEqual([]);
    const moved = [...year.slice(0, 5), year[20], ...year.slice(5, 20), ...year.slice(21), '2018-12-28'];
    expect(gapsOf(file(moved))).toEqual([]);
  });

  it('leaves a row another rule rejects to it and judges the row next to it, and says so when the file has the session meant', () => {
    const rows = file([...year.slice(0, -1), '2018-12-28', '2018-12-29']);
    expect(gapsOf(rows, (b) => b.date === '2018-12-29')).toEqual([['2018-12-28', '2018-02-06', false, 225, '2018-02-07']]);
    // The file has a row of the session after 2018-02-06 that another rule rejects: which session was meant is unknown.
    const held = file([...year, '2018-12-28']);
    expect(gapsOf(held, (b) => b.date === '2018-02-07')).toEqual([['2018-12-28', '2018-02-06', false, 225, undefined]]);
    expect(endRowIssue(endRowGaps(held, (b) => b.date === '2018-02-07')[0], { count: 0, from: null, to: null })?.message).toContain('; at the end of a file the session it stood for is unknown; rejected');
  });

  it('rejects a row whose gap jumps over stored bars, or a lone row more than 20 sessions away, naming the session likely meant', () => {
    const [first] = endRowGaps(file(['2017-01-03', ...year.slice(1)]));
    const found = endRowIssue(first, { count: 250, from: '2017-01-04', to: '2017-12-29' });
    expect(found).toMatchObject({ rule: 'out_of_order_date', severity: 'reject', symbol: 'AAPL', date: '2017-01-03', line: 2 });
    expect(found?.message).toBe(
      'dated 2017-01-03, it stands at the start, before the row of 2018-01-03 (line 3), of a file in ascending date order, 252 NYSE sessions from it (more than 5), and the store holds 250 bars of AAPL between them (2017-01-04..2017-12-29) that the file lacks: a mistyped date, likely for 2018-01-02 (the session before the file\'s other rows, which it lacks); rejected, and a stored bar for 2017-01-03 is kept',
    );
    const [last] = endRowGaps(file([...year.slice(0, -1), '2018-12-28']));
    expect(endRowIssue(last, none)?.message).toContain('it stands alone at the end, after the row of 2018-02-06 (line 26), of a file in ascending date order, 225 NYSE sessions from it (more than 20), with no stored bar of AAPL between them');
    expect(endRowIssue(last, none)?.message).toContain('import it again once the file holds more rows on its side of the gap');
  });

  it('keeps a row after a halt of up to 20 sessions when no stored bar lies between', () => {
    // 20 and 21 sessions after the row before it; 6 sessions, with and without a stored bar between.
    const after = (date: string) => endRowGaps(file([...year.slice(0, -1), date]))[0];
    expect(endRowIssue(after('2018-03-07'), none)).toBeUndefined();
    expect(endRowIssue(after('2018-03-08'), none)?.rule).toBe('out_of_order_date');
    expect(after('2018-02-14').sessions).toBe(6);
    expect(endRowIssue(after('2018-02-14'), none)).toBeUndefined();
    expect(endRowIssue(after('2018-02-14'), { count: 1, from: '2018-02-08', to: '2018-02-08' })?.rule).toBe('out_of_order_date');
    expect(endRowIssue(after('2018-02-14'), { count: 1, from: '2018-02-08', to: '2018-02-08' })?.message).toContain('the store holds 1 bar of AAPL between them (2018-02-08..2018-02-08)');
  });
});

describe('seriesIssues', () => {
  it('returns nothing for an empty series or a clean one', () => {
    expect(seriesIssues([], DEFAULTS)).toEqual([]);
    expect(seriesIssues(series([10, 11, 10.5, 12, 11.5, 12.5]), POLICY)).toEqual([]);
  });

  describe('short_series', () => {
    it('flags fewer bars than minHistoryBars with the counts', () => {
      const s = series([10, 11, 12]);
      expect(seriesIssues(s, DEFAULTS)).toEqual([
        { rule: 'short_series', severity: 'flag', symbol: 'AAPL', date: '2019-01-02', source: SRC, line: null, raw: null, message: '3 bars, the feature look-back needs 254' },
      ]);
    });

    it('says "1 bar" of a series of one bar', () => {
      expect(seriesIssues(series([10]), DEFAULTS).map((i) => i.message)).toEqual(['1 bar, the feature look-back needs 254']);
    });

    it('does not flag a series of exactly minHistoryBars', () => {
      expect(seriesIssues(series([10, 11, 12]), { ...POLICY, minHistoryBars: 3 })).toEqual([]);
      expect(rules(seriesIssues(series([10, 11, 12]), { ...POLICY, minHistoryBars: 4 }))).toEqual(['short_series']);
    });
  });

  describe('calendar_gap', () => {
    const days = nyseTradingDaysBetween('2019-01-02', '2019-01-31');

    it('flags one missing trading day', () => {
      // days[2] is Fri 2019-01-04
      const s = days.filter((_, i) => i !== 2).map((d, i) => bar(d, { line: i + 2, close: 10 + (i % 2) }));
      expect(seriesIssues(s, POLICY)).toEqual([
        { rule: 'calendar_gap', severity: 'flag', symbol: 'AAPL', date: '2019-01-04', source: SRC, line: null, raw: null, message: 'trading day 2019-01-04 missing' },
      ]);
    });

    it('flags a run of missing days once, with the count and range', () => {
      // Drop 2019-01-08..2019-01-10.
      const kept = days.filter((d) => d < '2019-01-08' || d > '2019-01-10');
      const s = kept.map((d, i) => bar(d, { line: i + 2, close: 10 + (i % 2) }));
      const found = seriesIssues(s, POLICY);
      expect(found.map((i) => [i.rule, i.date, i.message])).toEqual([['calendar_gap', '2019-01-08', '3 trading days missing 2019-01-08..2019-01-10']]);
    });

    it('does not count weekends or holidays (MLK Day 2019-01-21) as gaps', () => {
      const s = ['2019-01-17', '2019-01-18', '2019-01-22', '2019-01-23'].map((d, i) => bar(d, { close: 10 + i }));
      expect(seriesIssues(s, POLICY)).toEqual([]);
      const xmas = ['2017-12-21', '2017-12-22', '2017-12-26', '2017-12-27'].map((d, i) => bar(d, { close: 10 + i }));
      expect(seriesIssues(xmas, POLICY)).toEqual([]);
    });

    it('reports several separate gaps in date order', () => {
      const kept = days.filter((d) => d !== '2019-01-03' && d !== '2019-01-15' && d !== '2019-01-16');
      const found = seriesIssues(
        kept.map((d, i) => bar(d, { close: 10 + (i % 2) })),
        POLICY,
      );
      expect(found.map((i) => i.message)).toEqual(['trading day 2019-01-03 missing', '2 trading days missing 2019-01-15..2019-01-16']);
    });
  });

  describe('extreme_move', () => {
    const moveMessages = (closes: number[], policy: QualityPolicy = POLICY): string[] =>
      seriesIssues(series(closes), policy)
        .filter((i) => i.rule === 'extreme_move')
        .map((i) => i.message);

    it('hints at a 2:1 split when the close halves, on the bar after the move', () => {
      const s = series([100, 100.5, 50.25, 51]);
      const found = seriesIssues(s, POLICY);
      expect(found).toEqual([
        {
          rule: 'extreme_move',
          severity: 'flag',
          symbol: 'AAPL',
          date: s[2].date,
          source: SRC,
          line: 4,
          raw: s[2].raw,
          message: 'close 100.5 -> 50.25 (-50.0%); looks like an unadjusted 2:1 split',
        },
      ]);
    });

    it('hints at a 3:2 split when the close drops to two thirds (under a limit that catches -33%)', () => {
      expect(moveMessages([90, 60], { ...POLICY, extremeMoveLimit: 0.3 })).toEqual(['close 90 -> 60 (-33.3%); looks like an unadjusted 3:2 split']);
    });

    it('does not flag a 3:2 split under the default 35% limit', () => {
      expect(moveMessages([90, 60])).toEqual([]);
    });

    it.each([
      [[100, 33.4], 'close 100 -> 33.4 (-66.6%); looks like an unadjusted 3:1 split'],
      [[100, 25], 'close 100 -> 25 (-75.0%); looks like an unadjusted 4:1 split'],
      [[100, 10.2], 'close 100 -> 10.2 (-89.8%); looks like an unadjusted 10:1 split'],
      [[10, 20], 'close 10 -> 20 (100.0%); looks like an unadjusted 1:2 reverse split'],
      [[10, 50], 'close 10 -> 50 (400.0%); looks like an unadjusted 1:5 reverse split'],
      [[100, 150], 'close 100 -> 150 (50.0%); looks like an unadjusted 2:3 reverse split'],
    ])('labels %j as %j', (closes, message) => {
      expect(moveMessages(closes)).toEqual([message]);
    });

    it('gives no hint for a big move that matches no split ratio', () => {
      expect(moveMessages([100, 160])).toEqual(['close 100 -> 160 (60.0%)']);
      expect(moveMessages([100, 40])).toEqual(['close 100 -> 40 (-60.0%)']);
      expect(moveMessages([100, 56])).toEqual(['close 100 -> 56 (-44.0%)']);
    });

    it('flags moves strictly beyond the limit only', () => {
      // (135 / 100 - 1 is 0.35000000000000009 in binary floating point, so stay clear of the exact limit.)
      expect(moveMessages([100, 134.9])).toEqual([]);
      expect(moveMessages([100, 65.1])).toEqual([]);
      expect(moveMessages([100, 136])).toEqual(['close 100 -> 136 (36.0%)']);
      expect(moveMessages([100, 150], { ...POLICY, extremeMoveLimit: 0.6 })).toEqual([]);
    });
  });

  describe('stale_close', () => {
    const stale = (closes: number[], policy: QualityPolicy = POLICY) => seriesIssues(series(closes), policy).filter((i) => i.rule === 'stale_close');

    it('flags a run exactly staleCloseDays long, at the first bar of the run', () => {
      const s = series([10, 11, 11, 11, 11, 11, 12]);
      const found = seriesIssues(s, POLICY);
      expect(found).toEqual([
        {
          rule: 'stale_close',
          severity: 'flag',
          symbol: 'AAPL',
          date: s[1].date,
          source: SRC,
          line: 3,
          raw: s[1].raw,
          message: `close stayed 11 for 5 bars (${s[1].date}..${s[5].date})`,
        },
      ]);
    });

    it('does not flag a run one shorter than the threshold', () => {
      expect(stale([10, 11, 11, 11, 11, 12])).toEqual([]);
    });

    it('flags a run at the end of the series', () => {
      const s = series([10, 12, 12, 12, 12, 12]);
      expect(stale([10, 12, 12, 12, 12, 12]).map((i) => i.message)).toEqual([`close stayed 12 for 5 bars (${s[1].date}..${s[5].date})`]);
    });

    it('flags a run at the start, and a whole-series run with its full length', () => {
      const s = series([7, 7, 7, 7, 7, 7, 7]);
      expect(stale([7, 7, 7, 7, 7, 8]).map((i) => i.date)).toEqual([s[0].date]);
      expect(stale([7, 7, 7, 7, 7, 7, 7]).map((i) => i.message)).toEqual([`close stayed 7 for 7 bars (${s[0].date}..${s[6].date})`]);
    });

    it('flags each separate run and honours an explicit threshold', () => {
      expect(stale([1, 1, 2, 3, 3, 4], { ...POLICY, staleCloseDays: 2 }).map((i) => i.message)).toEqual([
        `close stayed 1 for 2 bars (2019-01-02..2019-01-03)`,
        `close stayed 3 for 2 bars (2019-01-07..2019-01-08)`,
      ]);
    });
  });

  it('reports short_series, then gaps, then moves and stale runs in date order', () => {
    const days = nyseTradingDaysBetween('2019-01-02', '2019-01-31');
    const kept = days.filter((d) => d !== '2019-01-03');
    const closes = [100, 50, 50, 50, 50, 50, 51];
    const s = kept.slice(0, closes.length).map((d, i) => bar(d, { close: closes[i], line: i + 2 }));
    expect(rules(seriesIssues(s, DEFAULTS))).toEqual(['short_series', 'calendar_gap', 'extreme_move', 'stale_close']);
  });
});
