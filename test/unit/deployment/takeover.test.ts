import { challengerShare, takeoverEnd, trafficText, type ServingNow } from '../../../lib/deployment/takeover';

const why = 'the champion alias of m moved from v2 to v3 (by cli (ops): rollback to v3: fine) after deployment d began';

describe('how a deployment whose traffic was taken over records its end', () => {
  it('describes the stored routes, not the split the deployment last wrote', () => {
    expect(trafficText({ champion: 1, routes: [{ variant: 'champion', version: 1, weight: 1 }] })).toBe('v1 on all traffic');
    expect(trafficText({ champion: 2, routes: [{ variant: 'canary', version: 3, weight: 0.25 }, { variant: 'champion', version: 2, weight: 0.75 }] })).toBe('v3 at 25% (canary), v2 at 75% (champion)');
    // A route at weight 0 serves nothing; a shadow is named.
    expect(trafficText({ champion: 2, routes: [{ variant: 'canary', version: 3, weight: 1 }, { variant: 'champion', version: 2, weight: 0 }], shadow: 4 })).toBe('v3 on all traffic, v4 in shadow');
    expect(trafficText({ champion: null })).toBe('no routes, nothing served');
  });

  it('a challenger made champion by hand is taken over, not withdrawn', () => {
    const serving: ServingNow = { champion: 3, championMovedBy: 'cli (ops)', routes: [{ variant: 'champion', version: 3, weight: 1 }], routesUpdatedBy: 'cli (ops)' };
    expect(takeoverEnd(3, serving, why, 'aborted: take it (ops)')).toEqual({ superseded: true, message: `taken over: v3 made champion by cli (ops); traffic left as it is (v3 on all traffic): ${why}: aborted: take it (ops)` });
  });

  it('a challenger a routes edit left serving is taken over, with its share', () => {
    const serving: ServingNow = { champion: 2, routes: [{ variant: 'canary', version: 3, weight: 0.4 }, { variant: 'champion', version: 2, weight: 0.6 }], routesUpdatedBy: 'api:ops' };
    expect(challengerShare(3, serving)).toBeCloseTo(0.4, 12);
    expect(takeoverEnd(3, serving, 'routes changed', 'stopped')).toEqual({ superseded: true, message: 'taken over: v3 left serving 40% by api:ops; traffic left as it is (v3 at 40% (canary), v2 at 60% (champion)): routes changed: stopped' });
  });

  it('a challenger the person rolled away from is withdrawn, with what serves now', () => {
    const serving: ServingNow = { champion: 1, championMovedBy: 'cli (ops)', routes: [{ variant: 'champion', version: 1, weight: 1 }] };
    expect(takeoverEnd(3, serving, why, 'aborted')).toEqual({ superseded: false, message: `v3 withdrawn, traffic left as it is (${why}; serving now: v1 on all traffic): aborted` });
  });
});
