import path from 'node:path';
import { isIsoDate } from '../calendar/dates';
import { BadInputError } from '../errors';
import { excerpt } from '../quality/excerpt';
import { issue, type QualityIssue, type QualityRuleId } from '../quality/rules-catalog';
import { limitProblem, MAX_PRICE, MAX_VOLUME, MIN_PRICE, type Bar } from './bar';
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
import { canonicalSymbol, shownAsSymbol, SYMBOL_MESSAGE } from './symbols';

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
}

export interface CsvReadResult {
  format: KnownFormat | 'mapped' | 'unknown';
  rowsRead: number;
  bars: CandidateBar[];
  issues: QualityIssue[];
  /** Set when the text cannot be read as a price table at all: why, for a person. */
  unreadable?: string;
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

const SYMBOL_COLUMN_NAMES = new Set(['symbol', 'ticker', 'name']);

/**
 * A column the chosen format would ignore although it says what the rows are: a Symbol or Ticker
 * column where the format takes the symbol from the file name (every row would be stored under the
 * name, whatever the column says), or an Adj Close column with `adjust` asked where the format does
 * not read it (the prices would be stored unadjusted). Either way the file is refused, naming the
 * column and the way out.
 */
function ignoredColumnProblem(header: readonly string[], col: Extract<ResolvedColumns, { ok: true }>["index"], format: string, adjust: boolean): string | undefined {
  if (col.symbol === undefined) {
    const at = header.findIndex((h) => SYMBOL_COLUMN_NAMES.has(normaliseHeader(h)));
    if (at >= 0) return `column ${at + 1} "${excerpt(header[at], 40)}" names each row's symbol, but the ${format} format takes the symbol from the file name and would ignore it; name the column "Name" (the sp500 format) or give a column mapping with symbol`;
  }
  if (adjust && col.adjClose === undefined) {
    const at = header.findIndex((h) => normaliseHeader(h) === 'adjclose');
    if (at >= 0) return `adjust was asked and column ${at + 1} "${excerpt(header[at], 40)}" holds adjusted closes, but the ${format} format does not read it, so the prices would be stored unadjusted; give a column mapping with adjClose`;
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

/**
 * Accepts YYYY-MM-DD, YYYYMMDD and M/D/YYYY; returns ISO or undefined. YYYY-MM-DD may carry a time
 * of day (`2019-01-02 16:00:00`, `2019-01-02T00:00:00Z`: HH:MM[:SS[.fraction]][Z], after T or a
 * space), as some exports write daily bars; it must be a real time (00:00 to 23:59:59) and is then
 * ignored: the bar is dated by the calendar date as written, never shifted by the time or zone.
 */
export function parseDate(text: string): string | undefined {
  const t = text.trim();
  let iso: string | undefined;
  let m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?Z?)?$/.exec(t);
  if (m) {
    if (m[4] !== undefined && (Number(m[4]) > 23 || Number(m[5]) > 59 || (m[6] !== undefined && Number(m[6]) > 59))) return undefined;
    iso = `${m[1]}-${m[2]}-${m[3]}`;
  } else if ((m = /^(\d{4})(\d{2})(\d{2})$/.exec(t))) iso = `${m[1]}-${m[2]}-${m[3]}`;
  else if ((m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(t))) iso = `${m[3]}-${m[1].padStart(2, '0')}-${m[2].padStart(2, '0')}`;
  return iso !== undefined && isIsoDate(iso) ? iso : undefined;
}

type FieldParse = { ok: true; value: number } | { ok: false; rule: 'missing_field' | 'non_numeric' | 'implausible_value'; message: string };

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
  return { ok: true, value };
}

const ADJUSTED_FIELDS = ['open', 'high', 'low', 'close', 'volume'] as const;

/**
 * Why a bar scaled by `factor` (Adj Close / Close) breaks the limits, naming the field, its text and
 * the factor; undefined when every adjusted value is finite and within them. The limits hold for
 * the values stored, so a factor that makes a valid row's volume infinite or its high 8e13 rejects it.
 */
function adjustedProblem(bar: Bar, fields: readonly string[], col: Record<keyof ColumnMapping, number | undefined>, factor: number): string | undefined {
  for (const field of ADJUSTED_FIELDS) {
    const problem = limitProblem(bar[field], field === 'volume');
    if (problem === undefined) continue;
    const text = excerpt((fields[col[field] as number] ?? '').trim(), 40);
    const how = field === 'volume' ? '÷' : '×';
    return `adjusted ${field} ${bar[field]} (${field} ${text} ${how} Adj Close / Close ${factor.toExponential(2)}) ${problem}`;
  }
  return undefined;
}

/**
 * The symbol a file name gives, as written (checked and upper-cased by canonicalSymbol): without
 * the extension, an interval suffix after an underscore (`ibm_d`, `msft_daily`) and then Stooq's
 * market suffix `.us`. A dot before one letter is a share class (`brk.d` is BRK.D, not BRK).
 */
function symbolFromSource(source: string): string {
  return path.basename(source).replace(/\.(csv|txt)$/i, '').replace(/_(d|daily)$/i, '').replace(/[_.]us$/i, '');
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
    const ambiguous = `has more than one column for ${resolved.ambiguous.join(', ')}: names are compared ignoring case, spaces and underscores, so which column holds the values is unknown; remove or rename the extra column`;
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
 */
export function readBarCsv(text: string, options: CsvReadOptions): CsvReadResult {
  const { source } = options;
  let body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let format: CsvReadResult['format'] = 'unknown';
  const unreadable = (rule: 'empty_input' | 'bad_header' | 'bad_encoding', message: string, line: number | null = null, raw: string | null = null): CsvReadResult => ({
    format,
    rowsRead: 0,
    bars: [],
    issues: [issue(rule, { symbol: null, date: null, source, line, message, raw })],
    unreadable: message,
  });
  if (body.trim() === '') return unreadable('empty_input', body.length === 0 ? 'file is empty' : 'file holds only blank lines');
  const encoding = textEncodingProblem(body);
  if (encoding) return unreadable('bad_encoding', encoding);
  if (body.includes('\r')) body = body.replace(/\r\n?/g, '\n');

  let col: Record<keyof ColumnMapping, number | undefined> | undefined;
  let headerWidth = 0;
  let headerFailure: CsvReadResult | undefined;
  let fallbackSymbol = '';
  let fallbackProblem: string | undefined;
  let adjust = false;
  const bars: CandidateBar[] = [];
  const issues: QualityIssue[] = [];
  let rowsRead = 0;
  let lastCell: string | undefined;
  let lastSymbol = '';
  let lastSymbolIssue: { rule: 'missing_symbol' | 'invalid_symbol'; message: string } | undefined;

  forEachCsvRecord(body, (fields, raw, line, problem) => {
    if (col === undefined) {
      if (problem) {
        headerFailure = unreadable('bad_header', `the first line (line ${line}) cannot be a header: ${problem.message}`, line, raw);
        return false;
      }
      const header = fields.map((h) => h.trim());
      let mapping: ColumnMapping | undefined;
      if (options.mapping) {
        format = 'mapped';
        mapping = options.mapping;
      } else if (options.format && options.format !== 'auto') {
        format = options.format;
        mapping = KNOWN_FORMATS[options.format];
      } else {
        const detected = detectFormat(header);
        format = detected ?? 'unknown';
        mapping = detected ? KNOWN_FORMATS[detected] : undefined;
      }
      const resolved = mapping ? resolveColumns(header, mapping) : undefined;
      if (!resolved || !resolved.ok) {
        headerFailure = unreadable('bad_header', headerProblem(raw, header, resolved), line, raw);
        return false;
      }
      col = resolved.index;
      headerWidth = header.length;
      const ignored = ignoredColumnProblem(header, col, format, options.adjust === true);
      if (ignored) {
        headerFailure = unreadable('bad_header', ignored, line, raw);
        return false;
      }
      adjust = options.adjust === true && col.adjClose !== undefined;
      if (col.symbol === undefined) {
        // Checked before upper-casing: a non-ASCII name never becomes an ASCII symbol (ı → I).
        const given = (options.symbol ?? symbolFromSource(source)).trim();
        const canonical = canonicalSymbol(given);
        fallbackSymbol = canonical ?? shownAsSymbol(given);
        if (fallbackSymbol === '') fallbackProblem = `it has no symbol column and its name "${excerpt(path.basename(source), 80)}" gives no symbol; name the file after its symbol (aapl.us.csv)`;
        else if (canonical === undefined) fallbackProblem = `it has no symbol column and its symbol "${excerpt(fallbackSymbol, 40)}" (from ${options.symbol !== undefined ? 'the request' : 'the file name'}) is not valid: ${SYMBOL_MESSAGE}`;
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
    else if (fallbackProblem) symbolIssue = { rule: 'invalid_symbol', message: `symbol "${excerpt(fallbackSymbol, 40)}" is not valid: ${SYMBOL_MESSAGE}` };
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
    if (fields.length !== headerWidth) {
      reject('column_count', `${fields.length} fields, header has ${headerWidth}`);
      return true;
    }
    if (symbolIssue) {
      reject(symbolIssue.rule, symbolIssue.message);
      return true;
    }
    const dateText = fields[col.date as number] ?? '';
    if (MISSING.has(dateText.trim().toLowerCase())) {
      reject('missing_field', 'date is empty');
      return true;
    }
    const date = parseDate(dateText);
    if (date === undefined) {
      const offset = /[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?[+-]\d{2}:?\d{2}$/.test(dateText.trim());
      // With an offset the trading day depends on a conversion the file does not say it wants: refused, saying so.
      reject('invalid_date', offset ? `date "${excerpt(dateText.trim(), 40)}" has a UTC offset, which is not read (its New York trading day would depend on converting it); write the exchange-local date` : `date "${excerpt(dateText.trim(), 40)}" is not a valid date`);
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
    bars.push(bar);
    return true;
  });
  if (headerFailure) return headerFailure;
  if (col === undefined) return unreadable('empty_input', 'file holds only blank lines');
  if (rowsRead === 0) return unreadable('empty_input', 'file holds a header but no data rows');
  const result: CsvReadResult = { format, rowsRead, bars, issues };
  if (fallbackProblem) result.unreadable = fallbackProblem;
  return result;
}

/**
 * readBarCsv for an import: text that cannot be read as a price table (empty, not UTF-8, no usable
 * header, no valid symbol) throws UnreadableSourceError, non-retryable and naming the cause, so
 * nothing of such a file reaches the store. Row-level findings are returned as before.
 */
export function readPriceTable(text: string, options: CsvReadOptions): CsvReadResult {
  const read = readBarCsv(text, options);
  if (read.unreadable !== undefined) {
    const rule = read.rowsRead === 0 ? read.issues[0].rule : (read.issues.find((i) => i.rule === 'missing_symbol' || i.rule === 'invalid_symbol')?.rule ?? 'invalid_symbol');
    throw new UnreadableSourceError(options.source, read.unreadable, rule);
  }
  return read;
}
