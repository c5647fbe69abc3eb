import { rng } from '../../../lib/random';
import { clusteredAuc, clusteredMean } from '../../../lib/stats/dependent-inference';
import { describeMergedSymbols, nearDuplicateSymbolGroups, scanLaggedPairs, symbolClustersOf } from '../../../lib/stats/symbol-clusters';
import { dayBlockClusters } from '../../helpers/day-blocks';

function normals(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** Day-major panel rows of per-symbol daily series (NaN = no row that day). */
function panel(series: Float64Array[]): { symbol: Int32Array; day: Int32Array; value: Float64Array } {
  const symbol: number[] = [];
  const day: number[] = [];
  const value: number[] = [];
  for (let t = 0; t < series[0].length; t++) {
    series.forEach((s, k) => {
      if (Number.isNaN(s[t])) return;
      symbol.push(k);
      day.push(t);
      value.push(s[t]);
    });
  }
  return { symbol: Int32Array.from(symbol), day: Int32Array.from(day), value: Float64Array.from(value) };
}

/** Stocks of a market with sectors: one factor for all, one per sector, and their own noise (5-day sums). */
function sectorMarket(symbols: number, days: number, seed: number): Float64Array[] {
  const z = normals(rng(seed));
  const market = Float64Array.from({ length: days + 5 }, () => 0.01 * z());
  const sectors = Array.from({ length: 10 }, () => Float64Array.from({ length: days + 5 }, () => 0.012 * z()));
  return Array.from({ length: symbols }, (_, s) => {
    const beta = 0.6 + 0.8 * ((s * 37) % 100) / 100;
    const daily = Float64Array.from({ length: days + 5 }, (_, t) => beta * market[t] + sectors[s % 10][t] + 0.012 * z());
    return Float64Array.from({ length: days }, (_, t) => daily[t + 1] + daily[t + 2] + daily[t + 3] + daily[t + 4] + daily[t + 5]);
  });
}

describe('near-duplicate symbols', () => {
  it('merges a symbol imported twice and a share class, but not stocks of one sector', () => {
    const z = normals(rng(5));
    const series = sectorMarket(30, 400, 1);
    // 30: a second listing of 3 (identical); 31: a share class of 7 (tiny tracking noise); 32: of 31 (transitively 7's).
    series.push(series[3].slice());
    series.push(Float64Array.from(series[7], (v) => v + 0.002 * z()));
    series.push(Float64Array.from(series[31], (v) => v + 0.002 * z()));
    const { symbol, day, value } = panel(series);
    const groups = nearDuplicateSymbolGroups(symbol, day, value);
    expect(groups.merged).toEqual([[3, 30], [7, 31, 32]]);
    expect(groups.groups).toBe(30);
    expect(groups.groupOf[30]).toBe(groups.groupOf[3]);
    expect(groups.groupOf[32]).toBe(groups.groupOf[7]);
    expect(new Set(groups.groupOf).size).toBe(30);
    // Same-sector stocks correlate well below the threshold here.
    const names = series.map((_, s) => `S${s}`);
    expect(describeMergedSymbols(groups, names)).toBe('S3 = S30; S7 = S31 = S32');
    // Every row's cluster is its group; ids compact, numbered by each group's smallest symbol.
    const cluster = symbolClustersOf(symbol, groups);
    expect(Math.max(...cluster)).toBe(29);
    expect(cluster.every((c, i) => c === groups.groupOf[symbol[i]])).toBe(true);
  });

  it("merges a symbol whose series is another's a day or two off (its file holds the other's bars of the next session), up to maxLag", () => {
    const series = sectorMarket(30, 400, 6);
    // 30: 3's 5-day forward returns of the next day (probe-e's ZDUP); 31: 8's of two days before. On
    // the same day they correlate only as overlapping 5-day sums do (~0.8 and ~0.6): never merged before.
    series.push(Float64Array.from(series[3], (_, t) => (t + 1 < 400 ? series[3][t + 1] : NaN)));
    series.push(Float64Array.from(series[8], (_, t) => (t >= 2 ? series[8][t - 2] : NaN)));
    const { symbol, day, value } = panel(series);
    const names = series.map((_, s) => `S${s}`);
    const groups = nearDuplicateSymbolGroups(symbol, day, value);
    expect(groups.merged).toEqual([[3, 30], [8, 31]]);
    expect(groups.groups).toBe(30);
    expect(describeMergedSymbols(groups, names)).toBe('S3 = S30 (S30 on day t = S3 on day t+1); S8 = S31 (S31 on day t = S8 on day t-2)');
    expect(nearDuplicateSymbolGroups(symbol, day, value, { maxLag: 1 }).merged).toEqual([[3, 30]]);
    expect(nearDuplicateSymbolGroups(symbol, day, value, { maxLag: 0 }).merged).toEqual([]);
    expect(() => nearDuplicateSymbolGroups(symbol, day, value, { maxLag: -1 })).toThrow(/maxLag must be an integer >= 0/);
  });

  it('scanLaggedPairs with `leading` compares only pairs whose first row is one of the leading rows', () => {
    // Rows 0, 1 leading; row 2 a copy of row 0 a day later, row 4 a copy of row 3 (neither pair has a leading row but the first).
    const [a, b, c] = sectorMarket(3, 300, 7);
    const rows = [a, b, Float64Array.from(a, (_, t) => (t >= 1 ? a[t - 1] : NaN)), c, c.slice()];
    const x = new Float64Array(rows.length * 300);
    rows.forEach((r, i) => x.set(r, i * 300));
    const found = (leading?: number) => {
      const out: Array<[number, number, number]> = [];
      scanLaggedPairs(x, rows.length, 300, { minCorrelation: 0.99, minCommonDays: 60, maxLag: 3, ...(leading !== undefined ? { leading } : {}) }, ({ a: i, b: j, lag }) => {
        out.push([i, j, lag]);
      });
      return out;
    };
    expect(found()).toEqual([[0, 2, 1], [3, 4, 0]]);
    expect(found(2)).toEqual([[0, 2, 1]]);
    expect(found(0)).toEqual([]);
  });

  it('judges pairs on their common days only, and needs enough of them', () => {
    const series = sectorMarket(6, 600, 2);
    // 6 copies 0 but only from day 450 (150 common days): merged; 7 copies 1 on 40 days only: too few to judge.
    series.push(Float64Array.from(series[0], (v, t) => (t >= 450 ? v : NaN)));
    series.push(Float64Array.from(series[1], (v, t) => (t >= 560 ? v : NaN)));
    // 2 has holes (a halted stock): its copy with the same holes still matches.
    series[2] = Float64Array.from(series[2], (v, t) => (t % 17 === 0 ? NaN : v));
    series.push(series[2].slice());
    const { symbol, day, value } = panel(series);
    expect(nearDuplicateSymbolGroups(symbol, day, value).merged).toEqual([[0, 6], [2, 8]]);
    expect(nearDuplicateSymbolGroups(symbol, day, value, { minCommonDays: 30 }).merged).toEqual([[0, 6], [1, 7], [2, 8]]);
    // The threshold decides: at 0.5 stocks of one sector merge too.
    expect(nearDuplicateSymbolGroups(symbol, day, value, { minCorrelation: 0.5 }).merged.length).toBeGreaterThan(0);
  });

  it('takes symbol and day ids of any range, in any row order', () => {
    const series = sectorMarket(4, 300, 3);
    series.push(series[1].slice());
    const { symbol, day, value } = panel(series);
    const order = Array.from(symbol, (_, i) => i).reverse();
    const shifted = nearDuplicateSymbolGroups(Int32Array.from(order, (i) => symbol[i] * 3 + 10), Int32Array.from(order, (i) => day[i] + 1000), Float64Array.from(order, (i) => value[i]));
    expect(shifted.merged).toEqual([[13, 22]]);
    expect(shifted.groupOf[0]).toBe(-1);
    expect(() => symbolClustersOf(Int32Array.of(0), shifted)).toThrow(/has no group/);
  });

  // Its CPU time is printed, not asserted: a timed unit test failed at 1,051 ms under a loaded CI
  // machine; speed belongs to benchmarks.
  it('finds the copies among 500 symbols × 1,300 days through the screen (screened pairs, not all exact correlations)', () => {
    const series = sectorMarket(500, 1300, 4);
    for (let s = 99; s < 500; s += 100) series[s] = series[s - 1].slice();
    const { symbol, day, value } = panel(series);
    const cpu = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    nearDuplicateSymbolGroups(symbol, day, value); // warm-up (compilation)
    const started = cpu();
    const groups = nearDuplicateSymbolGroups(symbol, day, value);
    const ms = cpu() - started;
    console.log(`near-duplicate symbol groups on 500 symbols × 1,300 days (${symbol.length} rows): ${ms.toFixed(0)} ms of CPU`);
    expect(groups.merged).toEqual([[98, 99], [198, 199], [298, 299], [398, 399], [498, 499]]);
  });
});

describe('inference with symbols listed twice', () => {
  // 20 stocks with persistent effects of their own, 80 weeks; then the same rows again under 20 other names.
  const z = normals(rng(21));
  const stocks = 20;
  const days = 400;
  const effect = Float64Array.from({ length: stocks }, () => 0.5 * z());
  const week = Float64Array.from({ length: days / 5 }, () => 0.5 * z());
  const rows = stocks * days;
  const symbol = new Int32Array(rows);
  const day = new Int32Array(rows);
  const values = new Float64Array(rows);
  const forward = new Float64Array(rows);
  const labels = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    day[i] = Math.floor(i / stocks);
    symbol[i] = i % stocks;
    forward[i] = effect[symbol[i]] * 0.01 + week[Math.floor(day[i] / 5)] * 0.01 + 0.02 * z();
    values[i] = effect[symbol[i]] + week[Math.floor(day[i] / 5)] + z();
    labels[i] = forward[i] > 0 ? 1 : 0;
  }
  const twice = <T extends Int32Array | Float64Array>(a: T, shift = 0): T => {
    const out = new (a.constructor as new (n: number) => T)(a.length * 2);
    out.set(a);
    for (let i = 0; i < a.length; i++) out[a.length + i] = a[i] + shift;
    return out;
  };
  const blocks = dayBlockClusters(day, 5).cluster;
  const blocks2 = dayBlockClusters(twice(day), 5).cluster;
  const merged = symbolClustersOf(twice(symbol, stocks), nearDuplicateSymbolGroups(twice(symbol, stocks), twice(day), twice(forward)));

  it('gives the same standard error as the stocks listed once when the copies are merged; counted apart, a smaller one', () => {
    const once = clusteredMean(values, [blocks, symbol]);
    const mergedTwice = clusteredMean(twice(values), [blocks2, merged]);
    const apart = clusteredMean(twice(values), [blocks2, twice(symbol, stocks)]);
    expect(mergedTwice.estimate).toBeCloseTo(once.estimate, 12);
    expect(mergedTwice.standardError).toBeCloseTo(once.standardError, 12);
    expect(mergedTwice.degreesOfFreedom).toBe(once.degreesOfFreedom);
    expect(apart.standardError).toBeLessThan(0.8 * once.standardError);

    const score = Float64Array.from(values, (v, i) => v + 2 * labels[i]);
    const aucOnce = clusteredAuc(score, labels, [blocks, symbol]);
    const aucTwice = clusteredAuc(twice(score), twice(labels), [blocks2, merged]);
    expect(aucTwice.estimate).toBeCloseTo(aucOnce.estimate, 12);
    expect(aucTwice.standardError).toBeCloseTo(aucOnce.standardError, 12);
  });
});
