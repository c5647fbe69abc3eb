import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import type { Bar } from '../../lib/market-data/bar';
import { loneRuns, storedAroundOf, strayBarIssues } from '../../lib/quality/stray-bars';

/**
 * A lone bar judged against its symbol's stored series around its date (lib/quality/stray-bars.ts):
 * a bar years before the stored history, and a revision of a year-old stored bar carrying the newest
 * stored bar's prices, are rejected as out_of_order_date; backfills reaching the stored bars, the
 * feed after a pause, look-back re-sends and corrections that fit the bars around them are not.
 */
const DAYS = nyseTradingDaysBetween('2016-01-04', '2018-06-29');
/** A series rising from 150 to about 233 over the stored days, with a small daily wiggle. */
const STORED: Bar[] = DAYS.map((date, i) => {
  const c = 150 * Math.exp((0.44 * i) / DAYS.length) * (1 + 0.004 * Math.sin(i));
  return { symbol: 'SYN01', date, open: c * 0.995, high: c * 1.01, low: c * 0.985, close: c, volume: 1_000_000 + i };
});
const NEWEST = STORED[STORED.length - 1];
const judge = (bars: Bar[]) => {
  const found = new Map<Bar, string>();
  for (const run of loneRuns(bars)) for (const [b, q] of strayBarIssues(run, storedAroundOf(STORED, run[0].date, run[run.length - 1].date), 'file')) found.set(b, `${q.rule}: ${q.message}`);
  return found;
};
const at = (date: string, like: Bar = NEWEST): Bar => ({ ...like, date });

describe('loneRuns', () => {
  it('takes the runs of one or two bars at either end that lie more than 20 sessions from the other bars', () => {
    const days = nyseTradingDaysBetween('2017-01-03', '2017-03-31').map((d) => ({ date: d }));
    expect(loneRuns([{ date: '2014-06-27' }])).toEqual([[{ date: '2014-06-27' }]]);
    expect(loneRuns([{ date: '2014-06-27' }, ...days])).toEqual([[{ date: '2014-06-27' }]]);
    expect(loneRuns([...days, { date: '2017-06-28' }, { date: '2017-06-29' }])).toEqual([[{ date: '2017-06-28' }, { date: '2017-06-29' }]]);
    // Three bars are a block, not a lone run; a run between two others is left alone.
    expect(loneRuns(days.slice(0, 3))).toEqual([]);
    expect(loneRuns([...days.slice(0, 10), { date: '2017-06-28' }, { date: '2017-12-01' }, ...days.slice(0, 0)])).toEqual([[{ date: '2017-12-01' }]]);
    // 20 sessions apart is still next to each other.
    expect(loneRuns([{ date: '2017-01-03' }, { date: '2017-02-01' }, { date: '2017-02-02' }, { date: '2017-02-03' }])).toEqual([]);
  });
});

describe('strayBarIssues', () => {
  it('rejects a lone bar years before the stored history, naming the gap', () => {
    const stray = at('2014-06-27');
    const found = judge([stray]);
    expect(found.get(stray)).toMatch(/^out_of_order_date: dated 2014-06-27, it stands alone: .* the store's first bar of SYN01 is 2016-01-04, 382 NYSE sessions after it \(381 sessions missing between\)/);
    // Two such rows together, and a lone row inside a long gap of the stored bars.
    const two = [at('2014-06-26'), at('2014-06-27')];
    expect([...judge(two).keys()]).toEqual(two);
    const holed = STORED.filter((b) => b.date < '2016-06-01' || b.date > '2017-06-01');
    const inGap = at('2016-11-15');
    const found2 = strayBarIssues([inGap], storedAroundOf(holed, inGap.date, inGap.date), 'live batch');
    expect(found2.get(inGap)?.message).toMatch(/inside a gap of SYN01's stored bars/);
  });

  it('keeps backfills reaching the stored history, a block of older rows, and bars after the newest stored one', () => {
    // A backfill ending the session before the stored history (its last rows are no lone run).
    const backfill = nyseTradingDaysBetween('2015-01-02', '2015-12-31').map((d) => at(d, STORED[0]));
    expect(judge(backfill).size).toBe(0);
    // One or two rows within 20 sessions of the first stored bar.
    expect(judge([at('2015-12-03', STORED[0])]).size).toBe(0);
    // Three rows far before: a block of history, stored (calendar_gap names the gap).
    expect(judge(nyseTradingDaysBetween('2014-06-25', '2014-06-27').map((d) => at(d))).size).toBe(0);
    // The feed going on after a month's pause, and the next session.
    expect(judge([at('2018-09-04')]).size).toBe(0);
    expect(judge([at('2018-07-02')]).size).toBe(0);
  });

  it('rejects a revision of a year-old stored bar that carries the newest stored bar, not a correction that fits the bars around it', () => {
    const old = STORED.find((b) => b.date === '2017-06-28') as Bar;
    const typo = at('2017-06-28');
    expect(NEWEST.close / old.close - 1).toBeGreaterThan(0.05);
    expect(NEWEST.close / old.close - 1).toBeLessThan(0.35);
    const found = judge([typo]);
    expect(found.get(typo)).toMatch(/^out_of_order_date: dated 2017-06-28, it would revise the stored bar of that date \(close [\d.]+ -> [\d.]+, \+\d+\.\d%\), 253 NYSE sessions before SYN01's newest stored bar \(2018-06-29\), .* within 0\.0% of the stored bar of 2018-06-29/);
    // A close corrected by 2%, a bar corrected back to its neighbours' level, and a re-send of a
    // recent session are corrections.
    expect(judge([{ ...old, close: old.close * 1.02, high: old.high * 1.02 }]).size).toBe(0);
    const glitchedStore = STORED.map((b) => (b.date === '2017-06-28' ? { ...b, open: NEWEST.open, high: NEWEST.high, low: NEWEST.low, close: NEWEST.close } : b));
    expect(strayBarIssues([old], storedAroundOf(glitchedStore, old.date, old.date), 'file').size).toBe(0);
    const recent = STORED[STORED.length - 3];
    expect(judge([{ ...recent, close: recent.close * 1.09, high: recent.high * 1.09 }]).size).toBe(0);
    // The same bar beside its neighbours in the batch is no lone run.
    const neighbours = STORED.filter((b) => b.date >= '2017-06-26' && b.date <= '2017-06-30' && b.date !== '2017-06-28');
    expect(loneRuns([...neighbours.slice(0, 2), typo, ...neighbours.slice(2)])).toEqual([]);
  });
});
