/**
 * The one symbol rule. Every place a symbol enters the system (import requests, CLI flags, API
 * requests, experiment universes, feature-set parameters, symbols read from files) checks it here.
 *
 * A symbol is an optional `$` or `^` prefix (index and synthetic series, e.g. `$VIX`, `^GSPC`),
 * then an ASCII upper-case letter or digit, then letters, digits or `.` `-` `=` `_`
 * (`BRK.B`, `BF-B`, `ES=F`), at most 32 characters in all (bars.symbol is varchar(32)).
 * Whitespace, path separators, quotes, control characters and non-ASCII never match.
 *
 * Case: the store is case-sensitive and holds upper-case symbols only, because every reader
 * (CSV, Stooq, live bars) upper-cases what it reads. The canonical form checked by `isSymbol` is
 * therefore upper case and `aapl` is not a symbol. At input boundaries (`symbolSchema`,
 * `parseSymbol`, `canonicalSymbol` for the readers) surrounding whitespace is trimmed, the text is
 * checked in either case and only then upper-cased, so `aapl` typed by a user selects the stored
 * `AAPL` rather than nothing, while non-ASCII letters that upper-case to ASCII (`ı`, `ſ`) never match.
 *
 * Share classes: one security, one stored symbol. Vendors spell a one-letter class with a dot
 * (Kaggle `BRK.B`) or a dash (Yahoo `BRK-B`, Stooq `brk-b.us`); the same boundaries store the dot
 * form (`dotShareClass`), so a Yahoo file and a Stooq download of Berkshire B are one series, not
 * two. The dashed form still passes the symbol rule (`isSymbol`): series and instrument declarations
 * stored under it before stay valid and readable as stored.
 */
import { z } from 'zod';

export const MAX_SYMBOL_LENGTH = 32;

/** The canonical (stored) form. The length limit is MAX_SYMBOL_LENGTH, checked separately. */
export const SYMBOL_PATTERN = /^[$^]?[A-Z0-9][A-Z0-9.=_-]*$/;

/**
 * What a boundary accepts before upper-casing. Spelled out in both cases (not with the `i` flag)
 * so the JSON Schema pattern generated from `symbolSchema` means the same.
 */
export const SYMBOL_INPUT_PATTERN = /^[$^]?[A-Za-z0-9][A-Za-z0-9.=_-]*$/;

export const SYMBOL_RULE = `1-${MAX_SYMBOL_LENGTH} letters, digits or . - = _, optionally after $ or ^`;
export const SYMBOL_MESSAGE = `expected a symbol such as AAPL, BRK.B, BF-B, $VIX or ^GSPC (${SYMBOL_RULE})`;

/** A one-letter share class written with a dash, after a plain ticker (`BRK-B`, `BF-A`; not `$X-Y`, `BAC-PL`). */
const DASHED_SHARE_CLASS = /^([A-Z0-9]+)-([A-Z])$/;

/**
 * The stored spelling of a one-letter share class: `BRK-B` → `BRK.B` (upper-case input); anything
 * else unchanged. The dot is what the Kaggle files, Stooq's stored form and the store already use.
 */
export function dotShareClass(symbol: string): string {
  return symbol.replace(DASHED_SHARE_CLASS, '$1.$2');
}

/** A US ticker written with Stooq's (and EODHD's) market suffix: `AAPL.US`, `BRK-B.US`. */
const HOME_MARKET_SUFFIX = /^([A-Z0-9][A-Z0-9.=_-]*)\.US$/;

/**
 * The stored spelling of an upper-case symbol: the US market suffix dropped (`AAPL.US` → `AAPL`,
 * as the Stooq provider and file names `aapl.us.csv` store it; the store's symbols are US ones unless
 * they name another market, lib/market-data/instruments.ts) and a dashed share class dotted
 * (`BRK-B.US` → `BRK.B`). Kept, `AAPL.US` was a second series of Apple beside `AAPL`, an equity of the
 * same US universe. Other markets keep theirs (`SAP.DE`).
 */
export function storedSymbolOf(symbol: string): string {
  return dotShareClass(symbol.replace(HOME_MARKET_SUFFIX, '$1'));
}

/**
 * True for a symbol the store may hold (upper case, no surrounding whitespace). A dashed share class
 * (`BF-B`) is still one: new input is stored dotted, but series and declarations stored before keep
 * their spelling and must stay valid.
 */
export function isSymbol(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_SYMBOL_LENGTH && SYMBOL_PATTERN.test(value);
}

/**
 * The stored form of a symbol as read (a CSV cell, a file name, a live message): trimmed, checked
 * against the input pattern and only then upper-cased, the US market suffix dropped and a dashed
 * share class dotted (`BRK-B` → `BRK.B`, `AAPL.US` → `AAPL`: storedSymbolOf);
 * undefined when it breaks the rule. Checking first matters: `toUpperCase` maps some non-ASCII letters to ASCII (`ıbm` → `IBM`, `ſpy` → `SPY`,
 * `ﬀ` → `FF`), which would turn a name that never matches into someone else's symbol.
 */
export function canonicalSymbol(text: string): string | undefined {
  // Already upper case and trimmed (the usual case): only a dashed class to dot.
  if (text.length <= MAX_SYMBOL_LENGTH && SYMBOL_PATTERN.test(text)) return storedSymbolOf(text);
  const trimmed = text.trim();
  if (trimmed.length > MAX_SYMBOL_LENGTH || !SYMBOL_INPUT_PATTERN.test(trimmed)) return undefined;
  return storedSymbolOf(trimmed.toUpperCase());
}

/**
 * Text that is no symbol, for a message: ASCII letters upper-cased as a symbol would be, anything
 * else as written (so `ıbm` shows as `ıBM`, not as the `IBM` it is not).
 */
export function shownAsSymbol(text: string): string {
  return text.replace(/[a-z]+/g, (letters) => letters.toUpperCase());
}

/** A symbol at an input boundary: trimmed, checked, upper-cased to its stored form (share class dotted: `brk-b` → `BRK.B`; `aapl.us` → `AAPL`). */
export const symbolSchema = z
  .string()
  .trim()
  .max(MAX_SYMBOL_LENGTH, SYMBOL_MESSAGE)
  .regex(SYMBOL_INPUT_PATTERN, SYMBOL_MESSAGE)
  .toUpperCase()
  .overwrite(storedSymbolOf);

/** Parses one user-supplied symbol to its stored form; throws naming the offending text. */
export function parseSymbol(text: string): string {
  const r = symbolSchema.safeParse(text);
  if (!r.success) throw new Error(`${JSON.stringify(text)}: ${SYMBOL_MESSAGE}`);
  return r.data;
}

/** A comma-separated list (a CLI flag such as `--symbols '$VIX,AAPL'`), empty items ignored. */
export function parseSymbolList(text: string): string[] {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const bad = items.filter((s) => !symbolSchema.safeParse(s).success);
  if (bad.length > 0) throw new Error(`${bad.map((s) => JSON.stringify(s)).join(', ')}: ${SYMBOL_MESSAGE}`);
  return [...new Set(items.map(parseSymbol))];
}
