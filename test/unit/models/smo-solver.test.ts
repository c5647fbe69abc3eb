import { rng } from '../../../lib/random';
import { binaryModelFromText, decisionValues, headerValues, kernelExpansion, plattProbability } from '../../../models/svm/decision-function';
import { freeLibsvmModel, loadLibsvmModel, loadSvmRuntime, trainCsvc, type LibsvmInstance } from '../../../models/svm/libsvm-wasm';
import { withProbabilities } from '../../../models/svm/probability';
import { PairedRows } from '../../../models/svm/simd-dots';
import { binaryModelText, ColumnCache, formatG, KernelMatrix, solveBinaryCsvc, type SmoOptions } from '../../../models/svm/smo-solver';
import { separable } from '../../helpers/datasets';

interface Problem {
  x: Float64Array;
  p: number;
  y: Int32Array;
}

/** Market-like rows: standard-normal-ish features, a weak signal in five of them, much label noise. */
function market(rows: number, p: number, seed: number): Problem {
  const next = rng(seed);
  const gauss = () => {
    let s = 0;
    for (let k = 0; k < 6; k++) s += next();
    return (s - 3) * Math.SQRT2;
  };
  const x = new Float64Array(rows * p);
  const y = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let score = 0;
    for (let j = 0; j < p; j++) {
      const v = gauss();
      x[r * p + j] = v;
      if (j < 5) score += v * (0.3 - 0.1 * j);
    }
    y[r] = score + gauss() * 1.5 > 0 ? 1 : 0;
  }
  return { x, p, y };
}

/** Separable rows with 8% of the labels flipped. */
function noisySeparable(rows: number, seed: number): Problem {
  const d = separable(rows, 5, seed);
  const next = rng(seed + 100);
  const y = Int32Array.from(d.y, (v) => (next() < 0.08 ? 1 - v : v));
  return { x: d.x.values, p: 5, y };
}

const options = (kernel: 'rbf' | 'linear', C: number, gamma: number): SmoOptions => ({ kernel, C, gamma, tolerance: 1e-3, cacheSizeMb: 200, shrinking: true });

function decisions(text: string, p: number, rows: Float64Array): Float64Array {
  const m = binaryModelFromText(withProbabilities(text, [{ A: -1, B: 0 }]), p);
  return decisionValues(kernelExpansion(m.sv, p, m.coef, m.rho, m.kernel, m.gamma), rows);
}

/** Our text against libsvm's for the same problem: same SVs (within a handful at the bounds), rho, decisions, format. */
function compare(instance: LibsvmInstance, train: Problem, test: Float64Array, o: SmoOptions): { sv: number; differing: number } {
  const { x, p, y } = train;
  const theirs = trainCsvc(instance, x, p, y, o);
  const model = solveBinaryCsvc(x, p, y, o);
  const ours = binaryModelText(model, x, p, o);

  // header: identical but for rho (6 digits may differ in the last place)
  const header = (text: string) => text.slice(0, text.indexOf('\nSV\n')).split('\n').filter((line) => !line.startsWith('rho ') && !line.startsWith('nr_sv ') && !line.startsWith('total_sv '));
  expect(header(ours)).toEqual(header(theirs.text));
  const [rhoTheirs] = headerValues(theirs.text, 'rho');
  expect(Math.abs(model.rho - rhoTheirs)).toBeLessThanOrEqual(1e-3 * Math.max(Math.abs(rhoTheirs), 1));

  // support vectors: the same set but for ≤ 1 %, and those only at the bounds
  const theirSet = new Set(theirs.supportRows);
  const ourSet = new Set(model.supportRows);
  const differing = [...theirSet].filter((r) => !ourSet.has(r)).length + [...ourSet].filter((r) => !theirSet.has(r)).length;
  expect(differing).toBeLessThanOrEqual(Math.max(1, Math.floor(0.01 * theirSet.size)));
  model.supportRows.forEach((r, k) => {
    if (!theirSet.has(r)) expect(Math.abs(model.coef[k])).toBeCloseTo(o.C, 6);
  });

  // the SV lines: libsvm's order (first label's rows, then the second's, row order within each), same feature tokens
  const lines = (text: string) => text.slice(text.indexOf('\nSV\n') + 4).split('\n').filter(Boolean);
  const theirLines = lines(theirs.text);
  const ourLines = lines(ours);
  expect(ourLines.length).toBe(model.supportRows.length);
  const byRow = new Map(Array.from(theirs.supportRows, (r, k) => [r, theirLines[k]]));
  const first = y[0];
  let seenSecond = false;
  model.supportRows.forEach((r, k) => {
    if (k > 0 && y[r] === y[model.supportRows[k - 1]]) expect(r).toBeGreaterThan(model.supportRows[k - 1]);
    if (y[r] !== first) seenSecond = true;
    else expect(seenSecond).toBe(false);
    const line = byRow.get(r);
    if (line === undefined) return;
    expect(ourLines[k].slice(ourLines[k].indexOf(' '))).toBe(line.slice(line.indexOf(' '))); // "1:… 2:… " byte for byte
    expect(Number(ourLines[k].split(' ')[0])).toBeCloseTo(Number(line.split(' ')[0]), 3);
  });
  expect(ours.endsWith(' \n')).toBe(theirs.text.endsWith(' \n'));

  // decision values on held-out rows
  const a = decisions(ours, p, test);
  const b = decisions(theirs.text, p, test);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  expect(worst).toBeLessThan(1e-3);
  return { sv: theirSet.size, differing };
}

describe('two-class SMO solver (libsvm 3.22 Solver on dense rows)', () => {
  let instance: LibsvmInstance;
  beforeAll(async () => {
    instance = await loadSvmRuntime();
  });

  it("formats numbers as C's %g, %.8g and %.16g", () => {
    expect(formatG(0.001)).toBe('0.001');
    expect(formatG(0.0001)).toBe('0.0001');
    expect(formatG(0.00001)).toBe('1e-05');
    expect(formatG(1.5e-7)).toBe('1.5e-07');
    expect(formatG(123456)).toBe('123456');
    expect(formatG(1234567)).toBe('1.23457e+06');
    expect(formatG(1e100)).toBe('1e+100');
    expect(formatG(-0.016393442622950821)).toBe('-0.0163934');
    expect(formatG(0)).toBe('0');
    expect(formatG(-0)).toBe('-0');
    expect(formatG(2.5, 1)).toBe('2'); // ties to even, as glibc and musl
    expect(formatG(3.5, 1)).toBe('4');
    expect(formatG(1234567.5, 8)).toBe('1234567.5');
    expect(formatG(12345675, 7)).toBe('1.234568e+07'); // a tie, 7 odd: up
    expect(formatG(12345665, 7)).toBe('1.234566e+07'); // a tie, 6 even: down
    expect(formatG(1.00390625, 8)).toBe('1.0039062');
    expect(formatG(1.0039062500000002, 8)).toBe('1.0039063');
    expect(formatG(0.1, 16)).toBe('0.1');
    expect(formatG(0.1, 17)).toBe('0.10000000000000001');
    expect(formatG(-1.5, 8)).toBe('-1.5');
    expect(formatG(100, 16)).toBe('100');
    expect(formatG(1e16, 16)).toBe('1e+16');
    // ties whose rounding carries into the next power of ten (the tie check's exponent is one less)
    expect(formatG(9.5, 1)).toBe('1e+01');
    expect(formatG(8.5, 1)).toBe('8');
    expect(formatG(999999.5, 6)).toBe('1e+06');
    expect(formatG(999998.5, 6)).toBe('999998');
    expect(formatG(0.0009765625, 3)).toBe('0.000977'); // 2^-10 = 0.0009765625: not a tie at 3 digits
    expect(formatG(0.0009765625, 6)).toBe('0.000976562'); // a tie at 6 digits, 2 even: down
  });

  it('matches libsvm on a small separable problem with flipped labels, rbf and linear', () => {
    const train = noisySeparable(300, 3);
    const test = noisySeparable(200, 4).x;
    for (const o of [options('rbf', 1, 0.2), options('rbf', 20, 1), options('linear', 0.5, 0)]) {
      const { sv } = compare(instance, train, test, o);
      expect(sv).toBeGreaterThan(10);
    }
  });

  it('matches libsvm on 1,500 market-like rows (20 and 61 features), C 0.05 / 1 / 20, rbf and linear', () => {
    const cases: Array<[number, SmoOptions]> = [
      [61, options('rbf', 0.05, Number((1 / 61).toPrecision(6)))],
      [61, options('rbf', 1, Number((1 / 61).toPrecision(6)))],
      [61, options('rbf', 20, 0.05)],
      [20, options('rbf', 1, 0.2)],
      [20, options('rbf', 20, 0.02)],
      [61, options('linear', 0.05, 0)],
      [20, options('linear', 1, 0)],
      // 1 MB holds ~80 of the 1,500 columns: libsvm's LRU evicts and recomputes, and so do we
      [61, { ...options('rbf', 1, Number((1 / 61).toPrecision(6))), cacheSizeMb: 1 }],
    ];
    for (const [p, o] of cases) {
      const train = market(1500, p, 11);
      const test = market(500, p, 12).x;
      compare(instance, train, test, o);
    }
  });

  it('takes the first row’s label as libsvm’s first label (+1), whether it is 0 or 1', () => {
    const base = noisySeparable(200, 5);
    for (const firstLabel of [0, 1]) {
      const at = base.y.indexOf(firstLabel);
      // move a row of that label to the front
      const x = Float64Array.from(base.x);
      const y = Int32Array.from(base.y);
      x.copyWithin(0, at * 5, at * 5 + 5);
      x.set(base.x.subarray(0, 5), at * 5);
      y[0] = firstLabel;
      y[at] = base.y[0];
      const o = options('rbf', 1, 0.2);
      const model = solveBinaryCsvc(x, 5, y, o);
      const text = binaryModelText(model, x, 5, o);
      expect(headerValues(text, 'label')).toEqual([firstLabel, 1 - firstLabel]);
      expect(headerValues(text, 'label')).toEqual(headerValues(trainCsvc(instance, x, 5, y, o).text, 'label'));
      // positive decision values mean the first label
      const d = decisions(text, 5, x);
      let agree = 0;
      for (let r = 0; r < y.length; r++) if ((d[r] > 0) === (y[r] === firstLabel)) agree++;
      expect(agree / y.length).toBeGreaterThan(0.85);
      compare(instance, { x, p: 5, y }, x, o);
    }
  });

  it('gives a text that libsvm loads and predicts from as our decision function does', () => {
    const train = market(400, 20, 21);
    const test = market(100, 20, 22);
    for (const o of [options('rbf', 2, 0.05), options('linear', 1, 0)]) {
      const model = solveBinaryCsvc(train.x, 20, train.y, o);
      const text = withProbabilities(binaryModelText(model, train.x, 20, o), [{ A: -1.7, B: 0.1 }]);
      const owner = {};
      const loaded = loadLibsvmModel(owner, instance.wasm, new TextEncoder().encode(text), 2);
      const { wasm, pointer, columns } = loaded;
      const parsed = binaryModelFromText(text, 20);
      const ours = decisionValues(kernelExpansion(parsed.sv, 20, parsed.coef, parsed.rho, parsed.kernel, parsed.gamma), test.x);
      const row = wasm._malloc(8 * 20);
      const estimates = wasm._malloc(16);
      try {
        for (let r = 0; r < 100; r++) {
          wasm.HEAPF64.set(test.x.subarray(r * 20, r * 20 + 20), row >> 3);
          wasm._libsvm_predict_one_probability(pointer, row, 20, estimates);
          const heap = wasm.HEAPF64;
          const libsvmFirst = heap[(estimates >> 3) + columns.indexOf(parsed.labels[0])];
          expect(libsvmFirst).toBeCloseTo(plattProbability(ours[r], parsed.probA, parsed.probB), 10);
        }
      } finally {
        wasm._free(row);
        wasm._free(estimates);
        freeLibsvmModel(owner, loaded);
      }
    }
  });

  it('computes paired-row dot products in SIMD with the bits of the scalar feature-order sum, after swaps too', () => {
    for (const [l, p] of [[37, 61], [8, 3], [1, 5], [203, 20]] as const) {
      const next = rng(l * 100 + p);
      const x = Float64Array.from({ length: l * p }, () => (next() - 0.5) * 10 ** Math.floor(next() * 6 - 3));
      const order = Int32Array.from({ length: l }, (_, r) => r);
      const paired = new PairedRows(x, l, p);
      const scalar = (a: number, b: number) => {
        let sum = 0;
        for (let f = 0; f < p; f++) sum += x[order[a] * p + f] * x[order[b] * p + f];
        return sum;
      };
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < l; i += 3) {
          const from = Math.floor(next() * l);
          const to = from + Math.ceil(next() * (l - from));
          const { values, base } = paired.dots(i, from, to);
          for (let j = from; j < to; j++) expect(values[j - base]).toBe(scalar(i, j));
        }
        for (let k = 0; k < l; k += 2) {
          const a = Math.floor(next() * l);
          const b = Math.floor(next() * l);
          paired.swap(a, b);
          [order[a], order[b]] = [order[b], order[a]];
        }
      }
    }
  });

  it('keeps every cached column true to the rows at its positions through swaps, growth and evictions', () => {
    // Q_ij stands in as a value unique to the pair of rows now at positions i and j.
    const l = 60;
    const value = (a: number, b: number) => a * 1000 + b;
    for (const seed of [1, 2, 3]) {
      const next = rng(seed);
      const cache = new ColumnCache(l, 4 * (3 * l + (l * 16) / 4)); // room for about three full columns
      const rowAt = Int32Array.from({ length: l }, (_, k) => k);
      let active = l;
      for (let step = 0; step < 3000; step++) {
        const roll = next();
        if (roll < 0.25 && active > 2) {
          // shrinking: swap a position with the last active one, as doShrinking does
          const i = Math.floor(next() * (active - 1));
          active--;
          cache.swap(i, active);
          [rowAt[i], rowAt[active]] = [rowAt[active], rowAt[i]];
        } else if (roll < 0.28) {
          active = l; // unshrink
        } else {
          const i = Math.floor(next() * active);
          const len = next() < 0.2 ? l : active;
          const { column, start } = cache.get(i, len);
          for (let k = start; k < len; k++) column[k] = value(rowAt[i], rowAt[k]);
          for (let k = 0; k < len; k++) if (column[k] !== value(rowAt[i], rowAt[k])) throw new Error(`step ${step}: column ${i} entry ${k} is stale`);
        }
      }
    }
  });

  it('gives the same bits from a kernel matrix shared with a superset of the rows', () => {
    const all = market(900, 20, 41);
    for (const o of [options('rbf', 3, 0.05), options('linear', 0.3, 0)]) {
      const matrix = new KernelMatrix(all.x, 20, 900, o);
      const subset = Int32Array.from({ length: 900 }, (_, r) => r).filter((r) => r % 5 !== 2);
      const x = new Float64Array(subset.length * 20);
      subset.forEach((r, k) => x.set(all.x.subarray(r * 20, r * 20 + 20), k * 20));
      const y = subset.map((r) => all.y[r]);
      const alone = solveBinaryCsvc(x, 20, y, o);
      const shared = solveBinaryCsvc(x, 20, y, o, { matrix, rows: subset });
      expect(shared.rho).toBe(alone.rho);
      expect(shared.iterations).toBe(alone.iterations);
      expect(Array.from(shared.coef)).toEqual(Array.from(alone.coef));
      expect(Array.from(shared.supportRows)).toEqual(Array.from(alone.supportRows));
    }
  });

  it('stops on degenerate input (all rows identical) and with a cache too small for the matrix', () => {
    const l = 300;
    const x = new Float64Array(l * 4).fill(0.7);
    const y = Int32Array.from({ length: l }, (_, r) => r % 3 === 0 ? 1 : 0);
    for (const kernel of ['rbf', 'linear'] as const) {
      const model = solveBinaryCsvc(x, 4, y, options(kernel, 1, 0.25));
      expect(Number.isFinite(model.rho)).toBe(true);
      expect(model.iterations).toBeLessThan(100_000);
    }
    // an LRU of ~2 columns instead of the whole matrix: the same solution
    const train = market(800, 20, 31);
    const big = solveBinaryCsvc(train.x, 20, train.y, options('rbf', 1, 0.05));
    const small = solveBinaryCsvc(train.x, 20, train.y, { ...options('rbf', 1, 0.05), cacheSizeMb: 0.1 });
    expect(Array.from(small.supportRows)).toEqual(Array.from(big.supportRows));
    expect(small.rho).toBe(big.rho);
    // without shrinking: the same support vectors within the tolerance
    const unshrunk = solveBinaryCsvc(train.x, 20, train.y, { ...options('rbf', 1, 0.05), shrinking: false });
    expect(Math.abs(unshrunk.rho - big.rho)).toBeLessThan(1e-3);
  });
});
