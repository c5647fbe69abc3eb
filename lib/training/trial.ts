/**
 * One hyperparameter trial: the algorithm with one parameter set, scored by purged k-fold
 * cross-validation on the training dataset. Folds already done (from a heartbeat checkpoint) are
 * not recomputed, so a trial interrupted on one worker resumes on another.
 */
import { algorithmByName } from '../../models/algorithms';
import { sharedFloat64 } from '../threads/shared-memory';
import type { FeatureMatrix } from '../../models/model';
import { classificationReportOf } from '../validation/metrics';
import { purgedKFold, type PurgedFold } from '../validation/splits';
import type { TrainingDataset } from './dataset';

export interface TrialRequest {
  algorithm: string;
  params: Record<string, unknown>;
  folds: number;
  embargoDays: number;
  /** Training rows per fold at most (evenly spaced in time when there are more): bounds trial cost. */
  maxTrainRows: number;
  /** Test rows per fold at most (evenly spaced). */
  maxTestRows: number;
  seed: number;
  threads: number;
}

export interface FoldResult {
  fold: number;
  auc: number;
  logLoss: number;
  accuracy: number;
  trainRows: number;
  testRows: number;
  /** Test rows of class 1 (two classes): the null spread of a fold's AUC depends on the balance. Absent in results recorded before it was kept. */
  testPositives?: number;
  seconds: number;
}

export interface TrialResult {
  /** Mean fold ROC AUC: what the search maximises (threshold-free, insensitive to the class balance). */
  score: number;
  folds: FoldResult[];
}

/** At most `limit` of the indices, evenly spaced, order kept. */
export function evenlySpaced(indices: Int32Array, limit: number): Int32Array {
  if (indices.length <= limit) return indices;
  const out = new Int32Array(limit);
  for (let i = 0; i < limit; i++) out[i] = indices[Math.floor((i * indices.length) / limit)];
  return out;
}

/** The rows `indices` of the dataset as a model input. */
export function datasetRows(ds: TrainingDataset, indices: Int32Array): { x: FeatureMatrix; y: Int32Array } {
  const p = ds.columns.length;
  // In shared memory, so a model's pool threads read the rows without a copy.
  const values = sharedFloat64(indices.length * p);
  const y = new Int32Array(indices.length);
  indices.forEach((r, i) => {
    values.set(ds.values.subarray(r * p, (r + 1) * p), i * p);
    y[i] = ds.labels[r];
  });
  return { x: { values, rows: indices.length, featureNames: ds.columns }, y };
}

export function classesOf(ds: TrainingDataset): number {
  let max = 1;
  for (const y of ds.labels) if (y > max) max = y;
  return max + 1;
}

/** Purged folds per dataset (its start and end arrays) and split: every fold of every trial asks for the same (~16 ms each on 370,000 rows). */
const foldsByTimes = new WeakMap<Int32Array, Map<string, { end: Int32Array; folds: PurgedFold[] }>>();
function purgedFoldsOf(ds: Pick<TrainingDataset, 'start' | 'end'>, request: Pick<TrialRequest, 'folds' | 'embargoDays'>): PurgedFold[] {
  const key = `${request.folds}/${request.embargoDays}`;
  const bySplit = foldsByTimes.get(ds.start) ?? new Map<string, { end: Int32Array; folds: PurgedFold[] }>();
  foldsByTimes.set(ds.start, bySplit);
  const known = bySplit.get(key);
  if (known?.end === ds.end) return known.folds;
  const folds = purgedKFold({ start: ds.start, end: ds.end }, { folds: request.folds, embargoDays: request.embargoDays });
  bySplit.set(key, { end: ds.end, folds });
  return folds;
}

/** Trains on fold `f`'s training rows and scores its test rows. */
export async function evaluateFold(ds: TrainingDataset, request: TrialRequest, f: number, signal?: AbortSignal): Promise<FoldResult> {
  const algorithm = algorithmByName(request.algorithm);
  const classes = classesOf(ds);
  const fold = purgedFoldsOf(ds, request)[f];
  const t = Date.now();
  const train = datasetRows(ds, evenlySpaced(fold.train, request.maxTrainRows));
  const test = datasetRows(ds, evenlySpaced(fold.test, request.maxTestRows));
  const model = await algorithm.fit({ features: train.x, labels: train.y, classes, seed: request.seed + f, threads: request.threads, signal }, request.params);
  const report = classificationReportOf(model.predictProba(test.x), test.y, classes);
  return {
    fold: f,
    auc: classes === 2 ? report.rocAuc : NaN,
    logLoss: report.logLoss,
    accuracy: report.accuracy,
    trainRows: train.y.length,
    testRows: test.y.length,
    ...(classes === 2 ? { testPositives: test.y.reduce((n, y) => n + (y === 1 ? 1 : 0), 0) } : {}),
    seconds: (Date.now() - t) / 1000,
  };
}

/** The trial's score from its fold results. */
export function trialResultOf(folds: readonly FoldResult[]): TrialResult {
  const sorted = [...folds].sort((a, b) => a.fold - b.fold);
  const mean = (pick: (r: FoldResult) => number) => sorted.reduce((s, r) => s + pick(r), 0) / sorted.length;
  const binary = sorted.every((r) => !Number.isNaN(r.auc));
  return { score: binary ? mean((r) => r.auc) : -mean((r) => r.logLoss), folds: sorted };
}

/** All folds in this thread (tests, benchmarks); the activity runs folds off the main thread instead. */
export async function crossValidate(ds: TrainingDataset, request: TrialRequest, signal?: AbortSignal): Promise<TrialResult> {
  const results: FoldResult[] = [];
  for (let f = 0; f < request.folds; f++) results.push(await evaluateFold(ds, request, f, signal));
  return trialResultOf(results);
}
