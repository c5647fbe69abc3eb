import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import type { CandidateBar } from '../../lib/market-data/csv-reader';
import { qualityPolicySchema, type QualityPolicy } from '../../lib/quality/policy';
import { checkQuality, evaluateQualityGate, type QualityReport } from '../../lib/quality/report';
import { issue, type QualityIssue } from '../../lib/quality/rules-catalog';

const DEFAULTS = qualityPolicySchema.parse({});

function bar(symbol: string, source: string, line: number, date: string, close: number, over: Partial<CandidateBar> = {}): CandidateBar {
  const b = { symbol, date, open: close, high: close + 1, low: close - 1, close, volume: 100, source, line, ...over };
  return { ...b, raw: `${b.date},${b.open},${b.high},${b.low},${b.close},${b.volume}` };
}

function readIssue(rule: 'non_numeric' | 'empty_input' | 'bad_header' | 'missing_field', symbol: string | null, source: string, line: number | null): QualityIssue {
  return issue(rule, { symbol, date: null, source, line, message: `${rule} here`, raw: line === null ? null : 'raw' });
}

describe('checkQuality: the import clock', () => {
  it('rejects bars dated after the injected clock as future_date and counts them against the gate', () => {
    const policy = { ...DEFAULTS, minHistoryBars: 1 };
    const rows = [bar('AAPL', '/a.csv', 2, '2019-01-02', 10), bar('AAPL', '/a.csv', 3, '2019-01-03', 10), bar('AAPL', '/a.csv', 4, '2099-01-02', 10)];
    const at = (iso: string) => checkQuality(rows, [], 3, policy, { now: () => new Date(iso) });
    // 17:00 in New York, after the 16:00 close and its margin: the day's bar is final (session_not_closed is tested below).
    const early = at('2019-01-02T22:00:00Z');
    expect(early.accepted.map((b) => b.date)).toEqual(['2019-01-02']);
    expect(early.issues.map((i) => [i.rule, i.date])).toEqual([
      ['future_date', '2019-01-03'],
      ['future_date', '2099-01-02'],
    ]);
    expect(early.report.byRule).toEqual({ future_date: 2 });
    expect(evaluateQualityGate(early.report).passed).toBe(false);
    expect(at('2020-06-01T12:00:00Z').accepted.map((b) => b.date)).toEqual(['2019-01-02', '2019-01-03']);
  });

  it('uses the real clock by default', () => {
    const { issues } = checkQuality([bar('AAPL', '/a.csv', 2, '2099-01-02', 10)], [], 1, { ...DEFAULTS, minHistoryBars: 1 });
    expect(issues.map((i) => i.rule)).toEqual(['future_date']);
  });
});

describe('checkQuality', () => {
  // MSFT first in the input (and descending in its file) to show accepted bars get sorted.
  const msft = [
    bar('MSFT', '/m.csv', 2, '2019-01-07', 20),
    bar('MSFT', '/m.csv', 3, '2019-01-04', 21, { high: 20 }), // ohlc_inconsistent
    bar('MSFT', '/m.csv', 4, '2019-01-03', 20.5),
    bar('MSFT', '/m.csv', 5, '2019-01-02', 20),
  ];
  const aapl = [
    bar('AAPL', '/a.csv', 2, '2019-01-02', 10),
    bar('AAPL', '/a.csv', 3, '2019-01-03', 10.5),
    bar('AAPL', '/a.csv', 4, '2019-01-04', 11),
    bar('AAPL', '/a.csv', 5, '2019-01-04', 11), // exact duplicate of line 4
    bar('AAPL', '/a.csv', 6, '2019-01-05', 11), // Saturday
    bar('AAPL', '/a.csv', 7, '2019-01-07', 11.5),
  ];
  const readIssues = [
    readIssue('non_numeric', 'AAPL', '/a.csv', 8),
    readIssue('empty_input', null, '/e.csv', null),
    readIssue('bad_header', null, '/b.csv', 1),
  ];
  const policy: QualityPolicy = { ...DEFAULTS, minHistoryBars: 4 };
  // 7 AAPL rows (6 candidates + 1 the reader rejected) and 4 MSFT rows.
  const result = checkQuality([...msft, ...aapl], readIssues, 11, policy);

  it('accepts the good bars sorted by symbol then date, stripped of source, line and raw', () => {
    expect(result.accepted).toStrictEqual([
      { symbol: 'AAPL', date: '2019-01-02', open: 10, high: 11, low: 9, close: 10, volume: 100 },
      { symbol: 'AAPL', date: '2019-01-03', open: 10.5, high: 11.5, low: 9.5, close: 10.5, volume: 100 },
      { symbol: 'AAPL', date: '2019-01-04', open: 11, high: 12, low: 10, close: 11, volume: 100 },
      { symbol: 'AAPL', date: '2019-01-07', open: 11.5, high: 12.5, low: 10.5, close: 11.5, volume: 100 },
      { symbol: 'MSFT', date: '2019-01-02', open: 20, high: 21, low: 19, close: 20, volume: 100 },
      { symbol: 'MSFT', date: '2019-01-03', open: 20.5, high: 21.5, low: 19.5, close: 20.5, volume: 100 },
      { symbol: 'MSFT', date: '2019-01-07', open: 20, high: 21, low: 19, close: 20, volume: 100 },
    ]);
    for (const b of result.accepted) expect(Object.keys(b).sort()).toEqual(['close', 'date', 'high', 'low', 'open', 'symbol', 'volume']);
  });

  it('keeps the reader issues first, then row, duplicate and series findings', () => {
    expect(result.issues.map((i) => [i.rule, i.symbol, i.source, i.line])).toEqual([
      ['non_numeric', 'AAPL', '/a.csv', 8],
      ['empty_input', null, '/e.csv', null],
      ['bad_header', null, '/b.csv', 1],
      ['ohlc_inconsistent', 'MSFT', '/m.csv', 3],
      ['non_trading_day', 'AAPL', '/a.csv', 6],
      ['duplicate_date', 'AAPL', '/a.csv', 5],
      ['short_series', 'MSFT', '/m.csv', null],
      ['calendar_gap', 'MSFT', '/m.csv', null],
    ]);
  });

  it('counts per rule, per symbol and in total; file-level issues reject no row', () => {
    expect(result.report).toEqual({
      policy,
      rowsRead: 11,
      rowsAccepted: 7,
      rowsRejected: 4, // non_numeric, ohlc_inconsistent, non_trading_day, duplicate_date
      flags: 2, // short_series, calendar_gap
      badRowShare: 4 / 11,
      byRule: {
        non_numeric: 1,
        empty_input: 1,
        bad_header: 1,
        ohlc_inconsistent: 1,
        non_trading_day: 1,
        duplicate_date: 1,
        short_series: 1,
        calendar_gap: 1,
      },
      bySymbol: {
        AAPL: { rowsAccepted: 4, rowsRejected: 3, flags: 0, firstDate: '2019-01-02', lastDate: '2019-01-07', source: '/a.csv' },
        MSFT: { rowsAccepted: 3, rowsRejected: 1, flags: 2, firstDate: '2019-01-02', lastDate: '2019-01-07', source: '/m.csv' },
      },
    });
  });

  it('gives a symbol seen only in rejections an entry with no dates', () => {
    const { report } = checkQuality([bar('AAPL', '/a.csv', 2, '2019-01-02', 10)], [readIssue('missing_field', 'ZZZ', '/z.csv', 2)], 2, { ...DEFAULTS, minHistoryBars: 1 });
    expect(report.bySymbol).toEqual({
      AAPL: { rowsAccepted: 1, rowsRejected: 0, flags: 0, firstDate: '2019-01-02', lastDate: '2019-01-02', source: '/a.csv' },
      ZZZ: { rowsAccepted: 0, rowsRejected: 1, flags: 0, firstDate: null, lastDate: null },
    });
    expect(report.rowsRejected).toBe(1);
    expect(report.badRowShare).toBe(0.5);
  });

  it('flags an unsorted file and counts the flag, not a rejection', () => {
    const rows = [bar('AAPL', '/a.csv', 2, '2019-01-02', 10), bar('AAPL', '/a.csv', 3, '2019-01-04', 10), bar('AAPL', '/a.csv', 4, '2019-01-03', 10.1)];
    const { accepted, issues, report } = checkQuality(rows, [], 3, { ...DEFAULTS, minHistoryBars: 1 });
    expect(accepted.map((b) => b.date)).toEqual(['2019-01-02', '2019-01-03', '2019-01-04']);
    expect(issues.map((i) => [i.rule, i.line])).toEqual([['unsorted_input', 4]]);
    expect(report).toMatchObject({ rowsRejected: 0, flags: 1, badRowShare: 0, byRule: { unsorted_input: 1 } });
  });

  it('rejects a row with a mistyped year as out_of_order_date: counted against its file, no copy of the row that has its date, no session of its own', () => {
    const days = nyseTradingDaysBetween('2017-06-01', '2017-07-31').slice(0, 30);
    const update = days.map((d, i) => bar('AAPL', '/u.csv', i + 2, d === '2017-06-14' ? '2016-06-14' : d, 150 + i / 10));
    // Another file of the same import holds the true bar of 2016-06-14: the typo must not reject it as a conflicting copy.
    const older = [bar('AAPL', '/o.csv', 2, '2016-06-13', 151), bar('AAPL', '/o.csv', 3, '2016-06-14', 151.06), bar('AAPL', '/o.csv', 4, '2016-06-15', 151.2)];
    const { accepted, issues, report } = checkQuality([...older, ...update], [], 33, { ...DEFAULTS, minHistoryBars: 1, maxBadRowShare: 0.05 });
    expect(issues.filter((i) => i.severity === 'reject').map((i) => [i.rule, i.source, i.line, i.date])).toEqual([['out_of_order_date', '/u.csv', 11, '2016-06-14']]);
    expect(accepted.find((b) => b.date === '2016-06-14')).toMatchObject({ close: 151.06 });
    expect(accepted.some((b) => b.date === '2017-06-14')).toBe(false);
    expect(report).toMatchObject({ rowsRejected: 1, byRule: { out_of_order_date: 1 }, bySymbol: { AAPL: { rowsAccepted: 32, rowsRejected: 1, lastDate: '2017-07-13' } } });
    expect(report.byRule.unsorted_input).toBeUndefined();
    // The missing session is a gap of the file (its row was read, but for no known session).
    expect(issues.filter((i) => i.rule === 'calendar_gap').map((i) => i.date)).toEqual(['2016-06-16', '2017-06-14']);
  });

  it('keeps the row that has the date a retyped row names: the retyped one alone is rejected', () => {
    const days = nyseTradingDaysBetween('2017-06-01', '2017-07-31').slice(0, 30);
    const rows = days.map((d, i) => bar('AAPL', '/u.csv', i + 2, d === '2017-07-05' ? '2017-06-05' : d, 150 + i / 10));
    const { accepted, issues } = checkQuality(rows, [], 30, { ...DEFAULTS, minHistoryBars: 1 });
    expect(issues.filter((i) => i.severity === 'reject').map((i) => [i.rule, i.line])).toEqual([['out_of_order_date', 25]]);
    expect(accepted.find((b) => b.date === '2017-06-05')).toMatchObject({ close: 150.2 });
  });

  it('keeps the row that has the date a retyped last row names: the retyped one alone is rejected; an exact copy at the end stays a repeat', () => {
    const days = nyseTradingDaysBetween('2017-01-03', '2017-12-29');
    const rows = days.map((d, i) => bar('AAPL', '/u.csv', i + 2, d === '2017-12-29' ? '2017-06-27' : d, 100 + i / 10));
    const { accepted, issues, report } = checkQuality(rows, [], rows.length, { ...DEFAULTS, minHistoryBars: 1 });
    expect(issues.filter((i) => i.severity === 'reject').map((i) => [i.rule, i.line, i.date])).toEqual([['out_of_order_date', days.length + 1, '2017-06-27']]);
    expect(accepted.find((b) => b.date === '2017-06-27')).toMatchObject({ close: 100 + days.indexOf('2017-06-27') / 10 });
    expect(report.bySymbol.AAPL).toMatchObject({ rowsAccepted: days.length - 1, rowsRejected: 1, lastDate: '2017-12-28' });

    const copied = [...rows.slice(0, -1), { ...rows[days.indexOf('2017-06-27')], line: days.length + 1 }];
    const repeat = checkQuality(copied, [], copied.length, { ...DEFAULTS, minHistoryBars: 1 });
    expect(repeat.issues.filter((i) => i.severity === 'reject').map((i) => [i.rule, i.line])).toEqual([['duplicate_date', days.length + 1]]);
    expect(repeat.accepted.filter((b) => b.date === '2017-06-27')).toHaveLength(1);
  });

  it('rejects the file whole when its mistyped rows are over the per-file share', () => {
    const days = nyseTradingDaysBetween('2017-06-01', '2017-07-31').slice(0, 20);
    // Every fourth row's year typed 2015: isolated rows, 5 of 20 (25%), over the 20% file limit (two
    // fall on a weekend in 2015 and are rejected as non_trading_day, which the row rules judge first).
    const rows = days.map((d, i) => bar('AAPL', '/u.csv', i + 2, i % 4 === 2 ? d.replace('2017', '2015') : d, 150));
    const { accepted, report } = checkQuality(rows, [], 20, { ...DEFAULTS, minHistoryBars: 1 });
    expect(accepted).toEqual([]);
    expect(report.byRule).toMatchObject({ out_of_order_date: 3, non_trading_day: 2, file_bad_row_share: 1, file_rejected: 15 });
    expect(report.byRule.unsorted_input).toBeUndefined();
  });

  it('reports zero share and no rows for empty input', () => {
    const { accepted, report } = checkQuality([], [readIssue('empty_input', null, '/e.csv', null)], 0, DEFAULTS);
    expect(accepted).toEqual([]);
    expect(report).toEqual({
      policy: DEFAULTS,
      rowsRead: 0,
      rowsAccepted: 0,
      rowsRejected: 0,
      flags: 0,
      badRowShare: 0,
      byRule: { empty_input: 1 },
      bySymbol: {},
    });
  });
});

describe('evaluateQualityGate', () => {
  function report(over: Partial<QualityReport>): QualityReport {
    return {
      policy: DEFAULTS,
      rowsRead: 1000,
      rowsAccepted: 990,
      rowsRejected: 10,
      flags: 0,
      badRowShare: 0.01,
      byRule: {},
      bySymbol: {},
      ...over,
    };
  }

  it('passes under the limit', () => {
    expect(evaluateQualityGate(report({ byRule: { non_numeric: 10 } }))).toEqual({ passed: true, reasons: [] });
  });

  it('passes exactly at the limit', () => {
    expect(evaluateQualityGate(report({ rowsRejected: 20, rowsAccepted: 980, badRowShare: 0.02 }))).toEqual({ passed: true, reasons: [] });
  });

  it('fails above the limit, naming the share, the counts, the limit and the top three rejecting rules', () => {
    const verdict = evaluateQualityGate(
      report({
        rowsRead: 400,
        rowsAccepted: 375,
        rowsRejected: 25,
        badRowShare: 25 / 400,
        flags: 9,
        byRule: { non_numeric: 1, calendar_gap: 9, ohlc_inconsistent: 10, non_trading_day: 3, missing_field: 11 },
      }),
    );
    expect(verdict).toEqual({
      passed: false,
      reasons: ['6.25% of rows rejected (25 of 400), above the limit of 2.00%; most frequent: missing_field: 11, ohlc_inconsistent: 10, non_trading_day: 3'],
    });
  });

  it('does not list flags (which reject nothing) among the rules behind the share', () => {
    const verdict = evaluateQualityGate(
      report({ rowsRead: 10, rowsAccepted: 7, rowsRejected: 3, badRowShare: 0.3, byRule: { calendar_gap: 50, stale_close: 20, non_numeric: 3 } }),
    );
    expect(verdict.reasons).toEqual(['30.00% of rows rejected (3 of 10), above the limit of 2.00%; most frequent: non_numeric: 3']);
  });

  it('uses the policy limit of the report', () => {
    const r = report({ rowsRejected: 30, rowsAccepted: 970, badRowShare: 0.03, byRule: { duplicate_date: 30 } });
    expect(evaluateQualityGate(r).passed).toBe(false);
    expect(evaluateQualityGate({ ...r, policy: { ...DEFAULTS, maxBadRowShare: 0.05 } })).toEqual({ passed: true, reasons: [] });
    expect(evaluateQualityGate({ ...r, policy: { ...DEFAULTS, maxBadRowShare: 0.025 } }).reasons).toEqual([
      '3.00% of rows rejected (30 of 1000), above the limit of 2.50%; most frequent: duplicate_date: 30',
    ]);
  });

  it('fails when no row was accepted, even with nothing rejected, naming the findings', () => {
    expect(evaluateQualityGate(report({ rowsRead: 0, rowsAccepted: 0, rowsRejected: 0, badRowShare: 0, byRule: { empty_input: 2 } }))).toEqual({
      passed: false,
      reasons: ['no usable rows (0 read, 0 rejected; most frequent: empty_input: 2)'],
    });
  });

  it('gives both reasons when every row was rejected', () => {
    expect(evaluateQualityGate(report({ rowsRead: 5, rowsAccepted: 0, rowsRejected: 5, badRowShare: 1, byRule: { invalid_date: 5 } })).reasons).toEqual([
      'no usable rows (5 read, 5 rejected; most frequent: invalid_date: 5)',
      '100.00% of rows rejected (5 of 5), above the limit of 2.00%; most frequent: invalid_date: 5',
    ]);
  });

  it('judges a real checkQuality report end to end', () => {
    const policy = { ...DEFAULTS, minHistoryBars: 1 };
    const good = [bar('AAPL', '/a.csv', 2, '2019-01-02', 10), bar('AAPL', '/a.csv', 3, '2019-01-03', 10)];
    expect(evaluateQualityGate(checkQuality(good, [], 2, policy).report)).toEqual({ passed: true, reasons: [] });
    const bad = [...good, bar('AAPL', '/a.csv', 4, '2019-01-06', 10)]; // a Sunday
    expect(evaluateQualityGate(checkQuality(bad, [], 3, policy).report)).toEqual({
      passed: false,
      reasons: ['33.33% of rows rejected (1 of 3), above the limit of 2.00%; most frequent: non_trading_day: 1'],
    });
  });
});
