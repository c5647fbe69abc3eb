/**
 * Dated news headlines, scored with the AFINN lexicon (the `sentiment` package) plus a small
 * finance overlay, and assigned to the trading day on which they can first be acted upon.
 */
import { createHash } from 'node:crypto';
import Sentiment from 'sentiment';
import { z } from 'zod';
import { isIsoDate } from '../calendar/dates';
import { firstNyseCloseAfter, nextNyseTradingDay } from '../calendar/nyse';
import { splitCsvLine } from '../market-data/csv-reader';
import { SYMBOL_MESSAGE, symbolSchema } from '../market-data/symbols';
import { normaliseHeadline, SAME_STORY_WINDOW_MS, stampGapMs } from './same-story';

/** AFINN is a general lexicon: "shares" is positive there, "beats" and "plunge" are unknown. */
const FINANCE_OVERLAY: Record<string, number> = {
  shares: 0,
  share: 0,
  beats: 2,
  beat: 2,
  surge: 2,
  surges: 2,
  soars: 3,
  rally: 2,
  rallies: 2,
  upgrade: 2,
  upgraded: 2,
  outperform: 2,
  record: 1,
  misses: -2,
  miss: -2,
  plunge: -3,
  plunges: -3,
  tumbles: -2,
  slump: -2,
  downgrade: -2,
  downgraded: -2,
  underperform: -2,
  lawsuit: -2,
  probe: -2,
  recall: -2,
  bankruptcy: -3,
  layoffs: -2,
  guidance: 0,
};

const analyzer = new Sentiment();

/** Comparative score: lexicon sum divided by the number of tokens (about -5..5). */
export function scoreHeadline(text: string): number {
  return analyzer.analyze(text, { extras: FINANCE_OVERLAY }).comparative;
}

export interface Headline {
  id: string;
  /** Date (and time, when known) the headline was published, as given. */
  published: string;
  /** First trading day whose close can reflect it. */
  effectiveDate: string;
  /** null: market-wide news. */
  symbol: string | null;
  headline: string;
  score: number;
  /** The vendor's id of the story, when the file has one (lib/news/same-story.ts). */
  vendorId?: string;
}

const rowSchema = z.object({
  date: z.string().refine(isIsoDate, 'expected YYYY-MM-DD'),
  time: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected HH:MM (exchange time)')
    .optional(),
  // The one symbol rule ($VIX, ^GSPC, BRK.B), or empty for market-wide news.
  symbol: z.string().refine((s) => s === '' || symbolSchema.safeParse(s).success, `${SYMBOL_MESSAGE}, or empty for market-wide news`),
  headline: z.string().min(1, 'headline is empty'),
  id: z.string().max(128, 'vendor id longer than 128 characters').optional(),
});

/**
 * Without look-ahead: a headline published before that trading day's close (16:00, or 13:00 on the
 * early closes: nyseCloseTime) counts on that day; at or after the close, on a non-trading day, or
 * without a time (we cannot know), on the next one. `time` is exchange time (US Eastern).
 */
export function effectiveTradingDay(date: string, time: string | undefined): string {
  return time === undefined ? nextNyseTradingDay(date) : firstNyseCloseAfter(date, time);
}

export interface HeadlineParseResult {
  headlines: Headline[];
  errors: Array<{ line: number; message: string }>;
}

/**
 * Headers read as the vendor's id of a story. Not a bare `id`: files carrying row numbers (1..N) under
 * it had unrelated headlines merged as one story and the text rule turned off.
 */
export const VENDOR_ID_HEADERS = ['vendor_id', 'story_id'] as const;

/**
 * Reads `date,time,symbol,headline[,vendor_id]` (time optional, symbol empty for market news, vendor_id
 * or story_id the vendor's id of the story where the feed has one). The same story seen more than once
 * is stored once (lib/store/news.ts saveHeadlines, by the rules of lib/news/same-story.ts). A vendor id
 * repeated in the file for a different headline a day or more away is refused (that row is an error):
 * that is a row number or a reused id, not one story, and merging would lose the other headline.
 */
export function parseHeadlinesCsv(text: string, source: string): HeadlineParseResult {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  const header = splitCsvLine(lines[0] ?? '').map((h) => h.trim().toLowerCase());
  const at = (name: string) => header.indexOf(name);
  if (at('date') < 0 || at('headline') < 0 || at('symbol') < 0) {
    return { headlines: [], errors: [{ line: 1, message: `${source}: header must hold date, symbol and headline (and optionally time); got "${lines[0] ?? ''}"` }] };
  }
  const idColumns = VENDOR_ID_HEADERS.filter((h) => at(h) >= 0);
  if (idColumns.length > 1) return { headlines: [], errors: [{ line: 1, message: `${source}: both ${idColumns.join(' and ')} columns; give the vendor's story id in one` }] };
  const idAt = idColumns.length === 1 ? at(idColumns[0]) : -1;
  const headlines: Headline[] = [];
  const errors: HeadlineParseResult['errors'] = [];
  // Per (vendor id, symbol): the first line holding it, its stamp and normalised text.
  const seenIds = new Map<string, { line: number; published: string; text: string }>();
  for (let i = 1; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    const f = splitCsvLine(lines[i]);
    const parsed = rowSchema.safeParse({
      date: f[at('date')]?.trim(),
      time: at('time') >= 0 && f[at('time')]?.trim() ? f[at('time')].trim() : undefined,
      symbol: f[at('symbol')]?.trim() ?? '',
      headline: f[at('headline')]?.trim() ?? '',
      id: idAt >= 0 && f[idAt]?.trim() ? f[idAt].trim() : undefined,
    });
    if (!parsed.success) {
      errors.push({ line: i + 1, message: parsed.error.issues.map((x) => `${String(x.path[0])}: ${x.message}`).join('; ') });
      continue;
    }
    const r = parsed.data;
    const symbol = r.symbol === '' ? null : r.symbol.toUpperCase();
    const published = r.time ? `${r.date} ${r.time}` : r.date;
    if (r.id !== undefined) {
      const key = `${r.id}\u0000${symbol ?? ''}`;
      const text = normaliseHeadline(r.headline);
      const seen = seenIds.get(key);
      if (seen === undefined) seenIds.set(key, { line: i + 1, published, text });
      else if (seen.text !== text && stampGapMs(seen.published, published) >= SAME_STORY_WINDOW_MS) {
        errors.push({
          line: i + 1,
          message: `vendor id ${r.id} is on line ${seen.line} too, for a different headline at ${seen.published}, a day or more from ${published}: a vendor id names one story (are these row numbers?)`,
        });
        continue;
      }
    }
    // Without a vendor id, the id of before (rows stored then keep theirs); with one, it is part of it.
    const identity = `${published}\u0000${symbol ?? ''}\u0000${r.headline}${r.id === undefined ? '' : `\u0000${r.id}`}`;
    headlines.push({
      id: createHash('sha1').update(identity).digest('hex'),
      published,
      effectiveDate: effectiveTradingDay(r.date, r.time),
      symbol,
      headline: r.headline,
      score: scoreHeadline(r.headline),
      ...(r.id === undefined ? {} : { vendorId: r.id }),
    });
  }
  return { headlines, errors };
}
