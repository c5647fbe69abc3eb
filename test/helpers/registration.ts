import { defineFeatureSet, type FeatureSetInput } from '../../lib/features/feature-set';
import { featureColumns } from '../../lib/features/compute-features';
import type { Database } from '../../lib/store/database';
import { saveFeatureSet } from '../../lib/store/features';
import type { FeatureMatrix } from '../../models/model';
import type { ArtifactStore } from '../../lib/artifacts/artifact-store';
import { putArtifact } from '../../lib/registry/artifact-store';
import { writeDataset, type TrainingDataset } from '../../lib/training/dataset';
import { algorithmByName } from '../../models/algorithms';
import { encodeArtifact } from '../../models/artifact';
import { syntheticTrainingDataset } from './training-dataset';

/** The registry fields a test model has no real value for: no snapshot, run or metrics. */
export const UNTRACKED_REGISTRATION = {
  snapshotId: null,
  snapshotHash: null,
  codeVersion: 'test',
  workflowId: null,
  runId: null,
  metrics: {},
  lineage: {},
} as const;

/** A real feature set as this code defines it: its version and the column order its definition yields. */
export interface TestFeatureSet {
  version: string;
  columns: string[];
}

/** The version and columns this code gives `definition` (nothing stored). */
export function defineTestFeatureSet(definition: FeatureSetInput): TestFeatureSet {
  const set = defineFeatureSet(definition);
  return { version: set.version, columns: featureColumns(set) };
}

/**
 * Stores a real feature set's row (definition, version and column order), as materialising it does
 * before a pipeline registers any model of it: artifact verification (hence serving, deployments,
 * route changes and loadRegisteredModel) refuses a model whose feature set the store does not hold,
 * or holds a row this code would not store. No feature is computed; a test trains its synthetic
 * model on the returned column names (values are the test's own) and registers it under the
 * returned version. A row already stored under the version is kept.
 */
export async function saveTestFeatureSet(store: Database, definition: FeatureSetInput): Promise<TestFeatureSet> {
  const set = defineFeatureSet(definition);
  const columns = featureColumns(set);
  await saveFeatureSet(store, set, columns);
  return { version: set.version, columns };
}

/**
 * A feature set of `width` one-column features, returns over 1..width days: columns ret_1 … ret_<width>
 * (the width of the synthetic matrices of test/helpers/datasets.ts is 5). `name` sets the version apart.
 */
export function returnsFeatureSet(name: string, width = 5): FeatureSetInput {
  return { name, features: Array.from({ length: width }, (_, j) => ({ kind: 'return' as const, horizon: j + 1 })) };
}

/** The matrix's values under `columns` (a real feature set's names, in its order): synthetic values, real names. */
export function withColumns(x: FeatureMatrix, columns: readonly string[]): FeatureMatrix {
  if (columns.length !== x.featureNames.length) throw new Error(`withColumns: ${columns.length} names for ${x.featureNames.length} columns`);
  return { ...x, featureNames: columns };
}

/** What the training pipeline records for a model whose single-feature scan named a leak. */
export const LEAKY_METRICS = {
  outOfSample: { guards: [{ guard: 'plausibility_bound', tripped: false, message: 'within the plausible range' }] },
  scores: { auc: 0.71, trippedGuards: [{ guard: 'single_feature_scan', tripped: true, message: 'suspected leak: ret_5 alone scores AUC 0.9900' }] },
  shuffledLabel: { passed: true, message: 'at chance' },
};

/**
 * What a training run hands registration, for tests of it: a synthetic training dataset stored, and
 * a logistic regression fitted on it, its artifact stored.
 */
export async function trainedRun(artifacts: ArtifactStore, featureSet: TestFeatureSet, options: { symbols: number; days: number; seed: number; horizon?: number }): Promise<{ ds: TrainingDataset; datasetId: string; sha256: string }> {
  const ds = syntheticTrainingDataset({ ...options, featureSet });
  const { id: datasetId } = await writeDataset(artifacts, ds);
  const model = await algorithmByName('logistic_regression').fit({ features: { values: ds.values, rows: ds.rows, featureNames: ds.columns }, labels: ds.labels, classes: 2, seed: options.seed }, {});
  const { sha256 } = await putArtifact(artifacts, encodeArtifact(model.state(), { featureSetVersion: ds.featureSetVersion, label: ds.label }));
  return { ds, datasetId, sha256 };
}
