/**
 * Walk-forward analysis: the model is retrained every `testDays` on the past only (expanding or
 * rolling window) and predicts the next block, so every prediction over the evaluation period is
 * out of sample. The predictions are filed by content id for validation and the backtest.
 */
import { algorithmByName } from '../../models/algorithms';
import { walkForwardWindows } from '../validation/splits';
import type { ArtifactStore } from '../artifacts/artifact-store';
import { decodeArrayFile, encodeArrayFile, readArrayFile, writeArrayFile } from './array-file';
import { trainingRowsOf, type TrainingDataset } from './dataset';
import { classesOf, datasetRows, defaultEmbargoDaysOf } from './trial';
import { thinRows } from './thin-rows';
import { firstEvaluationDay } from './evaluation-period';
import { continuedRows, type WarmStartSettings } from './warm-start';
import type { FeatureMatrix, TrainedModel } from '../../models/model';
import { idlePoolThreads } from '../threads/task-pool';
import { evenShares } from '../threads/shares';

export interface WalkForwardRequest {
  algorithm: string;
  params: Record<string, unknown>;
  mode: 'expanding' | 'rolling';
  /** Evaluation period: the last `evaluationDays` decision days of the dataset. */
  evaluationDays: number;
  /** Retrain step (length of each test block), in trading days. */
  testDays: number;
  /** Rolling window length (rolling mode); ignored when expanding. */
  trainDays: number;
  embargoDays: number;
  /**
   * The embargo of the experiment's purged cross-validation, which a model's own folds use too (the
   * SVM's probability calibration); not `embargoDays`, the gap before each test block. Absent
   * (requests made before it was passed): defaultEmbargoDaysOf.
   */
  cvEmbargoDays?: number;
  maxTrainRows: number;
  seed: number;
  threads: number;
  /**
   * Simulates warm-started retrains (lib/training/warm-start.ts): the first window is fitted from
   * scratch, every later one continues the previous window's model on its newer training rows.
   * Ignored by algorithms without a warm start.
   */
  warmStart?: WarmStartSettings;
}

export interface WalkForwardPredictions {
  datasetId: string;
  algorithm: string;
  classes: number;
  /** Dataset rows predicted (ascending), and their class probabilities (rows × classes). */
  rows: Int32Array;
  proba: Float64Array;
  windows: Array<{ testStartDay: number; testEndDay: number; trainRows: number; testRows: number; continued?: boolean }>;
}

export async function walkForwardPredict(ds: TrainingDataset, datasetId: string, request: WalkForwardRequest, onWindow?: (done: number, total: number) => void, signal?: AbortSignal): Promise<WalkForwardPredictions> {
  const decisionDays = [...new Set(ds.start)].sort((a, b) => a - b);
  const firstTestDay = firstEvaluationDay(ds, request.evaluationDays);
  const trainDays = request.mode === 'rolling' ? request.trainDays : firstTestDay - decisionDays[0];
  const windows = walkForwardWindows({ start: ds.start, end: ds.end }, { mode: request.mode, trainDays, testDays: request.testDays, embargoDays: request.embargoDays, firstTestDay });
  const algorithm = algorithmByName(request.algorithm);
  const classes = classesOf(ds);
  const cvEmbargoDays = request.cvEmbargoDays ?? defaultEmbargoDaysOf(ds);
  const rows = new Int32Array(windows.reduce((n, w) => n + w.test.length, 0));
  const proba = new Float64Array(rows.length * classes);
  let o = 0;
  const summary: WalkForwardPredictions['windows'] = [];
  const warm = request.warmStart && algorithm.continueFit ? request.warmStart : undefined;
  // The warm chain: the previous window's model, the last decision day it was fitted on, and the
  // last day any label it has seen looks at (every model of the chain included).
  let previous: { model: TrainedModel; trainedThrough: number; seenThrough: number } | undefined;
  for (const [i, w] of windows.entries()) {
    signal?.throwIfAborted();
    const continuing = warm && previous ? { warm, from: previous } : undefined;
    const trainable = trainingRowsOf(ds, w.train);
    const chosen = thinRows(ds, continuing ? continuedRows(trainable, ds.start, continuing.from.trainedThrough, continuing.warm.recentDays) : trainable, request.maxTrainRows);
    const train = datasetRows(ds, chosen);
    const test = datasetRows(ds, w.test);
    const fit = { features: train.x, labels: train.y, times: { ...train.times, embargoDays: cvEmbargoDays }, classes, seed: request.seed + i, threads: request.threads, signal };
    const model = continuing ? await (algorithm.continueFit as NonNullable<typeof algorithm.continueFit>)(continuing.from.model, fit, request.params, continuing.warm) : await algorithm.fit(fit, request.params);
    if (warm) {
      let trainedThrough = previous?.trainedThrough ?? -1;
      let seenThrough = previous?.seenThrough ?? -1;
      for (const r of chosen) {
        trainedThrough = Math.max(trainedThrough, ds.start[r]);
        seenThrough = Math.max(seenThrough, ds.end[r]);
      }
      // Never expected (training rows are purged of labels reaching the block); checked because a
      // chain carries what earlier models saw into later windows.
      if (seenThrough >= w.testStartDay) throw new Error(`warm walk-forward: the model predicting days ${w.testStartDay}..${w.testEndDay} has seen labels up to day ${seenThrough}`);
      previous = { model, trainedThrough, seenThrough };
    }
    rows.set(w.test, o);
    proba.set(await predictProbaInParts(model, test.x, request.threads), o * classes);
    o += w.test.length;
    summary.push({ testStartDay: w.testStartDay, testEndDay: w.testEndDay, trainRows: train.y.length, testRows: w.test.length, ...(continuing ? { continued: true } : {}) });
    onWindow?.(i + 1, windows.length);
  }
  return { datasetId, algorithm: request.algorithm, classes, rows, proba, windows: summary };
}

/**
 * predictProba of many rows, shared out over `threads` threads when the model predicts row by row
 * (the same bits as one call): an SVM's out-of-sample block of ~47,000 rows against thousands of
 * support vectors took ~2.7 s on one thread, two thirds of its walk-forward.
 */
async function predictProbaInParts(model: TrainedModel, x: FeatureMatrix, threads: number): Promise<Float64Array> {
  // Only threads with nothing in flight: a part queued behind another job's long task (a search's
  // fold, a served fit) waited for it, where predicting it here takes a fraction of a second.
  const helpers = model.rowwise && x.rows >= 2000 ? idlePoolThreads(threads) : undefined;
  if (!helpers) return model.predictProba(x);
  const { pool, indices } = helpers;
  const parts = indices.length + 1;
  const p = x.featureNames.length;
  const bounds = evenShares(0, x.rows, parts);
  const cut = (k: number) => bounds[k];
  const span = (k: number) => [cut(k) * p, cut(k + 1) * p] as const;
  const part = (k: number, values: Float64Array): FeatureMatrix => ({ ...x, rows: cut(k + 1) - cut(k), values });
  const state = model.state();
  // The threads get copies of their rows (a view would send its whole buffer).
  const others = Array.from({ length: parts - 1 }, (_, i) => pool.run(indices[i], 'predictProba', { state, x: part(i + 1, x.values.slice(...span(i + 1))) }));
  others.forEach((o) => o.catch(() => undefined)); // awaited below
  const out = new Float64Array(x.rows * model.classes);
  out.set(model.predictProba(part(0, x.values.subarray(...span(0)))));
  (await Promise.all(others)).forEach((proba, i) => out.set(proba, cut(i + 1) * model.classes));
  return out;
}

const FOLDER = 'predictions';
const PREFIX = 'wf';

export async function writePredictions(store: ArtifactStore, p: WalkForwardPredictions): Promise<string> {
  const { rows, proba, ...meta } = p;
  return (await writeArrayFile(store, FOLDER, PREFIX, encodeArrayFile(meta, { rows, proba }))).id;
}

export async function readPredictions(store: ArtifactStore, id: string): Promise<WalkForwardPredictions> {
  const { meta, arrays } = decodeArrayFile<Omit<WalkForwardPredictions, 'rows' | 'proba'>>(await readArrayFile(store, FOLDER, PREFIX, id), `predictions ${id}`);
  return { ...meta, rows: arrays.get('rows') as Int32Array, proba: arrays.get('proba') as Float64Array };
}
