/**
 * The live side of the feature-drift test: the offline store's rows of a feature set for its latest
 * trading days after the training period (rows the model was fitted on are not evidence of drift).
 */
import { BadInputError } from '../errors';
import type { Database } from '../store/database';
import { getFeatureSetColumns, readFeatureRows } from '../store/features';
import type { LiveFeatureWindow } from './drift';

export interface LiveWindowRequest {
  /** Latest trading days to take. */
  days: number;
  /** Only days strictly after this one (the reference period's last day). */
  after?: string;
  /** Only days up to this one (a replay's "today"); default: the newest stored. */
  through?: string;
}

export async function readLiveFeatureWindow(store: Database, featureSetVersion: string, request: LiveWindowRequest): Promise<LiveFeatureWindow> {
  if (!Number.isInteger(request.days) || request.days < 1) throw new BadInputError(`the live window needs a whole number of days ≥ 1, got ${request.days}`);
  const columns = await getFeatureSetColumns(store, featureSetVersion);
  if (!columns) throw new BadInputError(`feature set ${featureSetVersion} is not in the store; run the features step for it`);
  let q = store.db.selectFrom('feature_rows').select('date').distinct().where('version', '=', featureSetVersion);
  if (request.after !== undefined) q = q.where('date', '>', request.after);
  if (request.through !== undefined) q = q.where('date', '<=', request.through);
  const dates = (await q.orderBy('date', 'desc').limit(request.days).execute()).map((r) => r.date).reverse();
  if (dates.length === 0) return { columns, dates, rows: 0, values: new Float64Array(0), day: new Int32Array(0) };
  const rows = await readFeatureRows(store, featureSetVersion, { from: dates[0], to: dates[dates.length - 1] });
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
