/**
 * exp of many values at once in a tiny hand-assembled WebAssembly module (128-bit SIMD, two
 * float64 lanes), bit for bit what `Math.exp` gives. V8's Math.exp is fdlibm's __ieee754_exp;
 * this is the same algorithm, operation for operation, on two lanes: the argument reduction
 * x = k·ln2 + r (ln2 in a high and a low part, k = trunc(x/ln2 ± ½)), the same degree-5 polynomial
 * for r, then the scaling by 2^k. Lanes take the path fdlibm would take through `select`s instead
 * of branches: |x| < 2^-28 gives 1 + x; |x| ≤ ½ln2 takes k = 0; k < −1021 scales in two steps;
 * x below −745.13 gives 0. Arguments fdlibm treats as special (NaN, above 709), and 1 (V8 returns
 * Math.E for it), are reported back and left to Math.exp.
 *
 * Why: an RBF kernel value is one exp, and at 8–13 ns a call Math.exp was most of the time the SVM
 * spent outside its dot products (training columns, predictions, permutation importance); and
 * boosting takes one sigmoid per row and round (20 M in a 200k-row, 100-round fit).
 */

import { f64x2Add, f64x2Const, f64x2Mul, f64x2Sub, get, I32, i32, moduleBytes, set, simd, tee, V128, v128Load, v128Store, WasmModule, type WasmMemory } from './wasm-assembly';

const add = f64x2Add;
const sub = f64x2Sub;
const mul = f64x2Mul;
const div = simd(0xf3);
const abs = simd(0xec);
const trunc = simd(0x7a);
const lt = simd(0x49);
const gt = simd(0x4a);
const ne = simd(0x48);
const eq = simd(0x47);
const ge = simd(0x4c);
const and = simd(0x4e);
const or = simd(0x50);
const bitselect = simd(0x52); // (a, b, mask): a where the mask is set, else b
const anyTrue = simd(0x53);
const i64x2Shl = simd(0xcb);
const both = f64x2Const;
/** A float64 from its bits, as fdlibm writes its constants. */
const fromBits = (hi: number, lo: number) => new Float64Array(new Uint32Array([lo, hi]).buffer)[0];

const LN2_HI = fromBits(0x3fe62e42, 0xfee00000);
const LN2_LO = fromBits(0x3dea39ef, 0x35793c76);
const INV_LN2 = fromBits(0x3ff71547, 0x652b82fe);
const P1 = fromBits(0x3fc55555, 0x5555553e);
const P2 = fromBits(0xbf66c16c, 0x16bebd93);
const P3 = fromBits(0x3f11566a, 0xaf25de2c);
const P4 = fromBits(0xbebbbd41, 0xc5d26bf1);
const P5 = fromBits(0x3e663769, 0x72bea4d0);
const U_THRESHOLD = fromBits(0xc0874910, 0xd52d3051); // below: 0
const ABOVE_HALF_LN2 = fromBits(0x3fd62e43, 0); // |x| ≥ this: k from x/ln2 (fdlibm: hx > 0x3fd62e42)
const TINY = fromBits(0x3e300000, 0); // |x| < 2^-28: 1 + x
const LARGEST = 709; // above (or NaN): left to Math.exp

// exps — params: 0 in, 1 out, 2 n (a multiple of 2); returns 1 when a lane was NaN, above 709 or 1.
// locals: 3 end, 4 x, 5 k, 6 hi, 7 lo, 8 r, 9 t, 10 c, 11 y, 12 low (k < −1021), 13 special
const END = 3;
const X = 4;
const K = 5;
const HI = 6;
const LO = 7;
const R = 8;
const T = 9;
const C = 10;
const Y = 11;
const LOW = 12;
const SPECIAL = 13;
const body = [
  ...get(0), ...get(2), ...i32(3), 0x74, 0x6a, ...set(END),
  ...both(0), ...set(SPECIAL),
  0x02, 0x40, // block
  0x03, 0x40, //   loop over pairs of values
  ...get(0), ...get(END), 0x4f, 0x0d, 0x01, // if in >= end: break
  ...get(0), ...v128Load(), ...set(X),
  // k = |x| ≥ ½ln2 ? trunc(x/ln2 ± ½) : 0, ± the sign of x (fdlibm's halF[xsb])
  ...get(X), ...both(INV_LN2), ...mul,
  ...both(-0.5), ...both(0.5), ...get(X), ...both(0), ...lt, ...bitselect, ...add,
  ...trunc,
  ...get(X), ...abs, ...both(ABOVE_HALF_LN2), ...ge, ...and, ...set(K), // the mask keeps k or makes it +0
  // hi = x − k·ln2HI, lo = k·ln2LO, r = hi − lo
  ...get(X), ...get(K), ...both(LN2_HI), ...mul, ...sub, ...tee(HI),
  ...get(K), ...both(LN2_LO), ...mul, ...tee(LO), ...sub, ...tee(R),
  // t = r², c = r − t·(P1 + t·(P2 + t·(P3 + t·(P4 + t·P5))))
  ...get(R), ...mul, ...set(T),
  ...get(R), ...get(T),
  ...both(P1), ...get(T), ...both(P2), ...get(T), ...both(P3), ...get(T), ...both(P4), ...get(T), ...both(P5),
  ...mul, ...add, ...mul, ...add, ...mul, ...add, ...mul, ...add, ...mul, ...sub, ...set(C),
  // y = 1 − ((lo − (r·c)/(2 − c)) − hi)
  ...both(1), ...get(LO), ...get(R), ...get(C), ...mul, ...both(2), ...get(C), ...sub, ...div, ...sub, ...get(HI), ...sub, ...sub, ...set(Y),
  // 2^k from its bits: (k + 1023) << 52, with k + 1000 and a later 2^-1000 where k < −1021
  ...get(K), ...both(-1021), ...lt, ...set(LOW),
  ...get(Y),
  ...get(K), ...both(1023 + 2 ** 52), ...add, ...both(1000), ...get(LOW), ...and, ...add, ...i32(52), ...i64x2Shl,
  ...mul,
  ...both(2 ** -1000), ...both(1), ...get(LOW), ...bitselect, ...mul,
  ...set(Y),
  // |x| < 2^-28: 1 + x; x below the underflow threshold: 0
  ...both(1), ...get(X), ...add, ...get(Y), ...get(X), ...abs, ...both(TINY), ...lt, ...bitselect, ...set(Y),
  ...both(0), ...get(Y), ...get(X), ...both(U_THRESHOLD), ...lt, ...bitselect, ...set(Y),
  ...get(1), ...get(Y), ...v128Store(),
  ...get(SPECIAL), ...get(X), ...both(LARGEST), ...gt, ...get(X), ...get(X), ...ne, ...or, ...get(X), ...both(1), ...eq, ...or, ...or, ...set(SPECIAL),
  ...get(0), ...i32(16), 0x6a, ...set(0),
  ...get(1), ...i32(16), 0x6a, ...set(1),
  0x0c, 0x00, // continue
  0x0b, 0x0b, // end loop, end block
  ...get(SPECIAL), ...anyTrue,
  0x0b, // end function
];
const locals = [0x02, 0x01, I32, 0x0a, V128];

const MODULE = new WasmModule(moduleBytes({ params: 3, results: [I32] }, [{ name: 'exps', locals, body }]));

/**
 * An input and an output area in wasm memory: write arguments into `input(n)`, call `run(n)`, read
 * exp of each from the returned view (valid until the next call of either).
 */
export class SimdExp {
  private readonly memory: WasmMemory;
  private readonly exps: (input: number, output: number, n: number) => number;
  private capacity = 0;

  constructor() {
    const instance = MODULE.instance();
    this.memory = instance.memory;
    this.exps = instance.exports.exps as SimdExp['exps'];
  }

  /** The input area for n arguments (padded to an even count). */
  input(n: number): Float64Array {
    const even = n + (n & 1);
    if (even > this.capacity) {
      const pages = Math.ceil((2 * even * 8) / 65536) - this.memory.buffer.byteLength / 65536;
      if (pages > 0) this.memory.grow(pages);
      this.capacity = even;
    }
    return new Float64Array(this.memory.buffer, 0, even);
  }

  /** exp of the first n values of the input area, each the bits Math.exp gives. */
  run(n: number): Float64Array {
    const input = this.input(n);
    const even = input.length;
    if (even > n) input[n] = 0;
    const outAt = this.capacity * 8;
    const output = new Float64Array(this.memory.buffer, outAt, even);
    if (this.exps(0, outAt, even)) {
      for (let k = 0; k < n; k++) if (!(input[k] <= LARGEST) || input[k] === 1) output[k] = Math.exp(input[k]); // NaN, large, or 1 (V8 returns Math.E for exp(1))
    }
    return output.subarray(0, n);
  }
}

let shared: SimdExp | undefined;
/** This thread's instance (JavaScript runs one call at a time per thread, so one input area is enough). */
export function simdExp(): SimdExp {
  return (shared ??= new SimdExp());
}
