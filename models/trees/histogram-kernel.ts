/**
 * The gradient histograms' inner loop in a tiny hand-assembled WebAssembly module, and the memory
 * it works in. Per row of a node: for each of the range's features, histogram[feature][bin] += the
 * row's packed gradient. Four rows go through the features together, so four independent
 * load-add-store chains overlap where JavaScript runs one (its typed-array stores also check
 * bounds): about twice as fast as the same loop in JavaScript on the S&P 500 feature set. The
 * packed gradients are exact integers (see HistogramData), so the order of additions cannot
 * change a sum: the histograms are the ones the JavaScript loop builds, bit for bit.
 */
import { F64, get, I32, i32, leb, moduleBytes, set, tee, WasmModule, type WasmMemory } from '../wasm-assembly';

const i32Load = (offset: number) => [0x28, 0x02, ...leb(offset)];
const f64Load = (offset: number) => [0x2b, 0x03, ...leb(offset)];
const f64Store = (offset: number) => [0x39, 0x03, ...leb(offset)];
const ADD = 0x6a;
const SUB = 0x6b;
const MUL = 0x6c;
const AND = 0x71;
const SHL = 0x74;
const SHR_U = 0x76;
const LT_U = 0x49;
const F64_ADD = 0xa0;
/** Bytes of one feature's histogram: 256 bins of one float64. */
const FEATURE_BYTES = 256 * 8;

// build — params: 0 order (row numbers), 1 count, 2 packed (per row), 3 bins (rowBytes per row),
// 4 rowBytes, 5 words (features / 4), 6 hist (words · 4 feature histograms).
// locals: 7 i (into order), 8 end of the four-row part, 9 end, 10 r, 11 h, 12 w, 13 a,
// 14-17 s0..s3 (each row's next word), 18-21 word0..word3; 22-25 p0..p3 (f64)
const [ORDER, COUNT, PACKED, BINS, ROW_BYTES, WORDS, HIST] = [0, 1, 2, 3, 4, 5, 6];
const [I, END4, END, R, H, W, A] = [7, 8, 9, 10, 11, 12, 13];
const S = [14, 15, 16, 17];
const WORD = [18, 19, 20, 21];
const P = [22, 23, 24, 25];
const locals = [0x02, 15, I32, 4, F64];

/** Row k of the group at order[i + k]: its packed gradient and the address of its bins. */
const loadRow = (k: number) => [
  ...get(I), ...i32Load(4 * k), ...set(R),
  ...get(PACKED), ...get(R), ...i32(3), SHL, ADD, ...f64Load(0), ...set(P[k]),
  ...get(BINS), ...get(R), ...get(ROW_BYTES), MUL, ADD, ...set(S[k]),
];
/** Byte b of word k, times 8: (word >> 8b) & 255, shifted to a float64 offset in one step. */
const binOffset = (k: number, b: number) =>
  b === 0 ? [...get(WORD[k]), ...i32(3), SHL, ...i32(2040), AND] : [...get(WORD[k]), ...i32(8 * b - 3), SHR_U, ...i32(2040), AND];
/** hist[feature b of the word][bin] += p_k */
const addByte = (k: number, b: number) => [
  ...get(H), ...binOffset(k, b), ADD, ...tee(A),
  ...get(A), ...f64Load(b * FEATURE_BYTES), ...get(P[k]), F64_ADD,
  ...f64Store(b * FEATURE_BYTES),
];
/** One pass over the range's words for rows 0..rows-1 of the group. */
const wordLoop = (rows: number) => {
  const ks = Array.from({ length: rows }, (_, k) => k);
  return [
    ...get(HIST), ...set(H),
    ...get(WORDS), ...set(W),
    0x03, 0x40, // loop over words
    ...ks.flatMap((k) => [...get(S[k]), ...i32Load(0), ...set(WORD[k])]),
    ...ks.flatMap((k) => [0, 1, 2, 3].flatMap((b) => addByte(k, b))),
    ...ks.flatMap((k) => [...get(S[k]), ...i32(4), ADD, ...set(S[k])]),
    ...get(H), ...i32(4 * FEATURE_BYTES), ADD, ...set(H), // h += 4 features
    ...get(W), ...i32(1), SUB, ...tee(W), 0x0d, 0x00, // continue while --w
    0x0b, // end loop
  ];
};
const body = [
  ...get(ORDER), ...set(I),
  ...get(ORDER), ...get(COUNT), ...i32(2), SHL, ADD, ...set(END),
  // end4 = order + 4·(count − count mod 4)
  ...get(END), ...get(COUNT), ...i32(3), AND, ...i32(2), SHL, SUB, ...set(END4),
  0x02, 0x40, // block
  0x03, 0x40, //   loop over groups of four rows
  ...get(I), ...get(END4), LT_U, 0x45, 0x0d, 0x01, // if !(i < end4): break
  ...loadRow(0), ...loadRow(1), ...loadRow(2), ...loadRow(3),
  ...wordLoop(4),
  ...get(I), ...i32(16), ADD, ...set(I),
  0x0c, 0x00, // continue
  0x0b, 0x0b, // end loop, end block
  0x02, 0x40, // block
  0x03, 0x40, //   loop over the last rows, one at a time
  ...get(I), ...get(END), LT_U, 0x45, 0x0d, 0x01, // if !(i < end): break
  ...loadRow(0),
  ...wordLoop(1),
  ...get(I), ...i32(4), ADD, ...set(I),
  0x0c, 0x00, // continue
  0x0b, 0x0b, // end loop, end block
  0x0b, // end function
];

// partition — params: 0 order (row numbers), 1 count, 2 column (one bin byte per row), 3 bin,
// 4 scratch; returns the count of left rows (bin byte <= bin). Left rows are moved to the front of
// order and right ones to scratch, both in their order, without a branch: a split sends rows
// either way unpredictably, and mispredicted branches took most of the JavaScript loop's time.
// locals: 5 i, 6 end, 7 l (next left slot), 8 s (next scratch slot), 9 r, 10 right (1 or 0)
const [P_ORDER, P_COUNT, P_COLUMN, P_BIN, P_SCRATCH] = [0, 1, 2, 3, 4];
const [PI, PEND, PL, PS, PR, RIGHT] = [5, 6, 7, 8, 9, 10];
const i32Load8 = [0x2d, 0x00, 0x00];
const i32Store = [0x36, 0x02, 0x00];
const GE_U = 0x4f;
const partitionBody = [
  ...get(P_ORDER), ...set(PI),
  ...get(P_ORDER), ...set(PL),
  ...get(P_SCRATCH), ...set(PS),
  ...get(P_ORDER), ...get(P_COUNT), ...i32(2), SHL, ADD, ...set(PEND),
  0x02, 0x40, // block
  0x03, 0x40, //   loop over rows
  ...get(PI), ...get(PEND), GE_U, 0x0d, 0x01, // if i >= end: break
  ...get(PI), ...i32Load(0), ...set(PR),
  ...get(P_BIN), ...get(P_COLUMN), ...get(PR), ADD, ...i32Load8, SUB, ...i32(31), SHR_U, ...set(RIGHT), // right = (bin - column[r]) >>> 31
  ...get(PL), ...get(PR), ...i32Store,
  ...get(PS), ...get(PR), ...i32Store,
  ...get(PL), ...i32(1), ...get(RIGHT), SUB, ...i32(2), SHL, ADD, ...set(PL),
  ...get(PS), ...get(RIGHT), ...i32(2), SHL, ADD, ...set(PS),
  ...get(PI), ...i32(4), ADD, ...set(PI),
  0x0c, 0x00, // continue
  0x0b, 0x0b, // end loop, end block
  ...get(PL), ...get(P_ORDER), SUB, ...i32(2), SHR_U, // (l - order) / 4
  0x0b, // end function
];

const MODULE = new WasmModule(
  moduleBytes({ params: 7, results: [] }, [
    { name: 'build', locals, body },
    { name: 'partition', locals: [0x01, 6, I32], body: partitionBody, signature: { params: 5, results: [I32] } },
  ]),
);

const PAGE = 65_536;
const align = (bytes: number) => Math.ceil(bytes / 64) * 64;

/**
 * One thread's histogram memory: its features' bins (row-major, 4·words bytes per row), every
 * feature's bins column by column (for partitions), the current tree's packed gradients, the rows
 * of the node being built or partitioned, and histogram slots that are handed out and returned by
 * number. Views of a slot are valid until the next allocate().
 */
export class HistogramMemory {
  private readonly memory: WasmMemory;
  private readonly build: (order: number, count: number, packed: number, bins: number, rowBytes: number, words: number, hist: number) => void;
  private readonly partitionRun: (order: number, count: number, column: number, bin: number, scratch: number) => number;
  private readonly columnsAt: number;
  private readonly scratchAt: number;
  private readonly rowBytes: number;
  private readonly packedAt: number;
  private readonly orderAt: number;
  private readonly slotsAt: number;
  /** Float64 values per slot. */
  readonly size: number;
  private slots = 0;
  private readonly free: number[] = [];
  private heap!: Float64Array;
  private order!: Int32Array;
  private scratch!: Int32Array;

  constructor(
    private readonly rows: number,
    private readonly words: number,
    /** Features in the column-major bins. */
    features: number,
  ) {
    const { memory, exports } = MODULE.instance();
    this.memory = memory;
    this.build = exports.build as HistogramMemory['build'];
    this.partitionRun = exports.partition as HistogramMemory['partitionRun'];
    this.rowBytes = 4 * words;
    this.size = words * 4 * 256;
    this.columnsAt = align(rows * this.rowBytes);
    this.packedAt = this.columnsAt + align(rows * features);
    this.orderAt = this.packedAt + align(rows * 8);
    this.scratchAt = this.orderAt + align(rows * 4);
    this.slotsAt = this.scratchAt + align(rows * 4);
    this.reserve(this.slotsAt + 8 * this.size * 8);
  }

  /** Copies column-major bins (columns[j · rows + r]) of every feature. */
  loadColumns(columns: Uint8Array): void {
    new Uint8Array(this.memory.buffer, this.columnsAt, columns.length).set(columns);
  }

  /**
   * Stable partition of order[start..end) on feature <= bin (from loadColumns' bins): left rows
   * stay in front, right rows follow, both in their order. Returns the left count.
   */
  partition(order: Int32Array, start: number, end: number, feature: number, bin: number): number {
    const count = end - start;
    this.order.set(order.subarray(start, end));
    const nl = this.partitionRun(this.orderAt, count, this.columnsAt + feature * this.rows, bin, this.scratchAt);
    order.set(this.order.subarray(0, nl), start);
    order.set(this.scratch.subarray(0, count - nl), start + nl);
    return nl;
  }

  /** Copies words [w0, w0 + words) of every row of row-major bins (rowWords 32-bit words per row), of which the first `features` bytes of a row are features. */
  loadBins(source: Uint32Array, rowWords: number, w0: number, features = this.rowBytes): void {
    const target = new Uint32Array(this.memory.buffer, 0, this.rows * this.words);
    const words = this.words;
    for (let r = 0, o = w0, t = 0; r < this.rows; r++, o += rowWords) for (let w = 0; w < words; w++) target[t++] = source[o + w];
    // Padding bytes past the last feature are never split on, but the loop adds them anyway: give
    // them the row's low byte, not 0, so their adds spread over bins instead of forming one chain
    // of dependent adds to a single bin (which made the range with padding the slower one).
    const bytes = new Uint8Array(this.memory.buffer, 0, this.rows * this.rowBytes);
    for (let f = features; f < this.rowBytes; f++) for (let r = 0; r < this.rows; r++) bytes[r * this.rowBytes + f] = r & 255;
  }

  /** The tree's packed gradients, one per row (rows out of its sample are never read). */
  loadPacked(packed: Float64Array): void {
    this.heap.set(packed.subarray(0, this.rows), this.packedAt / 8);
  }

  /** A zeroed histogram slot. */
  allocate(): number {
    let slot = this.free.pop();
    if (slot === undefined) {
      slot = this.slots++;
      this.reserve(this.slotsAt + this.slots * this.size * 8);
    }
    this.view(slot).fill(0);
    return slot;
  }

  release(slot: number): void {
    this.free.push(slot);
  }

  view(slot: number): Float64Array {
    const at = this.slotsAt / 8 + slot * this.size;
    return this.heap.subarray(at, at + this.size);
  }

  /** Adds rows order[start..end) into a slot's histogram. */
  add(order: Int32Array, start: number, end: number, slot: number): void {
    this.order.set(order.subarray(start, end));
    this.build(this.orderAt, end - start, this.packedAt, 0, this.rowBytes, this.words, this.slotsAt + slot * this.size * 8);
  }

  private reserve(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes > have) {
      const pages = Math.ceil((Math.max(bytes, have * 1.5) - have) / PAGE);
      if (this.memory.grow(pages) < 0) throw new Error(`gradient histograms: WebAssembly memory cannot grow to ${Math.ceil(bytes / 2 ** 20)} MiB`);
    }
    this.heap = new Float64Array(this.memory.buffer);
    this.order = new Int32Array(this.memory.buffer, this.orderAt, this.rows);
    this.scratch = new Int32Array(this.memory.buffer, this.scratchAt, this.rows);
  }
}
