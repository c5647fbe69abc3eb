import { newYorkClock } from '../../../lib/calendar/nyse';
import { freshnessOf, latestExpectedSession, tradingDaysBehind } from '../../../lib/monitoring/freshness';

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
