/**
 * The live bar message: one daily OHLCV bar as it travels through the Redis Stream. Two wire forms
 * are read; numbers are written with String(n), which round-trips every double exactly:
 * - version 1: flat string fields (v, symbol, date, open, high, low, close, volume, source[, event_time]);
 * - version 2 (what encodeLiveBar writes): fields v = "2" and bar = a JSON array of the same values
 *   as strings, in that order. Redis replies with 4 strings per entry instead of 18–20, and turning
 *   each of those into a JavaScript string (and collecting them) was most of a consumer's read time.
 * Both forms go through the same rules, value for value.
 */
import { z } from 'zod';
import { canonicalSymbol, isSymbol, shownAsSymbol, storedSymbolOf, symbolSchema } from '../market-data/symbols';
import { isIsoDate } from '../calendar/dates';
import { MAX_PRICE, MAX_VOLUME, MIN_PRICE, type Bar } from '../market-data/bar';
import { memoize } from '../memo';
import type { QualityRuleId } from '../quality/rules-catalog';
import { coarserThanWritten, exponentForm, imprecisePrice, impreciseVolume, plainPlace, type ExponentPrice } from '../market-data/exponent-notation';

/** The version encodeLiveBar writes; decodeLiveBar reads 1 and 2. */
export const LIVE_BAR_FORMAT_VERSION = '2';
/** Version 2's packed values, in order (event_time only when the producer gives one). */
const PACKED_FIELDS = ['symbol', 'date', 'open', 'high', 'low', 'close', 'volume', 'source', 'event_time'] as const;

// The CSV reader's limits (lib/market-data/bar.ts): beyond them a field is corrupt. The minimum
// positive price (MIN_PRICE) is checked with the row rules (checkLiveBatch), as for every bar stored.
export { MAX_PRICE, MAX_VOLUME };
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

/** Field/value list for XADD, in version 2's form. */
export function encodeLiveBar(bar: LiveBar): string[] {
  const values = [bar.symbol, bar.date, String(bar.open), String(bar.high), String(bar.low), String(bar.close), String(bar.volume), bar.source];
  if (bar.eventTime !== undefined) values.push(bar.eventTime);
  return ['v', LIVE_BAR_FORMAT_VERSION, 'bar', JSON.stringify(values)];
}

/**
 * A message's fields in version 1's flat form: a version 2 message unpacked, any other as it is;
 * or, for a version 2 message whose bar field cannot be read, why.
 */
function flatFields(message: Readonly<Record<string, string>>): Readonly<Record<string, string>> | string {
  if (message.v !== '2') return message;
  const packed = message.bar;
  if (packed === undefined) return 'format version 2 message without its "bar" field';
  let values: unknown;
  try {
    values = JSON.parse(packed);
  } catch {
    values = undefined;
  }
  if (!Array.isArray(values) || values.length < PACKED_FIELDS.length - 1 || values.length > PACKED_FIELDS.length || !values.every((v) => typeof v === 'string')) {
    return `format version 2 message: "bar" must be a JSON array of ${PACKED_FIELDS.length - 1} or ${PACKED_FIELDS.length} strings (${PACKED_FIELDS.join(', ')}), got ${JSON.stringify(packed.slice(0, 80))}`;
  }
  const flat: Record<string, string> = {};
  for (let i = 0; i < values.length; i++) flat[PACKED_FIELDS[i]] = values[i] as string;
  return flat;
}

/** The producer's source field of a message in either form (undefined when absent or unreadable). */
export function liveBarSource(message: Readonly<Record<string, string>>): string | undefined {
  const fields = flatFields(message);
  return typeof fields === 'string' ? undefined : fields.source;
}

export type DecodedLiveBar =
  | { ok: true; bar: LiveBar }
  | { ok: false; rule: QualityRuleId; message: string; symbol: string | null; date: string | null };

const NUMERIC_FIELDS = ['open', 'high', 'low', 'close', 'volume'] as const;
const PRICE_NAMES = ['open', 'high', 'low', 'close'] as const;
const MISSING = new Set(['', 'null', 'nan', 'na', 'n/a', '-', 'none']);

/**
 * Reads one stream entry's fields into a LiveBar, or names the ingestion quality rule it breaks
 * (missing_symbol, invalid_symbol, invalid_date, missing_field, non_numeric, implausible_value,
 * imprecise_price, imprecise_volume), so that a bad message is quarantined exactly like a bad CSV row.
 */
export function decodeLiveBar(message: Readonly<Record<string, string>>): DecodedLiveBar {
  const fields = flatFields(message);
  if (typeof fields === 'string') return failure('bad_header', fields, null, null);
  // A symbol already in its stored form (the usual case) needs no trimming or upper-casing; any
  // other is checked before it is upper-cased (canonicalSymbol), so `ıbm` never becomes IBM.
  const given = fields.symbol ?? '';
  // A dashed share class (BRK-B) and the US market suffix (AAPL.US) are valid but stored as imports
  // store them (BRK.B, AAPL): not canonical here.
  const canonical: boolean = isSymbol(given) && ((given.indexOf('-') < 0 && !given.endsWith('.US')) || storedSymbolOf(given) === given);
  const rawSymbol = canonical ? given : given.trim();
  const symbol = canonical ? given : (canonicalSymbol(rawSymbol) ?? null);
  const rawDate = (fields.date ?? '').trim();
  const date = isDate(rawDate) ? rawDate : null;

  if (fields.v !== undefined && fields.v !== '1') return failure('bad_header', `message format version ${fields.v}; this consumer reads versions 1 and 2`, symbol, date);
  if (rawSymbol === '') return failure('missing_symbol', 'no symbol field', symbol, date);
  if (symbol === null) return failure('invalid_symbol', `symbol "${shownAsSymbol(rawSymbol.slice(0, 40))}" is not a ticker (1-32 letters, digits or . ^ = _ -)`, symbol, date);
  if (date === null) return failure('invalid_date', rawDate === '' ? 'no date field' : `date "${rawDate.slice(0, 40)}" is not a real YYYY-MM-DD date`, symbol, date);
  const numbers: Partial<Record<(typeof NUMERIC_FIELDS)[number], number>> = {};
  let exponent = false;
  for (const name of NUMERIC_FIELDS) {
    const text = (fields[name] ?? '').trim();
    // A number is never one of the MISSING spellings, so those are looked for only when it is not one.
    if (!NUMBER.test(text)) {
      if (MISSING.has(text.toLowerCase())) return failure('missing_field', `${name} is empty or null`, symbol, date);
      return failure('non_numeric', `${name} "${text.slice(0, 40)}" is not a number`, symbol, date);
    }
    numbers[name] = Number(text);
    if (text.indexOf('e') >= 0 || text.indexOf('E') >= 0) exponent = true;
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
    const rounded = exponent ? roundedByExponent(fields, numbers as Record<(typeof NUMERIC_FIELDS)[number], number>) : undefined;
    if (rounded) return failure(rounded.rule, rounded.message, symbol, date);
    return { ok: true, bar: { symbol, date, open, high, low, close, volume, source, eventTime } };
  }
  const parsed = liveBarSchema.safeParse({ symbol, date, ...numbers, source: fields.source, eventTime: fields.event_time });
  if (parsed.success) {
    const rounded = exponent ? roundedByExponent(fields, numbers as Record<(typeof NUMERIC_FIELDS)[number], number>) : undefined;
    return rounded ? failure(rounded.rule, rounded.message, symbol, date) : { ok: true, bar: parsed.data };
  }
  const first = parsed.error.issues[0];
  const field = String(first.path[0] ?? '');
  if ((NUMERIC_FIELDS as readonly string[]).includes(field)) return failure('implausible_value', `${field} ${numbers[field as (typeof NUMERIC_FIELDS)[number]]} is ${first.message}`, symbol, date);
  return failure('missing_field', `${field || 'message'}: ${first.message}`, symbol, date);
}

/**
 * imprecise_volume or imprecise_price for a message with a number in exponent notation that a
 * spreadsheet's scientific format rounded (`1.55e+2` for 154.89, `2.15E+07` shares), judged as the
 * CSV reader judges a one-row file (lib/market-data/exponent-notation.ts): read as written, such a
 * close was stored as 155. Exact forms (`1.5489e+2`, `1e+5`) are read as before; String(n), which
 * encodeLiveBar writes, never uses an exponent within the limits.
 */
function roundedByExponent(fields: Readonly<Record<string, string>>, numbers: Readonly<Record<(typeof NUMERIC_FIELDS)[number], number>>): { rule: 'imprecise_price' | 'imprecise_volume'; message: string } | undefined {
  // A positive price below the minimum is implausible_value (the row rules), as the CSV reader
  // finds before it judges precision; String(n) writes such prices in exponent notation.
  if (PRICE_NAMES.some((name) => numbers[name] > 0 && numbers[name] < MIN_PRICE)) return undefined;
  const written: ExponentPrice[] = [];
  const places = new Map<number, number>();
  for (const name of NUMERIC_FIELDS) {
    const text = (fields[name] ?? '').trim();
    const value = numbers[name];
    if (name === 'volume') {
      const message = impreciseVolume(text, value, 'message');
      if (message !== undefined) return { rule: 'imprecise_volume', message };
      continue;
    }
    const message = imprecisePrice(text, value, name, 'message');
    if (message !== undefined) return { rule: 'imprecise_price', message };
    const form = exponentForm(text);
    if (form !== undefined) written.push({ field: name, text, value, form });
    else places.set(plainPlace(text), (places.get(plainPlace(text)) ?? 0) + 1);
  }
  if (written.length === 0) return undefined;
  const coarse = coarserThanWritten(new Map([[0, written]]), places, 'message');
  return coarse.length > 0 ? { rule: 'imprecise_price', message: coarse[0].message } : undefined;
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

/**
 * An event_time as stored (bars.event_time) and compared: UTC in toISOString's form, so text order
 * is time order (to the millisecond; a finer fraction is cut, and such times count as equal).
 */
export function eventTimeKey(eventTime: string): string {
  return new Date(Date.parse(eventTime)).toISOString();
}
