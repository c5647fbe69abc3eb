/**
 * Evidence on `sharpe` must be skill beyond the market exposure a strategy took. Ranking stocks by
 * their trailing beta (closes up to the decision day only) and holding the top k is net exposure 1,
 * and in a rising market it beats buy-and-hold at exposure 1 with no skill at all: on two real years
 * of the S&P 500 it was promoted (p 0.035) with a Sharpe ratio of 1.76 against buy-and-hold's 2.07.
 * The alpha of its daily returns regressed on the market's (Newey–West), its Sharpe ratio against
 * buy-and-hold's (paired by day) and its return against buy-and-hold at the same exposure must all
 * hold; a scorer that knows a real per-stock edge still passes all three.
 */
import type { BarSeries } from '../../../lib/market-data/bar';
import { rng } from '../../../lib/random';
import { candidateScoresOf, championEvidenceOf, promotionDecision } from '../../../lib/registry/promotion';
import { championComparisonOf, evaluatePredictions } from '../../../lib/training/evaluation-report';
import { DEFAULT_PLAUSIBILITY } from '../../../lib/training/guards';
import { datasetFromBars, predictionsForLastDays, rankedScores } from '../../helpers/training-dataset';
import { PASSED_GUARDS } from '../../helpers/passed-guards';

const direction = { kind: 'direction', horizon: 5, deadZone: 0 } as const;
const policy = { metric: 'sharpe' as const, margin: 0.005, minAuc: 0.5, alpha: 0.05 };
const options = { backtest: { topK: 8 }, plausibility: DEFAULT_PLAUSIBILITY.direction, trials: 1, trialSharpeVariance: 0, seed: 1 };
const SYMBOLS = 30;
const DAYS = 760;
const EVALUATION_DAYS = 500;

interface Market {
  series: BarSeries[];
  /** Per symbol and day, the trailing beta on the equal-weight market over the 120 returns up to that day (NaN before). */
  trailingBeta: Float64Array[];
  /** Per symbol and day, a signal known at that day's close that moves the return the backtest earns on it (no effect without an edge). */
  signal: Float64Array[];
}

/** A market rising about 45% a year, stocks of betas 0.4 to 2.0; `edge`: the next day's return moves by edge × the signal. */
function risingMarket(seed: number, edge = 0): Market {
  const random = rng(seed);
  const z = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const dates = Array.from({ length: DAYS }, (_, d) => new Date(Date.UTC(2012, 0, 2) + d * 86_400_000).toISOString().slice(0, 10));
  const market = Float64Array.from({ length: DAYS }, () => 0.0015 + 0.01 * z());
  const betas = Array.from({ length: SYMBOLS }, (_, s) => 0.4 + (1.6 * s) / (SYMBOLS - 1));
  // A slowly changing signal (a stock's persistent mispricing): known at the close of day d, it moves
  // the return from the open of d + 1 (the first the backtest can trade at) to that of d + 2.
  const signal = betas.map(() => {
    const x = new Float64Array(DAYS);
    for (let d = 0; d < DAYS; d++) x[d] = (d > 0 ? 0.95 * x[d - 1] : 0) + Math.sqrt(1 - 0.95 ** 2) * z();
    return x;
  });
  const returns = betas.map((b, s) => Float64Array.from({ length: DAYS }, (_, d) => b * market[d] + 0.01 * z() + (d > 1 ? edge * signal[s][d - 2] : 0)));
  const series = returns.map((r, s) => {
    const close = new Float64Array(DAYS);
    let p = 50;
    for (let d = 0; d < DAYS; d++) close[d] = p *= 1 + r[d];
    // Opens equal closes: the backtest's open-to-open return of day d + 1 is the close-to-close one.
    return { symbol: `B${String(s).padStart(2, '0')}`, dates, open: close.slice(), high: close.map((c) => c * 1.01), low: close.map((c) => c * 0.99), close, volume: new Float64Array(DAYS).fill(1e6) };
  });
  const observed = series.map((s) => Float64Array.from({ length: DAYS }, (_, d) => (d === 0 ? NaN : s.close[d] / s.close[d - 1] - 1)));
  const average = Float64Array.from({ length: DAYS }, (_, d) => observed.reduce((a, r) => a + r[d], 0) / SYMBOLS);
  const window = 120;
  const trailingBeta = observed.map((r) =>
    Float64Array.from({ length: DAYS }, (_, d) => {
      if (d < window) return NaN;
      let sx = 0, sy = 0, sxx = 0, sxy = 0;
      for (let j = d - window + 1; j <= d; j++) {
        sx += average[j];
        sy += r[j];
        sxx += average[j] * average[j];
        sxy += average[j] * r[j];
      }
      return (sxy / window - (sx / window) * (sy / window)) / (sxx / window - (sx / window) ** 2);
    }),
  );
  return { series, trailingBeta, signal };
}

describe('evidence on the sharpe metric, against the market exposure a strategy took', () => {
  it('never promotes a ranking by trailing beta in a rising market, and reports its beta and alpha', () => {
    let promoted = 0;
    let beatExposureMatched = 0;
    const seeds = 8;
    for (let seed = 1; seed <= seeds; seed++) {
      const m = risingMarket(seed);
      const ds = datasetFromBars(m.series, direction);
      const report = evaluatePredictions(ds, predictionsForLastDays(ds, EVALUATION_DAYS, rankedScores(ds, (s, d) => m.trailingBeta[s][d])), m.series, options);
      const bt = report.backtest;
      // Net exposure 1, but the beta of the highest-beta stocks: the exposure-matched return flatters it.
      expect(bt.excessReturnBenchmark?.exposure).toBeCloseTo(1, 6);
      expect(bt.marketModel?.beta.value).toBeGreaterThan(1.3);
      expect(bt.marketModel?.alpha.interval[0]).toBeLessThan(bt.marketModel?.alpha.value as number);
      expect(bt.sharpeDifference).toMatchObject({ versus: 'buy_and_hold', rivalSharpe: bt.buyAndHold.sharpe });
      expect(bt.deflatedSharpeBenchmark).toMatchObject({ versus: 'buy_and_hold', sharpe: expect.closeTo(bt.buyAndHold.sharpe, 10) });
      if (bt.excessReturn.pValue < 0.05) beatExposureMatched++;
      const decision = promotionDecision({ ...candidateScoresOf(report, PASSED_GUARDS), bestOfRun: true, candidatesCompared: 1 }, undefined, policy);
      if (decision.promote) promoted++;
      else if (!/below the floor/.test(decision.reason)) expect(decision.reason).toMatch(/no evidence it beats the strongest naive baseline: sharpe .* over (buy-and-hold at the strategy's beta \(\d\.\d\d\), alpha per day|buy-and-hold's Sharpe ratio \d\.\d\d, annualised Sharpe difference)/);
    }
    console.log(`trailing-beta ranker in a rising market: beat buy-and-hold at its net exposure (p < 0.05) in ${beatExposureMatched} of ${seeds} seeds; promoted on sharpe in ${promoted}`);
    expect(beatExposureMatched).toBeGreaterThan(seeds / 2);
    expect(promoted).toBe(0);
  });

  it('still promotes a scorer that knows a real per-stock edge, with its alpha, Sharpe ratio and return all above the market', () => {
    let promoted = 0;
    const seeds = 4;
    for (let seed = 1; seed <= seeds; seed++) {
      const m = risingMarket(100 + seed, 0.001);
      const ds = datasetFromBars(m.series, direction);
      const report = evaluatePredictions(ds, predictionsForLastDays(ds, EVALUATION_DAYS, rankedScores(ds, (s, d) => m.signal[s][d])), m.series, options);
      const bt = report.backtest;
      expect(Math.abs((bt.marketModel?.beta.value ?? NaN) - 1)).toBeLessThan(0.3);
      const decision = promotionDecision({ ...candidateScoresOf(report, PASSED_GUARDS), bestOfRun: true, candidatesCompared: 1 }, undefined, policy);
      if (decision.promote) {
        promoted++;
        expect(decision.reason).toMatch(/^no champion yet; sharpe \d\.\d{4} passes the floors; beats /);
        expect(decision.reason).toMatch(/alpha per day/);
        expect(decision.reason).toMatch(/annualised Sharpe difference/);
        expect(decision.reason).toMatch(/average net exposure/);
      }
    }
    expect(promoted).toBe(seeds);
  });
});

describe('a challenger against the champion re-run on the same rows', () => {
  it('compares them paired, and promotes over the champion only on a significant difference', () => {
    const m = risingMarket(201, 0.001);
    const ds = datasetFromBars(m.series, direction);
    const noise = rng(9);
    const edge = predictionsForLastDays(ds, EVALUATION_DAYS, rankedScores(ds, (s, d) => m.signal[s][d]));
    const champion = predictionsForLastDays(ds, EVALUATION_DAYS, () => 0.3 + 0.4 * noise());
    const rival = predictionsForLastDays(ds, EVALUATION_DAYS, () => 0.3 + 0.4 * noise());
    const same = championComparisonOf(ds, champion, champion, m.series, { backtest: options.backtest, seed: 1 });
    expect(same).toMatchObject({ rows: champion.rows.length, days: EVALUATION_DAYS, auc: { value: 0, pValue: 1 }, accuracy: { value: 0, pValue: 1 }, sharpe: { value: 0 } });
    const better = championComparisonOf(ds, edge, champion, m.series, { backtest: options.backtest, seed: 1 });
    expect(better.auc.value).toBeGreaterThan(0);
    expect(better.auc.pValue).toBeLessThan(0.001);
    expect(better.sharpe.pValue).toBeLessThan(0.001);
    const luck = championComparisonOf(ds, rival, champion, m.series, { backtest: options.backtest, seed: 1 });
    expect(luck.auc.pValue).toBeGreaterThan(0.025);
    // Only the rows both predicted are compared.
    const fewer = { ...edge, rows: edge.rows.slice(100), proba: edge.proba.slice(200) };
    expect(championComparisonOf(ds, fewer, champion, m.series, { backtest: options.backtest, seed: 1 }).rows).toBe(champion.rows.length - 100);

    // The champion's scores and the challengers' through the promotion rule, on sharpe.
    const championScores = candidateScoresOf(evaluatePredictions(ds, champion, m.series, options), PASSED_GUARDS);
    const policySharpe = { ...policy, margin: 0 };
    const withEdge = { ...candidateScoresOf(evaluatePredictions(ds, edge, m.series, options), PASSED_GUARDS), versusChampion: championEvidenceOf({ ...better, championVersion: 1 }) };
    expect(promotionDecision(withEdge, championScores, policySharpe)).toMatchObject({ promote: true, reason: expect.stringMatching(/paired on the same rows: sharpe \+\d\.\d{4} over champion v1 re-run, annualised Sharpe difference on the same 500 days/) });
    // A challenger that is better by a point on one draw, without the paired difference, is not promoted.
    const lucky = { ...withEdge, versusChampion: championEvidenceOf({ ...luck, sharpe: { ...luck.sharpe, value: Math.abs(luck.sharpe.value), pValue: 0.3 }, championVersion: 1 }) };
    expect(promotionDecision(lucky, championScores, policySharpe).reason).toMatch(/^not promoted: no evidence it beats the champion on the same rows: sharpe .* one-sided p 0\.30, paired by day, Newey–West \(Ledoit–Wolf\)\), p must be below 0\.0250/);
  });
});
