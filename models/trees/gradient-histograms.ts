/**
 * Gradient histograms and split finding for one range of features, level by level. The tree
 * grower owns one range per thread: the calling thread works on the first features while pool
 * threads work on the others over shared memory, so a histogram is never copied between threads
 * and every feature's histogram is summed in the same order whatever the thread count.
 */
import { sharedFloat64, sharedInt32 } from '../../lib/threads/shared-memory';
import { channelArgs, serveRequests, servedChannel, ServedThread, type ServedChannel } from '../../lib/threads/served-thread';
import { addLeafValue, quantiseRows, rowGradients, type RowState } from './gradient-rows';
import { HistogramMemory } from './histogram-kernel';

/** Bins per feature slot; rows are stored with `stride` bytes (features padded to 4). */
export const BIN_SLOTS = 256;

export interface SplitParams {
  minChildWeight: number;
  lambda: number;
  minGain: number;
}

/**
 * What every range reads: row-major bins (stride bytes per row) and this tree's quantised
 * gradients. As in LightGBM's quantised training, each row's gradient and hessian are rounded
 * (stochastically, seeded) to small integers and packed into one float64, g·2^S + h, so a
 * histogram bin takes one exact integer addition instead of two floating ones, sums never round,
 * and the subtraction trick is exact.
 */
export interface HistogramData {
  rows: number;
  stride: number;
  /** Uint8 bins, `stride` per row; viewed as 32-bit words for speed. */
  bins: Uint8Array;
  binCounts: Int32Array;
  /** Row order of the tree being grown; each node owns a segment. */
  order: Int32Array;
  /** Per row: quantised gradient · 2^S + quantised hessian (exact integers). */
  packed: Float64Array;
  /** [2^S, gradient per unit, hessian per unit] of the current tree. */
  quantisation: Float64Array;
}

/** Quantised (integer) gradient and hessian sums of a packed sum. */
export function unpack(sum: number, shift: number): [number, number] {
  const g = Math.floor(sum / shift); // exact: dividing by a power of two
  return [g, sum - g * shift];
}

/** One node of a level: its segment, and how to get its histogram. */
export interface LevelNode {
  node: number;
  start: number;
  end: number;
  /** Sibling node whose histogram, subtracted from the parent's, gives this one; -1 = build it. */
  sibling: number;
  parent: number;
  /** Quantised gradient and hessian sums (integers). */
  g: number;
  h: number;
}

/** Best split of a node within a range; feature -1 when none beats minGain. */
export interface RangeSplit {
  gain: number;
  feature: number;
  bin: number;
  gl: number;
  hl: number;
}

export class HistogramRange {
  private readonly memory: HistogramMemory;
  /** Histogram slot of each node of the last level, and of the level being built. */
  private previous = new Map<number, number>();
  private current = new Map<number, number>();
  /** Features [from, to) of the range, whole 4-byte words: from and to are multiples of 4 (to may exceed p). */
  constructor(
    private readonly data: HistogramData,
    private readonly from: number,
    private readonly to: number,
    /** 1 for the features the current tree may split on (column subsampling); may live in shared memory. */
    private readonly allowed: Uint8Array,
    private readonly params: SplitParams,
    /** Column-major bins of every feature (columns[j * rows + r]), for partitions. */
    columns: Uint8Array,
  ) {
    this.memory = new HistogramMemory(data.rows, (to - from) >> 2, columns.length / data.rows);
    const features = Math.max(0, Math.min(to, data.binCounts.length) - from);
    this.memory.loadBins(new Uint32Array(data.bins.buffer, data.bins.byteOffset, data.bins.byteLength / 4), data.stride >> 2, from >> 2, features, data.binCounts.subarray(from, from + features));
    this.memory.loadColumns(columns);
  }

  /** Partitions the tree's rows order[start..end) on feature <= bin; returns the left count (see HistogramMemory.partition). */
  partition(start: number, end: number, feature: number, bin: number): number {
    return this.memory.partition(this.data.order, start, end, feature, bin);
  }

  /** Builds or derives the histograms of a level's nodes and returns each node's best split. */
  level(nodes: readonly LevelNode[]): RangeSplit[] {
    const memory = this.memory;
    // A new tree (its root) comes with new gradients.
    if (nodes.some((n) => n.parent < 0)) memory.loadPacked(this.data.packed);
    for (const n of nodes) {
      if (n.sibling >= 0) continue;
      const slot = memory.allocate();
      memory.add(this.data.order, n.start, n.end, slot);
      this.current.set(n.node, slot);
    }
    for (const n of nodes) {
      if (n.sibling < 0) continue;
      const slot = this.previous.get(n.parent) as number;
      memory.subtract(slot, this.current.get(n.sibling) as number);
      this.previous.delete(n.parent);
      this.current.set(n.node, slot);
    }
    for (const slot of this.previous.values()) memory.release(slot);
    this.previous = this.current;
    this.current = new Map();
    return nodes.map((n) => this.bestSplit(memory.view(this.previous.get(n.node) as number), n.g, n.h));
  }

  /** Between trees: every histogram goes back to the pool. */
  reset(): void {
    for (const slot of this.previous.values()) this.memory.release(slot);
    this.previous.clear();
  }

  /** Best split from quantised sums; gains use them scaled back to gradient units. */
  private bestSplit(hist: Float64Array, gq: number, hq: number): RangeSplit {
    const { minChildWeight, lambda, minGain } = this.params;
    const [shift, gUnit, hUnit] = this.data.quantisation;
    const g = gq * gUnit;
    const h = hq * hUnit;
    const parentScore = (g * g) / (h + lambda);
    const perShift = 1 / shift; // exact, as shift is a power of two: a multiply instead of a divide
    const best: RangeSplit = { gain: minGain, feature: -1, bin: -1, gl: 0, hl: 0 };
    const last = Math.min(this.to, this.data.binCounts.length);
    for (let j = this.from; j < last; j++) {
      if (!this.allowed[j]) continue;
      const nb = this.data.binCounts[j];
      const base = (j - this.from) << 8;
      let cumulative = 0;
      for (let b = 0; b < nb - 1; b++) {
        cumulative += hist[base + b];
        const glq = Math.floor(cumulative * perShift);
        const hlq = cumulative - glq * shift;
        const hl = hlq * hUnit;
        if (hl < minChildWeight) continue;
        const hr = h - hl;
        if (hr < minChildWeight) break;
        const gl = glq * gUnit;
        const gr = g - gl;
        const gain = 0.5 * ((gl * gl) / (hl + lambda) + (gr * gr) / (hr + lambda) - parentScore);
        // Strictly greater: the first best in feature order wins, so ranges combine exactly.
        if (gain > best.gain) {
          best.gain = gain;
          best.feature = j;
          best.bin = b;
          best.gl = glq;
          best.hl = hlq;
        }
      }
    }
    return best;
  }
}

/**
 * A range served by a pool thread, which also takes its share of each round's per-row steps
 * (gradient-rows.ts) and of each level's partitions. Commands and results travel through shared
 * memory and the two threads hand over with Atomics (microseconds), not messages: a few
 * hand-overs per level and per round, none of them copying rows.
 */
const enum Op {
  Level = 1,
  Reset = 2,
  Partition = 4,
  Gradients = 5,
  Quantise = 6,
  Leaves = 7,
}
const NODE_INTS = 5;
const SPLIT_FLOATS = 5;

export interface SharedRange {
  data: HistogramData;
  /** Column-major bins (columns[j * rows + r]) for partitioning, shared by every thread. */
  columns: Uint8Array;
  from: number;
  to: number;
  allowed: Uint8Array;
  params: SplitParams;
  /** The round's per-row state: the thread also takes its share of each round's per-row steps. */
  rowState: RowState;
  /** The requests; its one argument is the count of nodes or pieces. */
  channel: ServedChannel;
  nodeInts: Int32Array;
  nodeFloats: Float64Array;
  splits: Float64Array;
}

/** Shared memory for a remote range that can take levels of up to `maxNodes` nodes. */
export function sharedRange(data: HistogramData, columns: Uint8Array, from: number, to: number, allowed: Uint8Array, params: SplitParams, rowState: RowState, maxNodes: number): SharedRange {
  return {
    data,
    rowState,
    columns,
    from,
    to,
    allowed,
    params,
    channel: servedChannel(1),
    nodeInts: sharedInt32(maxNodes * NODE_INTS),
    nodeFloats: sharedFloat64(maxNodes * 2),
    splits: sharedFloat64(maxNodes * SPLIT_FLOATS),
  };
}

/** The pool thread's side: serves levels until told to stop. */
export function serveHistogramRange(shared: SharedRange): void {
  const range = new HistogramRange(shared.data, shared.from, shared.to, shared.allowed, shared.params, shared.columns);
  const args = channelArgs(shared.channel);
  serveRequests(shared.channel, (op) => {
    if (op === Op.Reset) range.reset();
    else if (op === Op.Gradients) {
      const [k, from, to, allSampled] = shared.nodeInts;
      shared.splits.set(rowGradients(shared.rowState, k, from, to, allSampled === 1));
    } else if (op === Op.Quantise) shared.splits[0] = quantiseRows(shared.rowState, shared.nodeInts[0], shared.nodeInts[1], shared.nodeFloats[0], shared.nodeFloats[1], shared.nodeFloats[2]);
    else if (op === Op.Leaves) {
      for (let i = 0; i < args[0]; i++) {
        const a = shared.nodeInts.subarray(i * NODE_INTS);
        addLeafValue(shared.rowState, a[2], shared.nodeFloats[i], a[0], a[1]);
      }
    } else if (op === Op.Partition) {
      for (let i = 0; i < args[0]; i++) {
        const a = shared.nodeInts.subarray(i * NODE_INTS);
        shared.splits[i * SPLIT_FLOATS] = range.partition(a[0], a[1], a[2], a[3]);
      }
    } else {
      const nodes: LevelNode[] = [];
      for (let i = 0; i < args[0]; i++) {
        const a = shared.nodeInts.subarray(i * NODE_INTS);
        nodes.push({ node: a[0], start: a[1], end: a[2], sibling: a[3], parent: a[4], g: shared.nodeFloats[2 * i], h: shared.nodeFloats[2 * i + 1] });
      }
      range.level(nodes).forEach((s, i) => shared.splits.set([s.gain, s.feature, s.bin, s.gl, s.hl], i * SPLIT_FLOATS));
    }
  });
}

/** The grower's handle on a served range; `level` is split in two so both threads work at once. */
export class RemoteHistogramRange {
  private readonly thread: ServedThread;
  constructor(private readonly shared: SharedRange) {
    this.thread = new ServedThread(shared.channel, 'histogram range');
  }

  /** Resolves when the pool thread runs the serving task. */
  untilServing(timeoutMs: number): Promise<void> {
    return this.thread.untilServing(timeoutMs);
  }

  startLevel(nodes: readonly LevelNode[]): void {
    nodes.forEach((n, i) => {
      this.shared.nodeInts.set([n.node, n.start, n.end, n.sibling, n.parent], i * NODE_INTS);
      this.shared.nodeFloats[2 * i] = n.g;
      this.shared.nodeFloats[2 * i + 1] = n.h;
    });
    this.thread.args[0] = nodes.length;
    this.thread.send(Op.Level);
  }

  finishLevel(count: number): RangeSplit[] {
    this.thread.finish();
    return Array.from({ length: count }, (_, i) => {
      const s = this.shared.splits.subarray(i * SPLIT_FLOATS);
      return { gain: s[0], feature: s[1], bin: s[2], gl: s[3], hl: s[4] };
    });
  }

  reset(): void {
    this.thread.send(Op.Reset);
    this.thread.finish();
  }

  /** Partitions these nodes' rows on the pool thread: (start, end, feature, bin) each. */
  startPartition(nodes: ReadonlyArray<readonly [number, number, number, number]>): void {
    nodes.forEach((n, i) => this.shared.nodeInts.set(n, i * NODE_INTS));
    this.thread.args[0] = nodes.length;
    this.thread.send(Op.Partition);
  }

  /** Rows sent left, per node of the last startPartition. */
  finishPartition(count: number): number[] {
    this.thread.finish();
    return Array.from({ length: count }, (_, i) => this.shared.splits[i * SPLIT_FLOATS]);
  }

  /** Gradients of output k for rows [from, to) (see rowGradients); finishGradients gives their largest |g| and h. */
  startGradients(k: number, from: number, to: number, allSampled: boolean): void {
    this.shared.nodeInts.set([k, from, to, allSampled ? 1 : 0]);
    this.thread.send(Op.Gradients);
  }

  finishGradients(): [number, number] {
    this.thread.finish();
    return [this.shared.splits[0], this.shared.splits[1]];
  }

  /** Quantises the sampled rows at order positions [from, to); finishQuantise gives their packed sum. */
  startQuantise(from: number, to: number, gScale: number, hScale: number, drawState: number): void {
    this.shared.nodeInts.set([from, to]);
    this.shared.nodeFloats.set([gScale, hScale, drawState]);
    this.thread.send(Op.Quantise);
  }

  finishQuantise(): number {
    this.thread.finish();
    return this.shared.splits[0];
  }

  /** Adds leaf values to the rows at order positions: (start, end, k, value) each; then finish(). */
  startLeaves(pieces: ReadonlyArray<readonly [number, number, number, number]>): void {
    pieces.forEach(([start, end, k, value], i) => {
      this.shared.nodeInts.set([start, end, k], i * NODE_INTS);
      this.shared.nodeFloats[i] = value;
    });
    this.thread.args[0] = pieces.length;
    this.thread.send(Op.Leaves);
  }

  finish(): void {
    this.thread.finish();
  }

  stop(): void {
    this.thread.stop();
  }
}
