/**
 * Dot products for the SVM in a tiny hand-assembled WebAssembly module using 128-bit SIMD (two
 * float64 lanes). The module is data, not fetched code: its bytes are spelled out below with the
 * instruction each stands for. Two functions:
 *   - `dots`: one row with every support vector (prediction). Four accumulators of two lanes each
 *     (independent add chains the CPU overlaps, 1.6× faster than two); libsvm-js's scalar code on
 *     sparse nodes, and plain JavaScript, both take about 75 ns per 61-feature support vector, this
 *     about a third of that. Sums in another order than libsvm's: equal within 1e-12, not bit for bit.
 *   - `pairDots`: one row with a block of rows stored two by two, feature by feature (training's
 *     kernel columns). Each lane sums one row's products in feature order, multiply then add, as
 *     the solver's JavaScript and libsvm's C do: the same bits, computed several times faster.
 * Rows are padded with zeros: support vectors to a multiple of eight values, paired rows to a
 * multiple of eight rows.
 */

import { f64x2Add, f64x2Mul, get, I32, i32, moduleBytes, set, simd, V128, WasmModule, zeroV128, type WasmMemory } from '../wasm-assembly';

const v128Load = [...simd(0x00), 0x03, 0x00]; // align 2^3, offset 0
const extractLane = (lane: number) => [...simd(0x21), lane];

// params: 0 sv, 1 x, 2 out, 3 m (support vectors), 4 q (padded row length, a multiple of 8)
// locals: 5 k, 6 j, 7 svp, 8-11 acc0..acc3
const K = 5;
const J = 6;
const SVP = 7;
const ACC0 = 8;
const ACC1 = 9;
const ACC2 = 10;
const ACC3 = 11;
/** acc += v128.load(svp + offset) * v128.load(x + j*8 + offset) */
const accumulate = (acc: number, offset: number) => [
  ...get(acc),
  ...get(SVP), ...i32(offset), 0x6a, ...v128Load,
  ...get(1), ...get(J), ...i32(3), 0x74, 0x6a, ...i32(offset), 0x6a, ...v128Load,
  ...f64x2Mul, ...f64x2Add, ...set(acc),
];
const dotsBody = [
  ...get(0), ...set(SVP),
  ...i32(0), ...set(K),
  0x02, 0x40, // block
  0x03, 0x40, //   loop over support vectors
  ...get(K), ...get(3), 0x4f, 0x0d, 0x01, // if k >= m: break
  ...zeroV128, ...set(ACC0),
  ...zeroV128, ...set(ACC1),
  ...zeroV128, ...set(ACC2),
  ...zeroV128, ...set(ACC3),
  ...i32(0), ...set(J),
  0x02, 0x40, //     block
  0x03, 0x40, //       loop over features, eight at a time
  ...get(J), ...get(4), 0x4f, 0x0d, 0x01, // if j >= q: break
  ...accumulate(ACC0, 0),
  ...accumulate(ACC1, 16),
  ...accumulate(ACC2, 32),
  ...accumulate(ACC3, 48),
  ...get(SVP), ...i32(64), 0x6a, ...set(SVP),
  ...get(J), ...i32(8), 0x6a, ...set(J),
  0x0c, 0x00, // continue
  0x0b, 0x0b, //     end loop, end block
  // out[k] = sum of the eight lanes: (acc0 + acc1) + (acc2 + acc3), then lane 0 + lane 1
  ...get(2), ...get(K), ...i32(3), 0x74, 0x6a,
  ...get(ACC0), ...get(ACC1), ...f64x2Add, ...get(ACC2), ...get(ACC3), ...f64x2Add, ...f64x2Add, ...set(ACC0),
  ...get(ACC0), ...extractLane(0), ...get(ACC0), ...extractLane(1), 0xa0,
  0x39, 0x03, 0x00, // f64.store
  ...get(K), ...i32(1), 0x6a, ...set(K),
  0x0c, 0x00, // continue
  0x0b, 0x0b, // end loop, end block
  0x0b, // end function
];
const dotsLocals = [0x02, 0x03, I32, 0x04, V128];


// pairDots — params: 0 xi (the row, p values), 1 rows (the first group), 2 out, 3 groups, 4 p.
// A group is eight rows as four pairs; pair k of a group holds its two rows' feature f side by
// side at k·stride + 16f (stride = 16p bytes). Out gets the group's eight dots in row order.
// locals: 5 g, 6 a (pair 0's feature f), 7 xf (xi's feature f), 8 xend, 9 stride, 10 stride·2,
// 11 stride·3, 12-15 acc0..acc3, 16 s (xi's feature f in both lanes)
const G = 5;
const A = 6;
const XF = 7;
const XEND = 8;
const STRIDE = 9;
const STRIDE2 = 10;
const STRIDE3 = 11;
const PACC = [12, 13, 14, 15];
const S = 16;
const v128Splat64 = [...simd(0x0a), 0x03, 0x00]; // v128.load64_splat, align 2^3, offset 0
const v128Store = (offset: number) => [...simd(0x0b), 0x04, offset]; // align 2^4
/** acc += s * v128.load(a + strideLocal), each lane rounded as scalar code would round it */
const pairAccumulate = (acc: number, strideLocal: number | undefined) => [
  ...get(acc),
  ...get(S),
  ...get(A), ...(strideLocal === undefined ? [] : [...get(strideLocal), 0x6a]), ...v128Load,
  ...f64x2Mul, ...f64x2Add, ...set(acc),
];
const pairDotsBody = [
  ...get(4), ...i32(4), 0x74, ...set(STRIDE),
  ...get(STRIDE), ...i32(1), 0x74, ...set(STRIDE2),
  ...get(STRIDE2), ...get(STRIDE), 0x6a, ...set(STRIDE3),
  ...get(0), ...get(4), ...i32(3), 0x74, 0x6a, ...set(XEND),
  ...i32(0), ...set(G),
  0x02, 0x40, // block
  0x03, 0x40, //   loop over groups
  ...get(G), ...get(3), 0x4f, 0x0d, 0x01, // if g >= groups: break
  ...PACC.flatMap((acc) => [...zeroV128, ...set(acc)]),
  ...get(1), ...set(A),
  ...get(0), ...set(XF),
  0x02, 0x40, //     block
  0x03, 0x40, //       loop over features
  ...get(XF), ...get(XEND), 0x4f, 0x0d, 0x01, // if xf >= xend: break
  ...get(XF), ...v128Splat64, ...set(S),
  ...pairAccumulate(PACC[0], undefined),
  ...pairAccumulate(PACC[1], STRIDE),
  ...pairAccumulate(PACC[2], STRIDE2),
  ...pairAccumulate(PACC[3], STRIDE3),
  ...get(A), ...i32(16), 0x6a, ...set(A),
  ...get(XF), ...i32(8), 0x6a, ...set(XF),
  0x0c, 0x00, // continue
  0x0b, 0x0b, //     end loop, end block
  ...PACC.flatMap((acc, k) => [...get(2), ...get(acc), ...v128Store(16 * k)]),
  ...get(2), ...i32(64), 0x6a, ...set(2),
  ...get(1), ...get(STRIDE), ...i32(2), 0x74, 0x6a, ...set(1), // rows += 4·stride
  ...get(G), ...i32(1), 0x6a, ...set(G),
  0x0c, 0x00, // continue
  0x0b, 0x0b, // end loop, end block
  0x0b, // end function
];
const pairDotsLocals = [0x02, 0x07, I32, 0x05, V128];

const MODULE = new WasmModule(
  moduleBytes({ params: 5, results: [] }, [
    { name: 'dots', locals: dotsLocals, body: dotsBody },
    { name: 'pairDots', locals: pairDotsLocals, body: pairDotsBody },
  ]),
);

/** Support vectors held in wasm memory; `dots(x)` returns x·sv_k for every k. */
export class SimdDots {
  private readonly memory: WasmMemory;
  private readonly run: (sv: number, x: number, out: number, m: number, q: number) => void;
  private readonly q: number;
  private readonly xAt: number;
  private readonly outAt: number;

  constructor(
    sv: Float64Array,
    readonly m: number,
    readonly p: number,
  ) {
    const instance = MODULE.instance();
    this.memory = instance.memory;
    this.run = instance.exports.dots as SimdDots['run'];
    this.q = Math.ceil(p / 8) * 8;
    this.xAt = m * this.q * 8;
    this.outAt = this.xAt + this.q * 8;
    const bytes = this.outAt + m * 8;
    const pages = Math.ceil(bytes / 65536);
    if (pages > 1) this.memory.grow(pages - 1);
    const heap = new Float64Array(this.memory.buffer);
    for (let k = 0; k < m; k++) heap.set(sv.subarray(k * p, k * p + p), k * this.q);
  }

  /** x·sv_k for k = 0..m-1 (a view into wasm memory, valid until the next call). */
  dots(x: Float64Array): Float64Array {
    const heap = new Float64Array(this.memory.buffer);
    heap.set(x.subarray(0, this.p), this.xAt / 8);
    this.run(0, this.xAt, this.outAt, this.m, this.q);
    return heap.subarray(this.outAt / 8, this.outAt / 8 + this.m);
  }
}

/**
 * Training rows held in wasm memory two by two, for kernel columns: `dots(i, from, to)` gives
 * x_i·x_j for j in [from, to), each summed in feature order (the bits of the scalar loop). Rows
 * are kept in the solver's position order: `swap` moves them as shrinking reorders positions, so a
 * column's rows are always one contiguous block.
 */
export class PairedRows {
  private readonly memory: WasmMemory;
  private readonly run: (xi: number, rows: number, out: number, groups: number, p: number) => void;
  private readonly heap: Float64Array;
  /** float64 offsets of the areas in wasm memory */
  private readonly xiAt: number;
  private readonly outAt: number;

  constructor(
    rows: Float64Array,
    readonly l: number,
    readonly p: number,
    /** Offset in `rows` of the row at each position (default r·p). */
    offsets?: ArrayLike<number>,
  ) {
    if (rows.length < l * p) throw new Error(`PairedRows: ${rows.length} values for ${l} rows of ${p} features`);
    const instance = MODULE.instance();
    this.memory = instance.memory;
    this.run = instance.exports.pairDots as PairedRows['run'];
    const padded = Math.ceil(l / 8) * 8;
    this.xiAt = padded * p;
    this.outAt = this.xiAt + p;
    const pages = Math.ceil(((this.outAt + padded) * 8) / 65536);
    if (pages > 1) this.memory.grow(pages - 1);
    this.heap = new Float64Array(this.memory.buffer);
    const heap = this.heap;
    for (let r = 0; r < l; r++) {
      const at = this.at(r);
      const from = offsets ? offsets[r] : r * p;
      for (let f = 0; f < p; f++) heap[at + 2 * f] = rows[from + f];
    }
  }

  /** float64 offset of row r's first feature (its others follow every second value). */
  private at(r: number): number {
    return (r >> 1) * 2 * this.p + (r & 1);
  }

  swap(i: number, j: number): void {
    if (i === j) return;
    const heap = this.heap;
    const a = this.at(i);
    const b = this.at(j);
    for (let f = 0; f < 2 * this.p; f += 2) {
      const t = heap[a + f];
      heap[a + f] = heap[b + f];
      heap[b + f] = t;
    }
  }

  /**
   * x_i·x_j for j in [from, to): a view into wasm memory (valid until the next call) in which
   * x_i·x_j is at index j − base.
   */
  dots(i: number, from: number, to: number): { values: Float64Array; base: number } {
    const { heap, p } = this;
    const a = this.at(i);
    for (let f = 0; f < p; f++) heap[this.xiAt + f] = heap[a + 2 * f];
    const base = from & ~7;
    const groups = (to - base + 7) >> 3;
    this.run(this.xiAt * 8, base * p * 8, this.outAt * 8, groups, p);
    return { values: heap.subarray(this.outAt, this.outAt + groups * 8), base };
  }
}
