/**
 * Promotion on `within_day_auc`: the mean of the daily AUCs across the day's stocks, against the
 * fair baseline with the best within-day AUC. A model with a real per-stock edge in a market with a
 * strong common factor was promoted on the pooled `auc` in 15 of 60 seeds although its within-day
 * difference had p < 0.00625 in 58: a market-timing rule (one score for every stock on a day) has a
 * pooled AUC that moves ±0.05–0.1 with ~50 independent days of luck, and that noise swamps the
 * pooled difference. The within-day difference has no timing part.
 */
import type { BarSeries } from '../../../lib/market-data/bar';
import { rng } from '../../../lib/random';
import { candidateScoresOf, championEvidenceOf, promotionDecision, type CandidateScores } from '../../../lib/registry/promotion';
import { championComparisonOf, evaluatePredictions } from '../../../lib/training/evaluation-report';
import { DEFAULT_PLAUSIBILITY } from '../../../lib/training/guards';
import { datasetFromBars, predictionsForLastDays } from '../../helpers/training-dataset';
import { PASSED_GUARDS } from '../../helpers/passed-guards';

const direction = { kind: 'direction', horizon: 5, deadZone: 0 } as const;
const policy = { metric: 'within_day_auc' as const, margin: 0.005, minAuc: 0.5, alpha: 0.05 };
const options = { backtest: { topK: 10 }, plausibility: DEFAULT_PLAUSIBILITY.direction, trials: 1, trialSharpeVariance: 0, seed: 1 };
const SYMBOLS = 40;
const DAYS = 420;
const EVALUATION_DAYS = 250;

interface Panel {
  series: BarSeries[];
  /** Per symbol and day, a signal known at that day's close that moves the stock's next 5 days (by `edge` a day each). */
  signal: Float64Array[];
}

/** A common market factor (sd 0.8% a day) and each stock's own noise (1.2%); with `edge`, each stock's next 5 days drift by edge × its signal. */
function panel(seed: number, edge: number): Panel {
  const random = rng(seed);
  const z = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const dates = Array.from({ length: DAYS }, (_, d) => new Date(Date.UTC(2014, 0, 2) + d * 86_400_000).toISOString().slice(0, 10));
  const market = Float64Array.from({ length: DAYS }, () => 0.0003 + 0.008 * z());
  const signal = Array.from({ length: SYMBOLS }, () => Float64Array.from({ length: DAYS }, () => z()));
  const series = signal.map((sig, s) => {
    const close = new Float64Array(DAYS);
    let p = 40 + s;
    for (let d = 0; d < DAYS; d++) {
      let drift = 0;
      for (let k = 1; k <= 5; k++) if (d - k >= 0) drift += edge * sig[d - k];
      p *= Math.exp(market[d] + drift + 0.012 * z());
      close[d] = p;
    }
    return { symbol: `W${String(s).padStart(2, '0')}`, dates, open: close.slice(), high: close.map((c) => c * 1.01), low: close.map((c) => c * 0.99), close, volume: new Float64Array(DAYS).fill(1e6) };
  });
  return { series, signal };
}

const first = (s: CandidateScores): CandidateScores => ({ ...s, bestOfRun: true, candidatesCompared: 4 });

describe('promotion on within_day_auc', () => {
  it('promotes a planted per-stock edge in a market with a common factor, where the pooled auc mostly cannot tell it from market timing', () => {
    let promoted = 0;
    let promotedOnAuc = 0;
    const seeds = 10;
    for (let seed = 1; seed <= seeds; seed++) {
      const m = panel(seed * 7919, 0.0008);
      const ds = datasetFromBars(m.series, direction);
      const predictions = predictionsForLastDays(ds, EVALUATION_DAYS, (r) => 0.5 + 0.05 * Math.tanh(m.signal[ds.symbol[r]][ds.start[r]]));
      const report = evaluatePredictions(ds, predictions, m.series, options);
      expect(report.guards.filter((g) => g.tripped)).toEqual([]);
      const scores = first(candidateScoresOf(report, PASSED_GUARDS));
      const withinDay = report.auc.withinDay!;
      expect(scores.withinDayAuc).toBe(withinDay.value);
      expect(scores.evidence?.within_day_auc).toEqual({ versus: withinDay.versus, difference: withinDay.difference.value, lower: withinDay.difference.interval[0], pValue: withinDay.difference.pValue, inference: expect.stringMatching(/^within-day \(each day's stocks ranked\), clustered by days and symbols/) });
      const decision = promotionDecision(scores, undefined, policy);
      if (decision.promote) {
        promoted++;
        expect(decision.reason).toMatch(/^no champion yet; within_day_auc 0\.\d{4} passes the floors; beats \w+: within_day_auc \+0\.\d{4} over \w+ \(95% interval from /);
      }
      if (promotionDecision(scores, undefined, { ...policy, metric: 'auc' }).promote) promotedOnAuc++;
    }
    console.log(`planted per-stock edge, common market factor: promoted on within_day_auc in ${promoted} of ${seeds} seeds, on auc in ${promotedOnAuc}`);
    expect(promoted).toBeGreaterThanOrEqual(8);
  });

  it('never promotes scores of noise, nor a market-timing rule that gives every stock of a day one score', () => {
    let promoted = 0;
    const seeds = 20;
    for (let seed = 1; seed <= seeds; seed++) {
      const m = panel(100 + seed, 0);
      const ds = datasetFromBars(m.series, direction);
      const noise = rng(500 + seed);
      const report = evaluatePredictions(ds, predictionsForLastDays(ds, EVALUATION_DAYS, () => 0.45 + 0.1 * noise()), m.series, options);
      if (promotionDecision(first(candidateScoresOf(report, PASSED_GUARDS)), undefined, policy).promote) promoted++;
      if (seed <= 3) {
        const daily = new Map<number, number>();
        const timing = predictionsForLastDays(ds, EVALUATION_DAYS, (r) => daily.get(ds.start[r]) ?? daily.set(ds.start[r], 0.45 + 0.1 * noise()).get(ds.start[r])!);
        const timed = evaluatePredictions(ds, timing, m.series, { ...options, backtest: {} });
        expect(timed.auc.withinDay?.value).toBe(0.5);
        expect(promotionDecision(first(candidateScoresOf(timed, PASSED_GUARDS)), undefined, policy)).toMatchObject({ promote: false, reason: expect.stringMatching(/AUC 0\.\d{4} is below the floor 0\.5|no evidence it beats the strongest naive baseline: within_day_auc/) });
      }
    }
    console.log(`noise scores: promoted on within_day_auc in ${promoted} of ${seeds} seeds`);
    expect(promoted).toBe(0);
  });

  it('needs the within-day AUC itself above the floor, and day-aware evidence from the report', () => {
    const m = panel(3, 0.0008);
    const ds = datasetFromBars(m.series, direction);
    const report = evaluatePredictions(ds, predictionsForLastDays(ds, EVALUATION_DAYS, (r) => 0.5 + 0.05 * Math.tanh(m.signal[ds.symbol[r]][ds.start[r]])), m.series, options);
    const scores = first(candidateScoresOf(report, PASSED_GUARDS));
    expect(promotionDecision(scores, undefined, policy).promote).toBe(true);
    expect(promotionDecision(scores, undefined, { ...policy, minAuc: 0.99 }).reason).toMatch(/out-of-sample AUC 0\.\d{4} is below the floor 0\.99/);
    expect(promotionDecision({ ...scores, auc: 0.6 }, undefined, { ...policy, minAuc: 0.59 }).reason).toMatch(/^not promoted: within-day AUC 0\.5\d{3} is below the floor 0\.59/);
    // A report from before the within-day AUC was measured gives no evidence on it.
    const older = { ...report.auc, withinDay: undefined };
    const olderScores = first(candidateScoresOf({ ...report, auc: older }, PASSED_GUARDS));
    expect(olderScores.withinDayAuc).toBeUndefined();
    expect(promotionDecision(olderScores, undefined, policy).reason).toBe('not promoted: within_day_auc is not defined for this model');
  });

  it('compares a challenger with the champion re-run on the same rows, paired day by day', () => {
    const m = panel(11, 0.0008);
    const ds = datasetFromBars(m.series, direction);
    const noise = rng(9);
    const edge = predictionsForLastDays(ds, EVALUATION_DAYS, (r) => 0.5 + 0.05 * Math.tanh(m.signal[ds.symbol[r]][ds.start[r]]));
    const champion = predictionsForLastDays(ds, EVALUATION_DAYS, () => 0.45 + 0.1 * noise());
    const same = championComparisonOf(ds, champion, champion, m.series, { backtest: options.backtest, seed: 1 });
    expect(same.withinDayAuc).toMatchObject({ value: 0, pValue: 1 });
    const better = championComparisonOf(ds, edge, champion, m.series, { backtest: options.backtest, seed: 1 });
    const championReport = evaluatePredictions(ds, champion, m.series, options);
    const challengerReport = evaluatePredictions(ds, edge, m.series, options);
    expect(better.withinDayAuc?.value).toBeCloseTo(challengerReport.auc.withinDay!.value - championReport.auc.withinDay!.value, 12);
    expect(better.withinDayAuc?.pValue).toBeLessThan(0.001);

    const championScores = candidateScoresOf(championReport, PASSED_GUARDS);
    const withEdge = { ...first(candidateScoresOf(challengerReport, PASSED_GUARDS)), versusChampion: championEvidenceOf({ ...better, championVersion: 1 }) };
    expect(withEdge.versusChampion.within_day_auc).toMatchObject({ versus: `champion v1 re-run, within-day AUC difference on the same ${better.rows} rows`, difference: better.withinDayAuc?.value, pValue: better.withinDayAuc?.pValue });
    expect(promotionDecision(withEdge, championScores, policy)).toMatchObject({ promote: true, reason: expect.stringMatching(/^within_day_auc 0\.\d{4} beats the champion's 0\.\d{4} on the same period by at least 0\.005; paired on the same rows: within_day_auc \+0\.\d{4} over champion v1 re-run, within-day AUC difference/) });
    // Better by a point on one draw, without a significant paired difference: not promoted.
    const lucky = { ...withEdge, versusChampion: championEvidenceOf({ ...better, withinDayAuc: { ...better.withinDayAuc!, pValue: 0.3 }, championVersion: 1 }) };
    expect(promotionDecision(lucky, championScores, policy).reason).toMatch(/^not promoted: no evidence it beats the champion on the same rows: within_day_auc .* one-sided p 0\.30/);
    // A comparison recorded before the within-day difference was measured is no paired evidence on it.
    const olderComparison = { ...better, withinDayAuc: undefined };
    expect(promotionDecision({ ...withEdge, versusChampion: championEvidenceOf({ ...olderComparison, championVersion: 1 }) }, championScores, policy).reason).toMatch(/there is no paired evidence against the champion on the same rows/);
  });

  it('trips the plausibility bound on a within-day AUC no stock picker reaches, where the pooled AUC stays under its ceiling', () => {
    // A score that ranks each day's stocks by their move beyond the day's mean (a leak), at a level
    // drawn at random each day: the pooled AUC, which mostly compares rows of different days, hides it.
    const m = panel(21, 0);
    const ds = datasetFromBars(m.series, direction);
    const noise = rng(4);
    const byDay = new Map<number, number[]>();
    for (let r = 0; r < ds.rows; r++) byDay.set(ds.start[r], [...(byDay.get(ds.start[r]) ?? []), r]);
    const score = new Float64Array(ds.rows);
    for (const rows of byDay.values()) {
      const mean = rows.reduce((a, r) => a + ds.forwardReturn[r], 0) / rows.length;
      const level = 0.2 + 0.6 * noise();
      for (const r of rows) score[r] = level + 0.5 * (ds.forwardReturn[r] - mean) + 0.04 * (noise() - 0.5);
    }
    const report = evaluatePredictions(ds, predictionsForLastDays(ds, EVALUATION_DAYS, (r) => Math.min(0.99, Math.max(0.01, score[r]))), m.series, options);
    console.log(`leak ranked within days at a random daily level: pooled AUC ${report.classification.rocAuc.toFixed(4)} [${report.auc.interval.map((x) => x.toFixed(4)).join(', ')}], within-day AUC ${report.auc.withinDay!.value.toFixed(4)}`);
    expect(report.auc.withinDay!.value).toBeGreaterThan(0.7);
    expect(report.auc.interval[0]).toBeLessThan(0.6);
    const plausibility = report.guards.find((g) => g.guard === 'plausibility_bound');
    expect(plausibility).toMatchObject({ tripped: true, message: expect.stringMatching(/^out-of-sample within-day AUC 0\.\d{4} \(95% lower bound 0\.\d{4}\) is above the ceiling 0\.\d{3} for direction labels/) });
  });
});
