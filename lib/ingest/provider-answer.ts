/**
 * Whether a provider's answer for one symbol is the one asked for, judged before it is imported or
 * cached: a body that fails here must reach the server again when the import is asked again, so it
 * is never kept (lib/ingest/import-bars.ts, fetchProviderSources).
 *
 * - An answer with rows but none in the range asked (another period served) fails as Stooq's "No
 *   data" does (`PROVIDER_REJECTED`).
 * - An answer that stops short of a range already closed is a retryable provider error naming the
 *   sessions it lacks. A body cut at a line break reads as complete rows: its only trace is its end
 *   (HPQ asked for 2017, 40 rows short, was published as 211 bars ending 2017-11-01). Checked up to
 *   the last session asked for or the last session closed at the body's fetch time (with the
 *   session-close margin), whichever is earlier: a range reaching past the fetch (no `to`) is held
 *   to the sessions closed by then, not to ones the provider cannot have yet.
 *   A delisted symbol's answer ends early by right; the import is then asked for the range it holds.
 * - An answer that starts late is one the same way, when the store holds a bar of the symbol before
 *   the answer's first row (it was listed by then); otherwise the first row is taken for its listing.
 */
import { addDays } from '../calendar/dates';
import { isNyseTradingDay, newYorkClock, nextNyseTradingDay, nyseTradingDaysBetween, previousNyseTradingDay } from '../calendar/nyse';
import { BadInputError } from '../errors';
import type { CsvReadResult } from '../market-data/csv-reader';
import { ProviderError } from '../market-data/providers/provider';
import { plural } from '../plural';
import { openSession } from '../quality/rules';
import { storedBarsBetween } from '../store/bars';
import type { Database } from '../store/database';
import type { ImportRequest } from './import-request';

/**
 * Sessions an answer may lack at either end of a closed range and still be taken as complete: a
 * provider a session or two behind, or a symbol halted for a few days at the edge. A body cut at a
 * line break loses far more (a row a session: 40 of HPQ's 2017).
 */
export const PROVIDER_EDGE_ALLOWANCE_SESSIONS = 3;

export interface ProviderAnswer {
  source: string;
  /** The symbol asked for, as stored. */
  symbol: string;
  /** When the body was fetched (ISO): which sessions it can hold. */
  fetchedAt: string;
}

/** The last NYSE session whose bar is final at `at`: today's once its close plus the margin has passed, else the one before. */
export function lastClosedSession(at: Date, marginMinutes: number): string {
  const { date } = newYorkClock(at);
  return isNyseTradingDay(date) && openSession(at, marginMinutes) === undefined ? date : previousNyseTradingDay(date);
}

const span = (days: readonly string[]): string => (days.length === 1 ? days[0] : `${days[0]}..${days[days.length - 1]}`);

/**
 * Throws when `read` (the answer's rows) is not the answer asked for (see above); returns otherwise.
 * `marginMinutes` is the session-close margin of the request's quality policy.
 */
export async function judgeProviderAnswer(store: Database, answer: ProviderAnswer, read: CsvReadResult, request: ImportRequest, marginMinutes: number): Promise<void> {
  const { from, to } = request;
  if (request.symbols && !request.symbols.includes(answer.symbol)) return;
  const inRange = (date: string | null): boolean => date !== null && (!from || date >= from) && (!to || date <= to);
  // A symbol the provider was asked for whose answer holds no row of the range asked is what "No
  // data" says, and fails the same way: before, the import was published without it, naming nothing.
  if (read.bars.length > 0 && !read.bars.some((b) => inRange(b.date)) && !read.issues.some((i) => i.date === null || inRange(i.date))) {
    const dates = read.bars.map((b) => b.date).sort();
    throw new BadInputError(`${answer.source}: the provider's answer for ${answer.symbol} holds no row of the range asked (${from ?? 'the start'}..${to ?? 'today'}): its ${plural(read.bars.length, 'row')} span ${dates[0]}..${dates[dates.length - 1]}; nothing was imported (ask again, or ask for the range it holds)`, 'PROVIDER_REJECTED');
  }
  // Rows the reader refused still show the provider sent those sessions.
  const dates = [...read.bars.map((b) => b.date), ...read.issues.map((i) => i.date)].filter((d): d is string => inRange(d)).sort();
  if (dates.length === 0) return;
  const closed = lastClosedSession(new Date(answer.fetchedAt), marginMinutes);
  const lastAsked = to === undefined ? undefined : isNyseTradingDay(to) ? to : previousNyseTradingDay(to);
  const firstAsked = from === undefined ? undefined : isNyseTradingDay(from) ? from : nextNyseTradingDay(from);
  const first = dates[0];
  const last = dates[dates.length - 1];

  // The end is held to the last session closed at the fetch when the range reaches past it (no
  // `to`, as a scheduled import asks, or a `to` later than the fetch): before, such a range was
  // not checked at its end, and a cut body lost its newest sessions silently.
  const end = lastAsked !== undefined && lastAsked <= closed ? lastAsked : closed;
  if (last < end) {
    const missing = nyseTradingDaysBetween(addDays(last, 1), end);
    if (missing.length > PROVIDER_EDGE_ALLOWANCE_SESSIONS) {
      const endNamed = end === lastAsked ? 'the last session of the range asked' : 'the last session closed when it was fetched';
      throw new ProviderError(
        `The provider's answer for ${answer.symbol} (${answer.source}) ends on ${last}, ${plural(missing.length, 'NYSE session')} before ${endNamed} (${end}): ${span(missing)} ${missing.length === 1 ? 'is' : 'are'} missing: a body cut short at a line break reads as whole rows, so this one is not imported, and nothing was; retry later. If ${answer.symbol} was delisted (or stopped trading) on ${last}, ask for the range it holds (to ${last})`,
        true,
      );
    }
  }
  if (firstAsked !== undefined && firstAsked <= closed && first > firstAsked) {
    const missing = nyseTradingDaysBetween(firstAsked, addDays(first, -1));
    if (missing.length > PROVIDER_EDGE_ALLOWANCE_SESSIONS) {
      // Before its listing a symbol has no rows to send: only a store that holds earlier bars tells a late start from one.
      const before = await storedBarsBetween(store, answer.symbol, '0000-01-01', first);
      if (before.to !== null) {
        throw new ProviderError(
          `The provider's answer for ${answer.symbol} (${answer.source}) starts on ${first}, ${plural(missing.length, 'NYSE session')} after the first session of the range asked (${firstAsked}): ${span(missing)} ${missing.length === 1 ? 'is' : 'are'} missing, and the store holds bars of ${answer.symbol} up to ${before.to}, so it was listed before; nothing was imported; retry later. If ${answer.symbol} did not trade then (a long halt, or another security under the symbol), ask for the range it holds (from ${first})`,
          true,
        );
      }
    }
  }
}
