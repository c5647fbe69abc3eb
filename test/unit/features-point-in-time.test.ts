import { computeFeatures, frameRow, requiredBars, type SymbolBars } from '../../lib/features/compute-features';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from '../../lib/features/feature-set';
import { syntheticUniverse } from '../helpers/universe';

/** The bars dated <= `to`, as a store read with `to` would give them. */
function upTo(s: SymbolBars, to: string): SymbolBars {
  const n = s.dates.filter((d) => d <= to).length;
  return { symbol: s.symbol, dates: s.dates.slice(0, n), open: s.open.slice(0, n), high: s.high.slice(0, n), low: s.low.slice(0, n), close: s.close.slice(0, n), volume: s.volume.slice(0, n) };
}

/** A symbol listed on `from` (its bars before are cut away), renamed. */
function listedOn(s: SymbolBars, from: string, symbol: string): SymbolBars {
  const i = s.dates.findIndex((d) => d >= from);
  return { symbol, dates: s.dates.slice(i), open: s.open.slice(i), high: s.high.slice(i), low: s.low.slice(i), close: s.close.slice(i), volume: s.volume.slice(i) };
}

function rowsOn(out: ReturnType<typeof computeFeatures>, date: string): Map<string, Float64Array> {
  const rows = new Map<string, Float64Array>();
  for (const f of out.frames) {
    const r = f.dates.indexOf(date);
    if (r >= 0) rows.set(f.symbol, frameRow(f, r));
  }
  return rows;
}

describe('computeFeatures is point in time under truncation', () => {
  const set = defineFeatureSet(DEFAULT_FEATURE_SET);
  const minBars = requiredBars(set);
  const base = syntheticUniverse(6, '2015-01-02', '2017-12-29');
  const other = syntheticUniverse(2, '2015-01-02', '2017-12-29', 7);
  // A symbol listed mid-way (more than minBars bars in all, fewer on its early dates) and one that
  // never reaches minBars: whether either counts on a date must not depend on its later bars.
  const young = listedOn(other[0], '2016-03-01', 'YOUNG');
  const short = listedOn(other[1], '2017-07-03', 'SHORT');
  const universe = [...base, young, short];
  const full = computeFeatures(universe, set);

  it('gives, on every audited date, exactly the rows of the full computation (market and ranked columns included)', () => {
    expect(full.skipped.map((s) => s.symbol)).toEqual(['SHORT']);
    const days = base[0].dates;
    // Spread over the span, plus YOUNG's dates around its minBars-th bar and SHORT's first months.
    const dates = new Set<string>(days.filter((_, i) => i >= minBars - 3 && i % 25 === 0));
    for (const i of [minBars - 3, minBars - 2, minBars - 1, minBars]) dates.add(days[i]);
    for (const i of [1, 30, minBars - 3, minBars - 2, minBars - 1, minBars, minBars + 1]) dates.add(young.dates[i]);
    for (const i of [1, 2, 60]) dates.add(short.dates[i]);
    let compared = 0;
    for (const date of [...dates].sort()) {
      const expected = rowsOn(full, date);
      const truncated = computeFeatures(universe.map((s) => upTo(s, date)).filter((s) => s.dates.length > 0), set, { fromDate: date });
      const actual = rowsOn(truncated, date);
      expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [symbol, row] of expected) {
        const other = actual.get(symbol) as Float64Array;
        row.forEach((v, c) => {
          if (!Object.is(v, other[c])) throw new Error(`${symbol} ${date} ${full.columns[c]}: ${v} in the full computation, ${other[c]} from bars up to ${date}`);
        });
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(150);
  });

  it('gives a symbol rows from its minBars-th bar on, and counts even a short history in market columns', () => {
    const frame = full.frames.find((f) => f.symbol === 'YOUNG');
    expect(frame?.dates[0]).toBe(young.dates[minBars - 1]);
    const col = full.columns.indexOf('mkt_advance_decline');
    const date = short.dates[5];
    const without = computeFeatures([...base, young], set);
    const r = full.frames[0].dates.indexOf(date);
    expect(full.frames[0].columns[col][r]).not.toBe(without.frames[0].columns[col][without.frames[0].dates.indexOf(date)]);
  });

  it('computes the rows asked for alone exactly as within the whole universe when no column is normalised across symbols', () => {
    const plain = defineFeatureSet({ name: 'plain', features: [{ kind: 'return', horizon: 5 }, { kind: 'rsi' }, { kind: 'breadth', window: 20 }, { kind: 'dispersion' }, { kind: 'market_volatility' }] });
    const all = computeFeatures(universe, plain);
    const some = computeFeatures(universe, plain, { rowsFor: new Set(['YOUNG', base[2].symbol]) });
    expect(some.frames.map((f) => f.symbol)).toEqual([base[2].symbol, 'YOUNG']);
    for (const f of some.frames) {
      const g = all.frames.find((x) => x.symbol === f.symbol);
      expect(g?.dates).toEqual(f.dates);
      f.columns.forEach((column, c) => expect(Array.from(column)).toEqual(Array.from(g?.columns[c] ?? [])));
    }
    expect(() => computeFeatures(universe, set, { rowsFor: new Set(['YOUNG']) })).toThrow(/normalises across symbols/);
  });
});
