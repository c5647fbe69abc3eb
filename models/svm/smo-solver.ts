/**
 * Two-class C-SVC trained in TypeScript on dense rows: the dual solver of libsvm 3.22 (svm.cpp's
 * `Solver` with `SVC_Q`), rewritten rather than called through wasm. libsvm-js evaluates every
 * kernel value on sparse svm_node lists (index/value pairs: half the wasm time of a trial went
 * there) and hands the model back through emscripten's virtual file system; here rows are dense
 * Float64Arrays and the model comes back as numbers, formatted as libsvm's model text only when a
 * caller keeps it.
 *
 * What is the same as libsvm, so that the same problem gives the same support vectors:
 *   - class grouping (svm_group_classes): labels in order of first appearance, the first one is
 *     y = +1; the solver sees the rows of the first label, then those of the second, each in row
 *     order (libsvm's -1/+1 swap concerns labels -1 and 1 only, which we never pass: labels are
 *     class indices ≥ 0);
 *   - working-set selection WSS3 (second order, Fan, Chen & Lin 2005) with τ = 1e-12, ties going to
 *     the last index as libsvm's `>=`; the stopping rule Gmax + Gmax2 < eps; at most
 *     max(10^7, 100·l) iterations; libsvm's shrinking (every min(l, 1000) iterations, with the
 *     gradient reconstructed before the final check); rho as calculate_rho;
 *   - kernel values: RBF exp(−γ(‖xi‖² + ‖xj‖² − 2 xi·xj)), linear xi·xj, dot products summed in
 *     feature order (in SIMD wasm, two rows at a time, one per lane: simd-dots.ts; exp with
 *     Math.exp's bits: simd-exp.ts); Q columns stored as float32 (libsvm's Qfloat) in an LRU cache
 *     of cacheSizeMb, with libsvm's accounting, and QD (the diagonal) in float64.
 * So the arithmetic is the same operation for operation, and on the problems in the unit tests the
 * support vectors are identical and rho agrees to ~1e-12. One liberty: when the whole matrix fits
 * in the cache it is computed up front, its lower triangle only, and mirrored (Q is symmetric bit
 * for bit).
 *
 * `binaryModelText` writes svm_save_model's format byte for byte (C's %g, %.8g and %.16g included),
 * so decision-function.ts and libsvm's own svm_load_model read it as they read libsvm's.
 */

import { PairedRows } from './simd-dots';
import { simdExp } from '../simd-exp';

export interface SmoOptions {
  kernel: 'rbf' | 'linear';
  gamma: number;
  C: number;
  /** Stopping tolerance (libsvm's -e). */
  tolerance: number;
  cacheSizeMb: number;
  shrinking: boolean;
}

/** A trained two-class C-SVC, in libsvm's model order. */
export interface BinarySvm {
  /** libsvm's label order: a positive decision value means labels[0] (the first row's label). */
  labels: [number, number];
  /** Support vectors of labels[0], then of labels[1]. */
  nSV: [number, number];
  /** Training-row index of each support vector: labels[0]'s in row order, then labels[1]'s. */
  supportRows: Int32Array;
  /** y_i·α_i of each support vector. */
  coef: Float64Array;
  rho: number;
  iterations: number;
}

const TAU = 1e-12;
const LOWER = 0;
const UPPER = 1;
const FREE = 2;
/** Arrays of dropped columns a cache keeps for reuse. */
const SPARE_COLUMNS = 8;

/**
 * libsvm's kernel cache: columns of Q (float32) by solver position, least recently used first out,
 * a column holding its first `len` entries. Sizes are counted in floats as libsvm counts them.
 */
export class ColumnCache {
  private readonly data: Array<Float32Array | undefined>;
  readonly len: Int32Array;
  /** Circular LRU list over positions; node l is the head. */
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private size: number;

  constructor(private readonly l: number, bytes: number) {
    this.data = new Array<Float32Array | undefined>(l);
    this.len = new Int32Array(l);
    this.prev = new Int32Array(l + 1).fill(l);
    this.next = new Int32Array(l + 1).fill(l);
    // libsvm: bytes / sizeof(float), less its 16-byte head_t per column (wasm32), at least two columns
    this.size = Math.max(Math.floor(bytes / 4) - Math.floor((l * 16) / 4), 2 * l);
  }

  private remove(h: number): void {
    this.next[this.prev[h]] = this.next[h];
    this.prev[this.next[h]] = this.prev[h];
  }

  private append(h: number): void {
    const head = this.l;
    this.next[h] = head;
    this.prev[h] = this.prev[head];
    this.next[this.prev[h]] = h;
    this.prev[head] = h;
  }

  private drop(h: number): void {
    this.remove(h);
    this.size += this.len[h];
    this.recycle(this.data[h]);
    this.data[h] = undefined;
    this.len[h] = 0;
  }

  /**
   * Arrays of dropped columns wait here for the next columns, where libsvm reallocs: allocating a
   * new array for each column computed made a 20,000-row training allocate gigabytes, which the
   * garbage collector then had to find. A few suffice, since a drop comes right before the column
   * that needs the room.
   */
  private readonly spare: Float32Array[] = [];

  private recycle(array: Float32Array | undefined): void {
    if (!array) return;
    if (this.spare.length >= SPARE_COLUMNS) this.spare.shift();
    this.spare.push(array);
  }

  /** An array for `len` entries: a spare one at most 25% longer (so memory stays near libsvm's count), or a new one. */
  private arrayFor(len: number): Float32Array {
    for (let k = this.spare.length - 1; k >= 0; k--) {
      const array = this.spare[k];
      if (array.length >= len && array.length <= len * 1.25) {
        this.spare.splice(k, 1);
        return array;
      }
    }
    return new Float32Array(len);
  }

  /**
   * Column `index` with at least `len` entries; entries from the returned `start` on must be
   * filled. The array may be longer than `len` (a reused one): entries past `len` mean nothing.
   */
  get(index: number, len: number): { column: Float32Array; start: number } {
    this.settle();
    const had = this.len[index];
    if (had) this.remove(index);
    const more = len - had;
    let column = this.data[index];
    if (more > 0) {
      while (this.size < more) this.drop(this.next[this.l]);
      if (!column || column.length < len) {
        const grown = this.arrayFor(len);
        if (column && had) grown.set(column.subarray(0, had));
        this.recycle(column);
        column = grown;
      }
      this.data[index] = column;
      this.size -= more;
      this.len[index] = len;
    }
    this.append(index);
    return { column: column as Float32Array, start: more > 0 ? had : len };
  }

  /** Floats the cache may hold (libsvm's accounting). */
  capacity(): number {
    return this.size;
  }

  /**
   * Swaps positions i and j (shrinking). The columns' entries i and j are swapped later, by
   * settle(), which the next get() calls.
   */
  swap(i: number, j: number): void {
    if (i === j) return;
    if (this.len[i]) this.remove(i);
    if (this.len[j]) this.remove(j);
    [this.data[i], this.data[j]] = [this.data[j], this.data[i]];
    const li = this.len[i];
    this.len[i] = this.len[j];
    this.len[j] = li;
    if (this.len[i]) this.append(i);
    if (this.len[j]) this.append(j);
    this.pending.push(Math.min(i, j), Math.max(i, j));
  }

  /** Entry swaps (lo, hi) that swap() recorded, in order. */
  private readonly pending: number[] = [];

  /**
   * Applies the recorded swaps to every cached column, with libsvm's rule: a column holding one of
   * the two entries but not the other is dropped. libsvm walks all columns at every swap; a
   * column's entries and its fate depend only on its length and the swaps in order, so each column
   * here takes all of them in one visit, with the same result (a shrinking pass makes hundreds of
   * swaps, and the walks were a quarter of a 10,000-row training).
   */
  private settle(): void {
    const swaps = this.pending;
    if (swaps.length === 0) return;
    for (let h = this.next[this.l]; h !== this.l; ) {
      const after = this.next[h];
      const len = this.len[h];
      const column = this.data[h] as Float32Array;
      for (let k = 0; k < swaps.length; k += 2) {
        const lo = swaps[k];
        if (len <= lo) continue;
        const hi = swaps[k + 1];
        if (len <= hi) {
          this.drop(h);
          break;
        }
        const t = column[lo];
        column[lo] = column[hi];
        column[hi] = t;
      }
      h = after;
    }
    swaps.length = 0;
  }
}

/** Columns of Q = (y_i y_j K(x_i, x_j)) by solver position, as float32 (libsvm's Qfloat). */
interface QColumns {
  /** Column i with at least its first `len` entries valid. */
  get(i: number, len: number): Float32Array;
  /** Swaps positions i and j (shrinking). */
  swap(i: number, j: number): void;
}

/** The kernel of the solver's rows, by position. */
class Kernel {
  /** ‖x‖² by position (RBF only). */
  readonly square: Float64Array;
  /** Offset of each position's row in `x`. */
  readonly rowAt: Int32Array;
  /** The rows in position order, for fill (made at its first call). */
  private paired: PairedRows | undefined;

  constructor(readonly x: Float64Array, readonly p: number, readonly l: number, readonly y: Int8Array, readonly rbf: boolean, readonly gamma: number) {
    this.rowAt = Int32Array.from({ length: l }, (_, k) => k * p);
    this.square = new Float64Array(l);
    if (rbf) for (let k = 0; k < l; k++) this.square[k] = this.dot(k, k);
  }

  /** Σ_k x_ik·x_jk in feature order, as libsvm's sparse dot over dense nodes. */
  dot(i: number, j: number): number {
    const { x, p } = this;
    const a = this.rowAt[i];
    const b = this.rowAt[j];
    let sum = 0;
    for (let k = 0; k < p; k++) sum += x[a + k] * x[b + k];
    return sum;
  }

  /** K(x_i, x_j) in float64 (libsvm's kernel_function). */
  value(i: number, j: number): number {
    const d = this.dot(i, j);
    return this.rbf ? Math.exp(-this.gamma * (this.square[i] + this.square[j] - 2 * d)) : d;
  }

  /** Q_ij for j in [from, to) into out[j]; dot products and exp in SIMD wasm (simd-dots.ts, simd-exp.ts), the same bits as value(). */
  fill(i: number, from: number, to: number, out: Float32Array): void {
    const { square, y, rbf, gamma } = this;
    this.paired ??= new PairedRows(this.x, this.l, this.p, this.rowAt);
    const { values, base } = this.paired.dots(i, from, to);
    const si = square[i];
    const yi = y[i];
    if (!rbf) {
      for (let j = from; j < to; j++) out[j] = yi * y[j] * values[j - base];
      return;
    }
    const exp = simdExp();
    const args = exp.input(to - from);
    for (let j = from; j < to; j++) args[j - from] = -gamma * (si + square[j] - 2 * values[j - base]);
    const kernel = exp.run(to - from); // Math.exp's bits (simd-exp.ts)
    for (let j = from; j < to; j++) out[j] = yi * y[j] * kernel[j - from];
  }

  swap(i: number, j: number): void {
    this.paired?.swap(i, j);
    let t = this.rowAt[i];
    this.rowAt[i] = this.rowAt[j];
    this.rowAt[j] = t;
    t = this.square[i];
    this.square[i] = this.square[j];
    this.square[j] = t;
  }
}

/**
 * float32 K(x_a, x_b) of every pair of rows of a matrix (and K(x_a, x_a) in float64), for trainings
 * on subsets of those rows: Probability SVMs train on all rows and on five subsets of them (the
 * Platt folds), and a kernel value depends on its two rows only, so one matrix serves the six
 * trainings with the very bits each would compute (Q_ij = y_i y_j K_ij: the sign is exact in float32).
 */
export class KernelMatrix {
  readonly values: Float32Array;
  readonly diagonal: Float64Array;

  constructor(rows: Float64Array, p: number, readonly n: number, options: Pick<SmoOptions, 'kernel' | 'gamma'>) {
    const kernel = new Kernel(rows, p, n, new Int8Array(n).fill(1), options.kernel === 'rbf', options.gamma);
    this.diagonal = Float64Array.from({ length: n }, (_, k) => kernel.value(k, k));
    this.values = symmetricMatrix(kernel, n);
  }

  /** Bytes the matrix takes for n rows. */
  static bytes(n: number): number {
    return 4 * n * n;
  }
}

/** The l × l matrix of kernel.fill, lower triangle computed, upper mirrored (symmetric bit for bit). */
function symmetricMatrix(kernel: Kernel, l: number): Float32Array {
  const q = new Float32Array(l * l);
  for (let i = 0; i < l; i++) kernel.fill(i, 0, i + 1, q.subarray(i * l, i * l + i + 1));
  const B = 64; // mirror in tiles
  for (let bi = 0; bi < l; bi += B) {
    for (let bj = 0; bj <= bi; bj += B) {
      for (let i = bi; i < Math.min(bi + B, l); i++) {
        for (let j = bj; j < Math.min(bj + B, i); j++) q[j * l + i] = q[i * l + j];
      }
    }
  }
  return q;
}

/** The whole l × l matrix, computed up front (when the cache could hold it all, libsvm never evicts). */
class FullQ implements QColumns {
  private readonly q: Float32Array;
  private readonly columns: Float32Array[];

  /** From the kernel, or gathered from a shared matrix (`at`: each position's row in it). */
  constructor(private readonly kernel: Kernel, private readonly l: number, shared?: { matrix: KernelMatrix; at: Int32Array }) {
    if (shared) {
      const { matrix, at } = shared;
      const { values, n } = matrix;
      const y = kernel.y;
      this.q = new Float32Array(l * l);
      for (let i = 0; i < l; i++) {
        const base = at[i] * n;
        const yi = y[i];
        for (let j = 0; j < l; j++) this.q[i * l + j] = yi * y[j] * values[base + at[j]];
      }
    } else {
      this.q = symmetricMatrix(kernel, l);
    }
    this.columns = Array.from({ length: l }, (_, i) => this.q.subarray(i * l, i * l + l));
  }

  get(i: number): Float32Array {
    return this.columns[i];
  }

  swap(i: number, j: number): void {
    if (i === j) return;
    const { q, l } = this;
    const a = this.columns[i];
    const b = this.columns[j];
    for (let k = 0; k < l; k++) {
      const t = a[k];
      a[k] = b[k];
      b[k] = t;
    }
    for (let k = 0; k < l; k++) {
      const t = q[k * l + i];
      q[k * l + i] = q[k * l + j];
      q[k * l + j] = t;
    }
    this.kernel.swap(i, j);
  }
}

/** Columns computed on demand into libsvm's LRU cache. */
class CachedQ implements QColumns {
  constructor(private readonly kernel: Kernel, private readonly cache: ColumnCache) {}

  get(i: number, len: number): Float32Array {
    const { column, start } = this.cache.get(i, len);
    // Every entry is computed, even where a cached column j already holds Q_ji (the same bits):
    // reading those scattered columns cost more than the SIMD dot product it saved.
    if (start < len) this.kernel.fill(i, start, len, column);
    return column;
  }

  swap(i: number, j: number): void {
    this.cache.swap(i, j);
    this.kernel.swap(i, j);
  }
}

/** A kernel matrix over a superset of the training rows: `rows[r]` is training row r's index in it. */
export interface SharedKernel {
  matrix: KernelMatrix;
  rows: Int32Array;
}

/**
 * Trains a two-class C-SVC on row-major `rows` (l × p) with labels holding exactly two distinct
 * values. Deterministic: no randomness anywhere. With `shared` (same kernel and gamma), kernel
 * values come from that matrix, bit for bit what they would be computed here, when the whole
 * matrix of this training fits the cache.
 */
export function solveBinaryCsvc(rows: Float64Array, p: number, labels: ArrayLike<number>, options: SmoOptions, shared?: SharedKernel): BinarySvm {
  const l = labels.length;
  if (rows.length !== l * p) throw new Error(`smo: ${rows.length} values for ${l} rows of ${p} features`);
  const first = labels[0];
  let second = first;
  for (let r = 0; r < l; r++) {
    if (labels[r] === first) continue;
    if (second === first) second = labels[r];
    else if (labels[r] !== second) throw new Error('smo: the labels hold more than two classes');
  }
  if (second === first) throw new Error('smo: the labels hold one class; a C-SVC needs two');

  // svm_group_classes: the first label's rows, then the second's, each in row order
  const perm = new Int32Array(l);
  let positives = 0;
  for (let r = 0; r < l; r++) if (labels[r] === first) perm[positives++] = r;
  for (let r = 0, at = positives; r < l; r++) if (labels[r] !== first) perm[at++] = r;
  const x = new Float64Array(l * p);
  for (let k = 0; k < l; k++) x.set(rows.subarray(perm[k] * p, perm[k] * p + p), k * p);
  const y = new Int8Array(l);
  for (let k = 0; k < l; k++) y[k] = k < positives ? 1 : -1;

  if (shared && (shared.rows.length !== l || shared.matrix.n <= 0)) throw new Error('smo: the shared kernel matrix does not match the rows');
  const solver = new Solver(x, p, y, options, shared && { matrix: shared.matrix, at: Int32Array.from(perm, (r) => shared.rows[r]) });
  const iterations = solver.solve();
  const rho = solver.rho();

  // back to grouped order, then coef = y·α of the nonzero ones
  const grouped = new Float64Array(l);
  for (let k = 0; k < l; k++) grouped[solver.activeSet[k]] = solver.alpha[k];
  let m = 0;
  for (let k = 0; k < l; k++) if (Math.abs(grouped[k]) > 0) m++;
  const supportRows = new Int32Array(m);
  const coef = new Float64Array(m);
  const nSV: [number, number] = [0, 0];
  for (let k = 0, s = 0; k < l; k++) {
    if (!(Math.abs(grouped[k]) > 0)) continue;
    supportRows[s] = perm[k];
    coef[s++] = k < positives ? grouped[k] : -grouped[k];
    nSV[k < positives ? 0 : 1]++;
  }
  return { labels: [first, second], nSV, supportRows, coef, rho, iterations };
}

/** libsvm's Solver for C-SVC (p = −e, Cp = Cn = C, α starting at 0), state by solver position. */
class Solver {
  readonly l: number;
  readonly alpha: Float64Array;
  readonly activeSet: Int32Array;
  private readonly y: Int8Array;
  private readonly status: Uint8Array;
  private readonly G: Float64Array;
  private readonly Gbar: Float64Array;
  private readonly QD: Float64Array;
  private readonly Q: QColumns;
  private readonly C: number;
  private readonly eps: number;
  private readonly shrinking: boolean;
  private activeSize: number;
  private unshrink = false;
  private outI = -1;
  private outJ = -1;

  constructor(x: Float64Array, p: number, y: Int8Array, options: SmoOptions, shared?: { matrix: KernelMatrix; at: Int32Array }) {
    const l = y.length;
    this.l = l;
    this.y = y;
    this.C = options.C;
    this.eps = options.tolerance;
    this.shrinking = options.shrinking;
    const kernel = new Kernel(x, p, l, y, options.kernel === 'rbf', options.gamma);
    this.QD = new Float64Array(l);
    const cache = new ColumnCache(l, options.cacheSizeMb * 1024 * 1024);
    const full = cache.capacity() >= l * l;
    for (let k = 0; k < l; k++) this.QD[k] = shared && full ? shared.matrix.diagonal[shared.at[k]] : kernel.value(k, k);
    this.Q = full ? new FullQ(kernel, l, shared) : new CachedQ(kernel, cache);
    this.alpha = new Float64Array(l);
    this.status = new Uint8Array(l); // all at the lower bound
    this.G = new Float64Array(l).fill(-1); // G = Qα + p with α = 0, p = −e
    this.Gbar = new Float64Array(l);
    this.activeSet = Int32Array.from({ length: l }, (_, k) => k);
    this.activeSize = l;
  }

  private updateStatus(i: number): void {
    const a = this.alpha[i];
    this.status[i] = a >= this.C ? UPPER : a <= 0 ? LOWER : FREE;
  }

  private swapIndex(i: number, j: number): void {
    if (i === j) return;
    this.Q.swap(i, j);
    const { y, status, activeSet, QD, G, alpha, Gbar } = this;
    let t = y[i]; y[i] = y[j]; y[j] = t;
    t = status[i]; status[i] = status[j]; status[j] = t;
    t = activeSet[i]; activeSet[i] = activeSet[j]; activeSet[j] = t;
    t = QD[i]; QD[i] = QD[j]; QD[j] = t;
    t = G[i]; G[i] = G[j]; G[j] = t;
    t = alpha[i]; alpha[i] = alpha[j]; alpha[j] = t;
    t = Gbar[i]; Gbar[i] = Gbar[j]; Gbar[j] = t;
  }

  private reconstructGradient(): void {
    const { l, activeSize, G, Gbar, status, alpha } = this;
    if (activeSize === l) return;
    for (let j = activeSize; j < l; j++) G[j] = Gbar[j] - 1;
    let free = 0;
    for (let j = 0; j < activeSize; j++) if (status[j] === FREE) free++;
    if (free * l > 2 * activeSize * (l - activeSize)) {
      for (let i = activeSize; i < l; i++) {
        const Qi = this.Q.get(i, activeSize);
        let g = G[i];
        for (let j = 0; j < activeSize; j++) if (status[j] === FREE) g += alpha[j] * Qi[j];
        G[i] = g;
      }
    } else {
      for (let i = 0; i < activeSize; i++) {
        if (status[i] !== FREE) continue;
        const Qi = this.Q.get(i, l);
        const ai = alpha[i];
        for (let j = activeSize; j < l; j++) G[j] += ai * Qi[j];
      }
    }
  }

  /** WSS3; false when optimal (libsvm's select_working_set returning 1). */
  private selectWorkingSet(): boolean {
    const { y, status, G, QD } = this;
    const n = this.activeSize;
    let Gmax = -Infinity;
    let Gmax2 = -Infinity;
    let GmaxIdx = -1;
    let GminIdx = -1;
    let objDiffMin = Infinity;
    for (let t = 0; t < n; t++) {
      if (y[t] === 1) {
        if (status[t] !== UPPER && -G[t] >= Gmax) {
          Gmax = -G[t];
          GmaxIdx = t;
        }
      } else if (status[t] !== LOWER && G[t] >= Gmax) {
        Gmax = G[t];
        GmaxIdx = t;
      }
    }
    const i = GmaxIdx;
    if (i !== -1) {
      const Qi = this.Q.get(i, n);
      const yi = y[i];
      const QDi = QD[i];
      for (let j = 0; j < n; j++) {
        const Gj = G[j];
        if (y[j] === 1) {
          if (status[j] === LOWER) continue;
          const gradDiff = Gmax + Gj;
          if (Gj >= Gmax2) Gmax2 = Gj;
          if (gradDiff > 0) {
            const quad = QDi + QD[j] - 2.0 * yi * Qi[j];
            const objDiff = -(gradDiff * gradDiff) / (quad > 0 ? quad : TAU);
            if (objDiff <= objDiffMin) {
              GminIdx = j;
              objDiffMin = objDiff;
            }
          }
        } else {
          if (status[j] === UPPER) continue;
          const gradDiff = Gmax - Gj;
          if (-Gj >= Gmax2) Gmax2 = -Gj;
          if (gradDiff > 0) {
            const quad = QDi + QD[j] + 2.0 * yi * Qi[j];
            const objDiff = -(gradDiff * gradDiff) / (quad > 0 ? quad : TAU);
            if (objDiff <= objDiffMin) {
              GminIdx = j;
              objDiffMin = objDiff;
            }
          }
        }
      }
    }
    if (Gmax + Gmax2 < this.eps || GminIdx === -1) return false;
    this.outI = GmaxIdx;
    this.outJ = GminIdx;
    return true;
  }

  private beShrunk(i: number, Gmax1: number, Gmax2: number): boolean {
    const { status, y, G } = this;
    if (status[i] === UPPER) return y[i] === 1 ? -G[i] > Gmax1 : -G[i] > Gmax2;
    if (status[i] === LOWER) return y[i] === 1 ? G[i] > Gmax2 : G[i] > Gmax1;
    return false;
  }

  private doShrinking(): void {
    const { y, status, G } = this;
    let Gmax1 = -Infinity; // max { −y_i ∇f_i | i in I_up }
    let Gmax2 = -Infinity; // max { y_i ∇f_i | i in I_low }
    for (let i = 0; i < this.activeSize; i++) {
      if (y[i] === 1) {
        if (status[i] !== UPPER && -G[i] >= Gmax1) Gmax1 = -G[i];
        if (status[i] !== LOWER && G[i] >= Gmax2) Gmax2 = G[i];
      } else {
        if (status[i] !== UPPER && -G[i] >= Gmax2) Gmax2 = -G[i];
        if (status[i] !== LOWER && G[i] >= Gmax1) Gmax1 = G[i];
      }
    }
    if (!this.unshrink && Gmax1 + Gmax2 <= this.eps * 10) {
      this.unshrink = true;
      this.reconstructGradient();
      this.activeSize = this.l;
    }
    for (let i = 0; i < this.activeSize; i++) {
      if (!this.beShrunk(i, Gmax1, Gmax2)) continue;
      this.activeSize--;
      while (this.activeSize > i) {
        if (!this.beShrunk(this.activeSize, Gmax1, Gmax2)) {
          this.swapIndex(i, this.activeSize);
          break;
        }
        this.activeSize--;
      }
    }
  }

  /** Runs SMO to the stopping rule (or libsvm's iteration limit); returns the iterations. */
  solve(): number {
    const { l, y, alpha, G, Gbar, QD, status, C } = this;
    const maxIterations = Math.max(10_000_000, l > Math.floor(2147483647 / 100) ? 2147483647 : 100 * l);
    let counter = Math.min(l, 1000) + 1;
    let iterations = 0;
    while (iterations < maxIterations) {
      if (--counter === 0) {
        counter = Math.min(l, 1000);
        if (this.shrinking) this.doShrinking();
      }
      if (!this.selectWorkingSet()) {
        this.reconstructGradient();
        this.activeSize = l;
        if (!this.selectWorkingSet()) break;
        counter = 1; // shrink at the next iteration
      }
      iterations++;
      const i = this.outI;
      const j = this.outJ;
      const n = this.activeSize;
      const Qi = this.Q.get(i, n);
      const Qj = this.Q.get(j, n);
      const oldI = alpha[i];
      const oldJ = alpha[j];
      let ai = oldI;
      let aj = oldJ;
      if (y[i] !== y[j]) {
        let quad = QD[i] + QD[j] + 2 * Qi[j];
        if (quad <= 0) quad = TAU;
        const delta = (-G[i] - G[j]) / quad;
        const diff = ai - aj;
        ai += delta;
        aj += delta;
        if (diff > 0) {
          if (aj < 0) {
            aj = 0;
            ai = diff;
          }
        } else if (ai < 0) {
          ai = 0;
          aj = -diff;
        }
        if (diff > 0) { // C_i − C_j = 0
          if (ai > C) {
            ai = C;
            aj = C - diff;
          }
        } else if (aj > C) {
          aj = C;
          ai = C + diff;
        }
      } else {
        let quad = QD[i] + QD[j] - 2 * Qi[j];
        if (quad <= 0) quad = TAU;
        const delta = (G[i] - G[j]) / quad;
        const sum = ai + aj;
        ai -= delta;
        aj += delta;
        if (sum > C) {
          if (ai > C) {
            ai = C;
            aj = sum - C;
          }
        } else if (aj < 0) {
          aj = 0;
          ai = sum;
        }
        if (sum > C) {
          if (aj > C) {
            aj = C;
            ai = sum - C;
          }
        } else if (ai < 0) {
          ai = 0;
          aj = sum;
        }
      }
      alpha[i] = ai;
      alpha[j] = aj;
      const dI = ai - oldI;
      const dJ = aj - oldJ;
      for (let k = 0; k < n; k++) G[k] += Qi[k] * dI + Qj[k] * dJ;

      const wasUpperI = status[i] === UPPER;
      const wasUpperJ = status[j] === UPPER;
      this.updateStatus(i);
      this.updateStatus(j);
      if (wasUpperI !== (status[i] === UPPER)) {
        const column = this.Q.get(i, l);
        const c = wasUpperI ? -C : C;
        for (let k = 0; k < l; k++) Gbar[k] += c * column[k];
      }
      if (wasUpperJ !== (status[j] === UPPER)) {
        const column = this.Q.get(j, l);
        const c = wasUpperJ ? -C : C;
        for (let k = 0; k < l; k++) Gbar[k] += c * column[k];
      }
    }
    if (iterations >= maxIterations && this.activeSize < l) {
      this.reconstructGradient(); // libsvm warns "reaching max number of iterations" and stops here
      this.activeSize = l;
    }
    return iterations;
  }

  /** libsvm's calculate_rho: the mean of y·G over free variables, else the middle of [lb, ub]. */
  rho(): number {
    const { y, G, status } = this;
    let ub = Infinity;
    let lb = -Infinity;
    let sumFree = 0;
    let free = 0;
    for (let i = 0; i < this.activeSize; i++) {
      const yG = y[i] * G[i];
      if (status[i] === UPPER) {
        if (y[i] === -1) ub = Math.min(ub, yG);
        else lb = Math.max(lb, yG);
      } else if (status[i] === LOWER) {
        if (y[i] === 1) ub = Math.min(ub, yG);
        else lb = Math.max(lb, yG);
      } else {
        free++;
        sumFree += yG;
      }
    }
    return free > 0 ? sumFree / free : (ub + lb) / 2;
  }
}

// ---------------------------------------------------------------------------------------------
// the model text

/** Does the exact decimal value of a (> 0, finite) end, after `digits` significant digits, in 5 then zeros? */
function isHalfway(a: number, digits: number): boolean {
  const longer = a.toExponential(digits); // digits + 1 significant digits
  if (longer[digits + (digits > 0 ? 1 : 0)] !== '5') return false;
  const exact = a.toExponential(100);
  const mantissa = exact.slice(0, exact.indexOf('e')).replace('.', '');
  return mantissa[digits] === '5' && /^0*$/.test(mantissa.slice(digits + 1));
}

/**
 * C's printf("%.<precision>g", value) (musl's and glibc's: correctly rounded, ties to even).
 * JavaScript's toExponential rounds ties away from zero, so exact ties are corrected.
 */
export function formatG(value: number, precision = 6): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  const P = Math.max(precision, 1);
  const sign = value < 0 ? '-' : '';
  const a = Math.abs(value);
  const e = a.toExponential(P - 1);
  const at = e.indexOf('e');
  let X = Number(e.slice(at + 1));
  let D = P > 1 ? e[0] + e.slice(2, at) : e.slice(0, at); // the digits without the point
  // An exact tie needs a·2^(P − X0) to be an integer, X0 the exact decimal exponent (X or X − 1: the
  // rounding may carry into the next power of ten), so a·2^(P − X + 1) must be one (exact: a power of
  // two). Few values pass, and only those pay for isHalfway's two more conversions.
  if (Number.isInteger(a * 2 ** (P - X + 1)) && isHalfway(a, P)) {
    // an exact tie: keep the truncated digits when their last one is even
    const exact = a.toExponential(100);
    const truncated = exact.slice(0, exact.indexOf('e')).replace('.', '').slice(0, P);
    if ((truncated.charCodeAt(P - 1) - 48) % 2 === 0) {
      D = truncated;
      X = Number(exact.slice(exact.indexOf('e') + 1));
    }
  }
  if (X < -4 || X >= P) {
    const rest = withoutTrailingZeros(D.slice(1));
    const exponent = `${X < 0 ? '-' : '+'}${String(Math.abs(X)).padStart(2, '0')}`;
    return `${sign}${D[0]}${rest ? `.${rest}` : ''}e${exponent}`;
  }
  let whole: string;
  let fraction: string;
  if (X >= 0) {
    whole = D.slice(0, X + 1);
    fraction = D.slice(X + 1);
  } else {
    whole = '0';
    fraction = '0'.repeat(-X - 1) + D;
  }
  fraction = withoutTrailingZeros(fraction);
  return `${sign}${whole}${fraction ? `.${fraction}` : ''}`;
}

function withoutTrailingZeros(digits: string): string {
  let end = digits.length;
  while (end > 0 && digits.charCodeAt(end - 1) === 48) end--;
  return end === digits.length ? digits : digits.slice(0, end);
}

/**
 * svm_save_model's text for a two-class C-SVC trained on `rows` (no probA / probB: probability.ts
 * adds them). Every feature is written, zeros included, as libsvm-js passes dense rows.
 */
export function binaryModelText(model: BinarySvm, rows: Float64Array, p: number, options: Pick<SmoOptions, 'kernel' | 'gamma'>): string {
  const parts: string[] = [
    'svm_type c_svc\n',
    `kernel_type ${options.kernel}\n`,
    options.kernel === 'rbf' ? `gamma ${formatG(options.gamma)}\n` : '',
    'nr_class 2\n',
    `total_sv ${model.coef.length}\n`,
    `rho ${formatG(model.rho)}\n`,
    `label ${model.labels[0]} ${model.labels[1]}\n`,
    `nr_sv ${model.nSV[0]} ${model.nSV[1]}\n`,
    'SV\n',
  ];
  for (let k = 0; k < model.coef.length; k++) {
    let line = `${formatG(model.coef[k], 16)} `;
    const base = model.supportRows[k] * p;
    for (let j = 0; j < p; j++) line += `${j + 1}:${formatG(rows[base + j], 8)} `;
    parts.push(`${line}\n`);
  }
  return parts.join('');
}
