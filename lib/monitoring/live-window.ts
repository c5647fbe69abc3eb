/**
 * The live side of the feature-drift test: the offline store's rows of a feature set for its latest
 * trading days after the training period (rows the model was fitted on are not evidence of drift),
 * of the model's own symbols when given: a feature set is materialised for a whole store, and the
 * reference profile describes only the symbols the model was trained on, so rows of other symbols
 * would dilute a shift of the model's own (or report one the model never sees).
 */
import { BadInputError } from '../errors';
import type { Database } from '../store/database';
import type { RowSigning } from '../registry/row-signature';
import { getFeatureSetColumns, readFeatureRows } from '../store/features';
import type { LiveFeatureWindow } from './drift';

export interface LiveWindowRequest {
  /** Latest trading days to take. */
  days: number;
  /** Only days strictly after this one (the reference period's last day). */
  after?: string;
  /** Only days up to this one (a replay's "today"); default: the newest stored. */
  through?: string;
  /** Only these symbols (the model's universe); undefined: every symbol of the feature set. An empty list reads nothing. */
  symbols?: readonly string[];
}

/**
 * `verify`: the keys the rows are checked with (default the store handle's): with a key a row no held
 * key vouches for refuses the whole window (UnverifiedFeatureRowsError), so no drift verdict is
 * judged on rows edited in the database.
 */
export async function readLiveFeatureWindow(store: Database, featureSetVersion: string, request: LiveWindowRequest, verify?: RowSigning): Promise<LiveFeatureWindow> {
  if (!Number.isInteger(request.days) || request.days < 1) throw new BadInputError(`the live window needs a whole number of days ≥ 1, got ${request.days}`);
  const columns = await getFeatureSetColumns(store, featureSetVersion);
  if (!columns) throw new BadInputError(`feature set ${featureSetVersion} is not in the store; run the features step for it`);
  const empty = (dates: string[]): LiveFeatureWindow => ({ columns, dates, rows: 0, values: new Float64Array(0), day: new Int32Array(0) });
  if (request.symbols !== undefined && request.symbols.length === 0) return empty([]);
  const symbols = request.symbols === undefined ? undefined : [...new Set(request.symbols)];
  let q = store.db.selectFrom('feature_rows').select('date').distinct().where('version', '=', featureSetVersion);
  // The latest days the model's own symbols have rows, not days only other symbols reached.
  if (symbols) q = q.where('symbol', 'in', symbols);
  if (request.after !== undefined) q = q.where('date', '>', request.after);
  if (request.through !== undefined) q = q.where('date', '<=', request.through);
  const dates = (await q.orderBy('date', 'desc').limit(request.days).execute()).map((r) => r.date).reverse();
  if (dates.length === 0) return empty(dates);
  const rows = await readFeatureRows(store, featureSetVersion, { from: dates[0], to: dates[dates.length - 1], ...(symbols ? { symbols } : {}) }, verify ? { verify } : {});
  const dayOf = new Map(dates.map((d, i) => [d, i]));
  const p = columns.length;
  const values = new Float64Array(rows.length * p);
  const day = new Int32Array(rows.length);
  rows.forEach((r, i) => {
    if (r.values.length !== p) throw new BadInputError(`feature row ${r.symbol} ${r.date} of ${featureSetVersion} has ${r.values.length} values for ${p} columns; rematerialise the feature set`);
    values.set(r.values, i * p);
    day[i] = dayOf.get(r.date) as number;
  });
  return { columns, dates, rows: rows.length, values, day };
}
