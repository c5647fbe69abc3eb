/**
 * Every algorithm this build can train and load, by name: what experiment configs refer to and
 * what the artifact loader accepts (name → payload version).
 */
import { ArtifactError } from './artifact';
import type { Algorithm, ModelState, TrainedModel } from './model';
import { logisticRegression } from './baselines/logistic-regression';
import { majority } from './baselines/majority';
import { mlp, sequenceModel } from './neural';
import { loadSvmRuntime, svm } from './svm/svm';
import { gradientBoosting } from './trees/gradient-boosting';
import { randomForest } from './trees/random-forest';

const ALL = [majority, logisticRegression, randomForest, gradientBoosting, svm, mlp, sequenceModel] as Array<Algorithm<Record<string, unknown>>>;

export const ALGORITHMS: ReadonlyMap<string, Algorithm<Record<string, unknown>>> = new Map(ALL.map((a) => [a.name, a]));

/** name → payload version, for decodeArtifact's `algorithms` check. */
export const ALGORITHM_VERSIONS: ReadonlyMap<string, number> = new Map(ALL.map((a) => [a.name, a.version]));

export function algorithmByName(name: string): Algorithm<Record<string, unknown>> {
  const algorithm = ALGORITHMS.get(name);
  if (!algorithm) throw new Error(`unknown algorithm "${name}"; known: ${[...ALGORITHMS.keys()].join(', ')}`);
  return algorithm;
}

/**
 * Rebuilds a model from a stored state: what registration, artifact verification and the serving
 * loader all call. The algorithm's restore checks the payload's size and refuses parameters that
 * can never be valid (non-finite weights, a zero scale, broken trees: models/state-checks.ts) with
 * an ArtifactError naming them.
 */
export function restoreModel(state: ModelState): TrainedModel {
  const algorithm = ALGORITHMS.get(state.algorithm);
  if (!algorithm) throw new ArtifactError(`unknown algorithm "${state.algorithm}"`);
  if (state.algorithmVersion !== algorithm.version) throw new ArtifactError(`${state.algorithm} payload version ${state.algorithmVersion} is not the one this build reads (${algorithm.version})`);
  return algorithm.restore(state);
}

/**
 * Loads the asynchronous runtime (libsvm's wasm) the SVM needs before a model can be restored;
 * call once at start-up.
 */
export async function loadModelRuntimes(): Promise<void> {
  await loadSvmRuntime();
}
