import { rng } from '../../../lib/random';
import { kernelExpansion, kernelSum } from '../../../models/svm/decision-function';
import { SimdDots } from '../../../models/svm/simd-dots';
import { SimdExp } from '../../../models/simd-exp';

describe('exp in SIMD wasm', () => {
  const exp = new SimdExp();
  const bitsOf = (xs: readonly number[]) => {
    const input = exp.input(xs.length);
    xs.forEach((v, k) => (input[k] = v));
    return Array.from(exp.run(xs.length));
  };

  it('gives the bits of Math.exp on every path of fdlibm’s algorithm and at its thresholds', () => {
    const edges = [
      0, -0, 1e-300, -1e-300, 2 ** -28, -(2 ** -28), 2 ** -29, -(2 ** -29),
      3.725290298461914e-9, -3.725290298461914e-9, 3.7252902984619136e-9, -3.7252902984619136e-9, // 2^-28 by fdlibm's high word
      0.34657359027997264, -0.34657359027997264, 0.3465735902799727, -0.3465735902799727, // ½ ln2
      0.3465735912322998, -0.3465735912322998, 0.34657359123229975, -0.34657359123229975, // ½ ln2 by fdlibm's high word
      1.0397207708399179, -1.0397207708399179, 1, -1, 0.5, -0.5, 100, -100, // 1.5 ln2; exp(1) is Math.E in V8
      709, 709.5, 710, -708, -708.3964185322641, -708.4, -709, -720, -745, -745.1332191019411, -745.14, -746, -1000, // 2^k in two steps, underflow
      -Infinity, Infinity, NaN,
    ];
    const ours = bitsOf(edges);
    edges.forEach((x, k) => expect(Object.is(ours[k], Math.exp(x)) ? x : [x, ours[k], Math.exp(x)]).toBe(x));
  });

  it('gives the bits of Math.exp on random arguments of every magnitude, odd counts too', () => {
    const next = rng(17);
    for (const [scale, count] of [[1e-9, 2001], [1, 4000], [30, 3999], [800, 4000]] as const) {
      const xs = Array.from({ length: count }, () => (next() - 0.8) * scale * 10 ** Math.floor(next() * 3));
      const ours = bitsOf(xs);
      const differing = xs.filter((x, k) => !Object.is(ours[k], Math.exp(x)));
      expect(differing).toEqual([]);
    }
  });

  it('leaves an RBF decision sum exactly as Math.exp would give it', () => {
    const next = rng(5);
    const p = 13;
    const m = 257;
    const sv = Float64Array.from({ length: m * p }, () => next() * 4 - 2);
    const coef = Float64Array.from({ length: m }, () => next() * 2 - 1);
    const e = kernelExpansion(sv, p, coef, 0.3, 'rbf', 0.07);
    const dots = new SimdDots(sv, m, p);
    for (let r = 0; r < 20; r++) {
      const x = Float64Array.from({ length: p }, () => next() * 4 - 2);
      const d = dots.dots(x);
      let xNorm = 0;
      for (let j = 0; j < p; j++) xNorm += x[j] * x[j];
      let expected = 0;
      for (let k = 0; k < m; k++) expected += coef[k] * Math.exp(-0.07 * Math.max(0, xNorm + e.norms[k] - 2 * d[k]));
      expect(kernelSum(e, x, d)).toBe(expected);
    }
  });
});
