import { experimentSchema } from '../../../lib/experiments/experiment';
import { fitFinalModel } from '../../../lib/training/final-model';
import { walkForwardPredict, type WalkForwardRequest } from '../../../lib/training/walk-forward';
import { championSpace, continuedRows, decideWarmStarts, laterSearch, narrowSearchSpace, searchedThroughOf, searchLineageOf, warmStartSchema, type SearchedThrough, type WarmStartChampion, type WarmStartTarget } from '../../../lib/training/warm-start';
import { searchSpaceSchema } from '../../../lib/tuning/search-space';
import { classificationReportOf } from '../../../lib/validation/metrics';
import { sha256 } from '../../../models/artifact';
import { GradientBoostingModel } from '../../../models/trees/gradient-boosting';
import { syntheticTrainingDataset } from '../../helpers/training-dataset';

const base = { name: 'warm-test', algorithms: [{ algorithm: 'gradient_boosting' }] };

describe('the warmStart experiment option', () => {
  it('is optional, and fills its defaults when given', () => {
    expect(experimentSchema.parse(base).warmStart).toBeUndefined();
    expect(experimentSchema.parse({ ...base, warmStart: {} }).warmStart).toEqual({ from: 'champion', search: 'skip', narrowShare: 0.25, extraRounds: 20, refreshShare: 0.2, epochs: 5, recentDays: 21 });
    expect(experimentSchema.parse({ ...base, warmStart: { search: 'narrow', trials: 4, refreshShare: 0.5 } }).warmStart).toMatchObject({ search: 'narrow', trials: 4, refreshShare: 0.5 });
  });

  it.each([
    [{ from: 'latest' }, 'warmStart.from: warmStart.from must be "champion"'],
    [{ search: 'full' }, 'warmStart.search: warmStart.search must be "skip" or "narrow"'],
    [{ refreshShare: 1.5 }, 'warmStart.refreshShare'],
    [{ extraRounds: -1 }, 'warmStart.extraRounds'],
    [{ extraRound: 20 }, 'Unrecognized key: "extraRound"'],
    [{ narrowShare: 0 }, 'warmStart.narrowShare'],
  ])('refuses %j with a message naming the field', (warmStart, message) => {
    const result = experimentSchema.safeParse({ ...base, warmStart });
    expect(result.success).toBe(false);
    const text = (result.error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    expect(text).toContain(message);
  });
});

const config = warmStartSchema.parse({});
const champion: WarmStartChampion = {
  model: 'm',
  version: 3,
  algorithm: 'gradient_boosting',
  params: { nRounds: 50, learningRate: 0.1 },
  featureSetVersion: 'fs-a',
  featureNames: ['f0', 'f1'],
  label: { kind: 'direction', horizon: 5, deadZone: 0 },
  artifactSha256: 'a'.repeat(64),
  trainedThrough: '2024-05-01',
  searched: { through: '2023-12-20' },
};
const target: WarmStartTarget = { featureSetVersion: 'fs-a', columns: ['f0', 'f1'], label: { horizon: 5, kind: 'direction', deadZone: 0 }, lastDay: '2024-05-02', evaluationFrom: '2024-01-02' };
const canWarm = (a: string) => ['gradient_boosting', 'random_forest', 'mlp'].includes(a);
const decide = (c: WarmStartChampion | undefined, t: WarmStartTarget = target, algorithms = ['gradient_boosting', 'random_forest', 'svm']) => decideWarmStarts('m', algorithms, config, c, t, canWarm);

describe('which candidates start warm', () => {
  it("continues the champion with its own algorithm only; the others train from scratch and say why", () => {
    const [gb, rf, svm] = decide(champion);
    expect(gb).toEqual({ algorithm: 'gradient_boosting', warm: true, search: 'skip', from: { model: 'm', version: 3, artifactSha256: champion.artifactSha256, trainedThrough: '2024-05-01', searched: { through: '2023-12-20' } }, championParams: champion.params });
    expect(rf).toMatchObject({ warm: false, reason: expect.stringMatching(/champion \(v3\) is a gradient_boosting model, not random_forest/) });
    expect(svm).toMatchObject({ warm: false, reason: 'svm cannot warm-start: trained from scratch' });
  });

  it.each([
    ['no champion', undefined, target, /has no champion/],
    ['another feature set', { ...champion, featureSetVersion: 'fs-b' }, target, /feature set fs-b, this run uses fs-a/],
    ['other columns', { ...champion, featureNames: ['f0', 'g1'] }, target, /other feature columns \(2 vs 2; first difference at column 1\)/],
    ['another label', { ...champion, label: { kind: 'direction', horizon: 10, deadZone: 0 } }, target, /another label/],
    ['no recorded last day', { ...champion, trainedThrough: undefined }, target, /does not record the last day/],
    ['a champion that saw this run\'s rows', champion, { ...target, lastDay: '2024-05-01' }, /trained through 2024-05-01, not before the last day whose label this run knows \(2024-05-01\)/],
    // Parameters chosen on days this run's walk-forward judges (a longer evaluationDays, or a
    // champion from a run whose period started later): chosen there, they would look better there.
    ['parameters chosen on a day inside this run\'s evaluation period', { ...champion, searched: { through: '2024-02-15' } }, target, /hyperparameters were chosen on rows whose labels ran through 2024-02-15, not before this run's evaluation period \(from 2024-01-02\).*the search runs in full/],
    ['parameters chosen through its first day', { ...champion, searched: { through: '2024-01-02' } }, target, /ran through 2024-01-02, not before this run's evaluation period \(from 2024-01-02\)/],
    ['a bound after its start (an older version: labels ended before its own period)', { ...champion, searched: { before: '2024-03-01' } }, target, /chosen on rows whose labels ended before 2024-03-01, not before this run's evaluation period \(from 2024-01-02\)/],
    ['no record of the days its parameters were chosen on', { ...champion, searched: undefined }, target, /does not record the days its hyperparameters were chosen on.*the search runs in full/],
    ['this run\'s evaluation start not known', champion, { ...target, evaluationFrom: undefined }, /this run's evaluation period start is not known/],
  ])('falls back to a full retrain with %s', (_, c, t, reason) => {
    for (const d of decide(c, t)) {
      expect(d.warm).toBe(false);
      if (!d.warm) expect(d.reason).toMatch(reason);
      if (!d.warm) expect(d.reason).toMatch(/trained from scratch$/);
    }
  });
});

describe('the days a warm start\'s parameters were chosen on', () => {
  it('allows a champion whose search ended before this run\'s evaluation period', () => {
    expect(decide({ ...champion, searched: { through: '2023-12-29' } })[0]).toMatchObject({ warm: true });
    // An older version's bound: its search's labels ended before its own period began.
    expect(decide({ ...champion, searched: { before: '2024-01-02' } })[0]).toMatchObject({ warm: true, from: { searched: { before: '2024-01-02' } } });
    expect(decide({ ...champion, searched: { before: '2023-06-01' } })[0]).toMatchObject({ warm: true });
  });

  it('are recorded for every candidate: its own search, the champion\'s for skip, the later of both for narrow', () => {
    const warm = (search: 'skip' | 'narrow', searched?: SearchedThrough) => decideWarmStarts('m', ['gradient_boosting'], warmStartSchema.parse({ search }), { ...champion, searched }, target, canWarm)[0];
    const [cold] = decide(undefined);
    expect(searchedThroughOf(cold, '2023-12-28')).toEqual({ through: '2023-12-28' });
    expect(searchedThroughOf(undefined, '2023-12-28')).toEqual({ through: '2023-12-28' });
    expect(searchedThroughOf(undefined, undefined)).toBeUndefined();
    expect(searchedThroughOf(warm('skip', { through: '2023-11-30' }), '2023-12-28')).toEqual({ through: '2023-11-30' });
    expect(searchedThroughOf(warm('skip', { before: '2023-12-01' }), '2023-12-28')).toEqual({ before: '2023-12-01' });
    expect(searchedThroughOf(warm('narrow', { through: '2023-11-30' }), '2023-12-28')).toEqual({ through: '2023-12-28' });
    expect(searchedThroughOf(warm('narrow', { before: '2023-12-29' }), '2023-12-28')).toEqual({ before: '2023-12-29' });
    expect(searchedThroughOf(warm('narrow', { through: '2023-11-30' }), undefined)).toBeUndefined();
    expect(laterSearch({ through: '2023-12-01' }, { before: '2023-12-01' })).toEqual({ through: '2023-12-01' });
    expect(searchLineageOf({ through: '2023-12-28' })).toEqual({ searchThrough: '2023-12-28' });
    expect(searchLineageOf({ before: '2023-12-01' })).toEqual({ searchBefore: '2023-12-01' });
    expect(searchLineageOf(undefined)).toEqual({});
  });
});

describe('the narrowed search space', () => {
  const space = searchSpaceSchema.parse({
    nRounds: 100,
    learningRate: { type: 'float', low: 0.01, high: 1, log: true },
    subsample: { type: 'float', low: 0.5, high: 1 },
    maxDepth: { type: 'int', low: 2, high: 10 },
    minChildWeight: { type: 'int', low: 1, high: 3 },
    hiddenLayers: { type: 'choice', values: ['64,32', '32'] },
    lambda: { type: 'float', low: 0, high: 1 },
  });

  it('shrinks ranges around the champion, fixes choices to its value, keeps fixed values and what it cannot use', () => {
    const narrowed = narrowSearchSpace(space, { nRounds: 100, learningRate: 0.1, subsample: 0.95, maxDepth: 4, minChildWeight: 2, hiddenLayers: '32', lambda: 'x' }, 0.5);
    expect(narrowed.nRounds).toBe(100);
    // log: a factor (1/0.01)^(0.5/2) = √10 either side of 0.1
    const lr = narrowed.learningRate as { low: number; high: number; log: boolean };
    expect(lr.low).toBeCloseTo(0.1 / Math.sqrt(10), 12);
    expect(lr.high).toBeCloseTo(0.1 * Math.sqrt(10), 12);
    expect(lr.log).toBe(true);
    // linear: half of the width 0.5 is 0.25, centred on 0.95, clipped at 1
    expect(narrowed.subsample).toEqual({ type: 'float', low: 0.825, high: 1 });
    // int: 4 ± 2, whole numbers
    expect(narrowed.maxDepth).toEqual({ type: 'int', low: 2, high: 6 });
    expect(narrowSearchSpace(space, { minChildWeight: 2 }, 0.2).minChildWeight).toBe(2); // 2 ± 0.2 → one value
    expect(narrowed.hiddenLayers).toBe('32');
    expect(narrowed.lambda).toEqual(space.lambda); // the champion's value is not a number
    expect(narrowSearchSpace(space, { maxDepth: 40 }, 0.5).maxDepth).toEqual(space.maxDepth); // outside the range
    expect(searchSpaceSchema.parse(narrowed)).toEqual(narrowed);
  });

  it('skip fixes every dimension to the champion', () => {
    expect(championSpace(space, { nRounds: 100, learningRate: 0.1, subsample: 1, maxDepth: 4, minChildWeight: 1, hiddenLayers: '32', lambda: 1 })).toEqual({ nRounds: 100, learningRate: 0.1, subsample: 1, maxDepth: 4, minChildWeight: 1, hiddenLayers: '32', lambda: 1 });
  });
});

describe('rows of a continued fit', () => {
  const start = Int32Array.from([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
  const all = Int32Array.from(start.keys());
  it('are those after the last training day, and at least the last recentDays days', () => {
    expect([...continuedRows(all, start, 3, 1)]).toEqual([8, 9]);
    expect([...continuedRows(all, start, 3, 2)]).toEqual([6, 7, 8, 9]);
    expect([...continuedRows(all, start, 1, 1)]).toEqual([4, 5, 6, 7, 8, 9]);
    expect([...continuedRows(all, start, 1, 50)]).toEqual([...all]);
  });
});

describe('warm walk-forward and final model', () => {
  const ds = syntheticTrainingDataset({ days: 300, horizon: 5 });
  const request: WalkForwardRequest = { algorithm: 'gradient_boosting', params: { nRounds: 20, maxDepth: 2, validationFraction: 0 }, mode: 'expanding', evaluationDays: 100, testDays: 20, trainDays: 100, embargoDays: 0, maxTrainRows: 10_000, seed: 1, threads: 1 };
  const warm = { extraRounds: 5, refreshShare: 0.2, epochs: 2, recentDays: 10 };

  it('chains the windows: the first from scratch, each later one continuing the previous on its new rows only', async () => {
    const cold = await walkForwardPredict(ds, 'td', request);
    const chained = await walkForwardPredict(ds, 'td', { ...request, warmStart: warm });
    expect(chained.rows).toEqual(cold.rows);
    expect(chained.windows.map((w) => w.continued ?? false)).toEqual([false, true, true, true, true]);
    expect(chained.windows[0]).toEqual(cold.windows[0]);
    expect(chained.proba.subarray(0, cold.windows[0].testRows * 2)).toEqual(cold.proba.subarray(0, cold.windows[0].testRows * 2));
    // Window k continues on the 20 newer decision days (more than recentDays) × 4 symbols.
    expect(chained.windows.slice(1).map((w) => w.trainRows)).toEqual([80, 80, 80, 80]);
    expect(chained.proba).not.toEqual(cold.proba);
    const auc = classificationReportOf(chained.proba, Int32Array.from(chained.rows, (r) => ds.labels[r]), 2).rocAuc;
    expect(auc).toBeGreaterThan(0.65); // f0 carries the label
  });

  it('ignores warmStart for an algorithm without one', async () => {
    const lr = { ...request, algorithm: 'logistic_regression', params: {} };
    expect(await walkForwardPredict(ds, 'td', { ...lr, warmStart: warm })).toEqual(await walkForwardPredict(ds, 'td', lr));
  });

  it("continues the champion's artifact on the rows since its last day, refusing one of another dataset", async () => {
    const older = { ...ds, rows: ds.rows - 40, values: ds.values.subarray(0, (ds.rows - 40) * 3), labels: ds.labels.subarray(0, ds.rows - 40), start: ds.start.subarray(0, ds.rows - 40), end: ds.end.subarray(0, ds.rows - 40) };
    const params = { nRounds: 20, maxDepth: 2, validationFraction: 0 };
    const first = await fitFinalModel(older, { algorithm: 'gradient_boosting', params, seed: 1, threads: 1 });
    const sha = sha256(first.artifact);
    // Bars end at the cut-off here: every label the champion has is known, its last row included.
    const trainedThrough = first.trainedThrough;
    expect(trainedThrough).toBe(ds.days[older.start[older.rows - 1]]);
    const from = { model: 'm', version: 1, artifactSha256: sha, trainedThrough };
    const load = (s: string) => {
      expect(s).toBe(sha);
      return first.artifact;
    };
    const next = await fitFinalModel(ds, { algorithm: 'gradient_boosting', params, seed: 2, threads: 1, warmStart: { ...warm, recentDays: 1, from } }, undefined, load);
    // 10 new days × 4 symbols (more than recentDays), continued from the day after the champion's last.
    expect(next.trainRows).toBe(40);
    expect(next.continuedFrom).toBe(ds.days[older.start[older.rows - 1] + 1]);
    expect(next.trainedThrough).toBe(ds.days[ds.start[ds.rows - 1]]);
    const m = next.model as GradientBoostingModel;
    expect(m.trees).toHaveLength(25);
    expect(m.trees.slice(0, 20)).toEqual((first.model as GradientBoostingModel).trees);

    const otherLabel = { ...ds, label: { ...ds.label, horizon: 10 } };
    await expect(fitFinalModel(otherLabel, { algorithm: 'gradient_boosting', params, seed: 2, threads: 1, warmStart: { ...warm, from } }, undefined, load)).rejects.toThrow(/predicts/);
    await expect(fitFinalModel(ds, { algorithm: 'random_forest', params: {}, seed: 2, threads: 1, warmStart: { ...warm, from } }, undefined, load)).rejects.toThrow(/is a gradient_boosting model, not random_forest/);
    await expect(fitFinalModel(ds, { algorithm: 'gradient_boosting', params, seed: 2, threads: 1, warmStart: { ...warm, from: { ...from, artifactSha256: 'b'.repeat(64) } } }, undefined, () => first.artifact)).rejects.toThrow(/does not match its sha256/);
  });
});
