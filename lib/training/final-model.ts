/**
 * The model that gets registered: the chosen algorithm and parameters trained on every row whose
 * label was known at the cut-off (thinned over days and symbols to `maxTrainRows` by thinRows only
 * when one is given, for algorithms that cannot take them all, e.g. a kernel SVM), encoded as a
 * verified artifact. A warm start instead continues the champion on the rows since its last
 * training day (at least the last `recentDays` days; see lib/training/warm-start.ts).
 */
import { decodeArtifact, encodeArtifact, sha256 } from '../../models/artifact';
import { ALGORITHM_VERSIONS, algorithmByName, loadModelRuntimes, restoreModel } from '../../models/algorithms';
import type { TrainedModel } from '../../models/model';
import { trainingRowsOf, type TrainingDataset } from './dataset';
import { classesOf, datasetRows, defaultEmbargoDaysOf } from './trial';
import { thinRows } from './thin-rows';
import { continuedRows, sameLabel, type WarmStartSettings, type WarmStartSource } from './warm-start';

export interface FinalModelRequest {
  algorithm: string;
  params: Record<string, unknown>;
  seed: number;
  threads: number;
  /** Undefined: every row. */
  maxTrainRows?: number;
  /**
   * The embargo of the experiment's purged cross-validation, which a model's own folds use too (the
   * SVM's probability calibration). Absent (requests made before it was passed): defaultEmbargoDaysOf.
   */
  cvEmbargoDays?: number;
  /** Continue this champion instead of fitting from scratch. */
  warmStart?: WarmStartSettings & { from: WarmStartSource };
}

export interface FinalModel {
  model: TrainedModel;
  artifact: Buffer;
  trainRows: number;
  /** Present for a warm start: the first decision day of the rows the champion was continued on. */
  continuedFrom?: string;
  /** The last decision day of the rows it learnt from (its lineage's trainedThrough, where a warm start continues). */
  trainedThrough: string;
}

/** Reads an artifact's bytes by sha256 (the artifact store). */
export type ArtifactLoader = (sha256: string) => Uint8Array | Promise<Uint8Array>;

/** The champion of a warm start, checked against this dataset (features, feature set, label, algorithm, sha256). */
export async function loadChampion(ds: TrainingDataset, algorithm: string, from: WarmStartSource, load: ArtifactLoader): Promise<TrainedModel> {
  const bytes = await load(from.artifactSha256);
  if (sha256(bytes) !== from.artifactSha256) throw new Error(`warm start: the artifact of ${from.model} v${from.version} does not match its sha256`);
  const { header, state } = decodeArtifact(bytes, { algorithms: ALGORITHM_VERSIONS, featureNames: ds.columns, featureSetVersion: ds.featureSetVersion });
  if (state.algorithm !== algorithm) throw new Error(`warm start: ${from.model} v${from.version} is a ${state.algorithm} model, not ${algorithm}`);
  if (!sameLabel(header.label, ds.label)) throw new Error(`warm start: ${from.model} v${from.version} predicts ${JSON.stringify(header.label)}, this dataset ${JSON.stringify(ds.label)}`);
  await loadModelRuntimes();
  return restoreModel(state);
}

/**
 * The rows whose labels were known at the cut-off's close: the evaluation may score rows whose
 * labels look past the cut-off (it is out of sample), but a model trained at the cut-off cannot
 * have learnt from prices after it, or whatever judges it after the cut-off (a replayed canary, a
 * backtest of the next weeks) would score it on outcomes it was trained on.
 */
export function knownAtCutoff(ds: Pick<TrainingDataset, 'rows' | 'start' | 'end' | 'days' | 'cutoff'>): Int32Array {
  // The last day on or before the cut-off (days ascending); with bars ending there, every row is known.
  const last = ds.cutoff ?? ds.days[ds.days.length - 1];
  let cutoff = ds.days.length - 1;
  while (cutoff >= 0 && ds.days[cutoff] > last) cutoff--;
  const out: number[] = [];
  for (let r = 0; r < ds.rows; r++) if (ds.end[r] <= cutoff) out.push(r);
  return Int32Array.from(out);
}

export async function fitFinalModel(ds: TrainingDataset, request: FinalModelRequest, signal?: AbortSignal, loadArtifact?: ArtifactLoader): Promise<FinalModel> {
  const all = trainingRowsOf(ds, knownAtCutoff(ds));
  const algorithm = algorithmByName(request.algorithm);
  const warm = request.warmStart;
  if (warm) {
    if (!algorithm.continueFit) throw new Error(`warm start: ${request.algorithm} cannot warm-start`);
    if (!loadArtifact) throw new Error('warm start: no artifact store to read the champion from');
    const champion = await loadChampion(ds, request.algorithm, warm.from, loadArtifact);
    // Dataset days are ISO dates in order: the champion's last day is the last one not after it.
    let through = -1;
    while (through + 1 < ds.days.length && ds.days[through + 1] <= warm.from.trainedThrough) through++;
    const rows = continuedRows(all, ds.start, through, warm.recentDays);
    const train = datasetRows(ds, request.maxTrainRows === undefined ? rows : thinRows(ds, rows, request.maxTrainRows));
    // A seed of its own per day continued from, so a forest's new trees do not repeat the champion's draws.
    const times = { ...train.times, embargoDays: request.cvEmbargoDays ?? defaultEmbargoDaysOf(ds) };
    const model = await algorithm.continueFit(champion, { features: train.x, labels: train.y, times, classes: classesOf(ds), seed: request.seed + through + 1, threads: request.threads, signal }, request.params, warm);
    const artifact = encodeArtifact(model.state(), { featureSetVersion: ds.featureSetVersion, label: ds.label });
    return { model, artifact, trainRows: train.y.length, continuedFrom: ds.days[ds.start[rows[0]]], trainedThrough: lastDayOf(ds, rows) };
  }
  const train = datasetRows(ds, request.maxTrainRows === undefined ? all : thinRows(ds, all, request.maxTrainRows));
  const times = { ...train.times, embargoDays: request.cvEmbargoDays ?? defaultEmbargoDaysOf(ds) };
  const model = await algorithm.fit({ features: train.x, labels: train.y, times, classes: classesOf(ds), seed: request.seed, threads: request.threads, signal }, request.params);
  const artifact = encodeArtifact(model.state(), { featureSetVersion: ds.featureSetVersion, label: ds.label });
  return { model, artifact, trainRows: train.y.length, trainedThrough: lastDayOf(ds, all) };
}

/** The last decision day of `rows` (ascending in time, as every dataset's rows are). */
function lastDayOf(ds: Pick<TrainingDataset, 'days' | 'start'>, rows: Int32Array): string {
  return ds.days[ds.start[rows[rows.length - 1]]];
}
