import { computeLabels, volatilityRegimeKnownAt, type LabelSpec } from '../../../lib/labels/labels';
import type { BarSeries } from '../../../lib/market-data/bar';
import { rng } from '../../../lib/random';
import type { TrainingDataset } from '../../../lib/training/dataset';
import { evaluatePredictions } from '../../../lib/training/evaluation-report';
import { DEFAULT_PLAUSIBILITY } from '../../../lib/training/guards';
import { candidateScoresOf, promotionDecision } from '../../../lib/registry/promotion';
import { datasetFromBars, predictionsForLastDays } from '../../helpers/training-dataset';
import { baselineAccuracyOf, naiveBaselinesOf, strongestBaseline } from '../../../lib/validation/baselines';
import { PASSED_GUARDS } from '../../helpers/passed-guards';
import { binaryAucOf } from '../../../lib/stats/binary-scores';

/**
 * Prices whose volatility switches between calm and turbulent regimes that last for weeks (as real
 * volatility does), and whose drift changes sign with the market, so naive rules have something to find.
 */
function regimeMarket(symbols: number, days: number, seed: number): BarSeries[] {
  const random = rng(seed);
  const z = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const dates = Array.from({ length: days }, (_, d) => new Date(Date.UTC(2010, 0, 4) + d * 86_400_000).toISOString().slice(0, 10));
  let turbulent = false;
  const market = Float64Array.from({ length: days }, () => {
    if (random() < 0.02) turbulent = !turbulent;
    return turbulent ? 0.03 : 0.008;
  });
  return Array.from({ length: symbols }, (_, s) => {
    const close = new Float64Array(days);
    let p = 50 + s;
    for (let d = 0; d < days; d++) close[d] = p *= Math.exp(market[d] * z());
    return { symbol: `S${String(s).padStart(2, '0')}`, dates, open: close.slice(), high: close.map((c) => c * 1.01), low: close.map((c) => c * 0.99), close, volume: new Float64Array(days).fill(1e6) };
  });
}

function datasetOf(series: BarSeries[], label: LabelSpec): TrainingDataset {
  const random = rng(3);
  return datasetFromBars(series, label, 'noise', () => random());
}

const predictionsOf = predictionsForLastDays;

const options = (kind: LabelSpec['kind']) => ({ backtest: { costBps: 0, slippageBps: 0, topK: 5 }, plausibility: DEFAULT_PLAUSIBILITY[kind], trials: 1, trialSharpeVariance: 0, seed: 1 });

describe('naive baselines', () => {
  const series = regimeMarket(20, 900, 7);
  const regime: LabelSpec = { kind: 'volatility_regime', horizon: 20, trailing: 252 };

  it('knows the volatility regime at t from bars up to t only', () => {
    const close = series[0].close;
    const now = volatilityRegimeKnownAt(regime, close);
    const altered = close.slice();
    for (let t = 600; t < altered.length; t++) altered[t] *= 1 + 0.2 * Math.sin(t);
    const after = volatilityRegimeKnownAt(regime, altered);
    for (let t = 0; t < 600; t++) {
      expect(Number.isNaN(after.value[t]) ? NaN : after.value[t]).toEqual(Number.isNaN(now.value[t]) ? NaN : now.value[t]);
    }
    // It is the label's own comparison, made 20 bars earlier: persistence.
    const label = computeLabels(regime, series[0]);
    let agree = 0;
    let n = 0;
    for (let t = 300; t < 850; t++) {
      if (Number.isNaN(label.value[t]) || Number.isNaN(now.value[t])) continue;
      n++;
      if (label.value[t] === now.value[t]) agree++;
    }
    expect(agree / n).toBeGreaterThan(0.7);
  });

  it('judges a volatility-regime model against persistence and the smoothed volatility rule, not against a stale majority class', () => {
    const ds = datasetOf(series, regime);
    // A model that predicts the pre-period's rates: near-constant scores with a little noise.
    const random = rng(4);
    const predictions = predictionsOf(ds, 250, () => 0.45 + 0.1 * random());
    const report = evaluatePredictions(ds, predictions, series, options('volatility_regime'));
    const names = report.baselines.map((b) => b.name);
    expect(names).toEqual(['pre_period_majority', 'persistence', 'smoothed_volatility', 'evaluation_majority']);
    const persistence = report.baselines.find((b) => b.name === 'persistence');
    const smoothed = report.baselines.find((b) => b.name === 'smoothed_volatility');
    expect(report.baselines.find((b) => b.name === 'evaluation_majority')?.hindsight).toBe(true);
    expect(persistence?.accuracy).toBeGreaterThan(0.6);
    expect(persistence?.auc).toBeGreaterThan(0.6);
    // The lift is measured against the stronger of the two volatility rules, and is negative.
    const byAccuracy = [persistence!, smoothed!].reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
    expect(report.baseline.name).toBe(byAccuracy.name);
    expect(report.baseline.accuracyLift).toBeCloseTo(report.classification.accuracy - byAccuracy.accuracy, 10);
    expect(report.baseline.accuracyLift).toBeLessThan(-0.08);
    expect(report.baseline.pValue).toBeGreaterThan(0.95);
    expect(report.auc.versus).toBe([persistence!, smoothed!].reduce((a, b) => (b.auc > a.auc ? b : a)).name);
    // 250 days of 20-day labels are at most 13 independent stretches, fewer where the regimes persist
    // beyond them (the evidence's reach grows with them): −0.16 in AUC is likely worse, far from better.
    expect(report.auc.difference.value).toBeLessThan(-0.1);
    expect(report.auc.difference.pValue).toBeGreaterThan(0.75);
  });

  it('measures a volatility-regime model against the stronger of persistence and longer or blended volatility windows, chosen before the evaluation period', () => {
    // Regimes that last months, and bursts of a few days that do not persist: the past 20 sessions
    // mistake a burst for a regime, the past 60 (or a blend with them) see through it.
    const random = rng(21);
    const z = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const days = 1400;
    const dates = Array.from({ length: days }, (_, d) => new Date(Date.UTC(2010, 0, 4) + d * 86_400_000).toISOString().slice(0, 10));
    const bursty: BarSeries[] = Array.from({ length: 12 }, (_, s) => {
      const close = new Float64Array(days);
      let p = 40 + s;
      let turbulent = random() < 0.5;
      let burst = 0;
      for (let d = 0; d < days; d++) {
        if (random() < 1 / 150) turbulent = !turbulent;
        if (burst === 0 && random() < 0.06) burst = 4;
        const sigma = (turbulent ? 0.016 : 0.01) * (burst > 0 ? 4 : 1);
        if (burst > 0) burst--;
        close[d] = p *= Math.exp(sigma * z());
      }
      return { symbol: `B${String(s).padStart(2, '0')}`, dates, open: close.slice(), high: close.map((c) => c * 1.01), low: close.map((c) => c * 0.99), close, volume: new Float64Array(days).fill(1e6) };
    });
    const ds = datasetOf(bursty, regime);
    const decisionDays = [...new Set(ds.start)].sort((a, b) => a - b);
    const first = decisionDays[decisionDays.length - 400];
    const rows = Int32Array.from(Array.from({ length: ds.rows }, (_, r) => r).filter((r) => ds.start[r] >= first));
    const labels = Int32Array.from(rows, (r) => ds.labels[r]);
    const baselines = naiveBaselinesOf(ds, rows, bursty);
    expect(baselines.map((b) => b.name)).toEqual(['pre_period_majority', 'persistence', 'smoothed_volatility', 'evaluation_majority']);
    const persistence = baselines.find((b) => b.name === 'persistence')!;
    const smoothed = baselines.find((b) => b.name === 'smoothed_volatility')!;
    expect(smoothed.description).toMatch(/60-session/);
    expect(smoothed.hindsight).toBe(false);
    // The rule picked on the pre-period is the stronger one out of sample too, by AUC and accuracy.
    expect(binaryAucOf(smoothed.score, labels)).toBeGreaterThan(binaryAucOf(persistence.score, labels) + 0.02);
    expect(baselineAccuracyOf(smoothed.predicted, labels)).toBeGreaterThan(baselineAccuracyOf(persistence.predicted, labels));
    const report = evaluatePredictions(ds, predictionsOf(ds, 400, () => 0.5 + 0.01 * random()), bursty, options('volatility_regime'));
    expect(report.auc.versus).toBe('smoothed_volatility');
    // Which rule is chosen does not depend on the evaluation period's labels.
    const flipped = { ...ds, labels: ds.labels.map((y, r) => (ds.start[r] >= first ? 1 - y : y)) };
    expect(naiveBaselinesOf(flipped, rows, bursty).find((b) => b.name === 'smoothed_volatility')?.description).toBe(smoothed.description);
  });

  it('offers always-up and the past-return sign for direction labels, the sign chosen before the evaluation period', () => {
    const direction: LabelSpec = { kind: 'direction', horizon: 5, deadZone: 0 };
    const ds = datasetOf(series, direction);
    const decisionDays = [...new Set(ds.start)].sort((a, b) => a - b);
    const first = decisionDays[decisionDays.length - 200];
    const rows = Int32Array.from(Array.from({ length: ds.rows }, (_, r) => r).filter((r) => ds.start[r] >= first));
    const baselines = naiveBaselinesOf(ds, rows, series);
    expect(baselines.map((b) => b.name)).toEqual(['pre_period_majority', 'always_up', 'momentum_sign', 'market_momentum_sign', 'market_breadth', 'evaluation_majority']);
    const labels = Int32Array.from(rows, (r) => ds.labels[r]);
    const strongest = strongestBaseline(baselines, labels);
    expect(strongest.hindsight).toBe(false);
    for (const b of baselines.filter((x) => !x.hindsight)) expect(baselineAccuracyOf(strongest.predicted, labels)).toBeGreaterThanOrEqual(baselineAccuracyOf(b.predicted, labels));
  });
});

describe('inference that respects correlated rows', () => {
  it('does not call a model that is worse than its baseline significant, where the independent-rows test would', () => {
    // Every symbol follows the market on each day (one shared label), so rows of a day are one observation.
    const random = rng(12);
    const series = regimeMarket(30, 700, 2);
    const ds = datasetOf(series, { kind: 'direction', horizon: 5, deadZone: 0 });
    const byDay = new Map<number, number>();
    for (let r = 0; r < ds.rows; r++) {
      if (!byDay.has(ds.start[r])) byDay.set(ds.start[r], random() < 0.58 ? 1 : 0);
      ds.labels[r] = byDay.get(ds.start[r]) as number;
    }
    // The model guesses each day's market direction at random: no skill at all, wrong on whole days at a time.
    const guess = new Map<number, number>();
    const predictions = predictionsOf(ds, 400, (r) => {
      if (!guess.has(ds.start[r])) guess.set(ds.start[r], random() < 0.5 ? 0.9 : 0.1);
      return guess.get(ds.start[r]) as number;
    });
    const report = evaluatePredictions(ds, predictions, series, options('direction'));
    expect(report.baseline.accuracyLift).toBeLessThan(0);
    // McNemar on 12,000 rows treated as independent is (wrongly) certain the model is worse...
    expect(report.baseline.naivePValue).toBeGreaterThan(0.999);
    // ...and a model only slightly worse still gets a day-aware interval that reaches zero or beyond.
    expect(report.baseline.liftInterval[1] - report.baseline.liftInterval[0]).toBeGreaterThan(0.05);
    expect(report.baseline.pValue).toBeGreaterThan(0.5);
    expect(report.inference.clusters).toBe(30); // the smaller of 80 five-day blocks and 30 symbols
  });
});

describe('verdicts a trading team can trust', () => {
  const series = regimeMarket(30, 700, 4);
  const direction: LabelSpec = { kind: 'direction', horizon: 5, deadZone: 0 };
  const policy = { metric: 'auc' as const, margin: 0.005, minAuc: 0.5, alpha: 0.05 };

  it('does not promote a model that predicts exactly what a naive baseline predicts', () => {
    const ds = datasetOf(series, direction);
    // Always up, with a little noise in the score so it is not constant: the always-up rule itself.
    const random = rng(8);
    const report = evaluatePredictions(ds, predictionsOf(ds, 300, () => 0.6 + 0.01 * random()), series, options('direction'));
    expect(report.classification.accuracy).toBeCloseTo(report.baselines.find((b) => b.name === 'always_up')?.accuracy ?? NaN, 10);
    expect(report.baseline.pValue).toBeGreaterThan(0.4);
    const decision = promotionDecision(candidateScoresOf(report, PASSED_GUARDS), undefined, policy);
    expect(decision.promote).toBe(false);
    expect(decision.reason).toMatch(/^not promoted: no evidence it beats the strongest naive baseline/);
  });

  it('flags scores that are the same for every symbol on most days, and vetoes them', () => {
    const ds = datasetOf(series, direction);
    // One score per day for all symbols (a model timing the market): top-k is then decided by draws.
    const random = rng(9);
    const byDay = new Map<number, number>();
    const report = evaluatePredictions(ds, predictionsOf(ds, 300, (r) => byDay.get(ds.start[r]) ?? byDay.set(ds.start[r], 0.3 + 0.4 * random()).get(ds.start[r]) as number), series, options('direction'));
    expect(report.backtest.scoreTies.constantShare).toBe(1);
    const guard = report.guards.find((g) => g.guard === 'degenerate_scores');
    expect(guard).toMatchObject({ tripped: true, message: expect.stringMatching(/every symbol got the same score on \d+ of \d+ days \(100\.0%/) });
    const decision = promotionDecision(candidateScoresOf(report, PASSED_GUARDS), undefined, { ...policy, alpha: 1 });
    expect(decision).toMatchObject({ promote: false, reason: expect.stringMatching(/^not promoted: guard degenerate_scores tripped/) });
  });
});

/**
 * 40 stocks on a market whose week gives back part of the week before (reversal at the market level,
 * as real 5-day index returns partly do), each with its own noise: the market's past move predicts
 * every stock's next week alike, and says nothing about which stock does better.
 */
function reversingMarket(seed: number): BarSeries[] {
  const random = rng(seed);
  const z = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const days = 800;
  const dates = Array.from({ length: days }, (_, d) => new Date(Date.UTC(2012, 0, 2) + d * 86_400_000).toISOString().slice(0, 10));
  const market = new Float64Array(days);
  for (let d = 0; d < days; d++) {
    let past = 0;
    for (let k = 1; k <= 5 && d >= k; k++) past += market[d - k];
    market[d] = 0.0003 - (0.8 * past) / 5 + 0.008 * z();
  }
  return Array.from({ length: 40 }, (_, s) => {
    const close = new Float64Array(days);
    let p = 50;
    for (let d = 0; d < days; d++) close[d] = p *= Math.exp(market[d] + 0.02 * z());
    return { symbol: `M${String(s).padStart(2, '0')}`, dates, open: close.slice(), high: close.map((c) => c * 1.01), low: close.map((c) => c * 0.99), close, volume: new Float64Array(days).fill(1e6) };
  });
}

describe('market-timing baselines', () => {
  const direction: LabelSpec = { kind: 'direction', horizon: 5, deadZone: 0 };
  const policy = { metric: 'auc' as const, margin: 0.005, minAuc: 0.5, alpha: 0.05 };

  it('give every symbol of a day one score, from bars up to that day, oriented on the pre-period', () => {
    const series = reversingMarket(1);
    const ds = datasetOf(series, direction);
    const rows = predictionsOf(ds, 500, () => 0.5).rows;
    const market = (s: readonly BarSeries[]) => naiveBaselinesOf(ds, rows, s).filter((b) => b.name.startsWith('market_'));
    const now = market(series);
    expect(now.map((b) => [b.name, b.hindsight])).toEqual([['market_momentum_sign', false], ['market_breadth', false]]);
    expect(now[0].description).toMatch(/^market reversal: the opposite sign of the equal-weighted market's past 5-bar return/);
    for (const b of now) {
      const byDay = new Map<number, number>();
      rows.forEach((r, i) => expect(byDay.get(ds.start[r]) ?? byDay.set(ds.start[r], b.score[i]).get(ds.start[r])).toBe(b.score[i]));
      expect(new Set(byDay.values()).size).toBeGreaterThan(10); // it moves in time (breadth in steps of 1/40)
    }
    // Bars after a day change nothing on or before it: prices from the 650th bar on, scrambled.
    const later = series.map((s) => ({ ...s, close: s.close.map((c, t) => (t >= 650 ? c * (1 + 0.3 * Math.sin(t * (s.symbol.length + t))) : c)) }));
    const changed = market(later);
    const cut = ds.days[650];
    rows.forEach((r, i) => {
      if (ds.days[ds.start[r]] >= cut) return;
      for (let k = 0; k < now.length; k++) expect(changed[k].score[i]).toBe(now[k].score[i]);
    });
  });

  it('leave no evidence to a model that only times the market, which momentum_sign alone let through', () => {
    let promoted = 0;
    let versusMarket = 0;
    const seeds = 10;
    for (let seed = 1; seed <= seeds; seed++) {
      const series = reversingMarket(seed);
      const ds = datasetOf(series, direction);
      // The model: the market's past week, reversed, the same for every stock (what a model of market columns learns here).
      const marketMove = ds.days.map((_, d) => (d < 5 ? 0 : series.reduce((sum, s) => sum + s.close[d] / s.close[d - 5] - 1, 0) / series.length));
      const report = evaluatePredictions(ds, predictionsOf(ds, 500, (r) => 1 / (1 + Math.exp(20 * marketMove[ds.start[r]]))), series, { ...options('direction'), backtest: { costBps: 0, slippageBps: 0 } });
      if (report.auc.versus.startsWith('market_')) versusMarket++;
      if (promotionDecision({ ...candidateScoresOf(report, PASSED_GUARDS), bestOfRun: true, candidatesCompared: 1 }, undefined, policy).promote) promoted++;
      // It ranks no stocks: every daily AUC is 0.5, whatever its pooled AUC.
      expect(report.auc.withinDay).toMatchObject({ value: 0.5, days: 500 });
      expect(report.auc.withinDay?.pValue).toBe(1);
      expect(report.baselines.find((b) => b.name === 'market_momentum_sign')?.withinDayAuc).toBe(0.5);
      expect(report.classification.rocAuc).toBeGreaterThan(0.5);
    }
    console.log(`market-timing model: compared with a market rule in ${versusMarket} of ${seeds} seeds, promoted on auc in ${promoted}`);
    expect(versusMarket).toBeGreaterThanOrEqual(8);
    expect(promoted).toBe(0);
  });
});
