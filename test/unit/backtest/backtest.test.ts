import { backtestOf, type BacktestResult } from '../../../lib/backtest/backtest';
import type { BacktestInput, BacktestOptionsInput } from '../../../lib/backtest/input';

const f = (values: number[]) => Float64Array.from(values);
const list = (x: Float64Array) => Array.from(x);

/**
 * Two symbols, six dates. Period i runs from the open of D(i+1) to the open of D(i+2) and trades on the
 * scores of D(i):
 *   period         0 (D1→D2)  1 (D2→D3)  2 (D3→D4)  3 (D4→D5)
 *   A open return   +10%       −10%        0%        +10%      (opens 100, 100, 110, 99, 99, 108.9)
 *   B open return     0%       +10%      −20%          0%      (opens  50,  50,  50, 55, 44, 44)
 * Scores at D4 and D5 are never traded: there is no open after D5 to close the position at.
 */
const twoSymbols: BacktestInput = {
  dates: ['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04', '2024-01-05', '2024-01-08'],
  symbols: [
    { symbol: 'A', open: f([100, 100, 110, 99, 99, 108.9]), close: f([100, 105, 100, 99, 104, 110]), score: f([0.7, 0.4, 0.6, 0.8, 0.3, 0.9]) },
    { symbol: 'B', open: f([50, 50, 50, 55, 44, 44]), close: f([50, 50, 52, 50, 44, 45]), score: f([0.3, 0.8, 0.5, 0.2, 0.6, 0.1]) },
  ],
};
const costs25 = { costBps: 10, slippageBps: 15 }; // 0.25% of turnover

const expectClose = (actual: Float64Array, expected: number[]) => {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => expect(actual[i]).toBeCloseTo(e, 12));
};

/**
 * The book period by period, all symbols tradable: at each open the weights held (last period's
 * after their move, w·(1 + r) / (1 + gross)) are traded to the targets; costs = rate × turnover,
 * paid at the open, so net = (1 − costs)(1 + gross) − 1.
 */
function book(weights: number[][], returns: number[][], rate: number): { turnover: number[]; costs: number[]; net: number[] } {
  const turnover: number[] = [];
  const costs: number[] = [];
  const net: number[] = [];
  weights.forEach((w, i) => {
    const gross = (k: number) => weights[k].reduce((sum, v, s) => sum + v * returns[k][s], 0);
    const held = i === 0 ? w.map(() => 0) : weights[i - 1].map((v, s) => (v * (1 + returns[i - 1][s])) / (1 + gross(i - 1)));
    turnover.push(w.reduce((sum, v, s) => sum + Math.abs(v - held[s]), 0));
    costs.push(rate * turnover[i]);
    net.push((1 - costs[i]) * (1 + gross(i)) - 1);
  });
  return { turnover, costs, net };
}
/** twoSymbols' open-to-open returns, period by period: [A, B]. */
const twoReturns = [
  [0.1, 0],
  [-0.1, 0.1],
  [0, -0.2],
  [0.1, 0],
];
const equityOf = (net: number[]) => net.reduce((e, r) => [...e, e[e.length - 1] * (1 + r)], [1]);

describe('long_flat on two symbols', () => {
  // Signals (score > 0.5): A: D0 long, D1 flat, D2 long, D3 long; B: D0 flat, D1 long, D2 flat (0.5 is not > 0.5), D3 flat.
  // Weights are 1/N = 0.5 per long:      A .5, 0, .5, .5        B 0, .5, 0, 0
  // gross = Σ w·r:                       .5·10% = .05 | .5·10% (B) = .05 | .5·0 = 0 | .5·10% = .05
  // turnover Σ|target − drifted weight|: .5 | A .55/1.05 sold + B .5 bought | B .55/1.05 sold + A .5 | 0 (A .5 did not move)
  // (before the drift was charged: .5 | 1 | 1 | 0; while it divided by 1 + net, A .5/(1 + net2) − .5 = .0013 was re-traded);
  // costs .0025 × turnover, paid at the open: net = (1 − costs)(1 + gross) − 1.
  const result = backtestOf(twoSymbols, { strategy: 'long_flat', ...costs25 });
  const { strategy } = result;
  const t1 = 0.55 / 1.05 + 0.5;
  const net1 = (1 - 0.0025 * t1) * 1.05 - 1;
  const t2 = 0.55 / 1.05 + 0.5;
  const net2 = -0.0025 * t2;
  const t3 = 0;
  const net3 = 0.05;
  const net = [(1 - 0.00125) * 1.05 - 1, net1, net2, net3];

  it('trades the score of date t at the open of t + 1 and earns open-to-open returns', () => {
    expect(result.equityDates).toEqual(twoSymbols.dates.slice(1));
    expectClose(strategy.weights, [0.5, 0, 0, 0.5, 0.5, 0, 0.5, 0]);
    expectClose(strategy.grossReturns, [0.05, 0.05, 0, 0.05]);
    expectClose(strategy.turnover, [0.5, t1, t2, t3]);
    expectClose(strategy.costs, [0.5, t1, t2, t3].map((t) => 0.0025 * t));
    expectClose(strategy.netReturns, net);
    expectClose(strategy.equity, equityOf(net));
    expect(book([[0.5, 0], [0, 0.5], [0.5, 0], [0.5, 0]], twoReturns, 0.0025).net.map((x, i) => x - net[i]).every((d) => Math.abs(d) < 1e-15)).toBe(true);
    expectClose(strategy.exposure, [0.5, 0.5, 0.5, 0.5]);
  });

  it('summarises activity: turnover, exposure, costs, trades', () => {
    const m = strategy.metrics;
    expect(m.totalReturn).toBeCloseTo(equityOf(net)[4] - 1, 12);
    expect(m.annualTurnover).toBeCloseTo(((0.5 + t1 + t2 + t3) / 4) * 252, 10); // mean turnover .637 per day (.625 before the drift was charged)
    expect(m.averageExposure).toBeCloseTo(0.5, 12);
    expect(m.totalCosts).toBeCloseTo(0.0025 * (0.5 + t1 + t2 + t3), 12);
    expect(m.hitRate).toBeCloseTo(3 / 4, 12); // −.0025 on D3→D4 is the only losing day
    // Trades: A periods 0 (+10%) and 2–3 (0%, +10% → +10%), B period 1 (+10%): 3 trades, all winners.
    expect(m.trades).toBe(3);
    expect(m.tradeHitRate).toBe(1);
  });

  it('never lets the score of date t change a return before the open of t + 1', () => {
    // Flip A's D2 score from long (0.6) to flat (0.1): the weights traded at the open of D3 change, nothing before.
    const flipped: BacktestInput = { ...twoSymbols, symbols: [{ ...twoSymbols.symbols[0], score: f([0.7, 0.4, 0.1, 0.8, 0.3, 0.9]) }, twoSymbols.symbols[1]] };
    const other = backtestOf(flipped, { strategy: 'long_flat', ...costs25 }).strategy;
    // Periods 0 and 1 (which end at the open of D3) are identical, including the return of D2's own open-to-open move.
    expect(list(other.netReturns.subarray(0, 2))).toEqual(list(strategy.netReturns.subarray(0, 2)));
    expect(list(other.weights.subarray(0, 4))).toEqual(list(strategy.weights.subarray(0, 4)));
    expect(other.weights[4]).toBe(0); // period 2 (from the open of D3): A now flat
    // Conversely a score on the last two dates is never traded at all.
    const late: BacktestInput = { ...twoSymbols, symbols: [{ ...twoSymbols.symbols[0], score: f([0.7, 0.4, 0.6, 0.8, 0.99, 0.01]) }, twoSymbols.symbols[1]] };
    expect(list(backtestOf(late, { strategy: 'long_flat', ...costs25 }).strategy.netReturns)).toEqual(list(strategy.netReturns));
  });
});

describe('long_short on two symbols', () => {
  // threshold 0.5: long > 0.5, short < 0.5, flat at exactly 0.5.
  // A: D0 +, D1 −, D2 +, D3 +   → weights .5, −.5, .5, .5
  // B: D0 −, D1 +, D2 0, D3 −   → weights −.5, .5, 0, −.5
  // gross: .5·10% − .5·0 = .05 | −.5·(−10%) + .5·10% = .10 | .5·0 + 0 = 0 | .5·10% − .5·0 = .05
  // turnover from the drifted weights (book above): 1 | 2.0024 | 1.4995 | .5 (1 | 2 | 1.5 | .5 before the drift was charged);
  // costs .0025 × turnover, no borrow fee here (tested below).
  const { strategy } = backtestOf(twoSymbols, { strategy: 'long_short', ...costs25, borrowRate: 0 });
  const ref = book([[0.5, -0.5], [-0.5, 0.5], [0.5, 0], [0.5, -0.5]], twoReturns, 0.0025);

  it('goes short below 1 − threshold and charges costs on both legs', () => {
    expectClose(strategy.weights, [0.5, -0.5, -0.5, 0.5, 0.5, 0, 0.5, -0.5]);
    expectClose(strategy.grossReturns, [0.05, 0.1, 0, 0.05]);
    expectClose(strategy.turnover, ref.turnover);
    expect(ref.turnover[1]).toBeCloseTo(0.55 / 1.05 + 0.5 + 0.5 / 1.05 + 0.5, 12); // A long .5 after +10% to short .5; B short .5 to long .5
    expectClose(strategy.costs, ref.costs);
    expectClose(strategy.netReturns, ref.net);
    expectClose(strategy.equity, equityOf(ref.net));
    expectClose(strategy.exposure, [1, 1, 0.5, 1]);
  });

  it('counts a flip from long to short as two trades and scores shorts by the price fall', () => {
    // A: long +10% (win), short while A fell 10% (win), long 0% then +10% (win).
    // B: short while flat (0%, not a win), long +10% (win), short while flat (0%, not a win).
    expect(strategy.metrics.trades).toBe(6);
    expect(strategy.metrics.tradeHitRate).toBeCloseTo(4 / 6, 12);
  });

  it('with a wider threshold stays flat in the dead band', () => {
    // threshold 0.65: long > .65, short < .35. A: D0 .7 long, D1 .4 flat, D2 .6 flat, D3 .8 long. B: D0 .3 short, D1 .8 long, D2 flat, D3 .2 short.
    const wide = backtestOf(twoSymbols, { strategy: 'long_short', threshold: 0.65, costBps: 0, slippageBps: 0 }).strategy;
    expectClose(wide.weights, [0.5, -0.5, 0, 0.5, 0, 0, 0.5, -0.5]);
  });
});

describe('holding period', () => {
  it('splits the book into overlapping tranches, each signal held holdingDays', () => {
    // holdingDays 2, long_flat: weight = 1/N × mean of the last two signals.
    // A signals D0..D3: 1, 0, 1, 1 → weights: (1)/2·.5 = .25 (no signal before D0), (1+0)/2·.5 = .25, (0+1)/2·.5 = .25, (1+1)/2·.5 = .5
    // B signals: 0, 1, 0, 0 → 0, .25, .25, 0
    // gross: .25·10% = .025 | .25·(−10%) + .25·10% = 0 | .25·0 + .25·(−20%) = −.05 | .5·10% = .05
    const { strategy } = backtestOf(twoSymbols, { holdingDays: 2, costBps: 0, slippageBps: 0 });
    expectClose(strategy.weights, [0.25, 0, 0.25, 0.25, 0.25, 0.25, 0.5, 0]);
    expectClose(strategy.grossReturns, [0.025, 0, -0.05, 0.05]);
    expectClose(strategy.turnover, book([[0.25, 0], [0.25, 0.25], [0.25, 0.25], [0.5, 0]], twoReturns, 0).turnover);
    // The reset after period 1 (A −10%, B +10%, book 0%): A .225 → .25, B .275 → .25.
    expect(strategy.turnover[2]).toBeCloseTo(0.05, 12);
  });
});

describe('top-k portfolio', () => {
  // Four symbols, five dates, three periods. Open-to-open returns per period:
  //        period 0   period 1   period 2
  //   A      +10%        0%        +10%     opens 100, 100, 110, 110, 121
  //   B      +20%      −10%          0%     opens 100, 100, 120, 108, 108
  //   C      −10%      +30%          0%     opens 100, 100,  90, 117, 117
  //   D      −20%      +10%          0%     opens 100, 100,  80,  88,  88
  const opens = [
    [100, 100, 110, 110, 121],
    [100, 100, 120, 108, 108],
    [100, 100, 90, 117, 117],
    [100, 100, 80, 88, 88],
  ];
  // Scores by date:   D0               D1               D2
  //              A .9 B .6 C .4 D .2   A .55 B .7 C .8 D .3   A .6 B .5 C .4 D .45
  const scores = [
    [0.9, 0.55, 0.6, NaN, NaN],
    [0.6, 0.7, 0.5, NaN, NaN],
    [0.4, 0.8, 0.4, NaN, NaN],
    [0.2, 0.3, 0.45, NaN, NaN],
  ];
  const input: BacktestInput = {
    dates: ['2024-02-05', '2024-02-06', '2024-02-07', '2024-02-08', '2024-02-09'],
    symbols: ['A', 'B', 'C', 'D'].map((symbol, s) => ({ symbol, open: f(opens[s]), close: f(opens[s]), score: f(scores[s]) })),
  };
  const noCosts: BacktestOptionsInput = { costBps: 0, slippageBps: 0 };

  it('long_flat holds the k best scores above the threshold at 1/k each', () => {
    // k = 2. D0: A, B → .5 each; gross .5·10% + .5·20% = .15.
    // D1: C (.8), B (.7) → gross .5·30% + .5·(−10%) = .10; turnover A −.5, C +.5 = 1.
    // D2: only A (.6) is above .5 → A .5 alone (exposure .5, not re-scaled); gross .5·10% = .05; turnover B .5 + C .5 + A .5 = 1.5.
    const { strategy } = backtestOf(input, { ...noCosts, topK: 2 });
    expectClose(strategy.weights, [0.5, 0.5, 0, 0, 0, 0.5, 0.5, 0, 0.5, 0, 0, 0]);
    expectClose(strategy.grossReturns, [0.15, 0.1, 0.05]);
    expectClose(strategy.turnover, [1, 1, 1.5]);
    expectClose(strategy.exposure, [1, 1, 0.5]);
  });

  it('long_short goes long the top k and short the bottom k, 1/(2k) each so gross exposure stays <= 1', () => {
    // k = 1. D0: long A, short D (.2) → +.5·10% − .5·(−20%) = .15.
    // D1: long C, short D (.3) → .5·30% − .5·10% = .10; turnover from the drifted book (+15%):
    //     A .55/1.15 sold, C .5 bought, D −.4/1.15 → −.5 = 1.1304 (1 before the drift was charged).
    // D2: long A (.6); short candidates < .5 are C .4 and D .45 → short C → .5·10% − .5·0 = .05;
    //     turnover A .5 + C .65/1.1 → −.5 + D −.55/1.1 → 0 = 2.0909 (2 before).
    const { strategy } = backtestOf(input, { ...noCosts, strategy: 'long_short', topK: 1, borrowRate: 0 });
    expectClose(strategy.weights, [0.5, 0, 0, -0.5, 0, 0, 0.5, -0.5, 0.5, 0, -0.5, 0]);
    expectClose(strategy.grossReturns, [0.15, 0.1, 0.05]);
    expectClose(strategy.turnover, [1, 0.55 / 1.15 + 0.5 + (0.5 - 0.4 / 1.15), 0.5 + 0.65 / 1.1 + 0.5 + 0.55 / 1.1]);
  });

  it('breaks score ties by a seeded draw, not by the order of the symbols (more in score-ties.test.ts)', () => {
    const tied: BacktestInput = { ...input, symbols: input.symbols.map((s) => ({ ...s, score: f([0.8, 0.8, 0.8, 0.8, 0.8]) })) };
    const heldOf = (i: BacktestInput) => {
      const r = backtestOf(i, { ...noCosts, topK: 1 }, { seed: 3 });
      return [0, 1, 2].map((p) => r.symbols.filter((_, s) => r.strategy.weights[p * 4 + s] === 1));
    };
    const held = heldOf(tied);
    held.forEach((names) => expect(names).toHaveLength(1));
    // Listing the universe the other way round draws the same symbols (ranking by order would pick D instead of A).
    expect(heldOf({ ...tied, symbols: [...tied.symbols].reverse() })).toEqual(held);
  });
});

describe('missing bars', () => {
  it('keeps the previous weight when a symbol has no open, and marks the position at the last close', () => {
    // A opens 100, 100, NaN, 121, 121 (close 100, 100, 110, 121, 121). Scores: D0 long, D1 exit (.1), then long.
    // Period 0 (D1→D2): long .5; A has no open at D2, so it is marked at the D1 close (100): return 0.
    // Period 1 (D2→D3): the D1 exit cannot execute without an open at D2: A stays .5 and earns 100 → 121 = +21%.
    // Period 2 (D3→D4): tradable again, D2 score says long: .5, return 0.
    const input: BacktestInput = {
      dates: ['2024-03-01', '2024-03-04', '2024-03-05', '2024-03-06', '2024-03-07'],
      symbols: [
        { symbol: 'A', open: f([100, 100, NaN, 121, 121]), close: f([100, 100, 110, 121, 121]), score: f([0.9, 0.1, 0.9, 0.9, 0.9]) },
        { symbol: 'B', open: f([NaN, NaN, 20, 22, 22]), close: f([NaN, NaN, 20, 22, 22]), score: f([0.9, 0.9, 0.9, 0.9, 0.9]) },
      ],
    };
    // B lists at D2: before that it cannot be bought (weight 0, its NaN return never read). Period 1: .5·10% from B.
    const { strategy, benchmark } = backtestOf(input, { costBps: 0, slippageBps: 0 });
    expectClose(strategy.weights, [0.5, 0, 0.5, 0.5, 0.5, 0.5]);
    expectClose(strategy.grossReturns, [0, 0.5 * 0.21 + 0.5 * 0.1, 0]);
    expect(strategy.metrics.trades).toBe(2);
    // The benchmark is fully invested in what can trade: all in A while B is not listed; A without an
    // open keeps its weight (nothing left for B); then half each.
    expectClose(benchmark.weights, [1, 0, 1, 0, 0.5, 0.5]);
  });
});

describe('buy-and-hold benchmark and information ratio', () => {
  // Benchmark: 1/2 in A and B from the open of D1, reset to 1/2 each open; entry turnover 1 costs .0025
  // (the resets are not charged to it: it is the bar the strategy must clear).
  //   gross: .5·10% + .5·0 = .05 | .5·(−10%) + .5·10% = 0 | .5·0 + .5·(−20%) = −.10 | .5·10% + 0 = .05
  //   net:   (1 − .0025)·1.05 − 1 = .047375 | 0 | −.10 | .05;  equity 1, 1.047375, 1.047375, .9426375, .989769375
  // (.0475 and .9898875 while costs were taken from the gross return instead of the equity it is earned on)
  // Active return of long_flat (net .04875, .0475, −.0025, .05) minus benchmark: .00125, .0475, .0975, 0
  //   mean = .14625 / 4 = .0365625; deviations −.0353125, .0109375, .0609375, −.0365625
  //   squares sum .006416796875; sample variance /3 = .002138932291667; tracking error = .04624859
  //   IR = .0365625 / .04624859 × √252 = .790564 × 15.874508 = 12.549824
  const result = backtestOf(twoSymbols, { strategy: 'long_flat', ...costs25 });

  it('holds the equal-weight universe, paying only for the entry', () => {
    const { benchmark } = result;
    expectClose(benchmark.grossReturns, [0.05, 0, -0.1, 0.05]);
    expectClose(benchmark.turnover, [1, 0, 0, 0]);
    expectClose(benchmark.netReturns, [0.047375, 0, -0.1, 0.05]);
    expectClose(benchmark.equity, [1, 1.047375, 1.047375, 0.9426375, 0.989769375]);
    expect(benchmark.metrics.totalReturn).toBeCloseTo(-0.010230625, 12);
    expect(benchmark.metrics.maxDrawdown.depth).toBeCloseTo(0.1, 12); // 1.047375 → .9426375
    expect(benchmark.metrics.maxDrawdown.peakDate).toBe('2024-01-03'); // equity first reaches 1.047375 at the open of D2
    expect(benchmark.metrics.maxDrawdown.troughDate).toBe('2024-01-05');
    expect(benchmark.metrics.trades).toBe(2);
  });

  it('measures the strategy against it with the information ratio', () => {
    // 12.549824 before the resets were charged; the same formula on the strategy's net returns now.
    const active = Array.from(result.strategy.netReturns, (r, i) => r - [0.047375, 0, -0.1, 0.05][i]);
    const mean = active.reduce((a, b) => a + b, 0) / 4;
    const sd = Math.sqrt(active.reduce((a, b) => a + (b - mean) ** 2, 0) / 3);
    expect(result.informationRatio).toBeCloseTo((mean / sd) * Math.sqrt(252), 10);
    expect(result.informationRatio).toBeLessThan(12.549824);
  });

  it('is exactly the strategy that is always long every symbol', () => {
    const allLong: BacktestInput = { ...twoSymbols, symbols: twoSymbols.symbols.map((s) => ({ ...s, score: f([1, 1, 1, 1, 1, 1]) })) };
    const r = backtestOf(allLong, { threshold: 0, ...costs25 });
    expect(list(r.strategy.grossReturns)).toEqual(list(r.benchmark.grossReturns));
    // The strategy pays for its daily resets to 1/2 each; the benchmark only for its entry.
    expectClose(r.strategy.netReturns, Array.from(r.benchmark.grossReturns, (g, i) => (1 - r.strategy.costs[i]) * (1 + g) - 1));
    expect(r.strategy.costs[0]).toBe(r.benchmark.costs[0]);
    expect(r.strategy.metrics.totalCosts).toBeGreaterThan(r.benchmark.metrics.totalCosts);
    const free = backtestOf(allLong, { threshold: 0, costBps: 0, slippageBps: 0 });
    expect(list(free.strategy.netReturns)).toEqual(list(free.benchmark.netReturns));
    expect(free.informationRatio).toBeNaN(); // no active return at all
  });
});

describe('scale', () => {
  it('backtests 380 symbols × 1,260 days with top-k, exposure never above the book', () => {
    const days = 1260;
    const dates = Array.from({ length: days }, (_, d) => new Date(Date.UTC(2020, 0, 1) + d * 86_400_000).toISOString().slice(0, 10));
    let seed = 7;
    const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const symbols = Array.from({ length: 380 }, (_, s) => {
      const open = new Float64Array(days);
      const score = new Float64Array(days);
      let price = 100;
      for (let d = 0; d < days; d++) {
        price *= 1 + (random() - 0.5) * 0.04;
        open[d] = price;
        score[d] = random();
      }
      return { symbol: `S${s}`, open, close: open, score };
    });
    // Speed is measured in benchmarks, never here; this checks the result's shape at full scale.
    const result: BacktestResult = backtestOf({ dates, symbols }, { topK: 20, strategy: 'long_short', holdingDays: 5 });
    expect(result.strategy.netReturns.length).toBe(days - 2);
    expect(Math.max(...result.strategy.exposure)).toBeLessThanOrEqual(1 + 1e-9);
    expect(Math.max(...result.strategy.exposure)).toBeGreaterThan(0.9);
  });
});

describe('buy-and-hold is invested in what can trade', () => {
  it('frees a delisted symbol\'s weight for the others, and holds nothing in it after its last open', () => {
    const up = f([10, 10.1, 10.2, 10.3, 10.4, 10.5]);
    const input: BacktestInput = {
      dates: ['2024-03-01', '2024-03-04', '2024-03-05', '2024-03-06', '2024-03-07', '2024-03-08'],
      symbols: [
        { symbol: 'A', open: up, close: up, score: f([0.9, 0.9, 0.9, 0.9, 0.9, 0.9]) },
        { symbol: 'B', open: f([10, 10, 10, NaN, NaN, NaN]), close: f([10, 10, 10, NaN, NaN, NaN]), score: f([0.9, 0.9, NaN, NaN, NaN, NaN]) }, // delisted after D2
      ],
    };
    const { strategy, benchmark } = backtestOf(input, { costBps: 0, slippageBps: 0 });
    expectClose(benchmark.weights, [0.5, 0.5, 0.5, 0.5, 1, 0, 1, 0]);
    expectClose(strategy.weights, [0.5, 0.5, 0.5, 0.5, 0.5, 0, 0.5, 0]); // B gone after its last open; its half stays cash (1/N of the universe)
  });

  it('shares its weight among the symbols with an open, so unlisted symbols are not cash a top-k strategy beats it by', () => {
    const up = (from: number) => f([from, from * 1.01, from * 1.02, from * 1.03, from * 1.04]);
    const none = f([NaN, NaN, NaN, NaN, NaN]);
    const input: BacktestInput = {
      dates: ['2024-03-01', '2024-03-04', '2024-03-05', '2024-03-06', '2024-03-07'],
      symbols: [
        { symbol: 'A', open: up(10), close: up(10), score: f([0.9, 0.9, 0.9, 0.9, 0.9]) },
        { symbol: 'B', open: up(20), close: up(20), score: f([0.8, 0.8, 0.8, 0.8, 0.8]) },
        { symbol: 'C', open: none, close: none, score: none }, // in the universe, no bar in the period
        { symbol: 'D', open: none, close: none, score: none },
      ],
    };
    const { strategy, benchmark } = backtestOf(input, { costBps: 0, slippageBps: 0, topK: 2 });
    expectClose(benchmark.weights, [0.5, 0.5, 0, 0, 0.5, 0.5, 0, 0, 0.5, 0.5, 0, 0]); // 1/4 each before: half in cash
    // Always long in both symbols that trade: the same book as buy-and-hold, so no excess return.
    expectClose(strategy.grossReturns, [...benchmark.grossReturns]);
  });
});

describe('the daily reset to target weights and the short side are paid for', () => {
  // Both symbols long every day at .5 each. Between opens the weights drift with the returns:
  //   after period 0 (A +10%, B 0%, portfolio +5%):    A .5·1.1/1.05 = .55/1.05, B .5/1.05 → back to .5/.5: turnover .05/1.05 = 1/21
  //   after period 1 (A −10%, B +10%, portfolio 0%):   A .45, B .55 → turnover .1
  //   after period 2 (A 0%, B −20%, portfolio −10%):   A .5/.9, B .4/.9 → turnover .1/.9 = 1/9
  const alwaysLong: BacktestInput = { ...twoSymbols, symbols: twoSymbols.symbols.map((s) => ({ ...s, score: f([0.9, 0.9, 0.9, 0.9, 0.9, 0.9]) })) };

  it('charges turnover from the drifted weights to the targets at every open', () => {
    const { strategy, benchmark } = backtestOf(alwaysLong, { costBps: 0, slippageBps: 0 });
    expectClose(strategy.weights, [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
    expectClose(strategy.turnover, [1, 1 / 21, 0.1, 1 / 9]);
    // Costs follow: at 0.25% per unit, the reset after period 1 costs .00025.
    const costed = backtestOf(alwaysLong, costs25).strategy;
    expect(costed.costs[2]).toBeCloseTo(0.0025 * costed.turnover[2], 15);
    expect(costed.turnover[2]).toBeGreaterThan(0.09);
    // The equal-weight benchmark holds the same book and is charged its entry only.
    expectClose(benchmark.turnover, [1, 0, 0, 0]);
  });

  it('charges a borrow fee on the short side, 50 bps a year unless configured', () => {
    // long_short weights: period 0 B −.5, period 1 A −.5, period 2 none, period 3 B −.5.
    const fee = 0.0252; // .0001 a day over 252 periods
    const { strategy } = backtestOf(twoSymbols, { strategy: 'long_short', costBps: 0, slippageBps: 0, borrowRate: fee });
    expectClose(strategy.costs, [0.00005, 0.00005, 0, 0.00005]);
    expectClose(strategy.netReturns, Array.from(strategy.grossReturns, (g, i) => (1 - [0.00005, 0.00005, 0, 0.00005][i]) * (1 + g) - 1));
    const byDefault = backtestOf(twoSymbols, { strategy: 'long_short', costBps: 0, slippageBps: 0 });
    expect(byDefault.options.borrowRate).toBe(0.005);
    expectClose(byDefault.strategy.costs, [0.5, 0.5, 0, 0.5].map((w) => (w * 0.005) / 252));
    // long_flat holds no short: no fee.
    expect(Array.from(backtestOf(twoSymbols, { costBps: 0, slippageBps: 0 }).strategy.costs)).toEqual([0, 0, 0, 0]);
  });
});

describe('a book that loses its whole equity', () => {
  // A short that rises 250% in one session on half the book takes more than the equity; the long
  // leg then gains 10% a session. Before, the equity went negative and every later gain deepened it
  // (1 → −0.25 → −0.26 …), the drifted weights were divided by a negative growth, and the
  // drawdown read 129%.
  const F = (a: number[]) => Float64Array.from(a);
  const dates = ['2020-01-01', '2020-01-02', '2020-01-03', '2020-01-06', '2020-01-07', '2020-01-08'];
  const flat = F([0.1, 0.1, 0.1, 0.1, 0.1, 0.1]);
  const input: BacktestInput = {
    dates,
    symbols: [
      { symbol: 'A', open: F([10, 10, 35, 35, 35, 35]), close: F([10, 10, 35, 35, 35, 35]), score: flat },
      { symbol: 'B', open: F([100, 100, 100, 110, 121, 133.1]), close: F([100, 100, 100, 110, 121, 133.1]), score: F([0.9, 0.9, 0.9, 0.9, 0.9, 0.9]) },
    ],
  };

  it('stops at zero equity: −100% on the day it is lost, nothing held or traded after', () => {
    const { strategy } = backtestOf(input, { strategy: 'long_short', topK: 1 });
    expect(strategy.wipedOutAt).toBe(0);
    expect(Array.from(strategy.netReturns)).toEqual([-1, 0, 0, 0]);
    expect(Array.from(strategy.equity)).toEqual([1, 0, 0, 0, 0]);
    expect(Array.from(strategy.turnover.subarray(1))).toEqual([0, 0, 0]);
    expect(Array.from(strategy.weights.subarray(2))).toEqual([0, 0, 0, 0, 0, 0]);
    expect(strategy.metrics.totalReturn).toBe(-1);
    expect(strategy.metrics.maxDrawdown.depth).toBe(1);
    expect(strategy.metrics.trades).toBe(2); // both legs closed where the equity went
  });

  it('leaves a book that survives as it was', () => {
    const { strategy } = backtestOf(input, { strategy: 'long_flat', topK: 1 });
    expect(strategy.wipedOutAt).toBeUndefined();
    expect(strategy.equity.every((e) => e > 0)).toBe(true);
  });
});

describe('a book that never changes', () => {
  // A rises 1% a day, B is flat; top 1 holds A every day. Costs are paid at the open out of the
  // equity the weights are of, so after its entry the book is exactly on target and trades nothing:
  // before, the drift divided by 1 + the net return of positions that never paid the costs, and the
  // book re-traded .00099, then 9.8e-7, … of its equity every day.
  const opens = [100, 101, 102.01, 103.0301, 104.060401, 105.10100501];
  const constant: BacktestInput = {
    dates: ['2020-01-01', '2020-01-02', '2020-01-03', '2020-01-06', '2020-01-07', '2020-01-08'],
    symbols: [
      { symbol: 'A', open: f(opens), close: f(opens), score: f([0.9, 0.9, 0.9, 0.9, 0.9, 0.9]) },
      { symbol: 'B', open: f([100, 100, 100, 100, 100, 100]), close: f([100, 100, 100, 100, 100, 100]), score: f([0.1, 0.1, 0.1, 0.1, 0.1, 0.1]) },
    ],
  };

  it('has no turnover after entry, and its equity is the entry cost times the price path', () => {
    const { strategy } = backtestOf(constant, { topK: 1, costBps: 10, slippageBps: 0 });
    expect(list(strategy.turnover)).toEqual([1, 0, 0, 0]);
    expect(list(strategy.costs)).toEqual([0.001, 0, 0, 0]);
    expect(strategy.metrics.totalCosts).toBe(0.001);
    // 1 − .001 of the equity is invested at the first open and rides A's four 1% moves.
    expect(strategy.metrics.totalReturn).toBeCloseTo(0.999 * 1.01 ** 4 - 1, 12);
    expectClose(strategy.netReturns, [0.999 * 1.01 - 1, 0.01, 0.01, 0.01]);
  });
});
