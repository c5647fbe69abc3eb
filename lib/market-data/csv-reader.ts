import path from 'node:path';
import { isIsoDate } from '../calendar/dates';
import { issue, type QualityIssue } from '../quality/rules-catalog';
import type { Bar } from './bar';
import { detectFormat, KNOWN_FORMATS, resolveColumns, type ColumnMapping, type CsvFormatOption, type KnownFormat } from './csv-formats';

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
}

// Beyond these no listed security has ever traded; larger numbers are corrupt fields.
const MAX_PRICE = 1e7;
const MAX_VOLUME = 1e14;
const MISSING = new Set(['', 'null', 'nan', 'na', 'n/a', '-', 'none']);

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
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return { ok: false, rule: 'non_numeric', message: `${field} "${t}" is not a number` };
  const value = Number(t);
  if (!Number.isFinite(value) || Math.abs(value) > max) {
    return { ok: false, rule: 'implausible_value', message: `${field} ${t} is beyond ${max.toExponential()}` };
  }
  return { ok: true, value };
}

function symbolFromSource(source: string): string {
  return path.basename(source).replace(/\.(csv|txt)$/i, '').replace(/[_.](us|daily|d)$/i, '').toUpperCase();
}

/**
 * Reads daily bars from CSV text. Field-level problems become quality issues with the source line;
 * nothing is dropped silently. Row-, series- and calendar-level rules run later on the candidates.
 */
export function readBarCsv(text: string, options: CsvReadOptions): CsvReadResult {
  const { source } = options;
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = body.split(/\r\n|\n|\r/);
  const headerAt = lines.findIndex((l) => l.trim() !== '');
  const empty = (message: string): CsvReadResult => ({
    format: 'unknown',
    rowsRead: 0,
    bars: [],
    issues: [issue('empty_input', { symbol: null, date: null, source, line: null, message, raw: null })],
  });
  if (headerAt < 0) return empty('file is empty');

  const header = splitCsvLine(lines[headerAt]).map((h) => h.trim());
  let format: CsvReadResult['format'];
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
    const why = resolved ? `missing ${resolved.missing.join(', ')}` : 'matches no known format (sp500, yahoo, stooq); pass a column mapping';
    return {
      format,
      rowsRead: 0,
      bars: [],
      issues: [issue('bad_header', { symbol: null, date: null, source, line: headerAt + 1, message: `header "${lines[headerAt]}" ${why}`, raw: lines[headerAt] })],
    };
  }
  const col = resolved.index;
  const fallbackSymbol = options.symbol ?? symbolFromSource(source);
  const adjust = options.adjust === true && col.adjClose !== undefined;

  const bars: CandidateBar[] = [];
  const issues: QualityIssue[] = [];
  let rowsRead = 0;
  for (let i = headerAt + 1; i < lines.length; i++) {
    const raw = lines[i];
    if (raw.trim() === '') continue;
    rowsRead++;
    const line = i + 1;
    const fields = splitCsvLine(raw);
    const symbolText = col.symbol !== undefined ? (fields[col.symbol] ?? '').trim().toUpperCase() : '';
    // A file with a symbol column names every row's symbol; an empty cell there is an error, not the file name.
    const symbol = col.symbol !== undefined ? symbolText : fallbackSymbol;
    const dateText = fields[col.date as number] ?? '';
    const reject = (rule: Parameters<typeof issue>[0], message: string, date: string | null = null): void => {
      issues.push(issue(rule, { symbol: symbol || null, date, source, line, message, raw }));
    };
    if (fields.length !== header.length) {
      reject('column_count', `${fields.length} fields, header has ${header.length}`);
      continue;
    }
    if (!symbol) {
      reject('missing_symbol', 'symbol column is empty');
      continue;
    }
    const date = parseDate(dateText);
    if (MISSING.has(dateText.trim().toLowerCase())) {
      reject('missing_field', 'date is empty');
      continue;
    }
    if (date === undefined) {
      reject('invalid_date', `date "${dateText.trim()}" is not a valid date`);
      continue;
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
      continue;
    }
    const v = parsed as { [K in keyof typeof parsed]: { ok: true; value: number } };
    let factor = 1;
    if (adjust) {
      const adj = parseNumber(fields[col.adjClose as number], 'adj close', MAX_PRICE);
      if (!adj.ok) {
        reject(adj.rule, adj.message, date);
        continue;
      }
      if (v.close.value > 0) factor = adj.value / v.close.value;
    }
    bars.push({
      symbol,
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
  }
  if (rowsRead === 0) return { ...empty('file holds only a header'), format };
  return { format, rowsRead, bars, issues };
}
