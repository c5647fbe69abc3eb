/**
 * Cluster of each row: distinct days in ascending order, cut into blocks of `blockDays`
 * consecutive days. A last block shorter than half a block joins the one before, so no cluster is
 * a stub. What lib/stats/dependent-inference.ts used for labels whose windows overlap before it
 * counted every pair of rows within the lags (a PanelDependence); tests keep it to measure the
 * panel variance against it.
 */
export function dayBlockClusters(dayIndex: Int32Array, blockDays: number): { cluster: Int32Array; clusters: number } {
  if (!Number.isInteger(blockDays) || blockDays < 1) throw new Error(`blockDays must be an integer >= 1, got ${blockDays}`);
  const days = [...new Set(dayIndex)].sort((a, b) => a - b);
  let clusters = Math.ceil(days.length / blockDays);
  const last = days.length - (clusters - 1) * blockDays;
  if (clusters > 1 && last < blockDays / 2) clusters--;
  const rank = new Map(days.map((d, i) => [d, Math.min(Math.floor(i / blockDays), clusters - 1)]));
  return { cluster: Int32Array.from(dayIndex, (d) => rank.get(d) as number), clusters };
}
