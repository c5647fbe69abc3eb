/**
 * The reference profile of a version being registered, from the files its training run left: the
 * training dataset (the rows the final model was fitted on) and the walk-forward predictions (its
 * out-of-sample scores; in-sample scores of a flexible model are more extreme than anything it will
 * produce live, which would read as prediction drift on day one). Without walk-forward predictions
 * the final model scores its own training rows.
 */
import type { TrainedModel } from '../../models/model';
import type { ArtifactStore } from '../artifacts/artifact-store';
import { readDataset, type TrainingDataset } from '../training/dataset';
import { readPredictions } from '../training/walk-forward';
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
  bins?: number;
  scoreBins?: number;
}

/** Rows the final model scores when it has to (evenly spaced, so every period is represented). */
const MAX_SCORED_ROWS = 50_000;

// Every algorithm of a run is registered from the same dataset: its feature profile is built once.
let cached: { key: string; profile: ReferenceProfile } | undefined;

async function scoresFromPredictions(ds: TrainingDataset, artifacts: ArtifactStore, datasetId: string, predictionsId: string): Promise<{ values: Float64Array; day: Int32Array } | undefined> {
  const p = await readPredictions(artifacts, predictionsId);
  if (p.datasetId !== datasetId || p.classes < 2 || p.rows.length === 0) return undefined;
  return { values: Float64Array.from(p.rows, (_, i) => p.proba[i * p.classes + 1]), day: Int32Array.from(p.rows, (r) => ds.start[r]) };
}

function scoresFromModel(ds: TrainingDataset, model: TrainedModel): { values: Float64Array; day: Int32Array } {
  const take = Math.min(ds.rows, MAX_SCORED_ROWS);
  const rows = Int32Array.from({ length: take }, (_, j) => (take === ds.rows ? j : Math.floor((j * ds.rows) / take)));
  const p = ds.columns.length;
  const values = new Float64Array(take * p);
  rows.forEach((r, j) => values.set(ds.values.subarray(r * p, (r + 1) * p), j * p));
  const proba = model.predictProba({ values, rows: take, featureNames: ds.columns });
  return { values: Float64Array.from(rows, (_, j) => proba[j * model.classes + 1]), day: Int32Array.from(rows, (r) => ds.start[r]) };
}

export async function registrationProfileOf(artifacts: ArtifactStore, input: RegistrationProfileInput): Promise<ReferenceProfile> {
  const ds = await readDataset(artifacts, input.datasetId);
  const key = `${input.datasetId}/${input.bins ?? 10}`;
  if (cached?.key !== key) {
    cached = {
      key,
      profile: buildReferenceProfile({
        model: input.model,
        version: input.version,
        featureSetVersion: input.featureSetVersion,
        features: { columns: ds.columns, rows: ds.rows, values: ds.values, day: ds.start },
        dayLabels: ds.days,
        symbols: ds.symbols,
        bins: input.bins,
      }),
    };
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
