/**
 * Stooq's spelling of a symbol, both ways: one mapping for the provider (which asks Stooq for a
 * symbol and stores what it got) and for CSV files named as Stooq names them (`brk-b.us.csv`,
 * `sap.de.txt`), so a security gets one stored symbol whichever way its bars arrive.
 */
import { MARKET_SUFFIXES, US_SHARE_CLASSES } from './instruments';
import { dotShareClass } from './symbols';

/** A Stooq market suffix written on the symbol (`SAP.DE`, `7203.JP`): a dot and two letters or more. */
export const STOOQ_MARKET_SUFFIX = /\.[a-z]{2,}$/i;
/** A share-class suffix (`BRK.B`, `BF.A`): a dot and one letter, which Stooq writes with a dash (`brk-b.us`). */
const CLASS_SUFFIX = /\.([a-z])$/i;
/**
 * Yahoo's one-letter market suffixes of an exchange Stooq carries under its own two letters: London
 * `VOD.L` is Stooq's `vod.uk`, Tokyo `7203.T` its `7203.jp`. Read as a share class, they were asked
 * for as `vod-l.us`, a US ticker (another security, or none).
 */
const VENDOR_TO_STOOQ_MARKET: Readonly<Record<string, string>> = { L: 'uk', T: 'jp' };

/**
 * Why Stooq cannot be asked for `symbol`, or undefined: a one-letter suffix naming another market
 * (instruments.ts, MARKET_SUFFIXES) that Stooq does not carry under its own letters (`BMW.F`,
 * Frankfurt, where Stooq has Xetra's `bmw.de`, closing at another time). Asked for as a share class
 * it would fetch a US ticker's bars under that symbol.
 */
export function stooqTickerProblem(symbol: string): string | undefined {
  const suffix = CLASS_SUFFIX.exec(symbol)?.[1]?.toUpperCase();
  if (suffix === undefined || US_SHARE_CLASSES.has(suffix) || VENDOR_TO_STOOQ_MARKET[suffix] !== undefined) return undefined;
  const market = MARKET_SUFFIXES[suffix];
  if (market === undefined) return undefined;
  return `${symbol} names a market (".${suffix}", ${market}) that Stooq does not carry under that suffix, so it cannot be fetched from Stooq; ask for Stooq's own ticker with its market (e.g. ${symbol.slice(0, -2)}.${market}) or import the vendor's file`;
}

/**
 * How a symbol is asked for and stored, both ways:
 * - a bare ticker gets the market suffix: AAPL → aapl.us, stored as AAPL;
 * - a share class is written with a dash, as Stooq does: BRK.B → brk-b.us, stored as BRK.B
 *   (the store keeps the symbol rule's spelling, lib/market-data/symbols.ts);
 * - Yahoo's one-letter suffix of a market Stooq carries is asked for there: VOD.L → vod.uk, 7203.T →
 *   7203.jp, stored as asked (VOD.L); another market's one-letter suffix has no Stooq ticker
 *   (stooqTickerProblem);
 * - a symbol that names its Stooq market is Stooq's own ticker, asked for in that market, its dashed
 *   class read back as a dot. The market bare tickers are asked in (`marketSuffix`, `us` for files)
 *   is dropped: BRK.B.US and brk-b.us → brk-b.us, stored as BRK.B, and a bare BRK-B fetches the
 *   same brk-b.us: one security, one stored symbol, whichever spelling asked for it. Any other
 *   market is kept, because the same letters there are another security: SAP.DE → sap.de, stored
 *   as SAP.DE, never over a US series SAP (nor aaa.uk over AAA).
 * CSV files named after a Stooq ticker (`brk-b.us.csv`) get their symbol from `stored` too
 * (csv-reader.ts, symbolFromFileName).
 */
export function stooqTicker(symbol: string, marketSuffix: string): { ticker: string; stored: string } {
  const vendor = CLASS_SUFFIX.exec(symbol)?.[1]?.toUpperCase();
  const vendorMarket = vendor === undefined ? undefined : VENDOR_TO_STOOQ_MARKET[vendor];
  if (vendorMarket !== undefined) {
    // Stored as asked (VOD.L): a series of another market keeps its suffix, lib/market-data/instruments.ts.
    const base = symbol.slice(0, -2);
    return { ticker: `${base.toLowerCase()}.${vendorMarket}`, stored: `${dotShareClass(base.toUpperCase())}.${vendor}` };
  }
  const market = STOOQ_MARKET_SUFFIX.exec(symbol)?.[0];
  const base = market === undefined ? symbol : symbol.slice(0, -market.length);
  const ticker = `${base.toLowerCase().replace(CLASS_SUFFIX, '-$1')}${market === undefined ? `.${marketSuffix}` : market.toLowerCase()}`;
  // Stooq's dashed class (and Yahoo's) is stored dotted, as every other reader stores it (symbols.ts).
  const home = market === undefined || market.toLowerCase() === `.${marketSuffix.toLowerCase()}`;
  const stored = dotShareClass(base.toUpperCase()) + (home ? '' : market.toUpperCase());
  return { ticker, stored };
}
