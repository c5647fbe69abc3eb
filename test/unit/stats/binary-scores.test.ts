import { binaryAucOf, brierScoreOf } from '../../../lib/stats/binary-scores';

describe('binary scores', () => {
  it('AUC by ranks, ties counting half, against a brute-force count over every pair', () => {
    const p = [0.9, 0.4, 0.4, 0.7, 0.1, 0.4, 0.8, 0.2];
    const y = [1, 0, 1, 1, 0, 0, 1, 0];
    let wins = 0;
    let pairs = 0;
    for (let i = 0; i < p.length; i++) for (let j = 0; j < p.length; j++) if (y[i] === 1 && y[j] === 0) {
      pairs++;
      wins += p[i] > p[j] ? 1 : p[i] === p[j] ? 0.5 : 0;
    }
    expect(binaryAucOf(p, y)).toBeCloseTo(wins / pairs, 12);
    expect(binaryAucOf([0.2, 0.3], [1, 1])).toBeNaN();
    expect(brierScoreOf([1, 0], [1, 1])).toBe(0.5);
  });

  it('is NaN when a score is NaN, wherever it stands: a missing score has no rank (it gave 0.5 or 0.625 for a perfect ranking of the others)', () => {
    const p = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9];
    const y = [0, 0, 0, 1, 1, 1];
    expect(binaryAucOf(p, y)).toBe(1);
    for (const at of [0, 3, 6]) {
      const withNaN = [...p.slice(0, at), NaN, ...p.slice(at)];
      const outcomes = [...y.slice(0, at), at < 3 ? 0 : 1, ...y.slice(at)];
      expect(binaryAucOf(withNaN, outcomes)).toBeNaN();
    }
  });
});
