/**
 * The gradient histograms' inner loop in a tiny hand-assembled WebAssembly module, and the memory
 * it works in. Per row of a node: for each of the range's features, histogram[feature][bin] += the
 * row's packed gradient. Four rows go through the features together, so four independent
 * load-add-store chains overlap where JavaScript runs one (its typed-array stores also check
 * bounds): about twice as fast as the same loop in JavaScript on the S&P 500 feature set. The
 * packed gradients are exact integers (see HistogramData), so the order of additions cannot
 * change a sum: the histograms are the ones the JavaScript loop builds, bit for bit.
 */
import { F64, f64x2Sub, get, I32, i32, leb, moduleBytes, set, tee, v128Load, v128Store, WasmModule, type WasmMemory } from '../wasm-assembly';

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
/**
 * Copies of each bin for features with few bins (see buildCopies): row k of a group of four adds to
 * copy k. A 0/1 pattern flag sends nearly every row to one bin, and each add then waited for the
 * previous row's store to that bin: such a word of four features took twice as long as one of
 * continuous features. With a copy per row the four chains are independent; the copies are summed
 * after. Many-bin features keep one copy: four would quadruple their histograms' cache footprint.
 */
const COPIES = 4;
/** A word of features gets copies when none of its features has more bins than this. */
const FEW_BINS = 16;

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
/** Byte b of word k, times 8 · copies: (word >> 8b) & 255, shifted to the bin's offset in one step. */
const binOffset = (k: number, b: number, copies: number) => {
  const shift = 3 + Math.log2(copies);
  const mask = 255 << shift;
  return b === 0 ? [...get(WORD[k]), ...i32(shift), SHL, ...i32(mask), AND] : [...get(WORD[k]), ...i32(8 * b - shift), SHR_U, ...i32(mask), AND];
};
/** hist[feature b of the word][bin][copy k mod copies] += p_k */
const addByte = (k: number, b: number, copies: number) => [
  ...get(H), ...binOffset(k, b, copies), ADD, ...tee(A),
  ...get(A), ...f64Load(b * copies * FEATURE_BYTES + 8 * (k % copies)), ...get(P[k]), F64_ADD,
  ...f64Store(b * copies * FEATURE_BYTES + 8 * (k % copies)),
];
/** One pass over the range's words for rows 0..rows-1 of the group. */
const wordLoop = (rows: number, copies: number) => {
  const ks = Array.from({ length: rows }, (_, k) => k);
  return [
    ...get(HIST), ...set(H),
    ...get(WORDS), ...set(W),
    0x03, 0x40, // loop over words
    ...ks.flatMap((k) => [...get(S[k]), ...i32Load(0), ...set(WORD[k])]),
    ...ks.flatMap((k) => [0, 1, 2, 3].flatMap((b) => addByte(k, b, copies))),
    ...ks.flatMap((k) => [...get(S[k]), ...i32(4), ADD, ...set(S[k])]),
    ...get(H), ...i32(4 * copies * FEATURE_BYTES), ADD, ...set(H), // h += 4 features
    ...get(W), ...i32(1), SUB, ...tee(W), 0x0d, 0x00, // continue while --w
    0x0b, // end loop
  ];
};
const buildBody = (copies: number) => [
  ...get(ORDER), ...set(I),
  ...get(ORDER), ...get(COUNT), ...i32(2), SHL, ADD, ...set(END),
  // end4 = order + 4·(count − count mod 4)
  ...get(END), ...get(COUNT), ...i32(3), AND, ...i32(2), SHL, SUB, ...set(END4),
  0x02, 0x40, // block
  0x03, 0x40, //   loop over groups of four rows
  ...get(I), ...get(END4), LT_U, 0x45, 0x0d, 0x01, // if !(i < end4): break
  ...loadRow(0), ...loadRow(1), ...loadRow(2), ...loadRow(3),
  ...wordLoop(4, copies),
  ...get(I), ...i32(16), ADD, ...set(I),
  0x0c, 0x00, // continue
  0x0b, 0x0b, // end loop, end block
  0x02, 0x40, // block
  0x03, 0x40, //   loop over the last rows, one at a time
  ...get(I), ...get(END), LT_U, 0x45, 0x0d, 0x01, // if !(i < end): break
  ...loadRow(0),
  ...wordLoop(1, copies),
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

// subtract — params: 0 target, 1 source, 2 bytes (a multiple of 16); target[i] -= source[i] over
// float64s, two at a time. The sums are exact integers, so the result is the JavaScript loop's.
// locals: 3 end
const [S_TARGET, S_SOURCE, S_BYTES, S_END] = [0, 1, 2, 3];
const subtractBody = [
  ...get(S_TARGET), ...get(S_BYTES), ADD, ...set(S_END),
  0x02, 0x40, // block
  0x03, 0x40, //   loop
  ...get(S_TARGET), ...get(S_END), GE_U, 0x0d, 0x01, // if target >= end: break
  ...get(S_TARGET), ...get(S_TARGET), ...v128Load(), ...get(S_SOURCE), ...v128Load(), ...f64x2Sub, ...v128Store(),
  ...get(S_TARGET), ...i32(16), ADD, ...set(S_TARGET),
  ...get(S_SOURCE), ...i32(16), ADD, ...set(S_SOURCE),
  0x0c, 0x00, // continue
  0x0b, 0x0b, // end loop, end block
  0x0b, // end function
];

const MODULE = new WasmModule(
  moduleBytes({ params: 7, results: [] }, [
    { name: 'build', locals, body: buildBody(1) },
    { name: 'buildCopies', locals, body: buildBody(COPIES) },
    { name: 'partition', locals: [0x01, 6, I32], body: partitionBody, signature: { params: 5, results: [I32] } },
    { name: 'subtract', locals: [0x01, 1, I32], body: subtractBody, signature: { params: 3, results: [] } },
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
  private readonly buildCopies: HistogramMemory['build'];
  private readonly copiesAt: number;
  /** Words [from, to) built together; bins 256: one copy per bin, else copies of the first `bins` bins. */
  private runs: Array<{ from: number; to: number; bins: number }>;
  private readonly partitionRun: (order: number, count: number, column: number, bin: number, scratch: number) => number;
  private readonly subtractRun: (target: number, source: number, bytes: number) => void;
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
    this.buildCopies = exports.buildCopies as HistogramMemory['build'];
    this.partitionRun = exports.partition as HistogramMemory['partitionRun'];
    this.subtractRun = exports.subtract as HistogramMemory['subtractRun'];
    this.rowBytes = 4 * words;
    this.size = words * 4 * 256;
    this.columnsAt = align(rows * this.rowBytes);
    this.packedAt = this.columnsAt + align(rows * features);
    this.orderAt = this.packedAt + align(rows * 8);
    this.scratchAt = this.orderAt + align(rows * 4);
    this.copiesAt = this.scratchAt + align(rows * 4);
    this.slotsAt = this.copiesAt + align(COPIES * this.size * 8);
    this.runs = [{ from: 0, to: words, bins: 256 }];
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

  /**
   * Copies words [w0, w0 + words) of every row of row-major bins (rowWords 32-bit words per row), of
   * which the first `features` bytes of a row are features; binCounts[f] bounds feature f's bins
   * (all 256 when not given).
   */
  loadBins(source: Uint32Array, rowWords: number, w0: number, features = this.rowBytes, binCounts?: ArrayLike<number>): void {
    // Runs of words built alike: with one copy per bin, or with copies up to the most bins any of their features uses.
    const wordBins = Array.from({ length: this.words }, (_, w) => {
      let most = 0;
      for (let f = 4 * w; f < 4 * w + 4; f++) most = Math.max(most, f < features && binCounts ? binCounts[f] : 256);
      return most <= FEW_BINS ? most : 256;
    });
    this.runs = [];
    for (let w = 0; w < this.words; w++) {
      const last = this.runs.at(-1);
      if (last && (last.bins === 256) === (wordBins[w] === 256)) {
        last.to = w + 1;
        last.bins = Math.max(last.bins, wordBins[w]);
      } else this.runs.push({ from: w, to: w + 1, bins: wordBins[w] });
    }
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

  /** Slot `target`'s histogram minus slot `source`'s, in place (a parent's minus a child's gives the sibling's). */
  subtract(target: number, source: number): void {
    this.subtractRun(this.slotsAt + target * this.size * 8, this.slotsAt + source * this.size * 8, this.size * 8);
  }

  view(slot: number): Float64Array {
    const at = this.slotsAt / 8 + slot * this.size;
    return this.heap.subarray(at, at + this.size);
  }

  /** Adds rows order[start..end) into a slot's histogram. */
  add(order: Int32Array, start: number, end: number, slot: number): void {
    this.order.set(order.subarray(start, end));
    const count = end - start;
    const at = this.slotsAt + slot * this.size * 8;
    for (const run of this.runs) {
      if (run.bins === 256) {
        this.build(this.orderAt, count, this.packedAt, 4 * run.from, this.rowBytes, run.to - run.from, at + run.from * 4 * FEATURE_BYTES);
        continue;
      }
      // Only the bins the run's features use are written: only those are cleared and summed.
      const copies = this.heap;
      const base = this.copiesAt / 8;
      for (let f = 0; f < 4 * (run.to - run.from); f++) copies.fill(0, base + f * 256 * COPIES, base + (f * 256 + run.bins) * COPIES);
      this.buildCopies(this.orderAt, count, this.packedAt, 4 * run.from, this.rowBytes, run.to - run.from, this.copiesAt);
      // Exact integer sums (HistogramData): the copies add up to the one-copy histogram, bit for bit.
      const hist = this.view(slot);
      for (let f = 0; f < 4 * (run.to - run.from); f++) {
        const h = (4 * run.from + f) * 256;
        for (let b = 0, o = base + f * 256 * COPIES; b < run.bins; b++, o += COPIES) hist[h + b] += copies[o] + copies[o + 1] + copies[o + 2] + copies[o + 3];
      }
    }
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
