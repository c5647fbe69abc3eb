/**
 * The held-out slice an algorithm stops early on (gradient boosting's rounds, a network's epochs,
 * a warm start's continued rounds or epochs alike): the rows of the fit split into the rows trained
 * on and the rows that judge each round.
 *
 * With the rows' times (every fit of the pipeline passes them), the slice is purgedHoldout's
 * (lib/validation/splits.ts), as the training's own cross-validation and the SVM's calibration
 * folds cut theirs: the last whole decision days holding at least ⌊rows × validationFraction⌋
 * rows, and trained on only the rows before it whose labels end before its first day. Cut by row
 * count instead, a day's rows fell on both sides, and the rows just before the slice, whose labels
 * run into it (a 20-session label shares 19 closes with the next day's), taught the model the
 * slice's outcomes: on a random walk the slice showed an edge (AUC 0.55–0.62) and kept rounds that
 * were worse on the next days. The purged rows are trained on by neither side.
 *
 * When an honest slice cannot be had (one decision day, or the purge leaves the fit fewer rows than
 * the slice holds: a 21-day warm start under 20-day labels leaves none), there is no early
 * stopping: every row is trained on, and the record says why and what the algorithm did instead
 * (a cold fit runs its configured rounds or epochs; a continued boosting ensemble adds no round,
 * since it keeps only rounds that beat it on held-out rows).
 * Without times (library use on a bare matrix) the slice is the last rows by count, as before,
 * unpurged; the record says so.
 */
import { BadInputError } from '../lib/errors';
import { purgedHoldout } from '../lib/validation/splits';
import type { FeatureMatrix, FitInput } from './model';

/** Rows of a fit: a view of the input's rows where they are contiguous, a copy otherwise. */
export interface FitRows {
  features: FeatureMatrix;
  labels: Int32Array;
  weights?: Float64Array;
}

/** How the fit chose its stopping point, stored with the model's parameters (JSON). */
export type EarlyStoppingRecord =
  | {
      /** Whole decision days, purged: `rows` rows of days `firstDay`..`lastDay` (calendar indices of the fit's times). */
      heldOut: 'days';
      rows: number;
      days: number;
      firstDay: number;
      lastDay: number;
      /** Rows before the slice whose labels reach its first day: trained on by neither side. */
      purgedRows: number;
    }
  | { heldOut: 'last rows'; rows: number; reason: string }
  | {
      heldOut: 'none';
      reason: string;
      /** What the fit did instead of stopping early (set by the algorithm). */
      trained?: string;
    };

export interface EarlyStoppingSplit {
  fit: FitRows;
  /** Absent: no early stopping (see record.reason). */
  validation?: FitRows;
  record: EarlyStoppingRecord;
}

/** Rows `indices` (ascending) of the input: a view when they are rows [from, from + length). */
function rowsOf(input: FitInput, indices: Int32Array): FitRows {
  const x = input.features;
  const p = x.featureNames.length;
  const n = indices.length;
  const from = n > 0 ? indices[0] : 0;
  if (n === 0 || indices[n - 1] - from === n - 1) {
    return { features: { values: x.values.subarray(from * p, (from + n) * p), rows: n, featureNames: x.featureNames }, labels: input.labels.subarray(from, from + n), weights: input.weights?.subarray(from, from + n) };
  }
  const values = new Float64Array(n * p);
  for (let i = 0; i < n; i++) values.set(x.values.subarray(indices[i] * p, indices[i] * p + p), i * p);
  return { features: { values, rows: n, featureNames: x.featureNames }, labels: indices.map((r) => input.labels[r]), weights: input.weights && Float64Array.from(indices, (r) => (input.weights as Float64Array)[r]) };
}

const range = (from: number, to: number) => Int32Array.from({ length: to - from }, (_, i) => from + i);

/** The record with what the fit did instead of stopping early, when it did not. */
export function withTrained(record: EarlyStoppingRecord, trained: string): EarlyStoppingRecord {
  return record.heldOut === 'none' ? { ...record, trained } : record;
}

/**
 * Splits the input's rows for early stopping on `fraction` of them (0: none). `what` names the
 * algorithm in errors.
 */
export function earlyStoppingSplit(input: FitInput, fraction: number, what: string): EarlyStoppingSplit {
  const rows = input.features.rows;
  const all = (reason: string): EarlyStoppingSplit => ({ fit: rowsOf(input, range(0, rows)), record: { heldOut: 'none', reason } });
  if (fraction === 0) return all('validationFraction is 0');
  const wanted = Math.floor(rows * fraction);
  if (wanted < 1) return all(`validationFraction ${fraction} of ${rows} rows holds out no row`);
  const times = input.times;
  if (!times) {
    return {
      fit: rowsOf(input, range(0, rows - wanted)),
      validation: rowsOf(input, range(rows - wanted, rows)),
      record: { heldOut: 'last rows', rows: wanted, reason: 'no row times given: the last rows by count, not purged of labels reaching into them' },
    };
  }
  if (times.start.length !== rows || times.end.length !== rows) {
    throw new BadInputError(`${what}: input.times has ${times.start.length} decision days and ${times.end.length} label ends for ${rows} rows; pass one of each per row`, 'INVALID_INPUT');
  }
  let fold;
  try {
    fold = purgedHoldout(times, fraction);
  } catch (error) {
    if (!(error instanceof BadInputError)) throw error;
    return all(`no purged held-out slice: ${error.message}`);
  }
  const days = new Set(fold.test.map((r) => times.start[r])).size;
  if (fold.train.length < fold.test.length) {
    return all(
      `no purged held-out slice: holding out the last ${days} decision day(s) (${fold.test.length} rows) purges ${fold.purged.length} of the ${fold.train.length + fold.purged.length} rows before them ` +
        '(labels reaching into the slice), leaving fewer rows to fit than to judge',
    );
  }
  return {
    fit: rowsOf(input, fold.train),
    validation: rowsOf(input, fold.test),
    record: { heldOut: 'days', rows: fold.test.length, days, firstDay: fold.testStartDay, lastDay: fold.testEndDay, purgedRows: fold.purged.length },
  };
}
