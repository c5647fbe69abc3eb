/**
 * A minibatch's parts (network.ts BATCH_PARTS) shared out over pool threads. Each pool thread
 * serves a range of parts with its own NetworkKernel: per step it takes the weights the training
 * thread exported, computes each of its parts' gradients and hands them back one part at a time,
 * so the training thread adds every part in part order, as it would alone: the model is the same
 * on any thread count. Everything exchanged lives in shared memory; steps are signalled with
 * Atomics, as the boosting histograms' threads are (trees/gradient-histograms.ts).
 */
import { sharedBytes, sharedFloat32, sharedInt32 } from '../../lib/threads/shared-memory';
import type { Architecture } from './network';
import { partGradients, type Minibatch, type TrainingData } from './network';
import { NetworkKernel } from './network-kernel';

const [REQUEST, DONE, OP, START, N, FIRST, LAST, FAILED, READY] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
const enum Op {
  Step = 1,
  Stop = 2,
}

/**
 * Waits up to SPIN_MS for control[at] to leave `value` before sleeping in Atomics.wait. A part
 * takes ~0.1 ms, and a wake-up from Atomics.wait cost about as much on the 2-core VMs measured:
 * 200k rows, 2 threads, 3.37 s sleeping at once against 2.67 s spinning first (50 µs to 1 ms
 * alike; one thread 3.04 s). Bounded, so a thread left waiting (validation, a slow peer) sleeps.
 */
const SPIN_MS = 0.2;
function spinWhile(control: Int32Array, at: number, value: number): void {
  if (Atomics.load(control, at) !== value) return;
  const until = performance.now() + SPIN_MS;
  while (Atomics.load(control, at) === value && performance.now() < until);
}

/** What a serving thread reads and writes; every array is in shared memory. */
export interface NetworkPartsJob {
  architecture: Architecture;
  capacity: number;
  /** Standardised rows, labels and per-row weights of the training rows (TrainingData). */
  x: Float32Array;
  labels: Int32Array;
  rowWeights: Float32Array;
  /** The epoch's row order, rewritten by the training thread between epochs. */
  order: Int32Array;
  /** The step's dropout multipliers, batchSize × width per hidden representation (none without dropout). */
  masks: Float32Array[];
  /** The step's padded weights (NetworkKernel.exportWeights). */
  weights: Float32Array;
  /** Per part, its padded gradients (NetworkKernel.exportGradients). */
  gradients: Float32Array;
  control: Int32Array;
  error: Uint8Array;
}

export function networkPartsJob(kernel: NetworkKernel, data: TrainingData, rowWeights: Float32Array, order: Int32Array, masks: Float32Array[], parts: number): NetworkPartsJob {
  return {
    architecture: kernel.architecture,
    capacity: kernel.capacity,
    x: data.x,
    labels: data.labels,
    rowWeights,
    order,
    masks,
    weights: sharedFloat32(kernel.weightFloats),
    gradients: sharedFloat32(parts * kernel.gradientFloats),
    control: sharedInt32(16),
    error: sharedBytes(2048),
  };
}

/** The pool thread's side: serves steps until told to stop. */
export function serveNetworkParts(job: NetworkPartsJob): void {
  const { control } = job;
  const kernel = new NetworkKernel(job.architecture, job.capacity);
  const data: TrainingData = { x: job.x, labels: job.labels, trainRows: job.order.length, validationRows: 0 };
  const size = kernel.gradientFloats;
  let seen = 0;
  Atomics.store(control, READY, 1);
  Atomics.notify(control, READY);
  for (;;) {
    spinWhile(control, REQUEST, seen);
    Atomics.wait(control, REQUEST, seen);
    seen = Atomics.load(control, REQUEST);
    try {
      if (Atomics.load(control, OP) === Op.Stop) return;
      kernel.importWeights(job.weights);
      const batch: Minibatch = { order: job.order, start: control[START], n: control[N], weights: job.rowWeights, masks: job.masks.length > 0 ? job.masks : undefined };
      for (let k = control[FIRST]; k < control[LAST]; k++) {
        kernel.clearGradients();
        partGradients(kernel, data, batch, k);
        kernel.exportGradients(job.gradients.subarray(k * size, (k + 1) * size));
      }
    } catch (error) {
      const text = Buffer.from(String(error instanceof Error ? (error.stack ?? error.message) : error)).subarray(0, job.error.length - 1);
      job.error.set(text);
      Atomics.store(control, FAILED, text.length);
    } finally {
      Atomics.store(control, DONE, seen);
      Atomics.notify(control, DONE);
    }
  }
}

/** The training thread's handle on one serving thread, which takes parts [first, last) of every batch. */
export class RemoteParts {
  private seq = 0;
  constructor(
    readonly job: NetworkPartsJob,
    readonly first: number,
    readonly last: number,
  ) {}

  /** Blocks until the pool thread runs the serving task (it may be finishing other work first). */
  waitUntilServing(timeoutMs: number): void {
    if (Atomics.wait(this.job.control, READY, 0, timeoutMs) === 'timed-out') throw new Error(`no pool thread took the network's batch parts within ${timeoutMs} ms`);
  }

  /** Starts this thread's parts of the batch order[start..start + n), with the weights in job.weights. */
  start(start: number, n: number): void {
    const { control } = this.job;
    control[START] = start;
    control[N] = n;
    control[FIRST] = this.first;
    control[LAST] = this.last;
    this.send(Op.Step);
  }

  /** Waits for the step's parts and adds their gradients to the kernel's sums, in part order. */
  addTo(kernel: NetworkKernel): void {
    this.await();
    const size = kernel.gradientFloats;
    for (let k = this.first; k < this.last; k++) kernel.addGradients(this.job.gradients.subarray(k * size, (k + 1) * size));
  }

  stop(): void {
    this.send(Op.Stop);
  }

  private send(op: Op): void {
    const { control } = this.job;
    Atomics.store(control, OP, op);
    Atomics.store(control, REQUEST, ++this.seq);
    Atomics.notify(control, REQUEST);
  }

  private await(): void {
    const { control } = this.job;
    spinWhile(control, DONE, this.seq - 1);
    for (;;) {
      const done = Atomics.load(control, DONE);
      if (done === this.seq) break;
      // A stalled thread would hang training forever: give up after a generous minute.
      if (Atomics.wait(control, DONE, done, 60_000) === 'timed-out') throw new Error('network thread did not answer within 60 s');
    }
    const failed = Atomics.load(control, FAILED);
    if (failed > 0) throw new Error(`network thread failed: ${Buffer.from(this.job.error.subarray(0, failed)).toString()}`);
  }
}
