/**
 * The evaluation period of a dataset: its last `evaluationDays` decision days, which the
 * walk-forward predicts out of sample and every verdict is judged on. What may be used to choose
 * a model (the hyperparameter search, the naive baselines' fitted parts) is what was known before
 * it: the rows whose labels ended before its first day.
 */
import { BadInputError } from '../errors';
import type { TrainingDataset } from './dataset';

/** As days: the evaluation period's first day, and the last day a label of the search's rows reached. */
export interface SearchWindow {
  evaluationFrom: string;
  /** The last label end of the rows known before the period (prePeriodRows): the hyperparameter search's rows. */
  searchThrough: string;
}

/** The first day of the evaluation period: the last `evaluationDays` decision days of the dataset. */
export function firstEvaluationDay(ds: Pick<TrainingDataset, 'start'>, evaluationDays: number): number {
  const decisionDays = [...new Set(ds.start)].sort((a, b) => a - b);
  if (evaluationDays >= decisionDays.length) throw new BadInputError(`evaluationDays (${evaluationDays}) must be shorter than the dataset's ${decisionDays.length} decision days`, 'INVALID_SPLIT');
  return decisionDays[decisionDays.length - evaluationDays];
}

/** Dataset rows of the evaluation period, ascending. */
export function evaluationRowsOf(ds: Pick<TrainingDataset, 'start' | 'rows'>, evaluationDays: number): Int32Array {
  const first = firstEvaluationDay(ds, evaluationDays);
  const out: number[] = [];
  for (let r = 0; r < ds.rows; r++) if (ds.start[r] >= first) out.push(r);
  return Int32Array.from(out);
}

/** Rows whose label window ended before the first evaluation day: what was known when evaluation began. */
export function prePeriodRows(ds: Pick<TrainingDataset, 'end' | 'rows'>, firstEvaluationDay: number): Int32Array {
  const out: number[] = [];
  for (let r = 0; r < ds.rows; r++) if (ds.end[r] < firstEvaluationDay) out.push(r);
  return Int32Array.from(out);
}

/**
 * The evaluation period's first day and the last day the search's rows looked at, as days; undefined
 * when `evaluationDays` leaves no such period or no row before it (the search then fails with its own
 * error). What a later warm start checks the parameters it would carry against (lib/training/warm-start.ts).
 */
export function searchWindowOf(ds: Pick<TrainingDataset, 'start' | 'end' | 'rows' | 'days'>, evaluationDays: number): SearchWindow | undefined {
  if (evaluationDays >= new Set(ds.start).size) return undefined;
  const first = firstEvaluationDay(ds, evaluationDays);
  let last = -1;
  for (let r = 0; r < ds.rows; r++) if (ds.end[r] < first && ds.end[r] > last) last = ds.end[r];
  return last < 0 ? undefined : { evaluationFrom: ds.days[first], searchThrough: ds.days[last] };
}
