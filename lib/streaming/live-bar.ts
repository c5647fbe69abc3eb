/**
 * The live bar message: one daily OHLCV bar as it travels through the Redis Stream. On the wire an
 * entry is flat string fields (v, symbol, date, open, high, low, close, volume, source[, event_time]);
 * numbers are written with String(n), which round-trips every double exactly.
 */
import { z } from 'zod';
import { isSymbol, symbolSchema } from '../market-data/symbols';
import { isIsoDate } from '../calendar/dates';
import type { Bar } from '../market-data/bar';
import { memoize } from '../memo';
import type { QualityRuleId } from '../quality/rules-catalog';

export const LIVE_BAR_FORMAT_VERSION = '1';

// Same limits as the CSV reader (lib/market-data/csv-reader.ts): beyond them a field is corrupt.
export const MAX_PRICE = 1e7;
export const MAX_VOLUME = 1e14;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

const price = z.number().finite().max(MAX_PRICE, `beyond ${MAX_PRICE.toExponential()}`).min(-MAX_PRICE, `beyond -${MAX_PRICE.toExponential()}`);

export const liveBarSchema = z.object({
  symbol: symbolSchema,
  /** The trading day the bar belongs to (NYSE calendar; other days are quarantined by the consumer). */
  date: z.string().refine(isIsoDate, 'expected a real date as YYYY-MM-DD'),
  open: price,
  high: price,
  low: price,
  close: price,
  volume: z.number().finite().max(MAX_VOLUME, `beyond ${MAX_VOLUME.toExponential()}`).min(-MAX_VOLUME, `beyond -${MAX_VOLUME.toExponential()}`),
  /** Who produced it: a provider name, "replay:<path>", a broker feed id. */
  source: z.string().min(1).max(200),
  /** When the provider says the bar was final (ISO 8601), if it says. */
  eventTime: z.iso.datetime({ offset: true }).optional(),
});
export type LiveBar = z.infer<typeof liveBarSchema>;
const eventTimeSchema = z.iso.datetime({ offset: true });
export type LiveBarInput = z.input<typeof liveBarSchema>;

export function barOf(live: LiveBar): Bar {
  return { symbol: live.symbol, date: live.date, open: live.open, high: live.high, low: live.low, close: live.close, volume: live.volume };
}

function withinPrice(x: number): boolean {
  return Number.isFinite(x) && x <= MAX_PRICE && x >= -MAX_PRICE;
}

/** Flat field/value list for XADD. */
export function encodeLiveBar(bar: LiveBar): string[] {
  const fields = ['v', LIVE_BAR_FORMAT_VERSION, 'symbol', bar.symbol, 'date', bar.date, 'open', String(bar.open), 'high', String(bar.high), 'low', String(bar.low), 'close', String(bar.close), 'volume', String(bar.volume), 'source', bar.source];
  if (bar.eventTime !== undefined) fields.push('event_time', bar.eventTime);
  return fields;
}

export type DecodedLiveBar =
  | { ok: true; bar: LiveBar }
  | { ok: false; rule: QualityRuleId; message: string; symbol: string | null; date: string | null };

const NUMERIC_FIELDS = ['open', 'high', 'low', 'close', 'volume'] as const;
const MISSING = new Set(['', 'null', 'nan', 'na', 'n/a', '-', 'none']);

/**
 * Reads one stream entry's fields into a LiveBar, or names the ingestion quality rule it breaks
 * (missing_symbol, invalid_date, missing_field, non_numeric, implausible_value), so that a bad
 * message is quarantined exactly like a bad CSV row.
 */
export function decodeLiveBar(fields: Readonly<Record<string, string>>): DecodedLiveBar {
  // A symbol already in its stored form (the usual case) needs no trimming or upper-casing.
  const given = fields.symbol ?? '';
  const canonical: boolean = isSymbol(given);
  const rawSymbol = canonical ? given : given.trim().toUpperCase();
  const symbol = isSymbol(rawSymbol) ? rawSymbol : null;
  const rawDate = (fields.date ?? '').trim();
  const date = isDate(rawDate) ? rawDate : null;

  if (fields.v !== undefined && fields.v !== LIVE_BAR_FORMAT_VERSION) return failure('bad_header', `message format version ${fields.v}; this consumer reads version ${LIVE_BAR_FORMAT_VERSION}`, symbol, date);
  if (rawSymbol === '') return failure('missing_symbol', 'no symbol field', symbol, date);
  if (symbol === null) return failure('missing_symbol', `symbol "${rawSymbol.slice(0, 40)}" is not a ticker (1-32 letters, digits or . ^ = _ -)`, symbol, date);
  if (date === null) return failure('invalid_date', rawDate === '' ? 'no date field' : `date "${rawDate.slice(0, 40)}" is not a real YYYY-MM-DD date`, symbol, date);
  const numbers: Partial<Record<(typeof NUMERIC_FIELDS)[number], number>> = {};
  for (const name of NUMERIC_FIELDS) {
    const text = (fields[name] ?? '').trim();
    // A number is never one of the MISSING spellings, so those are looked for only when it is not one.
    if (!NUMBER.test(text)) {
      if (MISSING.has(text.toLowerCase())) return failure('missing_field', `${name} is empty or null`, symbol, date);
      return failure('non_numeric', `${name} "${text.slice(0, 40)}" is not a number`, symbol, date);
    }
    numbers[name] = Number(text);
  }
  // What liveBarSchema checks, without it for a valid message (the symbol and date are already in
  // their canonical form, which the schema keeps as is); anything else goes through it for its message.
  const { open, high, low, close, volume } = numbers as Record<(typeof NUMERIC_FIELDS)[number], number>;
  const source = fields.source;
  const eventTime = fields.event_time;
  if (
    withinPrice(open) &&
    withinPrice(high) &&
    withinPrice(low) &&
    withinPrice(close) &&
    Number.isFinite(volume) &&
    volume <= MAX_VOLUME &&
    volume >= -MAX_VOLUME &&
    typeof source === 'string' &&
    source.length >= 1 &&
    source.length <= 200 &&
    (eventTime === undefined || eventTimeSchema.safeParse(eventTime).success)
  ) {
    return { ok: true, bar: { symbol, date, open, high, low, close, volume, source, eventTime } };
  }
  const parsed = liveBarSchema.safeParse({ symbol, date, ...numbers, source: fields.source, eventTime: fields.event_time });
  if (parsed.success) return { ok: true, bar: parsed.data };
  const first = parsed.error.issues[0];
  const field = String(first.path[0] ?? '');
  if ((NUMERIC_FIELDS as readonly string[]).includes(field)) return failure('implausible_value', `${field} ${numbers[field as (typeof NUMERIC_FIELDS)[number]]} is ${first.message}`, symbol, date);
  return failure('missing_field', `${field || 'message'}: ${first.message}`, symbol, date);
}

function failure(rule: QualityRuleId, message: string, symbol: string | null, date: string | null): DecodedLiveBar {
  return { ok: false, rule, message, symbol, date };
}

/** isIsoDate per text, remembered (a batch holds a few dates, each in hundreds of entries). */
const isDate = memoize(isIsoDate, 10_000);

/** Milliseconds since the epoch at which Redis appended the entry (the first part of its id). */
export function entryTimeMs(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}
