/**
 * The contract every algorithm in this folder implements (random forest, gradient-boosted trees,
 * SVM, neural network, baselines). Training and validation code depends only on this.
 */

/** Row-major feature matrix: `rows` × `featureNames.length` values, names in a fixed order. */
export interface FeatureMatrix {
  readonly values: Float64Array | Float32Array;
  readonly rows: number;
  readonly featureNames: readonly string[];
}

export interface FitInput {
  features: FeatureMatrix;
  /** Class index per row (0..classes-1). */
  labels: Int32Array;
  classes: number;
  /** Optional per-row weights (e.g. uniqueness weights of overlapping labels). */
  weights?: Float64Array;
  /** Every model is seeded: same data, parameters and seed give byte-identical artifacts. */
  seed: number;
  signal?: AbortSignal;
}

export interface SerializedModel {
  algorithm: string;
  /** Format version of `payload`, checked on load. */
  formatVersion: number;
  featureNames: readonly string[];
  payload: Uint8Array;
}

export interface TrainedModel {
  readonly algorithm: string;
  readonly featureNames: readonly string[];
  /** Row-major probabilities: rows × classes. */
  predictProba(features: FeatureMatrix): Float64Array;
  /** Importance per feature name, where the algorithm has one. */
  featureImportances?(): ReadonlyMap<string, number>;
  serialize(): SerializedModel;
}

export interface ModelTrainer<Params> {
  readonly algorithm: string;
  fit(input: FitInput, params: Params): Promise<TrainedModel>;
  deserialize(serialized: SerializedModel): TrainedModel;
}
