/**
 * The plausibility bound is two-sided: a score far below chance (AUC 0.01, accuracy 2%) ranks the
 * future as well as one far above it, with its sign flipped, and is as much a leak.
 */
import { DEFAULT_PLAUSIBILITY, plausibilityBound } from '../../../lib/training/guards';

const direction = DEFAULT_PLAUSIBILITY.direction;
const base = { baselineAuc: 0.5, baselineName: 'momentum_sign', baselineAccuracy: 0.52, accuracyBaselineName: 'pre_period_majority' };

describe('plausibility bound, two-sided', () => {
  it('trips on an AUC near 0 and an accuracy far below the baseline: a sign-flipped leak', () => {
    for (const auc of [0, 0.02, 0.3]) {
      const v = plausibilityBound('direction', direction, { ...base, auc, aucLower: Math.max(0, auc - 0.01), accuracy: 1 - auc, accuracyLower: 1 - auc - 0.01 });
      expect(v.tripped).toBe(true);
    }
    const flipped = plausibilityBound('direction', direction, { ...base, auc: 0.01, aucLower: 0, accuracy: 0.02, accuracyLower: 0.01 });
    expect(flipped.tripped).toBe(true);
    expect(flipped.message).toMatch(/AUC 0\.0100 .*below the floor 0\.420/);
    expect(flipped.message).toMatch(/accuracy 2\.0% .*below the floor of 33\.0%/);
    expect(flipped.message).toMatch(/sign-flipped leak/);
    // Its upper bound is what counts: judged on the mirror of the lower when no upper is given.
    expect(plausibilityBound('direction', direction, { ...base, auc: 0.38, aucLower: 0.3, aucUpper: 0.46, accuracy: 0.5, accuracyLower: 0.45 }).tripped).toBe(false);
    expect(plausibilityBound('direction', direction, { ...base, auc: 0.38, aucLower: 0.37, accuracy: 0.5, accuracyLower: 0.45 }).tripped).toBe(true);
  });

  it('trips on a within-day AUC near 0 whose pooled AUC is near chance', () => {
    const v = plausibilityBound('direction', direction, { ...base, auc: 0.5, aucLower: 0.48, accuracy: 0.5, accuracyLower: 0.48, withinDay: { auc: 0.1, lower: 0.08, baselineAuc: 0.5, baselineName: 'reversal' } });
    expect(v.tripped).toBe(true);
    expect(v.message).toMatch(/within-day AUC 0\.1000 .*below the floor/);
  });

  it('passes honest models a little below chance, and a model always calling the minority class of a lopsided period', () => {
    expect(plausibilityBound('direction', direction, { ...base, auc: 0.47, aucLower: 0.44, accuracy: 0.47, accuracyLower: 0.44 }).tripped).toBe(false);
    // 71% of the period went up; a model calling down throughout scores 29%, the majority baseline 71%.
    expect(plausibilityBound('direction', direction, { ...base, auc: 0.5, aucLower: 0.47, accuracy: 0.29, accuracyLower: 0.26, baselineAccuracy: 0.71 }).tripped).toBe(false);
    const v = plausibilityBound('direction', direction, { ...base, auc: 0.5, aucLower: 0.47, accuracy: 0.5, accuracyLower: 0.47 });
    expect(v.message).toMatch(/AUC floor 0\.420/);
  });
});
