/**
 * Is the bar store up to date? A session's bar is due at that session's NYSE close (16:00 New
 * York, 13:00 on an early close) plus a grace period for the data to arrive; from that moment on a
 * symbol without it is stale, so the first monitoring run after it alerts. Lag is counted in
 * trading days between the newest bar and the latest session whose bar is due, so weekends,
 * holidays and the hours before a bar is due are never "stale".
 */
import { addDays, toEpochDay } from '../calendar/dates';
import { countNyseTradingDaysBetween, isNyseTradingDay, newYorkClock, nyseCloseTime, previousNyseTradingDay } from '../calendar/nyse';
import type { RefusedBarsSummary } from '../store/bar-signature';
import type { Database } from '../store/database';

export interface FreshnessOptions {
  /**
   * Sessions whose bar is due that a symbol may miss before it is stale (default 0: the latest
   * session whose bar is due must be there; its due time already includes the grace period).
   */
  maxLagDays: number;
  /** Minutes after a session's close (16:00, or the early close) before that session's bar is due (default 120). */
  graceMinutes: number;
}

export const DEFAULT_FRESHNESS_OPTIONS: FreshnessOptions = { maxLagDays: 0, graceMinutes: 120 };

const MINUTES_PER_DAY = 24 * 60;
const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * When the bar of trading day `session` is due, on the New York wall clock: its date and the
 * minutes since that date's midnight (the close plus the grace; past 1440 when the grace runs into
 * the next day). Undefined when the exchange was closed that day.
 */
export function sessionBarDue(session: string, graceMinutes = DEFAULT_FRESHNESS_OPTIONS.graceMinutes): { date: string; minutes: number } | undefined {
  const close = nyseCloseTime(session);
  return close === undefined ? undefined : { date: session, minutes: minutesOf(close) + graceMinutes };
}

/** New York wall-clock minutes since the epoch day 0 (comparable across days). */
const wallMinutes = (clock: { date: string; minutes: number }) => toEpochDay(clock.date) * MINUTES_PER_DAY + clock.minutes;

function dueBy(session: string, nowWall: number, graceMinutes: number): boolean {
  const due = sessionBarDue(session, graceMinutes);
  return due !== undefined && nowWall >= wallMinutes(due);
}

/** Whether the bar of trading day `session` is due at `now` (its close, early closes included, plus the grace). */
export function isSessionBarDue(session: string, now: Date, graceMinutes = DEFAULT_FRESHNESS_OPTIONS.graceMinutes): boolean {
  return dueBy(session, wallMinutes(newYorkClock(now)), graceMinutes);
}

/** The latest session whose bar should be in the store at `now`: the latest trading day whose close (16:00, or the early close) plus `graceMinutes` has passed. */
export function latestExpectedSession(now: Date, graceMinutes = DEFAULT_FRESHNESS_OPTIONS.graceMinutes): string {
  const clock = newYorkClock(now);
  const nowWall = wallMinutes(clock);
  let session = isNyseTradingDay(clock.date) ? clock.date : previousNyseTradingDay(clock.date);
  while (!dueBy(session, nowWall, graceMinutes)) session = previousNyseTradingDay(session);
  return session;
}

/** Trading days after `newest` up to and including `expected` (0 when newest is not older). */
export function tradingDaysBehind(newest: string, expected: string): number {
  return newest >= expected ? 0 : countNyseTradingDaysBetween(addDays(newest, 1), expected);
}

export interface SymbolLag {
  symbol: string;
  newest: string | null;
  lagDays: number | null;
}

export interface FreshnessReport {
  status: 'fresh' | 'stale' | 'unavailable';
  reason: string;
  expectedSession: string;
  symbols: number;
  staleSymbols: number;
  /** Worst lag over the symbols with bars. */
  maxLagDays: number | null;
  newestBar: string | null;
  /** The stalest symbols first, at most 20 (symbols without any bar included, lag null). */
  stalest: SymbolLag[];
  /** With MODEL_SIGNING_KEY: bars dated after a symbol's newest verified bar, not counted (the bars_unverified rule names them). */
  unverifiedBars?: RefusedBarsSummary;
}

/** Freshness of the given symbols (newest bar date per symbol; undefined: no bar at all). */
export function freshnessOf(newestBySymbol: ReadonlyMap<string, string | undefined>, now: Date, options: FreshnessOptions = DEFAULT_FRESHNESS_OPTIONS): FreshnessReport {
  const expectedSession = latestExpectedSession(now, options.graceMinutes);
  const lags: SymbolLag[] = [...newestBySymbol].map(([symbol, newest]) => ({ symbol, newest: newest ?? null, lagDays: newest === undefined ? null : tradingDaysBehind(newest, expectedSession) }));
  if (lags.length === 0) return { status: 'unavailable', reason: 'no symbols to check', expectedSession, symbols: 0, staleSymbols: 0, maxLagDays: null, newestBar: null, stalest: [] };
  const stale = lags.filter((l) => l.lagDays === null || l.lagDays > options.maxLagDays);
  stale.sort((a, b) => (b.lagDays ?? Infinity) - (a.lagDays ?? Infinity) || a.symbol.localeCompare(b.symbol));
  const known = lags.filter((l) => l.lagDays !== null) as Array<SymbolLag & { lagDays: number; newest: string }>;
  const maxLagDays = known.length > 0 ? Math.max(...known.map((l) => l.lagDays)) : null;
  const newestBar = known.length > 0 ? known.reduce((m, l) => (l.newest > m ? l.newest : m), known[0].newest) : null;
  const allowed = options.maxLagDays === 0 ? '' : ` or at most ${options.maxLagDays} trading day(s) less`;
  const due = `the latest session whose bar is due (its close + ${options.graceMinutes} min)`;
  const reason =
    stale.length === 0
      ? `all ${lags.length} symbols have the ${expectedSession} session${allowed}, ${due}`
      : `${stale.length} of ${lags.length} symbols are ${options.maxLagDays === 0 ? 'behind' : `more than ${options.maxLagDays} trading day(s) behind`} the ${expectedSession} session, ${due} (worst: ${stale[0].symbol}, ${stale[0].lagDays === null ? 'no bars' : `${stale[0].lagDays} days, newest ${stale[0].newest}`})`;
  return { status: stale.length > 0 ? 'stale' : 'fresh', reason, expectedSession, symbols: lags.length, staleSymbols: stale.length, maxLagDays, newestBar, stalest: stale.slice(0, 20) };
}

/** Newest stored bar per symbol (all symbols when none are given). */
export async function newestBarDates(store: Database, symbols?: readonly string[]): Promise<Map<string, string>> {
  let q = store.db.selectFrom('bars').select(['symbol', (eb) => eb.fn.max('date').as('newest')]);
  if (symbols && symbols.length > 0) q = q.where('symbol', 'in', [...symbols]);
  const rows = await q.groupBy('symbol').execute();
  return new Map(rows.map((r) => [r.symbol, String(r.newest)]));
}

/**
 * How far the feature rows drift is judged on trail the bars. Feature rows are materialised by the
 * training pipeline, not by the live stream: rows that stopped while the bars went on had drift
 * judged on a window long gone (and called stable) with nothing said.
 */
export interface FeatureRowsLag {
  featureSet: string;
  /** The newest feature row of the drift window (the training period's last day when it has none). */
  through: string;
  /** The newest bar of the model's symbols, and the latest session whose bar is due: the rows should reach the earlier of the two. */
  newestBar: string;
  expectedSession: string;
  /** Trading days after `through` up to that session. */
  sessionsBehind: number;
  /** How many the rows may trail it (features_stale.maxLagSessions). */
  maxLagSessions: number;
}

/** The lag of feature rows through `through` behind the bars (newest `newestBar`) at the `expectedSession`. */
export function featureRowsLag(featureSet: string, through: string, newestBar: string, expectedSession: string, maxLagSessions: number): FeatureRowsLag {
  const reachable = newestBar < expectedSession ? newestBar : expectedSession;
  return { featureSet, through, newestBar, expectedSession, sessionsBehind: tradingDaysBehind(through, reachable), maxLagSessions };
}
