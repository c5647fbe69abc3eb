/**
 * The evaluation report's inference and guards where the universe or the strategy is unusual:
 * symbols listed twice (share classes, a symbol imported under two names), and models that time
 * the market with one score per day for a strategy that does not rank symbols.
 */
import type { LabelSpec } from '../../../lib/labels/labels';
import type { BarSeries } from '../../../lib/market-data/bar';
import { rng } from '../../../lib/random';
import type { TrainingDataset } from '../../../lib/training/dataset';
import { degenerateScores, evaluatePredictions, scoreVariationOf, DEFAULT_DEGENERATE_LIMITS, type EvaluationOptions } from '../../../lib/training/evaluation-report';
import { DEFAULT_PLAUSIBILITY } from '../../../lib/training/guards';
import { datasetFromBars, predictionsForLastDays } from '../../helpers/training-dataset';

const direction: LabelSpec = { kind: 'direction', horizon: 5, deadZone: 0 };

function normals(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** `symbols` stocks sharing a market factor; with `copies`, each is listed a second time under another name. */
function marketOf(symbols: number, days: number, seed: number, copies = false): BarSeries[] {
  const z = normals(rng(seed));
  const dates = Array.from({ length: days }, (_, d) => new Date(Date.UTC(2012, 0, 2) + d * 86_400_000).toISOString().slice(0, 10));
  const market = Float64Array.from({ length: days }, () => 0.01 * z());
  const series = Array.from({ length: symbols }, (_, s) => {
    const close = new Float64Array(days);
    let p = 40 + 10 * s;
    for (let d = 0; d < days; d++) close[d] = p *= Math.exp(market[d] + 0.0005 * (s % 3 - 1) + 0.01 * z());
    return { symbol: `S${String(s).padStart(2, '0')}`, dates, open: close.slice(), high: close.map((c) => c * 1.01), low: close.map((c) => c * 0.99), close, volume: new Float64Array(days).fill(1e6) };
  });
  return copies ? [...series, ...series.map((s) => ({ ...s, symbol: `${s.symbol}b` }))] : series;
}

const datasetOf = (series: BarSeries[], label: LabelSpec): TrainingDataset => datasetFromBars(series, label, 'noise');

const predictionsOf = predictionsForLastDays;

const options = (backtest: EvaluationOptions['backtest']): EvaluationOptions => ({ backtest, plausibility: DEFAULT_PLAUSIBILITY.direction, trials: 1, trialSharpeVariance: 0, seed: 1 });
const logistic = (x: number) => 1 / (1 + Math.exp(-x));

describe('symbols listed twice', () => {
  const stocks = 12;
  const days = 400;
  // The model's score of a (day, company): the same for both listings of a company.
  const noise = normals(rng(77));
  const table = Float64Array.from({ length: days * stocks }, () => noise());
  const scoreOf = (ds: TrainingDataset) => (r: number) => logistic(0.15 * ds.forwardReturn[r] / 0.03 + 0.5 * table[ds.start[r] * stocks + (ds.symbol[r] % stocks)]);

  it('are one symbol cluster: the intervals are those of the companies listed once', () => {
    const once = marketOf(stocks, days, 3);
    const twice = marketOf(stocks, days, 3, true);
    const ds1 = datasetOf(once, direction);
    const ds2 = datasetOf(twice, direction);
    const r1 = evaluatePredictions(ds1, predictionsOf(ds1, 200, scoreOf(ds1)), once, options({ costBps: 0, slippageBps: 0 }));
    const r2 = evaluatePredictions(ds2, predictionsOf(ds2, 200, scoreOf(ds2)), twice, options({ costBps: 0, slippageBps: 0 }));
    expect(r1.inference.mergedSymbols).toEqual([]);
    expect(r1.inference.symbolClusters).toBe(stocks);
    expect(r2.inference.mergedSymbols).toEqual(once.map((s) => [s.symbol, `${s.symbol}b`]));
    expect(r2.inference.symbolClusters).toBe(stocks);
    expect(r2.inference.method).toContain('near-duplicate symbols clustered as one: S00 = S00b; S01 = S01b');
    expect(r2.period.rows).toBe(2 * r1.period.rows);
    expect(r2.auc.value).toBeCloseTo(r1.auc.value, 12);
    for (const [a, b] of [[r2.auc.interval, r1.auc.interval], [r2.baseline.liftInterval, r1.baseline.liftInterval], [r2.baseline.accuracyInterval, r1.baseline.accuracyInterval], [r2.auc.difference.interval, r1.auc.difference.interval]]) {
      expect(a[0]).toBeCloseTo(b[0], 10);
      expect(a[1]).toBeCloseTo(b[1], 10);
    }
    expect(r2.baseline.pValue).toBeCloseTo(r1.baseline.pValue, 10);
  });
});

describe('degenerate scores follow what the backtest does with them', () => {
  const series = marketOf(10, 400, 5);
  const ds = datasetOf(series, direction);
  const guardOf = (report: ReturnType<typeof evaluatePredictions>) => report.guards.find((g) => g.guard === 'degenerate_scores');
  // One score per day, the same for every symbol: a market-timing model.
  const random = rng(9);
  const byDay = new Map<number, number>();
  const timing = (r: number) => byDay.get(ds.start[r]) ?? (byDay.set(ds.start[r], 0.3 + 0.4 * random()).get(ds.start[r]) as number);

  it('let a market-timing model through a strategy that trades the score level (no top-k)', () => {
    for (const backtest of [{ costBps: 0, slippageBps: 0 }, { costBps: 0, slippageBps: 0, strategy: 'long_short' as const, threshold: 0.55 }]) {
      const report = evaluatePredictions(ds, predictionsOf(ds, 200, timing), series, options(backtest));
      expect(report.backtest.scoreTies.constantShare).toBe(1);
      expect(report.backtest.scoreVariation).toEqual({ scoredSymbols: 10, constantSymbols: 0, constantSymbolShare: 0 });
      expect(guardOf(report)).toMatchObject({ tripped: false, message: expect.stringMatching(/^scores move in time: 0 of 10 symbols .* 100\.0% of days with one score for every symbol \(market timing\) are no defect/) });
    }
  });

  it('veto the same model for a top-k strategy, where the seeded draw would pick the stocks', () => {
    const report = evaluatePredictions(ds, predictionsOf(ds, 200, timing), series, options({ costBps: 0, slippageBps: 0, topK: 3 }));
    expect(guardOf(report)).toMatchObject({ tripped: true, message: expect.stringMatching(/every symbol got the same score on \d+ of \d+ days \(100\.0%.*a random draw, not the model/) });
  });

  it('veto scores that never move in time when the level is traded: one constant, or one per symbol', () => {
    const constant = evaluatePredictions(ds, predictionsOf(ds, 200, () => 0.6), series, options({ costBps: 0, slippageBps: 0 }));
    expect(guardOf(constant)).toMatchObject({ tripped: true, message: expect.stringMatching(/the score never changed over the period for 10 of 10 symbols \(100\.0%, limit 5%\).*a fixed allocation, not the model/) });
    const perSymbol = (r: number) => 0.3 + 0.04 * ds.symbol[r];
    expect(guardOf(evaluatePredictions(ds, predictionsOf(ds, 200, perSymbol), series, options({ costBps: 0, slippageBps: 0 })))?.tripped).toBe(true);
    // Ranked by top-k, distinct scores per symbol do select: no draw decides.
    expect(guardOf(evaluatePredictions(ds, predictionsOf(ds, 200, perSymbol), series, options({ costBps: 0, slippageBps: 0, topK: 3 })))?.tripped).toBe(false);
  });

  it('judge from the tie and variation counts alone', () => {
    const ties = { scoredDays: 100, constantDays: 100, tiedCutDays: 0, constantShare: 1, tiedCutShare: 0, meanDistinctShare: 0.1 };
    const moving = scoreVariationOf(Int32Array.of(0, 1, 0, 1, 2), Float64Array.of(0.4, 0.4, 0.6, 0.6, 0.5));
    expect(moving).toEqual({ scoredSymbols: 2, constantSymbols: 0, constantSymbolShare: 0 }); // symbol 2 has one score only
    expect(degenerateScores(ties, DEFAULT_DEGENERATE_LIMITS, false, moving).tripped).toBe(false);
    expect(degenerateScores(ties, DEFAULT_DEGENERATE_LIMITS, true, moving).tripped).toBe(true);
    const frozen = scoreVariationOf(Int32Array.of(0, 1, 0, 1, 2, 2), Float64Array.of(0.4, 0.4, 0.4, 0.6, 0.5, NaN));
    expect(frozen).toEqual({ scoredSymbols: 2, constantSymbols: 1, constantSymbolShare: 0.5 });
    expect(degenerateScores({ ...ties, constantDays: 0, constantShare: 0 }, DEFAULT_DEGENERATE_LIMITS, false, frozen).tripped).toBe(true);
    expect(degenerateScores({ ...ties, constantDays: 0, constantShare: 0 }, { ...DEFAULT_DEGENERATE_LIMITS, maxConstantSymbols: 0.5 }, false, frozen).tripped).toBe(false);
  });
});
