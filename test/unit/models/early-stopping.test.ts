/**
 * The slice gradient boosting and the MLP stop early on, cold and warm-started: whole decision
 * days, with the fit rows whose labels reach into them left out, on a random-walk panel whose
 * labels overlap (a row's label shares most of its closes with the next day's).
 */
import { mlp, sequenceModel, type NeuralModel } from '../../../models/neural';
import { independentRowTimes, type FitInput, type FitTimes } from '../../../models/model';
import { gradientBoosting, type GradientBoostingModel } from '../../../models/trees/gradient-boosting';
import { Mulberry32 } from '../../../lib/random';

interface Panel {
  input: FitInput;
  start: Int32Array;
  end: Int32Array;
}

/**
 * `symbols` random walks over `days` decision days (rows by day, then symbol): features are past
 * returns, the label is the sign of the return to the row's label end, `horizon(symbol)` days on.
 * No feature predicts any label.
 */
function randomWalkPanel(symbols: number, days: number, horizon: (symbol: number) => number, seed = 1): Panel {
  const random = new Mulberry32(seed);
  const span = days + 40;
  const close = Array.from({ length: symbols }, () => {
    const c = new Float64Array(span);
    let price = 100;
    for (let d = 0; d < span; d++) c[d] = price *= Math.exp(0.01 * (random.next() - 0.5));
    return c;
  });
  const values: number[] = [];
  const labels: number[] = [];
  const start: number[] = [];
  const end: number[] = [];
  for (let d = 20; d < 20 + days; d++) {
    for (let s = 0; s < symbols; s++) {
      const c = close[s];
      const e = d + horizon(s);
      values.push(c[d] / c[d - 5] - 1, c[d] / c[d - 20] - 1, s);
      labels.push(c[e] > c[d] ? 1 : 0);
      start.push(d);
      end.push(e);
    }
  }
  const times: FitTimes = { start: Int32Array.from(start), end: Int32Array.from(end), embargoDays: 20 };
  const input: FitInput = { features: { values: Float64Array.from(values), rows: labels.length, featureNames: ['ret5', 'ret20', 'symbol'] }, labels: Int32Array.from(labels), times, classes: 2, seed: 7, threads: 1 };
  return { input, start: times.start, end: times.end };
}

/** The input's rows `rows`, in order, with their times. */
function rowsOf(input: FitInput, rows: number[]): FitInput {
  const p = input.features.featureNames.length;
  const times = input.times as FitTimes;
  return {
    ...input,
    features: { values: Float64Array.from(rows.flatMap((r) => Array.from(input.features.values.subarray(r * p, r * p + p)))), rows: rows.length, featureNames: input.features.featureNames },
    labels: Int32Array.from(rows, (r) => input.labels[r]),
    times: { start: Int32Array.from(rows, (r) => times.start[r]), end: Int32Array.from(rows, (r) => times.end[r]), embargoDays: times.embargoDays },
  };
}

const logLoss = (proba: Float64Array, labels: ArrayLike<number>) => Array.from(labels).reduce((t, y, i) => t - Math.log(Math.max(proba[i * 2 + y], 1e-15)), 0) / labels.length;
const indices = (n: number, keep: (r: number) => boolean) => Array.from({ length: n }, (_, r) => r).filter(keep);

interface DaysRecord {
  heldOut: string;
  rows: number;
  days: number;
  firstDay: number;
  lastDay: number;
  purgedRows: number;
}

describe('early stopping on a purged slice of whole days', () => {
  // 183 days × 20 symbols: 10% of the rows is 366, 18.3 days, so a slice cut by row count split a day.
  // Label horizons 5..20 days by symbol, so the rows purged are not one block.
  const { input, start, end } = randomWalkPanel(20, 183, (s) => 5 + ((s * 7) % 16));
  const gbParams = { nRounds: 40, maxDepth: 3, learningRate: 0.3, validationFraction: 0.1, earlyStoppingRounds: 40 };

  it('gradient boosting judges rounds on whole days and fits none of the rows whose labels reach them', async () => {
    const model = (await gradientBoosting.fit(input, gbParams)) as GradientBoostingModel;
    const params = model.state().params;
    // The last 19 days (380 rows, the fewest whole days holding 366): the loss it recorded is the
    // kept ensemble's on exactly their rows (cut by count, it was on the last 366, day 184 split).
    const firstDay = 20 + 164;
    const slice = indices(input.features.rows, (r) => start[r] >= firstDay);
    const sliced = rowsOf(input, slice);
    expect(logLoss(model.predictProba(sliced.features), sliced.labels)).toBeCloseTo(params.validationLogLoss as number, 9);
    const record = params.earlyStopping as DaysRecord;
    expect(record).toEqual({ heldOut: 'days', rows: 380, days: 19, firstDay, lastDay: 20 + 182, purgedRows: expect.any(Number) });
    const overlapping = indices(input.features.rows, (r) => start[r] < firstDay && end[r] >= firstDay);
    expect(record.purgedRows).toBe(overlapping.length);
    expect(overlapping.length).toBeGreaterThan(0);
    // And it is the model of the purged rows left out by hand: the same trees, bit for bit.
    const fitRows = indices(input.features.rows, (r) => end[r] < record.firstDay);
    const byHand = rowsOf(input, [...fitRows, ...slice]);
    const handModel = await gradientBoosting.fit(byHand, { ...gbParams, validationFraction: slice.length / byHand.features.rows + 1e-9 });
    expect((handModel.state().params.earlyStopping as DaysRecord).purgedRows).toBe(0);
    expect(Buffer.from(handModel.state().payload).equals(Buffer.from(model.state().payload))).toBe(true);
    // Same seed, same model.
    expect(Buffer.from((await gradientBoosting.fit(input, gbParams)).state().payload).equals(Buffer.from(model.state().payload))).toBe(true);
  });

  it('the MLP judges epochs on the same whole days', async () => {
    const model = (await mlp.fit(input, { hiddenLayers: [8], epochs: 4, patience: 4, dropout: 0, batchSize: 100, learningRate: 0.01 })) as NeuralModel;
    const sliced = rowsOf(input, indices(input.features.rows, (r) => start[r] >= 20 + 164));
    expect(logLoss(model.predictProba(sliced.features), sliced.labels)).toBeCloseTo(model.training.validationLoss as number, 5);
    const record = model.training.earlyStopping as unknown as DaysRecord;
    expect(record).toMatchObject({ heldOut: 'days', days: 19, firstDay: 20 + 164 });
    // It survives the artifact's params.
    expect(mlp.restore(model.state()).training.earlyStopping).toEqual(record);
  });

  it('without times it refuses to stop early, as the SVM refuses to calibrate: rows whose labels may overlap cannot be cut honestly', async () => {
    const bare = { ...input, times: undefined };
    await expect(gradientBoosting.fit(bare, gbParams)).rejects.toThrow(/gradient_boosting\.fit: no input\.times .*validationFraction 0/);
    await expect(mlp.fit(bare, { hiddenLayers: [4], epochs: 1 })).rejects.toThrow(/mlp\.fit: no input\.times/);
    await expect(sequenceModel.fit(bare, { window: 3, epochs: 1 })).rejects.toThrow(/conv1d\.fit: no input\.times/);
    // validationFraction 0 asks for no slice, so needs no times.
    expect((await gradientBoosting.fit(bare, { ...gbParams, validationFraction: 0 })).state().params.earlyStopping).toMatchObject({ heldOut: 'none', reason: 'validationFraction is 0' });
    // Rows whose labels do not overlap opt in explicitly: each its own day, the slice is the last rows.
    const independent = await gradientBoosting.fit({ ...bare, times: independentRowTimes(input.features.rows) }, gbParams);
    expect(independent.state().params.earlyStopping).toEqual({ heldOut: 'days', rows: 366, days: 366, firstDay: 3660 - 366, lastDay: 3659, purgedRows: 0 });
  });

  it('a share too large to purge honestly is shrunk to fewer whole days until the fit keeps at least as many rows as it judges', async () => {
    // 100 days of 5-day labels, validationFraction 0.5: 50 days held out would purge 5 of the 50
    // before them, leaving fewer rows to fit than to judge (this turned early stopping off).
    const panel = randomWalkPanel(20, 100, () => 5, 2);
    const model = await gradientBoosting.fit(panel.input, { ...gbParams, nRounds: 60, earlyStoppingRounds: 5, validationFraction: 0.5 });
    const params = model.state().params;
    const record = params.earlyStopping as DaysRecord & { shrunk: string };
    // 47 days held out, 5 purged: 48 days fitted (960 rows) against 940 judged.
    expect(record).toMatchObject({ heldOut: 'days', days: 47, rows: 940, purgedRows: 100, firstDay: 20 + 53 });
    expect(record.shrunk).toMatch(/validationFraction 0\.5 asks for 1000 rows \(50 days\).*fewer rows to fit than to judge.*47 days/);
    expect(params.validationLogLoss).not.toBeNull();
    expect(params.roundsRun as number).toBeLessThan(60);
    // The MLP takes the same slice.
    const net = (await mlp.fit(panel.input, { hiddenLayers: [4], epochs: 2, batchSize: 200, validationFraction: 0.5 })) as NeuralModel;
    expect(net.training.earlyStopping).toMatchObject({ heldOut: 'days', days: 47, rows: 940 });
  });

  it('when not even one day can be held out honestly a cold fit runs only earlyStoppingRounds rounds or patience epochs, and says so', async () => {
    // 21 days of 20-day labels: every row before a held-out day has a label reaching it.
    const panel = randomWalkPanel(20, 21, () => 20, 4);
    const boosted = await gradientBoosting.fit(panel.input, { nRounds: 200, maxDepth: 3, validationFraction: 0.1, earlyStoppingRounds: 7 });
    expect(boosted.state().params).toMatchObject({ roundsRun: 7, bestRounds: 7, validationLogLoss: null, earlyStopping: { heldOut: 'none', trained: expect.stringMatching(/^7 rounds on every row \(earlyStoppingRounds; nRounds 200 cannot be judged\)/) } });
    const net = (await mlp.fit(panel.input, { hiddenLayers: [4], epochs: 100, patience: 3, batchSize: 200 })) as NeuralModel;
    expect(net.training).toMatchObject({ epochsRun: 3, bestEpoch: 3, validationLoss: null, earlyStopping: { heldOut: 'none', trained: expect.stringMatching(/^3 epochs on every row \(patience; epochs 100 cannot be judged\)/) } });
    // Asked for no slice, the configured rounds run.
    expect((await gradientBoosting.fit(panel.input, { nRounds: 12, maxDepth: 3, validationFraction: 0 })).state().params).toMatchObject({ roundsRun: 12 });
  });
});

describe('early stopping of a warm start on the rows since the champion', () => {
  // The champion learnt days 0..99; a continued fit sees the next 21 days (as recentDays 21).
  const continued = (horizon: number) => {
    const { input, start } = randomWalkPanel(40, 121, () => horizon, 3);
    const champion = rowsOf(input, indices(input.features.rows, (r) => start[r] < 20 + 100));
    const recent = rowsOf(input, indices(input.features.rows, (r) => start[r] >= 20 + 100));
    return { champion, recent };
  };

  it('with 20-day labels no honest slice exists in 21 days: no round is judged, so boosting adds none, and says so', async () => {
    const { champion, recent } = continued(20);
    const params = { nRounds: 20, maxDepth: 3, validationFraction: 0.1 };
    const from = await gradientBoosting.fit(champion, params);
    const warm = await gradientBoosting.continueFit?.(from, recent, params, { extraRounds: 20, refreshShare: 0.2, epochs: 5 });
    const state = (warm as GradientBoostingModel).state().params;
    // Cut by row count, the slice's 84 rows shared every symbol's label window with the fit's last
    // days and the rounds kept were those that fitted them.
    expect(state.validationLogLoss).toBeNull();
    expect(state.warmStart).toMatchObject({ roundsAdded: 0 });
    expect(state.earlyStopping).toEqual({
      heldOut: 'none',
      reason: 'no purged held-out slice: even the last decision day alone (40 rows) purges 800 of the 800 rows before it (labels reaching into the slice), leaving fewer rows to fit than to judge',
      trained: 'no round added to the continued ensemble: none could be judged',
    });
    // validationFraction 0 still asks for the rounds unjudged.
    const unjudged = await gradientBoosting.continueFit?.(from, recent, { ...params, validationFraction: 0 }, { extraRounds: 20, refreshShare: 0.2, epochs: 5 });
    expect((unjudged as GradientBoostingModel).state().params).toMatchObject({ warmStart: { roundsAdded: 20 }, earlyStopping: { heldOut: 'none', reason: 'validationFraction is 0', trained: '20 rounds on every row' } });

    const net = (await mlp.fit(champion, { hiddenLayers: [4], epochs: 2, batchSize: 200 })) as NeuralModel;
    const warmNet = (await mlp.continueFit?.(net, recent, { hiddenLayers: [4], batchSize: 200 }, { extraRounds: 20, refreshShare: 0.2, epochs: 3 })) as NeuralModel;
    // A network's continuation follows the same rule: no epoch is added, the weights stay the champion's.
    expect(warmNet.training).toMatchObject({ epochsRun: 0, bestEpoch: 0, validationLoss: null, earlyStopping: { heldOut: 'none', trained: 'no epoch added to the continued network: none could be judged' } });
    expect(warmNet.predictProba(recent.features)).toEqual(net.predictProba(recent.features));
    expect(mlp.restore(warmNet.state()).training.epochsRun).toBe(0);
  });

  it('with 5-day labels it stops early on the last whole days, the 5 days before them purged', async () => {
    const { champion, recent } = continued(5);
    const params = { nRounds: 20, maxDepth: 3, validationFraction: 0.1 };
    const from = await gradientBoosting.fit(champion, params);
    const warm = (await gradientBoosting.continueFit?.(from, recent, params, { extraRounds: 20, refreshShare: 0.2, epochs: 5 })) as GradientBoostingModel;
    expect(warm.state().params.earlyStopping).toEqual({ heldOut: 'days', rows: 120, days: 3, firstDay: 20 + 118, lastDay: 20 + 120, purgedRows: 200 });
  });
});
