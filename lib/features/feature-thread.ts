/**
 * Worker-thread side of FeatureThreadPool: computes per-symbol feature columns for a share of the
 * universe and transfers them back without copying.
 */
import { parentPort } from 'node:worker_threads';
import type { BarSeries } from '../market-data/bar';
import type { SymbolFeatureSpec } from './feature-set';
import { computeSymbolFeature } from './symbol-features';

export interface ThreadRequest {
  id: number;
  specs: SymbolFeatureSpec[];
  universe: BarSeries[];
}
export interface ThreadResponse {
  id: number;
  columns?: Float64Array[][];
  error?: string;
}

parentPort?.on('message', (request: ThreadRequest) => {
  try {
    const columns = request.universe.map((s) => request.specs.flatMap((spec) => computeSymbolFeature(spec, s)));
    const buffers = new Set<ArrayBuffer>();
    for (const list of columns) for (const c of list) buffers.add(c.buffer as ArrayBuffer);
    parentPort?.postMessage({ id: request.id, columns } satisfies ThreadResponse, [...buffers]);
  } catch (error) {
    parentPort?.postMessage({ id: request.id, error: (error as Error).stack ?? String(error) } satisfies ThreadResponse);
  }
});
