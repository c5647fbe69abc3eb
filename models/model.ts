/**
 * The contract every algorithm in this folder implements (random forest, gradient-boosted trees,
 * SVM, neural network, baselines). Training and validation code depends only on this.
 */

/** Row-major feature matrix: `rows` × `featureNames.length` values, names in a fixed order. */
export interface FeatureMatrix {
  readonly values: Float64Array;
  readonly rows: number;
  readonly featureNames: readonly string[];
}

/** Per row: calendar day indices of its decision day and of the last day its label looks at; and the embargo after a held-out block. */
export interface FitTimes {
  readonly start: Int32Array;
  readonly end: Int32Array;
  /** Days after a held-out block's last label day whose rows are not trained on (the purged cross-validation's embargo). */
  readonly embargoDays: number;
}

/**
 * Times for rows whose labels do not overlap (independent draws, not a panel of forward-looking
 * labels): each row its own day, its label ending on it. Passing them is the explicit statement
 * that a held-out slice of the last rows leaks nothing; for rows of a dataset pass their real times.
 */
export function independentRowTimes(rows: number): FitTimes {
  const start = Int32Array.from({ length: rows }, (_, r) => r);
  return { start, end: start, embargoDays: 0 };
}

export interface FitInput {
  features: FeatureMatrix;
  /** Class index per row (0..classes-1). */
  labels: Int32Array;
  classes: number;
  /** Optional per-row weights (e.g. uniqueness weights of overlapping labels). */
  weights?: Float64Array;
  /**
   * When each row's label was decided and resolved, for an algorithm that validates inside its
   * fit (the SVM's Platt scaling, the early stopping of gradient boosting and the networks): its
   * folds or held-out slice are cut on whole days and purged (and the folds embargoed) as the
   * training's own cross-validation (lib/validation/splits.ts, models/early-stopping.ts), since
   * rows whose labels overlap (a 5-session label shares four sessions with the next day's) leak
   * across random folds or a slice cut by row count. Those algorithms refuse to fit without it
   * (early stopping only when validationFraction > 0); independentRowTimes states that labels do
   * not overlap.
   */
  times?: FitTimes;
  /** Every model is seeded: same data, parameters and seed give byte-identical artifacts. */
  seed: number;
  signal?: AbortSignal;
  /** Threads the algorithm may use (this one included); results never depend on it. */
  threads?: number;
}

/** What an algorithm stores: its own parameters (JSON) and weights (binary, never code). */
export interface ModelState {
  algorithm: string;
  /** Version of the algorithm's payload layout; a loader refuses versions it does not know. */
  algorithmVersion: number;
  featureNames: readonly string[];
  classes: number;
  params: Record<string, unknown>;
  payload: Uint8Array;
}

export interface TrainedModel {
  readonly algorithm: string;
  readonly featureNames: readonly string[];
  readonly classes: number;
  /** Row-major probabilities: rows × classes. */
  predictProba(features: FeatureMatrix): Float64Array;
  /** Each row's prediction depends on that row alone, bit for bit: rows may be predicted in parts, on several threads. */
  readonly rowwise?: boolean;
  /** Importance per feature name, where the algorithm has one. */
  featureImportances?(): ReadonlyMap<string, number>;
  /**
   * predictProba of `features` with one column replaced, once per swap (permutation importance):
   * given by models that can reuse each row's work across swaps (an RBF SVM keeps each row's
   * squared distances to its support vectors). Equal to predictProba on the swapped matrix within
   * rounding.
   */
  predictProbaColumnSwaps?(features: FeatureMatrix, swaps: ReadonlyArray<{ column: number; values: Float64Array }>): Float64Array[];
  state(): ModelState;
}

/** How much a warm start adds to the model it continues (each algorithm reads its own field). */
export interface WarmStartOptions {
  /** Gradient boosting: boosting rounds added to the ensemble (early stopping may keep fewer; 0 keeps it as it is). */
  extraRounds: number;
  /** Random forest: share of the trees replaced by trees grown on the new rows (the oldest go first). */
  refreshShare: number;
  /** Neural networks: epochs of continued training from the model's weights (early stopping may end them sooner). */
  epochs: number;
}

export interface Algorithm<Params> {
  readonly name: string;
  readonly version: number;
  fit(input: FitInput, params: Params): Promise<TrainedModel>;
  /**
   * Rebuilds a model from a verified state (see models/artifact.ts), refusing with an ArtifactError
   * naming the parameter any stored parameter that can never be valid (a non-finite weight, a scale
   * that is not > 0: models/state-checks.ts), so no loader ever serves one.
   */
  restore(state: ModelState): TrainedModel;
  /**
   * Continues training `from` (a model of this algorithm, restored from its artifact) on the rows
   * of `input` with `params` for what is added; absent when the algorithm cannot warm-start (it
   * then trains from scratch). `from` is never modified.
   */
  continueFit?(from: TrainedModel, input: FitInput, params: Params, warm: WarmStartOptions): Promise<TrainedModel>;
}

/** Refuses a matrix whose columns are not the ones the model was trained on, in the same order. */
export function assertSameFeatures(expected: readonly string[], actual: readonly string[], what: string): void {
  if (expected.length === actual.length && expected.every((name, i) => name === actual[i])) return;
  const firstDiff = expected.findIndex((name, i) => name !== actual[i]);
  throw new Error(
    `${what}: features differ from the model's (${expected.length} expected, ${actual.length} given; first difference at column ${firstDiff < 0 ? expected.length : firstDiff}: ` +
      `"${expected[firstDiff] ?? '(none)'}" vs "${actual[firstDiff] ?? '(none)'}"); build the matrix with the model's feature order`,
  );
}
