/**
 * Runs cross-section computations (tens of milliseconds for 500 symbols) on a worker thread, so
 * that the consumer keeps reading and publishing new bars meanwhile: without it every refresh
 * would delay the bars that arrive during it by as much.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { decodeRows, encodeJob, type WireRows } from './cross-section-job';
import type { CrossSectionJob, CrossSectionRow } from './online-updater';

const THREAD_SCRIPT = path.join(__dirname, 'cross-section-thread');

type Reply = { id: number; rows: WireRows; error?: undefined } | { id: number; error: string };

export class CrossSectionThread {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (rows: CrossSectionRow[]) => void; reject: (error: Error) => void }>();

  private start(): Worker {
    if (this.worker) return this.worker;
    // The project runs from TypeScript sources through tsx; the thread loads them the same way (as lib/threads does).
    const worker = new Worker(`require('tsx/cjs'); require(${JSON.stringify(THREAD_SCRIPT)});`, { eval: true });
    worker.on('message', (reply: Reply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (reply.error !== undefined) waiter.reject(new Error(`cross-section computation failed on its thread: ${reply.error}`));
      else waiter.resolve(decodeRows(reply.rows));
      if (this.pending.size === 0) worker.unref();
    });
    const fail = (error: Error) => {
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
      this.worker = undefined;
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the cross-section thread exited with code ${code}`)));
    worker.unref();
    this.worker = worker;
    return worker;
  }

  /** Starts the thread now (loading its code takes a while), so that the first computation does not wait for it. */
  warm(): void {
    this.start();
  }

  compute(job: CrossSectionJob): Promise<CrossSectionRow[]> {
    const worker = this.start();
    const id = this.nextId++;
    const { wire, transfer } = encodeJob(job);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref(); // busy: keep the process alive until the answer arrives
      worker.postMessage({ id, job: wire }, transfer);
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }
}
