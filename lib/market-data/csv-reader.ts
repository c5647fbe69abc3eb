import path from 'node:path';
import { isIsoDate } from '../calendar/dates';
import { BadInputError } from '../errors';
import { excerpt } from '../quality/excerpt';
import { issue, type QualityIssue, type QualityRuleId } from '../quality/rules-catalog';
import type { Bar } from './bar';
import {
  closestFormat,
  detectFormat,
  foreignSeparator,
  KNOWN_FORMATS,
  resolveColumns,
  type ColumnMapping,
  type CsvFormatOption,
  type KnownFormat,
} from './csv-formats';
import { isSymbol, SYMBOL_MESSAGE } from './symbols';

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

// Beyond these no listed security has ever traded; larger numbers are corrupt fields.
const MAX_PRICE = 1e7;
const MAX_VOLUME = 1e14;
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
 * MAX_LINE_CHARS, a field longer than MAX_FIELD_CHARS or a quote never closed comes with a
 * `problem` and no fields; an unclosed quote rejects only its own line, reading resumes on the next.
 * `visit` returning false stops the walk.
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
    const problem = raw.length > MAX_FIELD_CHARS ? fieldTooLong(quoted.fields) : undefined;
    if (visit(problem ? [] : quoted.fields, raw, at, problem) === false) return;
  }
}

function fieldTooLong(fields: readonly string[]): RecordProblem | undefined {
  const at = fields.findIndex((f) => f.length > MAX_FIELD_CHARS);
  if (at < 0) return undefined;
  return { rule: 'field_too_long', message: `field ${at + 1} is ${count(fields[at].length)} characters long, the limit is ${count(MAX_FIELD_CHARS)}` };
}

type QuotedRecord = { ok: true; fields: string[]; end: number; newlines: number } | { ok: false; atEnd: boolean };

/** One record that holds a `"` somewhere, from `start`; never reads past MAX_LINE_CHARS of it. */
function parseQuotedRecord(text: string, start: number): QuotedRecord {
  const n = text.length;
  const limit = Math.min(n, start + MAX_LINE_CHARS + 1);
  const fields: string[] = [];
  let newlines = 0;
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
      // Text between a closing quote and the separator is not RFC 4180; it is kept as written.
      e = k;
      while (e < limit && text.charCodeAt(e) !== 44 && text.charCodeAt(e) !== 10) e++;
      field += text.slice(k, e);
    } else {
      e = i;
      while (e < limit && text.charCodeAt(e) !== 44 && text.charCodeAt(e) !== 10) e++;
      field = text.slice(i, e);
    }
    if (e >= limit && limit < n) return { ok: false, atEnd: false };
    fields.push(field);
    if (e >= n || text.charCodeAt(e) === 10) return { ok: true, fields, end: e, newlines };
    i = e + 1;
  }
}

/** Accepts YYYY-MM-DD (optionally with a time part), YYYYMMDD and M/D/YYYY; returns ISO or undefined. */
export function parseDate(text: string): string | undefined {
  const t = text.trim();
  let iso: string | undefined;
  let m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ][\d:.]+Z?)?$/.exec(t);
  if (m) iso = `${m[1]}-${m[2]}-${m[3]}`;
  else if ((m = /^(\d{4})(\d{2})(\d{2})$/.exec(t))) iso = `${m[1]}-${m[2]}-${m[3]}`;
  else if ((m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(t))) iso = `${m[3]}-${m[1].padStart(2, '0')}-${m[2].padStart(2, '0')}`;
  return iso !== undefined && isIsoDate(iso) ? iso : undefined;
}

type FieldParse = { ok: true; value: number } | { ok: false; rule: 'missing_field' | 'non_numeric' | 'implausible_value'; message: string };

function parseNumber(text: string | undefined, field: string, max: number): FieldParse {
  const t = (text ?? '').trim();
  if (MISSING.has(t.toLowerCase())) return { ok: false, rule: 'missing_field', message: `${field} is empty or null` };
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return { ok: false, rule: 'non_numeric', message: `${field} "${excerpt(t, 40)}" is not a number` };
  const value = Number(t);
  if (!Number.isFinite(value) || Math.abs(value) > max) {
    return { ok: false, rule: 'implausible_value', message: `${field} ${excerpt(t, 40)} is beyond ${max.toExponential()}` };
  }
  return { ok: true, value };
}

function symbolFromSource(source: string): string {
  return path.basename(source).replace(/\.(csv|txt)$/i, '').replace(/[_.](us|daily|d)$/i, '').toUpperCase();
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
  if (bad >= 0) return `it is not valid UTF-8 (an undecodable byte on line ${lineOf(text, bad)}); Latin-1 or Windows-1252 text must be saved as UTF-8 first`;
  return undefined;
}

/** Why a header that resolved no mapping is unusable, naming the header, separator and columns. */
function headerProblem(rawHeader: string, header: readonly string[], resolved: ReturnType<typeof resolveColumns> | undefined): string {
  const shown = `header "${excerpt(rawHeader, 120)}"`;
  const separator = foreignSeparator(rawHeader);
  if (separator) return `${shown} is separated by ${separator}, not commas; export the file with ',' as the separator`;
  if (resolved && !resolved.ok) return `${shown} missing ${resolved.missing.join(', ')}`;
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
      adjust = options.adjust === true && col.adjClose !== undefined;
      if (col.symbol === undefined) {
        fallbackSymbol = (options.symbol ?? symbolFromSource(source)).trim().toUpperCase();
        if (fallbackSymbol === '') fallbackProblem = `it has no symbol column and its name "${excerpt(path.basename(source), 80)}" gives no symbol; name the file after its symbol (aapl.us.csv)`;
        else if (!isSymbol(fallbackSymbol)) fallbackProblem = `it has no symbol column and its symbol "${excerpt(fallbackSymbol, 40)}" (from ${options.symbol !== undefined ? 'the request' : 'the file name'}) is not valid: ${SYMBOL_MESSAGE}`;
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
        lastSymbol = trimmed.toUpperCase();
        if (trimmed === '') lastSymbolIssue = { rule: 'missing_symbol', message: 'symbol column is empty' };
        else if (!isSymbol(lastSymbol)) lastSymbolIssue = { rule: 'invalid_symbol', message: `symbol "${excerpt(trimmed, 40)}" is not valid: ${SYMBOL_MESSAGE}` };
        else lastSymbolIssue = undefined;
      }
      if (lastSymbolIssue) symbolIssue = lastSymbolIssue;
      else symbol = lastSymbol;
    } else if (fallbackSymbol === '') symbolIssue = { rule: 'missing_symbol', message: 'no symbol column and no symbol from the file name' };
    else if (fallbackProblem) symbolIssue = { rule: 'invalid_symbol', message: `symbol "${excerpt(fallbackSymbol, 40)}" is not valid: ${SYMBOL_MESSAGE}` };
    else symbol = fallbackSymbol;
    const reject = (rule: QualityRuleId, message: string, date: string | null = null): void => {
      issues.push(issue(rule, { symbol, date, source, line, message, raw }));
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
      reject('invalid_date', `date "${excerpt(dateText.trim(), 40)}" is not a valid date`);
      return true;
    }
    const parsed = {
      open: parseNumber(fields[col.open as number], 'open', MAX_PRICE),
      high: parseNumber(fields[col.high as number], 'high', MAX_PRICE),
      low: parseNumber(fields[col.low as number], 'low', MAX_PRICE),
      close: parseNumber(fields[col.close as number], 'close', MAX_PRICE),
      volume: parseNumber(fields[col.volume as number], 'volume', MAX_VOLUME),
    };
    const failed = Object.values(parsed).find((p): p is Extract<FieldParse, { ok: false }> => !p.ok);
    if (failed) {
      reject(failed.rule, failed.message, date);
      return true;
    }
    const v = parsed as { [K in keyof typeof parsed]: { ok: true; value: number } };
    let factor = 1;
    if (adjust) {
      const adj = parseNumber(fields[col.adjClose as number], 'adj close', MAX_PRICE);
      if (!adj.ok) {
        reject(adj.rule, adj.message, date);
        return true;
      }
      if (v.close.value > 0) factor = adj.value / v.close.value;
    }
    bars.push({
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
    });
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
