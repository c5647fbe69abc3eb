import { computeLabels, LABEL_CODE_VERSION, labelSpecSchema, sessionHorizons, tradableReturn, volatilityRegimeKnownAt, volatilityRulesKnownAt, type LabelPrices, type LabelSpecInput } from '../../lib/labels/labels';
import { syntheticUniverse } from '../helpers/universe';

/** Bars without overnight gaps: each opens at the previous close, so the next open is this close. */
const noGap = (close: ArrayLike<number>): LabelPrices => ({ open: Float64Array.from(close, (_, i) => close[Math.max(0, i - 1)]), close: Float64Array.from(close) });
const label = (spec: LabelSpecInput, close: number[]) => computeLabels(labelSpecSchema.parse(spec), noGap(close));

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
    // A zero or missing price has no return: no label, rather than a "down" one.
    expect(Array.from(label({ kind: 'direction', horizon: 1 }, [10, 0, 11, NaN, 12, 13]).value)).toEqual([NaN, NaN, NaN, NaN, 1, NaN]);
  });
});

describe('labels are tradable returns: from the next open, never from the close that made the features', () => {
  // Each row's features use its close; the first price an order on them can fill at is the next open.
  const prices: LabelPrices = { open: Float64Array.of(100, 90, 91, 92, 93, 94), close: Float64Array.of(100, 92, 93, 95, 96, 97) };

  it('labels direction by the next open to the last close: a gap the close cannot trade is not credited', () => {
    // Row 0: close 100, opens 90 the next day, closes 95 after 3 sessions: down close to close (-5%),
    // up for anyone who bought at the open (+5.6%).
    const { value, end } = computeLabels(labelSpecSchema.parse({ kind: 'direction', horizon: 3 }), prices);
    expect(value[0]).toBe(1);
    expect(end[0]).toBe(3);
    expect(tradableReturn(prices, 0, 3)).toBeCloseTo(95 / 90 - 1, 12);
    // No open to buy at: no label (a missing price is no down move).
    const noOpen = { open: Float64Array.of(100, NaN, 91, 92, 93, 94), close: prices.close };
    expect(computeLabels(labelSpecSchema.parse({ kind: 'direction', horizon: 3 }), noOpen).value[0]).toBeNaN();
    expect(() => computeLabels(labelSpecSchema.parse({ kind: 'direction', horizon: 1 }), { open: Float64Array.of(1), close: Float64Array.of(1, 2) })).toThrow(/1 opens for 2 closes/);
  });

  it('sets the triple barriers around the entry at the next open', () => {
    // Flat closes for the volatility window, then a 5% gap down at the open and a recovery that stays
    // below yesterday's close: from the close it never rises; from the entry it hits the profit-take.
    const close = [100, 101, 100, 101, 100, 98.5, 99.5, 99.5];
    const open = [100, 100, 101, 100, 101, 95, 98.6, 99.5];
    const spec = labelSpecSchema.parse({ kind: 'triple_barrier', horizon: 3, profitTake: 1, stopLoss: 1, volWindow: 3 });
    const { value, end } = computeLabels(spec, { open: Float64Array.from(open), close: Float64Array.from(close) });
    expect([value[4], end[4]]).toEqual([1, 5]); // entry 95, barriers near ±1.15%: 98.5 is above
  });

  it('leaves the volatility regime as it was (it is no return anyone trades)', () => {
    const close = syntheticUniverse(1, '2016-01-04', '2016-12-30')[0].close;
    const spec = labelSpecSchema.parse({ kind: 'volatility_regime', horizon: 5, trailing: 60 });
    const shifted = computeLabels(spec, { open: close.map((c) => c * 0.9), close });
    expect(Array.from(shifted.value)).toEqual(Array.from(computeLabels(spec, noGap(close)).value));
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

describe('labels over NYSE sessions', () => {
  // 2024-03-01 (Fri) + 5 sessions = 2024-03-08 (99 < 100: down); + 6 sessions = 2024-03-11 (up).
  const sessions = ['2024-02-29', '2024-03-01', '2024-03-04', '2024-03-05', '2024-03-06', '2024-03-07', '2024-03-08', '2024-03-11', '2024-03-12'];
  const closes = [100, 100, 101, 102, 101, 100, 99, 105, 106];
  const without = (gap: string) => {
    const keep = sessions.map((_, i) => i).filter((i) => sessions[i] !== gap);
    return { dates: keep.map((i) => sessions[i]), close: Float64Array.from(keep, (i) => closes[i]) };
  };
  const direction = (horizon: number) => labelSpecSchema.parse({ kind: 'direction', horizon });

  it('leaves a row unlabelled when a session of its horizon has no bar, instead of looking one session further', () => {
    const { dates, close } = without('2024-03-05');
    const { value, end } = computeLabels(direction(5), noGap(close), dates);
    const at = (d: string) => dates.indexOf(d);
    expect(value[at('2024-03-01')]).toBeNaN(); // the stored-bar count would reach 03-11 (105 > 100 → 1)
    expect(end[at('2024-03-01')]).toBe(-1);
    expect(value[at('2024-02-29')]).toBeNaN();
    // After the gap: 03-06 + 2 sessions = 03-08.
    const two = computeLabels(direction(2), noGap(close), dates);
    expect([two.value[at('2024-03-06')], two.end[at('2024-03-06')]]).toEqual([0, at('2024-03-08')]);
    expect(two.value[at('2024-03-04')]).toBeNaN(); // 03-04 → 03-06 spans 03-05
    // Backfilled: the true 5-session label, down, ending on 03-08.
    const full = computeLabels(direction(5), noGap(closes), sessions);
    expect([full.value[1], sessions[full.end[1]]]).toEqual([0, '2024-03-08']);
  });

  it('counts exchange holidays as no session, and checks the dates it is given', () => {
    // 2024-03-29 is Good Friday: 03-28 + 1 session = 04-01; 04-02 is missing.
    const dates = ['2024-03-27', '2024-03-28', '2024-04-01', '2024-04-03'];
    const { value, end } = computeLabels(direction(1), noGap([10, 11, 12, 9]), dates);
    expect(Array.from(value)).toEqual([1, 1, NaN, NaN]);
    expect(Array.from(end)).toEqual([1, 2, -1, -1]);
    expect(() => computeLabels(direction(1), noGap([1, 2]), ['2024-03-28'])).toThrow(/1 dates for 2 bars/);
    expect(() => computeLabels(direction(1), noGap([1, 2]), ['2024-03-28', '2024-03-27'])).toThrow(/ascend/);
    expect(sessionHorizons(dates, 4, 1)).toEqual({ ends: Int32Array.from([1, 2, -1, -1]), gap: Uint8Array.from([0, 0, 0, 1]) });
  });

  it('needs the whole horizon for triple-barrier and volatility-regime labels, and keeps volatility windows off missing sessions', () => {
    const series = syntheticUniverse(1, '2016-01-04', '2016-12-30')[0];
    const gapAt = 150;
    const dates = series.dates.filter((_, i) => i !== gapAt);
    const close = Float64Array.from(series.close.filter((_, i) => i !== gapAt));
    const prices = { open: Float64Array.from(series.open.filter((_, i) => i !== gapAt)), close };
    const barrier = labelSpecSchema.parse({ kind: 'triple_barrier', horizon: 10, volWindow: 20 });
    const regime = { kind: 'volatility_regime', horizon: 5, trailing: 60 } as const;
    for (const spec of [barrier, regime]) {
      const { value, end } = computeLabels(spec, prices, dates);
      // Rows gapAt - h … gapAt - 1 (indices in the gapped series) have the missing session in their horizon.
      for (let t = gapAt - spec.horizon; t < gapAt; t++) expect([t, value[t], end[t]]).toEqual([t, NaN, -1]);
      expect(Number.isNaN(value[gapAt - spec.horizon - 1])).toBe(false);
      expect(Number.isNaN(value[gapAt + 1])).toBe(false);
      for (let t = 0; t < close.length; t++) if (end[t] >= 0) expect(end[t] - t).toBeLessThanOrEqual(spec.horizon);
    }
    // The regime known at t (persistence) is unknown while its h-session window spans the missing session.
    const known = volatilityRegimeKnownAt(regime, close, dates);
    for (let t = gapAt; t < gapAt + regime.horizon; t++) expect(known.value[t]).toBeNaN();
    expect(Number.isNaN(known.value[gapAt + regime.horizon])).toBe(false);
    expect(Number.isNaN(known.value[gapAt - 1])).toBe(false);
    // So is every longer rule while one of its windows does: the 15-session one for 15 bars.
    const rules = volatilityRulesKnownAt(regime, close, dates);
    expect(rules.map((r) => r.windows)).toEqual([[5], [2, 5, 15], [5, 15], [15], [30]]);
    expect(Array.from(rules[0].score)).toEqual(Array.from(known.score));
    for (const rule of rules) {
      const longest = Math.max(...rule.windows);
      for (let t = gapAt; t < gapAt + longest; t++) expect([rule.windows, t, rule.value[t]]).toEqual([rule.windows, t, NaN]);
      expect([rule.windows, Number.isNaN(rule.value[gapAt + longest])]).toEqual([rule.windows, false]);
    }
  });

  it('is versioned: LABEL_CODE_VERSION names the definition datasets record', () => {
    expect(LABEL_CODE_VERSION).toBe(3); // bump it (and say why) when any label computation changes
  });
});
