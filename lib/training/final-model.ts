/**
 * The model that gets registered: the chosen algorithm and parameters trained on every labelled
 * row up to the cut-off (evenly thinned to `maxTrainRows` only when one is given, for algorithms
 * that cannot take them all, e.g. a kernel SVM), encoded as a verified artifact.
 */
import { encodeArtifact } from '../../models/artifact';
import { algorithmByName } from '../../models/algorithms';
import type { TrainedModel } from '../../models/model';
import type { TrainingDataset } from './dataset';
import { classesOf, datasetRows, evenlySpaced } from './trial';

export interface FinalModelRequest {
  algorithm: string;
  params: Record<string, unknown>;
  seed: number;
  threads: number;
  /** Undefined: every row. */
  maxTrainRows?: number;
}

export async function fitFinalModel(ds: TrainingDataset, request: FinalModelRequest, signal?: AbortSignal): Promise<{ model: TrainedModel; artifact: Buffer; trainRows: number }> {
  const all = Int32Array.from({ length: ds.rows }, (_, r) => r);
  const train = datasetRows(ds, request.maxTrainRows === undefined ? all : evenlySpaced(all, request.maxTrainRows));
  const model = await algorithmByName(request.algorithm).fit({ features: train.x, labels: train.y, classes: classesOf(ds), seed: request.seed, threads: request.threads, signal }, request.params);
  const artifact = encodeArtifact(model.state(), { featureSetVersion: ds.featureSetVersion, label: ds.label });
  return { model, artifact, trainRows: train.y.length };
}
