/**
 * The network's training arithmetic (network.ts) in a small hand-assembled WebAssembly module with
 * 128-bit SIMD (four float32 lanes), and the memory it works in. One matrix product does every
 * dense step, forward and backward:
 *
 *   gemm   C[r][c] (+)= Σ_t A(r, t) · B[t][c]    A(r, t) at a + r·sar + t·sat (any strides),
 *                                                B and C row-major; rows % 4 = 0, cols % 8 = 0
 *
 * forward  H = relu(X·W + b)         A = X, strides (width, 1)
 * weights  ∂W = Xᵀ·∂H                 A = X read as its transpose, strides (1, width)
 * inputs   ∂X = ∂H·Wᵀ                 A = ∂H, B = Wᵀ (kept transposed beside W)
 * biases   ∂b = 1ᵀ·∂H, b broadcast    A = a single 1, strides (0, 0)
 *
 * It keeps a block of 4 rows × 8 columns in eight accumulators and adds one product per step of t
 * to each (multiply, then add, both rounded to float32), so every output is summed in t order:
 * the results depend on the data and the weights only, not on the machine or on how the batch is
 * split among threads (see network.ts). Three elementwise loops finish it: ReLU, a product
 * (dropout masks) and the ReLU's gradient.
 *
 * Why not TF.js, which did this before: a training step of a 64-32 network on batches of 200 rows
 * is ~20 kernels each way, and on its wasm backend (single-threaded in Node) their dispatch cost
 * more than their arithmetic, ~0.9 ms a step; this takes ~0.3 ms on one thread, and shares a
 * batch's parts among threads (network-threads.ts). TF.js is the tests' oracle for it now.
 *
 * Padding: every layer's width is padded to a multiple of 8 with zero weights, so padded units
 * stay 0 and their gradients are dropped; rows to a multiple of 4 with zero rows (zero loss
 * gradient). After a convolution the flattened width is laid out position by position, each
 * position's filters padded, and the next layer's weights take the same row layout.
 */
import { f64x2Add, f64x2Const, f64x2Mul, get, I32, i32, leb, moduleBytes, set, simd, tee, V128, v128Load, v128Store, WasmModule, zeroV128, type WasmMemory } from '../wasm-assembly';
import type { Architecture } from './network';

const splat = [...simd(0x09), 0x02, 0x00]; // v128.load32_splat
const add = simd(0xe4); // f32x4.add
const mul = simd(0xe6); // f32x4.mul
const max = simd(0xe9); // f32x4.max
const gt = simd(0x44); // f32x4.gt
const and = simd(0x4e); // v128.and
const ADD = 0x6a;
const SUB = 0x6b;
const MUL = 0x6c;
const GE_U = 0x4f;
const EQZ = 0x45;

// gemm — params: 0 a, 1 sar, 2 sat, 3 b, 4 ldb, 5 c, 6 ldc (strides in bytes), 7 rows, 8 colBytes,
// 9 depth, 10 accumulate (0: C = A·B, 1: C += A·B).
// locals: 11 arow, 12 crow, 13 r (rows left), 14 cb (column byte), 15 t (steps left), 16-19 pa0..pa3,
// 20 pb, 21 q; v128: 22-29 acc0..acc7 (row k, half h at 22 + 2k + h), 30 b0, 31 b1, 32 s
const [A, SAR, SAT, B, LDB, C, LDC, ROWS, COL_BYTES, DEPTH, ACCUMULATE] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const [AROW, CROW, R, CB, T] = [11, 12, 13, 14, 15];
const PA = [16, 17, 18, 19];
const [PB, Q] = [20, 21];
const ACC = [22, 23, 24, 25, 26, 27, 28, 29];
const [B0, B1, S] = [30, 31, 32];
const ks = [0, 1, 2, 3];

/** q = crow + cb, then for each of the 4 rows: f(row), q += ldc. */
const eachRowOfBlock = (f: (k: number) => number[]) => [
  ...get(CROW), ...get(CB), ADD, ...set(Q),
  ...ks.flatMap((k) => [...f(k), ...(k < 3 ? [...get(Q), ...get(LDC), ADD, ...set(Q)] : [])]),
];
const gemmBody = [
  ...get(A), ...set(AROW),
  ...get(C), ...set(CROW),
  ...get(ROWS), ...set(R),
  0x02, 0x40, 0x03, 0x40, // block, loop over blocks of 4 rows
  ...get(R), EQZ, 0x0d, 0x01,
  ...i32(0), ...set(CB),
  0x02, 0x40, 0x03, 0x40, //   block, loop over blocks of 8 columns
  ...get(CB), ...get(COL_BYTES), GE_U, 0x0d, 0x01,
  ...get(ACCUMULATE), 0x04, 0x40, // if accumulate: start from C
  ...eachRowOfBlock((k) => [...get(Q), ...v128Load(0), ...set(ACC[2 * k]), ...get(Q), ...v128Load(16), ...set(ACC[2 * k + 1])]),
  0x05, // else: from zero
  ...ACC.flatMap((acc) => [...zeroV128, ...set(acc)]),
  0x0b,
  ...get(AROW), ...tee(PA[0]), ...get(SAR), ADD, ...tee(PA[1]), ...get(SAR), ADD, ...tee(PA[2]), ...get(SAR), ADD, ...set(PA[3]),
  ...get(B), ...get(CB), ADD, ...set(PB),
  ...get(DEPTH), ...set(T),
  0x02, 0x40, 0x03, 0x40, //     block, loop over t
  ...get(T), EQZ, 0x0d, 0x01,
  ...get(PB), ...v128Load(0), ...set(B0),
  ...get(PB), ...v128Load(16), ...set(B1),
  ...ks.flatMap((k) => [
    ...get(PA[k]), ...splat, ...set(S),
    ...get(ACC[2 * k]), ...get(S), ...get(B0), ...mul, ...add, ...set(ACC[2 * k]),
    ...get(ACC[2 * k + 1]), ...get(S), ...get(B1), ...mul, ...add, ...set(ACC[2 * k + 1]),
  ]),
  ...ks.flatMap((k) => [...get(PA[k]), ...get(SAT), ADD, ...set(PA[k])]),
  ...get(PB), ...get(LDB), ADD, ...set(PB),
  ...get(T), ...i32(1), SUB, ...set(T),
  0x0c, 0x00, 0x0b, 0x0b, //     continue; end loop, end block
  ...eachRowOfBlock((k) => [...get(Q), ...get(ACC[2 * k]), ...v128Store(0), ...get(Q), ...get(ACC[2 * k + 1]), ...v128Store(16)]),
  ...get(CB), ...i32(32), ADD, ...set(CB),
  0x0c, 0x00, 0x0b, 0x0b, //   continue; end loop, end block
  ...get(AROW), ...get(SAR), ...i32(4), MUL, ADD, ...set(AROW),
  ...get(CROW), ...get(LDC), ...i32(4), MUL, ADD, ...set(CROW),
  ...get(R), ...i32(4), SUB, ...set(R),
  0x0c, 0x00, 0x0b, 0x0b, // continue; end loop, end block
  0x0b,
];

// adam — params: 0 w (float32), 1 g (float32 gradients), 2 m, 3 v (float64 moments), 4 count (even),
// 5 constants (float64: decay, learning rate, 1 − β1^t, 1 − β2^t). Two weights at a time in float64,
// the operations of network.ts's former JavaScript Adam in its order, so the same bits:
//   g' = g + decay·w;  m = 0.9·m + 0.1·g';  v = 0.999·v + (0.001·g')·g'
//   w = float32(w − (rate · (m / c1)) / (sqrt(v / c2) + 1e-8))
// locals: 6 i (pairs left); v128: 7 w, 8 g', 9 m, 10 v
const load64Zero = (offset: number) => [...simd(0x5d), 0x03, ...leb(offset)];
const load64Splat = (offset: number) => [...simd(0x0a), 0x03, ...leb(offset)];
const store64Lane0 = [...simd(0x5b), 0x03, 0x00, 0x00];
const promote = simd(0x5f); // f64x2.promote_low_f32x4
const demote = simd(0x5e); // f32x4.demote_f64x2_zero
const f64Add = f64x2Add;
const f64Sub = simd(0xf1);
const f64Mul = f64x2Mul;
const f64Div = simd(0xf3);
const f64Sqrt = simd(0xef);
const both = f64x2Const;
const [AW, AG, AM, AV, ACOUNT, ACONST, AI, WV, GV, MV, VV] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const adamBody = [
  ...get(ACOUNT), ...i32(1), 0x76, ...set(AI), // pairs = count >>> 1
  0x02, 0x40, 0x03, 0x40,
  ...get(AI), EQZ, 0x0d, 0x01,
  ...get(AW), ...load64Zero(0), ...promote, ...set(WV),
  ...get(AG), ...load64Zero(0), ...promote, ...get(ACONST), ...load64Splat(0), ...get(WV), ...f64Mul, ...f64Add, ...set(GV),
  ...get(AM), ...both(0.9), ...get(AM), ...v128Load(0), ...f64Mul, ...both(0.1), ...get(GV), ...f64Mul, ...f64Add, ...tee(MV), ...v128Store(0),
  ...get(AV), ...both(0.999), ...get(AV), ...v128Load(0), ...f64Mul, ...both(0.001), ...get(GV), ...f64Mul, ...get(GV), ...f64Mul, ...f64Add, ...tee(VV), ...v128Store(0),
  ...get(AW),
  ...get(WV),
  ...get(ACONST), ...load64Splat(8), ...get(MV), ...get(ACONST), ...load64Splat(16), ...f64Div, ...f64Mul,
  ...get(VV), ...get(ACONST), ...load64Splat(24), ...f64Div, ...f64Sqrt, ...both(1e-8), ...f64Add,
  ...f64Div, ...f64Sub, ...demote,
  ...store64Lane0,
  ...get(AW), ...i32(8), ADD, ...set(AW),
  ...get(AG), ...i32(8), ADD, ...set(AG),
  ...get(AM), ...i32(16), ADD, ...set(AM),
  ...get(AV), ...i32(16), ADD, ...set(AV),
  ...get(AI), ...i32(1), SUB, ...set(AI),
  0x0c, 0x00, 0x0b, 0x0b,
  0x0b,
];

// Elementwise over `bytes` (a multiple of 16) — params: 0 p, 1 q, 2 bytes; local 3 i.
const elementwise = (value: number[]) => [
  ...i32(0), ...set(3),
  0x02, 0x40, 0x03, 0x40,
  ...get(3), ...get(2), GE_U, 0x0d, 0x01,
  ...get(0), ...get(3), ADD, ...value, ...v128Store(0),
  ...get(3), ...i32(16), ADD, ...set(3),
  0x0c, 0x00, 0x0b, 0x0b,
  0x0b,
];
const pAt = [...get(0), ...get(3), ADD, ...v128Load(0)];
const qAt = [...get(1), ...get(3), ADD, ...v128Load(0)];

const MODULE = new WasmModule(
  moduleBytes({ params: 3, results: [] }, [
    { name: 'gemm', locals: [0x02, 11, I32, 11, V128], body: gemmBody, signature: { params: 11, results: [] } },
    { name: 'relu', locals: [0x01, 1, I32], body: elementwise([...pAt, ...zeroV128, ...max]) },
    { name: 'scale', locals: [0x01, 1, I32], body: elementwise([...pAt, ...qAt, ...mul]) },
    { name: 'reluGradient', locals: [0x01, 1, I32], body: elementwise([...pAt, ...qAt, ...zeroV128, ...gt, ...and]) },
    { name: 'add', locals: [0x01, 1, I32], body: elementwise([...pAt, ...qAt, ...add]) },
    { name: 'adam', locals: [0x02, 1, I32, 4, V128], body: adamBody, signature: { params: 6, results: [] } },
  ]),
);

type Gemm = (a: number, sar: number, sat: number, b: number, ldb: number, c: number, ldc: number, rows: number, colBytes: number, depth: number, accumulate: number) => void;
type Elementwise = (p: number, q: number, bytes: number) => void;
type AdamStep = (w: number, g: number, m: number, v: number, count: number, constants: number) => void;

const pad8 = (n: number) => Math.ceil(n / 8) * 8;
const pad4 = (n: number) => Math.ceil(n / 4) * 4;
const PAGE = 65_536;

/** One layer as the kernel lays it out (widths in float32 values). */
interface Layer {
  inputs: number;
  outputs: number;
  inP: number;
  outP: number;
  /** Activation rows per batch row: the window's positions for the convolution, else 1. */
  perRow: number;
  /** Padded row of real input i (the layer after a convolution skips each position's padding). */
  rowOf: (i: number) => number;
  // byte offsets
  w: number;
  b: number;
  /** Wᵀ, for the gradient of the layer's input (not kept for the first layer). */
  wt: number;
  gw: number;
  /** 4 rows: the bias gradient is the first. */
  gb: number;
  /** This layer's output, after ReLU and dropout (the logits for the last). */
  h: number;
  /** Gradient of the loss with respect to h (before ReLU: see backward). */
  d: number;
  /** Dropout multipliers of h (hidden layers). */
  mask: number;
  /** The gradients summed over the blocks since clearGradients(). */
  sumW: number;
  sumB: number;
  /** Adam's moments of w and b, float64. */
  mW: number;
  vW: number;
  mB: number;
  vB: number;
}

/** Byte offset of Adam's float64 constants (decay, rate, c1, c2); bytes 0..3 hold the constant 1. */
const CONSTANTS = 16;

/**
 * One thread's network memory: padded weights, their gradients, and the activations of a block of
 * up to `capacity` batch rows. Load weights, load rows, forward, write the logits' gradient,
 * backward, read the gradients.
 */
export class NetworkKernel {
  private readonly memory: WasmMemory;
  private readonly gemm: Gemm;
  private readonly relu: Elementwise;
  private readonly scale: Elementwise;
  private readonly reluGradient: Elementwise;
  private readonly add: Elementwise;
  private readonly adam: AdamStep;
  private readonly layers: Layer[];
  /** Byte offsets and sizes of the weights, the gradient sums, and where other threads' sums land. */
  private readonly blocks: { weights: number; sums: number; incoming: number; weightBytes: number; sumBytes: number };
  /** The first layer's input: rows (× positions for a convolution) of inP values. */
  private readonly input: number;
  private readonly ones: number;
  private readonly f32: Float32Array;
  private readonly f64: Float64Array;
  private optimiser = { learningRate: 0.001, l2: 0, t: 0 };
  /** Rows in the block since the last loadRows (padded to 4 in the buffers). */
  private rows = 0;

  constructor(
    readonly architecture: Architecture,
    /** Most batch rows in one block. */
    readonly capacity: number,
  ) {
    const a = architecture;
    let offset = 64; // bytes 0..3: the constant 1
    const take = (floats: number) => {
      const at = offset;
      offset += Math.ceil((floats * 4) / 64) * 64;
      return at;
    };
    const rowsCap = pad4(capacity);
    // Shapes first, then memory: each layer's weights and gradient sums in one block each, so
    // threads exchange them with one copy (exportWeights, addGradients).
    type Shape = Pick<Layer, 'inputs' | 'outputs' | 'inP' | 'outP' | 'perRow' | 'rowOf'>;
    const shapes: Shape[] = [];
    let width = a.inputs;
    let widthP = pad8(a.inputs);
    let rowOf = (i: number) => i;
    if (a.conv) {
      const c = a.conv;
      const outP = pad8(c.filters);
      shapes.push({ inputs: c.kernelSize * c.channels, outputs: c.filters, inP: pad8(c.kernelSize * c.channels), outP, perRow: c.window - c.kernelSize + 1, rowOf });
      width = shapes[0].perRow * c.filters;
      widthP = shapes[0].perRow * outP;
      rowOf = (i) => Math.floor(i / c.filters) * outP + (i % c.filters);
    }
    for (const units of [...a.hidden, a.classes]) {
      shapes.push({ inputs: width, outputs: units, inP: widthP, outP: pad8(units), perRow: 1, rowOf });
      width = units;
      widthP = pad8(units);
      rowOf = (i) => i;
    }
    const block = (sizes: (s: Shape) => number[]) => {
      const start = offset;
      const at = shapes.map((s) => sizes(s).map(take));
      return { start, bytes: offset - start, at };
    };
    const weights = block((s) => [s.inP * s.outP, s.outP]);
    const sums = block((s) => [s.inP * s.outP, s.outP]);
    this.blocks = { weights: weights.start, sums: sums.start, incoming: take(sums.bytes / 4), weightBytes: weights.bytes, sumBytes: sums.bytes };
    this.layers = shapes.map((s, k) => ({
      ...s,
      w: weights.at[k][0], b: weights.at[k][1], sumW: sums.at[k][0], sumB: sums.at[k][1],
      wt: take(s.outP * s.inP), gw: take(s.inP * s.outP), gb: take(4 * s.outP),
      h: take(rowsCap * s.perRow * s.outP), d: take(rowsCap * s.perRow * s.outP), mask: take(rowsCap * s.perRow * s.outP),
      mW: take(2 * s.inP * s.outP), vW: take(2 * s.inP * s.outP), mB: take(2 * s.outP), vB: take(2 * s.outP),
    }));
    const first = this.layers[0];
    this.input = take(rowsCap * first.perRow * first.inP);
    this.ones = 0;

    const { memory, exports } = MODULE.instance();
    this.memory = memory;
    const pages = Math.ceil(offset / PAGE) - memory.buffer.byteLength / PAGE;
    if (pages > 0 && memory.grow(pages) < 0) throw new Error(`network kernel: WebAssembly memory cannot grow to ${Math.ceil(offset / 2 ** 20)} MiB`);
    this.gemm = exports.gemm as Gemm;
    this.relu = exports.relu as Elementwise;
    this.scale = exports.scale as Elementwise;
    this.reluGradient = exports.reluGradient as Elementwise;
    this.add = exports.add as Elementwise;
    this.adam = exports.adam as AdamStep;
    this.f32 = new Float32Array(memory.buffer);
    this.f64 = new Float64Array(memory.buffer);
    this.f32[this.ones / 4] = 1;
  }

  /** Copies the weights (weightShapes order, unpadded) into the padded layout. */
  setWeights(weights: readonly Float32Array[]): void {
    const f = this.f32;
    this.layers.forEach((l, k) => {
      const w = weights[2 * k];
      for (let i = 0; i < l.inputs; i++) f.set(w.subarray(i * l.outputs, (i + 1) * l.outputs), l.w / 4 + l.rowOf(i) * l.outP);
      f.set(weights[2 * k + 1], l.b / 4);
    });
    this.transpose();
  }

  /** The weights, unpadded, in weightShapes order (copies). */
  weights(): Float32Array[] {
    return this.unpad((l) => l.w, (l) => l.b);
  }

  /** The gradients summed since clearGradients(), unpadded, in weightShapes order (copies). */
  gradients(): Float32Array[] {
    return this.unpad((l) => l.sumW, (l) => l.sumB);
  }

  private unpad(w: (l: Layer) => number, b: (l: Layer) => number): Float32Array[] {
    const f = this.f32;
    return this.layers.flatMap((l) => {
      const out = new Float32Array(l.inputs * l.outputs);
      for (let i = 0; i < l.inputs; i++) {
        const at = w(l) / 4 + l.rowOf(i) * l.outP;
        out.set(f.subarray(at, at + l.outputs), i * l.outputs);
      }
      return [out, f.slice(b(l) / 4, b(l) / 4 + l.outputs)];
    });
  }

  /** Floats of the padded weights (exportWeights) and of the padded gradient sums (exportGradients). */
  get weightFloats(): number {
    return this.blocks.weightBytes / 4;
  }

  get gradientFloats(): number {
    return this.blocks.sumBytes / 4;
  }

  /** The padded weights, for another thread's kernel of the same architecture (importWeights). */
  exportWeights(into: Float32Array): void {
    into.set(this.f32.subarray(this.blocks.weights / 4, (this.blocks.weights + this.blocks.weightBytes) / 4));
  }

  importWeights(from: Float32Array): void {
    this.f32.set(from.subarray(0, this.weightFloats), this.blocks.weights / 4);
    this.transpose();
  }

  /** The padded gradient sums, for another thread's kernel (addGradients). */
  exportGradients(into: Float32Array): void {
    into.set(this.f32.subarray(this.blocks.sums / 4, (this.blocks.sums + this.blocks.sumBytes) / 4));
  }

  /** Adds another kernel's exported gradient sums to these. */
  addGradients(from: Float32Array): void {
    this.f32.set(from.subarray(0, this.gradientFloats), this.blocks.incoming / 4);
    this.add(this.blocks.sums, this.blocks.incoming, this.blocks.sumBytes);
  }

  /** Wᵀ beside W, for the gradients of the layers' inputs. */
  private transpose(): void {
    const f = this.f32;
    for (let k = 1; k < this.layers.length; k++) {
      const l = this.layers[k];
      const w = l.w / 4;
      const wt = l.wt / 4;
      for (let i = 0; i < l.inP; i++) for (let o = 0; o < l.outP; o++) f[wt + o * l.inP + i] = f[w + i * l.outP + o];
    }
  }

  /** Starts Adam afresh (zero moments) with this step size and L2 penalty on the kernels. */
  startAdam(learningRate: number, l2: number): void {
    this.optimiser = { learningRate, l2, t: 0 };
    for (const l of this.layers) {
      this.f64.fill(0, l.mW / 8, l.mW / 8 + l.inP * l.outP);
      this.f64.fill(0, l.vW / 8, l.vW / 8 + l.inP * l.outP);
      this.f64.fill(0, l.mB / 8, l.mB / 8 + l.outP);
      this.f64.fill(0, l.vB / 8, l.vB / 8 + l.outP);
    }
  }

  /**
   * One Adam step (Kingma & Ba; β1 0.9, β2 0.999, ε 1e-8) on the summed gradients, with the L2
   * term's gradient 2·l2·w added for the kernels (biases are not penalised).
   */
  adamStep(): void {
    const o = this.optimiser;
    o.t++;
    const c = CONSTANTS / 8;
    this.f64[c + 1] = o.learningRate;
    this.f64[c + 2] = 1 - 0.9 ** o.t;
    this.f64[c + 3] = 1 - 0.999 ** o.t;
    for (const l of this.layers) {
      this.f64[c] = 2 * o.l2;
      this.adam(l.w, l.sumW, l.mW, l.vW, l.inP * l.outP, CONSTANTS);
      this.f64[c] = 0;
      this.adam(l.b, l.sumB, l.mB, l.vB, l.outP, CONSTANTS);
    }
    this.transpose();
  }

  /** Zeroes the gradient sums that backward() adds to. */
  clearGradients(): void {
    this.f32.fill(0, this.blocks.sums / 4, (this.blocks.sums + this.blocks.sumBytes) / 4);
  }

  /**
   * Loads rows `rows[from..to)` of `x` (row-major, architecture.inputs values per row), or rows
   * from..to-1 without `rows`: as they are, or unfolded into one patch per window position for a
   * convolution.
   */
  loadRows(x: Float32Array, rows: ArrayLike<number> | undefined, from: number, to: number): void {
    const n = to - from;
    if (n < 1 || n > this.capacity) throw new Error(`network kernel: a block holds 1..${this.capacity} rows, not ${n}`);
    this.rows = n;
    const f = this.f32;
    const first = this.layers[0];
    const p = this.architecture.inputs;
    const inP = first.inP;
    const base = this.input / 4;
    const conv = this.architecture.conv;
    const rowsP = pad4(n);
    if (!conv) {
      for (let i = 0; i < n; i++) {
        const src = (rows ? rows[from + i] : from + i) * p;
        f.set(x.subarray(src, src + p), base + i * inP);
      }
    } else {
      const patch = conv.kernelSize * conv.channels;
      for (let i = 0; i < n; i++) {
        const src = (rows ? rows[from + i] : from + i) * p;
        for (let t = 0; t < first.perRow; t++) {
          const dst = base + (i * first.perRow + t) * inP;
          const at = src + t * conv.channels;
          for (let j = 0; j < patch; j++) f[dst + j] = x[at + j];
        }
      }
    }
    f.fill(0, base + n * first.perRow * inP, base + rowsP * first.perRow * inP); // padding rows
  }

  /**
   * Multipliers for hidden representation k (dropout), `width` real values per batch row as
   * network.ts draws them; applied by the next forward() and backward().
   */
  setMask(k: number, values: Float32Array, width: number): void {
    const l = this.layers[k];
    const next = this.layers[k + 1];
    const f = this.f32;
    const base = l.mask / 4;
    const rowWidth = l.perRow * l.outP;
    f.fill(0, base, base + pad4(this.rows) * rowWidth);
    for (let i = 0; i < this.rows; i++) {
      for (let j = 0; j < width; j++) f[base + i * rowWidth + next.rowOf(j)] = values[i * width + j];
    }
  }

  /** Logits of the loaded rows; `masked` applies the masks set for them. Returns a view (rows × stride). */
  forward(masked: boolean): { logits: Float32Array; stride: number } {
    const rowsP = pad4(this.rows);
    let input = this.input;
    this.layers.forEach((l, k) => {
      const rows = rowsP * l.perRow;
      const bytes = rows * l.outP * 4;
      this.gemm(this.ones, 0, 0, l.b, 0, l.h, l.outP * 4, rows, l.outP * 4, 1, 0);
      this.gemm(input, l.inP * 4, 4, l.w, l.outP * 4, l.h, l.outP * 4, rows, l.outP * 4, l.inP, 1);
      if (k < this.layers.length - 1) {
        this.relu(l.h, 0, bytes);
        if (masked) this.scale(l.h, l.mask, bytes);
      }
      input = l.h;
    });
    const last = this.layers[this.layers.length - 1];
    return { logits: new Float32Array(this.memory.buffer, last.h, rowsP * last.outP), stride: last.outP };
  }

  /** Where to write ∂loss/∂logits: laid out as forward()'s logits, zero in padding rows and columns. */
  logitGradient(): Float32Array {
    const last = this.layers[this.layers.length - 1];
    return new Float32Array(this.memory.buffer, last.d, pad4(this.rows) * last.outP);
  }

  /**
   * Gradients of every weight from the logits' gradient, through the layers of the last forward(),
   * added to the sums (block after block, in the order they come).
   */
  backward(masked: boolean): void {
    const rowsP = pad4(this.rows);
    for (let k = this.layers.length - 1; k >= 0; k--) {
      const l = this.layers[k];
      const rows = rowsP * l.perRow;
      const input = k > 0 ? this.layers[k - 1].h : this.input;
      this.gemm(input, 4, l.inP * 4, l.d, l.outP * 4, l.gw, l.outP * 4, l.inP, l.outP * 4, rows, 0);
      this.gemm(this.ones, 0, 0, l.d, l.outP * 4, l.gb, l.outP * 4, 4, l.outP * 4, rows, 0);
      this.add(l.sumW, l.gw, l.inP * l.outP * 4);
      this.add(l.sumB, l.gb, l.outP * 4);
      if (k > 0) {
        const prev = this.layers[k - 1];
        const bytes = rows * l.inP * 4;
        this.gemm(l.d, l.outP * 4, 4, l.wt, l.inP * 4, prev.d, l.inP * 4, rows, l.inP * 4, l.outP, 0);
        if (masked) this.scale(prev.d, prev.mask, bytes);
        this.reluGradient(prev.d, prev.h, bytes);
      }
    }
  }
}
