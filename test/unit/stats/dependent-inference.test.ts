import { rng } from '../../../lib/random';
import { studentTCdf, studentTQuantile } from '../../../lib/stats/distributions';
import { ar1DemeanedShare, clusteredAuc, clusteredAucDifference, clusteredMean, demeanedShare, neweyWestMean, type Clusters } from '../../../lib/stats/dependent-inference';
import { persistentTimingPanel } from '../../helpers/persistent-timing-panel';
import { normalInverseCdf } from '../../../lib/stats/normal';
import { dayBlockClusters } from '../../helpers/day-blocks';

/** Standard normal draws from the seeded generator (Box–Muller). */
function normals(random: () => number) {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

describe("Student's t", () => {
  it('matches reference values (scipy.stats.t)', () => {
    expect(studentTCdf(2, 10)).toBeCloseTo(0.9633062, 6);
    expect(studentTCdf(-1.5, 3)).toBeCloseTo(0.1152919, 6);
    expect(studentTQuantile(0.975, 10)).toBeCloseTo(2.2281389, 6);
    expect(studentTQuantile(0.975, 1)).toBeCloseTo(12.7062047, 4);
    expect(studentTQuantile(0.05, 24)).toBeCloseTo(-1.7108821, 6);
    expect(studentTQuantile(0.975, 1e6)).toBeCloseTo(normalInverseCdf(0.975), 4);
  });
});

describe('day-block clusters', () => {
  it('cuts distinct days into consecutive blocks and folds a stub into the last full block', () => {
    const days = Int32Array.from([0, 0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10]);
    const { cluster, clusters } = dayBlockClusters(days, 5);
    expect(clusters).toBe(2); // days 0..4, then 5..10 (the one-day stub joins)
    expect(Array.from(cluster)).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
  });
});

describe('inference with correlated rows', () => {
  // Rows of one day share a common shock, as the symbols of one trading day share the market's move.
  function clusteredSample(random: () => number, clusters: number, perCluster: number, shared: number) {
    const z = normals(random);
    const values = new Float64Array(clusters * perCluster);
    const cluster = new Int32Array(values.length);
    for (let g = 0, i = 0; g < clusters; g++) {
      const common = z() * shared;
      for (let k = 0; k < perCluster; k++, i++) {
        values[i] = common + z();
        cluster[i] = g;
      }
    }
    return { values, cluster };
  }

  it('keeps the 5% false-positive rate where the independent-rows test rejects most of the time', () => {
    const random = rng(11);
    let clusteredRejects = 0;
    let naiveRejects = 0;
    const runs = 200;
    for (let run = 0; run < runs; run++) {
      const { values, cluster } = clusteredSample(random, 40, 50, 1);
      if (clusteredMean(values, cluster).pValueTwoSided < 0.05) clusteredRejects++;
      // Every row its own cluster: the textbook standard error.
      if (clusteredMean(values, Int32Array.from(values, (_, i) => i)).pValueTwoSided < 0.05) naiveRejects++;
    }
    expect(clusteredRejects / runs).toBeGreaterThan(0.02);
    expect(clusteredRejects / runs).toBeLessThan(0.09);
    expect(naiveRejects / runs).toBeGreaterThan(0.5);
  });

  it('clusters by stock as well as by week when a few stocks each drift their own way (two-way)', () => {
    const random = rng(31);
    const z = normals(random);
    let twoWay = 0;
    let byWeek = 0;
    const runs = 200;
    for (let run = 0; run < runs; run++) {
      // 8 stocks × 60 weekly blocks × 5 days: each stock has its own persistent effect, each week a shared one.
      const stock = Float64Array.from({ length: 8 }, () => z());
      const week = Float64Array.from({ length: 60 }, () => z());
      const n = 8 * 60 * 5;
      const values = new Float64Array(n);
      const weeks = new Int32Array(n);
      const stocks = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        stocks[i] = i % 8;
        weeks[i] = Math.floor(i / 40);
        values[i] = stock[stocks[i]] + week[weeks[i]] + z();
      }
      if (clusteredMean(values, [weeks, stocks]).pValueTwoSided < 0.05) twoWay++;
      if (clusteredMean(values, weeks).pValueTwoSided < 0.05) byWeek++;
    }
    expect(twoWay / runs).toBeLessThan(0.1);
    expect(byWeek / runs).toBeGreaterThan(0.3);
  });

  it('matches the textbook standard error when rows are independent', () => {
    const z = normals(rng(3));
    const values = Float64Array.from({ length: 2000 }, () => 1 + z());
    const e = clusteredMean(values, Int32Array.from(values, (_, i) => i));
    expect(e.estimate).toBeCloseTo(1, 1);
    expect(e.standardError).toBeCloseTo(1 / Math.sqrt(2000), 2);
    expect(e.pValueAbove).toBeLessThan(1e-10);
  });

  it('gives an AUC interval that covers the truth about 95% of the time with clustered rows', () => {
    const random = rng(5);
    const z = normals(random);
    let covered = 0;
    let naiveCovered = 0;
    const runs = 200;
    for (let run = 0; run < runs; run++) {
      // 60 clusters of 40 rows: label and score share a cluster effect, no real signal inside days.
      const n = 60 * 40;
      const score = new Float64Array(n);
      const labels = new Int32Array(n);
      const cluster = new Int32Array(n);
      for (let g = 0, i = 0; g < 60; g++) {
        const common = z();
        const up = random() < 0.5 ? 1 : 0;
        for (let k = 0; k < 40; k++, i++) {
          cluster[i] = g;
          labels[i] = random() < 0.8 ? up : 1 - up;
          score[i] = common + z();
        }
      }
      const e = clusteredAuc(score, labels, cluster);
      if (e.interval[0] <= 0.5 && 0.5 <= e.interval[1]) covered++;
      const naive = clusteredAuc(score, labels, Int32Array.from(labels, (_, i) => i));
      if (naive.interval[0] <= 0.5 && 0.5 <= naive.interval[1]) naiveCovered++;
    }
    expect(covered / runs).toBeGreaterThan(0.9);
    expect(covered / runs).toBeLessThan(0.99);
    expect(naiveCovered / runs).toBeLessThan(0.6);
  });

  it('counts every positive-negative pair, ties (-0 and 0 among them) as half, whatever order the rows come in', () => {
    const random = rng(17);
    const n = 3001;
    // Few distinct values, so most pairs tie; -0 beside 0.
    const score = Float64Array.from({ length: n }, () => [-0, 0, 1, -2.5, 7][Math.floor(random() * 5)]);
    const labels = Int32Array.from({ length: n }, () => (random() < 0.4 ? 1 : 0));
    let pairs = 0;
    let positives = 0;
    for (let i = 0; i < n; i++) {
      if (labels[i] !== 1) continue;
      positives++;
      for (let j = 0; j < n; j++) if (labels[j] === 0) pairs += score[i] > score[j] ? 1 : score[i] === score[j] ? 0.5 : 0;
    }
    const e = clusteredAuc(score, labels, Int32Array.from({ length: n }, (_, i) => i % 50));
    expect(e.estimate).toBeCloseTo(pairs / (positives * (n - positives)), 12);
    const reversed = clusteredAuc(score.slice().reverse(), labels.slice().reverse(), Int32Array.from({ length: n }, (_, i) => (n - 1 - i) % 50));
    expect(reversed.estimate).toBe(e.estimate);
    // Per-cluster sums add the rows in another order: equal to rounding.
    expect(reversed.interval[0]).toBeCloseTo(e.interval[0], 12);
    expect(reversed.interval[1]).toBeCloseTo(e.interval[1], 12);
  });

  it('refuses a NaN score by its row rather than ranking it', () => {
    expect(() => clusteredAuc(Float64Array.of(0.2, NaN, 0.7), Int32Array.of(0, 1, 1), Int32Array.of(0, 1, 2))).toThrow(/row 1 is NaN/);
  });

  it('computes the AUC and finds a real difference between two scores', () => {
    const random = rng(9);
    const z = normals(random);
    const n = 4000;
    const labels = Int32Array.from({ length: n }, () => (random() < 0.5 ? 1 : 0));
    const strong = Float64Array.from(labels, (y) => y + z());
    const weak = Float64Array.from(labels, (y) => 0.2 * y + z());
    const cluster = Int32Array.from({ length: n }, (_, i) => Math.floor(i / 20));
    const a = clusteredAuc(strong, labels, cluster);
    expect(a.estimate).toBeGreaterThan(0.7);
    expect(a.pValueAbove).toBeLessThan(1e-6);
    const d = clusteredAucDifference(strong, weak, labels, cluster);
    expect(d.estimate).toBeCloseTo(a.estimate - clusteredAuc(weak, labels, cluster).estimate, 12);
    expect(d.interval[0]).toBeGreaterThan(0);
    // The same score against itself: no difference, no evidence.
    const same = clusteredAucDifference(strong, strong, labels, cluster);
    expect(same.estimate).toBe(0);
    expect(same.pValueAbove).toBe(1);
  });

  it('widens the standard error of an autocorrelated series (Newey–West)', () => {
    const z = normals(rng(21));
    let covered = 0;
    const runs = 300;
    for (let run = 0; run < runs; run++) {
      // Overlapping 5-day sums of white noise: what daily ICs of 5-day returns look like.
      const e = Float64Array.from({ length: 505 }, () => z());
      const series = Float64Array.from({ length: 500 }, (_, t) => e[t] + e[t + 1] + e[t + 2] + e[t + 3] + e[t + 4]);
      const nw = neweyWestMean(series, { lags: 8 });
      if (nw.interval[0] <= 0 && 0 <= nw.interval[1]) covered++;
    }
    expect(covered / runs).toBeGreaterThan(0.88);
    const e = Float64Array.from({ length: 505 }, () => z());
    const series = Float64Array.from({ length: 500 }, (_, t) => e[t] + e[t + 1] + e[t + 2] + e[t + 3] + e[t + 4]);
    expect(neweyWestMean(series, { lags: 8 }).standardError).toBeGreaterThan(1.8 * neweyWestMean(series, { lags: 0 }).standardError);
  });
});

describe('clusterings with too few clusters (minClusters)', () => {
  const z = normals(rng(41));
  const n = 1000;
  const days = Int32Array.from({ length: n }, (_, i) => Math.floor(i / 2)); // 500 days, 2 symbols a day
  const blocks = dayBlockClusters(days, 5).cluster; // 100 blocks
  const symbols = Int32Array.from({ length: n }, (_, i) => i % 2);
  const values = Float64Array.from({ length: n }, () => 0.1 + z());

  it('by default keep a 2-symbol clustering, whose 1 degree of freedom makes the interval useless', () => {
    const twoWay = clusteredMean(values, [blocks, symbols]);
    expect(twoWay.degreesOfFreedom).toBe(1);
    expect(twoWay.interval[1] - twoWay.interval[0]).toBeGreaterThan(4 * (clusteredMean(values, blocks).interval[1] - clusteredMean(values, blocks).interval[0]));
  });

  it('leave it out when the caller asks for more clusters: the day blocks alone decide', () => {
    const byBlocks = clusteredMean(values, blocks);
    const guarded = clusteredMean(values, [blocks, symbols], { minClusters: 5 });
    expect(guarded.interval).toEqual(byBlocks.interval);
    expect(guarded.degreesOfFreedom).toBe(99);
    const labels = Int32Array.from(values, (v) => (v > 0.1 ? 1 : 0));
    const score = Float64Array.from(values, (v) => v + z());
    expect(clusteredAuc(score, labels, [blocks, symbols], { minClusters: 5 }).interval).toEqual(clusteredAuc(score, labels, blocks).interval);
    // Both clusterings large enough: the same two-way interval as without the option.
    const stocks = Int32Array.from({ length: n }, (_, i) => i % 8);
    expect(clusteredMean(values, [blocks, stocks], { minClusters: 5 }).interval).toEqual(clusteredMean(values, [blocks, stocks]).interval);
  });

  it('give no interval when no clustering has enough clusters (a guard then judges the estimate)', () => {
    const fewBlocks = Int32Array.from({ length: n }, (_, i) => Math.floor(i / 250)); // 4 blocks
    const e = clusteredMean(values, [fewBlocks, symbols], { minClusters: 5 });
    expect(e.interval.every(Number.isNaN)).toBe(true);
    expect(Number.isFinite(e.estimate)).toBe(true);
    expect(clusteredMean(values, fewBlocks, { minClusters: 5 }).interval.every(Number.isNaN)).toBe(true);
    expect(clusteredMean(values, fewBlocks).degreesOfFreedom).toBe(3); // by default: Student t on 3 df
  });
});

describe('a panel with overlapping labels (rows dependent by symbol and within the label horizon)', () => {
  /**
   * A null market: 20 stocks with a common factor and volatility that clusters, each row scored by
   * its stock's past 20-day return (persistent, shared with the market's past move) and labelled by
   * the sign of the next h days' return, so rows up to h − 1 days apart share part of their label.
   * The score knows nothing of the future: every AUC above 0.5 and every hit rate above 50% is chance.
   */
  function nullPanel(random: () => number, h: number, symbols = 20, days = 400) {
    const z = normals(random);
    const lookback = 20;
    const total = days + lookback + h;
    const ret = new Float64Array(symbols * total);
    let vol = 1;
    for (let t = 0; t < total; t++) {
      vol = Math.sqrt(0.05 + 0.9 * vol * vol + 0.05 * z() ** 2);
      const market = 0.02 * vol * z();
      for (let i = 0; i < symbols; i++) ret[i * total + t] = market + 0.02 * vol * z();
    }
    const n = symbols * days;
    const score = new Float64Array(n);
    const label = new Int32Array(n);
    const day = new Int32Array(n);
    const symbol = new Int32Array(n);
    for (let t = lookback, r = 0; t < lookback + days; t++) {
      for (let i = 0; i < symbols; i++, r++) {
        let past = 0;
        let next = 0;
        for (let k = 0; k < lookback; k++) past += ret[i * total + t - k];
        for (let k = 1; k <= h; k++) next += ret[i * total + t + k];
        score[r] = past;
        label[r] = next > 0 ? 1 : 0;
        day[r] = t;
        symbol[r] = i;
      }
    }
    const hits = Float64Array.from(label, (y, r) => ((score[r] > 0 ? 1 : 0) === y ? 1 : 0));
    return { score, label, hits, day, symbol };
  }

  /** Standard errors against the spread of the estimates over seeded null panels, and how often a one-sided 5% test rejects. */
  function calibration(h: number, dependence: (day: Int32Array, symbol: Int32Array) => Clusters, runs = 150) {
    const random = rng(1000 + h);
    const auc: number[] = [];
    const hit: number[] = [];
    let aucVariance = 0;
    let hitVariance = 0;
    let rejects = 0;
    for (let run = 0; run < runs; run++) {
      const p = nullPanel(random, h);
      const c = dependence(p.day, p.symbol);
      const a = clusteredAuc(p.score, p.label, c);
      const m = clusteredMean(p.hits, c, { nullValue: 0.5 });
      auc.push(a.estimate);
      hit.push(m.estimate);
      aucVariance += a.standardError ** 2 / runs;
      hitVariance += m.standardError ** 2 / runs;
      if (m.pValueAbove < 0.05) rejects++;
    }
    const sd = (x: number[]) => {
      const mean = x.reduce((s, v) => s + v, 0) / x.length;
      return Math.sqrt(x.reduce((s, v) => s + (v - mean) ** 2, 0) / (x.length - 1));
    };
    return { aucRatio: Math.sqrt(aucVariance) / sd(auc), hitRatio: Math.sqrt(hitVariance) / sd(hit), rejectRate: rejects / runs };
  }

  it('gives standard errors that match the true spread for a 5-day label, where blocks of 5 days fall a fifth short', () => {
    const panel = calibration(5, (day, symbol) => ({ day, symbol, lags: 4 }));
    const blocks = calibration(5, (day, symbol) => [dayBlockClusters(day, 5).cluster, symbol]);
    console.log(`null panels, 5-day labels: standard error / true spread, AUC ${panel.aucRatio.toFixed(3)} (blocks of 5 days: ${blocks.aucRatio.toFixed(3)}), hit rate ${panel.hitRatio.toFixed(3)} (${blocks.hitRatio.toFixed(3)}); 5% test rejects ${(100 * panel.rejectRate).toFixed(1)}% (${(100 * blocks.rejectRate).toFixed(1)}%)`);
    // The same seeded panels for both: the difference is the method's. A pair of rows 3 days apart on
    // either side of a block boundary shares 2 of its 5 label days, and blocks count it as independent.
    // (150 panels measure a spread to about ±6%.)
    expect(panel.hitRatio - blocks.hitRatio).toBeGreaterThan(0.1);
    expect(panel.aucRatio - blocks.aucRatio).toBeGreaterThan(0.1);
    expect(panel.aucRatio).toBeGreaterThan(0.85);
    expect(panel.hitRatio).toBeGreaterThan(0.85);
    expect(panel.aucRatio).toBeLessThan(1.15);
    expect(panel.hitRatio).toBeLessThan(1.15);
    expect(panel.rejectRate).toBeLessThan(0.07);
  });

  it('stays calibrated for a 20-day label', () => {
    const panel = calibration(20, (day, symbol) => ({ day, symbol, lags: 19 }), 100);
    expect(panel.aucRatio).toBeGreaterThan(0.85);
    expect(panel.hitRatio).toBeGreaterThan(0.85);
    expect(panel.hitRatio).toBeLessThan(1.2);
  });

  it('counts each dependent pair once: a panel of one symbol a day is Hansen–Hodrick over the days, and without lags the days are clusters', () => {
    const z = normals(rng(5));
    const days = 300;
    const values = Float64Array.from({ length: days }, () => z());
    const day = Int32Array.from({ length: days }, (_, t) => t * 2); // any increasing index
    // By hand: (Σ_t Σ_{|s−t|≤2} e_t e_s) / n² · G/(G−1), G = ceil(300 / 3) = 100; as evidence, over the
    // share of it centring leaves for independent days, 1 − 1/n − 2(299 + 298)/n², on n/(2·2 + 1) = 60 df.
    const mean = values.reduce((s, v) => s + v, 0) / days;
    const e = Array.from(values, (v) => (v - mean) / days);
    let sum = 0;
    for (let t = 0; t < days; t++) for (let s = Math.max(0, t - 2); s <= Math.min(days - 1, t + 2); s++) sum += e[t] * e[s];
    const estimate = clusteredMean(values, { day, lags: 2 });
    expect(estimate.standardError).toBeCloseTo(Math.sqrt((sum * 100) / 99), 12);
    expect(estimate.degreesOfFreedom).toBe(99);
    const evidence = clusteredMean(values, { day, lags: 2 }, { evidence: true });
    expect(evidence.standardError).toBeCloseTo(Math.sqrt(sum / (1 - 1 / days - (2 * (299 + 298)) / days ** 2)), 12);
    expect(evidence.degreesOfFreedom).toBe(60);
    const rows = 600;
    const twoADay = Int32Array.from({ length: rows }, (_, r) => Math.floor(r / 2));
    const stock = Int32Array.from({ length: rows }, (_, r) => r % 2);
    const x = Float64Array.from({ length: rows }, () => z());
    expect(clusteredMean(x, { day: twoADay, lags: 0 }).standardError).toBeCloseTo(clusteredMean(x, twoADay).standardError, 12);
    // Never below either dependence alone.
    const both = clusteredMean(x, { day: twoADay, symbol: stock, lags: 3 });
    expect(both.standardError).toBeGreaterThanOrEqual(clusteredMean(x, { day: twoADay, lags: 3 }).standardError);
    expect(both.standardError).toBeGreaterThanOrEqual(clusteredMean(x, stock).standardError * Math.sqrt(1 - 1e-12));
  });

  it('equals the sum over dependent pairs computed pair by pair, missing rows and duplicate symbols included', () => {
    const z = normals(rng(8));
    // 4 symbols × 40 days, a fifth of the rows missing, in shuffled order.
    const rowsOf: Array<[number, number]> = [];
    for (let d = 0; d < 40; d++) for (let s = 0; s < 4; s++) if (z() > -0.85) rowsOf.push([d * 3, s]);
    rowsOf.sort(() => z());
    const day = Int32Array.from(rowsOf, (r) => r[0]);
    const symbol = Int32Array.from(rowsOf, (r) => r[1]);
    const values = Float64Array.from(rowsOf, (r) => z() + 0.3 * Math.sin(r[0] / 9) + 0.2 * r[1]);
    const n = values.length;
    const mean = values.reduce((a, b) => a + b, 0) / n;
    const psi = Array.from(values, (v) => (v - mean) / n);
    const days = [...new Set(day)].sort((a, b) => a - b);
    const rank = Array.from(day, (d) => days.indexOf(d));
    const lags = 3;
    let near = 0;
    let same = 0;
    let both = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const close = Math.abs(rank[i] - rank[j]) <= lags;
        const one = symbol[i] === symbol[j];
        if (close) near += psi[i] * psi[j];
        if (one) same += psi[i] * psi[j];
        if (close && one) both += psi[i] * psi[j];
      }
    }
    const units = Math.ceil(days.length / (lags + 1));
    const dayPart = (units / (units - 1)) * near;
    const symbolPart = (4 / 3) * same;
    const expected = Math.sqrt(Math.max(dayPart + symbolPart - both, dayPart, symbolPart));
    const e = clusteredMean(values, { day, symbol, lags });
    expect(e.standardError).toBeCloseTo(expected, 14);
    expect(e.degreesOfFreedom).toBe(3);
    // A new panel over the same arrays: the same answer.
    expect(clusteredMean(values, { day, symbol, lags }).standardError).toBe(e.standardError);
  });

  it('refuses a negative lag and days that are not one per row', () => {
    const x = Float64Array.from([1, 2, 3, 4]);
    expect(() => clusteredMean(x, { day: Int32Array.from([0, 1, 2, 3]), lags: -1 })).toThrow(/lags must be an integer >= 0, got -1/);
    expect(() => clusteredMean(x, { day: Int32Array.from([0, 1, 2]), lags: 1 })).toThrow(/There are 3 days for 4 rows/);
  });
});

describe('short samples: the share centring leaves, and the degrees of freedom of a lagged-products variance', () => {
  it('takes the expectation of centred lagged products of independent entries as its share of the truth', () => {
    const z = normals(rng(11));
    for (const [n, lags, uniform] of [[30, 4, true], [20, 2, false], [10, 0, true]] as const) {
      // Monte Carlo of E[Σ_{|a−b|≤lags} w·s_a·s_b] / n for unit-variance entries.
      let total = 0;
      const runs = 20_000;
      for (let k = 0; k < runs; k++) {
        const x = Array.from({ length: n }, () => z());
        const m = x.reduce((s, v) => s + v, 0) / n;
        const s = x.map((v) => v - m);
        for (let a = 0; a < n; a++) for (let b = Math.max(0, a - lags); b <= Math.min(n - 1, a + lags); b++) total += (uniform ? 1 : 1 - Math.abs(a - b) / (lags + 1)) * s[a] * s[b];
      }
      expect(total / runs / n).toBeCloseTo(demeanedShare(n, lags, uniform), 2);
    }
    expect(demeanedShare(10, 9, true)).toBeCloseTo(0, 12); // lags spanning the sample: centred sums sum to 0
  });

  it('gives evidence from a Newey–West mean of n periods 3n/(2(lags + 1)) degrees of freedom, at most n − 1, and from a panel D/(2·lags + 1); guards and monitoring keep n − 1 and the stretches', () => {
    const z = normals(rng(12));
    const x = Float64Array.from({ length: 20 }, () => z());
    expect(neweyWestMean(x, { lags: 2, evidence: true }).degreesOfFreedom).toBe(10);
    expect(neweyWestMean(x, { lags: 0, evidence: true }).degreesOfFreedom).toBe(19);
    expect(neweyWestMean(x, { lags: 2 }).degreesOfFreedom).toBe(19);
    expect(neweyWestMean(x, { lags: 2, evidence: true }).standardError).toBeGreaterThan(neweyWestMean(x, { lags: 2 }).standardError);
    const day = Int32Array.from({ length: 60 }, (_, t) => t);
    const v = Float64Array.from({ length: 60 }, () => z());
    expect(clusteredMean(v, { day, lags: 4 }, { evidence: true }).degreesOfFreedom).toBe(6);
    expect(clusteredMean(v, { day, lags: 4 }).degreesOfFreedom).toBe(11);
  });
});

describe('an AUC whose rare positives fall in a few weeks', () => {
  /**
   * 40 stocks × 250 days of 5-day labels whose rare positives come in a few bursts of 8
   * days; the score is noise with a stock effect and a market-wide daily effect, so its AUC is 0.5 in
   * truth. The AUC's rows weigh 1/positives or 1/negatives: the few weeks holding positives carry
   * its variance, and the t test must rest on about as many units as those weeks.
   */
  function rarePanel(seed: number, bursts: number, baseRate = 0.002) {
    const random = rng(seed);
    const z = normals(random);
    const stocks = 40;
    const days = 250;
    const horizon = 5;
    const rate = new Float64Array(days).fill(baseRate);
    for (let k = 0; k < bursts; k++) {
      const start = Math.floor(random() * (days - 10));
      rate.fill(0.25, start, start + 8);
    }
    const market = Float64Array.from({ length: days }, () => z());
    const day: number[] = [];
    const symbol: number[] = [];
    const labels: number[] = [];
    const score: number[] = [];
    for (let s = 0; s < stocks; s++) {
      const own = z();
      const positive = new Uint8Array(days);
      for (let d = 0; d < days; d++) if (random() < rate[d] / horizon) positive.fill(1, Math.max(0, d - horizon + 1), d + 1);
      for (let d = 0; d < days; d++) {
        day.push(d);
        symbol.push(s);
        labels.push(positive[d]);
        score.push(own + market[d] + z());
      }
    }
    return { score: Float64Array.from(score), labels: Int32Array.from(labels), panel: { day: Int32Array.from(day), symbol: Int32Array.from(symbol), lags: horizon - 1 } };
  }

  it('rests its degrees of freedom on the weeks that hold positives, not on every day', () => {
    const rare = rarePanel(5, 3);
    const e = clusteredAuc(rare.score, rare.labels, rare.panel, { evidence: true });
    expect(e.degreesOfFreedom).toBeLessThanOrEqual(10);
    // Positives on every day: the days' units are alike and keep their degrees of freedom (250 / 9 = 27)
    // over the overlap's lags (the timing part's longer reach, persistentDays, leaves fewer: 10 here).
    const spread = rarePanel(5, 0, 0.04);
    expect(clusteredAuc(spread.score, spread.labels, spread.panel, { evidence: true, persistentDays: false }).degreesOfFreedom).toBeGreaterThanOrEqual(15);
  });

  it('rejects a null AUC at its level, where 27 df rejected at one-sided 5% in 9.3% of 400 seeds and at 0.625% in 1.75%', () => {
    let atFive = 0;
    let atPromotion = 0;
    let tested = 0;
    for (let seed = 1; seed <= 400; seed++) {
      const { score, labels, panel } = rarePanel(1000 + seed, 2);
      const p = clusteredAuc(score, labels, panel, { evidence: true }).pValueAbove;
      if (!Number.isFinite(p)) continue;
      tested++;
      if (p < 0.05) atFive++;
      if (p < 0.00625) atPromotion++;
    }
    expect(tested).toBeGreaterThan(380);
    expect(atFive / tested).toBeLessThanOrEqual(0.07); // 5.0% now
    expect(atPromotion / tested).toBeLessThanOrEqual(0.01); // 0.75% now
  });
});

describe('an AUC whose timing part persists beyond the labels overlap', () => {
  /**
   * 40 stocks × 250 days of 5-day labels (test/helpers/persistent-timing-panel.ts): returns drift in
   * regimes of ~60 days, so the share of positives moves in regimes, and the score's market-wide part
   * is an AR(1) of 0.95 a day; score and returns are independent. The pooled AUC credits the score's
   * market-wide part against the day's share of positives: two persistent series whose products
   * outlast the overlap's 4 lags. bench/pooled-auc-persistence.ts measures it on 1,000 seeds.
   */
  it('rejects a skill-less score near its level, where counting the overlap alone rejected one-sided 5% in 10% and 10% in 18.5% of these 200 seeds', () => {
    let atFive = 0;
    let atTen = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const { score, labels, panel } = persistentTimingPanel(40000 + seed);
      const p = clusteredAuc(score, labels, panel, { evidence: true }).pValueAbove;
      if (p < 0.05) atFive++;
      if (p < 0.1) atTen++;
    }
    // Now 7 and 20 of 200 (3.5%, 10%); before 20 and 37.
    expect(atFive).toBeLessThanOrEqual(15);
    expect(atTen).toBeLessThanOrEqual(26);
  });

  it('widens only the evidence of a statistic with a timing part: fewer degrees of freedom there, the guards and the within-day path as before', () => {
    const { score, labels, panel } = persistentTimingPanel(40001);
    const evidence = clusteredAuc(score, labels, panel, { evidence: true });
    const overlapOnly = clusteredAuc(score, labels, panel, { evidence: true, persistentDays: false });
    expect(evidence.degreesOfFreedom).toBeLessThan(overlapOnly.degreesOfFreedom);
    // A guard's interval (no evidence) is untouched: persistentDays has no effect without it.
    expect(clusteredAuc(score, labels, panel, { persistentDays: true }).standardError).toBe(clusteredAuc(score, labels, panel).standardError);
    // A plain mean (the within-day AUC's path) keeps the overlap's lags unless asked.
    const values = Float64Array.from(labels, (y) => y);
    expect(clusteredMean(values, panel, { evidence: true }).standardError).toBe(clusteredMean(values, panel, { evidence: true, persistentDays: false }).standardError);
  });

  it('keeps the overlap alone for daily sums that alternate (negative autocorrelation): no longer reach, and no share above 1 shrinking the variance', () => {
    const z = normals(rng(33));
    const days = 120;
    const stocks = 20;
    const day = Int32Array.from({ length: days * stocks }, (_, i) => Math.floor(i / stocks));
    const symbol = Int32Array.from({ length: days * stocks }, (_, i) => i % stocks);
    // Each day's mean flips sign from the day before (an AR(1) of about −0.9 on the daily sums).
    const level = new Float64Array(days);
    for (let d = 1; d < days; d++) level[d] = -0.9 * level[d - 1] + z();
    const values = Float64Array.from(day, (d) => level[d] + 0.5 * z());
    for (const lags of [1, 4]) {
      const panel = { day, symbol, lags };
      const persistent = clusteredMean(values, panel, { evidence: true, persistentDays: true });
      const overlapOnly = clusteredMean(values, panel, { evidence: true, persistentDays: false });
      expect(Number.isFinite(persistent.standardError)).toBe(true);
      expect(persistent.standardError).toBe(overlapOnly.standardError);
      expect(persistent.degreesOfFreedom).toBe(overlapOnly.degreesOfFreedom);
    }
  });

  it('takes the share centring leaves of an AR(1) series, that of independent entries at rho 0', () => {
    const weights = Float64Array.from({ length: 5 }, () => 1);
    expect(ar1DemeanedShare(30, weights, 0)).toBeCloseTo(demeanedShare(30, 4, true), 12);
    // Monte Carlo of a persistent series: centring takes more of its variance.
    const z = normals(rng(21));
    const n = 40;
    const rho = 0.8;
    let kept = 0;
    let truth = 0;
    for (let k = 0; k < 20_000; k++) {
      const x = new Float64Array(n);
      x[0] = z() / Math.sqrt(1 - rho * rho);
      for (let t = 1; t < n; t++) x[t] = rho * x[t - 1] + z();
      const m = x.reduce((s, v) => s + v, 0) / n;
      for (let a = 0; a < n; a++) for (let b = Math.max(0, a - 4); b <= Math.min(n - 1, a + 4); b++) kept += (x[a] - m) * (x[b] - m);
      truth += (m * n) ** 2;
    }
    const share = ar1DemeanedShare(n, weights, rho);
    expect(share).toBeLessThan(demeanedShare(n, 4, true));
    expect(kept / truth).toBeCloseTo(share, 1);
  });
});
