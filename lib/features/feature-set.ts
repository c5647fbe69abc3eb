import { createHash } from 'node:crypto';
import { z } from 'zod';
import { refuseUnknownKeys } from '../unknown-keys';
import { closeKindProblems, DEFAULT_UNIVERSE_KINDS, instrumentKindSchema, instrumentMapSchema, OTHER_CLOSE_KINDS } from '../market-data/instruments';
import { symbolSchema } from '../market-data/symbols';
// A cycle (compute-features imports this file), used only when a set is defined, never at load.
import { featureColumns } from './compute-features';

/**
 * A feature set is data: a list of declared features with their parameters. Its version hashes
 * the fully-defaulted definition together with FEATURE_CODE_VERSION, so a changed parameter or a
 * changed implementation can never be mistaken for an old set.
 */
// bump whenever any feature's computation changes
// 3: equities-only universes and market columns; finite values for zero-volume and flat series.
// 4: volatility_index reads the VIX close of the trading day before (set at 16:15, after the 16:00 decision).
// 5: series of another market (SAP.DE, 7203.JP: foreign_equity) are no equities: no rows and no weight in market columns or ranks of a US universe.
// 6: one-letter and other vendor market suffixes (7203.T, VOD.L, BMW.F) are foreign_equity too, no longer US share classes.
// 7: market columns read each member's closes adjusted for the unadjusted splits found on their own day (a split is no crash of the market).
// 8: those closes are adjusted forward (from the split on, divided by its ratio), so no value before a split changes in its last bits.
// 9: findings of ratios an ordinary day moves by (4:3, 5:4 and their reverses: isSmallSplit) are flagged only, no longer divided out of the closes.
// 10: per-symbol features read their bars adjusted at those splits too (prices ÷ ratio, volume × ratio from the split on): an EMA, MACD or Wilder RSI/ADX no longer carries a split's move past its warm-up.
export const FEATURE_CODE_VERSION = 10;

const window = (d: number) => z.number().int().min(1).max(1000).default(d);
const normalize = z.enum(['none', 'rank', 'zscore']).default('none');

const symbolFeature = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('return'), horizon: window(1), normalize }),
  z.object({ kind: z.literal('sma_ratio'), window: window(20), normalize }),
  z.object({ kind: z.literal('ema_ratio'), window: window(20), normalize }),
  z.object({ kind: z.literal('rsi'), window: window(14), normalize }),
  z.object({ kind: z.literal('macd'), fast: window(12), slow: window(26), signal: window(9), normalize }),
  z.object({ kind: z.literal('bollinger'), window: window(20), k: z.number().positive().default(2), normalize }),
  z.object({ kind: z.literal('atr_pct'), window: window(14), normalize }),
  z.object({ kind: z.literal('adx'), window: window(14), normalize }),
  z.object({ kind: z.literal('stochastic'), window: window(14), smooth: window(3), normalize }),
  z.object({ kind: z.literal('cci'), window: window(20), normalize }),
  z.object({ kind: z.literal('williams_r'), window: window(14), normalize }),
  z.object({ kind: z.literal('roc'), window: window(10), normalize }),
  z.object({ kind: z.literal('mfi'), window: window(14), normalize }),
  z.object({ kind: z.literal('realized_vol'), window: window(20), normalize }),
  z.object({ kind: z.literal('candlestick'), normalize }),
  z.object({ kind: z.literal('gap'), normalize }),
  z.object({ kind: z.literal('donchian_breakout'), window: window(20), normalize }),
  z.object({ kind: z.literal('range_position'), window: window(252), normalize }),
  z.object({ kind: z.literal('volume_breakout'), window: window(20), volumeRatio: z.number().positive().default(1.5), normalize }),
  z.object({ kind: z.literal('relative_volume'), window: window(20), normalize }),
  z.object({ kind: z.literal('volume_zscore'), window: window(20), normalize }),
  z.object({ kind: z.literal('obv_trend'), window: window(20), normalize }),
  z.object({ kind: z.literal('ad_trend'), window: window(20), normalize }),
  z.object({ kind: z.literal('price_volume_corr'), window: window(20), normalize }),
  z.object({ kind: z.literal('vwap_distance'), window: window(20), normalize }),
  // Volatility estimators, annualised (× √252) like realized_vol so their levels compare directly.
  z.object({ kind: z.literal('parkinson_vol'), window: window(20), normalize }),
  z.object({ kind: z.literal('garman_klass_vol'), window: window(20), normalize }),
  z.object({ kind: z.literal('downside_vol'), window: window(20), normalize }),
  /** realized_vol over `short` bars / realized_vol over `long` bars (meant with short < long). */
  z.object({ kind: z.literal('vol_term_structure'), short: window(5), long: window(20), normalize }),
  /** ln(window-bar realised vol / median of the last `trailing` such vols): the volatility_regime label's persistence score. */
  z.object({ kind: z.literal('vol_persistence'), window: window(20), trailing: window(252), normalize }),
  /** Sample std of ln(window-bar realised vol) over the last `lookback` bars. */
  z.object({ kind: z.literal('vol_of_vol'), window: window(20), lookback: window(60), normalize }),
]);

/** Market-wide features: one value per date, computed from the whole universe up to that date. */
const marketFeature = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('breadth'), window: window(50) }),
  z.object({ kind: z.literal('advance_decline') }),
  z.object({ kind: z.literal('new_highs_lows'), window: window(252) }),
  z.object({ kind: z.literal('dispersion') }),
  z.object({ kind: z.literal('market_volatility'), window: window(20) }),
  /** Without `symbol`, the first of VIX, $VIX, ^VIX in the store (lib/market-data/instruments.ts). */
  z.object({ kind: z.literal('volatility_index'), symbol: symbolSchema.optional(), changeWindow: window(5) }),
]);

/** Per-symbol features from outside the bars: scored news headlines (symbol and market-wide). */
const newsFeature = z.object({ kind: z.literal('news_sentiment'), window: window(5) });

export const featureSpecSchema = z.union([symbolFeature, marketFeature, newsFeature]);
export type NewsFeatureSpec = z.infer<typeof newsFeature>;
export type SymbolFeatureSpec = z.infer<typeof symbolFeature>;
export type MarketFeatureSpec = z.infer<typeof marketFeature>;
export type FeatureSpec = z.infer<typeof featureSpecSchema>;

export const featureSetSchema = z.object({
  name: z.string().regex(/^[\w.-]{1,64}$/, 'letters, digits, _ . - (at most 64)'),
  description: z.string().optional(),
  features: z.array(featureSpecSchema).min(1, 'a feature set needs at least one feature'),
  /**
   * Instrument kinds that get rows and count in market columns and ranks (default: equities only).
   * Other series stay available as market inputs (volatility_index).
   */
  universe: z
    .array(instrumentKindSchema)
    .min(1)
    .default([...DEFAULT_UNIVERSE_KINDS])
    .superRefine((kinds, ctx) => {
      // Joined by date, bars of one date must close at one time: another market's closed hours before
      // the NYSE's (lib/market-data/instruments.ts), the VIX's at 16:15, futures and currencies later still.
      const other = [...new Set(kinds)].filter((k) => OTHER_CLOSE_KINDS.has(k));
      if (other.length === 0 || new Set(kinds).size === 1) return;
      ctx.addIssue({
        code: 'custom',
        message: `${other.join(' and ')} cannot share a universe with other kinds (${[...new Set(kinds)].join(', ')}): their bars of a date close at another time than the NYSE's 16:00, and joined by date one side would see the other's later prices in its market and rank columns; train one market at a time`,
      });
    }),
  /** Explicit kinds that override the naming convention, e.g. { "SPY": "etf" }. */
  instruments: instrumentMapSchema.default({}),
}).superRefine((set, ctx) => {
  // A series closing before (another market) or after (VIX, futures, FX) the NYSE counted as a US kind by hand: the look-ahead its default kind keeps out.
  for (const { symbol, message } of closeKindProblems(set.instruments)) ctx.addIssue({ code: 'custom', path: ['instruments', symbol], message });
  // A headline counts on the day whose NYSE close (16:00 New York) comes after it: another market's
  // close of that day came hours earlier, so a headline published in between would count on its day.
  const news = set.features.findIndex((f) => f.kind === 'news_sentiment');
  if (news >= 0 && set.universe.includes('foreign_equity')) {
    ctx.addIssue({ code: 'custom', path: ['features', news], message: 'news_sentiment cannot be computed for foreign_equity series: headlines count by the NYSE close (16:00 New York), and another market closes hours before it, so a headline published after its close would count on the same day' });
  }
});
export type FeatureSetDefinition = z.infer<typeof featureSetSchema>;
export type FeatureSetInput = z.input<typeof featureSetSchema>;

const MARKET_KINDS = new Set<string>(marketFeature.options.map((o) => o.shape.kind.value));
export function isMarketFeature(spec: FeatureSpec): spec is MarketFeatureSpec {
  return MARKET_KINDS.has(spec.kind);
}

/** Key order never changes a version: objects are serialised with sorted keys. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export interface FeatureSet extends FeatureSetDefinition {
  version: string;
}

/**
 * Two features giving a column of the same name (e.g. two Bollinger bands differing only in `k`,
 * which the names leave out so as not to change stored versions): anything that maps columns by
 * name (the audit, datasets, models) would mix them up. One issue per pair of features, on the later.
 */
function duplicateColumnIssues(definition: FeatureSetDefinition): z.core.$ZodIssue[] {
  const producer = new Map<string, number>();
  const clashes = new Map<string, { first: number; second: number; columns: string[] }>();
  definition.features.forEach((spec, j) => {
    for (const column of featureColumns({ ...definition, features: [spec], version: '' })) {
      const first = producer.get(column);
      if (first === undefined) {
        producer.set(column, j);
        continue;
      }
      const key = `${first} ${j}`;
      const clash = clashes.get(key) ?? { first, second: j, columns: [] };
      clash.columns.push(column);
      clashes.set(key, clash);
    }
  });
  return [...clashes.values()].map(({ first, second, columns }) => ({
    code: 'custom',
    path: ['features', second],
    input: definition.features[second],
    message:
      `duplicate column${columns.length > 1 ? 's' : ''} ${columns.join(', ')}: produced by both features.${first} ${canonicalJson(definition.features[first])} and features.${second} ${canonicalJson(definition.features[second])}; ` +
      "column names must be unique, and they leave out bollinger's k and volume_breakout's volumeRatio: drop one of the two features",
  }));
}

/** Validates a definition (defaults filled) and derives its version; refuses one whose column names are not unique. */
export function defineFeatureSet(input: FeatureSetInput): FeatureSet {
  const definition = featureSetSchema.parse(input);
  // A defined set passed back in keeps its (derived, recomputed) version; any other dropped key is refused.
  refuseUnknownKeys({ ...input, version: undefined }, { ...definition, version: undefined }, 'the feature set');
  const duplicates = duplicateColumnIssues(definition);
  if (duplicates.length > 0) throw new z.ZodError(duplicates);
  const digest = createHash('sha256')
    .update(canonicalJson({ features: definition.features, codeVersion: FEATURE_CODE_VERSION, universe: [...definition.universe].sort(), instruments: definition.instruments }))
    .digest('hex');
  return { ...definition, version: `fs-${definition.name}-${digest.slice(0, 12)}` };
}

/** The default set: trend, momentum, volatility, patterns, volume and market context. */
export const DEFAULT_FEATURE_SET: FeatureSetInput = {
  name: 'default',
  description: 'Daily equities: trend, momentum, volatility, candlestick/breakout patterns, volume and market breadth',
  features: [
    ...[1, 5, 10, 20].map((horizon) => ({ kind: 'return' as const, horizon })),
    ...[5, 10, 20, 50, 200].map((w) => ({ kind: 'sma_ratio' as const, window: w })),
    ...[12, 26, 50].map((w) => ({ kind: 'ema_ratio' as const, window: w })),
    { kind: 'rsi', window: 14 },
    { kind: 'macd' },
    { kind: 'bollinger' },
    { kind: 'atr_pct' },
    { kind: 'adx' },
    { kind: 'stochastic' },
    { kind: 'cci' },
    { kind: 'williams_r' },
    { kind: 'roc', window: 10 },
    { kind: 'mfi' },
    { kind: 'realized_vol', window: 20 },
    { kind: 'realized_vol', window: 60 },
    { kind: 'candlestick' },
    { kind: 'gap' },
    { kind: 'donchian_breakout', window: 20 },
    { kind: 'donchian_breakout', window: 55 },
    { kind: 'range_position', window: 252 },
    { kind: 'volume_breakout', window: 20 },
    { kind: 'relative_volume' },
    { kind: 'volume_zscore' },
    { kind: 'obv_trend' },
    { kind: 'ad_trend' },
    { kind: 'price_volume_corr' },
    { kind: 'vwap_distance' },
    { kind: 'return', horizon: 20, normalize: 'rank' },
    { kind: 'breadth', window: 50 },
    { kind: 'advance_decline' },
    { kind: 'new_highs_lows', window: 252 },
    { kind: 'dispersion' },
    { kind: 'market_volatility', window: 20 },
    // { kind: 'volatility_index' } joins when a VIX-like series (VIX, $VIX or ^VIX) is in the store.
  ],
};
