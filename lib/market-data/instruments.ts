/**
 * What kind of instrument a series is. Only equities are stocks: indices, volatility indices and
 * other non-equity series must not enter a training universe or the cross-sectional and market
 * columns (breadth, advance/decline, dispersion, ranks), where a zero-volume index such as `$VIX`
 * would count as one more stock. They stay usable as market inputs (the volatility_index feature).
 *
 * The convention, applied to the stored (upper-case) symbol, first match wins:
 * 1. an explicit mapping (`instruments: { "SPY": "etf" }` in an import request or a feature set);
 * 2. a VIX-family name, with or without a `$`/`^` prefix (`VIX`, `$VIX`, `^VIX`, `VXN`, `VIX3M`, …)
 *    → `volatility_index`;
 * 3. a `$` or `^` prefix (`$SPX`, `$DJI`, `^GSPC`) → `index`;
 * 4. a Yahoo-style `=F` / `=X` suffix → `future` / `fx`;
 * 5. a market suffix of two letters or more other than `.US`, as Stooq's series of other markets are
 *    stored (`SAP.DE`, `7203.JP`, `AAA.UK`: lib/market-data/stooq-symbols.ts) → `foreign_equity`;
 * 6. anything else → `equity`. ETFs and synthetic series look like equities: map them explicitly.
 *
 * Why another market is not an `equity`: its bar of day t closed hours before the NYSE's (Frankfurt
 * 11:30, Tokyo 01:00 or 02:00 New York time), and every series is joined with the others by date. In
 * a universe of US stocks its row of day t would get market columns (breadth, advance/decline,
 * dispersion, ranks) made of the US closes of day t, information from after its own close, where
 * its label starts: the US afternoon "predicts" the next move of a German stock, the whole US day a
 * Japanese one. Among the 382 real S&P 500 series, 20 series moving with the previous US day (beta
 * 0.6, as Japanese stocks do) reached AUC 0.65 from mkt_advance_decline alone on their 1-day labels
 * and 0.56 on 5-day ones, where US stocks score 0.48 and 0.49; test/unit/foreign-market-series.test.ts
 * checks the mechanism on a generated market. A universe of one other market is declared with
 * `universe: ["foreign_equity"]`; the NYSE calendar, the 16:00 close of the news features and the
 * VIX join still apply to it.
 */
import { z } from 'zod';
import { isSymbol } from './symbols';

export const INSTRUMENT_KINDS = ['equity', 'foreign_equity', 'etf', 'index', 'volatility_index', 'synthetic', 'future', 'fx'] as const;
export const instrumentKindSchema = z.enum(INSTRUMENT_KINDS);
export type InstrumentKind = z.infer<typeof instrumentKindSchema>;

/** Explicit kinds per stored symbol; they override the naming convention. */
export const instrumentMapSchema = z
  .record(z.string(), instrumentKindSchema)
  .superRefine((map, ctx) => {
    for (const key of Object.keys(map)) {
      if (!isSymbol(key)) ctx.addIssue({ code: 'custom', path: [key], message: `${JSON.stringify(key)} is not a stored symbol (upper case, e.g. "SPY", "$VIX")` });
    }
  });
export type InstrumentMap = Readonly<Record<string, InstrumentKind>>;

/** CBOE volatility indices as vendors name them without their prefix. */
/** A market suffix written on a stored symbol (`SAP.DE`, `7203.JP`): a dot and two letters or more, as STOOQ_MARKET_SUFFIX. */
const MARKET_SUFFIX = /\.([A-Z]{2,})$/;
/** The market whose symbols are stored bare (the suffix Stooq's US series carry is dropped when stored). */
const HOME_MARKET = 'US';

/**
 * The market of another exchange a stored symbol names (`SAP.DE` → `DE`, `7203.JP` → `JP`), or
 * undefined for a US symbol (bare, a share class `BRK.B`, or `.US`).
 */
export function foreignMarketOf(symbol: string): string | undefined {
  const market = MARKET_SUFFIX.exec(symbol)?.[1];
  return market === undefined || market === HOME_MARKET ? undefined : market;
}

const VOLATILITY_INDEX_NAMES = new Set(['VIX', 'VIX1D', 'VIX9D', 'VIX3M', 'VIX6M', 'VIX1Y', 'VXV', 'VXMT', 'VXN', 'VXD', 'RVX', 'VXO', 'VVIX', 'VXEEM', 'OVX', 'GVZ']);

export function instrumentKind(symbol: string, overrides?: InstrumentMap): InstrumentKind {
  const explicit = overrides?.[symbol];
  if (explicit !== undefined) return explicit;
  const prefixed = symbol.startsWith('$') || symbol.startsWith('^');
  const bare = prefixed ? symbol.slice(1) : symbol;
  if (VOLATILITY_INDEX_NAMES.has(bare)) return 'volatility_index';
  if (prefixed) return 'index';
  if (symbol.endsWith('=F')) return 'future';
  if (symbol.endsWith('=X')) return 'fx';
  if (foreignMarketOf(symbol) !== undefined) return 'foreign_equity';
  return 'equity';
}

/** Stocks only, unless `kinds` says otherwise: the rule for universes and cross-sections. */
/**
 * One line naming how many series of each kind a snapshot holds, listing the non-equities:
 * "1 equity; 2 index ($DJI, $SPX); 1 volatility_index ($VIX)".
 */
export function describeInstrumentKinds(symbols: readonly string[], overrides?: InstrumentMap, listAtMost = 10): string {
  const byKind = new Map<InstrumentKind, string[]>();
  for (const symbol of [...symbols].sort()) {
    const kind = instrumentKind(symbol, overrides);
    const list = byKind.get(kind);
    if (list) list.push(symbol);
    else byKind.set(kind, [symbol]);
  }
  return INSTRUMENT_KINDS.filter((k) => byKind.has(k))
    .map((k) => {
      const list = byKind.get(k) ?? [];
      if (k === 'equity') return `${list.length} ${k}`;
      return `${list.length} ${k} (${list.slice(0, listAtMost).join(', ')}${list.length > listAtMost ? ', …' : ''})`;
    })
    .join('; ');
}

export const DEFAULT_UNIVERSE_KINDS: readonly InstrumentKind[] = ['equity'];

/** Kinds whose daily bar closes at the NYSE's 16:00, so they may share a universe with US stocks (lib/features/feature-set.ts). */
const NYSE_CLOSE_KINDS: ReadonlySet<InstrumentKind> = new Set<InstrumentKind>(['equity', 'etf', 'index', 'synthetic']);

/**
 * Why a series may not be counted as `kind`, or undefined: a symbol that names another market
 * (`SAP.DE`, `7203.JP`, `$DAX.DE`) closes hours before the NYSE, and as a kind that shares a universe
 * with US stocks its row of day t would be joined by date with their closes of day t, after its own:
 * the look-ahead `foreign_equity` keeps out. Declaring it so by hand (a feature set's or an import's
 * `instruments`) would bring that look-ahead back.
 */
export function foreignKindProblem(symbol: string, kind: InstrumentKind): string | undefined {
  const market = foreignMarketOf(symbol);
  if (market === undefined || !NYSE_CLOSE_KINDS.has(kind)) return undefined;
  return (
    `${symbol} names another market (${market}), whose bars of a date close hours before the NYSE's 16:00: as ${kind} it would be joined by date with US series ` +
    `and its row of each day would see their later closes in the market and rank columns (AUC 0.65 from advance/decline alone on 1-day labels); ` +
    `declare it foreign_equity and train it in a universe of its own (universe ["foreign_equity"]), or store a series that closes at the NYSE under its US symbol`
  );
}

/** foreignKindProblem of every explicit kind of `map`, by symbol. */
export function foreignKindProblems(map: InstrumentMap): Array<{ symbol: string; message: string }> {
  return Object.entries(map).flatMap(([symbol, kind]) => {
    const message = foreignKindProblem(symbol, kind);
    return message === undefined ? [] : [{ symbol, message }];
  });
}

/** A predicate for "belongs in the universe" under `kinds` and explicit `overrides`. */
export function universeMember(kinds: readonly InstrumentKind[] = DEFAULT_UNIVERSE_KINDS, overrides?: InstrumentMap): (symbol: string) => boolean {
  const allowed = new Set(kinds);
  return (symbol) => allowed.has(instrumentKind(symbol, overrides));
}

/** The symbols a volatility_index feature looks for, in order: the named one, else VIX, $VIX, ^VIX. */
export const DEFAULT_VOLATILITY_INDEX_SYMBOLS: readonly string[] = ['VIX', '$VIX', '^VIX'];

export function volatilityIndexCandidates(symbol?: string): readonly string[] {
  return symbol !== undefined ? [symbol] : DEFAULT_VOLATILITY_INDEX_SYMBOLS;
}

/** The first candidate present, or undefined. */
export function findVolatilityIndex(available: (symbol: string) => boolean, symbol?: string): string | undefined {
  return volatilityIndexCandidates(symbol).find(available);
}

/** Names what was looked for, for an error when no candidate is present. */
export function volatilityIndexLookedFor(symbol?: string): string {
  const candidates = volatilityIndexCandidates(symbol);
  return candidates.length === 1 ? candidates[0] : `any of ${candidates.join(', ')} (in that order; name another with "symbol")`;
}
