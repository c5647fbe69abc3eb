import { z } from 'zod';
import { excerpt } from '../quality/excerpt';

/** Which header names hold each field. Matching is case-insensitive and ignores spaces/underscores. */
const columnMappingFields = z.object({
  date: z.string().min(1),
  open: z.string().min(1),
  high: z.string().min(1),
  low: z.string().min(1),
  close: z.string().min(1),
  volume: z.string().min(1),
  symbol: z.string().min(1).optional(),
  adjClose: z.string().min(1).optional(),
  /** With adjust: the vendor's split column (Quandl's Split Ratio, Alpha Vantage's split_coefficient), found by name when not given. */
  splitRatio: z.string().min(1).optional(),
});

/**
 * A mapping whose fields each name their own column: one column read as two fields (`open` and
 * `close` both "Close") makes flat bars of a closes-only file, or a price a volume, and every such
 * bar is consistent, so no rule after the reader could tell.
 */
export const columnMappingSchema = columnMappingFields.superRefine((mapping, ctx) => {
  const fieldsOf = new Map<string, string[]>();
  for (const [field, column] of Object.entries(mapping)) {
    if (column === undefined) continue;
    const name = normaliseHeader(column);
    fieldsOf.set(name, [...(fieldsOf.get(name) ?? []), field]);
  }
  for (const fields of fieldsOf.values()) {
    if (fields.length < 2) continue;
    const column = mapping[fields[0] as keyof typeof mapping] as string;
    ctx.addIssue({ code: 'custom', path: [fields[1]], message: `the column mapping reads column "${excerpt(column, 40)}" as ${fields.join(' and ')}: each field needs its own column (names are compared ignoring case, spaces and underscores), or a file of closes only would be stored as bars whose open, high and low are the close` });
  }
});
export type ColumnMapping = z.infer<typeof columnMappingSchema>;

export const KNOWN_FORMATS = {
  /** Kaggle "S&P 500 stock data": date,open,high,low,close,volume,Name */
  sp500: { date: 'date', open: 'open', high: 'high', low: 'low', close: 'close', volume: 'volume', symbol: 'Name' },
  /** Yahoo Finance download: Date,Open,High,Low,Close,Adj Close,Volume (column order varies). */
  yahoo: { date: 'Date', open: 'Open', high: 'High', low: 'Low', close: 'Close', volume: 'Volume', adjClose: 'Adj Close' },
  /** Stooq download: Date,Open,High,Low,Close,Volume */
  stooq: { date: 'Date', open: 'Open', high: 'High', low: 'Low', close: 'Close', volume: 'Volume' },
} as const satisfies Record<string, ColumnMapping>;

export type KnownFormat = keyof typeof KNOWN_FORMATS;
export const csvFormatSchema = z.enum(['auto', 'sp500', 'yahoo', 'stooq']);
export type CsvFormatOption = z.infer<typeof csvFormatSchema>;

export function normaliseHeader(name: string): string {
  return name.trim().toLowerCase().replace(/[\s_]+/g, '');
}

export type ResolvedColumns =
  | { ok: true; index: Record<keyof ColumnMapping, number | undefined> }
  /**
   * `missing`: the fields no column matches; `ambiguous` (present only when some are): the fields
   * two or more columns match (e.g. `Name,name` or `Adj Close,AdjClose`), each with those columns.
   */
  | { ok: false; missing: string[]; ambiguous?: string[] };

/**
 * Column index per field, or the fields the header lacks or matches more than once. Names are
 * compared normalised (normaliseHeader), so `close` and `Close` are the same name: taking either
 * would be a guess (a file whose second Name column said MSFT stored IBM prices as MSFT), so a field
 * with more than one matching column is refused. Repeated names no field uses are harmless.
 */
export function resolveColumns(header: readonly string[], mapping: ColumnMapping): ResolvedColumns {
  const positions = new Map<string, number[]>();
  header.forEach((h, i) => {
    const name = normaliseHeader(h);
    const at = positions.get(name);
    if (at) at.push(i);
    else positions.set(name, [i]);
  });
  const index = {} as Record<keyof ColumnMapping, number | undefined>;
  const missing: string[] = [];
  const ambiguous: string[] = [];
  for (const field of Object.keys(columnMappingFields.shape) as Array<keyof ColumnMapping>) {
    const wanted = mapping[field];
    if (wanted === undefined) continue;
    const at = positions.get(normaliseHeader(wanted));
    if (at === undefined) missing.push(`${field} (column "${wanted}")`);
    else if (at.length > 1) ambiguous.push(`${field} (columns ${listColumns(header, at)})`);
    index[field] = at?.[0];
  }
  if (missing.length === 0 && ambiguous.length === 0) return { ok: true, index };
  return ambiguous.length > 0 ? { ok: false, missing, ambiguous } : { ok: false, missing };
}

/** `5 "close" and 8 "Close"`, `5 "Close", 7 "CLOSE" and 8 "c lose"`: 1-based positions with the names as written. */
function listColumns(header: readonly string[], at: readonly number[]): string {
  const named = at.map((i) => `${i + 1} "${excerpt(header[i], 40)}"`);
  return `${named.slice(0, -1).join(', ')} and ${named[named.length - 1]}`;
}

/** The known format the header comes closest to (fewest missing columns) and what it lacks. */
export function closestFormat(header: readonly string[]): { format: KnownFormat; missing: string[] } {
  let best: { format: KnownFormat; missing: string[] } | undefined;
  for (const format of ['sp500', 'yahoo', 'stooq'] as const) {
    const r = resolveColumns(header, KNOWN_FORMATS[format]);
    const missing = r.ok ? [] : r.missing;
    if (!best || missing.length < best.missing.length) best = { format, missing };
  }
  return best as { format: KnownFormat; missing: string[] };
}

const SEPARATOR_NAMES: ReadonlyArray<readonly [string, string]> = [
  [';', "';' (semicolon)"],
  ['\t', 'tabs'],
  ['|', "'|' (pipe)"],
];

/**
 * The separator a header line uses when it is not a comma: a line that holds no comma but splits
 * into several names on `;`, tab or `|` is a table exported with another separator.
 */
export function foreignSeparator(line: string): string | undefined {
  if (line.includes(',')) return undefined;
  const found = SEPARATOR_NAMES.map(([sep, name]) => ({ name, n: line.split(sep).length - 1 })).sort((a, b) => b.n - a.n)[0];
  return found.n >= 2 ? found.name : undefined;
}

/**
 * The most specific known format whose columns the header holds. A column the format needs that
 * appears twice still detects it; resolveColumns then refuses the header, naming the columns.
 */
export function detectFormat(header: readonly string[]): KnownFormat | undefined {
  const order: KnownFormat[] = ['sp500', 'yahoo', 'stooq'];
  return order.find((f) => {
    const resolved = resolveColumns(header, KNOWN_FORMATS[f]);
    return resolved.ok || resolved.missing.length === 0;
  });
}
