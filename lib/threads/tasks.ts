/**
 * The CPU-heavy functions a worker thread can run, by name. Each takes structured-cloneable input
 * and returns typed arrays (transferred back without copying).
 */
import type { BarSeries } from '../market-data/bar';
import type { SymbolFeatureSpec } from '../features/feature-set';
import { claimSymbolColumns, type ColumnBlocks } from '../features/symbol-features';
import { isShared } from './shared-memory';
import type { FeatureMatrix, FitInput, ModelState } from '../../models/model';
import { loadModelRuntimes, restoreModel } from '../../models/algorithms';
import { permutationImportanceOfColumns } from '../reports/report-data';
import { binFeatureRange } from '../../models/trees/binning';
import { serveHistogramRange, type SharedRange } from '../../models/trees/gradient-histograms';
import { runSvmJob, type SvmJob } from '../../models/svm/probability';
import { serveNetworkParts, type NetworkPartsJob } from '../../models/neural/network-threads';
import { buildTrees, type RandomForestParams } from '../../models/trees/random-forest';
import { readDataset } from '../training/dataset';
import { fitFinalModel, type FinalModelRequest } from '../training/final-model';
import { shuffledLabelsOf } from '../training/leakage-guards';
import { evaluateFold, type TrialRequest } from '../training/trial';
import { walkForwardPredict, writePredictions, type WalkForwardRequest } from '../training/walk-forward';
import { putArtifact, readArtifact } from '../registry/artifact-store';
import { openArtifactStore, type ArtifactLocation } from '../artifacts/artifact-store';

/** The artifact store of the activity that sent the task (one client per location and thread). */
const storeAt = (location: ArtifactLocation) => openArtifactStore(location);

export const threadTasks = {
  /** Per-symbol feature columns, every spec in order, of the series this thread claims, into shared blocks (claimSymbolColumns). */
  symbolColumns: (input: { specs: SymbolFeatureSpec[]; universe: BarSeries[]; next: Int32Array; chunk: number; blocks: ColumnBlocks }) => {
    // Columns written into a copy would never reach the caller.
    if ((input.blocks.values.length > 0 || input.blocks.lead.length > 0) && !(isShared(input.blocks.values) && isShared(input.blocks.lead))) throw new Error('symbolColumns needs its column blocks in shared memory');
    return claimSymbolColumns(input.specs, input.universe, input.next, input.chunk, input.blocks);
  },
  /** Bin edges and codes of one feature range, written into shared arrays (gradient boosting). */
  binFeatures: (input: { values: Float64Array; rows: number; p: number; from: number; to: number; maxBins: number; stride: number; rowMajor: Uint8Array; columnMajor: Uint8Array }) =>
    binFeatureRange(input.values, input.rows, input.p, input.from, input.to, input.maxBins, input.stride, input.rowMajor, input.columnMajor),
  /** Serves a range of the parts of a neural network's minibatches until told to stop. */
  networkParts: (input: NetworkPartsJob) => serveNetworkParts(input),
  /** Serves one feature range of a gradient-boosted model's histograms until told to stop. */
  gradientHistograms: (input: SharedRange) => serveHistogramRange(input),
  /**
   * One cross-validation fold of a hyperparameter trial (the dataset file is read once per thread);
   * with `shuffledLabels`, a fold of the shuffled-label control.
   */
  trialFold: async (input: { artifacts: ArtifactLocation; datasetId: string; request: TrialRequest; fold: number; shuffledLabels?: boolean }) => {
    const ds = await readDataset(storeAt(input.artifacts), input.datasetId);
    return evaluateFold(input.shuffledLabels ? { ...ds, labels: shuffledLabelsOf(ds, input.request) } : ds, input.request, input.fold);
  },
  /** Walk-forward out-of-sample predictions, filed under the artifact folder; returns their id. */
  walkForward: async (input: { artifacts: ArtifactLocation; datasetId: string; request: WalkForwardRequest }) => {
    const store = storeAt(input.artifacts);
    const predictions = await walkForwardPredict(await readDataset(store, input.datasetId), input.datasetId, input.request);
    return { predictionsId: await writePredictions(store, predictions), windows: predictions.windows, rows: predictions.rows.length };
  },
  /** The final model on all rows up to the cut-off, stored content-addressed; returns its sha256. */
  finalModel: async (input: { artifacts: ArtifactLocation; datasetId: string; request: FinalModelRequest }) => {
    const store = storeAt(input.artifacts);
    const { artifact, trainRows, continuedFrom, trainedThrough } = await fitFinalModel(await readDataset(store, input.datasetId), input.request, undefined, (sha) => readArtifact(store, sha));
    return { artifactSha256: (await putArtifact(store, artifact)).sha256, artifactBytes: artifact.length, trainRows, trainedThrough, ...(continuedFrom ? { continuedFrom } : {}) };
  },
  /** Permutation importance of columns [from, to) of a model given by its (verified) state: a run report's share of work. */
  permutationImportance: async (input: { state: ModelState; x: FeatureMatrix; y: Int32Array; seed: number; columns: number[] }) => {
    await loadModelRuntimes();
    const model = restoreModel(input.state);
    return permutationImportanceOfColumns(model, input.x, input.y, input.seed, input.columns);
  },
  /** predictProba of a model given by its (verified) state: a share of the rows of a long prediction. */
  predictProba: async (input: { state: ModelState; x: FeatureMatrix }) => {
    await loadModelRuntimes();
    return restoreModel(input.state).predictProba(input.x);
  },
  /** One C-SVC training of a probability SVM (the final model or a cross-validation fold). */
  svmJob: (input: SvmJob) => runSvmJob(input),
  /** Trees [from, to) of a random forest. */
  forestTrees: (input: { fit: Omit<FitInput, 'signal'>; params: RandomForestParams; from: number; to: number }) => buildTrees(input.fit, input.params, input.from, input.to),
};

export type ThreadTasks = typeof threadTasks;
export type TaskName = keyof ThreadTasks;
