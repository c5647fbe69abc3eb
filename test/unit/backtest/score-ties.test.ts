import { backtestOf, type BacktestResult } from '../../../lib/backtest/backtest';
import type { BacktestInput, BacktestOptionsInput } from '../../../lib/backtest/input';
import { BadInputError } from '../../../lib/errors';
import { rng } from '../../../lib/random';

/**
 * Score ties at the top-k cut are broken by a seeded draw per day, never by the order of the symbols, and
 * how often scores tie is reported. Prices are flat: only which symbols are held matters here.
 */
const noCosts: BacktestOptionsInput = { costBps: 0, slippageBps: 0 };

/** n symbols over periods + 2 dates; score(s, t) for the executed dates t < periods, `late` on the last two. */
function universe(names: readonly string[], periods: number, score: (s: number, t: number) => number, late = NaN): BacktestInput {
  const days = periods + 2;
  const dates = Array.from({ length: days }, (_, d) => new Date(Date.UTC(2021, 0, 1) + d * 86_400_000).toISOString().slice(0, 10));
  return {
    dates,
    symbols: names.map((symbol, s) => ({
      symbol,
      open: new Float64Array(days).fill(100),
      close: new Float64Array(days).fill(100),
      score: Float64Array.from({ length: days }, (_, t) => (t < periods ? score(s, t) : late)),
    })),
  };
}

const namesOf = (n: number) => Array.from({ length: n }, (_, s) => `S${String(s).padStart(2, '0')}`);

/** Names held long (side 1) or short (side −1) in each period. */
function heldOf(r: BacktestResult, side: 1 | -1 = 1): string[][] {
  const n = r.symbols.length;
  return Array.from({ length: r.strategy.netReturns.length }, (_, i) => r.symbols.filter((_, s) => Math.sign(r.strategy.weights[i * n + s]) === side).sort());
}

/** Share of the listed periods in which each name is held. */
function heldShares(held: string[][], names: readonly string[], periods: readonly number[]): number[] {
  return names.map((name) => periods.filter((i) => held[i].includes(name)).length / periods.length);
}

/** |share − p| within `z` binomial standard deviations over `trials` draws. */
const expectBinomial = (share: number, p: number, trials: number, z = 4.5) => expect(Math.abs(share - p)).toBeLessThan(z * Math.sqrt((p * (1 - p)) / trials));

const range = (n: number, keep: (i: number) => boolean = () => true) => Array.from({ length: n }, (_, i) => i).filter(keep);

describe('all scores equal every day, with topK', () => {
  const n = 10;
  const k = 3;
  const periods = 1000;
  const names = namesOf(n);
  const input = universe(names, periods, () => 0.8);
  const result = backtestOf(input, { ...noCosts, topK: k }, { seed: 1 });
  const held = heldOf(result);

  it('holds exactly k symbols at 1/k each day, not the first k', () => {
    held.forEach((h) => expect(h).toHaveLength(k));
    expect(new Set(result.strategy.weights)).toEqual(new Set([0, 1 / k]));
    // The first k would be held on about periods / C(10, 3) = 8 days by chance; ranking by order holds them every day.
    const firstK = names.slice(0, k).join();
    expect(held.filter((h) => h.join() === firstK).length).toBeLessThan(30);
  });

  it('holds each symbol on a share of days near k/N, and each pair near k(k−1)/(N(N−1))', () => {
    heldShares(held, names, range(periods)).forEach((share) => expectBinomial(share, k / n, periods));
    const pair = (k * (k - 1)) / (n * (n - 1));
    for (let a = 0; a < n; a++) {
      for (let b = a + 1; b < n; b++) {
        const both = held.filter((h) => h.includes(names[a]) && h.includes(names[b])).length / periods;
        expectBinomial(both, pair, periods, 5);
      }
    }
  });

  it('draws the same symbols when the universe is listed the other way round (not the last k)', () => {
    const reversed = backtestOf({ ...input, symbols: [...input.symbols].reverse() }, { ...noCosts, topK: k }, { seed: 1 });
    expect(heldOf(reversed)).toEqual(held);
  });

  it('is reproducible with the same seed and different with another', () => {
    const again = backtestOf(input, { ...noCosts, topK: k }, { seed: 1 });
    expect(Array.from(again.strategy.weights)).toEqual(Array.from(result.strategy.weights));
    expect(again.seed).toBe(1);
    const other = heldOf(backtestOf(input, { ...noCosts, topK: k }, { seed: 2 }));
    // Two independent draws agree on about 1 day in C(10, 3) = 120.
    expect(other.filter((h, i) => h.join() === held[i].join()).length).toBeLessThan(periods / 20);
  });

  it('reports every day as constant and decided by the draw', () => {
    expect(result.scoreTies).toEqual({
      scoredDays: periods,
      constantDays: periods,
      tiedCutDays: periods,
      constantShare: 1,
      tiedCutShare: 1,
      meanDistinctShare: expect.closeTo(1 / n, 12),
    });
  });
});

describe('ties only at the cut', () => {
  // k = 3. Even periods: A .9, B .9 | C .7, D .7, E .7 straddle the cut (one of three gets in) | F .6, G .6.
  // Odd periods: C is .75, so the cut falls between C and D/E: no draw. Ties above or below the cut never need one.
  const names = ['A', 'B', 'C', 'D', 'E', 'F', 'G'];
  const periods = 600;
  const even = [0.9, 0.9, 0.7, 0.7, 0.7, 0.6, 0.6];
  const odd = [0.9, 0.9, 0.75, 0.7, 0.7, 0.6, 0.6];
  const input = universe(names, periods, (s, t) => (t % 2 === 0 ? even : odd)[s]);
  const result = backtestOf(input, { ...noCosts, topK: 3 }, { seed: 11 });
  const held = heldOf(result);
  const evenPeriods = range(periods, (i) => i % 2 === 0);

  it('always holds the symbols clearly above the cut and never those below', () => {
    held.forEach((h) => {
      expect(h).toHaveLength(3);
      expect(h).toEqual(expect.arrayContaining(['A', 'B']));
      expect(h).not.toContain('F');
      expect(h).not.toContain('G');
    });
    range(periods, (i) => i % 2 === 1).forEach((i) => expect(held[i]).toEqual(['A', 'B', 'C']));
  });

  it('draws the one tied symbol that gets in uniformly, not the first listed', () => {
    heldShares(held, ['C', 'D', 'E'], evenPeriods).forEach((share) => expectBinomial(share, 1 / 3, evenPeriods.length));
  });

  it('counts only the days whose cut fell inside the tied group', () => {
    expect(result.scoreTies).toEqual({
      scoredDays: periods,
      constantDays: 0,
      tiedCutDays: periods / 2,
      constantShare: 0,
      tiedCutShare: 0.5,
      meanDistinctShare: expect.closeTo((3 / 7 + 4 / 7) / 2, 12), // 3 distinct of 7 on even days, 4 of 7 on odd
    });
  });
});

describe('distinct scores', () => {
  // Random scores (some missing): every cut is clear, so the result is exactly the sort by score, whatever the seed.
  const n = 30;
  const periods = 300;
  const k = 5;
  const draw = rng(2024);
  const values = Array.from({ length: n * periods }, () => (draw() < 0.1 ? NaN : draw()));
  const input = universe(namesOf(n), periods, (s, t) => values[t * n + s]);

  /** Top k by score alone, 1/k (long_flat) or 1/(2k) (long_short) each. */
  function sortedWeights(strategy: 'long_flat' | 'long_short', threshold: number): number[] {
    const weights = new Array<number>(periods * n).fill(0);
    const unit = strategy === 'long_short' ? 1 / (2 * k) : 1 / k;
    for (let t = 0; t < periods; t++) {
      const scored = range(n, (s) => !Number.isNaN(values[t * n + s]));
      const byScore = scored.sort((a, b) => values[t * n + b] - values[t * n + a]);
      byScore.filter((s) => values[t * n + s] > threshold).slice(0, k).forEach((s) => (weights[t * n + s] = unit));
      if (strategy === 'long_short') byScore.filter((s) => values[t * n + s] < 1 - threshold).reverse().slice(0, k).forEach((s) => (weights[t * n + s] = -unit));
    }
    return weights;
  }

  it.each([
    ['long_flat', 0.5],
    ['long_short', 0.6],
  ] as const)('%s with threshold %d holds the same weights as the sort by score, with any seed', (strategy, threshold) => {
    const expected = sortedWeights(strategy, threshold);
    for (const seed of [0, 77]) {
      const result = backtestOf(input, { ...noCosts, strategy, threshold, topK: k }, { seed });
      expect(Array.from(result.strategy.weights)).toEqual(expected);
      expect(result.scoreTies).toEqual({ scoredDays: periods, constantDays: 0, tiedCutDays: 0, constantShare: 0, tiedCutShare: 0, meanDistinctShare: 1 });
    }
  });
});

describe('long_short with ties on the short side', () => {
  // k = 2. Long: A .9, B .8, C .7 (distinct: A and B) on even periods; on odd periods A, B, C are all .9 (two of three).
  // D .5 is flat. Short: E, F, G, H all .2 every day (two of four).
  const names = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'];
  const periods = 800;
  const even = [0.9, 0.8, 0.7, 0.5, 0.2, 0.2, 0.2, 0.2];
  const odd = [0.9, 0.9, 0.9, 0.5, 0.2, 0.2, 0.2, 0.2];
  const input = universe(names, periods, (s, t) => (t % 2 === 0 ? even : odd)[s]);
  const options: BacktestOptionsInput = { ...noCosts, strategy: 'long_short', topK: 2 };
  const result = backtestOf(input, options, { seed: 5 });
  const longs = heldOf(result, 1);
  const shorts = heldOf(result, -1);
  const evenPeriods = range(periods, (i) => i % 2 === 0);
  const oddPeriods = range(periods, (i) => i % 2 === 1);

  it('draws which of the tied lowest scores are shorted, each about half the days', () => {
    expect(new Set(result.strategy.weights)).toEqual(new Set([0, 0.25, -0.25]));
    shorts.forEach((s) => {
      expect(s).toHaveLength(2);
      s.forEach((name) => expect(['E', 'F', 'G', 'H']).toContain(name));
    });
    heldShares(shorts, ['E', 'F', 'G', 'H'], range(periods)).forEach((share) => expectBinomial(share, 1 / 2, periods));
  });

  it('keeps a clear long side exact and draws the long side only when it is tied', () => {
    evenPeriods.forEach((i) => expect(longs[i]).toEqual(['A', 'B']));
    oddPeriods.forEach((i) => expect(longs[i]).toHaveLength(2));
    heldShares(longs, ['A', 'B', 'C'], oddPeriods).forEach((share) => expectBinomial(share, 2 / 3, oddPeriods.length));
    longs.forEach((l, i) => expect([...l, ...shorts[i]]).not.toContain('D'));
  });

  it('counts a day whose draw decided either side once', () => {
    expect(result.scoreTies.tiedCutDays).toBe(periods);
    expect(result.scoreTies.tiedCutShare).toBe(1);
    expect(result.scoreTies.constantDays).toBe(0);
  });

  it('shorts the same symbols however the universe is listed', () => {
    const reversed = backtestOf({ ...input, symbols: [...input.symbols].reverse() }, options, { seed: 5 });
    expect(heldOf(reversed, -1)).toEqual(shorts);
    expect(heldOf(reversed, 1)).toEqual(longs);
  });
});

describe('tie statistics without topK', () => {
  it('reports constant days (market timing, not selection); there is no cut to tie', () => {
    // Executed dates 0..5; the last two dates (never traded) are all .9 and must not count.
    //   0: all .6 (constant)   1: all .3 (constant)   2: .1 .2 .3 .4 (4 distinct of 4)   3: .7 .7 .2 NaN (2 of 3)
    //   4: one finite score (not scored)   5: none (not scored)
    const byDay = [
      [0.6, 0.6, 0.6, 0.6],
      [0.3, 0.3, 0.3, 0.3],
      [0.1, 0.2, 0.3, 0.4],
      [0.7, 0.7, 0.2, NaN],
      [0.7, NaN, NaN, NaN],
      [NaN, NaN, NaN, NaN],
    ];
    const result = backtestOf(universe(namesOf(4), 6, (s, t) => byDay[t][s], 0.9), noCosts);
    expect(result.scoreTies).toEqual({
      scoredDays: 4,
      constantDays: 2,
      tiedCutDays: 0,
      constantShare: 0.5,
      tiedCutShare: 0,
      meanDistinctShare: expect.closeTo((1 / 4 + 1 / 4 + 1 + 2 / 3) / 4, 12),
    });
  });

  it('reports zero shares, not NaN, when no day has two scores', () => {
    const result = backtestOf(universe(namesOf(2), 3, (s) => (s === 0 ? 0.7 : NaN)), { ...noCosts, topK: 1 });
    expect(result.scoreTies).toEqual({ scoredDays: 0, constantDays: 0, tiedCutDays: 0, constantShare: 0, tiedCutShare: 0, meanDistinctShare: 0 });
  });
});

describe('seed', () => {
  const input = universe(namesOf(5), 20, () => 0.9);

  it('defaults to 0', () => {
    const byDefault = backtestOf(input, { topK: 2 });
    expect(byDefault.seed).toBe(0);
    expect(Array.from(byDefault.strategy.weights)).toEqual(Array.from(backtestOf(input, { topK: 2 }, { seed: 0 }).strategy.weights));
  });

  it('must be an integer', () => {
    expect(() => backtestOf(input, { topK: 2 }, { seed: 1.5 })).toThrow(BadInputError);
  });
});
