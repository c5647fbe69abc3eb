/** Classification scores used by benchmarks and, later, by the validation step. */

/** Share of rows whose most probable class is the label. */
export function accuracyOf(proba: Float64Array, labels: Int32Array, classes: number): number {
  let hits = 0;
  for (let r = 0; r < labels.length; r++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (proba[r * classes + k] > proba[r * classes + best]) best = k;
    if (best === labels[r]) hits++;
  }
  return hits / labels.length;
}

/** Binary ROC AUC of P(class 1), ties counted half (Mann–Whitney U). */
export function rocAucOf(proba: Float64Array, labels: Int32Array): number {
  const n = labels.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => proba[a * 2 + 1] - proba[b * 2 + 1]);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && proba[order[j + 1] * 2 + 1] === proba[order[i] * 2 + 1]) j++;
    const rank = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) if (labels[order[t]] === 1) {
      positives++;
      rankSum += rank;
    }
    i = j + 1;
  }
  const negatives = n - positives;
  return positives === 0 || negatives === 0 ? NaN : (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}
