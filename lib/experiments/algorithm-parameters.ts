/**
 * The hyper-parameters each algorithm reads, by name: what an experiment's search space may name.
 * A name no algorithm reads (`maxDepht` for `maxDepth`) was accepted, searched over, recorded in the
 * registry row as the model's parameter, and ignored by the fit, which trained with the default.
 * Kept here as names only, so experiment validation (which workflow code runs) loads no model code;
 * test/unit/experiments/algorithm-parameters.test.ts holds them equal to the models' own schemas.
 */
export const ALGORITHM_PARAMETERS: Readonly<Record<string, readonly string[]>> = {
  logistic_regression: ['C', 'maxIterations', 'tolerance'],
  random_forest: ['nEstimators', 'maxDepth', 'minSamplesLeaf', 'minGain', 'maxFeatures', 'criterion', 'bootstrap', 'maxBins'],
  gradient_boosting: ['nRounds', 'learningRate', 'maxDepth', 'minChildWeight', 'lambda', 'minGain', 'subsample', 'colsample', 'maxBins', 'validationFraction', 'earlyStoppingRounds'],
  svm: ['kernel', 'C', 'gamma', 'tolerance', 'cacheSizeMb', 'shrinking'],
  mlp: ['hiddenLayers', 'activation', 'dropout', 'learningRate', 'batchSize', 'epochs', 'patience', 'minDelta', 'validationFraction', 'l2'],
  conv1d: ['window', 'filters', 'kernelSize', 'units', 'activation', 'dropout', 'learningRate', 'batchSize', 'epochs', 'patience', 'minDelta', 'validationFraction', 'l2'],
};

/**
 * The parameter names of `space` that `algorithm` does not read; `known` for an algorithm not
 * listed here (none: nothing is refused).
 */
export function unknownParameters(algorithm: string, space: Readonly<Record<string, unknown>>, known: readonly string[] | undefined = ALGORITHM_PARAMETERS[algorithm]): string[] {
  return known === undefined ? [] : Object.keys(space).filter((name) => !known.includes(name));
}

/**
 * Why `name` is refused for `algorithm`, naming the parameters it has: the one wording of an
 * experiment's search space and of the registry's check of a row (lib/registry/recorded-fields.ts).
 */
export function unknownParameterMessage(algorithm: string, name: string, known: readonly string[] = ALGORITHM_PARAMETERS[algorithm] ?? []): string {
  return `${algorithm} has no parameter "${name}"; its parameters are ${known.length > 0 ? known.join(', ') : 'none'}`;
}
