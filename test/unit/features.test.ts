import { computeFeatures, featureColumns, requiredBars } from '../../lib/features/compute-features';
import { DEFAULT_FEATURE_SET, defineFeatureSet, FEATURE_CODE_VERSION, type FeatureSetInput } from '../../lib/features/feature-set';
import { computeFromInputs, toSymbolBars } from '../../lib/features/materialize';
import { sharedPool } from '../../lib/threads/task-pool';
import { blockColumns, claimSymbolColumns, columnBlocks, computeSymbolFeature } from '../../lib/features/symbol-features';
import { perturbAfter, syntheticUniverse } from '../helpers/universe';
import type { SymbolBars } from '../../lib/features/compute-features';

describe('feature-set versions', () => {
  const base: FeatureSetInput = { name: 'mini', features: [{ kind: 'rsi', window: 14 }, { kind: 'sma_ratio', window: 20 }] };

  it('is stable for the same definition, whatever the key order or defaults written out', () => {
    const a = defineFeatureSet(base);
    const b = defineFeatureSet({ features: [{ window: 14, kind: 'rsi', normalize: 'none' }, { kind: 'sma_ratio' }], name: 'mini' });
    expect(b.version).toBe(a.version);
    expect(a.version).toMatch(/^fs-mini-[0-9a-f]{12}$/);
  });

  it('changes when a parameter, a normalisation or the feature list changes', () => {
    const v = defineFeatureSet(base).version;
    expect(defineFeatureSet({ ...base, features: [{ kind: 'rsi', window: 10 }, { kind: 'sma_ratio', window: 20 }] }).version).not.toBe(v);
    expect(defineFeatureSet({ ...base, features: [{ kind: 'rsi', window: 14, normalize: 'rank' }, { kind: 'sma_ratio', window: 20 }] }).version).not.toBe(v);
    expect(defineFeatureSet({ ...base, features: [{ kind: 'sma_ratio', window: 20 }, { kind: 'rsi', window: 14 }] }).version).not.toBe(v);
    expect(FEATURE_CODE_VERSION).toBe(10); // bump it (and expect new versions) when any computation changes
  });

  it('rejects bad definitions with the path of the problem', () => {
    expect(() => defineFeatureSet({ name: 'x', features: [] })).toThrow(/at least one feature/);
    expect(() => defineFeatureSet({ name: 'x', features: [{ kind: 'rsi', window: 0 }] })).toThrow(/window/);
    expect(() => defineFeatureSet({ name: 'bad name!', features: [{ kind: 'gap' }] })).toThrow(/name/);
  });

  it('the default set has 61 uniquely named columns and needs 254 bars', () => {
    const set = defineFeatureSet(DEFAULT_FEATURE_SET);
    const columns = featureColumns(set);
    expect(columns).toHaveLength(61);
    expect(new Set(columns).size).toBe(61);
    expect(requiredBars(set)).toBe(254);
  });
});

describe('computeFeatures', () => {
  const set = defineFeatureSet(DEFAULT_FEATURE_SET);
  const universe = syntheticUniverse(6);

  it('is point-in-time: perturbing every bar after t changes no value at or before t (market and ranked columns included)', () => {
    const t = '2018-06-29';
    const a = computeFeatures(universe, set);
    const b = computeFeatures(perturbAfter(universe, t), set);
    const width = a.columns.length;
    let compared = 0;
    let changedAfter = 0;
    a.frames.forEach((fa, k) => {
      const fb = b.frames[k];
      for (let r = 0; r < fa.dates.length; r++) {
        for (let c = 0; c < width; c++) {
          const x = fa.columns[c][r];
          const y = fb.columns[c][r];
          if (fa.dates[r] <= t) {
            if (!Object.is(x, y)) throw new Error(`${fa.symbol} ${fa.dates[r]} ${a.columns[c]}: ${x} became ${y}`);
            compared++;
          } else if (!Object.is(x, y)) changedAfter++;
        }
      }
    });
    expect(compared).toBeGreaterThan(6 * 300 * 61);
    expect(changedAfter).toBeGreaterThan(0); // the perturbation really reached the features
  });

  it('skips a symbol with too little history and says why, instead of failing', () => {
    const short = toSymbolBars('TINY', universe[0].dates.slice(0, 100).map((date, i) => ({ date, open: 10, high: 11, low: 9, close: 10 + (i % 3), volume: 1000 })));
    const out = computeFeatures([...universe, short], set);
    expect(out.frames.map((f) => f.symbol)).not.toContain('TINY');
    expect(out.skipped).toEqual([{ symbol: 'TINY', bars: 100, reason: `100 bars; feature set ${set.version} needs at least 254` }]);
  });

  it('fills every column after the warm-up and keeps ranks in [0, 1] across symbols per date', () => {
    const out = computeFeatures(universe, set);
    const width = out.columns.length;
    const rank = out.columns.indexOf('ret_20_rank');
    for (const f of out.frames) {
      expect(f.dates[0] <= universe[0].dates[260]).toBe(true); // warm-up ends within the longest look-back
      for (let r = 0; r < f.dates.length; r++) {
        for (let c = 0; c < width; c++) if (!Number.isFinite(f.columns[c][r])) throw new Error(`${f.symbol} ${f.dates[r]} ${out.columns[c]} is ${f.columns[c][r]}`);
        const v = f.columns[rank][r];
        expect(v >= 0 && v <= 1).toBe(true);
      }
    }
    // On any date, the 6 ranks are {0, 0.2, …, 1} (no ties in continuous returns).
    const row = 200;
    const ranks = out.frames.map((f) => f.columns[rank][row]).sort();
    expect(ranks.map((x) => Math.round(x * 10) / 10)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
  });

  it('averages the ranks of ties across symbols and z-scores per date as by hand', () => {
    // AAA and BBB have the same bars, so the same returns: a tie on every date.
    const twins = [universe[0], { ...universe[0], symbol: 'BBB' }, universe[1]];
    const mini = defineFeatureSet({ name: 'ties', features: [{ kind: 'return', horizon: 20, normalize: 'rank' }, { kind: 'return', horizon: 5, normalize: 'zscore' }, { kind: 'return', horizon: 5 }] });
    const out = computeFeatures(twins, mini);
    const raw = computeFeatures(twins, defineFeatureSet({ name: 'raw', features: [{ kind: 'return', horizon: 20 }] }));
    const [a, b, c] = out.frames;
    for (const r of [0, 50, 100]) {
      expect(a.columns[0][r]).toBe(b.columns[0][r]);
      // Two tied values and one other: ranks {0, 0.75, 0.75} or {0.25, 0.25, 1}.
      expect(c.columns[0][r]).toBe(raw.frames[2].columns[0][r] < raw.frames[0].columns[0][r] ? 0 : 1);
      expect(a.columns[0][r]).toBe(c.columns[0][r] === 0 ? 0.75 : 0.25);
      const x = out.frames.map((f) => f.columns[2][r]);
      const mean = (x[0] + x[1] + x[2]) / 3;
      const sd = Math.sqrt(((x[0] - mean) ** 2 + (x[1] - mean) ** 2 + (x[2] - mean) ** 2) / 3);
      out.frames.forEach((f, k) => expect(f.columns[1][r]).toBe((x[k] - mean) / sd));
    }
  });

  it('refuses a series whose dates are not strictly ascending, naming it', () => {
    const s = universe[0];
    const swapped = [...s.dates];
    [swapped[10], swapped[11]] = [swapped[11], swapped[10]];
    expect(() => computeFeatures([universe[1], { ...s, dates: swapped }], set)).toThrow(`${s.symbol}: bar dates are not strictly ascending at ${swapped[11]}`);
  });

  it('computes market breadth as the share of symbols above their 50-day average on that date', () => {
    const out = computeFeatures(universe, set);
    const col = out.columns.indexOf('mkt_breadth_50');
    const r = 500;
    const date = universe[0].dates[r];
    const above = universe.filter((s) => {
      let sum = 0;
      for (let i = r - 49; i <= r; i++) sum += s.close[i];
      return s.close[r] > sum / 50;
    }).length;
    const row = out.frames[0].dates.indexOf(date);
    expect(row).toBeGreaterThan(0);
    expect(out.frames[0].columns[col][row]).toBeCloseTo(above / universe.length, 12);
  });

  it('gives every frame with a date the same market values on it, whether its series has gaps in the dates or not', () => {
    // Symbol 1 lacks 30 dates in the middle: its market columns are copied, the others' are views.
    const keep = (i: number) => i < 400 || i >= 430;
    const withGap = (x: SymbolBars): SymbolBars => ({ ...x, dates: x.dates.filter((_, i) => keep(i)), open: x.open.filter((_, i) => keep(i)), high: x.high.filter((_, i) => keep(i)), low: x.low.filter((_, i) => keep(i)), close: x.close.filter((_, i) => keep(i)), volume: x.volume.filter((_, i) => keep(i)) });
    const gapped = universe.map((s, k) => (k === 1 ? withGap(s) : s));
    const out = computeFeatures(gapped, set);
    const market = out.columns.flatMap((name, c) => (name.startsWith('mkt_') ? [c] : []));
    expect(market.length).toBeGreaterThan(3);
    const onDate = new Map<string, number[]>();
    for (const f of out.frames) {
      f.dates.forEach((d, r) => {
        const values = market.map((c) => f.columns[c][r]);
        const seen = onDate.get(d);
        if (seen) expect(values).toEqual(seen);
        else onDate.set(d, values);
      });
    }
    expect(out.frames[1].dates.length).toBe(out.frames[0].dates.length - 30);
    // and the ranked column's normalisation left the market columns alone
    const ranked = out.columns.findIndex((name) => name.endsWith('_rank'));
    expect(ranked).toBeGreaterThanOrEqual(0);
    expect(out.frames.every((f) => f.columns[ranked].every((v) => v >= 0 && v <= 1))).toBe(true);
  });

  it('fails clearly when a declared volatility index series is missing', () => {
    const withVix = defineFeatureSet({ name: 'vix', features: [{ kind: 'volatility_index', symbol: 'VIX' }] });
    expect(() => computeFeatures(universe, withVix)).toThrow(/declares volatility_index VIX/);
    const vix = { ...universe[0], symbol: 'VIX' };
    const out = computeFeatures(universe.slice(1), withVix, { volatilityIndex: vix });
    expect(out.columns).toEqual(['vix_level', 'vix_change_5']);
    const row = out.frames[0].dates.indexOf(vix.dates[300]);
    // The close of the trading day before: the VIX's own close (16:15) comes after the decision at 16:00.
    expect(out.frames[0].columns[0][row]).toBe(vix.close[299]);
  });

  it('joins the VIX close dated strictly before each date, whatever the VIX dates', () => {
    const withVix = defineFeatureSet({ name: 'vix', features: [{ kind: 'volatility_index', symbol: 'VIX', changeWindow: 1 }] });
    const equities = universe.slice(1);
    const days = equities[0].dates;
    const t = days.indexOf('2018-06-29');
    // A VIX series with a gap (no bar on t-1) and a bar dated t.
    const keep = [t - 3, t - 2, t, t + 1];
    const close = Float64Array.from(keep, (i) => 10 + i);
    const vix: SymbolBars = { symbol: 'VIX', dates: keep.map((i) => days[i]), open: close, high: close, low: close, close, volume: new Float64Array(keep.length) };
    const out = computeFeatures(equities, withVix, { volatilityIndex: vix });
    const f = out.frames[0];
    const at = (d: string) => f.columns[0][f.dates.indexOf(d)];
    // No row before both columns are defined: no VIX close before t-3's, no change before t-1's.
    expect(f.dates[0]).toBe(days[t - 1]);
    expect(at(days[t - 1])).toBe(10 + t - 2);
    expect(at(days[t])).toBe(10 + t - 2); // not the close dated t itself
    expect(at(days[t + 1])).toBe(10 + t);
    expect(at(days[t + 2])).toBe(10 + t + 1);
    expect(f.columns[1][f.dates.indexOf(days[t + 1])]).toBeCloseTo((10 + t) / (10 + t - 2) - 1, 12);
  });
});

describe('per-symbol columns claimed by several threads', () => {
  const universe = syntheticUniverse(10, '2017-01-03', '2017-03-31', 3);
  const specs = [{ kind: 'return' as const, horizon: 1, normalize: 'none' as const }, { kind: 'rsi' as const, window: 5, normalize: 'none' as const }];

  it('hands each symbol to exactly one claimer, a chunk at a time, with the columns computed alone', () => {
    const blocks = columnBlocks(specs, universe, (n) => new Float64Array(n).fill(-1));
    const next = new Int32Array(1);
    next[0] = 6; // another thread has claimed symbols 0-5 already
    expect([...claimSymbolColumns(specs, universe, next, 3, blocks)]).toEqual([6, 7, 8, 9]);
    expect(claimSymbolColumns(specs, universe, next, 3, blocks)).toHaveLength(0); // nothing left
    expect(blocks.values.subarray(0, blocks.offsets[6]).every((v) => v === -1)).toBe(true); // symbols 0-5 not written
    for (const k of [6, 7, 8, 9]) expect(blockColumns(blocks, k).columns).toEqual(specs.flatMap((spec) => computeSymbolFeature(spec, universe[k])));
    const alone = columnBlocks(specs, universe, (n) => new Float64Array(n));
    expect([...claimSymbolColumns(specs, universe, new Int32Array(1), 3, alone)]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    universe.forEach((s, k) => expect(blockColumns(alone, k).columns).toEqual(specs.flatMap((spec) => computeSymbolFeature(spec, s))));
  });
});

describe('features computed with pool threads (computeFromInputs)', () => {
  const universe = syntheticUniverse(8, '2016-01-04', '2017-12-29', 9);
  const set = defineFeatureSet(DEFAULT_FEATURE_SET);
  afterAll(() => sharedPool(2)?.close());

  it('gives the values of one thread, and refuses bad dates (found while the pool works) with the pool left usable', async () => {
    const alone = computeFeatures(universe, set);
    const swapped = [...universe[3].dates];
    [swapped[40], swapped[41]] = [swapped[41], swapped[40]];
    const bad = universe.map((s, k) => (k === 3 ? { ...s, dates: swapped } : s));
    await expect(computeFromInputs(set, { universe: bad }, { threads: 2 })).rejects.toThrow(`${universe[3].symbol}: bar dates are not strictly ascending at ${swapped[41]}`);
    const threaded = await computeFromInputs(set, { universe }, { threads: 2 });
    expect(threaded.columns).toEqual(alone.columns);
    threaded.frames.forEach((f, k) => {
      expect(f.dates).toEqual(alone.frames[k].dates);
      f.columns.forEach((c, j) => expect(Array.from(c)).toEqual(Array.from(alone.frames[k].columns[j])));
    });
  });
});

describe('the symbolColumns thread task', () => {
  afterAll(() => sharedPool(2)?.close());

  it('refuses column blocks a thread would fill in a copy', async () => {
    const [s] = syntheticUniverse(1, '2017-01-03', '2017-03-31', 4);
    const specs = [{ kind: 'return' as const, horizon: 1, normalize: 'none' as const }];
    const pool = sharedPool(2);
    await expect(pool?.run(0, 'symbolColumns', { specs, universe: [s], next: new Int32Array(new SharedArrayBuffer(4)), chunk: 1, blocks: columnBlocks(specs, [s], (n) => new Float64Array(n)) })).rejects.toThrow('symbolColumns needs its column blocks in shared memory');
  });
});
