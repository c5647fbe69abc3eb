/**
 * Spreads per-symbol feature computation over worker threads (the bars are independent per
 * symbol; market features and normalisation stay on the calling thread). Threads are created once
 * per process and reused, because starting one costs a few hundred milliseconds.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BarSeries } from '../market-data/bar';
import type { SymbolFeatureSpec } from './feature-set';
import type { ThreadRequest, ThreadResponse } from './feature-thread';
import { computeSymbolFeature } from './symbol-features';

const THREAD_SCRIPT = path.join(__dirname, 'feature-thread');

export class FeatureThreadPool {
  private readonly workers: Worker[] = [];
  private nextId = 0;

  /** `threads` counts the calling thread too: 2 means one worker thread plus this one. */
  constructor(private readonly threads: number) {}

  private worker(i: number): Worker {
    if (!this.workers[i]) {
      // Loads the TypeScript source through tsx, as the rest of the project runs.
      const w = new Worker(`require('tsx/cjs'); require(${JSON.stringify(THREAD_SCRIPT)});`, { eval: true });
      w.unref(); // an idle pool never keeps the process alive
      this.workers[i] = w;
    }
    return this.workers[i];
  }

  private run(w: Worker, request: ThreadRequest): Promise<Float64Array[][]> {
    return new Promise((resolve, reject) => {
      const onMessage = (response: ThreadResponse) => {
        if (response.id !== request.id) return;
        w.off('message', onMessage);
        w.off('error', onError);
        w.unref();
        if (response.error || !response.columns) reject(new Error(`feature thread failed: ${response.error ?? 'no result'}`));
        else resolve(response.columns);
      };
      const onError = (error: Error) => {
        w.off('message', onMessage);
        reject(error);
      };
      w.ref(); // busy: keep the process alive until the answer arrives
      w.on('message', onMessage);
      w.once('error', onError);
      w.postMessage(request);
    });
  }

  /** Columns of every symbol-level spec, in spec order, per symbol of `universe` (same order). */
  async symbolColumns(specs: SymbolFeatureSpec[], universe: readonly BarSeries[]): Promise<Float64Array[][]> {
    const parts = Math.max(1, Math.min(this.threads, universe.length));
    const size = Math.ceil(universe.length / parts);
    const slices = Array.from({ length: parts }, (_, p) => universe.slice(p * size, (p + 1) * size));
    // Dates stay here: per-symbol features read only prices and volumes, and cloning strings is slow.
    const remote = slices.slice(1).map((slice, i) => this.run(this.worker(i), { id: this.nextId++, specs, universe: slice.map((s) => ({ ...s, dates: [] })) }));
    const local = slices[0].map((s) => specs.flatMap((spec) => computeSymbolFeature(spec, s)));
    return [local, ...(await Promise.all(remote))].flat();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
