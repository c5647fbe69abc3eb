/**
 * A small pool of worker threads for CPU-heavy work (features per symbol, trees of a forest).
 * Threads start on first use, are reused for the life of the process (starting one costs a few
 * hundred milliseconds) and never keep an idle process alive.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { BadInputError } from '../errors';
import type { TaskRequest, TaskResponse } from './task-thread';
import type { TaskName, ThreadTasks } from './tasks';

const THREAD_SCRIPT = path.join(__dirname, 'task-thread');

export class TaskPool {
  private readonly workers: Worker[] = [];
  /** Tasks posted to each thread and not yet answered. */
  private readonly inFlight: number[];
  private nextId = 0;

  constructor(private threads: number) {
    this.inFlight = new Array<number>(threads).fill(0);
  }

  get size(): number {
    return this.threads;
  }

  /** Takes up to `size` threads (never fewer than now); the new ones start on first use. */
  grow(size: number): void {
    while (this.threads < size) this.inFlight[this.threads++] = 0;
  }

  private worker(i: number): Worker {
    if (!this.workers[i]) {
      // The project runs from TypeScript sources through tsx; threads load them the same way.
      const w = new Worker(`require('tsx/cjs'); require(${JSON.stringify(THREAD_SCRIPT)});`, { eval: true });
      w.unref();
      this.workers[i] = w;
    }
    return this.workers[i];
  }

  /**
   * The thread with the fewest unanswered tasks (the lowest index on a tie). Independent jobs such as
   * activities go there: picking threads in turn would queue a job behind a long one on a busy
   * thread while another thread sits idle, since jobs finish out of order.
   */
  leastBusy(): number {
    let best = 0;
    for (let i = 1; i < this.size; i++) if (this.inFlight[i] < this.inFlight[best]) best = i;
    return best;
  }

  /** Of threads 0..count-1, those with no task in flight. */
  idleThreads(count: number): number[] {
    return Array.from({ length: Math.min(count, this.size) }, (_, i) => i).filter((i) => this.inFlight[i] === 0);
  }

  /** Runs `task` on the least busy thread (see leastBusy). */
  runOnLeastBusy<T extends TaskName>(task: T, input: Parameters<ThreadTasks[T]>[0]): Promise<Awaited<ReturnType<ThreadTasks[T]>>> {
    return this.run(this.leastBusy(), task, input);
  }

  /** Runs `task` on thread `i % size`. */
  run<T extends TaskName>(i: number, task: T, input: Parameters<ThreadTasks[T]>[0]): Promise<Awaited<ReturnType<ThreadTasks[T]>>> {
    const index = i % this.size;
    const w = this.worker(index);
    const request: TaskRequest = { id: this.nextId++, task, input };
    this.inFlight[index]++;
    return new Promise((resolve, reject) => {
      const onMessage = (response: TaskResponse) => {
        if (response.id !== request.id) return;
        w.off('message', onMessage);
        w.off('error', onError);
        this.inFlight[index]--;
        // Idle only when every task posted to it has answered: a thread let go with a task still
        // running let a process with nothing else to wait for exit before the answer came.
        if (this.inFlight[index] === 0) w.unref();
        if (response.badInput) reject(new BadInputError(`${task}: ${response.badInput.message}`, response.badInput.code));
        else if (response.error !== undefined) reject(new Error(`${task} failed in a worker thread: ${response.error}`));
        else resolve(response.result as Awaited<ReturnType<ThreadTasks[T]>>);
      };
      const onError = (error: Error) => {
        w.off('message', onMessage);
        this.inFlight[index]--;
        reject(error);
      };
      w.ref(); // busy: keep the process alive until the answer arrives
      w.on('message', onMessage);
      w.once('error', onError);
      w.postMessage(request);
    });
  }

  /** Starts every thread and waits until each answers (a long-running worker pays this once, at start). */
  async warmUp(): Promise<void> {
    await Promise.all(Array.from({ length: this.size }, (_, i) => this.run(i, 'symbolColumns', { specs: [], universe: [], next: new Int32Array(1), chunk: 1, blocks: { values: new Float64Array(0), offsets: new Float64Array(1), count: 0 } })));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}

let shared: TaskPool | undefined;
/**
 * The process-wide pool; `threads` counts the calling thread, so the pool holds at least
 * threads - 1. It grows when a caller asks for more than an earlier one did: a job that keeps one
 * task running on each of its threads (boosting's histogram ranges) would otherwise wait forever
 * for a second task queued behind the first on the same thread.
 */
export function sharedPool(threads: number): TaskPool | undefined {
  if (threads <= 1) return undefined;
  shared ??= new TaskPool(threads - 1);
  shared.grow(threads - 1);
  return shared;
}

/**
 * Pool threads for a job that keeps a task on each of them for its whole length (a served thread,
 * lib/threads/served-thread.ts): of the `threads - 1` the job may use besides its own, those with
 * nothing in flight now. A busy one is left out rather than waited for, since its task may be long
 * (a permutation importance while the final model trains on the worker's main thread), and such
 * jobs give the same result on any number of threads.
 */
export function idlePoolThreads(threads: number): { pool: TaskPool; indices: number[] } | undefined {
  const pool = sharedPool(threads);
  const indices = pool?.idleThreads(threads - 1) ?? [];
  return pool && indices.length > 0 ? { pool, indices } : undefined;
}
