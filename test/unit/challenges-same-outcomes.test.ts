import { sameOutcomes, sameOutcomesElsewhere } from '../../lib/registry/challenges';

/**
 * Challenges under other model names count against a new one when they predicted the same outcomes.
 * Hopping between nearby horizons (5, 6, 4 sessions) or from direction to triple-barrier labels of
 * the same horizon started the count at 1 each time, spending alpha afresh on largely the same moves.
 */
const symbols = ['AAPL', 'MSFT', 'IBM', 'KO'];
const of = (label: object, universe = symbols) => ({ label, symbols: universe });
const direction = (horizon: number) => ({ kind: 'direction', horizon, deadZone: 0 });

describe('sameOutcomes: the same moves, whatever the label is called', () => {
  it.each([
    ['direction/5 and direction/6', direction(6)],
    ['direction/5 and direction/4', direction(4)],
    ['direction/5 and direction/10 (a factor of 2)', direction(10)],
    ['direction/5 and direction/5 with a dead zone', { kind: 'direction', horizon: 5, deadZone: 0.002 }],
    ['direction/5 and triple_barrier/5', { kind: 'triple_barrier', horizon: 5, profitTake: 2, stopLoss: 2, volWindow: 20 }],
  ])('counts %s as the same outcomes', (_name, label) => {
    expect(sameOutcomes(of(direction(5)), of(label))).toBe(true);
    expect(sameOutcomes(of(label), of(direction(5)))).toBe(true);
  });

  it.each([
    ['direction/5 and direction/11 (beyond a factor of 2)', direction(11)],
    ['direction/5 and direction/1', direction(1)],
    ['direction/5 and volatility_regime/5 (another target)', { kind: 'volatility_regime', horizon: 5, trailing: 20 }],
    ['a label without a horizon', { kind: 'direction' }],
  ])('does not count %s', (_name, label) => {
    expect(sameOutcomes(of(direction(5)), of(label))).toBe(false);
  });

  it('needs half of the smaller universe shared', () => {
    expect(sameOutcomes(of(direction(5), ['AAPL', 'MSFT']), of(direction(6), ['AAPL', 'KO', 'PG']))).toBe(true);
    expect(sameOutcomes(of(direction(5), ['AAPL', 'MSFT', 'IBM']), of(direction(6), ['AAPL', 'KO', 'PG']))).toBe(false);
  });

  it('makes an earlier challenge of another name on a nearby horizon count, when its period is no new outcomes', () => {
    const a = { datasetId: 'ds-a', period: { from: '2017-01-03', to: '2017-12-29' }, outcomes: of(direction(5)), createdAt: '2018-01-05T00:00:00Z' };
    expect(sameOutcomesElsewhere(a, { datasetId: 'ds-b', period: { from: '2017-01-03', to: '2017-12-29' }, outcomes: of(direction(6)) })).toBe(true);
    // A period starting after the earlier one ended and was judged is new outcomes.
    expect(sameOutcomesElsewhere(a, { datasetId: 'ds-b', period: { from: '2018-02-01', to: '2018-06-29' }, outcomes: of(direction(6)) })).toBe(false);
  });
});
