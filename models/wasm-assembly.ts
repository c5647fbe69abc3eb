/**
 * What the hand-assembled WebAssembly modules (svm/simd-dots.ts, simd-exp.ts,
 * trees/histogram-kernel.ts, neural/network-kernel.ts) are written with: instruction encodings,
 * the module's sections, and loading it. Each module's bytes are spelled out in its own file with the instruction each stands
 * for; none is fetched or generated elsewhere.
 */

export const I32 = 0x7f;
export const F64 = 0x7c;
export const V128 = 0x7b;
export const get = (i: number) => [0x20, i];
export const set = (i: number) => [0x21, i];
export const tee = (i: number) => [0x22, i];
/** i32.const (its immediate is signed LEB128). */
export const i32 = (n: number) => [0x41, ...sleb(n)];
/** A SIMD instruction (prefix 0xfd, then the opcode as LEB128). */
export const simd = (op: number) => [0xfd, ...(op < 0x80 ? [op] : [(op & 0x7f) | 0x80, op >> 7])];
export const f64x2Add = simd(0xf0);
export const f64x2Sub = simd(0xf1);
export const f64x2Mul = simd(0xf2);
export const zeroV128 = [...simd(0x0c), ...new Array<number>(16).fill(0)];
/** v128.load / v128.store at address + offset (alignment hint 2^4). */
export const v128Load = (offset = 0) => [...simd(0x00), 0x04, ...leb(offset)];
export const v128Store = (offset = 0) => [...simd(0x0b), 0x04, ...leb(offset)];
/** v128.const with the same float64 in both lanes. */
export function f64x2Const(value: number): number[] {
  const bytes = [...new Uint8Array(new Float64Array([value]).buffer)];
  return [...simd(0x0c), ...bytes, ...bytes];
}

export function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

const section = (id: number, content: number[]) => [id, ...leb(content.length), ...content];
const name = (s: string) => [s.length, ...[...s].map((c) => c.charCodeAt(0))];

export interface Signature {
  /** Count of i32 parameters. */
  params: number;
  results: number[];
}

/**
 * A module of functions with i32 parameters (each of `signature`'s type unless it names its own),
 * one memory (exported as "memory"), and each function exported under its name.
 */
export function moduleBytes(signature: Signature, functions: ReadonlyArray<{ name: string; locals: number[]; body: number[]; signature?: Signature }>): Uint8Array {
  const count = functions.length;
  const typeOf = (t: Signature) => [0x60, t.params, ...new Array<number>(t.params).fill(I32), t.results.length, ...t.results];
  const types: string[] = [];
  const typeIndex = functions.map((f) => {
    const key = JSON.stringify(typeOf(f.signature ?? signature));
    if (!types.includes(key)) types.push(key);
    return types.indexOf(key);
  });
  const code = (f: { locals: number[]; body: number[] }) => {
    const bytes = [...f.locals, ...f.body];
    return [...leb(bytes.length), ...bytes];
  };
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [types.length, ...types.flatMap((t) => JSON.parse(t) as number[])]),
    ...section(3, [count, ...typeIndex]),
    ...section(5, [0x01, 0x00, 0x01]), // one memory, min 1 page
    ...section(7, [count + 1, ...functions.flatMap((f, k) => [...name(f.name), 0x00, k]), ...name('memory'), 0x02, 0x00]),
    ...section(10, [count, ...functions.flatMap(code)]),
  ]);
}

// The project compiles without the DOM library, which is where TypeScript declares WebAssembly.
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
};

/** Compiles a module's bytes once; each instance() has its own memory. */
export class WasmModule {
  private compiled: object | undefined;
  constructor(private readonly bytes: Uint8Array) {}

  instance(): { memory: WasmMemory; exports: Record<string, unknown> } {
    this.compiled ??= new WebAssembly.Module(this.bytes);
    const { exports } = new WebAssembly.Instance(this.compiled);
    return { memory: exports.memory as WasmMemory, exports };
  }
}
