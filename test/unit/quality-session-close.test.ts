import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import type { CandidateBar } from '../../lib/market-data/csv-reader';
import { qualityPolicySchema, SESSION_CLOSE_MARGIN_MINUTES } from '../../lib/quality/policy';
import { checkQuality, evaluateQualityGate } from '../../lib/quality/report';
import { newYorkTime, openSession, rowIssue } from '../../lib/quality/rules';

const POLICY = { ...qualityPolicySchema.parse({}), minHistoryBars: 1, maxBadRowShare: 0.5 };

function bar(date: string, line: number): CandidateBar {
  const b = { symbol: 'AAPL', date, open: 10, high: 11, low: 9, close: 10, volume: 100, source: '/x/aapl.us.csv', line };
  return { ...b, raw: `${date},10,11,9,10,100` };
}

/** Bars for the trading days up to and including `last`, lines 2.. */
function upTo(last: string, n = 5): CandidateBar[] {
  return nyseTradingDaysBetween('2016-01-04', last).slice(-n).map((d, i) => bar(d, i + 2));
}

const check = (bars: CandidateBar[], iso: string) => checkQuality(bars, [], bars.length, POLICY, { now: () => new Date(iso) });

describe('session_not_closed: no unfinished bar of the import\'s own day', () => {
  it('rejects the bar of the trading day the import runs on, read during the session', () => {
    // 2016-05-25 15:05 UTC is 11:05 in New York (EDT).
    const checked = check(upTo('2016-05-25'), '2016-05-25T15:05:00Z');
    expect(checked.accepted.map((b) => b.date)).toEqual(['2016-05-19', '2016-05-20', '2016-05-23', '2016-05-24']);
    expect(checked.issues.map((i) => [i.rule, i.date, i.line])).toEqual([['session_not_closed', '2016-05-25', 6]]);
    expect(checked.issues[0].message).toBe(
      "2016-05-25 is the import's own trading day and its session was not over: the import's clock read 11:05 New York, before the 16:00 close plus 15 minutes (16:15), so the bar is unfinished",
    );
    expect(checked.report.byRule).toEqual({ session_not_closed: 1 });
  });

  it("takes the margin from the policy's sessionCloseMarginMinutes, for vendors whose final bars come later", () => {
    const bars = upTo('2016-05-25');
    const late = { ...POLICY, sessionCloseMarginMinutes: 120 };
    const at = (iso: string) => checkQuality(bars, [], bars.length, late, { now: () => new Date(iso) });
    expect(at('2016-05-25T21:59:00Z').issues.map((i) => i.message)).toEqual([expect.stringContaining('before the 16:00 close plus 120 minutes (18:00)')]); // 17:59
    expect(at('2016-05-25T22:00:00Z').accepted).toHaveLength(5); // 18:00
    expect(qualityPolicySchema.parse({}).sessionCloseMarginMinutes).toBeUndefined();
    expect(() => qualityPolicySchema.parse({ sessionCloseMarginMinutes: -1 })).toThrow();
  });

  it('accepts it once the close plus the margin has passed, and before the open rejects it too', () => {
    const bars = upTo('2016-05-25');
    expect(check(bars, '2016-05-25T20:14:59Z').issues.map((i) => i.rule)).toEqual(['session_not_closed']); // 16:14:59
    expect(check(bars, '2016-05-25T20:15:00Z').accepted).toHaveLength(5); // 16:15
    expect(check(bars, '2016-05-26T01:00:00Z').accepted).toHaveLength(5); // 21:00
    expect(check(bars, '2016-05-25T12:00:00Z').issues.map((i) => i.rule)).toEqual(['session_not_closed']); // 08:00, before the open
  });

  it('uses the early close of the exchange calendar (13:00 the day after Thanksgiving)', () => {
    const bars = upTo('2016-11-25');
    // EST: 18:10 UTC is 13:10 New York, 18:15 is 13:15.
    expect(check(bars, '2016-11-25T18:10:00Z').issues.map((i) => [i.rule, i.date])).toEqual([['session_not_closed', '2016-11-25']]);
    expect(check(bars, '2016-11-25T18:10:00Z').issues[0].message).toMatch(/clock read 13:10 New York, before the 13:00 close plus 15 minutes \(13:15\)/);
    expect(check(bars, '2016-11-25T18:15:00Z').accepted).toHaveLength(5);
  });

  it('counts against the gate like any rejected row', () => {
    const checked = checkQuality(upTo('2016-05-25'), [], 5, { ...POLICY, maxBadRowShare: 0.02 }, { now: () => new Date('2016-05-25T15:05:00Z') });
    expect(evaluateQualityGate(checked.report)).toEqual({ passed: false, reasons: ['20.00% of rows rejected (1 of 5), above the limit of 2.00%; most frequent: session_not_closed: 1'] });
  });
});

describe('openSession', () => {
  it('is the clock\'s New York trading day until its close plus SESSION_CLOSE_MARGIN_MINUTES', () => {
    expect(SESSION_CLOSE_MARGIN_MINUTES).toBe(15);
    expect(openSession(new Date('2016-05-25T15:05:00Z'))).toEqual({ date: '2016-05-25', close: '16:00', finalAt: '16:15', clock: '11:05' });
    expect(openSession(new Date('2016-05-25T20:15:00Z'))).toBeUndefined();
    // Winter (EST): 21:14 UTC is 16:14.
    expect(openSession(new Date('2017-01-03T21:14:00Z'))).toMatchObject({ date: '2017-01-03', clock: '16:14' });
    expect(openSession(new Date('2017-01-03T21:15:00Z'))).toBeUndefined();
    // Early close: Christmas Eve 2018 (Monday) closed at 13:00.
    expect(openSession(new Date('2018-12-24T18:00:00Z'))).toEqual({ date: '2018-12-24', close: '13:00', finalAt: '13:15', clock: '13:00' });
    // Weekends and holidays have no session.
    expect(openSession(new Date('2016-05-28T15:00:00Z'))).toBeUndefined();
    expect(openSession(new Date('2016-07-04T15:00:00Z'))).toBeUndefined();
    // A margin of 0 ends the session at the bell.
    expect(openSession(new Date('2016-05-25T20:00:00Z'), 0)).toBeUndefined();
  });

  it('reads New York time across midnight UTC', () => {
    expect(newYorkTime(new Date('2016-05-26T03:30:00Z'))).toBe('23:30');
    expect(newYorkTime(new Date('2016-05-26T04:05:00Z'))).toBe('00:05');
  });

  it('leaves rowIssue as before when no session is given', () => {
    expect(rowIssue(bar('2016-05-25', 2), '2016-05-25')).toBeUndefined();
  });
});
