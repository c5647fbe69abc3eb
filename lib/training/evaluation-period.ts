/**
 * The evaluation period of a dataset: its last `evaluationDays` decision days, which the
 * walk-forward predicts out of sample and every verdict is judged on. What may be used to choose
 * a model (the hyperparameter search, the naive baselines' fitted parts) is what was known before
 * it: the rows whose labels ended before its first day.
 */
import { BadInputError } from '../errors';
import type { TrainingDataset } from './dataset';

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
