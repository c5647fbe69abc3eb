/**
 * Guards on a universe of few symbols: a symbol clustering of 2 clusters has 1 degree of freedom
 * (Student t 12.7), whose interval once let a look-ahead model through every guard; 5 symbols (4
 * degrees of freedom) still let a quarter through.
 */
import type { LabelSpec } from '../../../lib/labels/labels';
import type { BarSeries } from '../../../lib/market-data/bar';
import { rng } from '../../../lib/random';
import type { TrainingDataset } from '../../../lib/training/dataset';
import { evaluatePredictions } from '../../../lib/training/evaluation-report';
import { DEFAULT_PLAUSIBILITY, plausibilityBound } from '../../../lib/training/guards';
import { singleFeatureScan } from '../../../lib/training/leakage-guards';
import { datasetFromBars, predictionsForLastDays } from '../../helpers/training-dataset';

const direction: LabelSpec = { kind: 'direction', horizon: 5, deadZone: 0 };

function normals(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** `symbols` stocks sharing a market factor (pairwise correlation about 0.5, far from duplicates). */
function marketOf(symbols: number, days: number, seed: number): BarSeries[] {
  const z = normals(rng(seed));
  const dates = Array.from({ length: days }, (_, d) => new Date(Date.UTC(2012, 0, 2) + d * 86_400_000).toISOString().slice(0, 10));
  const market = Float64Array.from({ length: days }, () => 0.01 * z());
  return Array.from({ length: symbols }, (_, s) => {
    const close = new Float64Array(days);
    let p = 40 + 10 * s;
    for (let d = 0; d < days; d++) close[d] = p *= Math.exp(market[d] + 0.01 * z());
    // No overnight gaps: each day opens at the last close, so labels from the next open span 5 days' moves.
    return { symbol: `S${s}`, dates, open: close.map((c, d) => (d > 0 ? close[d - 1] : c)), high: close.map((c) => c * 1.01), low: close.map((c) => c * 0.99), close, volume: new Float64Array(days).fill(1e6) };
  });
}

const datasetOf = (series: BarSeries[], label: LabelSpec): TrainingDataset => datasetFromBars(series, label, 'feature');

const predictionsOf = predictionsForLastDays;

const options = { backtest: { costBps: 0, slippageBps: 0 }, plausibility: DEFAULT_PLAUSIBILITY.direction, trials: 1, trialSharpeVariance: 0, seed: 1 };
const logistic = (x: number) => 1 / (1 + Math.exp(-x));

/** A model with weight `w` on the row's own forward return (look-ahead when large) plus noise. */
function model(ds: TrainingDataset, seed: number, w: number): (r: number) => number {
  const z = normals(rng(seed * 7 + 1));
  return (r) => logistic(w * ds.forwardReturn[r] / 0.03 + 0.5 * z());
}

/** The plausibility guard as it judged before GUARD_MIN_CLUSTERS: on the report's two-way interval, symbols and all. */
function judgedOnReportInterval(report: ReturnType<typeof evaluatePredictions>): boolean {
  const rival = report.baselines.filter((b) => !b.hindsight).reduce((a, b) => (b.auc > a.auc ? b : a));
  return plausibilityBound('direction', DEFAULT_PLAUSIBILITY.direction, { auc: report.classification.rocAuc, aucLower: report.auc.interval[0], accuracy: report.classification.accuracy, accuracyLower: report.baseline.accuracyInterval[0], baselineAuc: rival.auc, baselineName: rival.name }).tripped;
}

describe('guards on two symbols (1 degree of freedom for the symbol clustering)', () => {
  const runs = 200;
  const tally = (w: number, symbols = 2, runs = 200) => {
    let tripped = 0;
    let before = 0;
    let auc = 0;
    for (let seed = 1; seed <= runs; seed++) {
      const series = marketOf(symbols, 560, seed);
      const ds = datasetOf(series, direction);
      const report = evaluatePredictions(ds, predictionsOf(ds, 500, model(ds, seed, w)), series, options);
      auc += report.classification.rocAuc / runs;
      if (report.guards.find((g) => g.guard === 'plausibility_bound')?.tripped) tripped++;
      if (judgedOnReportInterval(report)) before++;
      if (seed === 1) {
        expect(report.inference.symbolClusters).toBe(symbols);
        expect(report.inference.method).toMatch(new RegExp(`the guards leave out the symbol clustering below 20 symbol clusters and the days below 5 stretches \\(${symbols} symbol clusters, \\d+ stretches of 5 days\\)`));
      }
    }
    return { tripped: tripped / runs, before: before / runs, auc };
  };

  it('trip the plausibility bound on a look-ahead model (AUC about 0.68) in nearly every seeded run, where the two-way interval let most through', () => {
    const leak = tally(0.2);
    console.log(`look-ahead model on 2 symbols (mean AUC ${leak.auc.toFixed(3)}): tripped in ${(leak.tripped * 100).toFixed(1)}% of ${runs} runs; judged on the two-way interval ${(leak.before * 100).toFixed(1)}%`);
    expect(leak.auc).toBeGreaterThan(0.65);
    expect(leak.auc).toBeLessThan(0.7);
    expect(leak.tripped).toBeGreaterThanOrEqual(0.97);
    expect(leak.before).toBeLessThan(0.5);
  });

  it('leave an honest model (AUC about 0.53) alone: false trips in at most 2% of seeded runs', () => {
    const honest = tally(0.03);
    console.log(`honest model on 2 symbols (mean AUC ${honest.auc.toFixed(3)}): false trips in ${(honest.tripped * 100).toFixed(1)}% of ${runs} runs`);
    expect(honest.auc).toBeGreaterThan(0.51);
    expect(honest.auc).toBeLessThan(0.56);
    expect(honest.tripped).toBeLessThanOrEqual(0.02);
  });

  it('name a look-ahead feature in the single-feature scan, and not an honest one (200 seeds each)', async () => {
    let leakNamed = 0;
    let honestNamed = 0;
    for (let seed = 1; seed <= runs; seed++) {
      const series = marketOf(2, 560, seed);
      const ds = datasetOf(series, direction);
      const z = normals(rng(seed * 11 + 3));
      // Two columns: a weak look-ahead (the forward return through noise) and an honest weak signal.
      const columns = ['peek', 'honest'];
      const values = new Float64Array(ds.rows * 2);
      for (let r = 0; r < ds.rows; r++) {
        values[r * 2] = 0.4 * ds.forwardReturn[r] / 0.03 + z();
        values[r * 2 + 1] = 0.06 * ds.forwardReturn[r] / 0.03 + z();
      }
      const rows = Int32Array.from(Array.from({ length: ds.rows }, (_, r) => r).filter((r) => ds.start[r] >= 60));
      const scan = await singleFeatureScan(columns, values, rows, ds, 4, 'direction', DEFAULT_PLAUSIBILITY.direction, { name: 'always_up', auc: 0.5 });
      if (scan.verdict.tripped && scan.verdict.message.includes('peek alone')) leakNamed++;
      if (scan.verdict.message.includes('honest alone')) honestNamed++;
    }
    console.log(`single-feature scan on 2 symbols: look-ahead feature named in ${((leakNamed / runs) * 100).toFixed(1)}%, honest feature in ${((honestNamed / runs) * 100).toFixed(1)}% of ${runs} runs`);
    expect(leakNamed / runs).toBeGreaterThanOrEqual(0.97);
    expect(honestNamed / runs).toBeLessThanOrEqual(0.02);
  });
});

describe('guards on 5 to 10 symbols (4 to 9 degrees of freedom for the symbol clustering)', () => {
  const runs = 100;
  function tally(w: number, symbols: number) {
    let tripped = 0;
    let before = 0;
    let auc = 0;
    for (let seed = 1; seed <= runs; seed++) {
      const series = marketOf(symbols, 560, 1000 * symbols + seed);
      const ds = datasetOf(series, direction);
      const report = evaluatePredictions(ds, predictionsOf(ds, 500, model(ds, seed, w)), series, options);
      auc += report.classification.rocAuc / runs;
      if (report.guards.find((g) => g.guard === 'plausibility_bound')?.tripped) tripped++;
      if (judgedOnReportInterval(report)) before++;
    }
    return { tripped: tripped / runs, before: before / runs, auc };
  }

  it.each([5, 6, 10])('trip the plausibility bound on a look-ahead model (AUC about 0.64) in at least 85% of runs on %i symbols (90% from 6), and leave an honest one alone', (symbols) => {
    const leak = tally(0.15, symbols);
    const honest = tally(0.03, symbols);
    console.log(`${symbols} symbols: look-ahead model (mean AUC ${leak.auc.toFixed(3)}) tripped in ${(leak.tripped * 100).toFixed(0)}% of ${runs} runs (judged on the report's two-way interval: ${(leak.before * 100).toFixed(0)}%); honest model (AUC ${honest.auc.toFixed(3)}) in ${(honest.tripped * 100).toFixed(0)}%`);
    expect(leak.auc).toBeGreaterThan(0.62);
    // The ceiling is the strongest fair baseline's AUC + 0.08 (at most 0.60), and since the market-timing
    // rules joined the baselines the strongest is the best of three that vary: on 5 symbols of a
    // market with nothing to time, one scores 0.52 by luck more often, lifting the ceiling to its cap
    // (94% → 89% of runs tripped; 6 and 10 symbols unchanged).
    expect(leak.tripped).toBeGreaterThanOrEqual(symbols === 5 ? 0.85 : 0.9);
    expect(leak.tripped).toBeGreaterThanOrEqual(leak.before);
    // On 5 symbols the report's two-way interval (Student t on 4 degrees of freedom) let a fifth through.
    if (symbols === 5) expect(leak.tripped - leak.before).toBeGreaterThanOrEqual(0.1);
    expect(honest.tripped).toBeLessThanOrEqual(0.02);
  });
});
