/**
 * Stooq's spelling of a symbol, both ways: one mapping for the provider (which asks Stooq for a
 * symbol and stores what it got) and for CSV files named as Stooq names them (`brk-b.us.csv`,
 * `sap.de.txt`), so a security gets one stored symbol whichever way its bars arrive.
 */
import { dotShareClass } from './symbols';

/** A Stooq market suffix written on the symbol (`SAP.DE`, `7203.JP`): a dot and two letters or more. */
export const STOOQ_MARKET_SUFFIX = /\.[a-z]{2,}$/i;
/** A share-class suffix (`BRK.B`, `BF.A`): a dot and one letter, which Stooq writes with a dash (`brk-b.us`). */
const CLASS_SUFFIX = /\.([a-z])$/i;

/**
 * How a symbol is asked for and stored, both ways:
 * - a bare ticker gets the market suffix: AAPL → aapl.us, stored as AAPL;
 * - a share class is written with a dash, as Stooq does: BRK.B → brk-b.us, stored as BRK.B
 *   (the store keeps the symbol rule's spelling, lib/market-data/symbols.ts);
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
  const market = STOOQ_MARKET_SUFFIX.exec(symbol)?.[0];
  const base = market === undefined ? symbol : symbol.slice(0, -market.length);
  const ticker = `${base.toLowerCase().replace(CLASS_SUFFIX, '-$1')}${market === undefined ? `.${marketSuffix}` : market.toLowerCase()}`;
  // Stooq's dashed class (and Yahoo's) is stored dotted, as every other reader stores it (symbols.ts).
  const home = market === undefined || market.toLowerCase() === `.${marketSuffix.toLowerCase()}`;
  const stored = dotShareClass(base.toUpperCase()) + (home ? '' : market.toUpperCase());
  return { ticker, stored };
}
