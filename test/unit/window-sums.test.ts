/**
 * The window statistics that are added up afresh for each window (rolling.ts, cci) compute several
 * windows at a time. Here they must equal, bit for bit, the one-window-at-a-time definition written
 * out below, on every length around the lane count, every small window, and with NaN, ±0, flat
 * stretches and large magnitudes in the inputs.
 */
import { exactWindowSums, rollingCorrelation, rollingStd } from '../../lib/features/indicators/rolling';
import { cci } from '../../lib/features/indicators/indicators';
import { rng } from '../../lib/random';

function oneAtATime(n: number, from: number, f: (i: number) => number): number[] {
  return Array.from({ length: n }, (_, i) => (i >= from ? f(i) : NaN));
}

function referenceStd(x: Float64Array, w: number, ddof: number): number[] {
  return oneAtATime(x.length, w - 1, (i) => {
    let mean = 0;
    for (let j = i - w + 1; j <= i; j++) mean += x[j] - x[i];
    mean /= w;
    let ss = 0;
    for (let j = i - w + 1; j <= i; j++) ss += (x[j] - x[i] - mean) * (x[j] - x[i] - mean);
    return Math.sqrt(ss / (w - ddof));
  });
}

function referenceSums(x: Float64Array, w: number): number[] {
  return oneAtATime(x.length, w - 1, (i) => {
    let t = 0;
    for (let j = i - w + 1; j <= i; j++) t += x[j];
    return t;
  });
}

function referenceCorrelation(a: Float64Array, b: Float64Array, w: number): number[] {
  return oneAtATime(a.length, w - 1, (i) => {
    let ma = 0;
    let mb = 0;
    for (let j = i - w + 1; j <= i; j++) {
      ma += a[j] - a[i];
      mb += b[j] - b[i];
    }
    ma /= w;
    mb /= w;
    let cov = 0;
    let va = 0;
    let vb = 0;
    for (let j = i - w + 1; j <= i; j++) {
      const da = a[j] - a[i] - ma;
      const db = b[j] - b[i] - mb;
      cov += da * db;
      va += da * da;
      vb += db * db;
    }
    return va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : NaN;
  });
}

function referenceCci(h: Float64Array, l: Float64Array, c: Float64Array, w: number): number[] {
  const tp = Array.from(c, (_, i) => (h[i] + l[i] + c[i]) / 3);
  return oneAtATime(c.length, w - 1, (i) => {
    let m = 0;
    for (let j = i - w + 1; j <= i; j++) m += tp[j] - tp[i];
    m /= w;
    let dev = 0;
    for (let j = i - w + 1; j <= i; j++) dev += Math.abs(tp[j] - tp[i] - m);
    dev /= w;
    return dev > 0 ? -m / (0.015 * dev) : 0;
  });
}

function series(n: number, random: () => number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => {
    const u = random();
    if (u < 0.05) return NaN;
    if (u < 0.1) return i % 2 ? -0 : 0;
    if (u < 0.3) return 0.1; // flat stretches
    if (u < 0.35) return 1e12 * (random() - 0.5);
    return 100 + random() - 0.5;
  });
}

const same = (got: ArrayLike<number>, want: number[]) => Array.from(got).every((v, i) => Object.is(v, want[i]));

describe('window statistics, several windows at a time', () => {
  const random = rng(23);
  const cases: Array<[number, number]> = [];
  for (let n = 0; n <= 14; n++) for (let w = 1; w <= 7; w++) cases.push([n, w]);
  cases.push([1259, 20], [1259, 60], [1000, 252], [37, 37], [37, 38]);

  it('equal the one-window-at-a-time sums bit for bit', () => {
    const wrong: string[] = [];
    for (const [n, w] of cases) {
      for (let trial = 0; trial < 3; trial++) {
        const x = series(n, random);
        const y = series(n, random);
        const z = series(n, random);
        if (!same(exactWindowSums(x, w), referenceSums(x, w))) wrong.push(`sums n=${n} w=${w}`);
        for (const ddof of [0, 1] as const) if (w > ddof && !same(rollingStd(x, w, ddof), referenceStd(x, w, ddof))) wrong.push(`std n=${n} w=${w} ddof=${ddof}`);
        if (!same(rollingCorrelation(x, y, w), referenceCorrelation(x, y, w))) wrong.push(`correlation n=${n} w=${w}`);
        if (!same(cci({ high: x, low: y, close: z }, w), referenceCci(x, y, z, w))) wrong.push(`cci n=${n} w=${w}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
