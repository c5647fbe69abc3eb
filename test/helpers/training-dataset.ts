import { rng } from '../../lib/random';
import type { TrainingDataset } from '../../lib/training/dataset';

/**
 * An in-memory dataset: `symbols` × `days` rows in time order, horizon-day labels. With `signal`,
 * feature f0 carries the label (through noise); f1, f2 are noise. With `leak`, f3 is the label itself.
 */
export function syntheticTrainingDataset(options: { symbols?: number; days?: number; horizon?: number; signal?: number; leak?: boolean; seed?: number } = {}): TrainingDataset {
  const { symbols = 4, days = 300, horizon = 5, signal = 1, leak = false, seed = 1 } = options;
  const next = rng(seed);
  const columns = ['f0', 'f1', 'f2', ...(leak ? ['f3'] : [])];
  const p = columns.length;
  const usable = days - horizon;
  const rows = usable * symbols;
  const ds: TrainingDataset = {
    featureSetVersion: 'fs-test-000000000000',
    label: { kind: 'direction', horizon, deadZone: 0 },
    columns,
    days: Array.from({ length: days }, (_, d) => `2020-${String(1 + Math.floor(d / 28)).padStart(2, '0')}-${String(1 + (d % 28)).padStart(2, '0')}`),
    symbols: Array.from({ length: symbols }, (_, s) => `S${s}`),
    rows,
    values: new Float64Array(rows * p),
    labels: new Int32Array(rows),
    start: new Int32Array(rows),
    end: new Int32Array(rows),
    symbol: new Int32Array(rows),
    forwardReturn: new Float64Array(rows),
  };
  for (let d = 0, r = 0; d < usable; d++) {
    for (let s = 0; s < symbols; s++, r++) {
      const y = next() < 0.5 ? 1 : 0;
      ds.labels[r] = y;
      ds.start[r] = d;
      ds.end[r] = d + horizon;
      ds.symbol[r] = s;
      ds.forwardReturn[r] = (y ? 1 : -1) * 0.01 * next();
      ds.values[r * p] = signal * (y - 0.5) + (next() - 0.5) * 2;
      ds.values[r * p + 1] = next();
      ds.values[r * p + 2] = next();
      if (leak) ds.values[r * p + 3] = y;
    }
  }
  return ds;
}
