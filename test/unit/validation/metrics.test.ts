import { rng } from '../../../lib/random';
import {
  averageRanksOf,
  binomialLowerTail,
  binomialProbability,
  binomialUpperTail,
  blockBootstrapIntervalsOf,
  chiSquare1UpperTail,
  classificationReportOf,
  compareWithBaseline,
  confusionMatrixOf,
  informationCoefficient,
  informationCoefficientEstimate,
  logGamma,
  majorityClassOf,
  mcNemarTest,
  spearmanCorrelationOf,
  wilsonInterval,
} from '../../../lib/validation/metrics';
import { normalCdf, normalInverseCdf } from '../../../lib/stats/normal';

const list = (a: ArrayLike<number>) => Array.from(a);
/** Row-major binary probabilities from P(class 1). */
const binary = (p1: number[]) => Float64Array.from(p1.flatMap((p) => [1 - p, p]));

describe('classificationReportOf, binary', () => {
  // 4 positives, 6 negatives. Argmax predicts 1 where P(1) > 0.5:
  //   labels    1   1   1   1   0   0   0   0   0   0
  //   P(1)     .9  .8  .6  .3  .7  .4  .2  .2  .1  .4
  //   predicted 1   1   1   0   1   0   0   0   0   0
  // TP 3, FN 1, FP 1, TN 5 → confusion [[5, 1], [1, 3]].
  const labels = Int32Array.from([1, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
  const p1 = [0.9, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.2, 0.1, 0.4];
  const report = classificationReportOf(binary(p1), labels, 2);

  it('matches the hand computation', () => {
    expect(list(report.confusion)).toEqual([5, 1, 1, 3]);
    expect(report.accuracy).toBeCloseTo(0.8, 12); // 8/10
    expect(report.balancedAccuracy).toBeCloseTo((5 / 6 + 3 / 4) / 2, 12); // 0.791667
    expect(report.precision[1]).toBeCloseTo(0.75, 12); // 3/(3+1)
    expect(report.recall[1]).toBeCloseTo(0.75, 12); // 3/(3+1)
    expect(report.f1[1]).toBeCloseTo(0.75, 12);
    expect(report.precision[0]).toBeCloseTo(5 / 6, 12); // 5/(5+1)
    expect(report.recall[0]).toBeCloseTo(5 / 6, 12);
    expect(report.macroF1).toBeCloseTo((0.75 + 5 / 6) / 2, 12);
    expect(list(report.support)).toEqual([6, 4]);
    // (TP·TN − FP·FN) / √((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (15 − 1) / √(4·4·6·6) = 14/24
    expect(report.mcc).toBeCloseTo(14 / 24, 12);
    // −mean ln P(true): −(ln .9 + ln .8 + ln .6 + ln .3 + ln .3 + ln .6 + ln .8 + ln .8 + ln .9 + ln .6)/10
    expect(report.logLoss).toBeCloseTo(0.4820574165, 9);
    // mean (P(1) − y)²: (.01 + .04 + .16 + .49 + .49 + .16 + .04 + .04 + .01 + .16)/10 = 1.6/10
    expect(report.brier).toBeCloseTo(0.16, 12);
    // Positive beats negative: .9 → 6, .8 → 6, .6 → 5, .3 → 3 of 6; 20 of 24 pairs.
    expect(report.rocAuc).toBeCloseTo(20 / 24, 12);
  });

  it('counts AUC ties half', () => {
    // Positives .4, .8; negatives .1, .4: pairs (.4,.1) 1, (.4,.4) ½, (.8,·) 2 → 3.5/4.
    const r = classificationReportOf(binary([0.1, 0.4, 0.4, 0.8]), Int32Array.from([0, 0, 1, 1]), 2);
    expect(r.rocAuc).toBeCloseTo(0.875, 12);
  });

  it('weights rows as if they were repeated', () => {
    const weights = Float64Array.from([2, 1, 1, 3, 1, 1, 2, 1, 1, 1]);
    const repeatedLabels: number[] = [];
    const repeatedP: number[] = [];
    weights.forEach((w, r) => {
      for (let k = 0; k < w; k++) {
        repeatedLabels.push(labels[r]);
        repeatedP.push(p1[r]);
      }
    });
    const weighted = classificationReportOf(binary(p1), labels, 2, weights);
    const repeated = classificationReportOf(binary(repeatedP), Int32Array.from(repeatedLabels), 2);
    for (const key of ['accuracy', 'balancedAccuracy', 'macroF1', 'rocAuc', 'logLoss', 'brier', 'mcc'] as const) {
      expect(weighted[key]).toBeCloseTo(repeated[key], 12);
    }
    expect(list(weighted.confusion)).toEqual(list(repeated.confusion));
  });

  it('rejects mismatched input', () => {
    expect(() => classificationReportOf(binary([0.5]), Int32Array.from([0, 1]), 2)).toThrow(/need 4/);
    expect(() => classificationReportOf(binary([0.5]), Int32Array.from([2]), 2)).toThrow(/outside 0..1/);
    expect(() => classificationReportOf(binary([NaN]), Int32Array.from([1]), 2)).toThrow(/invalid prediction/);
    expect(() => classificationReportOf(binary([0.5]), Int32Array.from([1]), 2, Float64Array.from([0]))).toThrow(/All row weights are 0/);
  });
});

describe('classificationReportOf, three classes', () => {
  it('computes the multi-class MCC from the confusion matrix', () => {
    // Confusion (rows true, columns predicted) [[5,1,0],[1,4,1],[0,2,6]]: s = 20, c = 15,
    // t = (6, 6, 8), p = (6, 7, 7). MCC = (c·s − Σ p·t) / √((s² − Σp²)(s² − Σt²))
    //   = (300 − (36 + 42 + 56)) / √((400 − 134)(400 − 136)) = 166 / √(266·264).
    const cells = [[5, 1, 0], [1, 4, 1], [0, 2, 6]];
    const labels: number[] = [];
    const proba: number[] = [];
    cells.forEach((row, t) =>
      row.forEach((count, p) => {
        for (let i = 0; i < count; i++) {
          labels.push(t);
          proba.push(...[0, 1, 2].map((k) => (k === p ? 0.8 : 0.1)));
        }
      }),
    );
    const r = classificationReportOf(Float64Array.from(proba), Int32Array.from(labels), 3);
    expect(list(r.confusion)).toEqual(cells.flat());
    expect(r.mcc).toBeCloseTo(166 / Math.sqrt(266 * 264), 12); // 0.626420
    expect(r.accuracy).toBeCloseTo(15 / 20, 12);
    expect(list(r.recall).map((v) => +v.toFixed(10))).toEqual([5 / 6, 4 / 6, 6 / 8].map((v) => +v.toFixed(10)));
    expect(list(r.precision).map((v) => +v.toFixed(10))).toEqual([5 / 6, 4 / 7, 6 / 7].map((v) => +v.toFixed(10)));
  });

  it('averages one-vs-rest AUCs and scores log loss and Brier over all classes', () => {
    // labels 0, 1, 2, 2; rows: [.6 .3 .1] [.2 .5 .3] [.1 .2 .7] [.3 .4 .3]
    // class 0: .6 vs .2 .1 .3 → 1.   class 1: .5 vs .3 .2 .4 → 1.
    // class 2: positives .7, .3 vs negatives .1, .3 → (2 + 1 + ½)/4 = .875.   Macro (1 + 1 + .875)/3.
    const proba = Float64Array.from([0.6, 0.3, 0.1, 0.2, 0.5, 0.3, 0.1, 0.2, 0.7, 0.3, 0.4, 0.3]);
    const r = classificationReportOf(proba, Int32Array.from([0, 1, 2, 2]), 3);
    expect(list(r.rocAucPerClass)).toEqual([1, 1, 0.875]);
    expect(r.rocAuc).toBeCloseTo(2.875 / 3, 12);
    // −(ln .6 + ln .5 + ln .7 + ln .3)/4
    expect(r.logLoss).toBeCloseTo(0.6911551381, 9);
    // Σ_k (p − onehot)² per row: .16+.09+.01, .04+.25+.09, .01+.04+.09, .09+.16+.49 → 1.52/4
    expect(r.brier).toBeCloseTo(0.38, 12);
    expect(r.accuracy).toBeCloseTo(0.75, 12); // last row predicted 1
  });

  it('gives 0 precision to a class never predicted and leaves absent classes out of balanced accuracy', () => {
    const r = classificationReportOf(Float64Array.from([0.9, 0.05, 0.05, 0.8, 0.1, 0.1]), Int32Array.from([0, 1]), 3);
    expect(list(r.precision)).toEqual([0.5, 0, 0]);
    expect(r.balancedAccuracy).toBeCloseTo(0.5, 12); // recall 1 for class 0, 0 for class 1; class 2 absent
    expect(Number.isNaN(r.rocAucPerClass[2])).toBe(true);
  });
});

describe('ranks and information coefficient', () => {
  it('averages tied ranks and computes Spearman by hand', () => {
    // x = 1 2 2 3 4 → ranks 1 2.5 2.5 4 5; y = 2 1 3 3 5 → ranks 2 1 3.5 3.5 5.
    // Deviations from 3: dx = −2 −.5 −.5 1 2, dy = −1 −2 .5 .5 2; Σdxdy = 7.25, Σdx² = Σdy² = 9.5.
    const x = Float64Array.from([1, 2, 2, 3, 4]);
    const y = Float64Array.from([2, 1, 3, 3, 5]);
    expect(list(averageRanksOf(x))).toEqual([1, 2.5, 2.5, 4, 5]);
    expect(spearmanCorrelationOf(x, y)).toBeCloseTo(7.25 / 9.5, 12);
  });

  it('gives every value its average rank by definition: ties, -0 and 0, infinities, short and long inputs', () => {
    // rank = 1 + (values below) + (other values equal) / 2, counted pair by pair
    const byDefinition = (x: Float64Array) =>
      Array.from(x, (v) => {
        let below = 0;
        let equal = 0;
        for (const w of x) {
          if (w < v) below++;
          else if (w === v) equal++;
        }
        return below + (equal + 1) / 2;
      });
    const next = rng(17);
    const kinds: Array<(i: number) => number> = [
      () => next(),
      () => Math.floor(next() * 4), // many ties
      () => [0, -0, 1, -1][Math.floor(next() * 4)],
      () => [Infinity, -Infinity, 0.5, Infinity][Math.floor(next() * 4)],
      (i) => i % 7, // runs
      (i) => -i, // descending
    ];
    for (const kind of kinds) {
      for (const n of [0, 1, 2, 3, 16, 17, 18, 33, 70, 1500]) {
        const x = Float64Array.from({ length: n }, (_, i) => kind(i));
        expect(list(averageRanksOf(x))).toEqual(byDefinition(x));
      }
    }
  });

  it('ranks input with NaN as the comparator sort always did', () => {
    const comparatorRanks = (x: Float64Array) => {
      const order = Int32Array.from({ length: x.length }, (_, i) => i).sort((a, b) => x[a] - x[b]);
      const ranks = new Float64Array(x.length);
      for (let i = 0; i < x.length; ) {
        let j = i;
        while (j + 1 < x.length && x[order[j + 1]] === x[order[i]]) j++;
        for (let t = i; t <= j; t++) ranks[order[t]] = (i + j) / 2 + 1;
        i = j + 1;
      }
      return list(ranks);
    };
    const x = Float64Array.from([3, NaN, 1, 2, NaN, 2, 0.5]);
    expect(list(averageRanksOf(x))).toEqual(comparatorRanks(x));
  });

  it('scores each day across symbols and skips thin or constant days', () => {
    const rows = [
      // day 10: the tied example above → 7.25/9.5
      [10, 1, 2], [10, 2, 1], [10, 2, 3], [10, 3, 3], [10, 4, 5],
      // day 11: monotone → 1; the NaN return is ignored
      [11, 0.1, -0.02], [11, 0.3, 0.01], [11, 0.2, 0], [11, 0.5, NaN],
      // day 12: two pairs only → skipped
      [12, 1, 1], [12, 2, 2],
      // day 13: constant score → skipped
      [13, 1, 0.1], [13, 1, 0.2], [13, 1, 0.3],
    ];
    const ic = informationCoefficient(Float64Array.from(rows, (r) => r[1]), Float64Array.from(rows, (r) => r[2]), Int32Array.from(rows, (r) => r[0]));
    expect(list(ic.days)).toEqual([10, 11]);
    expect(ic.perDay[0]).toBeCloseTo(7.25 / 9.5, 12);
    expect(ic.perDay[1]).toBeCloseTo(1, 12);
    expect(ic.count).toBe(2);
    // mean = (16.75/9.5)/2, std = (2.25/9.5)/√2, IR = 16.75·√2/4.5, t = IR·√2 = 33.5/4.5.
    expect(ic.mean).toBeCloseTo(16.75 / 19, 12);
    expect(ic.std).toBeCloseTo(2.25 / 9.5 / Math.SQRT2, 12);
    expect(ic.ir).toBeCloseTo((16.75 * Math.SQRT2) / 4.5, 10);
    expect(ic.tStat).toBeCloseTo(33.5 / 4.5, 10);
    // Each scored row's share of its day's IC: a day's shares sum to it; rows of skipped days have none.
    for (const [k, day] of [10, 11].entries()) {
      const sum = list(ic.rows).reduce((s, r, i) => (rows[r][0] === day ? s + ic.rowShare[i] : s), 0);
      expect(sum).toBeCloseTo(ic.perDay[k], 12);
    }
    expect(list(ic.rows).every((r) => rows[r][0] === 10 || rows[r][0] === 11)).toBe(true);
  });

  it('tests the mean IC over the panel: a score that persists per stock without skill passes at about its nominal level', () => {
    // 40 stocks with drifts of their own, a market move, 5-day overlapping returns, and a score that is a
    // fixed trait of each stock drawn apart from its drift. A Newey–West t of the daily ICs passed one-sided
    // 5% in 9–15% of such panels (its 95% quantile +2.5); over the panel (rows of a stock, days within the overlap) 3–3.5% in 400.
    const N = 40, D = 250, H = 5, seeds = 120;
    let passed = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const r = rng(seed * 7919);
      const z = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
      const drift = Float64Array.from({ length: N }, () => 0.001 * z());
      const trait = Float64Array.from({ length: N }, () => r());
      const ret = new Float64Array((D + H) * N);
      for (let t = 0; t < D + H; t++) {
        const market = 0.01 * z();
        for (let s = 0; s < N; s++) ret[t * N + s] = drift[s] + market + 0.02 * z();
      }
      const score = new Float64Array(D * N), forward = new Float64Array(D * N), day = new Int32Array(D * N), symbol = new Int32Array(D * N);
      for (let d = 0, i = 0; d < D; d++) {
        for (let s = 0; s < N; s++, i++) {
          for (let k = 1; k <= H; k++) forward[i] += ret[(d + k) * N + s];
          [score[i], day[i], symbol[i]] = [trait[s], d, s];
        }
      }
      const estimate = informationCoefficientEstimate(informationCoefficient(score, forward, day), { day, symbol, lags: H - 1 });
      if ((estimate?.pValueAbove ?? 1) < 0.05) passed++;
    }
    // 120 panels: the Newey–West t's 12–15% would pass ~15–18 of them; a valid test ~6 (2.5% chance of 11 or more).
    expect(passed).toBeLessThanOrEqual(10);
  });
});

describe('distributions', () => {
  it('normal CDF and quantile', () => {
    expect(normalCdf(1.96)).toBeCloseTo(0.9750021048517795, 7);
    expect(normalCdf(-1)).toBeCloseTo(0.15865525393145707, 7);
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalInverseCdf(0.975)).toBeCloseTo(1.959963984540054, 8);
    expect(normalInverseCdf(0.001)).toBeCloseTo(-3.090232306167813, 8);
    expect(normalInverseCdf(0.5)).toBe(0);
  });

  it('log-gamma and binomial tails', () => {
    expect(logGamma(0.5)).toBeCloseTo(0.5723649429247004, 12); // ln √π
    expect(logGamma(3)).toBeCloseTo(Math.log(2), 12);
    expect(logGamma(100.5)).toBeCloseTo(361.4355404677776, 9);
    expect(binomialUpperTail(8, 10, 0.5)).toBeCloseTo(56 / 1024, 12); // (45 + 10 + 1)/1024
    expect(binomialLowerTail(2, 12, 0.5)).toBeCloseTo(79 / 4096, 12); // (1 + 12 + 66)/4096
    expect(binomialProbability(2, 12, 0.5)).toBeCloseTo(66 / 4096, 12);
    // References summed term by term in double precision.
    expect(binomialUpperTail(120, 200, 0.55)).toBeCloseTo(0.08807268309697877, 10);
    expect(binomialLowerTail(100, 200, 0.55)).toBeCloseTo(0.088700615561688, 10);
    expect(binomialUpperTail(5300, 10000, 0.5) / 1.0380168479490259e-9).toBeCloseTo(1, 6);
    expect(binomialUpperTail(0, 5, 0.3)).toBe(1);
    expect(binomialUpperTail(6, 5, 0.3)).toBe(0);
  });

  it('χ²(1) tail', () => {
    expect(chiSquare1UpperTail(3.841458820694124)).toBeCloseTo(0.05, 7);
    expect(chiSquare1UpperTail(49 / 12)).toBeCloseTo(0.04330814281079198, 7);
  });

  it('Wilson interval of 60/100', () => {
    const { lower, upper } = wilsonInterval(60, 100);
    expect(lower).toBeCloseTo(0.5020025868, 7);
    expect(upper).toBeCloseTo(0.6905987136, 7);
    expect(wilsonInterval(0, 10).lower).toBe(0);
  });

  it("McNemar's test of b = 10, c = 2", () => {
    const t = mcNemarTest(10, 2);
    expect(t.pValue).toBeCloseTo(0.03857421875, 10); // 2·(1 + 12 + 66)/4096
    expect(t.midPValue).toBeCloseTo(0.0224609375, 10); // 2·(79 − 66/2)/4096
    expect(t.pValueFirstBetter).toBeCloseTo(79 / 4096, 10); // P(X ≥ 10 | 12, ½)
    expect(t.chiSquare).toBeCloseTo(49 / 12, 12); // (|10 − 2| − 1)²/12
    expect(t.chiSquarePValue).toBeCloseTo(0.0433081428, 7);
    expect(mcNemarTest(3, 3).pValue).toBe(1);
    expect(mcNemarTest(0, 0)).toEqual({ pValue: 1, midPValue: 1, pValueFirstBetter: 1, chiSquare: 0, chiSquarePValue: 1 });
  });
});

describe('compareWithBaseline', () => {
  // 100 rows, baseline class 0. 50 rows both right (label 0, predicted 0), 10 only the model right
  // (label 1, predicted 1), 2 only the baseline right (label 0, predicted 1), 38 both wrong (label 1, predicted 0).
  const labels = Int32Array.from([...Array(50).fill(0), ...Array(10).fill(1), ...Array(2).fill(0), ...Array(38).fill(1)]);
  const predicted = Int32Array.from([...Array(50).fill(0), ...Array(10).fill(1), ...Array(2).fill(1), ...Array(38).fill(0)]);

  it('compares with the majority class on the same rows', () => {
    const c = compareWithBaseline(labels, predicted, 0);
    expect(c.modelAccuracy).toBeCloseTo(0.6, 12);
    expect(c.baselineAccuracy).toBeCloseTo(0.52, 12);
    expect(c.difference).toBeCloseTo(0.08, 12);
    expect([c.modelOnlyCorrect, c.baselineOnlyCorrect]).toEqual([10, 2]);
    expect(c.pValue).toBeCloseTo(0.03857421875, 10);
    expect(c.modelAccuracyInterval.lower).toBeCloseTo(0.5020025868, 7);
    expect(c.modelAccuracyInterval.upper).toBeCloseTo(0.6905987136, 7);
    // Agresti–Min: (10 − 2)/102 ± 1.959964·√(13 − 64/102)/102
    const half = (1.959963984540054 * Math.sqrt(13 - 64 / 102)) / 102;
    expect(c.differenceInterval.lower).toBeCloseTo(8 / 102 - half, 7);
    expect(c.differenceInterval.upper).toBeCloseTo(8 / 102 + half, 7);
  });

  it('takes probabilities as well as classes', () => {
    const proba = Float64Array.from(Array.from(predicted).flatMap((p) => (p === 1 ? [0.3, 0.7] : [0.6, 0.4])));
    expect(compareWithBaseline(labels, { proba, classes: 2 }, 0)).toEqual(compareWithBaseline(labels, predicted, 0));
  });

  it('finds the majority class from the training labels', () => {
    expect(majorityClassOf(Int32Array.from([1, 0, 1, 2, 1]), 3)).toBe(1);
    expect(majorityClassOf(Int32Array.from([1, 0, 1, 0]), 2)).toBe(0); // tie → lowest
    expect(majorityClassOf(Int32Array.from([1, 0, 0]), 2, Float64Array.from([3, 1, 1]))).toBe(1);
  });

  it('block bootstrap is seeded and wider than the independent interval when days move together', () => {
    // 60 days × 20 symbols; whole days are either all right or all wrong, so rows are far from independent.
    const random = rng(11);
    const days = 60;
    const symbols = 20;
    const y: number[] = [];
    const p: number[] = [];
    const day: number[] = [];
    for (let d = 0; d < days; d++) {
      const right = random() < 0.6;
      for (let s = 0; s < symbols; s++) {
        const label = random() < 0.5 ? 1 : 0;
        y.push(label);
        p.push(right ? label : 1 - label);
        day.push(d);
      }
    }
    const options = { dayIndex: Int32Array.from(day), blockDays: 5, seed: 42, resamples: 500 };
    const a = blockBootstrapIntervalsOf(Int32Array.from(y), Int32Array.from(p), 0, options);
    const b = blockBootstrapIntervalsOf(Int32Array.from(y), Int32Array.from(p), 0, options);
    expect(a).toEqual(b);
    const naive = compareWithBaseline(Int32Array.from(y), Int32Array.from(p), 0).modelAccuracyInterval;
    expect(a.modelAccuracy.upper - a.modelAccuracy.lower).toBeGreaterThan(2 * (naive.upper - naive.lower));
    expect(a.difference.lower).toBeLessThan(a.difference.upper);
  });

  it('confusionMatrixOf rejects predictions outside the classes', () => {
    expect(() => confusionMatrixOf(Int32Array.from([0]), Int32Array.from([3]), 2)).toThrow(/Predicted class 3/);
  });
});
