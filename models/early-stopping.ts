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
 * When the share asked for cannot be had honestly (the purge leaves the fit fewer rows than the
 * slice holds: validationFraction 0.5 under any overlapping labels), the slice shrinks by whole
 * days until it can, and the record says so; turning early stopping off instead ran every round
 * unjudged (on a random walk, 200/200 rounds, next-days log loss 1.1–1.8 against ln 2).
 * When not even one day can be held out honestly (one decision day, or 20-day labels over 21 days:
 * every earlier row's label reaches it), there is no early stopping, and every algorithm falls
 * back the same way rather than run its configured rounds unjudged: a cold fit runs only as many
 * rounds or epochs as early stopping waits for an improvement (earlyStoppingRounds, patience),
 * a continued fit adds none and returns the champion's ensemble or weights.
 *
 * Without times there is no slice: a bare matrix says nothing about whether its rows' labels
 * overlap, and a slice of the last rows then leaks (above). As the SVM's calibration, a fit that
 * stops early refuses; rows whose labels are independent opt in with independentRowTimes
 * (models/model.ts), and validationFraction 0 asks for no slice at all.
 */
import { BadInputError } from '../lib/errors';
import { purgedHoldout, purgedHoldoutDays, type PurgedFold } from '../lib/validation/splits';
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
      /** Present when the share asked for left fewer rows to fit than to judge: why the slice holds fewer days. */
      shrunk?: string;
    }
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
 * algorithm and call in errors.
 */
export function earlyStoppingSplit(input: FitInput, fraction: number, what: string): EarlyStoppingSplit {
  const rows = input.features.rows;
  const all = (reason: string): EarlyStoppingSplit => ({ fit: rowsOf(input, range(0, rows)), record: { heldOut: 'none', reason } });
  if (fraction === 0) return all('validationFraction is 0');
  const times = input.times;
  if (!times) {
    throw new BadInputError(
      `${what}: no input.times (each row's decision day and label end): early stopping holds out the last whole days purged of the rows whose labels reach them, ` +
        `and without times a slice of the last rows would share label windows with the rows fitted. Pass times (datasetRows gives them for dataset rows; ` +
        `independentRowTimes(rows) for rows whose labels do not overlap), or set validationFraction 0 to stop early on nothing`,
      'INVALID_INPUT',
    );
  }
  const wanted = Math.floor(rows * fraction);
  if (wanted < 1) return all(`validationFraction ${fraction} of ${rows} rows holds out no row`);
  if (times.start.length !== rows || times.end.length !== rows) {
    throw new BadInputError(`${what}: input.times has ${times.start.length} decision days and ${times.end.length} label ends for ${rows} rows; pass one of each per row`, 'INVALID_INPUT');
  }
  let fold: PurgedFold;
  try {
    fold = purgedHoldout(times, fraction);
  } catch (error) {
    if (!(error instanceof BadInputError)) throw error;
    return all(`no purged held-out slice: ${error.message}`);
  }
  const daysOf = (f: PurgedFold) => new Set(f.test.map((r) => times.start[r])).size;
  const asked = fold;
  // Fewer held-out days purge no more rows and judge fewer: shrink until the fit keeps at least as
  // many rows as it judges, down to one day (the check is monotone in the days, so the first fits).
  for (let days = daysOf(asked) - 1; fold.train.length < fold.test.length && days >= 1; days--) fold = purgedHoldoutDays(times, days);
  const days = daysOf(fold);
  if (fold.train.length < fold.test.length) {
    return all(
      `no purged held-out slice: even the last decision day alone (${fold.test.length} rows) purges ${fold.purged.length} of the ${fold.train.length + fold.purged.length} rows before it ` +
        '(labels reaching into the slice), leaving fewer rows to fit than to judge',
    );
  }
  const record: EarlyStoppingRecord = { heldOut: 'days', rows: fold.test.length, days, firstDay: fold.testStartDay, lastDay: fold.testEndDay, purgedRows: fold.purged.length };
  if (fold !== asked) {
    record.shrunk =
      `validationFraction ${fraction} asks for ${wanted} rows (${daysOf(asked)} days); holding them out purges ${asked.purged.length} of the ${asked.train.length + asked.purged.length} rows before them, ` +
      `leaving fewer rows to fit than to judge, so the slice holds the last ${days} days`;
  }
  return { fit: rowsOf(input, fold.train), validation: rowsOf(input, fold.test), record };
}
