/**
 * Which stored feature rows are known to be stale, per symbol: from the earliest date a bar (or a
 * headline) they were computed from was revised after the features step ran. The one home of that
 * rule for everything that reads stored rows as truth: the point-in-time audit refuses a dataset
 * built from them, and the API's offline fallback and cache re-warm never serve them as current.
 */
import { isMarketFeature, type FeatureSet } from './feature-set';
import { normalisesAcrossSymbols, universeMemberOf } from './compute-features';
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
}

export async function staleRows(store: Database, set: FeatureSet, version: string): Promise<StaleRows> {
  const bySeries = await knownStaleFrom(store, version);
  const feeds = seriesFeedingEveryRow(set);
  let everyRow: string | undefined;
  if (feeds) for (const [symbol, from] of bySeries) if (feeds(symbol) && (everyRow === undefined || from < everyRow)) everyRow = from;
  return {
    bySeries,
    from(symbol) {
      const own = bySeries.get(symbol);
      if (own === undefined) return everyRow;
      return everyRow === undefined || own < everyRow ? own : everyRow;
    },
  };
}
