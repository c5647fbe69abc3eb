import { computeLabels, labelSpecSchema, type LabelSpecInput } from '../../lib/labels/labels';
import { syntheticUniverse } from '../helpers/universe';

const label = (spec: LabelSpecInput, close: number[]) => computeLabels(labelSpecSchema.parse(spec), Float64Array.from(close));

describe('direction label', () => {
  it('compares the close h bars ahead and records the end bar; moves inside the dead zone are labelled by their sign for evaluation only', () => {
    const { value, end, evaluationOnly } = label({ kind: 'direction', horizon: 2 }, [10, 11, 12, 11, 10, 13]);
    expect(Array.from(value)).toEqual([1, 0, 0, 1, NaN, NaN]);
    expect(Array.from(end)).toEqual([2, 3, 4, 5, -1, -1]);
    expect(Array.from(evaluationOnly ?? [])).toEqual([0, 1, 0, 0, 0, 0]); // 11 → 11: no direction to learn
    const dz = label({ kind: 'direction', horizon: 2, deadZone: 0.19 }, [10, 11, 12, 11, 10, 13]);
    // +20% passes; 0%, -16.7% and +18.2% fall inside: still labelled (and evaluated), not trained on.
    expect(Array.from(dz.value)).toEqual([1, 0, 0, 1, NaN, NaN]);
    expect(Array.from(dz.end)).toEqual([2, 3, 4, 5, -1, -1]);
    expect(Array.from(dz.evaluationOnly ?? [])).toEqual([0, 1, 1, 1, 0, 0]);
    // A zero or missing close has no return: no label, rather than a "down" one.
    expect(Array.from(label({ kind: 'direction', horizon: 1 }, [10, 0, 11, NaN, 12]).value)).toEqual([0, NaN, NaN, NaN, NaN]);
  });
});

describe('triple-barrier label', () => {
  const spec = { kind: 'triple_barrier', horizon: 4, profitTake: 1, stopLoss: 1, volWindow: 3 } as const;
  // Log returns of ±1% give a daily volatility of about 1.15% over 3 bars, so barriers sit near ±1.15%.
  const base = [100, 101, 100, 101];

  it('is 1 when the profit-take is touched first, at the bar that touched it', () => {
    const { value, end } = label(spec, [...base, 101.5, 103, 99, 99, 99]);
    expect(value[3]).toBe(1);
    expect(end[3]).toBe(5); // 101.5 is +0.5%, 103 is +2%
  });

  it('is 0 when the stop-loss is touched first', () => {
    const { value, end } = label(spec, [...base, 100.5, 99, 103, 103, 103]);
    expect(value[3]).toBe(0);
    expect(end[3]).toBe(5);
  });

  it('takes the sign of the return at the time limit when no barrier is touched, and needs the full horizon', () => {
    const { value, end } = label(spec, [...base, 101.2, 100.9, 101.1, 101.05]);
    expect(value[3]).toBe(1);
    expect(end[3]).toBe(7);
    expect(Number.isNaN(value[4])).toBe(true); // only 3 bars ahead: unlabelled
    expect(Number.isNaN(value[2])).toBe(true); // volatility needs 3 returns
  });

  it('labels only bars with the whole horizon ahead, even where a barrier is hit early', () => {
    // Bar 3 has only 3 bars ahead; its profit-take is hit at once, but whether the last bars get a
    // label must not depend on their future path, or the last h rows would be chosen by it.
    const { value, end } = label(spec, [...base, 103, 99, 99]);
    expect(Number.isNaN(value[3])).toBe(true);
    expect(end[3]).toBe(-1);
  });
});

describe('volatility-regime label', () => {
  it('is 1 when the next h-bar volatility is above the median of the trailing h-bar volatilities', () => {
    const calm = Array.from({ length: 30 }, (_, i) => 100 * (1 + 0.001 * (i % 2)));
    const wild = [...calm, 100, 105, 96, 104, 95, 103];
    const { value, end } = label({ kind: 'volatility_regime', horizon: 5, trailing: 10 }, wild);
    const t = 29; // the last calm bar: the next 5 bars are wild
    expect(value[t]).toBe(1);
    expect(end[t]).toBe(34);
    expect(value[20]).toBe(0); // calm ahead, calm behind: not above the median
  });
});

describe('labels use only bars up to their end, and the future after t', () => {
  const close = syntheticUniverse(1, '2016-01-04', '2017-12-29')[0].close;
  const specs: LabelSpecInput[] = [
    { kind: 'direction', horizon: 5, deadZone: 0.002 },
    { kind: 'triple_barrier', horizon: 10 },
    { kind: 'volatility_regime', horizon: 20, trailing: 120 },
  ];
  it.each(specs)('%j: bars after end[t] never change the label at t', (spec) => {
    const a = label(spec, Array.from(close));
    let checked = 0;
    for (const t of [200, 250, 300, 350, 400]) {
      expect(a.end[t]).toBeGreaterThan(t); // the label looks forward
      const later = Array.from(close, (c, i) => (i > a.end[t] ? c * (i % 2 ? 3 : 0.2) : c));
      const b = label(spec, later);
      expect(Object.is(b.value[t], a.value[t])).toBe(true);
      expect(b.end[t]).toBe(a.end[t]);
      checked++;
    }
    expect(checked).toBe(5);
  });
});
