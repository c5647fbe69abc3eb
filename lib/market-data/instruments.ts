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
 * 5. a dot and letters at the end (`.B`, `.T`, `.DE`) are read by one table, MARKET_SUFFIXES:
 *    a US share class (`.A` to `.E`: `BRK.B`, `BF.B`; the dashed `BRK-B` has no dot suffix) or `.US`
 *    → `equity`; a market suffix as Yahoo (`7203.T`, `VOD.L`, `BMW.DE`, `AIR.PA`, `BHP.AX`, `RY.TO`,
 *    `0700.HK`, `005930.KS`, `INFY.NS`) or Stooq (`7203.JP`, `AAA.UK`, `SAP.DE`: stooq-symbols.ts)
 *    write them → `foreign_equity` of that market (`.T` and `.JP` are both JP); any other suffix
 *    (`.V`, TSX Venture's or a US class's as in `MKC.V`; `.Q`; `.ZZ`) is refused with an error asking
 *    for the series' kind in `instruments`, never guessed;
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
 *
 * The same holds the other way round for series that close after the NYSE (the VIX family at 16:15,
 * `=F` futures, `=X` currencies): counted as equity, etf, index or synthetic beside US stocks, their
 * print of day t, made after the 16:00 decision, would enter the US rows of day t. So neither kind of
 * symbol may be declared such a kind (closeKindProblem).
 */
import { z } from 'zod';
import { isIsoDate } from '../calendar/dates';
import { isNyseTradingDay, previousNyseTradingDay } from '../calendar/nyse';
import { BadInputError } from '../errors';
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

/**
 * The last NYSE session each stored symbol traded, declared when it was delisted (or stopped
 * trading): a provider's answer for it ending there is complete, where an answer ending early is
 * otherwise taken for a body cut short (lib/ingest/provider-answer.ts). Declared in an import
 * request's `delisted` and recorded with its snapshot, so later imports take it too.
 */
export const delistingMapSchema = z.record(z.string(), z.string()).superRefine((map, ctx) => {
  for (const [symbol, date] of Object.entries(map)) {
    if (!isSymbol(symbol)) ctx.addIssue({ code: 'custom', path: [symbol], message: `${JSON.stringify(symbol)} is not a stored symbol (upper case, e.g. "HPQ")` });
    else if (!isIsoDate(date)) ctx.addIssue({ code: 'custom', path: [symbol], message: 'expected the last session it traded as YYYY-MM-DD' });
    else if (!isNyseTradingDay(date)) ctx.addIssue({ code: 'custom', path: [symbol], message: `${date} is not an NYSE session: declare the last session ${symbol} traded (the session before ${date} is ${previousNyseTradingDay(date)})` });
  }
});
export type DelistingMap = Readonly<Record<string, string>>;

/** A suffix written on a stored symbol: a dot and letters at its end (`BRK.B`, `7203.T`, `SAP.DE`). */
const LETTER_SUFFIX = /\.([A-Z]+)$/;
/** The market whose symbols are stored bare (the suffix Stooq's US series carry is dropped when stored). */
const HOME_MARKET = 'US';
/** One-letter US share classes (`BRK.B`, `BF.B`, `BRK.A`, `MOG.A`, `BRK.D`): US equities. */
export const US_SHARE_CLASSES: ReadonlySet<string> = new Set(['A', 'B', 'C', 'D', 'E']);
/**
 * Market suffixes vendors write on symbols of other exchanges, to the market (country) whose
 * session the bars close in: Yahoo's (`.T` Tokyo, `.L` London, `.DE` Xetra, `.PA` Paris, …) and
 * Stooq's (`.JP`, `.UK`, `.DE`, `.HK`, `.HU`). `.V` is not here: TSX Venture's suffix is also a
 * US share class (`MKC.V`), so such a symbol must be declared.
 */
export const MARKET_SUFFIXES: Readonly<Record<string, string>> = {
  T: 'JP', JP: 'JP',
  L: 'UK', IL: 'UK', UK: 'UK',
  F: 'DE', DE: 'DE', BE: 'DE', DU: 'DE', HM: 'DE', HA: 'DE', MU: 'DE', SG: 'DE',
  PA: 'FR', AS: 'NL', BR: 'BE', LS: 'PT', MI: 'IT', MC: 'ES', SW: 'CH', VI: 'AT', IR: 'IE', IC: 'IS',
  ST: 'SE', OL: 'NO', CO: 'DK', HE: 'FI', WA: 'PL', PR: 'CZ', BD: 'HU', HU: 'HU', AT: 'GR', IS: 'TR',
  TO: 'CA', CN: 'CA', NE: 'CA',
  AX: 'AU', NZ: 'NZ', HK: 'HK', SS: 'CN', SZ: 'CN', TW: 'TW', TWO: 'TW', KS: 'KR', KQ: 'KR',
  SI: 'SG', KL: 'MY', BK: 'TH', JK: 'ID', NS: 'IN', BO: 'IN',
  SA: 'BR', MX: 'MX', BA: 'AR', SN: 'CL', JO: 'ZA', TA: 'IL', SR: 'SA', QA: 'QA', CA: 'EG',
};

/**
 * Where a stored symbol's suffix says it trades: `home` (bare, a US share class `BRK.B`, `.US`),
 * `foreign` with its market (`7203.T` → JP, `SAP.DE` → DE), or `unknown` with the suffix
 * (`XYZ.Q`, `SHOP.V`): no rule may guess those.
 */
export function symbolMarket(symbol: string): { home: true } | { foreign: string } | { unknown: string } {
  if (symbol.includes('=')) return { home: true };
  const prefixed = symbol.startsWith('$') || symbol.startsWith('^');
  const suffix = LETTER_SUFFIX.exec(symbol)?.[1];
  // An index is named by its prefix ($SPX, ^GSPC); one that also names a known market ($DAX.DE)
  // closes in that market's session. Any other suffix on an index is left to its prefix.
  if (prefixed) return suffix !== undefined && MARKET_SUFFIXES[suffix] !== undefined ? { foreign: MARKET_SUFFIXES[suffix] } : { home: true };
  if (suffix === undefined || suffix === HOME_MARKET || symbol.length === suffix.length + 1) return { home: true };
  if (suffix.length === 1 && US_SHARE_CLASSES.has(suffix)) return { home: true };
  const market = MARKET_SUFFIXES[suffix];
  return market !== undefined ? { foreign: market } : { unknown: suffix };
}

/**
 * The market of another exchange a stored symbol names (`SAP.DE` → `DE`, `7203.T` and `7203.JP` →
 * `JP`), its suffix when unknown (a series declared foreign_equity), or undefined for a US symbol
 * (bare, a share class `BRK.B`, or `.US`).
 */
export function foreignMarketOf(symbol: string): string | undefined {
  const m = symbolMarket(symbol);
  return 'foreign' in m ? m.foreign : 'unknown' in m ? m.unknown : undefined;
}

/** Why symbols with a suffix no rule reads must be declared (the error instrumentKind and imports raise). */
export function undeclaredSuffixMessage(symbols: readonly string[], where: string): string {
  const shown = symbols.slice(0, 10).map((s) => `${s} (".${(symbolMarket(s) as { unknown: string }).unknown}")`).join(', ');
  return (
    `${symbols.length === 1 ? 'symbol' : `${symbols.length} symbols`} ${shown}${symbols.length > 10 ? ', …' : ''} end${symbols.length === 1 ? 's' : ''} in a suffix that is neither a US share class (.A to .E: BRK.B, BF.B) nor a known market's (7203.T, VOD.L, BMW.DE, 0700.HK, SAP.DE, 7203.JP, …), so whether the series is a US equity or another market's, closing hours before the NYSE, is not guessed; ` +
    `declare its kind in ${where} (e.g. {"${symbols[0]}": "foreign_equity"} for another market's series, {"${symbols[0]}": "equity"} for a US share class)`
  );
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
  const market = symbolMarket(symbol);
  if ('foreign' in market) return 'foreign_equity';
  if ('unknown' in market) throw new BadInputError(undeclaredSuffixMessage([symbol], '"instruments"'), 'INVALID_INPUT');
  return 'equity';
}

/** instrumentKind, or undefined for a symbol whose suffix no rule reads and nothing declares. */
export function knownInstrumentKind(symbol: string, overrides?: InstrumentMap): InstrumentKind | undefined {
  if (overrides?.[symbol] === undefined && 'unknown' in symbolMarket(symbol)) return undefined;
  return instrumentKind(symbol, overrides);
}

/** Throws (naming them) when symbols end in a suffix no rule reads and `overrides` does not declare them. */
export function assertMarketsKnown(symbols: Iterable<string>, overrides: InstrumentMap | undefined, where: string): void {
  const unknown = [...new Set(symbols)].filter((s) => knownInstrumentKind(s, overrides) === undefined).sort();
  if (unknown.length > 0) throw new BadInputError(undeclaredSuffixMessage(unknown, where), 'INVALID_INPUT');
}

/** Stocks only, unless `kinds` says otherwise: the rule for universes and cross-sections. */
/**
 * One line naming how many series of each kind a snapshot holds, listing the non-equities:
 * "1 equity; 2 index ($DJI, $SPX); 1 volatility_index ($VIX)".
 */
export function describeInstrumentKinds(symbols: readonly string[], overrides?: InstrumentMap, listAtMost = 10): string {
  const byKind = new Map<InstrumentKind | 'undeclared', string[]>();
  for (const symbol of [...symbols].sort()) {
    const kind = knownInstrumentKind(symbol, overrides) ?? 'undeclared';
    const list = byKind.get(kind);
    if (list) list.push(symbol);
    else byKind.set(kind, [symbol]);
  }
  return [...INSTRUMENT_KINDS, 'undeclared' as const].filter((k) => byKind.has(k))
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

/** Kinds whose bar of a date closes after the NYSE's 16:00, with when and what such a series is for. */
const LATE_CLOSES: Readonly<Partial<Record<InstrumentKind, { what: string; closes: string; use: string }>>> = {
  volatility_index: { what: 'a volatility index', closes: "at 16:15 New York, after the NYSE's 16:00", use: 'as a market input (the volatility_index feature reads its close of the trading day before)' },
  future: { what: 'a futures contract', closes: "after the NYSE's 16:00 (futures trade on, most until 17:00 New York)", use: 'in a universe of its own (universe ["future"])' },
  fx: { what: 'a currency pair', closes: "after the NYSE's 16:00 (currencies trade around the clock)", use: 'in a universe of its own (universe ["fx"])' },
};

/** Kinds whose bar of a date closes at another time than the NYSE's 16:00: none may share a universe with another kind. */
export const OTHER_CLOSE_KINDS: ReadonlySet<InstrumentKind> = new Set<InstrumentKind>(['foreign_equity', ...(Object.keys(LATE_CLOSES) as InstrumentKind[])]);

/**
 * Why a series may not be counted as `kind`, or undefined: a symbol that names another market
 * (`SAP.DE`, `7203.JP`, `$DAX.DE`) closes hours before the NYSE, and as a kind that shares a universe
 * with US stocks its row of day t would be joined by date with their closes of day t, after its own:
 * the look-ahead `foreign_equity` keeps out. Declaring it so by hand (a feature set's or an import's
 * `instruments`) would bring that look-ahead back.
 */
export function foreignKindProblem(symbol: string, kind: InstrumentKind): string | undefined {
  // Only a known market's suffix: a suffix no rule reads (XYZ.Q) is the owner's to declare.
  const where = symbolMarket(symbol);
  if (!('foreign' in where) || !NYSE_CLOSE_KINDS.has(kind)) return undefined;
  const market = where.foreign;
  return (
    `${symbol} names another market (${market}), whose bars of a date close hours before the NYSE's 16:00: as ${kind} it would be joined by date with US series ` +
    `and its row of each day would see their later closes in the market and rank columns (AUC 0.65 from advance/decline alone on 1-day labels); ` +
    `declare it foreign_equity and train it in a universe of its own (universe ["foreign_equity"]), or store a series that closes at the NYSE under its US symbol`
  );
}

/**
 * The other side of foreignKindProblem: a symbol whose name says its bar closes after the NYSE's
 * 16:00 (`VIX`, `^VIX`, `VXN`: volatility_index at 16:15; `ES=F` future, `EURUSD=X` fx), counted as
 * a kind that shares a universe with US stocks, would put that later print into the market and rank
 * columns of every US row of its date, read at the 16:00 decision.
 */
export function lateCloseKindProblem(symbol: string, kind: InstrumentKind): string | undefined {
  if (!NYSE_CLOSE_KINDS.has(kind)) return undefined;
  const named = knownInstrumentKind(symbol);
  const late = named === undefined ? undefined : LATE_CLOSES[named];
  if (named === undefined || late === undefined) return undefined;
  return (
    `${symbol} is by its name ${late.what} (${named}), whose bar of a date closes ${late.closes}: as ${kind} it would be joined by date with US series ` +
    `and count in their market and rank columns, so each US row of a day would see its close of that day, printed after the 16:00 decision; ` +
    `declare it ${named} and use it ${late.use}, or store a series that closes at the NYSE under a symbol of its own`
  );
}

/** Why `symbol` may not be counted as `kind` beside US stocks (its close is not the NYSE's 16:00), or undefined. */
export function closeKindProblem(symbol: string, kind: InstrumentKind): string | undefined {
  return foreignKindProblem(symbol, kind) ?? lateCloseKindProblem(symbol, kind);
}

/** closeKindProblem of every explicit kind of `map`, by symbol. */
export function closeKindProblems(map: InstrumentMap): Array<{ symbol: string; message: string }> {
  return Object.entries(map).flatMap(([symbol, kind]) => {
    const message = closeKindProblem(symbol, kind);
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
