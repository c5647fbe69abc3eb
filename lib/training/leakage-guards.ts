/**
 * The shuffled-label control: the same algorithm, parameters and cross-validation on labels
 * permuted within each symbol must score at chance. Labels are permuted first and the dataset is
 * then assembled again through the pipeline's own path, so any route by which labels reach the
 * features or the evaluation (a target-derived column, a split that lets test rows into training)
 * keeps working on the permuted labels and shows up as a score above chance. Look-ahead in
 * price-based features is what the plausibility bound of the evaluation report catches.
 */
import { rng } from '../random';
import type { TrainingDataset } from './dataset';
import { crossValidate, type TrialRequest } from './trial';

/** Labels permuted within each symbol (class balance per symbol kept), seeded. */
export function permutedLabels(labels: Int32Array, symbol: Int32Array, seed: number): Int32Array {
  const out = labels.slice();
  const random = rng(seed);
  const bySymbol = new Map<number, number[]>();
  symbol.forEach((s, r) => {
    const rows = bySymbol.get(s) ?? [];
    rows.push(r);
    bySymbol.set(s, rows);
  });
  for (const rows of bySymbol.values()) {
    for (let i = rows.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      const a = out[rows[i]];
      out[rows[i]] = out[rows[j]];
      out[rows[j]] = a;
    }
  }
  return out;
}

export interface ShuffledLabelResult {
  auc: number;
  tolerance: number;
  passed: boolean;
  message: string;
}

export async function shuffledLabelControl(ds: TrainingDataset, assemble: (labels: Int32Array) => TrainingDataset, request: TrialRequest, tolerance: number): Promise<ShuffledLabelResult> {
  const shuffled = assemble(permutedLabels(ds.labels, ds.symbol, request.seed + 7919));
  const { score } = await crossValidate(shuffled, request);
  const passed = Math.abs(score - 0.5) <= tolerance;
  return {
    auc: score,
    tolerance,
    passed,
    message: passed
      ? `on permuted labels ${request.algorithm} scores AUC ${score.toFixed(3)}, at chance (±${tolerance})`
      : `on permuted labels ${request.algorithm} still scores AUC ${score.toFixed(3)} (chance is 0.5 ± ${tolerance}): labels reach the features or the evaluation; the run fails as leaking`,
  };
}
