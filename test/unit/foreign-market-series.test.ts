import { computeFeatures, frameRow, type SymbolBars } from '../../lib/features/compute-features';
import { DEFAULT_FEATURE_SET, defineFeatureSet, type FeatureSet } from '../../lib/features/feature-set';
import { computeLabels } from '../../lib/labels/labels';
import { closeKindProblem, foreignMarketOf, instrumentKind } from '../../lib/market-data/instruments';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { rng } from '../../lib/random';
import { binaryAucOf } from '../../lib/stats/binary-scores';
import { syntheticUniverse } from '../helpers/universe';

/**
 * A series of another market (Stooq stores them with their market: SAP.DE, 7203.JP) closes hours
 * before the NYSE. Joined by date with US stocks, its row of day t got market columns made of the US
 * closes of day t, after its own close where its label starts: a look-ahead of hours. Such series are
 * `foreign_equity`, outside the default universe: no rows and no weight in a US universe's columns.
 */

/** The equal-weighted daily return of the universe, by date. */
function marketReturns(universe: readonly SymbolBars[]): Map<string, number> {
  const sum = new Map<string, number>();
  const count = new Map<string, number>();
  for (const s of universe) {
    for (let i = 1; i < s.dates.length; i++) {
      sum.set(s.dates[i], (sum.get(s.dates[i]) ?? 0) + s.close[i] / s.close[i - 1] - 1);
      count.set(s.dates[i], (count.get(s.dates[i]) ?? 0) + 1);
    }
  }
  return new Map([...sum].map(([d, v]) => [d, v / (count.get(d) as number)]));
}

/** A Japanese-like stock: its session of date t ends before the US session of t, so it moves with the US day before (beta 0.8). */
function reactsToPreviousUsDay(symbol: string, us: readonly SymbolBars[], seed: number): SymbolBars {
  const market = marketReturns(us);
  const dates = [...market.keys()].sort();
  const random = rng(seed);
  const close = new Float64Array(dates.length);
  let c = 100;
  for (let i = 0; i < dates.length; i++) {
    c *= 1 + (i > 0 ? 0.8 * (market.get(dates[i - 1]) as number) : 0) + 0.01 * (random() - 0.5);
    close[i] = c;
  }
  const open = close.map((x, i) => (i > 0 ? close[i - 1] : x));
  return { symbol, dates, open, high: close.map((x, i) => Math.max(x, open[i]) * 1.004), low: close.map((x, i) => Math.min(x, open[i]) * 0.996), close, volume: new Float64Array(dates.length).fill(2e6) };
}

function sameFrames(a: ReturnType<typeof computeFeatures>, b: ReturnType<typeof computeFeatures>): void {
  expect(a.frames.map((f) => f.symbol)).toEqual(b.frames.map((f) => f.symbol));
  a.frames.forEach((f, k) => {
    const g = b.frames[k];
    expect(g.dates).toEqual(f.dates);
    for (let r = 0; r < f.dates.length; r++) {
      const x = frameRow(f, r);
      const y = frameRow(g, r);
      x.forEach((v, c) => {
        if (!Object.is(v, y[c])) throw new Error(`${f.symbol} ${f.dates[r]} ${a.columns[c]}: ${v} without the foreign series, ${y[c]} with them`);
      });
    }
  });
}

describe('series of another market', () => {
  const us = syntheticUniverse(12, '2015-01-02', '2017-12-29', 5);
  const foreign = [reactsToPreviousUsDay('7203.JP', us, 1), reactsToPreviousUsDay('6758.JP', us, 2), reactsToPreviousUsDay('SAP.DE', us, 3)];

  it('are foreign_equity by their market suffix; US symbols, share classes and explicit kinds are not', () => {
    expect(['SAP.DE', '7203.JP', 'AAA.UK', 'AAPL', 'BRK.B', 'BF-B', 'AAPL.US', '$DAX.DE', 'ES=F'].map((s) => instrumentKind(s))).toEqual(['foreign_equity', 'foreign_equity', 'foreign_equity', 'equity', 'equity', 'equity', 'equity', 'index', 'future']);
    expect(['SAP.DE', '7203.JP', 'BRK.B', 'AAPL.US', 'AAPL'].map(foreignMarketOf)).toEqual(['DE', 'JP', undefined, undefined, undefined]);
    expect(instrumentKind('SAP.DE', { 'SAP.DE': 'equity' })).toBe('equity');
  });

  it('get no rows and move no column of a US universe (market columns and ranks included)', () => {
    const set = defineFeatureSet({ ...DEFAULT_FEATURE_SET, features: [...DEFAULT_FEATURE_SET.features, { kind: 'rsi', window: 14, normalize: 'zscore' }] });
    const alone = computeFeatures(us, set);
    const mixed = computeFeatures([...us, ...foreign], set);
    expect(mixed.skipped.filter((s) => s.reason.startsWith('foreign_equity series')).map((s) => s.symbol)).toEqual(['7203.JP', '6758.JP', 'SAP.DE']);
    sameFrames(alone, mixed);
  });

  it('would have seen the US day after their own close in the market columns: why they are kept out', () => {
    // Counted as equities (the old default; here stored without their market, as bare symbols are
    // taken for US ones): the foreign rows' mkt_advance_decline is the US market of the same date,
    // which the next foreign session follows.
    const bare = [reactsToPreviousUsDay('JP7203', us, 1), reactsToPreviousUsDay('JP6758', us, 2)];
    const set = defineFeatureSet({ name: 'as-equity', features: [{ kind: 'advance_decline' }] });
    const out = computeFeatures([...us, ...bare], set);
    const scores: number[] = [];
    const labels: number[] = [];
    for (const f of out.frames.filter((x) => x.symbol.startsWith('JP'))) {
      const s = bare.find((x) => x.symbol === f.symbol) as SymbolBars;
      const label = computeLabels({ kind: 'direction', horizon: 1, deadZone: 0 }, s, s.dates);
      f.dates.forEach((date, r) => {
        const t = s.dates.indexOf(date);
        if (Number.isNaN(label.value[t])) return;
        scores.push(f.columns[0][r]);
        labels.push(label.value[t]);
      });
    }
    expect(labels.length).toBeGreaterThan(800);
    expect(binaryAucOf(Float64Array.from(scores), Int32Array.from(labels))).toBeGreaterThan(0.6);
  });

  it('cannot be declared a US kind by hand (a feature set or import mapping one to equity, etf, index or synthetic is refused, naming it), nor counted as one by name', () => {
    for (const kind of ['equity', 'etf', 'index', 'synthetic'] as const) {
      expect(() => defineFeatureSet({ name: 'as-us', features: [{ kind: 'advance_decline' }], instruments: { 'SPY': 'etf', '7203.JP': kind } })).toThrow(/7203\.JP names another market \(JP\), whose bars of a date close hours before the NYSE's 16:00: as \w+ it would be joined by date with US series/);
      expect(() => importRequestSchema.parse({ source: { kind: 'csv', path: 'data' }, instruments: { 'SAP.DE': kind } })).toThrow(/SAP\.DE names another market \(DE\)/);
    }
    // Its own kind, another kind outside a US universe, US symbols and share classes stay declarable.
    expect(defineFeatureSet({ name: 'ok', features: [{ kind: 'gap' }], instruments: { '7203.JP': 'foreign_equity', 'SAP.DE': 'future', 'BRK.B': 'equity', 'AAPL.US': 'equity', 'SPY': 'etf' } }).instruments).toMatchObject({ '7203.JP': 'foreign_equity' });
    expect(importRequestSchema.parse({ source: { kind: 'csv', path: 'data' }, instruments: { 'SAP.DE': 'foreign_equity', 'SPY': 'etf' } }).instruments).toEqual({ 'SAP.DE': 'foreign_equity', 'SPY': 'etf' });
    // An index of another market is an index by its name: a universe with indices would join it with US closes.
    const dax = { ...reactsToPreviousUsDay('$DAX.DE', us, 4), volume: new Float64Array(us[0].dates.length) };
    const withIndices = defineFeatureSet({ name: 'with-indices', features: [{ kind: 'return', horizon: 1 }, { kind: 'advance_decline' }], universe: ['equity', 'index'] });
    expect(() => computeFeatures([...us, dax], withIndices)).toThrow(/would count \$DAX\.DE in its universe \(equity, index\): \$DAX\.DE names another market \(DE\)/);
    // The default universe leaves it out, as before.
    sameFrames(computeFeatures(us, defineFeatureSet(DEFAULT_FEATURE_SET)), computeFeatures([...us, dax], defineFeatureSet(DEFAULT_FEATURE_SET)));
  });

  it('form a universe of their own, one market at a time; never mixed with US kinds', () => {
    const jp = defineFeatureSet({ name: 'jp', features: [{ kind: 'return', horizon: 1 }, { kind: 'advance_decline' }], universe: ['foreign_equity'] });
    const out = computeFeatures([...us, ...foreign.slice(0, 2)], jp);
    expect(out.frames.map((f) => f.symbol)).toEqual(['7203.JP', '6758.JP']);
    expect(() => computeFeatures([...us, ...foreign], jp)).toThrow(/foreign_equity series of 2 markets, JP \(7203\.JP\), DE \(SAP\.DE\)/);
    expect(() => defineFeatureSet({ name: 'mixed', features: [{ kind: 'gap' }], universe: ['equity', 'foreign_equity'] })).toThrow(/foreign_equity cannot share a universe with other kinds/);
    // Headlines count by the NYSE close, hours after another market's.
    expect(() => defineFeatureSet({ name: 'jp-news', features: [{ kind: 'news_sentiment' }], universe: ['foreign_equity'] })).toThrow(/news_sentiment cannot be computed for foreign_equity series/);
    // The same for every kind whose close is not the NYSE's 16:00 (the VIX at 16:15, futures, currencies).
    expect(() => defineFeatureSet({ name: 'vix-in', features: [{ kind: 'gap' }], universe: ['equity', 'volatility_index'] })).toThrow(/volatility_index cannot share a universe/);
    expect(() => defineFeatureSet({ name: 'fut-fx', features: [{ kind: 'gap' }], universe: ['future', 'fx'] })).toThrow(/future and fx cannot share a universe/);
    expect(defineFeatureSet({ name: 'indices', features: [{ kind: 'gap' }], universe: ['equity', 'index', 'etf'] }).universe).toEqual(['equity', 'index', 'etf']);
  });
});

/**
 * The other way round: a series whose bar of a date closes after the NYSE's 16:00 (the VIX family at
 * 16:15, `=F` futures, `=X` currencies). Declared a kind that shares a universe with US stocks, its
 * print of day t, made after the 16:00 decision, entered the market and rank columns of every US row
 * of day t (in a generated market that close alone moved a US return rank 0.80 → 0.70, dispersion 0.0056 → 0.0871).
 */
describe('series that close after the NYSE', () => {
  const us = syntheticUniverse(10, '2016-01-04', '2016-12-30', 7);
  const late = ['VIX', '$VIX', '^VIX', 'VXN', 'VIX3M', 'VVIX', 'ES=F', 'CL=F', 'EURUSD=X'];
  const features = [{ kind: 'return' as const, horizon: 1, normalize: 'rank' as const }, { kind: 'advance_decline' as const }, { kind: 'dispersion' as const }];

  it('cannot be declared a US kind by hand: a feature set or import mapping one to equity, etf, index or synthetic is refused, naming it, its close and its kind', () => {
    for (const symbol of late) {
      const named = instrumentKind(symbol);
      expect(['volatility_index', 'future', 'fx']).toContain(named);
      for (const kind of ['equity', 'etf', 'index', 'synthetic'] as const) {
        const escaped = symbol.replace(/[$^=]/g, '\\$&');
        const message = new RegExp(`${escaped} is by its name an? [a-z ]+ \\(${named}\\), whose bar of a date closes (at 16:15 New York, )?after the NYSE's 16:00.*: as ${kind} it would be joined by date with US series.*declare it ${named}`);
        expect(() => defineFeatureSet({ name: 'late', features, universe: ['equity', 'etf', 'index', 'synthetic'], instruments: { SPY: 'etf', [symbol]: kind } })).toThrow(message);
        const parsed = importRequestSchema.safeParse({ source: { kind: 'csv', path: 'data' }, instruments: { [symbol]: kind } });
        expect(parsed.success).toBe(false);
        expect(parsed.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([[`instruments.${symbol}`, expect.stringMatching(message)]]);
      }
    }
    expect(closeKindProblem('VIX', 'equity')).toMatch(/at 16:15 New York/);
    expect(closeKindProblem('ES=F', 'etf')).toMatch(/declare it future and use it in a universe of its own \(universe \["future"\]\)/);
  });

  it('stay declarable as their own kinds, or any kind outside a US universe; symbols not named as such stay US kinds', () => {
    const instruments = { 'VIX': 'volatility_index', '^VIX': 'volatility_index', 'ES=F': 'future', 'EURUSD=X': 'fx', 'VIX3M': 'future', 'VXX': 'etf', 'UVXY': 'etf', 'SPY': 'etf' } as const;
    expect(defineFeatureSet({ name: 'ok', features, instruments }).instruments).toEqual(instruments);
    expect(importRequestSchema.parse({ source: { kind: 'csv', path: 'data' }, instruments }).instruments).toEqual(instruments);
    for (const symbol of late) for (const kind of ['volatility_index', 'future', 'fx', 'foreign_equity'] as const) expect(closeKindProblem(symbol, kind)).toBeUndefined();
    expect(defineFeatureSet({ name: 'futures', features, universe: ['future'] }).universe).toEqual(['future']);
  });

  it('leave the US rows of their date alone; a set that skipped the schema fails its computation instead of counting one', () => {
    const vix = { ...us[9], symbol: 'VIX' };
    const set = defineFeatureSet({ name: 'late', features, universe: ['equity', 'etf'] });
    const t = vix.dates.length - 1;
    const moved = { ...vix, close: vix.close.map((c, i) => (i === t ? c * 1.3 : c)) };
    sameFrames(computeFeatures([...us.slice(0, 9), vix], set), computeFeatures([...us.slice(0, 9), moved], set));
    const declared = { ...set, instruments: { VIX: 'equity' } } as FeatureSet;
    expect(() => computeFeatures([...us.slice(0, 9), vix], declared)).toThrow(/would count VIX in its universe \(equity, etf\): VIX is by its name a volatility index \(volatility_index\)/);
  });
});
