import path from 'node:path';
import { isIsoDate, toEpochDay } from '../calendar/dates';
import { isNyseTradingDay, nextNyseTradingDay, NYSE_REGULAR_CLOSE, nyseCloseTime } from '../calendar/nyse';
import { BadInputError } from '../errors';
import { excerpt } from '../quality/excerpt';
import { interpolatedQuantileOfSorted, sortedAscending } from '../stats/quantiles';
import { FILE_LEVEL_RULES, issue, type QualityIssue, type QualityRuleId } from '../quality/rules-catalog';
import { limitProblem, MAX_PRICE, MAX_VOLUME, MIN_PRICE, type Bar } from './bar';
import { coarserThanWritten, exponentForm, imprecisePrice, impreciseVolume, plainPlace, type ExponentPrice } from './exponent-notation';
import {
  closestFormat,
  detectFormat,
  foreignSeparator,
  KNOWN_FORMATS,
  normaliseHeader,
  resolveColumns,
  type ColumnMapping,
  type ResolvedColumns,
  type CsvFormatOption,
  type KnownFormat,
} from './csv-formats';
import { ALL_SPLITS, isSmallSplit, nearestSplit } from '../quality/splits';
import { stooqTicker } from './stooq-symbols';
import { canonicalSymbol, MAX_SYMBOL_LENGTH, shownAsSymbol, SYMBOL_INPUT_PATTERN, SYMBOL_MESSAGE } from './symbols';
import { plural } from '../plural';

/** A parsed row that passed field-level checks, with where it came from (rules run on these next). */
export interface CandidateBar extends Bar {
  source: string;
  line: number;
  raw: string;
}

export interface CsvReadOptions {
  /** Shown in quarantine and reports: a file path or a URL. */
  source: string;
  format?: CsvFormatOption;
  /** An explicit mapping wins over `format`. */
  mapping?: ColumnMapping;
  /** Symbol when the file has no symbol column (default: the file name without extension). */
  symbol?: string;
  /** Scale OHLC by Adj Close / Close and volume by its inverse (Yahoo exports) so splits and dividends do not look like moves. */
  adjust?: boolean;
  /**
   * The order of the file's slash dates, declared by whoever knows the export (a row that can only
   * be read the other way refuses the file). Without it the rows decide, then the NYSE calendar.
   */
  dateOrder?: SlashDateOrder;
}

export interface CsvReadResult {
  format: KnownFormat | 'mapped' | 'unknown';
  rowsRead: number;
  bars: CandidateBar[];
  issues: QualityIssue[];
  /** Set when the text cannot be read as a price table at all: why, for a person. */
  unreadable?: string;
  /**
   * Present when the file has slash dates: the order they were read in, whether it was assumed
   * (M/D/YYYY: no row could only be read one way) and the line of a row that showed it otherwise.
   */
  slashDates?: { order: SlashDateOrder; assumed: boolean; line: number | null; byCalendar?: { asMdy: number; asDmy: number }; declared?: true };
  /**
   * Present when the symbol column names one symbol on every row and the file's name gives a symbol
   * too: both, and whether they are one security. The column wins; the import judges a disagreement
   * (symbol_not_file_name), since only it knows whether the name means anything (`input.csv` does not).
   */
  named?: { name: string; symbol: string; agrees: boolean };
  /**
   * The last bar when the file ends inside its row (no line break after it) and the reader could not
   * tell it was cut: its last field may still be a prefix of the value written (21172488 cut to
   * 2117248). The import never lets such a row revise a stored bar (lib/ingest/import-bars.ts).
   */
  unterminated?: CandidateBar;
  /**
   * Present when the file's split column (SPLIT_COLUMN_NAMES, or a mapping's splitRatio) states a
   * split on some of its rows, read with `adjust` or not: each such row's symbol, date and shares
   * multiplier (0.1 for a 1:10 reverse split). A step of every price by that power of ten on that
   * day is the split, not another price unit (price_unit_change).
   */
  declaredSplits?: Array<{ symbol: string; date: string; ratio: number }>;
}

/**
 * The text cannot be read as a price table (empty, not UTF-8, no usable header, no symbol).
 * Retrying cannot help, so it is bad input; the message names the source and the cause.
 */
export class UnreadableSourceError extends BadInputError {
  constructor(
    readonly source: string,
    readonly reason: string,
    readonly rule: QualityRuleId,
  ) {
    super(`Cannot read ${excerpt(source, 300)} as a price table: ${reason}`, 'UNREADABLE_SOURCE');
  }
}

// Price and volume limits (MAX_PRICE, MIN_PRICE, MAX_VOLUME): lib/market-data/bar.ts.
const MISSING = new Set(['', 'null', 'nan', 'na', 'n/a', '-', 'none']);

/**
 * A daily bar row is well under 200 characters; these limits are generous for extra columns and
 * keep one runaway line (a file without line breaks, a stray quote) from becoming one huge row,
 * one huge message and one huge quarantine insert.
 */
export const MAX_LINE_CHARS = 10_000;
export const MAX_FIELD_CHARS = 1_000;
/** How much of an over-long line a finding keeps (the quarantine stores less still). */
const LONG_LINE_KEEP = 1_000;

const count = (n: number): string => n.toLocaleString('en-US');

/** Splits one CSV line, honouring double-quoted fields with "" escapes. */
export function splitCsvLine(line: string): string[] {
  if (!line.includes('"')) return line.split(',');
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(field);
      field = '';
    } else field += ch;
  }
  out.push(field);
  return out;
}

export type RecordProblem = { rule: 'line_too_long' | 'field_too_long' | 'bad_quoting'; message: string };

/**
 * Calls `visit(fields, raw, line, problem)` for each non-blank record of `text` (line breaks
 * already normalised to \n), following RFC 4180: a field that starts with `"` may hold commas,
 * `""` and line breaks; a `"` inside an unquoted field is an ordinary character. `line` is the
 * 1-based physical line the record starts on and `raw` its text. A record longer than
 * MAX_LINE_CHARS, a field longer than MAX_FIELD_CHARS, a quote never closed or text after a
 * closing quote (`"199.31"9`; spaces are allowed) comes with a `problem` and no fields; an unclosed
 * quote rejects only its own line, reading resumes on the next; text after a closing quote rejects
 * the whole record, read to its end. `visit` returning false stops the walk.
 */
export function forEachCsvRecord(text: string, visit: (fields: string[], raw: string, line: number, problem?: RecordProblem) => boolean | void): void {
  const n = text.length;
  let pos = 0;
  let line = 1;
  while (pos < n) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = n;
    const at = line;
    const length = end - pos;
    if (length > MAX_LINE_CHARS) {
      const problem: RecordProblem = { rule: 'line_too_long', message: `line is ${count(length)} characters long, the limit is ${count(MAX_LINE_CHARS)}` };
      const kept = text.slice(pos, pos + LONG_LINE_KEEP);
      pos = end + 1;
      line++;
      if (visit([], kept, at, problem) === false) return;
      continue;
    }
    const segment = text.slice(pos, end);
    if (segment.indexOf('"') < 0) {
      pos = end + 1;
      line++;
      if (segment.trim() === '') continue;
      const fields = segment.split(',');
      const problem = length > MAX_FIELD_CHARS ? fieldTooLong(fields) : undefined;
      if (visit(problem ? [] : fields, segment, at, problem) === false) return;
      continue;
    }
    const quoted = parseQuotedRecord(text, pos);
    if (!quoted.ok) {
      pos = end + 1;
      line++;
      const problem: RecordProblem = {
        rule: 'bad_quoting',
        message: `a quoted field opened on this line is not closed ${quoted.atEnd ? 'before the end of the file' : `within ${count(MAX_LINE_CHARS)} characters`}`,
      };
      if (visit([], segment, at, problem) === false) return;
      continue;
    }
    const raw = text.slice(pos, quoted.end);
    pos = quoted.end + 1;
    line += 1 + quoted.newlines;
    const problem: RecordProblem | undefined = quoted.trailing
      ? { rule: 'bad_quoting', message: `field ${quoted.trailing.field} has text after its closing quote (${excerpt(quoted.trailing.text, 40)}); quote the whole field` }
      : raw.length > MAX_FIELD_CHARS
        ? fieldTooLong(quoted.fields)
        : undefined;
    if (visit(problem ? [] : quoted.fields, raw, at, problem) === false) return;
  }
}

/**
 * Header names (as normaliseHeader gives them) of a column that names each row's symbol: Symbol,
 * Ticker, Name (Kaggle), Code (EODHD), Security, Instrument, RIC (Refinitiv), Sym, Stock. A format
 * that takes the symbol from the file name refuses a file with one (ignoredColumnProblem).
 */
const SYMBOL_COLUMN_NAMES = new Set(['symbol', 'ticker', 'name', 'code', 'security', 'instrument', 'ric', 'sym', 'stock']);

/** Distinct values a watched column may show before it is taken for something other than symbols. */
const MAX_WATCHED_VALUES = 50;

/** An unmapped column of a file whose symbol comes from its name: its symbol-like values, by first line and rows. */
interface WatchedColumn {
  index: number;
  values: Map<string, { line: number; rows: number }>;
  /** Rows with a non-empty cell. */
  filled: number;
  /** Set once a cell is no symbol (a number, free text) or too many values were seen. */
  dead: boolean;
}

/** A cell that could be a symbol: the symbol rule's text with at least one letter (so no number is one). */
function looksLikeSymbol(cell: string): boolean {
  return cell.length <= MAX_SYMBOL_LENGTH && SYMBOL_INPUT_PATTERN.test(cell) && /[A-Za-z]/.test(cell);
}

function watchRow(watch: readonly WatchedColumn[], fields: readonly string[], line: number): void {
  for (const w of watch) {
    if (w.dead) continue;
    const cell = (fields[w.index] ?? '').trim();
    if (cell === '') continue;
    if (!looksLikeSymbol(cell)) {
      w.dead = true;
      continue;
    }
    w.filled++;
    const key = cell.toUpperCase();
    const seen = w.values.get(key);
    if (seen) seen.rows++;
    else if (w.values.size >= MAX_WATCHED_VALUES) w.dead = true;
    else w.values.set(key, { line, rows: 1 });
  }
}

/**
 * A column the reader does not map that varies between rows as a symbol column does, in a file
 * whose symbol is taken from its name: every cell (of nine rows in ten or more) is symbol-like text,
 * with two to MAX_WATCHED_VALUES distinct values, each on two rows or more and on five rows on
 * average (runs of a few symbols, as a multi-symbol export has). Its rows would be stored as one
 * series under the file name's symbol, splicing the stocks together: refused, naming the column,
 * its values and the way out.
 */
function symbolColumnProblem(watch: readonly WatchedColumn[], rows: number, header: readonly string[], symbol: string): { message: string; line: number } | undefined {
  for (const w of watch) {
    const n = w.values.size;
    if (w.dead || n < 2 || w.filled < 0.9 * rows || w.filled < 5 * n) continue;
    const values = [...w.values];
    if (values.some(([, v]) => v.rows < 2)) continue;
    const shown = values
      .slice(0, 3)
      .map(([value, v]) => `"${excerpt(value, 40)}" on ${count(v.rows)} rows from line ${v.line}`)
      .join(', ');
    const name = excerpt(header[w.index] ?? '', 40);
    const more = n > 3 ? ` and ${n - 3} more` : '';
    return {
      line: values[1][1].line,
      message: `column ${w.index + 1} "${name}" changes between rows like a symbol column (${shown}${more}), but the symbol is taken from the file name${symbol !== '' ? ` (${excerpt(symbol, 40)})` : ''}, so rows of different securities would be stored as one series; if the column names each row's symbol, give a column mapping with symbol "${name}"; if it does not, remove the column`,
    };
  }
  return undefined;
}

/**
 * Whether a record is a header rather than a row: three or more of its cells are column names of the
 * file's header or its mapping (compared as headers are). A row holds dates and numbers; a symbol
 * cell that happens to be a column name (LOW, OPEN) is one cell.
 */
function isHeaderLike(fields: readonly string[], headerNames: ReadonlySet<string>): boolean {
  let named = 0;
  for (const f of fields) {
    const name = normaliseHeader(canonicalColumnName(f));
    if (name !== '' && headerNames.has(name) && ++named >= 3) return true;
  }
  return false;
}

/**
 * How a header found among the rows differs from the file's header, for the fields the mapping
 * reads (`close is column 2 there, column 5 in the header`, `volume is missing`, `8 columns, the
 * header has 6`), or undefined when it lays them out the same: every field in the same column and
 * as many columns.
 */
function repeatedHeaderLayout(fields: readonly string[], mapping: ColumnMapping, col: Record<keyof ColumnMapping, number | undefined>, width: number): string | undefined {
  const names = fields.map((f) => canonicalColumnName(f.trim()));
  const resolved = resolveColumns(names, mapping);
  const differences: string[] = [];
  if (!resolved.ok) {
    if (resolved.missing.length > 0) differences.push(`it lacks ${resolved.missing.join(', ')}`);
    if (resolved.ambiguous) differences.push(`it has more than one column for ${resolved.ambiguous.join(', ')}`);
  } else {
    for (const field of Object.keys(col) as Array<keyof ColumnMapping>) {
      const here = col[field];
      const there = resolved.index[field];
      if (here !== there && here !== undefined && there !== undefined) differences.push(`${field} is column ${there + 1} there, column ${here + 1} in the header`);
    }
  }
  if (differences.length === 0 && fields.length !== width) differences.push(`${fields.length} columns, the header has ${width}`);
  return differences.length === 0 ? undefined : differences.join('; ');
}

/** The name every adjusted-close spelling is read as (the Yahoo format's). */
const ADJ_CLOSE = 'Adj Close';
/** The spellings of the adjusted-close column the reader knows, for messages. */
const ADJ_CLOSE_SPELLINGS = 'Adj Close, Adj. Close, Adjusted Close, Adjusted_close, AdjClose';

/**
 * Whether a header name is an adjusted close, however the vendor spells it: `Adj Close` (Yahoo),
 * `Adjusted_close` (EODHD), `Adj. Close` (Quandl WIKI), `Adjusted Close`, `adj_close`, `AdjClose`,
 * `Adj Close**` (Yahoo's web table): case, spaces, underscores, dots, dashes and asterisks ignored.
 */
export function isAdjustedCloseName(name: string): boolean {
  return /^adj(usted)?close$/.test(name.trim().toLowerCase().replace(/[\s_.*-]+/g, ''));
}

/** A header or mapping name as the formats and mappings are matched against it: any adjusted-close spelling reads as `Adj Close`. */
function canonicalColumnName(name: string): string {
  return isAdjustedCloseName(name) ? ADJ_CLOSE : name;
}

/** `mapping` with its adjusted-close spellings read as `Adj Close`, so it matches the canonical header. */
function canonicalMapping(mapping: ColumnMapping): ColumnMapping {
  return Object.fromEntries(Object.entries(mapping).map(([field, name]) => [field, name === undefined ? name : canonicalColumnName(name)])) as ColumnMapping;
}

/** A message about the canonical header, with every `N "Adj Close"` it names shown as column N is written. */
function asWritten(message: string, header: readonly string[]): string {
  return message.replace(/(\d+) "Adj Close"/g, (whole, n: string) => (header[Number(n) - 1] !== undefined ? `${n} "${excerpt(header[Number(n) - 1], 40)}"` : whole));
}

/** `"Date", "Open", …`: the header's columns as written, at most 20 of them. */
function listHeader(header: readonly string[]): string {
  const shown = header.slice(0, 20).map((h) => `"${excerpt(h, 40)}"`).join(', ');
  return header.length > 20 ? `${shown} and ${header.length - 20} more` : shown;
}

/**
 * A column the chosen format would ignore although it says what the rows are: a Symbol or Ticker
 * column where the format takes the symbol from the file name (every row would be stored under the
 * name, whatever the column says), or an adjusted-close column with `adjust` asked where the format
 * does not read it (the prices would be stored unadjusted). And `adjust` asked of a file with no
 * adjusted-close column at all: nothing to adjust by, so the prices would be stored unadjusted as
 * well. Either way the file is refused, naming the column (or the columns it has) and the way out.
 * A second symbol-like column beside the one a format (not a mapping) reads is refused too: a vendor
 * export with `Name` (the company) and `Ticker` was read by the sp500 format, and its company names
 * (INTEL, CISCO) were stored as symbols; which column holds the ticker only a mapping can say.
 */
function ignoredColumnProblem(header: readonly string[], col: Extract<ResolvedColumns, { ok: true }>["index"], format: string, adjust: boolean): string | undefined {
  if (col.symbol === undefined) {
    const at = header.findIndex((h) => SYMBOL_COLUMN_NAMES.has(normaliseHeader(h)));
    if (at >= 0) return `column ${at + 1} "${excerpt(header[at], 40)}" names each row's symbol, but the ${format} format takes the symbol from the file name and would ignore it; give a column mapping with symbol "${excerpt(header[at], 40)}" (or name the column "Name", the sp500 format), or remove the column if every row is the file's symbol`;
  } else if (format !== 'mapped') {
    const read = col.symbol;
    const at = header.findIndex((h, i) => i !== read && SYMBOL_COLUMN_NAMES.has(normaliseHeader(h)));
    if (at >= 0) {
      const [mine, other] = [`column ${read + 1} "${excerpt(header[read], 40)}"`, `column ${at + 1} "${excerpt(header[at], 40)}"`];
      return `${mine} and ${other} both look like a column naming each row's symbol (one may be the company's name), and the ${format} format would read ${mine} as the symbol and ignore ${other}; give a column mapping with symbol set to the column that holds the tickers`;
    }
  }
  if (adjust && col.adjClose === undefined) {
    const at = header.findIndex((h) => isAdjustedCloseName(h));
    if (at >= 0) return `adjust was asked and column ${at + 1} "${excerpt(header[at], 40)}" holds adjusted closes, but the ${format} format does not read it, so the prices would be stored unadjusted; give a column mapping with adjClose`;
    return `adjust was asked, but the header has no adjusted-close column (${ADJ_CLOSE_SPELLINGS}), so the prices would be stored unadjusted; its columns are ${listHeader(header)}. Import it without adjust, or give a column mapping with adjClose`;
  }
  return undefined;
}

function lineBreaksIn(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

function fieldTooLong(fields: readonly string[]): RecordProblem | undefined {
  const at = fields.findIndex((f) => f.length > MAX_FIELD_CHARS);
  if (at < 0) return undefined;
  return { rule: 'field_too_long', message: `field ${at + 1} is ${count(fields[at].length)} characters long, the limit is ${count(MAX_FIELD_CHARS)}` };
}

/** `trailing`: the first field with text after its closing quote (1-based) and that field as written. */
type QuotedRecord = { ok: true; fields: string[]; end: number; newlines: number; trailing?: { field: number; text: string } } | { ok: false; atEnd: boolean };

/** One record that holds a `"` somewhere, from `start`; never reads past MAX_LINE_CHARS of it. */
function parseQuotedRecord(text: string, start: number): QuotedRecord {
  const n = text.length;
  const limit = Math.min(n, start + MAX_LINE_CHARS + 1);
  const fields: string[] = [];
  let newlines = 0;
  let trailing: { field: number; text: string } | undefined;
  let i = start;
  for (;;) {
    let j = i;
    while (j < limit && text.charCodeAt(j) === 32) j++;
    let field = '';
    let e: number;
    if (j < limit && text.charCodeAt(j) === 34) {
      let k = j + 1;
      for (;;) {
        const q = text.indexOf('"', k);
        if (q < 0 || q >= limit) return { ok: false, atEnd: limit === n };
        field += text.slice(k, q);
        if (text.charCodeAt(q + 1) === 34) {
          field += '"';
          k = q + 2;
        } else {
          k = q + 1;
          break;
        }
      }
      for (let nl = text.indexOf('\n', j); nl >= 0 && nl < k; nl = text.indexOf('\n', nl + 1)) newlines++;
      // Spaces after the closing quote are ignored, as before the opening one. Other text between
      // the closing quote and the separator (`"199.31"9`) is not RFC 4180 and no field can be read
      // from it with confidence: the record is found to the end and rejected (bad_quoting).
      e = k;
      while (e < limit && text.charCodeAt(e) === 32) e++;
      if (e < limit && text.charCodeAt(e) !== 44 && text.charCodeAt(e) !== 10) {
        while (e < limit && text.charCodeAt(e) !== 44 && text.charCodeAt(e) !== 10) e++;
        trailing ??= { field: fields.length + 1, text: text.slice(j, e) };
      }
    } else {
      e = i;
      while (e < limit && text.charCodeAt(e) !== 44 && text.charCodeAt(e) !== 10) e++;
      field = text.slice(i, e);
    }
    if (e >= limit && limit < n) return { ok: false, atEnd: false };
    fields.push(field);
    if (e >= n || text.charCodeAt(e) === 10) return trailing ? { ok: true, fields, end: e, newlines, trailing } : { ok: true, fields, end: e, newlines };
    i = e + 1;
  }
}

/** Which part of a slash date (`3/4/2017`) is the month: M/D/YYYY (US, the default) or D/M/YYYY (European). */
export type SlashDateOrder = 'M/D/YYYY' | 'D/M/YYYY';

const SLASH_DATE = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/;

/**
 * Accepts YYYY-MM-DD, YYYYMMDD and slash dates (M/D/YYYY, or D/M/YYYY with `order`); returns ISO or
 * undefined. YYYY-MM-DD may carry a time of day (`2019-01-02 16:00:00`, `2019-01-02T00:00:00Z`:
 * HH:MM[:SS[.fraction]], after T or a space), as some exports write daily bars; it must be a real
 * time (00:00 to 23:59:59) and is then ignored: the bar is dated by the calendar date as written,
 * never shifted by the time. A UTC time (`Z`) is read only at midnight (`T00:00Z`, `T00:00:00Z`,
 * `T00:00:00.000Z`: the date's label, as exports of daily bars write it); any other (`T04:00:00Z`,
 * `T21:00:00Z`) is refused as a UTC offset is (readBarCsv: utcStampProblem), since which New York
 * trading day it names depends on what the vendor meant (`2014-04-22T04:00:00Z` is New York's
 * midnight after the session of 2014-04-21). Which order a file's slash dates are in is decided once
 * per file (readBarCsv), never row by row.
 */
export function parseDate(text: string, order: SlashDateOrder = 'M/D/YYYY'): string | undefined {
  const t = text.trim();
  let iso: string | undefined;
  let m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z?))?$/.exec(t);
  if (m) {
    if (m[4] !== undefined && (Number(m[4]) > 23 || Number(m[5]) > 59 || (m[6] !== undefined && Number(m[6]) > 59))) return undefined;
    if (m[8] === 'Z' && !isMidnight(m[4], m[5], m[6], m[7])) return undefined;
    iso = `${m[1]}-${m[2]}-${m[3]}`;
  } else if ((m = /^(\d{4})(\d{2})(\d{2})$/.exec(t))) iso = `${m[1]}-${m[2]}-${m[3]}`;
  else if ((m = SLASH_DATE.exec(t))) {
    const [month, day] = order === 'D/M/YYYY' ? [m[2], m[1]] : [m[1], m[2]];
    iso = `${m[3]}-${month.padStart(2, '0')}-${day.padStart(2, '0')}`;
  }
  return iso !== undefined && isIsoDate(iso) ? iso : undefined;
}

/** Whether HH, MM, SS and a fraction of a second (each as matched, or undefined) are 00:00:00.000. */
function isMidnight(hh: string, mm: string, ss: string | undefined, fraction: string | undefined): boolean {
  return Number(hh) === 0 && Number(mm) === 0 && Number(ss ?? 0) === 0 && Number(fraction ?? 0) === 0;
}

/**
 * Why a date (`2014-04-21T04:00:00Z`) or a Time cell (`21:00:00Z`) with a real UTC time other than
 * midnight is not read, or undefined when it is none. Only UTC midnight is read as the date's label.
 */
export function utcStampProblem(text: string, what: 'date' | 'time'): string | undefined {
  const m = (what === 'date' ? /^\d{4}-\d{2}-\d{2}[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?Z$/ : /^(\d{1,2}):?(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*Z$/).exec(text.trim());
  if (!m || Number(m[1]) > 23 || Number(m[2]) > 59 || (m[3] !== undefined && Number(m[3]) > 59) || isMidnight(m[1], m[2], m[3], m[4])) return undefined;
  return `${what} "${excerpt(text.trim(), 40)}" is a UTC time (Z), which is not read, as a UTC offset is not: the New York trading day a daily bar stamped so belongs to depends on what the vendor meant (04:00Z or 05:00Z is New York's midnight, which some vendors write after the session, on the next day's date; 21:00Z is the close); only UTC midnight (00:00Z) is read as the date's label. Write the exchange-local date`;
}

/** Header names (normaliseHeader) of a column holding each bar's time of day, read as a time in the date would be. */
const TIME_COLUMN_NAMES: ReadonlySet<string> = new Set(['time', 'timeofday', 'bartime', 'closetime']);
/** A time of day in a column of its own: `16:00`, `9:45:30`, `00:00:00Z` (UTC midnight only: utcStampProblem), `4:00 PM`, `1600`. */
const TIME_OF_DAY = /^(\d{1,2})(?::?(\d{2}))(?::(\d{2})(?:\.\d{1,9})?)?\s*(?:(Z)|([AaPp])\.?[Mm]\.?)?$/;

/** `timeText` as STAMPED reads a time (`HH:MM[:SS][Z]`, 24-hour), or undefined when it is no time of day. */
function timeOfDay(timeText: string): string | undefined {
  const m = TIME_OF_DAY.exec(timeText);
  if (!m) return undefined;
  let hour = Number(m[1]);
  const minute = Number(m[2]);
  // HHMM without a colon needs all four digits (`930` is no time).
  if (!timeText.includes(':') && !/^\d{4}/.test(timeText)) return undefined;
  if (m[5] !== undefined) {
    if (hour < 1 || hour > 12) return undefined;
    hour = (hour % 12) + (m[5].toLowerCase() === 'p' ? 12 : 0);
  }
  if (hour > 23 || minute > 59 || (m[3] !== undefined && Number(m[3]) > 59)) return undefined;
  if (m[4] === 'Z' && (hour !== 0 || minute !== 0 || Number(m[3] ?? 0) !== 0)) return undefined;
  return `${String(hour).padStart(2, '0')}:${m[2]}${m[3] !== undefined ? `:${m[3]}` : ''}${m[4] ?? ''}`;
}
const STAMPED = /^\d{4}-\d{2}-\d{2}[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z?)$/;
/** The NYSE's regular open, minutes after midnight New York. */
const NYSE_OPEN_MINUTES = 9 * 60 + 30;

/**
 * Why a date stamped with a time of day (`2017-01-03 11:30:00`) is a bar taken during its own
 * session or before it opened, or undefined. The time is New York's (a UTC time, `Z`, is read only
 * at midnight, the date's label: parseDate, utcStampProblem); strictly after the 09:30 open and before that day's close (16:00, or an early close)
 * it is inside the session, so the bar's close is a mid-session price and its volume part of the
 * day's: unfinished, whenever the file is imported (`session_not_closed` judges by the import's
 * clock and cannot see a file first read the next day). Strictly after midnight and before the
 * open (`2018-02-01 08:00:00`) none of the session had traded: the bar is an earlier session's
 * stamped the next morning, or a pre-market one, never the date's. A time at midnight, the open,
 * the close or after the close (the usual stamps of daily bars) is the date's label; so is UTC
 * midnight (the evening before in New York).
 */
export function midSessionStamp(text: string, date: string): string | undefined {
  const m = STAMPED.exec(text.trim());
  if (!m) return undefined;
  const seconds = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3] ?? 0) + Number(`0.${m[4] ?? '0'}`);
  // UTC midnight (no other UTC time is read) is the evening before in New York: not inside the date's session.
  if (m[5] === 'Z') return undefined;
  const minutes = seconds / 60;
  const close = nyseCloseTime(date);
  if (close === undefined) return undefined;
  const closeMinutes = Number(close.slice(0, 2)) * 60 + Number(close.slice(3, 5));
  if (minutes === 0 || minutes === NYSE_OPEN_MINUTES || minutes >= closeMinutes) return undefined;
  const at = `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(Math.floor(minutes % 60)).padStart(2, '0')}`;
  if (minutes < NYSE_OPEN_MINUTES) {
    return `date "${excerpt(text.trim(), 40)}" is stamped ${at} New York time, before the 09:30 open of the ${date} session (09:30 to ${close}): none of that session had traded, so the bar is an earlier session's (stamped the next morning) or a pre-market one, not the ${date} bar; export daily bars stamped at midnight, at the close or after it`;
  }
  return `date "${excerpt(text.trim(), 40)}" is stamped ${at} New York time, inside the ${date} session (09:30 to ${close}): the bar was taken before the close, so its close is a mid-session price and its volume part of the day's; export daily bars after the close`;
}

/** The order a slash date can only be read in (`13/1/2017`: D/M/YYYY), or undefined (valid in both, in neither, or no slash date). */
export function slashDateEvidence(text: string): SlashDateOrder | undefined {
  if (!SLASH_DATE.test(text.trim())) return undefined;
  const mdy = parseDate(text, 'M/D/YYYY') !== undefined;
  const dmy = parseDate(text, 'D/M/YYYY') !== undefined;
  return mdy === dmy ? undefined : mdy ? 'M/D/YYYY' : 'D/M/YYYY';
}

/** A row whose slash date can be read in one order only: where it is, and the date as written. */
interface DateOrderWitness {
  line: number;
  raw: string;
  date: string;
}

/**
 * A file's slash-date order, decided once for the whole file: D/M/YYYY when some row can only be
 * read so (its first part is above 12), M/D/YYYY otherwise (assumed when no row tells, all parts
 * being 12 or less). `ambiguous` when the file has rows of both kinds: which part is the day is
 * then unknown for every row, and the file is refused.
 */
type DateOrderVerdict =
  | { order: SlashDateOrder; assumed: boolean; witness?: DateOrderWitness }
  | { ambiguous: { dmy: DateOrderWitness; mdy: DateOrderWitness } };

function dateOrderVerdict(dmy: DateOrderWitness | undefined, mdy: DateOrderWitness | undefined): DateOrderVerdict {
  if (dmy && mdy) return { ambiguous: { dmy, mdy } };
  if (dmy) return { order: 'D/M/YYYY', assumed: false, witness: dmy };
  if (mdy) return { order: 'M/D/YYYY', assumed: false, witness: mdy };
  return { order: 'M/D/YYYY', assumed: true };
}

/** Calendar days within which a daily row's date follows the row before it (a long weekend and a missing bar or two). */
const MIXED_ORDER_REACH_DAYS = 7;
/** Rows read against the file's order that make it a file of two orders (one alone can be a coincidence). */
const MIXED_ORDER_MIN_ROWS = 2;

/**
 * A file whose slash dates are in two orders (`12/30/2016` history with `03/01/2017` meaning 3
 * January appended): one row that can only be one order decides the whole file, and the other
 * order's rows whose parts are both 12 or less are read as dates months away, in order, on
 * trading days as often as not. Those rows read the other way fall right after the row before them
 * while read the file's way they do not: MIXED_ORDER_MIN_ROWS such rows, among as many that follow
 * the row before them read the file's way, refuse the file as
 * ambiguous_date_order, naming the first. Walked through the file both ways (ascending or
 * descending, other-order rows first or last), each row then continuing from the reading that fitted.
 */
function mixedDateOrder(rows: readonly DateOrderWitness[], order: SlashDateOrder, source: string, read: CsvReadResult): CsvReadResult | undefined {
  const otherOrder: SlashDateOrder = order === 'M/D/YYYY' ? 'D/M/YYYY' : 'M/D/YYYY';
  const near = (a: string, b: string) => {
    const days = Math.abs(toEpochDay(a) - toEpochDay(b));
    return days >= 1 && days <= MIXED_ORDER_REACH_DAYS;
  };
  const walk = (sequence: readonly DateOrderWitness[]) => {
    let previous: string | undefined;
    let against = 0;
    let following = 0;
    let first: { row: DateOrderWitness; read: string; meant: string } | undefined;
    for (const row of sequence) {
      const asOrder = parseDate(row.date, order);
      const asOther = parseDate(row.date, otherOrder);
      if (previous !== undefined && asOrder !== undefined && near(previous, asOrder)) following++;
      if (previous !== undefined && asOrder !== undefined && asOther !== undefined && asOther !== asOrder && !near(previous, asOrder) && near(previous, asOther)) {
        against++;
        if (first === undefined || row.line < first.row.line) first = { row, read: asOrder, meant: asOther };
        previous = asOther;
        continue;
      }
      if (asOrder !== undefined) previous = asOrder;
    }
    return { against, following, first };
  };
  // Both ways through the file: rows of the other order at its start follow nothing before them.
  const forward = walk(rows);
  const backward = walk([...rows].reverse());
  const { against, following, first } = backward.against > forward.against ? backward : forward;
  // Rows of both orders: a file read wholly the other way (a declared order) is not mixed.
  if (against < MIXED_ORDER_MIN_ROWS || following < MIXED_ORDER_MIN_ROWS || !first) return undefined;
  const message = `its slash dates are in two orders: the file reads as ${order}, but ${against} rows read so fall months from the row before them and read as ${otherOrder} right after it (the first, line ${first.row.line} "${excerpt(first.row.date, 40)}": ${first.read} as ${order}, ${first.meant} as ${otherOrder}), so which part of those rows' dates is the day is unknown; export the dates as YYYY-MM-DD`;
  return { format: read.format, rowsRead: read.rowsRead, bars: [], issues: [issue('ambiguous_date_order', { symbol: null, date: null, source, line: first.row.line, message, raw: first.row.raw })], unreadable: message };
}

type FieldParse = { ok: true; value: number } | { ok: false; rule: 'missing_field' | 'non_numeric' | 'implausible_value' | 'imprecise_volume' | 'imprecise_price'; message: string };

/** The price fields of a row, and with `adjust` its Adj Close: what imprecise_price judges. */
const PRICE_FIELDS = ['open', 'high', 'low', 'close'] as const;
const ADJUSTED_PRICE_FIELDS = [...PRICE_FIELDS, 'adjClose'] as const;

/** A price field (or with `volume`, a volume field), within the limits of lib/market-data/bar.ts. */
function parseNumber(text: string | undefined, field: string, volume = false): FieldParse {
  const t = (text ?? '').trim();
  if (MISSING.has(t.toLowerCase())) return { ok: false, rule: 'missing_field', message: `${field} is empty or null` };
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return { ok: false, rule: 'non_numeric', message: `${field} "${excerpt(t, 40)}" is not a number` };
  const value = Number(t);
  const max = volume ? MAX_VOLUME : MAX_PRICE;
  if (!Number.isFinite(value) || Math.abs(value) > max) {
    return { ok: false, rule: 'implausible_value', message: `${field} ${excerpt(t, 40)} is beyond ${max.toExponential()}` };
  }
  // Zero and negative prices are left to the row rule non_positive_price.
  if (!volume && value > 0 && value < MIN_PRICE) {
    return { ok: false, rule: 'implausible_value', message: `${field} ${excerpt(t, 40)} is below ${MIN_PRICE.toExponential()}` };
  }
  if (volume) {
    const imprecise = impreciseVolume(t, value);
    if (imprecise !== undefined) return { ok: false, rule: 'imprecise_volume', message: imprecise };
  } else {
    const imprecise = imprecisePrice(t, value, field);
    if (imprecise !== undefined) return { ok: false, rule: 'imprecise_price', message: imprecise };
  }
  return { ok: true, value };
}

// The volume is adjusted by the factor's split part once the file is read (volumeBySplits); the row
// rules check the value stored.
const ADJUSTED_FIELDS = ['open', 'high', 'low', 'close'] as const;

/**
 * Why a bar's prices scaled by `factor` (Adj Close / Close) break the limits, naming the field, its
 * text and the factor; undefined when every adjusted price is finite and within them. The limits
 * hold for the values stored, so a factor that makes a valid row's high 8e13 rejects it.
 */
function adjustedProblem(bar: Bar, fields: readonly string[], col: Record<keyof ColumnMapping, number | undefined>, factor: number): string | undefined {
  for (const field of ADJUSTED_FIELDS) {
    const problem = limitProblem(bar[field], false);
    if (problem === undefined) continue;
    const text = excerpt((fields[col[field] as number] ?? '').trim(), 40);
    return `adjusted ${field} ${bar[field]} (${field} ${text} × Adj Close / Close ${factor.toExponential(2)}) ${problem}`;
  }
  return undefined;
}

/**
 * The split part of the newest row's factor: 1 when the factor can be dividends alone (between
 * MIN_DIVIDEND_FACTOR and 1: dividends only lower past prices, and years of them stay above 0.6;
 * a Yahoo download of an older range made years later has 0.8 or less), else the split ratio that
 * leaves `factor` ÷ ratio as such a dividend factor, nearest 1.
 */
const MIN_DIVIDEND_FACTOR = 0.6;
function splitPart(factor: number): number {
  if (factor > MIN_DIVIDEND_FACTOR && factor <= 1 + 1e-9) return 1;
  let best = 1;
  let bestDividend = factor <= 1 + 1e-9 && factor > MIN_DIVIDEND_FACTOR ? factor : -Infinity;
  for (const { ratio } of ALL_SPLITS) {
    const dividend = factor / ratio;
    if (dividend <= 1 + 1e-9 && dividend > MIN_DIVIDEND_FACTOR && dividend > bestDividend) {
      best = ratio;
      bestDividend = dividend;
    }
  }
  return bestDividend === -Infinity ? factor : best;
}

/** A step of the factor between two rows within this of a split ratio may be a split (a day's dividend is a step of a few percent). */
const SPLIT_STEP_TOLERANCE = 0.03;
/**
 * Splits a step is read as when the file does not say (volumeBySplits): those moving the price by 1.4 or more either way
 * (not isSmallSplit). A special dividend of 20-25% steps the factor as a 5:4 or 4:3 split would; such splits are rarer
 * than such dividends.
 */
const STEP_SPLITS = ALL_SPLITS.filter((x) => !isSmallSplit(x.ratio));

/**
 * A row read with `adjust`: its Adj Close / Close, its volume as written and, when the file has
 * them (StepColumns), what its split column says on the row (`stated`: the split's shares
 * multiplier, 1 or 0 for none), its adjusted volume and its dividend (each null for an empty or
 * unreadable cell).
 */
interface AdjustedRow {
  factor: number;
  volume: number;
  stated?: number | null;
  adjVolume?: number | null;
  dividend?: number | null;
}

/** A column of the file found by name: its position and name as written. */
type FileColumn = { index: number; name: string };

/**
 * The vendor's columns that say what a factor step is (volumeBySplits): its split column
 * (SPLIT_COLUMN_NAMES, or a mapping's splitRatio), its split-adjusted volume (Quandl WIKI's `Adj. Volume`, Tiingo's `adjVolume`) and
 * its dividend per share on the ex-date (Quandl's `Ex-Dividend`, Alpha Vantage's `dividend_amount`,
 * Tiingo's `divCash`, yfinance's `Dividends`), each found by name whatever the format or mapping.
 */
interface StepColumns {
  split?: FileColumn;
  adjVolume?: FileColumn;
  dividend?: FileColumn;
}

/**
 * Header names of a vendor's split column (compared as normaliseHeader gives them, dots and dashes dropped):
 * Quandl WIKI's `Split Ratio`, Alpha Vantage's `split_coefficient`, yfinance's `Stock Splits`,
 * `Split Factor`. Each holds the shares multiplier on the split's day (1.25 for a 5:4 split), 1 or
 * 0 on other days.
 */
const SPLIT_COLUMN_NAMES: ReadonlySet<string> = new Set(['splitratio', 'splitcoefficient', 'stocksplits', 'splitfactor', 'splits']);
/** Header names (as normaliseHeader gives them, dots and dashes dropped) of an adjusted volume column. */
const ADJ_VOLUME_COLUMN_NAMES: ReadonlySet<string> = new Set(['adjvolume', 'adjustedvolume']);
/** Header names (likewise) of a dividend column: the amount per share on its ex-date, 0 on other days. */
const DIVIDEND_COLUMN_NAMES: ReadonlySet<string> = new Set(['exdividend', 'dividendamount', 'divcash', 'dividends', 'dividend']);

const columnByName = (header: readonly string[], names: ReadonlySet<string>): FileColumn | undefined => {
  const index = header.findIndex((h) => names.has(normaliseHeader(h).replace(/[.-]/g, '')));
  return index >= 0 ? { index, name: header[index] } : undefined;
};

/** The columns a file has that say what a factor step is: the split column a mapping names, else those found by name. */
function stepColumns(header: readonly string[], mappedSplit: number | undefined): StepColumns {
  return {
    split: mappedSplit !== undefined ? { index: mappedSplit, name: header[mappedSplit] } : columnByName(header, SPLIT_COLUMN_NAMES),
    adjVolume: columnByName(header, ADJ_VOLUME_COLUMN_NAMES),
    dividend: columnByName(header, DIVIDEND_COLUMN_NAMES),
  };
}

/** A cell of one of those columns as a number (a shares multiplier, a volume, an amount), or null when empty or no number. */
function cellNumber(cell: string | undefined): number | null {
  const t = (cell ?? '').trim();
  const value = t === '' ? Number.NaN : Number(t);
  return Number.isFinite(value) && value >= 0 ? value : null;
}

/** What the step columns say on a row, for its AdjustedRow. */
function stepCells(columns: StepColumns, fields: readonly string[]): Pick<AdjustedRow, 'stated' | 'adjVolume' | 'dividend'> {
  const cells: Pick<AdjustedRow, 'stated' | 'adjVolume' | 'dividend'> = {};
  if (columns.split) cells.stated = cellNumber(fields[columns.split.index]);
  if (columns.adjVolume) cells.adjVolume = cellNumber(fields[columns.adjVolume.index]);
  if (columns.dividend) cells.dividend = cellNumber(fields[columns.dividend.index]);
  return cells;
}

/** How a column says a factor step is `split` or none: within this of its multiplier (a vendor may round 1.25 to 1.2). */
const STATED_TOLERANCE = 0.1;

/**
 * How a file's split column decides a factor step by `split`'s ratio on a row that says `stated`:
 * `split` when it states that split (its reciprocal nearer that split's ratio than any other
 * split's, within 10%: a vendor may round 1.25 to 1.2), `none` when it states none (1, or 0 as
 * yfinance writes it), undefined when it says something else or nothing.
 */
function decidedBy(stated: number | null | undefined, split: { ratio: number }): Reading | undefined {
  if (stated === undefined || stated === null) return undefined;
  if (stated === 0 || Math.abs(stated - 1) < 1e-9) return 'none';
  return nearestSplit(1 / stated, STATED_TOLERANCE, ALL_SPLITS)?.ratio === split.ratio ? 'split' : undefined;
}

type Reading = 'split' | 'none';

/**
 * The shares multiplier the file's adjusted volume applies to the older of two rows against the
 * newer ((Adj Volume / Volume) older ÷ newer): a split's inverse ratio across it, 1 across a
 * dividend or spin-off. Undefined without the column or a positive volume on both rows.
 */
function adjVolumeStep(newer: AdjustedRow, older: AdjustedRow): number | undefined {
  if (!(newer.adjVolume! > 0 && older.adjVolume! > 0 && newer.volume > 0 && older.volume > 0)) return undefined;
  return (older.adjVolume! / older.volume) / (newer.adjVolume! / newer.volume);
}

/** Which reading of a step by `split` an adjusted volume's multiplier (adjVolumeStep) gives: within 10% of the split's or of 1. */
function adjVolumeReading(multiplier: number | undefined, split: { ratio: number }): Reading | undefined {
  if (multiplier === undefined) return undefined;
  if (Math.abs(Math.log(multiplier)) < Math.log(1 + STATED_TOLERANCE)) return 'none';
  if (Math.abs(Math.log(multiplier * split.ratio)) < Math.log(1 + STATED_TOLERANCE)) return 'split';
  return undefined;
}

/**
 * Whether the newer row's dividend explains a step down of the factor: a cash distribution D on a
 * close C the day before steps the factor by 1 − D / C (a spin-off is so adjusted, HPQ's 2015 and
 * ABT's 2013 halving the price), within SPLIT_STEP_TOLERANCE. A split would step it so only with a
 * dividend of that size on its day.
 */
function dividendExplains(newer: AdjustedRow, older: AdjustedRow, olderClose: number, step: number): boolean {
  const close = olderClose / older.factor;
  if (!(newer.dividend! > 0) || !(close > newer.dividend!) || !(step < 1)) return false;
  return Math.abs(Math.log((1 - newer.dividend! / close) / step)) < Math.log(1 + SPLIT_STEP_TOLERANCE);
}

/** Rows on each side of a step whose volume medians the ambiguous_adjustment message shows. */
const STEP_VOLUME_ROWS = 10;

function medianOf(values: readonly number[]): number {
  const v = values.filter((x) => x > 0).sort((a, b) => a - b);
  return v.length === 0 ? Number.NaN : v.length % 2 === 1 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

const shownStep = (x: number) => `×${x.toFixed(3)}`;

/** The volume as written moved at a step between `list[k]` (newer) and `list[k + 1]`: medians of up to STEP_VOLUME_ROWS rows on each side, NaN without volumes. */
function volumeMove(list: readonly CandidateBar[], k: number, adjusted: ReadonlyMap<CandidateBar, AdjustedRow>): number {
  const at = (b: CandidateBar) => adjusted.get(b) as AdjustedRow;
  const from = medianOf(list.slice(Math.max(0, k - STEP_VOLUME_ROWS + 1), k + 1).map((b) => at(b).volume));
  const before = medianOf(list.slice(k + 1, k + 1 + STEP_VOLUME_ROWS).map((b) => at(b).volume));
  return from / before;
}

/** Why the file's split column does not decide a step by `split` on `newer`, and what to do. */
function undecidedBy(column: FileColumn | undefined, newer: CandidateBar, stated: number | null | undefined, split: { ratio: number }): string {
  const named = column && `column ${column.index + 1} "${excerpt(column.name, 40)}"`;
  return column === undefined
    ? `The file has no split column to decide it: import the vendor's file with its split column (Quandl's Split Ratio, Alpha Vantage's split_coefficient; found by name, or named by a column mapping's splitRatio), which decides it, or check ${newer.symbol}'s corporate actions on ${newer.date}`
    : stated === null || stated === undefined
      ? `Its split column, ${named}, is empty on ${newer.date}, so it does not decide it: check ${newer.symbol}'s corporate actions on that day`
      : `Its split column, ${named}, says ${stated} on ${newer.date}, which is neither that split (${+(1 / split.ratio).toPrecision(6)}) nor none (1 or 0), so it does not decide it: check ${newer.symbol}'s corporate actions on that day`;
}

/**
 * The ambiguous_adjustment message for a factor step by a small split's ratio between `list[k]`
 * (newer) and `list[k + 1]`, read as no split: both readings, what the volumes before it are and
 * would be, and the volumes' own move at it (evidence ordinary days can give too, so shown, not acted on).
 */
function ambiguousStep(list: readonly CandidateBar[], k: number, adjusted: ReadonlyMap<CandidateBar, AdjustedRow>, split: { ratio: number; label: string }, column: FileColumn | undefined): string {
  const newer = list[k];
  const older = list[k + 1];
  const at = (b: CandidateBar) => adjusted.get(b) as AdjustedRow;
  const step = at(older).factor / at(newer).factor;
  const pct = (x: number) => `${Math.round(Math.abs(x) * 100)}%`;
  const readings =
    split.ratio < 1
      ? `the step a ${split.label} split leaves (prices ${shownStep(split.ratio)}, shares ${shownStep(1 / split.ratio)}), and a ${pct(1 - step)} special dividend's alike; it was read as the dividend`
      : `the step a ${split.label} split leaves (prices ${shownStep(split.ratio)}, shares ${shownStep(1 / split.ratio)}); no dividend steps it up (dividends only lower past prices), but an error of the Adj Close column can; it was read as no split`;
  const rowsBefore = list.length - k - 1;
  const splitReading = older.volume / split.ratio;
  const lowOrHigh = split.ratio < 1 ? `${pct(1 - split.ratio)} low` : `${pct(split.ratio - 1)} high`;
  const move = volumeMove(list, k, adjusted);
  const moved = Number.isFinite(move) ? `; the volume as written moved ${shownStep(move)} at it (medians of up to ${STEP_VOLUME_ROWS} rows on each side; a split moves it ${shownStep(1 / split.ratio)}, and ordinary days move so too)` : '';
  return `Adj Close / Close steps ${shownStep(step)} from ${newer.date} (${shownStep(at(newer).factor)}) to the row before (${older.date}: ${shownStep(at(older).factor)}): ${readings}, so the volumes of the ${plural(rowsBefore, 'row')} before ${newer.date} are not scaled for it (${older.date}: ${count(Math.round(older.volume))}), ${lowOrHigh} if it was the split (they would be ${count(Math.round(splitReading))})${moved}. ${undecidedBy(column, newer, at(newer).stated, split)}; the prices are adjusted either way, only the volumes before it depend on the reading`;
}

/**
 * The ambiguous_adjustment message for a factor step by `split` between `list[k]` (newer) and
 * `list[k + 1]` read as `reading` (`readAs` says why) where the file gives evidence the other way
 * (`but`): both readings, the volumes before it as stored and as the other reading would store
 * them, and what would decide it (`decide`).
 */
function unsettledStep(list: readonly CandidateBar[], k: number, adjusted: ReadonlyMap<CandidateBar, AdjustedRow>, split: { ratio: number; label: string }, reading: Reading, readAs: string, but: string, decide: string): string {
  const newer = list[k];
  const older = list[k + 1];
  const at = (b: CandidateBar) => adjusted.get(b) as AdjustedRow;
  const step = at(older).factor / at(newer).factor;
  const alike =
    split.ratio < 1
      ? `, and a spin-off's or special dividend's worth ${Math.round((1 - step) * 100)}% of the price alike`
      : `; no dividend steps it up (dividends only lower past prices), but an error of the Adj Close column can`;
  const written = at(older).volume;
  const volumes =
    reading === 'split'
      ? `are scaled by ${shownStep(1 / split.ratio)} (${older.date}: ${count(Math.round(older.volume))} stored, ${count(Math.round(written))} as written)`
      : `are not scaled for it (${older.date}: ${count(Math.round(written))})`;
  const other = reading === 'split' ? `if it was no split, they should be as written` : `if it was the split, they would be ${count(Math.round(older.volume / split.ratio))}`;
  return `Adj Close / Close steps ${shownStep(step)} from ${newer.date} (${shownStep(at(newer).factor)}) to the row before (${older.date}: ${shownStep(at(older).factor)}): the step a ${split.label} split leaves (prices ${shownStep(split.ratio)}, shares ${shownStep(1 / split.ratio)})${alike}; it was read as ${reading === 'split' ? 'the split' : 'no split'}${readAs}, so the volumes of the ${plural(list.length - k - 1, 'row')} before ${newer.date} ${volumes}, but ${but}: ${other}. ${decide}; the prices are adjusted either way, only the volumes before it depend on the reading`;
}

/**
 * Volumes under `adjust`: divided by the split part of Adj Close / Close only. The factor holds
 * splits and dividends; prices take both, but a dividend changes no share count, and Yahoo's Close
 * (and volume) are split-adjusted already, so its factor is dividends alone: divided by all of it,
 * older volumes came out inflated by the cumulative dividend factor (15-20% over five years). Per
 * symbol, newest row first: the newest row's factor is split from its dividends (splitPart), and
 * each older row's step from the row after it is dividends unless within SPLIT_STEP_TOLERANCE of a
 * split ratio. Such a step is what the file says it is, on the step's (newer) row, first by its
 * split column (decidedBy), then by its adjusted volume (adjVolumeReading), then by its dividend
 * (dividendExplains: no split); when none of them decides, a step of a large ratio (STEP_SPLITS) is
 * the split and one of a small ratio (isSmallSplit) is not. Returned in `ambiguous`, on the
 * newer row with its message: a small step nothing decides (before, silent, and a real 5:4 split
 * left every volume before it 20% low), a large step nothing decides while the volume as written
 * did not move with it or the split column says something else, and a step whose adjusted volume
 * contradicts its split column. Before, a large step was a split whatever the file said: a
 * spin-off halving the Close (Split Ratio 1.0, Adj. Volume = Volume) stored every volume before it
 * doubled, with no finding.
 */
function volumeBySplits(adjusted: ReadonlyMap<CandidateBar, AdjustedRow>, columns: StepColumns): {
  beyond: Array<{ bar: CandidateBar; split: number; problem: string }>;
  ambiguous: Array<{ bar: CandidateBar; message: string }>;
} {
  const beyond: Array<{ bar: CandidateBar; split: number; problem: string }> = [];
  const ambiguous: Array<{ bar: CandidateBar; message: string }> = [];
  const bySymbol = new Map<string, CandidateBar[]>();
  for (const [bar, { factor }] of adjusted) {
    if (!(factor > 0)) continue;
    let list = bySymbol.get(bar.symbol);
    if (!list) bySymbol.set(bar.symbol, (list = []));
    list.push(bar);
  }
  const named = (c: FileColumn) => `column ${c.index + 1} "${excerpt(c.name, 40)}"`;
  for (const list of bySymbol.values()) {
    list.sort((a, b) => (a.date < b.date ? 1 : a.date > b.date ? -1 : 0));
    let split = 1;
    // Messages once every volume is set (they show the older row's stored volume): the newer row's index and how to write it.
    const flagged: Array<{ k: number; message: () => string }> = [];
    for (const [k, bar] of list.entries()) {
      const row = adjusted.get(bar) as AdjustedRow;
      if (k === 0) split = splitPart(row.factor);
      else {
        const newerBar = list[k - 1];
        const newer = adjusted.get(newerBar) as AdjustedRow;
        const step = row.factor / newer.factor;
        const found = nearestSplit(step, SPLIT_STEP_TOLERANCE, ALL_SPLITS);
        if (found) {
          const small = isSmallSplit(found.ratio);
          // The newer row's split cell speaks for its own session only: with sessions between the
          // two rows (absent from the file, or rejected when read) the split may have been on one of
          // them, so its "no split" decides nothing and the other evidence (or the default) does.
          const cell = decidedBy(newer.stated, found);
          const byColumn = cell === 'none' && nextNyseTradingDay(bar.date) !== newerBar.date ? undefined : cell;
          const multiplier = adjVolumeStep(newer, row);
          const byVolume = adjVolumeReading(multiplier, found);
          const byDividend = dividendExplains(newer, row, bar.close, step) ? 'none' : undefined;
          const reading: Reading = byColumn ?? byVolume ?? byDividend ?? (small ? 'none' : 'split');
          if (reading === 'split') split *= found.ratio;
          const at = k - 1;
          const stated = newer.stated;
          const decide = undecidedBy(columns.split, newerBar, stated, found);
          if (byColumn !== undefined && byVolume !== undefined && byVolume !== byColumn) {
            // The file contradicts itself: its split column is followed, its adjusted volume named.
            const says = `${+(stated as number).toPrecision(6)} on ${newerBar.date} (${byColumn === 'split' ? `the ${found.label} split` : 'no split'})`;
            flagged.push({
              k: at,
              message: () =>
                unsettledStep(list, at, adjusted, found, reading, `, as its split column, ${named(columns.split as FileColumn)}, says ${says}`, `its adjusted volume, ${named(columns.adjVolume as FileColumn)}, scales the volumes before it ${shownStep(multiplier as number)} against ${newerBar.date}'s (${byVolume === 'split' ? `the ${found.label} split's shares multiplier` : 'no split'})`, `The file's own columns disagree: check ${newerBar.symbol}'s corporate actions on ${newerBar.date}`),
            });
          } else if (byColumn === undefined && byVolume === undefined && byDividend === undefined && small) {
            flagged.push({ k: at, message: () => ambiguousStep(list, at, adjusted, found, columns.split) });
          } else if (byColumn === undefined && stated !== undefined && stated !== null) {
            // The split column states something that is neither this split nor none.
            flagged.push({ k: at, message: () => unsettledStep(list, at, adjusted, found, reading, byVolume ? ' by its adjusted volume' : byDividend ? ' by its dividend' : '', 'its split column states no such split there', decide) });
          } else if (reading === 'split' && byColumn === undefined && byVolume === undefined) {
            // A large step read as a split on no evidence of the file: flagged when the volume as written did not move with it.
            const move = volumeMove(list, at, adjusted);
            if (Number.isFinite(move) && Math.abs(Math.log(move)) < Math.abs(Math.log(move * found.ratio))) {
              const but = `the volume as written moved ${shownStep(move)} at it (medians of up to ${STEP_VOLUME_ROWS} rows on each side; a split moves it ${shownStep(1 / found.ratio)})`;
              flagged.push({ k: at, message: () => unsettledStep(list, at, adjusted, found, reading, '', but, decide) });
            }
          }
        }
      }
      bar.volume = row.volume / split;
      const problem = limitProblem(bar.volume, true);
      if (problem !== undefined) beyond.push({ bar, split, problem });
    }
    for (const { k, message } of flagged) ambiguous.push({ bar: list[k], message: message() });
  }
  return { beyond, ambiguous };
}

/**
 * Under `adjust`, the newest row of each symbol whose Adj Close / Close steps from the row before's
 * by a split ratio (STEP_SPLITS) while its Close does not move by the inverse: a split steps the
 * factor where the Close jumps, leaving the adjusted close continuous, but here the Adj Close alone
 * steps. Inside a file the next row undoes such a glitch (one_bar_glitch judges the adjusted bars);
 * on the newest row nothing can show the step persisting, and the bar was stored halved (or
 * doubled). Each is returned with the message of its `one_bar_glitch` rejection.
 */
function newestAdjCloseGlitches(adjusted: ReadonlyMap<CandidateBar, AdjustedRow>): Array<{ bar: CandidateBar; message: string }> {
  const newest = new Map<string, [CandidateBar | undefined, CandidateBar | undefined]>();
  for (const [bar, { factor }] of adjusted) {
    if (!(factor > 0)) continue;
    const pair = newest.get(bar.symbol) ?? [undefined, undefined];
    if (pair[0] === undefined || bar.date > pair[0].date) newest.set(bar.symbol, [bar, pair[0]]);
    else if (bar.date < pair[0].date && (pair[1] === undefined || bar.date > pair[1].date)) newest.set(bar.symbol, [pair[0], bar]);
  }
  const found: Array<{ bar: CandidateBar; message: string }> = [];
  for (const [symbol, [bar, prev]] of newest) {
    if (bar === undefined || prev === undefined) continue;
    const factor = (adjusted.get(bar) as { factor: number }).factor;
    const prevFactor = (adjusted.get(prev) as { factor: number }).factor;
    const split = nearestSplit(factor / prevFactor, SPLIT_STEP_TOLERANCE, STEP_SPLITS);
    if (split === undefined) continue;
    const closeMove = bar.close / factor / (prev.close / prevFactor);
    // The Close nearer where it was than moved by the inverse ratio: the Adj Close alone stepped.
    if (Math.abs(Math.log(closeMove * split.ratio)) < Math.abs(Math.log(closeMove))) continue;
    const shown = (x: number) => `×${x.toFixed(3)}`;
    const close = bar.close / factor;
    found.push({
      bar,
      message: `Adj Close ${+(bar.close).toPrecision(12)} / Close ${+close.toPrecision(12)} is ${shown(factor / prevFactor)} of the row before's (${prev.date}: ${shown(prevFactor)}), the step a ${split.label} split leaves, but the Close moved ${shown(closeMove)} (a ${split.label} split moves it ${shown(1 / split.ratio)} the other way: the Adj Close steps where the Close does not): on the newest row of ${symbol} no later row shows the step persisting, so it is a glitch of the Adj Close column, not a split, and the bar would be stored ${shown(factor / prevFactor)} off; rejected, and a stored bar of the date is kept`,
    });
  }
  return found;
}

/** The extension a price file may have (one; `aapl.csv.txt` has two and names no symbol). */
const FILE_EXTENSION = /\.(csv|txt)$/i;
/** An interval suffix, after an underscore only (`ibm_d`, `msft_daily`): `brk.d` is the class-D share BRK.D. */
const FILE_INTERVAL = /_(d|daily)$/i;
/**
 * What a file name (without extension and interval) must be to name a symbol: a ticker of letters
 * and digits (after an optional `$` or `^`), optionally a share class (a dot or dash and one letter:
 * `brk.b`, `bf-b`) or a Yahoo-style suffix (`es=f`), then optionally Stooq's market (a dot or
 * underscore and two letters: `aapl.us`, `sap_de`). Anything else (`AAPL_2017`, `aapl-copy`,
 * `aapl.csv` left of `.txt`, `AAPL (1)`) is no symbol: refused, never made one.
 */
const FILE_SYMBOL = /^([$^]?[a-z0-9]+(?:[.-][a-z]|=[a-z]{1,2})?)(?:[._]([a-z]{2}))?$/i;

const FILE_NAME_HINT =
  'a file without a symbol column is named after its symbol (aapl.csv, brk.b.csv, ibm_d.csv, or as Stooq names them, aapl.us.csv, brk-b.us.csv, sap.de.csv); rename the file, or add a symbol column (Symbol) or give a column mapping with symbol';

/**
 * The symbol a file name gives (stored form), or why it gives none. The name without its extension
 * (`.csv`, `.txt`) and interval suffix (`_d`, `_daily`) must be a ticker as FILE_SYMBOL says; one
 * with a market (`brk-b.us`, `sap.de`, `aapl_us`) is Stooq's ticker and is stored as the Stooq
 * provider stores it (stooqTicker: BRK.B, SAP.DE, AAPL), so a file and a download of one security are
 * one series. A dashed share class is stored dotted with or without a market (Yahoo's `BRK-B.csv`
 * → BRK.B, as `brk.b.csv` and `brk-b.us.csv`; canonicalSymbol). `problem` is `empty` when the name has nothing left, `invalid` when what is left
 * breaks the symbol rule (shown as `text`), `shape` when it is valid text but not a symbol's shape.
 */
export function symbolFromFileName(source: string): { symbol: string } | { problem: 'empty' | 'invalid' | 'shape'; text: string; message: string } {
  const name = path.basename(source);
  const stem = name.replace(FILE_EXTENSION, '').replace(FILE_INTERVAL, '');
  const m = FILE_SYMBOL.exec(stem);
  if (m) {
    const symbol = canonicalSymbol(stooqTicker(m[2] === undefined ? m[1] : `${m[1]}.${m[2]}`, 'us').stored);
    if (symbol !== undefined) return { symbol };
  }
  // For messages: the name as a symbol would have been read (extension, interval and `.us` dropped).
  const text = stem.replace(/[_.]us$/i, '').trim();
  if (text === '') return { problem: 'empty', text, message: `it has no symbol column and its name "${excerpt(name, 80)}" gives no symbol; name the file after its symbol (aapl.us.csv)` };
  if (canonicalSymbol(text) === undefined) {
    return { problem: 'invalid', text, message: `it has no symbol column and its symbol "${excerpt(shownAsSymbol(text), 40)}" (from the file name) is not valid: ${SYMBOL_MESSAGE}; ${FILE_NAME_HINT}` };
  }
  return { problem: 'shape', text, message: `it has no symbol column and its name "${excerpt(name, 80)}" does not look like a symbol, so no symbol is made of it: ${FILE_NAME_HINT}` };
}

/** 1-based line of character `at`. */
function lineOf(text: string, at: number): number {
  let line = 1;
  for (let nl = text.indexOf('\n'); nl >= 0 && nl < at; nl = text.indexOf('\n', nl + 1)) line++;
  return line;
}

/** Why decoded text is not UTF-8 CSV: NUL characters (binary, UTF-16) or undecodable bytes (Latin-1). */
export function textEncodingProblem(text: string): string | undefined {
  const nul = text.indexOf('\u0000');
  if (nul >= 0) {
    const head = text.slice(0, 400);
    const nuls = head.split('\u0000').length - 1;
    if (head.startsWith('\uFFFD\uFFFD') && nuls > 0) return 'it is UTF-16 text (it starts with a UTF-16 byte-order mark read as UTF-8); save it as UTF-8';
    if (nuls >= head.length / 3) return 'it looks like UTF-16 text without a byte-order mark (every other byte is zero); save it as UTF-8';
    return `it holds binary data (a NUL byte on line ${lineOf(text, nul)}), not CSV text`;
  }
  const bad = text.indexOf('\uFFFD');
  // Files are decoded strictly (csv-files.ts), so a U+FFFD here is in the text itself: the mark a
  // lossy decoding left, here or before the file was written, where some bytes were not UTF-8.
  if (bad >= 0) return `it holds the replacement character U+FFFD on line ${lineOf(text, bad)}, left where bytes that were not UTF-8 were decoded (here or before the file was written), so some values may be lost; Latin-1 or Windows-1252 text must be saved as UTF-8 from the original`;
  return undefined;
}

/** Why a header that resolved no mapping is unusable, naming the header, separator and columns. */
function headerProblem(rawHeader: string, header: readonly string[], resolved: ResolvedColumns | undefined): string {
  const shown = `header "${excerpt(rawHeader, 120)}"`;
  const separator = foreignSeparator(rawHeader);
  if (separator) return `${shown} is separated by ${separator}, not commas; export the file with ',' as the separator`;
  if (resolved && !resolved.ok) {
    const missing = resolved.missing.length > 0 ? `missing ${resolved.missing.join(', ')}` : '';
    if (!resolved.ambiguous) return `${shown} ${missing}`;
    const adjusted = resolved.ambiguous.some((a) => a.startsWith('adjClose ')) ? `, and every adjusted-close spelling (${ADJ_CLOSE_SPELLINGS}) is one name` : '';
    const ambiguous = `has more than one column for ${resolved.ambiguous.join(', ')}: names are compared ignoring case, spaces and underscores${adjusted}, so which column holds the values is unknown; remove or rename the extra column`;
    return `${shown} ${missing ? `${missing} and ` : ''}${ambiguous}`;
  }
  const closest = closestFormat(header);
  if (header.length >= 3 && closest.missing.length <= 2) {
    const columns = Object.values(KNOWN_FORMATS[closest.format]).join(',');
    return `${shown} matches no known format: closest is ${closest.format} (${columns}), which needs ${closest.missing.join(', ')}; add the column or pass a column mapping`;
  }
  return `${shown} matches no known format (sp500, yahoo, stooq); pass a column mapping`;
}

/**
 * Reads daily bars from CSV text. Field-level problems become quality issues with the source line;
 * nothing is dropped silently. Row-, series- and calendar-level rules run later on the candidates.
 * Text that is no price table at all gives one file-level issue and `unreadable` (see readPriceTable).
 *
 * Slash dates are read in one order for the whole file, never row by row: D/M/YYYY when some row
 * can only be read so (`13/1/2017`), M/D/YYYY when some row can only be read so. When no row tells
 * (every part is 12 or less), the order whose dates fit the NYSE calendar better (more trading days,
 * then more rows on the trading day after the row before); as well either way, the file is refused.
 * A file with rows of both kinds (`13/1/2017` and `1/13/2017`) is refused as
 * `ambiguous_date_order`, naming one row of each: reading it either way would date rows wrongly.
 * A declared `dateOrder` replaces the rows' and the calendar's say; a row that can only be read
 * the other way refuses the file the same way.
 */
export function readBarCsv(text: string, options: CsvReadOptions): CsvReadResult {
  const { source } = options;
  let body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const unreadable = (rule: 'empty_input' | 'bad_encoding', message: string): CsvReadResult => ({
    format: 'unknown',
    rowsRead: 0,
    bars: [],
    issues: [issue(rule, { symbol: null, date: null, source, line: null, message, raw: null })],
    unreadable: message,
  });
  if (body.trim() === '') return unreadable('empty_input', body.length === 0 ? 'file is empty' : 'file holds only blank lines');
  const encoding = textEncodingProblem(body);
  if (encoding) return unreadable('bad_encoding', encoding);
  if (body.includes('\r')) body = body.replace(/\r\n?/g, '\n');
  const first = readRecords(body, options, 'M/D/YYYY');
  const verdict = first.dateOrder;
  if (verdict === undefined || first.result.unreadable !== undefined) return first.result;
  const declared = options.dateOrder;
  if (declared !== undefined && first.slashDates) {
    // Declared: the rows may only confirm it. One that can only be read the other way means the
    // declaration (or the file) is wrong, and reading the rest either way would date rows wrongly.
    const against = 'ambiguous' in verdict ? (declared === 'D/M/YYYY' ? verdict.ambiguous.mdy : verdict.ambiguous.dmy) : !verdict.assumed && verdict.order !== declared ? verdict.witness : undefined;
    if (against) {
      const message = `its slash dates were declared ${declared} (dateOrder), but line ${against.line} "${excerpt(against.date, 40)}" can only be ${declared === 'D/M/YYYY' ? 'M/D/YYYY (its second part is above 12)' : 'D/M/YYYY (its first part is above 12)'}; correct the declaration or export the dates as YYYY-MM-DD`;
      return { format: first.result.format, rowsRead: first.result.rowsRead, bars: [], issues: [issue('ambiguous_date_order', { symbol: null, date: null, source, line: against.line, message, raw: against.raw })], unreadable: message };
    }
    const mixed = mixedDateOrder(first.slashRows ?? [], declared, source, first.result);
    if (mixed) return mixed;
    const result = declared === 'M/D/YYYY' ? first.result : readRecords(body, options, declared, `this file's slash dates are read as D/M/YYYY, as declared (dateOrder)`).result;
    result.slashDates = { order: declared, assumed: false, line: null, declared: true };
    return result;
  }
  if ('ambiguous' in verdict) {
    const { dmy, mdy } = verdict.ambiguous;
    const [early, late] = dmy.line < mdy.line ? [dmy, mdy] : [mdy, dmy];
    const describe = (w: DateOrderWitness): string => `line ${w.line} "${excerpt(w.date, 40)}" can only be ${w === dmy ? 'D/M/YYYY (its first part is above 12)' : 'M/D/YYYY (its second part is above 12)'}`;
    const message = `its slash dates are in both orders: ${describe(early)} and ${describe(late)}, so which part of the other rows' dates is the day is unknown; export the dates as YYYY-MM-DD`;
    return {
      format: first.result.format,
      rowsRead: first.result.rowsRead,
      bars: [],
      issues: [issue('ambiguous_date_order', { symbol: null, date: null, source, line: early.line, message, raw: early.raw })],
      unreadable: message,
    };
  }
  if (verdict.assumed && first.slashDates) {
    // No row tells which part is the day (every part is 12 or less): the calendar does. Bars of a
    // daily file fall on trading days, one after the other; read the wrong way round, they fall on
    // weekends, holidays and scattered months. The reading with more trading days wins, then the
    // one with more rows on the trading day after the row before; a tie with dates that differ is refused.
    const other = readRecords(body, options, 'D/M/YYYY').result;
    const fit = (r: CsvReadResult): [number, number] => {
      const dates = r.bars.map((b) => b.date).sort();
      let trading = 0;
      let consecutive = 0;
      dates.forEach((d, i) => {
        if (isNyseTradingDay(d)) trading++;
        if (i > 0 && isNyseTradingDay(dates[i - 1]) && nextNyseTradingDay(dates[i - 1]) === d) consecutive++;
      });
      return [trading, consecutive];
    };
    const [mdyFit, dmyFit] = [fit(first.result), fit(other)];
    const better = dmyFit[0] - mdyFit[0] || dmyFit[1] - mdyFit[1];
    const differ = first.result.bars.some((b, i) => other.bars[i]?.date !== b.date) || first.result.bars.length !== other.bars.length;
    const byCalendar = { asMdy: mdyFit[0], asDmy: dmyFit[0] };
    if (differ && better > 0) {
      const mixed = mixedDateOrder(first.slashRows ?? [], 'D/M/YYYY', source, first.result);
      if (mixed) return mixed;
      other.slashDates = { order: 'D/M/YYYY', assumed: false, line: null, byCalendar };
      return other;
    }
    if (differ && better === 0) {
      const message = `its slash dates have no part above 12, so which one is the day is unknown, and both readings fit the NYSE calendar as well (${plural(mdyFit[0], 'row')} on trading days, ${mdyFit[1]} on the trading day after the row before); export the dates as YYYY-MM-DD`;
      return { format: first.result.format, rowsRead: first.result.rowsRead, bars: [], issues: [issue('ambiguous_date_order', { symbol: null, date: null, source, line: null, message, raw: null })], unreadable: message };
    }
    const mixed = mixedDateOrder(first.slashRows ?? [], 'M/D/YYYY', source, first.result);
    if (mixed) return mixed;
    first.result.slashDates = { order: 'M/D/YYYY', assumed: false, line: null, ...(differ ? { byCalendar } : {}) };
    return first.result;
  }
  if (first.slashDates) {
    const mixed = mixedDateOrder(first.slashRows ?? [], verdict.order, source, first.result);
    if (mixed) return mixed;
  }
  // Read again with the order the file showed; only files with D/M/YYYY dates pay for a second pass.
  const shown = verdict.witness && `this file's slash dates are read as D/M/YYYY, as line ${verdict.witness.line} "${excerpt(verdict.witness.date, 40)}" can only be read so`;
  const result = verdict.order === 'M/D/YYYY' ? first.result : readRecords(body, options, verdict.order, shown).result;
  if (first.slashDates) result.slashDates = { order: verdict.order, assumed: verdict.assumed, line: verdict.witness?.line ?? null };
  return result;
}

/**
 * One pass of readBarCsv over normalised text, reading slash dates in `order`; `dateOrder` is what
 * the file's slash dates show (undefined when the header could not be read).
 */
function readRecords(body: string, options: CsvReadOptions, order: SlashDateOrder, orderReason?: string): { result: CsvReadResult; dateOrder?: DateOrderVerdict; slashDates?: boolean; slashRows?: readonly DateOrderWitness[] } {
  const { source } = options;
  let format: CsvReadResult['format'] = 'unknown';
  const unreadable = (rule: 'empty_input' | 'bad_header', message: string, line: number | null = null, raw: string | null = null): CsvReadResult => ({
    format,
    rowsRead: 0,
    bars: [],
    issues: [issue(rule, { symbol: null, date: null, source, line, message, raw })],
    unreadable: message,
  });
  let dmyWitness: DateOrderWitness | undefined;
  let mdyWitness: DateOrderWitness | undefined;
  let slashDates = false;
  // Every slash-dated row of the first pass, in file order: what mixedDateOrder reads.
  const slashRows: DateOrderWitness[] = [];

  let col: Record<keyof ColumnMapping, number | undefined> | undefined;
  let headerWidth = 0;
  let headerFailure: CsvReadResult | undefined;
  let fallbackSymbol = '';
  let fallbackProblem: string | undefined;
  let fallbackRowMessage: string | undefined;
  /** Unmapped columns of a file whose symbol comes from its name, watched for symbol-like values (symbolColumnProblem). */
  let watch: WatchedColumn[] = [];
  let watchedRows = 0;
  let header: string[] = [];
  let headerLine = 0;
  let headerRaw = '';
  /** The header's names as formats and mappings match them (normaliseHeader of the canonical names), to tell a header repeated further down. */
  let headerNames = new Set<string>();
  let mapping: ColumnMapping | undefined;
  let adjust = false;
  const bars: CandidateBar[] = [];
  const issues: QualityIssue[] = [];
  let rowsRead = 0;
  let lastCell: string | undefined;
  let lastSymbol = '';
  let lastSymbolIssue: { rule: 'missing_symbol' | 'invalid_symbol'; message: string } | undefined;
  /** An unmapped Time column: the time of day each bar was taken (TIME_COLUMN_NAMES). */
  let timeCol: number | undefined;
  /** With adjust: each bar's Adj Close / Close and volume as read, for the split part of the factor (volumeBySplits). */
  const adjusted = new Map<CandidateBar, AdjustedRow>();
  /** With adjust: the file's columns that say what a step of the factor is (volumeBySplits). */
  let stepColumn: StepColumns = {};
  // The split column, read on every file that has one (price_unit_change), and the splits its rows state.
  let splitColumn: FileColumn | undefined;
  const statedSplits = new Map<CandidateBar, number>();
  /** Prices of the bars read, for coarserThanWritten: those in exponent notation by bar, the others counted by the place of their last digit. */
  const exponentPrices = new Map<CandidateBar, ExponentPrice[]>();
  const pricePlaces = new Map<number, number>();
  /** The one symbol the symbol column gives every row, until a second appears ('' then): compared with the file's name at the end. */
  let columnSymbol: string | undefined;

  forEachCsvRecord(body, (fields, raw, line, problem) => {
    if (col === undefined) {
      if (problem) {
        headerFailure = unreadable('bad_header', `the first line (line ${line}) cannot be a header: ${problem.message}`, line, raw);
        return false;
      }
      header = fields.map((h) => h.trim());
      // Formats and mappings are matched against the names with every adjusted-close spelling
      // (Adjusted_close, Adj. Close, …) read as `Adj Close`; messages show the names as written.
      const names = header.map(canonicalColumnName);
      if (options.mapping) {
        format = 'mapped';
        mapping = canonicalMapping(options.mapping);
      } else if (options.format && options.format !== 'auto') {
        format = options.format;
        mapping = KNOWN_FORMATS[options.format];
      } else {
        const detected = detectFormat(names);
        format = detected ?? 'unknown';
        mapping = detected ? KNOWN_FORMATS[detected] : undefined;
      }
      const resolved = mapping ? resolveColumns(names, mapping) : undefined;
      if (!resolved || !resolved.ok) {
        headerFailure = unreadable('bad_header', asWritten(headerProblem(raw, names, resolved), header), line, raw);
        return false;
      }
      col = resolved.index;
      headerWidth = header.length;
      headerLine = line;
      headerRaw = raw;
      headerNames = new Set(names.map(normaliseHeader));
      for (const name of Object.values(mapping as ColumnMapping)) if (name !== undefined) headerNames.add(normaliseHeader(name));
      const ignored = ignoredColumnProblem(header, col, format, options.adjust === true);
      if (ignored) {
        headerFailure = unreadable('bad_header', ignored, line, raw);
        return false;
      }
      adjust = options.adjust === true && col.adjClose !== undefined;
      if (adjust) stepColumn = stepColumns(header, col.splitRatio);
      splitColumn = stepColumns(header, col.splitRatio).split;
      const mapped = new Set(Object.values(col));
      const at = header.findIndex((h, i) => !mapped.has(i) && TIME_COLUMN_NAMES.has(normaliseHeader(h)));
      timeCol = at >= 0 ? at : undefined;
      if (col.symbol === undefined) {
        if (options.symbol !== undefined) {
          // Checked before upper-casing: a non-ASCII name never becomes an ASCII symbol (ı → I).
          const given = options.symbol.trim();
          const canonical = canonicalSymbol(given);
          fallbackSymbol = canonical ?? shownAsSymbol(given);
          if (fallbackSymbol === '') fallbackProblem = `it has no symbol column and the symbol asked for is empty`;
          else if (canonical === undefined) {
            fallbackProblem = `it has no symbol column and its symbol "${excerpt(fallbackSymbol, 40)}" (from the request) is not valid: ${SYMBOL_MESSAGE}`;
            fallbackRowMessage = `symbol "${excerpt(fallbackSymbol, 40)}" is not valid: ${SYMBOL_MESSAGE}`;
          }
        } else {
          const fromName = symbolFromFileName(source);
          if ('symbol' in fromName) fallbackSymbol = fromName.symbol;
          else if (fromName.problem !== 'empty') {
            fallbackSymbol = shownAsSymbol(fromName.text);
            fallbackProblem = fromName.message;
            fallbackRowMessage =
              fromName.problem === 'invalid'
                ? `symbol "${excerpt(fallbackSymbol, 40)}" is not valid: ${SYMBOL_MESSAGE}`
                : `the file name "${excerpt(path.basename(source), 80)}" does not look like a symbol, so the rows have none`;
          } else fallbackProblem = fromName.message;
          // Only a symbol taken from the file name is checked against a column that varies like one.
          watch = Array.from({ length: header.length }, (_, i) => i)
            .filter((i) => !Object.values(col as object).includes(i))
            .map((index) => ({ index, values: new Map(), filled: 0, dead: false }));
        }
      }
      return true;
    }
    rowsRead++;
    let symbol: string | null = null;
    let symbolIssue: { rule: 'missing_symbol' | 'invalid_symbol'; message: string } | undefined;
    if (col.symbol !== undefined) {
      // A file with a symbol column names every row's symbol; an empty cell there is an error, not the file name.
      const cell = fields[col.symbol] ?? '';
      // Files hold runs of one symbol; checking each distinct cell once keeps the reader fast.
      if (cell !== lastCell) {
        lastCell = cell;
        const trimmed = cell.trim();
        // Checked before upper-casing (canonicalSymbol): `ıbm` is no symbol, not IBM.
        const canonical = trimmed === '' ? undefined : canonicalSymbol(trimmed);
        lastSymbol = canonical ?? '';
        if (trimmed === '') lastSymbolIssue = { rule: 'missing_symbol', message: 'symbol column is empty' };
        else if (canonical === undefined) lastSymbolIssue = { rule: 'invalid_symbol', message: `symbol "${excerpt(trimmed, 40)}" is not valid: ${SYMBOL_MESSAGE}` };
        else lastSymbolIssue = undefined;
      }
      if (lastSymbolIssue) symbolIssue = lastSymbolIssue;
      else symbol = lastSymbol;
    } else if (fallbackSymbol === '') symbolIssue = { rule: 'missing_symbol', message: 'no symbol column and no symbol from the file name' };
    else if (fallbackProblem) symbolIssue = { rule: 'invalid_symbol', message: fallbackRowMessage ?? fallbackProblem };
    else symbol = fallbackSymbol;
    const reject = (rule: QualityRuleId, message: string, date: string | null = null): void => {
      issues.push(issue(rule, { symbol, date, source, line, message, raw }));
      // A rejected record that spans lines (a quoted field holding line breaks) rejects every line
      // it covers: a stray quote can swallow dozens of rows into one record, and counted as one
      // row they would be hidden from the gate's bad-row share.
      const extraLines = lineBreaksIn(raw);
      for (let k = 1; k <= extraLines; k++) {
        issues.push(issue('bad_quoting', { symbol, date: null, source, line: line + k, message: `line ${line + k} is inside the record that starts on line ${line} (a quoted field holding line breaks), which is rejected (${rule}): rejected with it`, raw: null }));
      }
      rowsRead += extraLines;
    };
    if (problem) {
      reject(problem.rule, problem.message);
      return true;
    }
    // A header further down (exports concatenated into one file) says how the rows after it are
    // laid out. The same layout again is one rejected line; another order or other columns refuse
    // the file: read by the first header, the rows after it would put values in the wrong fields
    // (a second header with Close before Open stored every later open as the close and the close
    // as the open, still a consistent bar).
    // Only a record whose date cell does not start with a digit can be one (every date does), so rows cost one test.
    const dateCell = fields[col.date as number];
    const startsWithDigit = dateCell !== undefined && dateCell.length > 0 && dateCell.charCodeAt(0) >= 48 && dateCell.charCodeAt(0) <= 57;
    if (!startsWithDigit && isHeaderLike(fields, headerNames)) {
      const layout = repeatedHeaderLayout(fields, mapping as ColumnMapping, col, headerWidth);
      if (layout === undefined) {
        // Counted with the file's rows when the file gives their symbol (a symbol column would give this line none).
        issues.push(issue('repeated_header', { symbol: col.symbol === undefined ? symbol : null, date: null, source, line, message: `line ${line} repeats the header of line ${headerLine} (the same columns in the same order); rejected as a row, the rows after it are read as before`, raw }));
        return true;
      }
      headerFailure = unreadable('bad_header', `line ${line} is a second header "${excerpt(raw, 120)}" that lays the columns out otherwise than the header on line ${headerLine} "${excerpt(headerRaw, 120)}" (${layout}), so the rows after it would be read into the wrong fields; split the file where the second header starts, or export it with one header`, line, raw);
      return false;
    }
    if (fields.length !== headerWidth) {
      reject('column_count', `${fields.length} fields, header has ${headerWidth}`);
      return true;
    }
    if (watch.length > 0) {
      watchedRows++;
      watchRow(watch, fields, line);
    }
    const dateText = fields[col.date as number] ?? '';
    // Every row with its columns in place says what it can of the file's slash-date order.
    if (order === 'M/D/YYYY' && dateText.includes('/')) slashRows.push({ line, raw, date: dateText.trim() });
    if (order === 'M/D/YYYY' && (dmyWitness === undefined || mdyWitness === undefined) && dateText.includes('/')) {
      slashDates = true;
      const evidence = slashDateEvidence(dateText);
      if (evidence === 'D/M/YYYY') dmyWitness ??= { line, raw, date: dateText.trim() };
      else if (evidence === 'M/D/YYYY') mdyWitness ??= { line, raw, date: dateText.trim() };
    }
    if (symbolIssue) {
      reject(symbolIssue.rule, symbolIssue.message);
      return true;
    }
    if (MISSING.has(dateText.trim().toLowerCase())) {
      reject('missing_field', 'date is empty');
      return true;
    }
    const date = parseDate(dateText, order);
    if (date === undefined) {
      const trimmed = dateText.trim();
      const offset = /[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?[+-]\d{2}:?\d{2}$/.test(trimmed);
      const utc = utcStampProblem(trimmed, 'date');
      // With an offset the trading day depends on a conversion the file does not say it wants: refused, saying so.
      if (offset) {
        reject('invalid_date', `date "${excerpt(trimmed, 40)}" has a UTC offset, which is not read (its New York trading day would depend on converting it); write the exchange-local date`);
      } else if (utc !== undefined) {
        reject('invalid_date', utc);
      } else if (SLASH_DATE.test(trimmed)) {
        // The order is the file's (M/D/YYYY assumed unless a row showed D/M/YYYY): say which, so a misread file is recognised.
        const how = orderReason ?? 'slash dates are read as M/D/YYYY, or as D/M/YYYY in a file with a row that can only be read so';
        reject('invalid_date', `date "${excerpt(trimmed, 40)}" is not a valid date (${how}; this one is valid in neither order)`);
      } else {
        reject('invalid_date', `date "${excerpt(trimmed, 40)}" is not a valid date`);
      }
      return true;
    }
    // A date stamped with a time inside its own session (`2017-01-03 11:30:00`) is a bar taken
    // before the close: an unfinished bar, whenever the file is imported; one stamped before the
    // open (`2017-01-03 08:00:00`) is not the date's bar at all.
    let midSession = midSessionStamp(dateText, date);
    // A time of day in a column of its own (`Date,Time,Open,…`) stamps the bar as one in the date would.
    const timeText = timeCol === undefined ? '' : (fields[timeCol] ?? '').trim();
    if (midSession === undefined && timeText !== '') {
      const time = timeOfDay(timeText);
      if (time === undefined) {
        const utc = utcStampProblem(timeText, 'time');
        const column = `in column ${(timeCol as number) + 1} "${excerpt(header[timeCol as number], 40)}"`;
        if (utc !== undefined) reject('invalid_date', utc.replace(/^time "[^"]*"/, (t) => `${t} ${column}`), date);
        else reject('invalid_date', `time "${excerpt(timeText, 40)}" ${column} is not a time of day (HH:MM[:SS], 4:00 PM or 1600, New York, or UTC midnight 00:00Z; a UTC offset or another UTC time is not read), so whether the bar was taken before the close is unknown`, date);
        return true;
      }
      const stamp = midSessionStamp(`${date} ${time}`, date);
      if (stamp !== undefined) midSession = `${stamp.replace(/^date "[^"]*"/, `date ${date} with time "${excerpt(timeText, 40)}" (column "${excerpt(header[timeCol as number], 40)}")`)}`;
    }
    if (midSession !== undefined) {
      reject('mid_session_time', midSession, date);
      return true;
    }
    const parsed = {
      open: parseNumber(fields[col.open as number], 'open'),
      high: parseNumber(fields[col.high as number], 'high'),
      low: parseNumber(fields[col.low as number], 'low'),
      close: parseNumber(fields[col.close as number], 'close'),
      volume: parseNumber(fields[col.volume as number], 'volume', true),
    };
    const failed = Object.values(parsed).find((p): p is Extract<FieldParse, { ok: false }> => !p.ok);
    if (failed) {
      reject(failed.rule, failed.message, date);
      return true;
    }
    const v = parsed as { [K in keyof typeof parsed]: { ok: true; value: number } };
    let factor = 1;
    if (adjust) {
      const adj = parseNumber(fields[col.adjClose as number], 'adj close');
      if (!adj.ok) {
        reject(adj.rule, adj.message, date);
        return true;
      }
      if (v.close.value > 0) factor = adj.value / v.close.value;
    }
    const bar: CandidateBar = {
      symbol: symbol as string,
      date,
      open: v.open.value * factor,
      high: v.high.value * factor,
      low: v.low.value * factor,
      close: v.close.value * factor,
      // Shares scale inversely with the price factor (a 2:1 split doubles past volume), so volume stays continuous.
      volume: factor > 0 ? v.volume.value / factor : v.volume.value,
      source,
      line,
      raw,
    };
    if (factor !== 1) {
      const problem = adjustedProblem(bar, fields, col, factor);
      if (problem !== undefined) {
        reject('implausible_value', problem, date);
        return true;
      }
    }
    if (col.symbol !== undefined && columnSymbol !== bar.symbol) columnSymbol = columnSymbol === undefined ? bar.symbol : '';
    if (adjust) adjusted.set(bar, { factor, volume: v.volume.value, ...stepCells(stepColumn, fields) });
    if (splitColumn) {
      const stated = cellNumber(fields[splitColumn.index]);
      if (stated !== null && stated !== 0 && stated !== 1) statedSplits.set(bar, stated);
    }
    const written: ExponentPrice[] = [];
    for (const field of adjust ? ADJUSTED_PRICE_FIELDS : PRICE_FIELDS) {
      const text = (fields[col[field] as number] ?? '').trim();
      const form = exponentForm(text);
      if (form !== undefined) written.push({ field: field === 'adjClose' ? 'adj close' : field, text, value: Number(text), form });
      else {
        const place = plainPlace(text);
        pricePlaces.set(place, (pricePlaces.get(place) ?? 0) + 1);
      }
    }
    if (written.length > 0) exponentPrices.set(bar, written);
    bars.push(bar);
    return true;
  });
  if (headerFailure) return { result: headerFailure };
  if (col === undefined) return { result: unreadable('empty_input', 'file holds only blank lines') };
  const coarse = coarserThanWritten(exponentPrices, pricePlaces);
  if (coarse.length > 0) {
    const dropped = new Set(coarse.map((c) => c.bar));
    let kept = 0;
    for (const b of bars) if (!dropped.has(b)) bars[kept++] = b;
    bars.length = kept;
    for (const { bar, message } of coarse) {
      adjusted.delete(bar);
      issues.push(issue('imprecise_price', { symbol: bar.symbol, date: bar.date, source, line: bar.line, raw: bar.raw, message }));
    }
  }
  for (const { bar, message } of adjusted.size > 1 ? newestAdjCloseGlitches(adjusted) : []) {
    bars.splice(bars.indexOf(bar), 1);
    adjusted.delete(bar);
    issues.push(issue('one_bar_glitch', { symbol: bar.symbol, date: bar.date, source, line: bar.line, raw: bar.raw, message }));
  }
  if (adjusted.size > 0) {
    // A volume the split part takes beyond the limits is rejected as a price the factor takes beyond them is.
    const { beyond, ambiguous } = volumeBySplits(adjusted, stepColumn);
    for (const { bar, message } of ambiguous) issues.push(issue('ambiguous_adjustment', { symbol: bar.symbol, date: bar.date, source, line: bar.line, raw: bar.raw, message }));
    for (const { bar, split, problem } of beyond) {
      bars.splice(bars.indexOf(bar), 1);
      const read = adjusted.get(bar)?.volume;
      issues.push(issue('implausible_value', { symbol: bar.symbol, date: bar.date, source, line: bar.line, raw: bar.raw, message: `adjusted volume ${bar.volume} (volume ${read} ÷ the split part of Adj Close / Close ${split.toExponential(2)}) ${problem}` }));
    }
  }
  const cut = truncatedLastRow(body, bars, col.symbol !== undefined && col.symbol === headerWidth - 1);
  if (cut && 'message' in cut) {
    bars.pop();
    issues.push(issue('truncated_row', { symbol: cut.bar.symbol, date: cut.bar.date, source, line: cut.bar.line, raw: cut.bar.raw, message: cut.message }));
  }
  if (rowsRead === 0) return { result: unreadable('empty_input', 'file holds a header but no data rows') };
  const varying = symbolColumnProblem(watch, watchedRows, header, fallbackProblem ? '' : fallbackSymbol);
  if (varying) return { result: unreadable('bad_header', varying.message, varying.line) };
  // A file whose symbol column names one symbol on every row that has one: its rows with an empty
  // cell are that symbol's rows too, so they count toward its per-file limit (a third of IBM's rows
  // with a blank Name passed as 840 good rows of 1,259). A cell naming something else, if invalid
  // (`BRK/B`), may be another security's row: it counts toward the import's share only.
  if (columnSymbol) {
    for (const i of issues) {
      if (i.symbol !== null || i.rule !== 'missing_symbol') continue;
      i.symbol = columnSymbol;
      i.message = `${i.message} (every other row of the file names ${columnSymbol}: counted as its row)`;
    }
  }
  const result: CsvReadResult = { format, rowsRead, bars, issues };
  if (cut && !('message' in cut)) result.unterminated = cut.bar;
  const declaredSplits = statedSplits.size === 0 ? [] : bars.filter((b) => statedSplits.has(b)).map((b) => ({ symbol: b.symbol, date: b.date, ratio: statedSplits.get(b) as number }));
  if (declaredSplits.length > 0) result.declaredSplits = declaredSplits;
  const named = columnSymbol ? symbolFromFileName(source) : undefined;
  if (columnSymbol && named && 'symbol' in named) result.named = { name: named.symbol, symbol: columnSymbol, agrees: sameSecurity(named.symbol, columnSymbol) };
  if (fallbackProblem) result.unreadable = fallbackProblem;
  return { result, dateOrder: dateOrderVerdict(dmyWitness, mdyWitness), slashDates, slashRows };
}

/** One security's two spellings: as stored, or as Stooq's ticker of it (`BRK-B.US` is BRK.B). */
const sameSecurity = (a: string, b: string): boolean => a === b || stooqTicker(a, 'us').stored === stooqTicker(b, 'us').stored;

/** The text after a row's last comma: its last field as written. */
const lastFieldOf = (raw: string): string => raw.slice(raw.lastIndexOf(',') + 1).trim();

/**
 * A numeric last field this many times below the median of its symbol's rows before it, and shorter,
 * was cut by a digit or more (a cut is a tenth of the value or less). Measured on every row of the
 * 382 S&P 500 files taken as a file's last one: at 8, 2 of 459,328 complete rows read as cut and 78%
 * of the rows cut by one character are found (at 5: 16 and 90%); NYSE early closes are left out
 * (their volume is a fifth of the usual: 78 more rows).
 */
export const TRUNCATED_FIELD_FACTOR = 8;
const TRUNCATED_FIELD_ROWS = 20;

/**
 * The file's last row when it looks cut off, with why; the row alone (`unterminated`) when the file
 * ends inside it but nothing shows it was cut; undefined when the file ends with a line break. A file whose text ends
 * without a line break ends inside its last row when it was cut short (a copy or download stopped
 * part way), and that row can still read as a valid bar: IBM's last volume 6,534,032 cut to `65`
 * was stored. Every one of the 382 real S&P 500 files ends with a line break, but files written by
 * hand may not, so the row is rejected only when its last field is also shorter than that field in
 * every other row of the file (a volume of 2 digits among 7-digit ones) or, when the last column is
 * the symbol, its symbol is in no other row and starts another row's (`IB` after `IBM`): a short
 * symbol ending a long file with rows of it elsewhere (`A`, beside `AAPL`) is kept. A numeric last
 * field cut by a digit is about a tenth of its value: it is rejected too when TRUNCATED_FIELD_FACTOR
 * times below the median of the symbol's 20 rows before it and shorter than their median length (a
 * volume cut on an ordinary day), unless the row is an NYSE early close. A cut on a heavy day can
 * still read as an ordinary volume: such a row is returned as `unterminated`, and the import keeps
 * it from revising a stored bar with a value its last field is the start of.
 */
function truncatedLastRow(body: string, bars: readonly CandidateBar[], symbolLast: boolean): { bar: CandidateBar; message: string } | { bar: CandidateBar } | undefined {
  if (bars.length === 0 || /[\r\n][ \t]*$/.test(body)) return undefined;
  const bar = bars[bars.length - 1];
  const end = body.trimEnd();
  if (!end.endsWith(bar.raw.trimEnd())) return undefined; // the last record is not this bar (a rejected row)
  if (bars.length < 2) return { bar };
  const last = lastFieldOf(bar.raw);
  if (symbolLast) {
    // Symbols differ in length (A, AAPL): cut short, the last one is a symbol no other row has and the start of one another row has (IB of IBM).
    const others = new Set(bars.slice(0, -1).map((b) => b.symbol));
    const whole = [...others].find((s) => s.length > bar.symbol.length && s.startsWith(bar.symbol));
    if (others.has(bar.symbol) || whole === undefined) return { bar };
    return { bar, message: `the file ends inside this row, without a line break, and its symbol "${excerpt(last, 40)}" is in no other row but starts ${whole}'s: the file looks cut off part way through it, so the row is rejected; import the complete file (ending with a line break)` };
  }
  let shortest = Infinity;
  for (let i = 0; i < bars.length - 1; i++) shortest = Math.min(shortest, lastFieldOf(bars[i].raw).length);
  if (!(last.length < shortest)) return tenthOfItsRows(bar, bars, last) ?? { bar };
  return {
    bar,
    message: `the file ends inside this row, without a line break, and its last field "${excerpt(last, 40)}" is shorter than in any other row (${shortest} characters or more): the file looks cut off part way through it, so the row is rejected; import the complete file (ending with a line break)`,
  };
}

/**
 * How the `unterminated` last row (CsvReadResult) would revise the stored bar of its symbol and date
 * if its last field was cut short, or undefined: a numeric last field whose text is the start of a
 * stored value it differs from (a volume of 21172488 read as 2117248); a symbol last (which no cut
 * of a number can explain) any difference at all, since `GOOG` may be `GOOGL` cut. Other
 * differences are corrections, which a cut cannot make.
 */
export function cutFromStored(bar: CandidateBar, stored: Pick<Bar, 'open' | 'high' | 'low' | 'close' | 'volume'>): string | undefined {
  const last = lastFieldOf(bar.raw).replace(/^"|"$/g, '');
  const fields = (['open', 'high', 'low', 'close', 'volume'] as const).filter((f) => stored[f] !== bar[f]);
  const numeric = last !== '' && Number.isFinite(Number(last));
  const cut = numeric ? fields.filter((f) => String(stored[f]).length > last.length && String(stored[f]).startsWith(last)) : fields;
  return cut.length > 0 ? cut.map((f) => `${f} ${stored[f]} → ${bar[f]}`).join(', ') : undefined;
}

/** The cut-by-a-digit judgement of truncatedLastRow: a numeric last field far below and shorter than its symbol's recent rows'. */
function tenthOfItsRows(bar: CandidateBar, bars: readonly CandidateBar[], last: string): { bar: CandidateBar; message: string } | undefined {
  const value = Number(last);
  const earlyClose = (nyseCloseTime(bar.date) ?? NYSE_REGULAR_CLOSE) < NYSE_REGULAR_CLOSE;
  if (last === '' || !Number.isFinite(value) || value <= 0 || earlyClose) return undefined;
  const values: number[] = [];
  const lengths: number[] = [];
  for (let i = bars.length - 2; i >= 0 && values.length < TRUNCATED_FIELD_ROWS; i--) {
    if (bars[i].symbol !== bar.symbol) continue;
    const field = lastFieldOf(bars[i].raw);
    const v = Number(field);
    if (field === '' || !Number.isFinite(v) || v <= 0) continue;
    values.push(v);
    lengths.push(field.length);
  }
  if (values.length < TRUNCATED_FIELD_ROWS / 2) return undefined;
  const median = interpolatedQuantileOfSorted(sortedAscending(values), 0.5);
  const medianLength = interpolatedQuantileOfSorted(sortedAscending(lengths), 0.5);
  if (!(value * TRUNCATED_FIELD_FACTOR <= median && last.length < medianLength)) return undefined;
  return {
    bar,
    message: `the file ends inside this row, without a line break, and its last field "${excerpt(last, 40)}" is 1/${TRUNCATED_FIELD_FACTOR} or less of the median of ${bar.symbol}'s ${values.length} rows before it (${median}) and shorter: the file looks cut off part way through it, so the row is rejected; import the complete file (ending with a line break)`,
  };
}

/**
 * readBarCsv for an import: text that cannot be read as a price table (empty, not UTF-8, no usable
 * header, no valid symbol) throws UnreadableSourceError, non-retryable and naming the cause, so
 * nothing of such a file reaches the store. Row-level findings are returned as before.
 */
export function readPriceTable(text: string, options: CsvReadOptions): CsvReadResult {
  const read = readBarCsv(text, options);
  if (read.unreadable !== undefined) {
    const fileLevel = read.issues.find((i) => FILE_LEVEL_RULES.has(i.rule));
    const rule = fileLevel?.rule ?? read.issues.find((i) => i.rule === 'missing_symbol' || i.rule === 'invalid_symbol')?.rule ?? 'invalid_symbol';
    throw new UnreadableSourceError(options.source, read.unreadable, rule);
  }
  return read;
}
