/**
 * The SVM's Platt scaling is fitted on decision values of purged, embargoed folds of consecutive
 * days, not of random rows: rows of a time series whose labels overlap (a 5-session label shares four
 * sessions with the next day's) and that share a day (every symbol of a day has the market's move)
 * leak across random folds, and the sigmoid fitted on them is too steep.
 *
 * The panel here has no signal at all: the label (the market's direction over the next 5 sessions)
 * is drawn independently of the features (a persistent state per day, the same for every symbol
 * up to a little noise). Honest probabilities stay near the base rate.
 */
import { rng } from '../../../lib/random';
import { brierScoreOf } from '../../../lib/stats/binary-scores';
import type { FitTimes } from '../../../models/model';
import { fitStandardiser, standardise } from '../../../models/standardiser';
import { calibrationFolds, plattSigmoid, planSvmJobs, PROBABILITY_FOLDS, runSvmJob } from '../../../models/svm/probability';
import { svm } from '../../../models/svm/svm';

const P = 3;
const SYMBOLS = 3;
const HORIZON = 5;
const NAMES = ['a', 'b', 'c'];

/** `days` days of SYMBOLS rows each (day-major): features from an AR(1) state, labels from independent shocks over the next HORIZON days. */
function panel(days: number, seed: number) {
  const next = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const shocks = Float64Array.from({ length: days + HORIZON }, gauss);
  const state = new Float64Array(P);
  const rows = days * SYMBOLS;
  const values = new Float64Array(rows * P);
  const y = new Int32Array(rows);
  const start = new Int32Array(rows);
  for (let d = 0; d < days; d++) {
    for (let j = 0; j < P; j++) state[j] = 0.9 * state[j] + gauss();
    let move = 0;
    for (let k = 1; k <= HORIZON; k++) move += shocks[d + k];
    for (let s = 0; s < SYMBOLS; s++) {
      const r = d * SYMBOLS + s;
      start[r] = d;
      y[r] = move > 0 ? 1 : 0;
      for (let j = 0; j < P; j++) values[r * P + j] = state[j] + 0.2 * gauss();
    }
  }
  return { values, y, start };
}

/** The first `days` days of a panel as a training input, with their times (labels end HORIZON days later; embargo HORIZON). */
function trainingPart(data: ReturnType<typeof panel>, days: number) {
  const n = days * SYMBOLS;
  const start = data.start.slice(0, n);
  const times: FitTimes = { start, end: start.map((d) => d + HORIZON), embargoDays: HORIZON };
  return { features: { values: data.values.slice(0, n * P), rows: n, featureNames: NAMES }, labels: data.y.slice(0, n), times };
}

/** A two-class model text's probA. */
const probA = (text: string) => Number(/^probA (\S+)/m.exec(text)?.[1]);

describe('svm probability calibration on overlapping labels', () => {
  it('is not overconfident on later days: probabilities stay near the base rate and the Brier score at the base rate\'s', async () => {
    const spreads: number[] = [];
    const excess: number[] = [];
    for (const seed of [1, 3, 5]) {
      const data = panel(700, seed);
      const train = trainingPart(data, 400);
      const model = await svm.fit({ ...train, classes: 2, seed: 1 }, {});
      // Held out: days 450..699, after a gap longer than the horizon.
      const from = 450 * SYMBOLS;
      const rows = data.y.length - from;
      const proba = model.predictProba({ values: data.values.slice(from * P), rows, featureNames: NAMES });
      const up = Float64Array.from({ length: rows }, (_, i) => proba[2 * i + 1]);
      const outcome = data.y.slice(from);
      const mean = up.reduce((a, b) => a + b, 0) / rows;
      spreads.push(up.reduce((a, b) => a + Math.abs(b - mean), 0) / rows);
      const base = train.labels.reduce((a, b) => a + b, 0) / train.labels.length;
      excess.push(brierScoreOf(up, outcome) - brierScoreOf(new Float64Array(rows).fill(base), outcome));
    }
    const average = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    // Random folds gave a mean absolute deviation from the mean probability of 0.11–0.17 here, and a
    // Brier score 0.017 above the base rate's on average.
    expect(average(spreads)).toBeLessThan(0.05);
    expect(average(excess)).toBeLessThan(0.002);
  });

  it('fits the sigmoid on folds that never train on a row whose label window meets the held-out days or starts within the embargo after them', async () => {
    const data = panel(300, 7);
    const train = trainingPart(data, 300);
    const s = fitStandardiser(train.features);
    const z = standardise(train.features, s, new Float64Array(train.features.values.length));
    const options = { kernel: 'rbf' as const, gamma: 1 / P, C: 1, tolerance: 1e-3, cacheSizeMb: 50, shrinking: true };
    const { jobs, finish } = planSvmJobs(z, P, train.labels, options, train.times);
    const folds = jobs.slice(1);
    expect(folds).toHaveLength(PROBABILITY_FOLDS);
    const { start, end } = train.times;
    const heldOutTimes = new Int32Array(train.labels.length);
    for (const job of folds) {
      const heldOut = job.heldOutRows as Int32Array;
      heldOut.forEach((r) => heldOutTimes[r]++);
      // Consecutive days: a fold holds out every symbol of each of its days.
      let first = Infinity;
      let last = -Infinity;
      let lastLabel = -Infinity;
      for (const r of heldOut) {
        first = Math.min(first, start[r]);
        last = Math.max(last, start[r]);
        lastLabel = Math.max(lastLabel, end[r]);
      }
      expect(heldOut.length).toBe((last - first + 1) * SYMBOLS);
      for (const r of job.sourceRows) {
        expect(end[r] < first || start[r] > lastLabel + HORIZON).toBe(true);
      }
      // Nothing more was left out than the purge and the embargo demand.
      const kept = new Set(job.sourceRows);
      for (let r = 0; r < start.length; r++) {
        if (start[r] >= first && start[r] <= last) continue;
        if (end[r] < first || start[r] > lastLabel + HORIZON) expect(kept.has(r)).toBe(true);
      }
    }
    expect(heldOutTimes.every((k) => k === 1)).toBe(true);

    // The leak those folds close is real here: the sigmoid fitted on random folds' decision values
    // is far steeper (|A| larger) than the one fitted on the purged folds.
    const results = await Promise.all(jobs.map((job) => runSvmJob(job)));
    const purgedA = probA(finish(results));
    const next = rng(11);
    const order = Int32Array.from(train.labels.keys());
    for (let k = order.length - 1; k > 0; k--) {
      const j = Math.floor(next() * (k + 1));
      [order[k], order[j]] = [order[j], order[k]];
    }
    const decisions = new Float64Array(order.length);
    const positive = new Uint8Array(order.length);
    let at = 0;
    for (let f = 0; f < PROBABILITY_FOLDS; f++) {
      const heldOut = order.slice(Math.floor((f * order.length) / PROBABILITY_FOLDS), Math.floor(((f + 1) * order.length) / PROBABILITY_FOLDS)).sort();
      const inFold = new Set(heldOut);
      const rows = Int32Array.from(train.labels.keys()).filter((r) => !inFold.has(r));
      const gather = (indices: Int32Array) => {
        const out = new Float64Array(indices.length * P);
        indices.forEach((r, i) => out.set(z.subarray(r * P, r * P + P), i * P));
        return out;
      };
      const { decisions: values } = await runSvmJob({ rows: gather(rows), p: P, labels: rows.map((r) => train.labels[r]), options, heldOut: gather(heldOut), positive: train.labels[0], sourceRows: rows });
      heldOut.forEach((r, i) => {
        decisions[at] = (values as Float64Array)[i];
        positive[at++] = train.labels[r] === train.labels[0] ? 1 : 0;
      });
    }
    const randomA = plattSigmoid(decisions, positive).A;
    expect(Math.abs(randomA)).toBeGreaterThan(2 * Math.abs(purgedA));
  });

  it('fits a short window whose days cannot hold five folds with the whole dataset\'s embargo: a shorter embargo, then fewer folds, every fold still purged', async () => {
    // A rolling walk-forward window of 15 decision days under an embargo of 26 (ten years of data).
    const data = panel(60, 3);
    const short = trainingPart(data, 15);
    const times: FitTimes = { ...short.times, embargoDays: 26 };
    const rows = Int32Array.from(short.labels.keys());
    const folds = calibrationFolds(rows, times);
    expect(folds.length).toBeGreaterThanOrEqual(2);
    for (const f of folds) {
      expect(f.train.length).toBeGreaterThan(0);
      for (const r of f.train) expect(times.start[r] <= f.testLabelEndDay && times.end[r] >= f.testStartDay).toBe(false);
    }
    expect(folds.flatMap((f) => [...f.test]).sort((a, b) => a - b)).toEqual([...rows]);
    const model = await svm.fit({ ...short, times, classes: 2, seed: 1 }, {});
    const p = model.predictProba(short.features);
    expect(p.length).toBeGreaterThan(0);
    expect(p.every((v) => v > 0 && v < 1)).toBe(true);
  });

  it('refuses to fit without the rows\' times, or with times that do not fit the rows, naming them', async () => {
    const data = panel(60, 2);
    const train = trainingPart(data, 60);
    await expect(svm.fit({ features: train.features, labels: train.labels, classes: 2, seed: 1 }, {})).rejects.toThrow(/no input\.times .*purged folds of consecutive days/);
    await expect(svm.fit({ ...train, times: { ...train.times, end: train.times.end.subarray(1) }, classes: 2, seed: 1 }, {})).rejects.toThrow(/179 label ends for 180 rows/);
    await expect(svm.fit({ ...train, times: { ...train.times, embargoDays: -1 }, classes: 2, seed: 1 }, {})).rejects.toThrow(/embargoDays must be an integer >= 0/);
    // Too few days for the folds: the calibration says so.
    const three = trainingPart(data, 3);
    await expect(svm.fit({ ...three, classes: 2, seed: 1 }, {})).rejects.toThrow(/probability calibration's purged folds cannot be cut from these 9 training rows, not even two without embargo: 5 folds need at least 5 distinct decision days/);
  });
});
