/**
 * A minibatch's parts (network.ts BATCH_PARTS) shared out over pool threads. Each pool thread
 * serves a range of parts with its own NetworkKernel: per step it takes the weights the training
 * thread exported, computes each of its parts' gradients and hands them back one part at a time,
 * so the training thread adds every part in part order, as it would alone: the model is the same
 * on any thread count. Everything exchanged lives in shared memory, and each step is a request on a
 * served thread (lib/threads/served-thread.ts), as the boosting histograms' levels are.
 */
import { sharedFloat32 } from '../../lib/threads/shared-memory';
import { channelArgs, serveRequests, servedChannel, ServedThread, type ServedChannel } from '../../lib/threads/served-thread';
import type { Architecture } from './network';
import { partGradients, type Minibatch, type TrainingData } from './network';
import { NetworkKernel } from './network-kernel';

const STEP = 1;
const [START, N, FIRST, LAST] = [0, 1, 2, 3];
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
  /** The step's padded weights (NetworkKernel.exportWeights), one array for every serving thread. */
  weights: Float32Array;
  /** Per part, its padded gradients (NetworkKernel.exportGradients). */
  gradients: Float32Array;
  /** This thread's own: the step's batch and parts. */
  channel: ServedChannel;
}

/** The shared arrays of every serving thread of one training (each then gets its own channel). */
export function networkPartsJob(kernel: NetworkKernel, data: TrainingData, rowWeights: Float32Array, order: Int32Array, masks: Float32Array[], parts: number): Omit<NetworkPartsJob, 'channel'> {
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
  };
}

/** The pool thread's side: serves steps until told to stop. */
export function serveNetworkParts(job: NetworkPartsJob): void {
  const kernel = new NetworkKernel(job.architecture, job.capacity);
  const data: TrainingData = { x: job.x, labels: job.labels, trainRows: job.order.length, validationRows: 0 };
  const size = kernel.gradientFloats;
  const args = channelArgs(job.channel);
  // A part takes ~0.1 ms, about what a wake-up costs: both sides spin first (HANDOVER_SPIN_MS).
  serveRequests(job.channel, () => {
    kernel.importWeights(job.weights);
    const batch: Minibatch = { order: job.order, start: args[START], n: args[N], weights: job.rowWeights, masks: job.masks.length > 0 ? job.masks : undefined };
    for (let k = args[FIRST]; k < args[LAST]; k++) {
      kernel.clearGradients();
      partGradients(kernel, data, batch, k);
      kernel.exportGradients(job.gradients.subarray(k * size, (k + 1) * size));
    }
  });
}

/** The training thread's handle on one serving thread, which takes parts [first, last) of every batch. */
export class RemoteParts {
  readonly job: NetworkPartsJob;
  private readonly thread: ServedThread;

  constructor(
    shared: Omit<NetworkPartsJob, 'channel'>,
    readonly first: number,
    readonly last: number,
  ) {
    this.job = { ...shared, channel: servedChannel(4) };
    this.thread = new ServedThread(this.job.channel, "network's batch parts");
  }

  untilServing(timeoutMs: number): Promise<void> {
    return this.thread.untilServing(timeoutMs);
  }

  /**
   * Starts this thread's parts of the batch order[start..start + n), with the weights in
   * job.weights, when the thread is serving; returns false, and does nothing, while it is not yet
   * (a new thread takes seconds to start under load; its parts are then computed by the caller).
   */
  start(start: number, n: number): boolean {
    if (!this.thread.serving) return false;
    this.thread.args.set([start, n, this.first, this.last]);
    this.thread.send(STEP);
    return true;
  }

  /** Waits for the started step's parts and adds their gradients to the kernel's sums, in part order. */
  addTo(kernel: NetworkKernel): void {
    this.thread.finish();
    const size = kernel.gradientFloats;
    for (let k = this.first; k < this.last; k++) kernel.addGradients(this.job.gradients.subarray(k * size, (k + 1) * size));
  }

  get serving(): boolean {
    return this.thread.serving;
  }

  stop(): void {
    this.thread.stop();
  }
}
