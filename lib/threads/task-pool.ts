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
  private readonly workers: Array<Worker | undefined> = [];
  /** Tasks posted to each thread and not yet answered. */
  private readonly inFlight: number[];
  private nextId = 0;
  /** runOnFreeThread jobs waiting for a thread, oldest first; each is started on the thread given. */
  private readonly waiting: Array<(index: number) => void> = [];

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
    let w = this.workers[i];
    if (!w) {
      // The project runs from TypeScript sources through tsx; threads load them the same way.
      w = new Worker(`require('tsx/cjs'); require(${JSON.stringify(THREAD_SCRIPT)});`, { eval: true });
      w.unref();
      this.workers[i] = w;
    }
    return w;
  }

  /** Of threads 0..count-1, those with no task in flight. */
  idleThreads(count: number): number[] {
    return Array.from({ length: Math.min(count, this.size) }, (_, i) => i).filter((i) => this.inFlight[i] === 0);
  }

  /**
   * Runs `task` on a thread with nothing in flight; when every thread is busy it waits its turn,
   * first come first served. A thread thus runs one such job at a time: a job posted to a busy
   * thread ran at every await of the one already there (a network's fit yields between epochs), so
   * a 0.2 s fold beside a seconds-long one took as long as both, and a search of short folds ended
   * a retrain last. Jobs finish out of order, so a fixed thread per job would also leave one idle.
   */
  runOnFreeThread<T extends TaskName>(task: T, input: Parameters<ThreadTasks[T]>[0]): Promise<Awaited<ReturnType<ThreadTasks[T]>>> {
    const free = this.waiting.length === 0 ? this.idleThreads(this.size)[0] : undefined;
    if (free !== undefined) return this.run(free, task, input);
    return new Promise((resolve, reject) => this.waiting.push((index) => this.run(index, task, input).then(resolve, reject)));
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
        this.settled(index, w);
        if (response.badInput) reject(new BadInputError(`${task}: ${response.badInput.message}`, response.badInput.code));
        else if (response.error !== undefined) reject(new Error(`${task} failed in a worker thread: ${response.error}`));
        else resolve(response.result as Awaited<ReturnType<ThreadTasks[T]>>);
      };
      const onError = (error: Error) => {
        w.off('message', onMessage);
        // The thread has ended (an uncaught error): the next task on this index starts a new one.
        if (this.workers[index] === w) this.workers[index] = undefined;
        this.settled(index, w);
        reject(error);
      };
      w.ref(); // busy: keep the process alive until the answer arrives
      w.on('message', onMessage);
      w.once('error', onError);
      w.postMessage(request);
    });
  }

  /** A task on thread `index` has answered or failed: the thread is let go, or given the next waiting job, once nothing is in flight. */
  private settled(index: number, w: Worker): void {
    if (--this.inFlight[index] > 0) return;
    // Idle only when every task posted to it has answered: a thread let go with a task still
    // running let a process with nothing else to wait for exit before the answer came.
    w.unref();
    this.waiting.shift()?.(index);
  }

  /** Starts every thread and waits until each answers (a long-running worker pays this once, at start). */
  async warmUp(): Promise<void> {
    await Promise.all(Array.from({ length: this.size }, (_, i) => this.run(i, 'symbolColumns', { specs: [], universe: [], next: new Int32Array(1), chunk: 1, blocks: { values: new Float64Array(0), offsets: new Float64Array(1), count: 0 } })));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w?.terminate()));
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
