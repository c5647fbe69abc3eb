/**
 * One hyperparameter trial: the algorithm with one parameter set, scored by purged k-fold
 * cross-validation on the rows known before the evaluation period (lib/training/evaluation-period.ts),
 * so no parameter is chosen on the days that judge it. Folds already done (from a heartbeat checkpoint) are
 * not recomputed, so a trial interrupted on one worker resumes on another.
 */
import { algorithmByName } from '../../models/algorithms';
import { sharedFloat64 } from '../threads/shared-memory';
import type { FeatureMatrix } from '../../models/model';
import { classificationReportOf } from '../validation/metrics';
import { embargoDaysFor, purgedKFold, type PurgedFold, type SampleTimes } from '../validation/splits';
import { labelHorizon, trainingRowsOf, type TrainingDataset } from './dataset';
import { firstEvaluationDay, prePeriodRows } from './evaluation-period';
import { BadInputError } from '../errors';
import { thinRows } from './thin-rows';

export interface TrialRequest {
  algorithm: string;
  params: Record<string, unknown>;
  folds: number;
  embargoDays: number;
  /** Training rows per fold at most (thinned over days and symbols when there are more: thinRows): bounds trial cost. */
  maxTrainRows: number;
  /** Test rows per fold at most (thinned likewise). */
  maxTestRows: number;
  seed: number;
  threads: number;
  /**
   * The walk-forward's evaluation period (its last decision days), left out of the folds: only
   * rows whose labels end before its first day are cross-validated. Absent in trials recorded
   * before it was kept, which used the whole dataset.
   */
  evaluationDays?: number;
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

/** The rows `indices` of the dataset as a model input, with each row's decision day and label end. */
export function datasetRows(ds: TrainingDataset, indices: Int32Array): { x: FeatureMatrix; y: Int32Array; times: SampleTimes } {
  const p = ds.columns.length;
  // In shared memory, so a model's pool threads read the rows without a copy.
  const values = sharedFloat64(indices.length * p);
  const y = new Int32Array(indices.length);
  indices.forEach((r, i) => {
    values.set(ds.values.subarray(r * p, (r + 1) * p), i * p);
    y[i] = ds.labels[r];
  });
  return { x: { values, rows: indices.length, featureNames: ds.columns }, y, times: { start: indices.map((r) => ds.start[r]), end: indices.map((r) => ds.end[r]) } };
}

/**
 * The embargo of a purged cross-validation of the dataset when the experiment names none: the label
 * horizon or 1% of its decision days, whichever is longer (embargoDaysFor; what the training
 * pipeline uses for the search's folds).
 */
export function defaultEmbargoDaysOf(ds: Pick<TrainingDataset, 'label' | 'start'>): number {
  return embargoDaysFor(labelHorizon(ds.label), new Set(ds.start).size);
}

export function classesOf(ds: TrainingDataset): number {
  let max = 1;
  for (const y of ds.labels) if (y > max) max = y;
  return max + 1;
}

/** Purged folds per dataset (its start and end arrays) and split: every fold of every trial asks for the same (~16 ms each on 370,000 rows). */
const foldsByTimes = new WeakMap<Int32Array, Map<string, { end: Int32Array; folds: PurgedFold[] }>>();
export function searchFoldsOf(ds: Pick<TrainingDataset, 'start' | 'end' | 'rows'>, request: Pick<TrialRequest, 'folds' | 'embargoDays' | 'evaluationDays'>): PurgedFold[] {
  const key = `${request.folds}/${request.embargoDays}/${request.evaluationDays ?? 0}`;
  const bySplit = foldsByTimes.get(ds.start) ?? new Map<string, { end: Int32Array; folds: PurgedFold[] }>();
  foldsByTimes.set(ds.start, bySplit);
  const known = bySplit.get(key);
  if (known?.end === ds.end) return known.folds;
  const folds = developmentFolds(ds, request);
  bySplit.set(key, { end: ds.end, folds });
  return folds;
}

/** Purged folds over the rows before the evaluation period (all rows without one), as dataset row indices. */
function developmentFolds(ds: Pick<TrainingDataset, 'start' | 'end' | 'rows'>, request: Pick<TrialRequest, 'folds' | 'embargoDays' | 'evaluationDays'>): PurgedFold[] {
  const options = { folds: request.folds, embargoDays: request.embargoDays };
  if (!request.evaluationDays) return purgedKFold({ start: ds.start, end: ds.end }, options);
  const first = firstEvaluationDay(ds, request.evaluationDays);
  const rows = prePeriodRows(ds, first);
  if (rows.length === 0) throw new BadInputError(`No row's label ends before the evaluation period (its first day is calendar day ${first}), so there is nothing to cross-validate the search on; use fewer evaluationDays or more history`, 'INVALID_SPLIT');
  const folds = purgedKFold({ start: rows.map((r) => ds.start[r]), end: rows.map((r) => ds.end[r]) }, options);
  const toDataset = (indices: Int32Array) => indices.map((i) => rows[i]);
  return folds.map((f) => ({ ...f, train: toDataset(f.train), test: toDataset(f.test), purged: toDataset(f.purged), embargoed: toDataset(f.embargoed) }));
}

/** Trains on fold `f`'s training rows and scores its test rows. */
export async function evaluateFold(ds: TrainingDataset, request: TrialRequest, f: number, signal?: AbortSignal): Promise<FoldResult> {
  const algorithm = algorithmByName(request.algorithm);
  const classes = classesOf(ds);
  const fold = searchFoldsOf(ds, request)[f];
  const t = Date.now();
  const train = datasetRows(ds, thinRows(ds, trainingRowsOf(ds, fold.train), request.maxTrainRows));
  const test = datasetRows(ds, thinRows(ds, fold.test, request.maxTestRows));
  const model = await algorithm.fit({ features: train.x, labels: train.y, times: { ...train.times, embargoDays: request.embargoDays }, classes, seed: request.seed + f, threads: request.threads, signal }, request.params);
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
