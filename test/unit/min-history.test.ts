import { computeFeatures, requiredBars, type SymbolBars } from '../../lib/features/compute-features';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from '../../lib/features/feature-set';
import { DEFAULT_MIN_HISTORY_BARS } from '../../lib/features/min-history';
import type { CandidateBar } from '../../lib/market-data/csv-reader';
import { qualityPolicySchema } from '../../lib/quality/policy';
import { seriesIssues } from '../../lib/quality/rules';
import { syntheticUniverse } from '../helpers/universe';

/** The first `n` bars of a generated symbol, as the gate and the feature step each read them. */
function prefix(s: SymbolBars, n: number): { candidates: CandidateBar[]; bars: SymbolBars } {
  const candidates = s.dates.slice(0, n).map((date, i) => ({ symbol: s.symbol, date, open: s.open[i], high: s.high[i], low: s.low[i], close: s.close[i], volume: s.volume[i], source: 'x.csv', line: i + 2, raw: '' }));
  const bars = { symbol: s.symbol, dates: s.dates.slice(0, n), open: s.open.subarray(0, n), high: s.high.subarray(0, n), low: s.low.subarray(0, n), close: s.close.subarray(0, n), volume: s.volume.subarray(0, n) };
  return { candidates, bars };
}

describe('one minimum history for the quality gate and the features', () => {
  const set = defineFeatureSet(DEFAULT_FEATURE_SET);
  const policy = qualityPolicySchema.parse({});

  it('short_series defaults to what the default feature set needs', () => {
    expect(DEFAULT_MIN_HISTORY_BARS).toBe(requiredBars(set));
    expect(policy.minHistoryBars).toBe(requiredBars(set));
  });

  it.each([251, 252, 253, 254, 255])('%i bars: flagged short exactly when the feature step skips it', (n) => {
    const { candidates, bars } = prefix(syntheticUniverse(1)[0], n);
    const flagged = seriesIssues(candidates, policy).some((i) => i.rule === 'short_series');
    const skipped = computeFeatures([bars], set).skipped.some((s) => s.symbol === bars.symbol);
    expect({ flagged, skipped }).toEqual({ flagged: skipped, skipped: n < requiredBars(set) });
  });
});
