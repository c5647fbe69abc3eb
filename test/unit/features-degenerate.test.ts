/**
 * Zero-volume, constant-price and single-bar series: every feature column is finite wherever a
 * value is due (NaN only during the warm-up), for every feature kind a feature set can declare.
 */
import { computeFeatures, featureColumns, requiredBars, type SymbolBars } from '../../lib/features/compute-features';
import { defineFeatureSet, featureSpecSchema, type FeatureSetInput, type SymbolFeatureSpec } from '../../lib/features/feature-set';
import { computeSymbolFeature } from '../../lib/features/symbol-features';
import { syntheticUniverse } from '../helpers/universe';

/** Every `kind` the schema admits, read from the schema so that a new kind is covered at once. */
function everyKind(): string[] {
  const kinds: string[] = [];
  const walk = (schema: unknown): void => {
    const def = (schema as { def?: { type?: string; options?: unknown[]; shape?: Record<string, { def?: { values?: unknown[] } }> } }).def;
    if (def?.options) def.options.forEach(walk);
    else if (def?.shape?.kind?.def?.values) kinds.push(String(def.shape.kind.def.values[0]));
  };
  walk(featureSpecSchema);
  return kinds;
}

const KINDS = everyKind();
/** Each kind with its defaults, once plain and once ranked/z-scored where that applies. */
const EVERY_KIND: FeatureSetInput = {
  name: 'every-kind',
  features: [
    ...KINDS.map((kind) => ({ kind }) as FeatureSetInput['features'][number]),
    { kind: 'return', horizon: 20, normalize: 'rank' },
    { kind: 'rsi', normalize: 'zscore' },
  ],
};

function copy(s: SymbolBars, symbol: string): SymbolBars {
  return { symbol, dates: s.dates.slice(), open: s.open.slice(), high: s.high.slice(), low: s.low.slice(), close: s.close.slice(), volume: s.volume.slice() };
}

const base = syntheticUniverse(3);
/** Moving prices, never any volume (an index such as $VIX, kept in the universe by an explicit mapping). */
const zeroVolume = copy(base[0], 'ZEROVOL');
zeroVolume.volume.fill(0);
/** Large fractional (split-adjusted) volumes, then none: a running sum leaves a residue where 0 is due. */
const volumeStops = copy(base[1], 'VOLSTOPS');
volumeStops.volume.forEach((_, i) => (volumeStops.volume[i] = i < 300 ? 1234567.891 * (1 + (i % 7) / 3) : 0));
/** A price that never moves, with ordinary volume. */
const flat = copy(base[2], 'FLAT');
for (const a of [flat.open, flat.high, flat.low, flat.close]) a.fill(50.1);
/** Neither price nor volume ever moves. */
const dead = copy(flat, 'DEAD');
dead.volume.fill(0);
const singleBar: SymbolBars = { symbol: 'ONEBAR', dates: [base[0].dates[0]], open: Float64Array.of(10), high: Float64Array.of(11), low: Float64Array.of(9), close: Float64Array.of(10), volume: Float64Array.of(0) };
const vix: SymbolBars = { ...copy(base[0], '$VIX'), volume: new Float64Array(base[0].dates.length) };

describe('degenerate series give finite features where a value is due', () => {
  it('covers every feature kind of the schema', () => {
    expect(KINDS).toEqual(expect.arrayContaining(['relative_volume', 'vwap_distance', 'volatility_index', 'news_sentiment', 'breadth', 'vol_of_vol']));
    expect(KINDS.length).toBeGreaterThanOrEqual(38);
  });

  it.each([
    ['zero volume', [zeroVolume]],
    ['volume that stops', [volumeStops]],
    ['constant price', [flat]],
    ['constant price and no volume', [dead]],
    ['all of them together, with a single-bar series', [zeroVolume, volumeStops, flat, dead, singleBar]],
  ] as const)('%s: every column finite on every row after the look-back', (_, universe) => {
    // Explicit kinds keep these test series in the universe whatever their names.
    const set = defineFeatureSet({ ...EVERY_KIND, instruments: Object.fromEntries(universe.map((s) => [s.symbol, 'equity'])) });
    const result = computeFeatures(universe, set, { volatilityIndex: vix, news: [] });
    const columns = featureColumns(set);
    const minBars = requiredBars(set);
    const bad: string[] = [];
    for (const frame of result.frames) {
      const source = universe.find((s) => s.symbol === frame.symbol) as SymbolBars;
      // No column may stay undefined past the declared look-back (that would drop rows silently).
      expect(frame.dates.length).toBe(source.dates.length - (minBars - 1));
      frame.columns.forEach((column, c) => {
        const r = column.findIndex((v) => !Number.isFinite(v));
        if (r >= 0) bad.push(`${frame.symbol} ${columns[c]} on ${frame.dates[r]}: ${column[r]}`);
      });
    }
    expect(bad).toEqual([]);
    expect(result.frames.map((f) => f.symbol).sort()).toEqual(universe.filter((s) => s.dates.length >= minBars).map((s) => s.symbol).sort());
  });

  it('relative volume is 1 and VWAP distance finite (not NaN / −1) once volume stops', () => {
    const [rv] = computeSymbolFeature({ kind: 'relative_volume', window: 20, normalize: 'none' }, volumeStops);
    const [vwap] = computeSymbolFeature({ kind: 'vwap_distance', window: 20, normalize: 'none' }, volumeStops);
    const n = volumeStops.close.length;
    expect(Array.from(rv.subarray(330))).toEqual(new Array(n - 330).fill(1));
    for (let i = 330; i < n; i++) {
      // Equal weights without volume: close ÷ mean typical price − 1, far from −1.
      let tp = 0;
      for (let j = i - 19; j <= i; j++) tp += (volumeStops.high[j] + volumeStops.low[j] + volumeStops.close[j]) / 3;
      expect(vwap[i]).toBeCloseTo(volumeStops.close[i] / (tp / 20) - 1, 12);
    }
  });

  it('a single bar gives no infinite value for any per-symbol kind', () => {
    const set = defineFeatureSet(EVERY_KIND);
    for (const spec of set.features) {
      if (spec.kind === 'news_sentiment' || !('normalize' in spec)) continue;
      for (const column of computeSymbolFeature(spec as SymbolFeatureSpec, singleBar)) {
        expect(column).toHaveLength(1);
        expect(Number.isFinite(column[0]) || Number.isNaN(column[0])).toBe(true);
      }
    }
    const result = computeFeatures([singleBar], defineFeatureSet({ ...EVERY_KIND, instruments: { ONEBAR: 'equity' } }), { volatilityIndex: vix, news: [] });
    expect(result.frames).toEqual([]);
    expect(result.skipped).toEqual([expect.objectContaining({ symbol: 'ONEBAR', bars: 1 })]);
  });
});
