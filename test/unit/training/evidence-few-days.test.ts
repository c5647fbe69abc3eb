/**
 * An evaluation period shorter than one stretch of lags + 1 days (5 days of 5-day labels, 20 of
 * 20-day ones) has every row within the label overlap of every other: the symbols share the days'
 * market move, so the day part of the variance cannot be estimated, and the symbols alone are not
 * independent units. Evidence there is undefined (no promotion), where it used to fall back to the
 * symbol clustering alone: a market-timing score without skill, over 5 days of 5-day labels on 60
 * symbols, was tested on 59 df and beat the strongest baseline at a one-sided 5% in 13% of seeds and
 * was promoted on `auc` in 7.5% at the first challenge's 2.5%. The guards keep the symbols alone,
 * the cautious side for a leak.
 */
import type { BarSeries } from '../../../lib/market-data/bar';
import { rng } from '../../../lib/random';
import { candidateScoresOf, promotionDecision } from '../../../lib/registry/promotion';
import { clusteredAucDifference, clusteredMean, type PanelDependence } from '../../../lib/stats/dependent-inference';
import { evaluatePredictions } from '../../../lib/training/evaluation-report';
import { DEFAULT_PLAUSIBILITY } from '../../../lib/training/guards';
import { datasetFromBars, predictionsForLastDays } from '../../helpers/training-dataset';
import { PASSED_GUARDS } from '../../helpers/passed-guards';

const normal = (random: () => number) => () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());

/** `days` days × `symbols` symbols; labels share each day's market move; the score is one value per day with no link to it. */
function timingPanel(seed: number, days: number, symbols: number) {
  const random = rng(seed);
  const z = normal(random);
  const n = days * symbols;
  const labels = new Int32Array(n);
  const score = new Float64Array(n);
  const rival = new Float64Array(n);
  const day = new Int32Array(n);
  const symbol = new Int32Array(n);
  for (let d = 0, r = 0; d < days; d++) {
    const move = z();
    const timing = z();
    const other = z();
    for (let s = 0; s < symbols; s++, r++) {
      labels[r] = move + 1.2 * z() > 0 ? 1 : 0;
      score[r] = timing + 0.05 * z();
      rival[r] = other + 0.05 * z();
      day[r] = d;
      symbol[r] = s;
    }
  }
  return { labels, score, rival, panel: { day, symbol, lags: 4 } satisfies PanelDependence };
}

describe('evidence over fewer days than the label overlap', () => {
  it('is undefined for the evidence, and the symbols alone only where a guard asks for them', () => {
    let rejectedBefore = 0;
    const seeds = 40;
    for (let seed = 1; seed <= seeds; seed++) {
      const { labels, score, rival, panel } = timingPanel(seed, 5, 60);
      const difference = clusteredAucDifference(score, rival, labels, panel);
      expect(difference.pValueAbove).toBeNaN();
      expect(difference.interval[0]).toBeNaN();
      expect(clusteredMean(Float64Array.from(labels), panel).standardError).toBeNaN();
      // What the evidence was tested on before; a guard still gets it.
      const symbolsAlone = clusteredAucDifference(score, rival, labels, panel, { symbolsAloneOverFewDays: true });
      expect(symbolsAlone.degreesOfFreedom).toBe(59);
      if (symbolsAlone.pValueAbove < 0.05) rejectedBefore++;
    }
    console.log(`market-timing score without skill over 5 days of 5-day labels: the symbols alone reject at one-sided 5% in ${rejectedBefore} of ${seeds}`);
    expect(rejectedBefore).toBeGreaterThan(seeds * 0.1);
    // Two stretches of 5 days: the days are estimated (1 df), as before.
    const { labels, score, rival, panel } = timingPanel(3, 10, 60);
    const two = clusteredAucDifference(score, rival, labels, panel);
    expect(two.degreesOfFreedom).toBe(1);
    expect(Number.isFinite(two.pValueAbove)).toBe(true);
  });

  it('promotes nothing on a 5-day evaluation of 5-day labels', () => {
    const SYMBOLS = 60;
    const DAYS = 320;
    const direction = { kind: 'direction', horizon: 5, deadZone: 0 } as const;
    let promoted = 0;
    const seeds = 12;
    for (let seed = 1; seed <= seeds; seed++) {
      const random = rng(seed);
      const z = normal(random);
      const dates = Array.from({ length: DAYS }, (_, d) => new Date(Date.UTC(2012, 0, 2) + d * 86_400_000).toISOString().slice(0, 10));
      const market = Float64Array.from({ length: DAYS }, () => 0.0003 + 0.01 * z());
      const series: BarSeries[] = Array.from({ length: SYMBOLS }, (_, s) => {
        const close = new Float64Array(DAYS);
        let p = 50;
        for (let d = 0; d < DAYS; d++) close[d] = p *= 1 + market[d] + 0.012 * z();
        return { symbol: `S${String(s).padStart(2, '0')}`, dates, open: close.slice(), high: close.map((c) => c * 1.01), low: close.map((c) => c * 0.99), close, volume: new Float64Array(DAYS).fill(1e6) };
      });
      const ds = datasetFromBars(series, direction);
      const dayScore = new Map<number, number>();
      const model = (r: number) => {
        if (!dayScore.has(ds.start[r])) dayScore.set(ds.start[r], 0.4 + 0.2 * random());
        return (dayScore.get(ds.start[r]) as number) + 0.02 * (random() - 0.5);
      };
      const report = evaluatePredictions(ds, predictionsForLastDays(ds, 5, model), series, { backtest: {}, plausibility: DEFAULT_PLAUSIBILITY.direction, trials: 1, trialSharpeVariance: 0, seed: 1 });
      expect(report.auc.difference.pValue).toBeNaN();
      expect(report.baseline.pValue).toBeNaN();
      for (const metric of ['auc', 'accuracy_lift'] as const) {
        const decision = promotionDecision({ ...candidateScoresOf(report, PASSED_GUARDS), bestOfRun: true, candidatesCompared: 1 }, undefined, { metric, margin: 0, minAuc: 0, alpha: 0.05 });
        if (decision.promote) promoted++;
        else if (!/below the floor|not defined/.test(decision.reason)) expect(decision.reason).toMatch(/no evidence it beats the strongest naive baseline: .*one-sided p undefined/);
      }
    }
    expect(promoted).toBe(0);
  });
});
