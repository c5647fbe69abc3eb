/**
 * Which stored feature rows are known to be stale, per symbol: from the earliest date a bar (or a
 * headline) they were computed from was revised after the features step ran. The one home of that
 * rule for everything that reads stored rows as truth: the point-in-time audit refuses a dataset
 * built from them, and the API's offline fallback and cache re-warm never serve them as current.
 */
import { isMarketFeature, type FeatureSet } from './feature-set';
import { normalisesAcrossSymbols, requiredBars, universeMemberOf } from './compute-features';
import { countNyseTradingDaysBetween } from '../calendar/nyse';
import { volatilityIndexCandidates } from '../market-data/instruments';
import { knownStaleFrom } from '../store/features';
import type { Database } from '../store/database';

/**
 * Series whose bars feed every symbol's rows of `set` (its market and cross-sectional columns: the
 * universe's members, and the volatility index the set joins); undefined when the set has no such
 * column, so a series feeds only its own rows.
 */
export function seriesFeedingEveryRow(set: FeatureSet): ((symbol: string) => boolean) | undefined {
  if (!set.features.some(isMarketFeature) && !normalisesAcrossSymbols(set)) return undefined;
  const member = universeMemberOf(set);
  const joined = new Set(set.features.flatMap((f) => (f.kind === 'volatility_index' ? volatilityIndexCandidates(f.symbol) : [])));
  return (symbol) => member(symbol) || joined.has(symbol);
}

export interface StaleRows {
  /** Each stale series and the date its own rows are stale from (knownStaleFrom). */
  bySeries: ReadonlyMap<string, string>;
  /** The date from which `symbol`'s stored rows are stale (its own mark, or one of a series feeding every row); undefined when none is known. */
  from(symbol: string): string | undefined;
  /**
   * The stale mark `symbol`'s row of `date` reads: when the revised date lies within the bars its
   * features look back (requiredBars, what the live path keeps too); undefined when it does not (a
   * correction years back, a re-adjusted distant history), so today's row is not withheld for it.
   */
  reaches(symbol: string, date: string): string | undefined;
}

export async function staleRows(store: Database, set: FeatureSet, version: string): Promise<StaleRows> {
  const bySeries = await knownStaleFrom(store, version);
  const feeds = seriesFeedingEveryRow(set);
  let everyRow: string | undefined;
  if (feeds) for (const [symbol, from] of bySeries) if (feeds(symbol) && (everyRow === undefined || from < everyRow)) everyRow = from;
  const lookback = requiredBars(set);
  const from = (symbol: string): string | undefined => {
    const own = bySeries.get(symbol);
    if (own === undefined) return everyRow;
    return everyRow === undefined || own < everyRow ? own : everyRow;
  };
  return {
    bySeries,
    from,
    reaches(symbol, date) {
      const mark = from(symbol);
      return mark !== undefined && mark <= date && countNyseTradingDaysBetween(mark, date) <= lookback ? mark : undefined;
    },
  };
}
