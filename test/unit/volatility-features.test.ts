import { computeFeatures, warmupBars, type SymbolBars } from '../../lib/features/compute-features';
import { defineFeatureSet, featureSpecSchema, type FeatureSetInput, type SymbolFeatureSpec } from '../../lib/features/feature-set';
import { computeSymbolFeature, symbolFeatureColumns } from '../../lib/features/symbol-features';
import { perturbAfter, syntheticUniverse } from '../helpers/universe';

// 24 hand-made daily bars: a calm stretch, a volatile one, then calm again (open, high, low, close).
const OHLC: Array<[number, number, number, number]> = [
  [100.0, 100.9, 99.6, 100.4], [100.4, 101.2, 100.1, 100.9], [100.9, 101.0, 100.2, 100.5], [100.5, 101.1, 100.3, 101.0],
  [101.0, 101.6, 100.7, 101.3], [101.3, 101.5, 100.6, 100.8], [100.8, 101.4, 100.5, 101.2], [101.2, 104.0, 100.9, 103.6],
  [103.6, 103.9, 98.7, 99.1], [99.1, 102.8, 97.5, 102.2], [102.2, 102.9, 96.4, 97.0], [97.0, 101.5, 96.8, 101.1],
  [101.1, 101.3, 95.2, 95.9], [95.9, 99.7, 95.5, 99.4], [99.4, 100.3, 98.6, 99.0], [99.0, 99.8, 98.4, 99.5],
  [99.5, 100.1, 99.2, 99.8], [99.8, 100.4, 99.3, 99.6], [99.6, 100.2, 99.1, 100.1], [100.1, 100.6, 99.8, 100.3],
  [100.3, 100.5, 99.7, 99.9], [99.9, 100.8, 99.8, 100.6], [100.6, 100.9, 100.2, 100.4], [100.4, 101.3, 100.3, 101.1],
];

function bars(rows: ReadonlyArray<[number, number, number, number]> = OHLC): SymbolBars {
  const col = (k: number) => Float64Array.from(rows, (r) => r[k]);
  return { symbol: 'T', dates: rows.map((_, i) => `2020-01-${String(i + 1).padStart(2, '0')}`), open: col(0), high: col(1), low: col(2), close: col(3), volume: new Float64Array(rows.length).fill(1000) };
}

const spec = (input: object) => featureSpecSchema.parse(input) as SymbolFeatureSpec;
const ANNUAL = Math.sqrt(252);
const ln = Math.log;

// Textbook references, written as plain loops over each window.
function sampleStd(xs: number[]): number {
  const mean = xs.reduce((a, x) => a + x, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1));
}
function closeToCloseVol(c: Float64Array, t: number, n: number): number {
  const r: number[] = [];
  for (let i = t - n + 1; i <= t; i++) r.push(ln(c[i] / c[i - 1]));
  return sampleStd(r);
}
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function expectSeries(actual: Float64Array, reference: (t: number) => number, first: number): void {
  expect(actual).toHaveLength(OHLC.length);
  for (let t = 0; t < actual.length; t++) {
    if (t < first) expect(actual[t]).toBeNaN();
    else {
      const want = reference(t);
      expect(Math.abs(actual[t] - want)).toBeLessThan(1e-12 * Math.max(1, Math.abs(want)));
    }
  }
}

describe('volatility feature kinds against reference formulas', () => {
  const b = bars();
  const [o, h, l, c] = [b.open, b.high, b.low, b.close];

  it('parkinson_vol: √(Σ ln(H/L)² / (4 ln 2 · n)) × √252 over the last n bars', () => {
    const n = 5;
    expectSeries(computeSymbolFeature(spec({ kind: 'parkinson_vol', window: n }), b)[0], (t) => {
      let sum = 0;
      for (let i = t - n + 1; i <= t; i++) sum += ln(h[i] / l[i]) ** 2;
      return Math.sqrt(sum / (4 * ln(2) * n)) * ANNUAL;
    }, n - 1);
  });

  it('garman_klass_vol: √(mean of ½ ln(H/L)² − (2 ln 2 − 1) ln(C/O)²) × √252', () => {
    const n = 5;
    expectSeries(computeSymbolFeature(spec({ kind: 'garman_klass_vol', window: n }), b)[0], (t) => {
      let sum = 0;
      for (let i = t - n + 1; i <= t; i++) sum += 0.5 * ln(h[i] / l[i]) ** 2 - (2 * ln(2) - 1) * ln(c[i] / o[i]) ** 2;
      return Math.sqrt(sum / n) * ANNUAL;
    }, n - 1);
  });

  it('downside_vol: √(Σ min(r, 0)² / n) × √252 over the last n log returns', () => {
    const n = 4;
    expectSeries(computeSymbolFeature(spec({ kind: 'downside_vol', window: n }), b)[0], (t) => {
      let sum = 0;
      for (let i = t - n + 1; i <= t; i++) sum += Math.min(0, ln(c[i] / c[i - 1])) ** 2;
      return Math.sqrt(sum / n) * ANNUAL;
    }, n);
  });

  it('vol_term_structure: short-window over long-window close-to-close vol', () => {
    expectSeries(computeSymbolFeature(spec({ kind: 'vol_term_structure', short: 3, long: 8 }), b)[0], (t) => closeToCloseVol(c, t, 3) / closeToCloseVol(c, t, 8), 8);
  });

  it.each([5, 4])('vol_persistence: ln(h-bar vol / median of the last %i h-bar vols), odd and even medians', (trailing) => {
    const w = 3;
    const values = computeSymbolFeature(spec({ kind: 'vol_persistence', window: w, trailing }), b)[0];
    const reference = (t: number) => {
      const past: number[] = [];
      for (let s = t - trailing + 1; s <= t; s++) past.push(closeToCloseVol(c, s, w));
      return ln(closeToCloseVol(c, t, w) / median(past));
    };
    // The first day the volatility_regime label (horizon w, trailing) can be computed: index w + trailing − 1.
    expectSeries(values, reference, w + trailing - 1);
    // Its sign is the persistence call: the regime known at t is "high" exactly when the score is positive.
    const highs = Array.from(values.subarray(w + trailing - 1), (v) => v > 0);
    expect(highs).toContain(true);
    expect(highs).toContain(false);
  });

  it('vol_of_vol: sample std of ln(w-bar vol) over the last k bars', () => {
    const [w, k] = [3, 5];
    expectSeries(computeSymbolFeature(spec({ kind: 'vol_of_vol', window: w, lookback: k }), b)[0], (t) => {
      const logs: number[] = [];
      for (let s = t - k + 1; s <= t; s++) logs.push(ln(closeToCloseVol(c, s, w)));
      return sampleStd(logs);
    }, w + k - 1);
  });

  it('prices that never move give an unchanged regime and a flat term structure, not infinities', () => {
    const flat = bars(OHLC.map(() => [50, 50, 50, 50]));
    const persistence = computeSymbolFeature(spec({ kind: 'vol_persistence', window: 3, trailing: 4 }), flat)[0];
    // Warm-up (3 bars of vol, then 4 of them for the median), then ln(floor / floor) = 0.
    expect([...persistence.subarray(0, 6)].every(Number.isNaN)).toBe(true);
    expect([...persistence.subarray(6)].every((v) => v === 0)).toBe(true);
    const vov = computeSymbolFeature(spec({ kind: 'vol_of_vol', window: 3, lookback: 4 }), flat)[0];
    expect([...vov.subarray(6)].every((v) => v === 0)).toBe(true);
    expect(computeSymbolFeature(spec({ kind: 'vol_term_structure', short: 3, long: 6 }), flat)[0][10]).toBe(1);
    expect(computeSymbolFeature(spec({ kind: 'parkinson_vol', window: 3 }), flat)[0][10]).toBe(0);
  });
});

describe('volatility feature kinds in a feature set', () => {
  const input: FeatureSetInput = {
    name: 'vol',
    features: [
      { kind: 'parkinson_vol' },
      { kind: 'garman_klass_vol', window: 10 },
      { kind: 'downside_vol' },
      { kind: 'vol_term_structure', short: 20, long: 60 },
      { kind: 'vol_persistence' },
      { kind: 'vol_of_vol' },
      { kind: 'vol_persistence', normalize: 'rank' },
    ],
  };

  it('names its columns after the parameters and declares the look-back each needs', () => {
    const set = defineFeatureSet(input);
    expect(set.features.flatMap((f) => symbolFeatureColumns(f as SymbolFeatureSpec))).toEqual([
      'parkinson_vol_20',
      'garman_klass_vol_10',
      'downside_vol_20',
      'vol_term_structure_20_60',
      'vol_persistence_20_252',
      'vol_of_vol_20_60',
      'vol_persistence_20_252_rank',
    ]);
    expect(set.features.map(warmupBars)).toEqual([21, 11, 21, 61, 272, 80, 272]);
  });

  it('each value at t is unchanged when the bars after t change', () => {
    const b = bars();
    const cut = 12;
    const altered = bars(OHLC.map(([o, h, l, c], i) => (i <= cut ? [o, h, l, c] : [o * 1.3, h * 1.5, l * 0.9, c * (1.2 + (i % 3) / 10)])));
    const specs = [
      { kind: 'parkinson_vol', window: 4 },
      { kind: 'garman_klass_vol', window: 4 },
      { kind: 'downside_vol', window: 4 },
      { kind: 'vol_term_structure', short: 2, long: 5 },
      { kind: 'vol_persistence', window: 3, trailing: 4 },
      { kind: 'vol_of_vol', window: 2, lookback: 3 },
    ].map(spec);
    for (const s of specs) {
      const before = computeSymbolFeature(s, b)[0];
      const after = computeSymbolFeature(s, altered)[0];
      for (let t = 0; t <= cut; t++) expect([s.kind, t, after[t]]).toEqual([s.kind, t, before[t]]);
      expect(after.subarray(cut + 1)).not.toEqual(before.subarray(cut + 1)); // and the test can see a change
    }
  });

  it('computeFeatures is point-in-time with them, ranked column included', () => {
    const set = defineFeatureSet(input);
    const universe = syntheticUniverse(4);
    const t = '2018-06-29';
    const a = computeFeatures(universe, set);
    const b = computeFeatures(perturbAfter(universe, t), set);
    let compared = 0;
    a.frames.forEach((fa, k) => {
      const fb = b.frames[k];
      expect(fb.dates).toEqual(fa.dates);
      for (let r = 0; r < fa.dates.length && fa.dates[r] <= t; r++) {
        for (let col = 0; col < a.columns.length; col++) {
          if (!Object.is(fa.columns[col][r], fb.columns[col][r])) throw new Error(`${fa.symbol} ${fa.dates[r]} ${a.columns[col]} changed`);
          compared++;
        }
      }
    });
    expect(compared).toBeGreaterThan(1000);
  });
});
