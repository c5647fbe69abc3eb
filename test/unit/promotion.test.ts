import { promotionDecision } from '../../lib/registry/promotion';

const policy = { metric: 'auc' as const, margin: 0.005, minAuc: 0.5 };
const scores = (auc: number, extra: object = {}) => ({ auc, accuracyLift: 0.01, sharpe: 0.5, shuffledLabelPassed: true, ...extra });

describe('promotion policy', () => {
  it('promotes the first model that passes the floors, then only a margin winner', () => {
    expect(promotionDecision(scores(0.52), undefined, policy).promote).toBe(true);
    expect(promotionDecision(scores(0.49), undefined, policy)).toEqual({ promote: false, reason: 'not promoted: out-of-sample AUC 0.4900 is below the floor 0.5' });
    expect(promotionDecision(scores(0.524), scores(0.52), policy).promote).toBe(false);
    expect(promotionDecision(scores(0.526), scores(0.52), policy).promote).toBe(true);
    expect(promotionDecision(scores(0.6), scores(0.52), { ...policy, metric: 'sharpe' }).promote).toBe(false);
  });

  it('never promotes a model flagged for leakage', () => {
    expect(promotionDecision(scores(0.9, { leakageAlarm: 'too good' }), undefined, policy).reason).toBe('not promoted: too good');
    expect(promotionDecision(scores(0.6, { shuffledLabelPassed: false }), undefined, policy).promote).toBe(false);
  });
});
