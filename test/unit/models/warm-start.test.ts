/**
 * Warm starts of each algorithm that has one: the champion is restored from its artifact (as the
 * pipeline does) and continued on newer rows.
 */
import { decodeArtifact, encodeArtifact } from '../../../models/artifact';
import { ALGORITHM_VERSIONS, algorithmByName } from '../../../models/algorithms';
import type { FeatureMatrix, TrainedModel } from '../../../models/model';
import { mlp, NeuralModel } from '../../../models/neural';
import { gradientBoosting, GradientBoostingModel } from '../../../models/trees/gradient-boosting';
import { randomForest, RandomForestModel } from '../../../models/trees/random-forest';
import { accuracy, independentTimes, separable } from '../../helpers/datasets';

const context = { featureSetVersion: 'fs-test-000000000000', label: { kind: 'direction', horizon: 5 } };
const WARM = { extraRounds: 20, refreshShare: 0.2, epochs: 3 };

/** Through the artifact file, as the pipeline loads a champion. */
function roundTrip(model: TrainedModel): TrainedModel {
  const { state } = decodeArtifact(encodeArtifact(model.state(), context), { algorithms: ALGORITHM_VERSIONS });
  return algorithmByName(state.algorithm).restore(state);
}

const old = separable(2000, 5, 1);
const fresh = separable(600, 5, 7);
const test = separable(1000, 5, 99);
const input = (d: { x: FeatureMatrix; y: Int32Array }, seed: number) => ({ features: d.x, times: independentTimes(d.x.rows), labels: d.y, classes: 2, seed, threads: 1 });

describe('gradient boosting warm start', () => {
  const params = { nRounds: 30, maxDepth: 3, learningRate: 0.1, validationFraction: 0 };

  it("keeps the champion's trees and base score as the prefix of a longer ensemble", async () => {
    const champion = roundTrip(await gradientBoosting.fit(input(old, 1), params)) as GradientBoostingModel;
    const continued = (await gradientBoosting.continueFit?.(champion, input(fresh, 2), params, WARM)) as GradientBoostingModel;
    expect(champion.trees).toHaveLength(30);
    expect(continued.trees).toHaveLength(50);
    continued.trees.slice(0, 30).forEach((tree, i) => expect(tree).toEqual(champion.trees[i]));
    expect(continued.trees[30]).not.toEqual(champion.trees[0]);
    expect([...continued.base]).toEqual([...champion.base]);
    // What it stores reloads to the same predictions.
    expect(roundTrip(continued).predictProba(test.x)).toEqual(continued.predictProba(test.x));
    expect(accuracy(continued.predictProba(test.x), test.y)).toBeGreaterThan(0.9);
  });

  it('predicts exactly as the champion with 0 extra rounds, and keeps no round that does not beat it on the validation slice', async () => {
    const champion = roundTrip(await gradientBoosting.fit(input(old, 1), params)) as GradientBoostingModel;
    const same = (await gradientBoosting.continueFit?.(champion, input(fresh, 2), params, { ...WARM, extraRounds: 0 })) as GradientBoostingModel;
    expect(same.predictProba(test.x)).toEqual(champion.predictProba(test.x));
    expect(same.trees).toHaveLength(30);

    // Labels flipped on the new rows: every new round makes the (flipped) validation slice worse or
    // better; whatever is kept is a prefix of what ran and the champion's trees stay in front.
    const flipped = { x: fresh.x, y: Int32Array.from(fresh.y, (v) => 1 - v) };
    const early = (await gradientBoosting.continueFit?.(champion, input(flipped, 2), { ...params, validationFraction: 0.2, earlyStoppingRounds: 3 }, WARM)) as GradientBoostingModel;
    expect(early.trees.length).toBeGreaterThanOrEqual(30);
    early.trees.slice(0, 30).forEach((tree, i) => expect(tree).toEqual(champion.trees[i]));
  });

  it('refuses a model of another algorithm or other features', async () => {
    const forest = await randomForest.fit(input(old, 1), { nEstimators: 5, maxDepth: 3 });
    await expect(gradientBoosting.continueFit?.(forest, input(fresh, 2), params, WARM)).rejects.toThrow(/cannot continue a random_forest model/);
    const champion = await gradientBoosting.fit(input(old, 1), params);
    const renamed = { x: { ...fresh.x, featureNames: fresh.x.featureNames.map((n, j) => (j === 2 ? 'other' : n)) }, y: fresh.y };
    await expect(gradientBoosting.continueFit?.(champion, input(renamed, 2), params, WARM)).rejects.toThrow(/features differ/);
  });
});

describe('random forest warm start', () => {
  const params = { nEstimators: 20, maxDepth: 6 };

  it.each([0.2, 0.5, 0, 1])('replaces exactly round(%p × trees) of them, the oldest, and keeps the others as they were', async (share) => {
    const champion = roundTrip(await randomForest.fit(input(old, 1), params)) as RandomForestModel;
    const continued = (await randomForest.continueFit?.(champion, input(fresh, 2), params, { ...WARM, refreshShare: share })) as RandomForestModel;
    const replaced = Math.round(share * 20);
    expect(continued.trees).toHaveLength(20);
    const kept = continued.trees.slice(0, 20 - replaced);
    kept.forEach((tree, i) => expect(tree).toEqual(champion.trees[replaced + i]));
    // The new ones are not any of the champion's.
    for (const tree of continued.trees.slice(20 - replaced)) expect(champion.trees.some((t) => JSON.stringify(t) === JSON.stringify(tree))).toBe(false);
    expect(continued.state().params.warmStart).toEqual({ championTrees: 20, treesReplaced: replaced });
    expect(roundTrip(continued).predictProba(test.x)).toEqual(continued.predictProba(test.x));
    expect(accuracy(continued.predictProba(test.x), test.y)).toBeGreaterThan(0.85);
  });
});

describe('mlp warm start', () => {
  const params = { hiddenLayers: [16], epochs: 5, batchSize: 100, dropout: 0, validationFraction: 0, learningRate: 0.01 };

  it("starts from the champion's weights and standardiser, not from a fresh initialisation", async () => {
    const champion = roundTrip(await mlp.fit(input(old, 1), params)) as NeuralModel;
    // A step size too small to move the weights visibly: what comes out is what went in.
    const still = (await mlp.continueFit?.(champion, input(fresh, 2), { ...params, learningRate: 1e-9 }, { ...WARM, epochs: 1 })) as NeuralModel;
    const first = champion.weights[0].slice();
    const diff = still.weights[0].reduce((m, w, i) => Math.max(m, Math.abs(w - first[i])), 0);
    expect(diff).toBeLessThan(1e-6);
    expect([...still.s.mean]).toEqual([...champion.s.mean]);
    // A cold fit with the continued run's seed starts elsewhere.
    const cold = await mlp.fit(input(fresh, 2), { ...params, learningRate: 1e-9, epochs: 1 });
    expect(cold.weights[0].reduce((m, w, i) => Math.max(m, Math.abs(w - first[i])), 0)).toBeGreaterThan(0.01);

    // With a real step it moves, for `epochs` epochs, and still classifies.
    const continued = (await mlp.continueFit?.(champion, input(fresh, 2), params, WARM)) as NeuralModel;
    expect(continued.training.epochsRun).toBe(3);
    expect(continued.weights[0]).not.toEqual(first);
    expect(accuracy(continued.predictProba(test.x), test.y)).toBeGreaterThan(0.9);
    expect(champion.weights[0]).toEqual(first); // the champion itself is untouched
  });

  it('refuses other hidden layers (their weights cannot be continued)', async () => {
    const champion = await mlp.fit(input(old, 1), params);
    await expect(mlp.continueFit?.(champion, input(fresh, 2), { ...params, hiddenLayers: [8] }, WARM)).rejects.toThrow(/cannot be continued/);
  });
});

describe('algorithms without a warm start', () => {
  it.each(['logistic_regression', 'svm', 'majority', 'conv1d'])('%s has none (it trains from scratch)', (name) => {
    expect(algorithmByName(name).continueFit).toBeUndefined();
  });
});
