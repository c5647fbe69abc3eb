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

/** A task posted to a thread and not yet answered. */
interface Pending {
  task: TaskName;
  resolve(result: unknown): void;
  reject(error: Error): void;
}

/** One started thread and what it owes. A thread that ends is dropped, and its index starts a new one on next use. */
interface Thread {
  worker: Worker;
  pending: Map<number, Pending>;
  ended: boolean;
}

/** A runOnFreeThread job waiting for a thread. */
interface Waiting {
  start(index: number): void;
  reject(error: Error): void;
}

export class TaskPool {
  private readonly threadAt: Array<Thread | undefined> = [];
  private nextId = 0;
  /** runOnFreeThread jobs waiting for a thread, oldest first. */
  private readonly waiting: Waiting[] = [];

  constructor(private threads: number) {}

  get size(): number {
    return this.threads;
  }

  /** Takes up to `size` threads (never fewer than now); the new ones start on first use, waiting jobs first. */
  grow(size: number): void {
    this.threads = Math.max(this.threads, size);
    this.dispatch();
  }

  private thread(i: number): Thread {
    const existing = this.threadAt[i];
    if (existing) return existing;
    // The project runs from TypeScript sources through tsx; threads load them the same way.
    const worker = new Worker(`require('tsx/cjs'); require(${JSON.stringify(THREAD_SCRIPT)});`, { eval: true });
    worker.unref();
    const thread: Thread = { worker, pending: new Map(), ended: false };
    worker.on('message', (response: TaskResponse) => this.answered(thread, response));
    // Listened to for the thread's whole life, not per task: an idle thread's error would otherwise
    // end the process, and a thread that exits (or is terminated) would leave its callers waiting forever.
    worker.on('error', (error: Error) => this.ended(thread, error));
    worker.on('messageerror', (error: Error) => {
      // An answer that cannot be read belongs to no known task: the thread is given up, and all it owed fails.
      this.ended(thread, new Error(`a worker thread's answer could not be read: ${error.message}`));
      void worker.terminate();
    });
    worker.on('exit', (code: number) => this.ended(thread, new Error(`a worker thread exited (code ${code}) with tasks unanswered`)));
    this.threadAt[i] = thread;
    return thread;
  }

  private inFlight(i: number): number {
    return this.threadAt[i]?.pending.size ?? 0;
  }

  /** Of threads 0..count-1, those with no task in flight. */
  idleThreads(count: number): number[] {
    return Array.from({ length: Math.min(count, this.size) }, (_, i) => i).filter((i) => this.inFlight(i) === 0);
  }

  /**
   * Runs `task` on a thread with nothing in flight; when every thread is busy it waits its turn,
   * first come first served. A thread thus runs one such job at a time: a job posted to a busy
   * thread ran at every await of the one already there (a network's fit yields between epochs), so
   * a 0.2 s fold beside a seconds-long one took as long as both, and a search of short folds ended
   * a retrain last. Jobs finish out of order, so a fixed thread per job would also leave one idle.
   */
  runOnFreeThread<T extends TaskName>(task: T, input: Parameters<ThreadTasks[T]>[0], signal?: AbortSignal): Promise<Awaited<ReturnType<ThreadTasks[T]>>> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    const free = this.waiting.length === 0 ? this.idleThreads(this.size)[0] : undefined;
    if (free !== undefined) return this.run(free, task, input);
    return new Promise((resolve, reject) => {
      const job: Waiting = {
        start: (index) => {
          this.unwatch(signal, job);
          void this.run(index, task, input).then(resolve, reject);
        },
        reject: (error) => {
          this.unwatch(signal, job);
          reject(error);
        },
      };
      this.waiting.push(job);
      this.watch(signal, job);
    });
  }

  /**
   * Waiting jobs by their caller's signal, with the one listener each signal gets (a listener per
   * job made Node warn of a leak past ten, as a shuffled-label control queues up to 20 folds).
   */
  private readonly watched = new Map<AbortSignal, { jobs: Set<Waiting>; abandon: () => void }>();

  /** A job whose caller gives up (a cancelled activity) leaves the queue: it would otherwise run ahead of the retry's own jobs. */
  private watch(signal: AbortSignal | undefined, job: Waiting): void {
    if (!signal) return;
    let entry = this.watched.get(signal);
    if (!entry) {
      const jobs = new Set<Waiting>();
      const abandon = () => {
        this.watched.delete(signal);
        for (const waiting of jobs) {
          this.waiting.splice(this.waiting.indexOf(waiting), 1);
          waiting.reject(signal.reason as Error);
        }
      };
      entry = { jobs, abandon };
      this.watched.set(signal, entry);
      signal.addEventListener('abort', abandon, { once: true });
    }
    entry.jobs.add(job);
  }

  private unwatch(signal: AbortSignal | undefined, job: Waiting): void {
    const entry = signal && this.watched.get(signal);
    if (!entry) return;
    entry.jobs.delete(job);
    if (entry.jobs.size > 0) return;
    this.watched.delete(signal);
    signal.removeEventListener('abort', entry.abandon);
  }

  /** Runs `task` on thread `i % size`. Never throws: a task that cannot be started or sent is a rejected promise, and its thread stays free. */
  run<T extends TaskName>(i: number, task: T, input: Parameters<ThreadTasks[T]>[0]): Promise<Awaited<ReturnType<ThreadTasks[T]>>> {
    return new Promise((resolve, reject) => {
      const index = i % this.size;
      let thread: Thread;
      try {
        thread = this.thread(index);
      } catch (error) {
        reject(error as Error);
        return;
      }
      const request: TaskRequest = { id: this.nextId++, task, input };
      thread.pending.set(request.id, { task, resolve: resolve as (result: unknown) => void, reject });
      thread.worker.ref(); // busy: keep the process alive until the answer arrives
      try {
        thread.worker.postMessage(request);
      } catch (error) {
        // Not sent (an input that cannot be cloned): nothing is owed, so the thread is as before.
        thread.pending.delete(request.id);
        reject(new Error(`${task}: its input could not be sent to a worker thread: ${(error as Error).message}`));
        this.released(thread);
      }
    });
  }

  private answered(thread: Thread, response: TaskResponse): void {
    const pending = thread.pending.get(response.id);
    if (!pending) return;
    thread.pending.delete(response.id);
    const { task } = pending;
    if (response.badInput) pending.reject(new BadInputError(`${task}: ${response.badInput.message}`, response.badInput.code));
    else if (response.error !== undefined) pending.reject(new Error(`${task} failed in a worker thread: ${response.error}`));
    else pending.resolve(response.result);
    this.released(thread);
  }

  /** The thread has ended (an uncaught error, an exit, termination): whatever it owed fails, and its index starts a new thread on next use. */
  private ended(thread: Thread, error: Error): void {
    if (thread.ended) return; // 'error' is followed by 'exit'
    thread.ended = true;
    const index = this.threadAt.indexOf(thread);
    if (index >= 0) this.threadAt[index] = undefined;
    const owed = [...thread.pending.values()];
    thread.pending.clear();
    thread.worker.unref();
    for (const p of owed) p.reject(error);
    this.dispatch();
  }

  /** A task on `thread` has answered or failed: the thread is let go, or given the next waiting job, once nothing is in flight. */
  private released(thread: Thread): void {
    if (thread.pending.size > 0) return;
    // Idle only when every task posted to it has answered: a thread let go with a task still
    // running let a process with nothing else to wait for exit before the answer came.
    thread.worker.unref();
    this.dispatch();
  }

  /** Starts waiting jobs on free threads, oldest first. */
  private dispatch(): void {
    while (this.waiting.length > 0) {
      const free = this.idleThreads(this.size)[0];
      if (free === undefined) return;
      (this.waiting.shift() as Waiting).start(free);
    }
  }

  /** Starts every thread and waits until each answers (a long-running worker pays this once, at start). */
  async warmUp(): Promise<void> {
    await Promise.all(Array.from({ length: this.size }, (_, i) => this.run(i, 'symbolColumns', { specs: [], universe: [], next: new Int32Array(1), chunk: 1, blocks: { values: new Float64Array(0), offsets: new Float64Array(1), count: 0, from: new Int32Array(0), lead: new Float64Array(0) } })));
  }

  /** Ends every thread. Tasks in flight and waiting jobs fail with an error that says so; the pool starts new threads if used again. */
  async close(): Promise<void> {
    const closed = new Error('the task pool was closed before the task answered');
    for (const w of this.waiting.splice(0)) w.reject(closed);
    const threads = this.threadAt.filter((t): t is Thread => t !== undefined);
    this.threadAt.length = 0;
    for (const t of threads) this.ended(t, closed);
    await Promise.all(threads.map((t) => t.worker.terminate()));
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
