/**
 * The within-day AUC: the mean of each day's AUC across symbols, the part of an AUC that ranks
 * stocks rather than timing the market, with an interval that treats rows as the report does (rows
 * of one symbol, and rows up to the label's overlap apart, are dependent).
 */
import { rng } from '../../../lib/random';
import { binaryAucOf } from '../../../lib/stats/binary-scores';
import { neweyWestMean } from '../../../lib/stats/dependent-inference';
import { withinDayAucs } from '../../../lib/validation/within-day-auc';

/**
 * `symbols` × `days` rows of 5-day direction labels: a market factor, each stock's own drift (sd
 * `drift` a day, persistent), and noise. `score(s, d, z)` scores a row.
 */
function panel(seed: number, symbols: number, days: number, drift: number, score: (s: number, d: number, z: () => number, future: number) => number) {
  const random = rng(seed);
  const z = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const h = 5;
  const market = Float64Array.from({ length: days + h }, () => 0.01 * z());
  const own = Float64Array.from({ length: symbols }, () => drift * z());
  const returns = Array.from({ length: symbols }, (_, s) => Float64Array.from({ length: days + h }, (_, d) => own[s] + market[d] + 0.015 * z()));
  const n = symbols * days;
  const labels = new Int32Array(n);
  const day = new Int32Array(n);
  const symbol = new Int32Array(n);
  const scores = new Float64Array(n);
  for (let d = 0, r = 0; d < days; d++) {
    for (let s = 0; s < symbols; s++, r++) {
      let future = 0;
      for (let k = 1; k <= h; k++) future += returns[s][d + k];
      labels[r] = future > 0 ? 1 : 0;
      day[r] = d;
      symbol[r] = s;
      scores[r] = score(s, d, z, future - market.slice(d + 1, d + h + 1).reduce((a, b) => a + b, 0));
    }
  }
  return { labels, scores, dependence: { day, symbol, lags: h - 1 } };
}

describe('within-day AUC', () => {
  it('is the mean of the daily AUCs, 0.5 exactly for one score per day, and above 0.5 for a score that ranks stocks', () => {
    // A score that knows a little of each stock's move beyond the market's (and nothing of the market's).
    const p = panel(1, 30, 200, 0, (_s, _d, z, beyondMarket) => beyondMarket + 0.05 * z());
    const perDay = (x: Float64Array) => {
      const aucs = Array.from({ length: 200 }, (_, d) => binaryAucOf(x.subarray(d * 30, (d + 1) * 30), p.labels.subarray(d * 30, (d + 1) * 30))).filter(Number.isFinite);
      return aucs.reduce((a, b) => a + b, 0) / aucs.length;
    };
    const byDay = Float64Array.from(p.dependence.day, (d) => Math.sin(d)); // the same for every stock on a day
    const w = withinDayAucs(p.scores, [byDay], p.labels, p.dependence);
    expect(w.model.days).toBe(199); // one day all 30 stocks moved one way: no AUC that day
    expect(w.model.estimate.estimate).toBeCloseTo(perDay(p.scores), 12);
    expect(w.model.estimate.estimate).toBeGreaterThan(0.55);
    expect(w.model.estimate.pValueAbove).toBeLessThan(0.001);
    expect(w.rivalValues).toEqual([0.5]);
    expect(w.rival(0).estimate).toMatchObject({ estimate: 0.5, interval: [0.5, 0.5] });
    const difference = w.differenceTo(0);
    expect(difference.estimate).toBeCloseTo(w.model.estimate.estimate - 0.5, 12);
    expect(difference.pValueAbove).toBeLessThan(0.001);
  });

  it('holds its size on null panels where stocks drift and the score keeps ranking the same stocks first', () => {
    // No skill: each stock keeps its own random score level. With persistent drift, one period's
    // daily AUCs all lean the same way; rows of one symbol are one cluster, so the interval says so.
    const runs = 200;
    for (const drift of [0, 0.001]) {
      let rejected = 0;
      let rejectedByDays = 0;
      const estimates: number[] = [];
      let meanSe = 0;
      for (let seed = 1; seed <= runs; seed++) {
        const level = Float64Array.from({ length: 30 }, (_, s) => Math.sin(seed * 31 + s * 7.3));
        const p = panel(100 + seed, 30, 300, drift, (s, _d, z) => level[s] + 0.3 * z());
        const e = withinDayAucs(p.scores, [], p.labels, p.dependence).model.estimate;
        if (e.pValueAbove < 0.05) rejected++;
        // The daily AUCs as a series over days alone (Newey–West, as the IC): blind to a stock's own drift.
        const daily = Float64Array.from({ length: 300 }, (_, d) => binaryAucOf(p.scores.subarray(d * 30, (d + 1) * 30), p.labels.subarray(d * 30, (d + 1) * 30)));
        if (neweyWestMean(daily, { lags: 4, nullValue: 0.5 }).pValueAbove < 0.05) rejectedByDays++;
        estimates.push(e.estimate);
        meanSe += e.standardError / runs;
      }
      const mean = estimates.reduce((a, b) => a + b, 0) / runs;
      const sd = Math.sqrt(estimates.reduce((a, b) => a + (b - mean) ** 2, 0) / (runs - 1));
      console.log(`within-day AUC on null panels, drift sd ${drift}: one-sided 5% test rejected ${rejected} of ${runs} (over days alone: ${rejectedByDays}); standard error ${meanSe.toFixed(4)} against a spread of ${sd.toFixed(4)}`);
      expect(rejected / runs).toBeLessThanOrEqual(0.09);
      if (drift > 0) expect(rejectedByDays).toBeGreaterThan(2 * rejected);
      expect(meanSe / sd).toBeGreaterThan(0.8);
      expect(meanSe / sd).toBeLessThan(1.3);
    }
  });
});
