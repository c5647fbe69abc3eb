/**
 * Every prediction says how many sessions its features are behind: a session counts once its bar
 * is due (the close, 16:00 New York or the early close, plus the grace), so the hours before that,
 * weekends and holidays never make an answer stale.
 */
import { ExpectedSessionClock, stalenessOf } from '../../../lib/serving/staleness';

const at = (iso: string) => new Date(iso);

describe('staleness of served features', () => {
  it('counts a session only once its bar is due (close + grace), across weekends, holidays and early closes', () => {
    const clock = (now: string, grace = 120) => new ExpectedSessionClock(grace).at(at(now));
    // Tuesday 1 December 2026's features, asked for on Wednesday 2 December (EST: UTC−5).
    expect(stalenessOf('2026-12-01', clock('2026-12-02T22:59:00Z'))).toEqual({ sessionsBehind: 0, stale: false }); // 17:59 New York: not due
    expect(stalenessOf('2026-12-01', clock('2026-12-02T23:00:00Z'))).toEqual({ sessionsBehind: 1, stale: true }); // 18:00: due
    expect(stalenessOf('2026-12-01', clock('2026-12-02T21:01:00Z', 0))).toEqual({ sessionsBehind: 1, stale: true }); // no grace: due at the close
    // Friday's features over the weekend and on Monday before the close are current.
    expect(stalenessOf('2026-12-04', clock('2026-12-06T15:00:00Z'))).toEqual({ sessionsBehind: 0, stale: false });
    expect(stalenessOf('2026-12-04', clock('2026-12-07T20:00:00Z'))).toEqual({ sessionsBehind: 0, stale: false });
    // Thanksgiving (26 November 2026) is no session; the Friday after closes at 13:00, due at 15:00.
    expect(stalenessOf('2026-11-25', clock('2026-11-27T19:59:00Z'))).toEqual({ sessionsBehind: 0, stale: false });
    expect(stalenessOf('2026-11-25', clock('2026-11-27T20:00:00Z'))).toEqual({ sessionsBehind: 1, stale: true });
    // Years-old features: every session since.
    expect(stalenessOf('2018-02-07', clock('2026-12-02T23:00:00Z')).sessionsBehind).toBeGreaterThan(2200);
    // A timestamped as-of counts by its date; features newer than expected are current.
    expect(stalenessOf('2026-12-02T21:00:00Z', clock('2026-12-02T23:00:00Z'))).toEqual({ sessionsBehind: 0, stale: false });
  });

  it('recomputes the expected session when the minute changes, not per request', () => {
    const clock = new ExpectedSessionClock(120);
    expect(clock.at(at('2026-12-02T22:59:30Z'))).toBe('2026-12-01');
    expect(clock.at(at('2026-12-02T22:59:59Z'))).toBe('2026-12-01');
    expect(clock.at(at('2026-12-02T23:00:00Z'))).toBe('2026-12-02');
  });
});
