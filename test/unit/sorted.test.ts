import { argsortOf, lowerBound, sortWithIndex, upperBound } from '../../lib/sorted';
import { rng } from '../../lib/random';

/** Reference: positions ordered by key with Array.prototype.sort (comparator), keys read through them. */
function referenceOrder(keys: Float64Array, from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i).sort((a, b) => keys[a] - keys[b]);
}

describe('sortWithIndex (an argsort of a range)', () => {
  const random = rng(17);
  const kinds: Array<[string, () => number]> = [
    ['continuous', () => random() - 0.5],
    ['two values', () => (random() < 0.5 ? 0 : 1)],
    ['all equal', () => 0.25],
    ['few values with -0 and 0', () => [-0, 0, 1, -1, 0.5][Math.floor(random() * 5)]],
    ['ascending', (() => { let x = 0; return () => x++; })()],
    ['descending', (() => { let x = 1e6; return () => x--; })()],
  ];

  it.each(kinds)('sorts %s keys of every length 0–70 and 5,000, moving the positions with them, and nothing outside the range', (_, next) => {
    for (const n of [...Array.from({ length: 71 }, (_, i) => i), 5000]) {
      const keys = Float64Array.from({ length: n + 6 }, next);
      const original = keys.slice();
      const index = Int32Array.from({ length: keys.length }, (_, i) => i);
      sortWithIndex(keys, index, 3, n + 3);
      const want = referenceOrder(original, 3, n + 3).map((i) => original[i]);
      const wrong: string[] = [];
      // Sorted like the reference (-0 and 0 as ties), every key moved with its position, and index a permutation.
      for (let i = 0; i < n; i++) if (keys[3 + i] !== want[i]) wrong.push(`key ${i}`);
      for (let i = 0; i < keys.length; i++) if (!Object.is(keys[i], original[index[i]])) wrong.push(`index ${i}`);
      if (new Set(index).size !== keys.length) wrong.push('not a permutation');
      for (const i of [0, 1, 2, n + 3, n + 4, n + 5]) if (index[i] !== i || !Object.is(keys[i], original[i])) wrong.push(`outside ${i}`);
      expect({ n, wrong }).toEqual({ n, wrong: [] });
    }
  });
});

describe('lowerBound / upperBound', () => {
  it('bound the block of ties, -0 and 0 included', () => {
    const sorted = [-1, -0, 0, 0, 2];
    expect([lowerBound(sorted, 0), upperBound(sorted, 0)]).toEqual([1, 4]);
    expect([lowerBound(sorted, 3), upperBound(sorted, -2)]).toEqual([5, 0]);
    expect(lowerBound(['2020-01-02', '2020-01-03'], '2020-01-03')).toBe(1);
  });
});

describe('argsortOf', () => {
  it('orders ascending, and with stable keeps tied keys (-0 and 0 among them) in index order', () => {
    const keys = [3, -0, 1, 0, 3, -2, 1, 3];
    const { order, sorted } = argsortOf(keys, { stable: true });
    expect(Array.from(order)).toEqual([5, 1, 3, 2, 6, 0, 4, 7]);
    expect(Array.from(sorted, (v, k) => Object.is(v, keys[order[k]]))).toEqual(keys.map(() => true));
    const plain = argsortOf(keys);
    expect(Array.from(plain.order, (i) => keys[i])).toEqual(Array.from(plain.sorted));
  });
});
