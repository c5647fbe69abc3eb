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
 * Why not TF.js: a training step of a 64-32 network on batches of 200 rows is ~20 kernels each
 * way, and on the wasm backend their dispatch cost more than their arithmetic (~1 ms a step);
 * this does the step in ~0.3 ms. TF.js stays the reference the tests compare these gradients with.
 *
 * Padding: every layer's width is padded to a multiple of 8 with zero weights, so padded units
 * stay 0 and their gradients are dropped; rows to a multiple of 4 with zero rows (zero loss
 * gradient). After a convolution the flattened width is laid out position by position, each
 * position's filters padded, and the next layer's weights take the same row layout.
 */
import { get, I32, i32, leb, moduleBytes, set, simd, tee, V128, WasmModule, zeroV128, type WasmMemory } from '../wasm-assembly';
import type { Architecture } from './network';

const v128Load = (offset: number) => [...simd(0x00), 0x04, ...leb(offset)];
const v128Store = (offset: number) => [...simd(0x0b), 0x04, ...leb(offset)];
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
  ]),
);

type Gemm = (a: number, sar: number, sat: number, b: number, ldb: number, c: number, ldc: number, rows: number, colBytes: number, depth: number, accumulate: number) => void;
type Elementwise = (p: number, q: number, bytes: number) => void;

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
}

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
  private readonly layers: Layer[];
  /** The first layer's input: rows (× positions for a convolution) of inP values. */
  private readonly input: number;
  private readonly ones: number;
  private f32: Float32Array;
  /** Rows in the block since the last loadRows (padded to 4 in the buffers). */
  private rows = 0;

  constructor(
    readonly architecture: Architecture,
    /** Most batch rows in one block. */
    readonly capacity: number,
  ) {
    const a = architecture;
    this.layers = [];
    let offset = 64; // bytes 0..3: the constant 1
    const take = (floats: number) => {
      const at = offset;
      offset += Math.ceil((floats * 4) / 64) * 64;
      return at;
    };
    const rowsCap = pad4(capacity);
    const layer = (inputs: number, inP: number, outputs: number, perRow: number, rowOf: (i: number) => number): Layer => {
      const outP = pad8(outputs);
      return {
        inputs, outputs, inP, outP, perRow, rowOf,
        w: take(inP * outP), b: take(outP), wt: take(outP * inP), gw: take(inP * outP), gb: take(4 * outP),
        h: take(rowsCap * perRow * outP), d: take(rowsCap * perRow * outP), mask: take(rowsCap * perRow * outP),
      };
    };
    let width = a.inputs;
    let widthP = pad8(a.inputs);
    let rowOf = (i: number) => i;
    if (a.conv) {
      const c = a.conv;
      const steps = c.window - c.kernelSize + 1;
      const conv = layer(c.kernelSize * c.channels, pad8(c.kernelSize * c.channels), c.filters, steps, (i) => i);
      this.layers.push(conv);
      width = steps * c.filters;
      widthP = steps * conv.outP;
      rowOf = (i) => Math.floor(i / c.filters) * conv.outP + (i % c.filters);
    }
    for (const units of [...a.hidden, a.classes]) {
      const l = layer(width, widthP, units, 1, rowOf);
      this.layers.push(l);
      width = units;
      widthP = l.outP;
      rowOf = (i) => i;
    }
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
    this.f32 = new Float32Array(memory.buffer);
    this.f32[this.ones / 4] = 1;
  }

  /** Copies the weights (weightShapes order, unpadded) into the padded layout, and Wᵀ beside W. */
  setWeights(weights: readonly Float32Array[]): void {
    const f = this.f32;
    this.layers.forEach((l, k) => {
      const w = weights[2 * k];
      const bias = weights[2 * k + 1];
      const wAt = l.w / 4;
      const wtAt = l.wt / 4;
      for (let i = 0; i < l.inputs; i++) {
        const row = l.rowOf(i);
        for (let o = 0; o < l.outputs; o++) {
          const v = w[i * l.outputs + o];
          f[wAt + row * l.outP + o] = v;
          f[wtAt + o * l.inP + row] = v;
        }
      }
      f.set(bias, l.b / 4);
    });
  }

  /**
   * Loads batch rows `rows[from..to)` of `x` (row-major, architecture.inputs values per row):
   * as they are, or unfolded into one patch per window position for a convolution.
   */
  loadRows(x: Float32Array, rows: ArrayLike<number>, from: number, to: number): void {
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
        const src = rows[from + i] * p;
        const dst = base + i * inP;
        for (let j = 0; j < p; j++) f[dst + j] = x[src + j];
      }
    } else {
      const patch = conv.kernelSize * conv.channels;
      for (let i = 0; i < n; i++) {
        const src = rows[from + i] * p;
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

  /** Gradients of every weight from the logits' gradient, through the layers of the last forward(). */
  backward(masked: boolean): void {
    const rowsP = pad4(this.rows);
    for (let k = this.layers.length - 1; k >= 0; k--) {
      const l = this.layers[k];
      const rows = rowsP * l.perRow;
      const input = k > 0 ? this.layers[k - 1].h : this.input;
      this.gemm(input, 4, l.inP * 4, l.d, l.outP * 4, l.gw, l.outP * 4, l.inP, l.outP * 4, rows, 0);
      this.gemm(this.ones, 0, 0, l.d, l.outP * 4, l.gb, l.outP * 4, 4, l.outP * 4, rows, 0);
      if (k > 0) {
        const prev = this.layers[k - 1];
        const bytes = rows * l.inP * 4;
        this.gemm(l.d, l.outP * 4, 4, l.wt, l.inP * 4, prev.d, l.inP * 4, rows, l.inP * 4, l.outP, 0);
        if (masked) this.scale(prev.d, prev.mask, bytes);
        this.reluGradient(prev.d, prev.h, bytes);
      }
    }
  }

  /** Adds the gradients of the last backward() into `sums` (weightShapes order, unpadded). */
  addGradients(sums: Float32Array[]): void {
    const f = this.f32;
    this.layers.forEach((l, k) => {
      const gw = sums[2 * k];
      const gb = sums[2 * k + 1];
      const at = l.gw / 4;
      for (let i = 0; i < l.inputs; i++) {
        const row = at + l.rowOf(i) * l.outP;
        for (let o = 0; o < l.outputs; o++) gw[i * l.outputs + o] += f[row + o];
      }
      const b = l.gb / 4;
      for (let o = 0; o < l.outputs; o++) gb[o] += f[b + o];
    });
  }
}
