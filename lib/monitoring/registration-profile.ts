/**
 * The reference profile of a version being registered, from the files its training run left: the
 * training dataset (the rows the final model was fitted on) and the walk-forward predictions (its
 * out-of-sample scores; in-sample scores of a flexible model are more extreme than anything it will
 * produce live, which would read as prediction drift on day one). Without walk-forward predictions
 * the final model scores its own training rows.
 */
import type { TrainedModel } from '../../models/model';
import type { ArtifactStore } from '../artifacts/artifact-store';
import { fileDerived, readDerived } from '../artifacts/derived-file';
import { BadInputError } from '../errors';
import { codeVersion } from '../code-version';
import { readDataset, type TrainingDataset } from '../training/dataset';
import { readPredictions } from '../training/walk-forward';
import { thinRows } from '../training/thin-rows';
import { buildReferenceProfile, scoreProfileOf, type ReferenceProfile } from './reference-profile';

export interface RegistrationProfileInput {
  model: string;
  version: number;
  featureSetVersion: string;
  datasetId: string;
  /** Walk-forward predictions of the same dataset, when the run made them. */
  predictionsId?: string;
  /** The registered model, to score training rows when there are no walk-forward predictions. */
  trainedModel?: () => TrainedModel;
  /** The dataset's feature profile built beside the training (precomputeDatasetProfile), when there is one. */
  datasetProfile?: { sha256: string };
  /** The dataset's feature set's look-back per column (featureLookbacks), when it can be read: the least persistence of each feature. */
  lookbacksOf?: LookbacksOf;
  bins?: number;
  scoreBins?: number;
}

/** Rows the final model scores when it has to (thinRows: every period and symbol represented). */
const MAX_SCORED_ROWS = 50_000;

// Every algorithm of a run is registered from the same dataset: its feature profile is built once.
let cached: { key: string; profile: ReferenceProfile } | undefined;

async function scoresFromPredictions(ds: TrainingDataset, artifacts: ArtifactStore, datasetId: string, predictionsId: string): Promise<{ values: Float64Array; day: Int32Array } | undefined> {
  const p = await readPredictions(artifacts, predictionsId);
  if (p.datasetId !== datasetId || p.classes < 2 || p.rows.length === 0) return undefined;
  return { values: Float64Array.from(p.rows, (_, i) => p.proba[i * p.classes + 1]), day: Int32Array.from(p.rows, (r) => ds.start[r]) };
}

function scoresFromModel(ds: TrainingDataset, model: TrainedModel): { values: Float64Array; day: Int32Array } {
  const rows = thinRows(ds, Int32Array.from({ length: ds.rows }, (_, r) => r), MAX_SCORED_ROWS);
  const take = rows.length;
  const p = ds.columns.length;
  const values = new Float64Array(take * p);
  rows.forEach((r, j) => values.set(ds.values.subarray(r * p, (r + 1) * p), j * p));
  const proba = model.predictProba({ values, rows: take, featureNames: ds.columns });
  return { values: Float64Array.from(rows, (_, j) => proba[j * model.classes + 1]), day: Int32Array.from(rows, (r) => ds.start[r]) };
}

/** What a precomputed dataset profile was built from, and the profile without a model's scores. */
interface DatasetProfileFile {
  kind: 'dataset-profile';
  format: number;
  /** The code that built it (lib/code-version.ts): other code builds it again. */
  codeVersion: string;
  datasetId: string;
  bins: number;
  profile: ReferenceProfile;
}

/** Raised when the profile's layout changes: files of another format are built again. */
const DATASET_PROFILE_FORMAT = 1;

/** reference-profiles/<sha[0..2]>/<sha>.json */
function datasetProfileKey(sha: string): string {
  return `reference-profiles/${sha.slice(0, 2)}/${sha}.json`;
}

/** Reads a feature set's look-backs (featureLookbacks) by its version; undefined when it cannot be read. */
export type LookbacksOf = (featureSetVersion: string) => Promise<Record<string, number> | undefined>;

async function buildDatasetProfile(ds: TrainingDataset, bins: number, who: { model: string; version: number; featureSetVersion: string }, lookbacksOf?: LookbacksOf): Promise<ReferenceProfile> {
  const lookbacks = await lookbacksOf?.(ds.featureSetVersion);
  return buildReferenceProfile({ ...who, features: { columns: ds.columns, rows: ds.rows, values: ds.values, day: ds.start }, dayLabels: ds.days, symbols: ds.symbols, bins, ...(lookbacks ? { lookbacks } : {}) });
}

/**
 * The training dataset's feature profile (every version registered from the dataset shares it), built
 * beside the training (the pipeline's profileTrainingDataset step) and filed as a content-addressed
 * artifact, so that registering the run's versions at its end only adds each one's scores: building
 * it takes 2–4 s for the S&P 500 dataset.
 */
export async function precomputeDatasetProfile(artifacts: ArtifactStore, datasetId: string, bins = 10, lookbacksOf?: LookbacksOf): Promise<{ sha256: string }> {
  const ds = await readDataset(artifacts, datasetId);
  let profile: ReferenceProfile;
  try {
    profile = await buildDatasetProfile(ds, bins, { model: '(training dataset)', version: 0, featureSetVersion: ds.featureSetVersion }, lookbacksOf);
  } catch (error) {
    // Bad rows or bins: retrying cannot fix them (registration then says so for each version).
    if (error instanceof RangeError) throw new BadInputError(`no reference profile for training dataset ${datasetId}: ${error.message}`);
    throw error;
  }
  const file: DatasetProfileFile = { kind: 'dataset-profile', format: DATASET_PROFILE_FORMAT, codeVersion: codeVersion(), datasetId, bins, profile };
  return fileDerived(artifacts, datasetProfileKey, file);
}

/** The precomputed profile when its file is intact (sha256), of this format, code, dataset and bins; otherwise undefined and it is built. */
async function recordedDatasetProfile(artifacts: ArtifactStore, sha: string, datasetId: string, bins: number): Promise<ReferenceProfile | undefined> {
  const file = (await readDerived(artifacts, datasetProfileKey, sha)) as DatasetProfileFile | undefined;
  const same = file?.kind === 'dataset-profile' && file.format === DATASET_PROFILE_FORMAT && file.codeVersion === codeVersion() && file.datasetId === datasetId && file.bins === bins && typeof file.profile === 'object' && file.profile !== null && Array.isArray(file.profile.features);
  return same ? file.profile : undefined;
}

export async function registrationProfileOf(artifacts: ArtifactStore, input: RegistrationProfileInput): Promise<ReferenceProfile> {
  const ds = await readDataset(artifacts, input.datasetId);
  const bins = input.bins ?? 10;
  const key = `${input.datasetId}/${bins}/${input.datasetProfile?.sha256 ?? 'built'}`;
  if (cached?.key !== key) {
    const recorded = input.datasetProfile ? await recordedDatasetProfile(artifacts, input.datasetProfile.sha256, input.datasetId, bins) : undefined;
    cached = { key, profile: recorded ?? (await buildDatasetProfile(ds, bins, { model: input.model, version: input.version, featureSetVersion: input.featureSetVersion }, input.lookbacksOf)) };
  }
  const fromPredictions = input.predictionsId ? await scoresFromPredictions(ds, artifacts, input.datasetId, input.predictionsId) : undefined;
  const scores = fromPredictions ?? (input.trainedModel ? scoresFromModel(ds, input.trainedModel()) : undefined);
  return {
    ...cached.profile,
    model: input.model,
    version: input.version,
    featureSetVersion: input.featureSetVersion,
    createdAt: new Date().toISOString(),
    scoreSource: scores ? (fromPredictions ? 'walk-forward' : 'final-model') : 'none',
    score: scores ? scoreProfileOf(scores.values, scores.day, input.scoreBins) : null,
  };
}
