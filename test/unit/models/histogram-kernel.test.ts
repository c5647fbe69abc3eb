import { rng } from '../../../lib/random';
import { HistogramMemory } from '../../../models/trees/histogram-kernel';

describe('gradient histograms in wasm', () => {
  const next = rng(5);
  const rows = 1003;
  const rowWords = 5; // a row of 20 bin bytes; the memory takes words 1..3 of it
  const bins = new Uint8Array(rows * rowWords * 4).map(() => Math.floor(next() * 256));
  const words = new Uint32Array(bins.buffer);
  // Packed gradients as the quantiser makes them: exact integers g·2^26 + h.
  const packed = Float64Array.from({ length: rows }, () => Math.floor(next() * 255 - 127) * 2 ** 26 + Math.floor(next() * 256));

  /** The histogram the JavaScript loop builds: feature f of the range, bin b at f·256 + b. */
  const reference = (order: Int32Array, start: number, end: number, w0: number, nw: number) => {
    const hist = new Float64Array(nw * 4 * 256);
    for (let i = start; i < end; i++) {
      const r = order[i];
      for (let f = 0; f < nw * 4; f++) hist[f * 256 + bins[r * rowWords * 4 + w0 * 4 + f]] += packed[r];
    }
    return hist;
  };

  it('sums every row of a node into its bins as the JavaScript loop does, bit for bit, for any row count', () => {
    const memory = new HistogramMemory(rows, 3, 1);
    memory.loadBins(words, rowWords, 1);
    memory.loadPacked(packed);
    const order = Int32Array.from({ length: rows }, (_, r) => r).filter(() => next() < 0.7);
    for (const [start, end] of [[0, order.length], [3, 10], [5, 6], [7, 7], [1, 400]]) {
      const slot = memory.allocate();
      memory.add(order, start, end, slot);
      expect(Array.from(memory.view(slot))).toEqual(Array.from(reference(order, start, end, 1, 3)));
      memory.release(slot);
    }
  });

  it('builds features with few bins through per-row copies of each bin, to the same histogram bit for bit', () => {
    // Words 1..3 of each row: a run of few-bin features (codes < 3 and < 16), then many-bin ones, then few again.
    const few = new Uint8Array(bins);
    const counts = [3, 2, 3, 16, 256, 256, 256, 256, 2, 2, 2, 2];
    for (let r = 0; r < rows; r++) counts.forEach((c, f) => (few[r * rowWords * 4 + 4 + f] = c === 256 ? bins[r * rowWords * 4 + 4 + f] : Math.floor(next() * c)));
    const memory = new HistogramMemory(rows, 3, 1);
    memory.loadBins(new Uint32Array(few.buffer), rowWords, 1, 12, counts.map((c) => Math.min(c, 255)));
    memory.loadPacked(packed);
    const order = Int32Array.from({ length: rows }, (_, r) => r).filter(() => next() < 0.8);
    const want = (start: number, end: number) => {
      const hist = new Float64Array(3 * 4 * 256);
      for (let i = start; i < end; i++) for (let f = 0; f < 12; f++) hist[f * 256 + few[order[i] * rowWords * 4 + 4 + f]] += packed[order[i]];
      return hist;
    };
    for (const [start, end] of [[0, order.length], [3, 10], [5, 6], [7, 7], [1, 400]]) {
      const slot = memory.allocate();
      memory.add(order, start, end, slot);
      expect(Array.from(memory.view(slot))).toEqual(Array.from(want(start, end)));
      memory.release(slot);
    }
  });

  it('gives padding bytes past the last feature other bins, leaving the features’ histograms as they were', () => {
    const memory = new HistogramMemory(rows, 3, 1);
    memory.loadBins(words, rowWords, 1, 10); // 10 features in 12 bytes
    memory.loadPacked(packed);
    const order = Int32Array.from({ length: rows }, (_, r) => r);
    const slot = memory.allocate();
    memory.add(order, 0, rows, slot);
    const hist = memory.view(slot);
    expect(Array.from(hist.subarray(0, 10 * 256))).toEqual(Array.from(reference(order, 0, rows, 1, 3).subarray(0, 10 * 256)));
    // The padding's adds go to many bins, not one (one bin would be a chain of dependent adds).
    expect(hist.subarray(10 * 256, 11 * 256).filter((v) => v !== 0).length).toBeGreaterThan(200);
  });

  it('keeps every slot’s histogram through the memory growing, and hands out zeroed slots', () => {
    const memory = new HistogramMemory(rows, 2, 1);
    memory.loadBins(words, rowWords, 0);
    memory.loadPacked(packed);
    const order = Int32Array.from({ length: rows }, (_, r) => r);
    const built: Array<[number, number, number]> = [];
    for (let k = 0; k < 40; k++) {
      const slot = memory.allocate(); // 40 slots: more than the first reservation
      const start = Math.floor(next() * 500);
      const end = start + Math.floor(next() * 500);
      memory.add(order, start, end, slot);
      built.push([slot, start, end]);
    }
    for (const [slot, start, end] of built) expect(Array.from(memory.view(slot))).toEqual(Array.from(reference(order, start, end, 0, 2)));
    memory.release(built[7][0]);
    const again = memory.allocate();
    expect(again).toBe(built[7][0]);
    expect(memory.view(again).every((v) => v === 0)).toBe(true);
  });

  it("subtracts a child's histogram from its parent's to the sibling's, bit for bit, touching no other slot", () => {
    const memory = new HistogramMemory(rows, 3, 1);
    memory.loadBins(words, rowWords, 1);
    memory.loadPacked(packed);
    const order = Int32Array.from({ length: rows }, (_, r) => r);
    const parent = memory.allocate();
    const child = memory.allocate();
    const other = memory.allocate();
    memory.add(order, 0, rows, parent);
    memory.add(order, 0, 611, child);
    memory.add(order, 100, 200, other);
    memory.subtract(parent, child);
    expect(Array.from(memory.view(parent))).toEqual(Array.from(reference(order, 611, rows, 1, 3)));
    expect(Array.from(memory.view(child))).toEqual(Array.from(reference(order, 0, 611, 1, 3)));
    expect(Array.from(memory.view(other))).toEqual(Array.from(reference(order, 100, 200, 1, 3)));
  });
});

describe('partitions in wasm', () => {
  it('keeps left rows first and right rows after, each in their order, and counts the left ones', () => {
    const next = rng(9);
    const rows = 2000;
    const columns = new Uint8Array(3 * rows).map(() => Math.floor(next() * 256));
    const memory = new HistogramMemory(rows, 1, 3);
    memory.loadColumns(columns);
    const order = Int32Array.from({ length: rows }, (_, r) => r).filter(() => next() < 0.8);
    for (const [start, end, feature, bin] of [[0, order.length, 1, 127], [10, 900, 2, 0], [5, 5, 0, 10], [0, order.length, 0, 255], [100, 1300, 2, 200], [7, 8, 1, 255]]) {
      const before = order.slice();
      const segment = Array.from(before.subarray(start, end));
      const left = segment.filter((r) => columns[feature * rows + r] <= bin);
      const right = segment.filter((r) => columns[feature * rows + r] > bin);
      const nl = memory.partition(order, start, end, feature, bin);
      expect(nl).toBe(left.length);
      expect(Array.from(order.subarray(start, end))).toEqual([...left, ...right]);
      expect(Array.from(order.subarray(0, start))).toEqual(Array.from(before.subarray(0, start)));
      expect(Array.from(order.subarray(end))).toEqual(Array.from(before.subarray(end)));
    }
  });
});
