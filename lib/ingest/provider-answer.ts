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
 *   A delisted symbol's answer ends early by right: declared (`delisted` in an import request,
 *   recorded with its snapshot for later imports), it is held to its last session instead; an
 *   undeclared early end stays an error, since only the declaration tells a delisting from a cut.
 *   The provider's "No data" for a range wholly after the declared last session is the answer
 *   expected: the symbol is skipped (judgeNoDataAnswer); for any other range it stays final.
 * - An answer that starts late is one the same way, when the store holds a bar of the symbol before
 *   the answer's first row (it was listed by then); otherwise the first row is taken for its listing.
 * - An answer that holds a price header and no rows (judgeEmptyProviderAnswer) is what vendors send
 *   during outages and throttling as well as for an empty range: it is a retryable provider error
 *   naming the sessions when the range asked holds NYSE sessions closed at the fetch, and a clean
 *   empty answer when it holds none (a weekend, a holiday, a session not closed yet). Before, it
 *   failed the import as an unreadable file, which is final.
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
  /** The symbol's last session, when it was declared delisted (`delisted`): the answer need not reach past it. */
  lastSession?: string;
}

/** The last NYSE session whose bar is final at `at`: today's once its close plus the margin has passed, else the one before. */
export function lastClosedSession(at: Date, marginMinutes: number): string {
  const { date } = newYorkClock(at);
  return isNyseTradingDay(date) && openSession(at, marginMinutes) === undefined ? date : previousNyseTradingDay(date);
}

const span = (days: readonly string[]): string => (days.length === 1 ? days[0] : `${days[0]}..${days[days.length - 1]}`);

/**
 * The last session an answer must reach: the last of the range asked, or the last closed when it was
 * fetched when that is earlier (a range reaching past the fetch), or the symbol's declared last
 * session when that is earlier still.
 */
function endHeldTo(answer: ProviderAnswer, lastAsked: string | undefined, marginMinutes: number): string {
  const closed = lastClosedSession(new Date(answer.fetchedAt), marginMinutes);
  const end = lastAsked !== undefined && lastAsked <= closed ? lastAsked : closed;
  return answer.lastSession !== undefined && answer.lastSession < end ? answer.lastSession : end;
}

/** The first and last NYSE sessions of the range asked (undefined: that end is open). */
function sessionsAsked(request: Pick<ImportRequest, 'from' | 'to'>): { firstAsked?: string; lastAsked?: string } {
  const { from, to } = request;
  return {
    firstAsked: from === undefined ? undefined : isNyseTradingDay(from) ? from : nextNyseTradingDay(from),
    lastAsked: to === undefined ? undefined : isNyseTradingDay(to) ? to : previousNyseTradingDay(to),
  };
}

/**
 * Judges an answer that holds a price header and no rows. Throws a retryable ProviderError naming
 * the sessions when the range asked holds NYSE sessions closed when it was fetched; returns why the
 * answer is empty by right otherwise (recorded with the snapshot, lib/ingest/import-bars.ts).
 */
export function judgeEmptyProviderAnswer(answer: ProviderAnswer, request: ImportRequest, marginMinutes: number): string {
  if (request.symbols && !request.symbols.includes(answer.symbol)) return `the provider's answer for ${answer.symbol} holds a price header and no rows, and ${answer.symbol} is not among the symbols kept`;
  const { firstAsked, lastAsked } = sessionsAsked(request);
  const end = endHeldTo(answer, lastAsked, marginMinutes);
  const asked = `${request.from ?? 'the start'}..${request.to ?? 'today'}`;
  const fetched = `as of its fetch (${answer.fetchedAt})`;
  const retry = `vendors answer so during outages and throttling as well as for a range without sessions, so it is not taken for an empty range, and nothing was imported; retry later. If ${answer.symbol} did not trade then, ask for a range it traded in`;
  if (firstAsked === undefined) {
    throw new ProviderError(`The provider's answer for ${answer.symbol} (${answer.source}) holds a price header and no rows, but the range asked holds closed NYSE sessions up to ${end} (no "from": every session before it) ${fetched}: ${retry}`, true);
  }
  const sessions = firstAsked <= end ? nyseTradingDaysBetween(firstAsked, end) : [];
  if (sessions.length > 0) {
    throw new ProviderError(
      `The provider's answer for ${answer.symbol} (${answer.source}) holds a price header and no rows, but the range asked holds ${plural(sessions.length, 'closed NYSE session')} (${span(sessions)}) ${fetched}: ${retry}`,
      true,
    );
  }
  const delisted = answer.lastSession !== undefined && answer.lastSession === end ? ` or before ${answer.symbol}'s declared last session (${answer.lastSession})` : '';
  return `the provider's answer for ${answer.symbol} holds a price header and no rows, and the range asked (${asked}) holds no NYSE session closed when it was fetched (${answer.fetchedAt})${delisted}`;
}

/** Bars of a symbol stored in a span of dates (lib/store/bars.ts, storedBarsBetween). */
export interface StoredSpan {
  count: number;
  from: string | null;
  to: string | null;
}

/**
 * Judges a provider's answer that it holds nothing for the symbol in the range asked (Stooq's "No
 * data", `ProviderNoDataError`). For a range wholly after the symbol's declared last session
 * (`delisted`) that is the answer expected: returns why the answer is empty by right, and the symbol
 * is skipped (nothing stored, the import's other symbols as they are). Otherwise it is what an
 * unknown symbol gets: throws the final `PROVIDER_REJECTED` error naming the provider's message and,
 * for a declared symbol, that the range reaches its trading days. Before, a declared delisting was
 * not looked at, and the import of every symbol failed.
 */
export function judgeNoDataAnswer(answer: ProviderAnswer, request: ImportRequest, providerMessage: string, storedAfter?: StoredSpan): string {
  const { firstAsked } = sessionsAsked(request);
  const asked = `${request.from ?? 'the start'}..${request.to ?? 'today'}`;
  const { symbol, lastSession } = answer;
  // Nothing of it would be kept, as a header-only answer for it is judged.
  if (request.symbols && !request.symbols.includes(symbol)) return `the provider has no data for ${symbol} in the range asked (${asked}), and ${symbol} is not among the symbols kept: skipped, nothing stored`;
  if (lastSession !== undefined && storedAfter !== undefined && storedAfter.count > 0) {
    // The store contradicts the declaration (a ticker still trading, or reused): "No data" is then
    // an answer missing, not one expected, and skipping it would let the symbol stop updating unseen.
    throw new BadInputError(
      `${providerMessage}; ${symbol} is declared delisted after ${lastSession}, but the store holds ${plural(storedAfter.count, 'bar')} of ${symbol} after that session (${storedAfter.from}..${storedAfter.to}), so the declaration does not hold and the answer is not empty by right; nothing was imported. Correct its declared last session ("delisted"), or retry later`,
      'PROVIDER_REJECTED',
    );
  }
  if (lastSession !== undefined && firstAsked !== undefined && firstAsked > lastSession) {
    return `the provider has no data for ${symbol} in the range asked (${asked}), which lies wholly after its declared last session (${lastSession}, "delisted"): skipped, nothing stored`;
  }
  const why =
    lastSession !== undefined
      ? `; ${symbol} is declared delisted after ${lastSession}, but the range asked (${asked}) starts ${firstAsked === undefined ? 'at the start of its history' : `on ${firstAsked}`}, on or before that session, so it is not empty by right; nothing was imported. If ${symbol} stopped trading before ${firstAsked ?? 'that'}, correct its declared last session ("delisted"), or ask from after ${lastSession}`
      : request.from !== undefined
        ? `; nothing was imported. If ${symbol} was delisted before ${request.from}, declare its last session in the import request ("delisted": {"${symbol}": "YYYY-MM-DD"}, kept for later imports) and a range after it is skipped`
        : '; nothing was imported';
  throw new BadInputError(`${providerMessage}${why}`, 'PROVIDER_REJECTED');
}

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
  const { firstAsked, lastAsked } = sessionsAsked(request);
  const first = dates[0];
  const last = dates[dates.length - 1];

  // The end is held to the last session closed at the fetch when the range reaches past it (no
  // `to`, as a scheduled import asks, or a `to` later than the fetch): before, such a range was
  // not checked at its end, and a cut body lost its newest sessions silently. A symbol declared
  // delisted is held to its last session instead: only a declaration tells a delisting from a cut.
  const end = endHeldTo(answer, lastAsked, marginMinutes);
  if (last < end) {
    const missing = nyseTradingDaysBetween(addDays(last, 1), end);
    if (missing.length > PROVIDER_EDGE_ALLOWANCE_SESSIONS) {
      const endNamed = end === answer.lastSession ? `the last session declared for ${answer.symbol} ("delisted")` : end === lastAsked ? 'the last session of the range asked' : 'the last session closed when it was fetched';
      const advice =
        end === answer.lastSession
          ? `If ${answer.symbol} stopped trading on ${last}, correct its declared last session ("delisted": {"${answer.symbol}": "${last}"})`
          : `If ${answer.symbol} was delisted (or stopped trading) on ${last}, declare it in the import request ("delisted": {"${answer.symbol}": "${last}"}, kept for later imports), or ask for the range it holds (to ${last})`;
      throw new ProviderError(
        `The provider's answer for ${answer.symbol} (${answer.source}) ends on ${last}, ${plural(missing.length, 'NYSE session')} before ${endNamed} (${end}): ${span(missing)} ${missing.length === 1 ? 'is' : 'are'} missing: a body cut short at a line break reads as whole rows, so this one is not imported, and nothing was; retry later. ${advice}`,
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
