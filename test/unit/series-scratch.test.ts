import { inScratch, newSeries, zeroSeries } from '../../lib/features/indicators/scratch';
import { nanArray } from '../../lib/features/indicators/rolling';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from '../../lib/features/feature-set';
import { symbolFeatureSpecs } from '../../lib/features/compute-features';
import { computeSymbolFeature, symbolColumns } from '../../lib/features/symbol-features';
import { syntheticUniverse } from '../helpers/universe';

describe('scratch memory for intermediate series', () => {
  it('allocates zeroed arrays of their own outside inScratch', () => {
    const a = newSeries(4);
    const b = newSeries(4);
    expect([...a]).toEqual([0, 0, 0, 0]);
    expect(a.buffer).not.toBe(b.buffer);
  });

  it('hands out disjoint views inside, and the same memory again once the scope has returned', () => {
    let first: Float64Array[] = [];
    inScratch(() => {
      first = [nanArray(10), newSeries(5), zeroSeries(7)];
      first[1].fill(3);
      expect(first.map((s) => s.length)).toEqual([10, 5, 7]);
      expect(first[0].every(Number.isNaN)).toBe(true);
      expect([...first[1]]).toEqual([3, 3, 3, 3, 3]);
      expect(first[2].every((v) => v === 0)).toBe(true);
      expect(first[1].buffer).toBe(first[0].buffer);
    });
    inScratch(() => {
      const again = newSeries(10);
      expect(again.buffer).toBe(first[0].buffer);
      expect(again.byteOffset).toBe(first[0].byteOffset);
      // zeroSeries clears what an earlier scope left there.
      nanArray(5);
      expect(zeroSeries(7).every((v) => v === 0)).toBe(true);
    });
  });

  it('keeps an outer scope’s views when an inner scope returns or throws', () => {
    inScratch(() => {
      const outer = newSeries(3).fill(1);
      inScratch(() => newSeries(3).fill(2));
      expect(() => inScratch(() => {
        newSeries(3).fill(4);
        throw new Error('boom');
      })).toThrow('boom');
      const next = newSeries(3).fill(5);
      expect([...outer]).toEqual([1, 1, 1]);
      expect(next.byteOffset).toBe(outer.byteOffset + 3 * 8);
    });
  });

  it('serves a series longer than a buffer', () => {
    inScratch(() => {
      const small = newSeries(10).fill(1);
      const long = nanArray(300_000);
      expect(long.length).toBe(300_000);
      expect(long.buffer).not.toBe(small.buffer);
      expect([...small]).toEqual(Array(10).fill(1));
    });
  });
});

describe('symbolColumns', () => {
  const specs = symbolFeatureSpecs(defineFeatureSet(DEFAULT_FEATURE_SET));
  const [a, b] = syntheticUniverse(2, '2016-01-04', '2017-12-29', 5);

  it('gives each spec’s columns as computeSymbolFeature does, in one block that later computations leave alone', () => {
    const { columns, from, lead } = symbolColumns(specs, a);
    const want = specs.flatMap((spec) => computeSymbolFeature(spec, a));
    symbolColumns(specs, b); // reuses the scratch memory a's intermediates used
    expect(columns).toHaveLength(want.length);
    expect(from).toBe(0);
    columns.forEach((column, c) => {
      expect(column.buffer).toBe(columns[0].buffer);
      expect(column.length).toBe(a.close.length);
      expect(Array.from(column)).toEqual(Array.from(want[c]));
    });
    // The longest leading run of undefined values among the columns.
    expect(lead).toBe(Math.max(...want.map((column) => column.findIndex((v) => Number.isFinite(v)))));
  });

  it('keeps each column from row `from` on, and still measures the leading undefined run over the whole series', () => {
    const whole = symbolColumns(specs, a);
    const from = 300;
    const kept = symbolColumns(specs, a, from);
    expect(kept.from).toBe(from);
    expect(kept.lead).toBe(whole.lead);
    expect(kept.columns[0].buffer.byteLength).toBe(whole.columns.length * (a.close.length - from) * 8);
    kept.columns.forEach((column, c) => expect(Array.from(column)).toEqual(Array.from(whole.columns[c].subarray(from))));
    expect(symbolColumns(specs, a, a.close.length + 5).columns.every((column) => column.length === 0)).toBe(true);
  });
});
