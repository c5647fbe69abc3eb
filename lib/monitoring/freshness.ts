/**
 * Is the bar store up to date? The newest bar of each symbol against the latest NYSE session that
 * has closed (in New York time, with a grace period for the data to arrive), counted in trading
 * days, so weekends and holidays are never "stale".
 */
import { addDays } from '../calendar/dates';
import { countNyseTradingDaysBetween, isNyseTradingDay, newYorkClock, previousNyseTradingDay } from '../calendar/nyse';
import type { Database } from '../store/database';

export interface FreshnessOptions {
  /** Trading days a symbol may lag the latest closed session before it is stale (default 1: yesterday's bar is fine until tonight's arrives). */
  maxLagDays: number;
  /** Minutes after the 16:00 close before that session's bar is expected (default 120). */
  graceMinutes: number;
}

export const DEFAULT_FRESHNESS_OPTIONS: FreshnessOptions = { maxLagDays: 1, graceMinutes: 120 };

/** The latest session whose bar should be in the store at `now` (early closes are treated as full days: expected a little late, never early). */
export function latestExpectedSession(now: Date, graceMinutes = DEFAULT_FRESHNESS_OPTIONS.graceMinutes): string {
  const { date, minutes } = newYorkClock(now);
  if (isNyseTradingDay(date) && minutes >= 16 * 60 + graceMinutes) return date;
  return previousNyseTradingDay(date);
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
  const reason =
    stale.length === 0
      ? `all ${lags.length} symbols have the ${expectedSession} session or at most ${options.maxLagDays} trading day(s) less`
      : `${stale.length} of ${lags.length} symbols are more than ${options.maxLagDays} trading day(s) behind the ${expectedSession} session (worst: ${stale[0].symbol}, ${stale[0].lagDays === null ? 'no bars' : `${stale[0].lagDays} days, newest ${stale[0].newest}`})`;
  return { status: stale.length > 0 ? 'stale' : 'fresh', reason, expectedSession, symbols: lags.length, staleSymbols: stale.length, maxLagDays, newestBar, stalest: stale.slice(0, 20) };
}

/** Newest stored bar per symbol (all symbols when none are given). */
export async function newestBarDates(store: Database, symbols?: readonly string[]): Promise<Map<string, string>> {
  let q = store.db.selectFrom('bars').select(['symbol', (eb) => eb.fn.max('date').as('newest')]);
  if (symbols && symbols.length > 0) q = q.where('symbol', 'in', [...symbols]);
  const rows = await q.groupBy('symbol').execute();
  return new Map(rows.map((r) => [r.symbol, String(r.newest)]));
}
