import { z } from 'zod';

/** Which header names hold each field. Matching is case-insensitive and ignores spaces/underscores. */
export const columnMappingSchema = z.object({
  date: z.string().min(1),
  open: z.string().min(1),
  high: z.string().min(1),
  low: z.string().min(1),
  close: z.string().min(1),
  volume: z.string().min(1),
  symbol: z.string().min(1).optional(),
  adjClose: z.string().min(1).optional(),
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

/** Column index per field, or a list of the fields the header lacks. */
export function resolveColumns(
  header: readonly string[],
  mapping: ColumnMapping,
): { ok: true; index: Record<keyof ColumnMapping, number | undefined> } | { ok: false; missing: string[] } {
  const positions = new Map(header.map((h, i) => [normaliseHeader(h), i] as const));
  const index = {} as Record<keyof ColumnMapping, number | undefined>;
  const missing: string[] = [];
  for (const field of Object.keys(columnMappingSchema.shape) as Array<keyof ColumnMapping>) {
    const wanted = mapping[field];
    if (wanted === undefined) continue;
    const at = positions.get(normaliseHeader(wanted));
    if (at === undefined) missing.push(`${field} (column "${wanted}")`);
    index[field] = at;
  }
  return missing.length > 0 ? { ok: false, missing } : { ok: true, index };
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

/** The most specific known format whose columns the header holds. */
export function detectFormat(header: readonly string[]): KnownFormat | undefined {
  const order: KnownFormat[] = ['sp500', 'yahoo', 'stooq'];
  return order.find((f) => resolveColumns(header, KNOWN_FORMATS[f]).ok);
}
