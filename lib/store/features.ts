import type { FeatureSet } from '../features/feature-set';
import type { Database } from './database';

const ROWS_PER_STATEMENT = 1000;

export interface FeatureRow {
  symbol: string;
  date: string;
  values: Float64Array;
}

/** Packs values as little-endian float64 whatever the host, so both drivers store identical bytes. */
export function packValues(values: Float64Array): Buffer {
  const buf = Buffer.allocUnsafe(values.length * 8);
  for (let i = 0; i < values.length; i++) buf.writeDoubleLE(values[i], i * 8);
  return buf;
}

export function unpackValues(bytes: Uint8Array): Float64Array {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(buf.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = buf.readDoubleLE(i * 8);
  return out;
}

/** Registers a feature-set version once (definitions are immutable under their version). */
export async function saveFeatureSet(store: Database, set: FeatureSet, columns: readonly string[]): Promise<void> {
  const { version, ...definition } = set;
  await store.db
    .insertInto('feature_sets')
    .ignore()
    .values({ version, name: set.name, definition: JSON.stringify(definition), columns: JSON.stringify(columns), created_at: new Date().toISOString() })
    .execute();
}

export async function getFeatureSetColumns(store: Database, version: string): Promise<string[] | undefined> {
  const row = await store.db.selectFrom('feature_sets').select('columns').where('version', '=', version).executeTakeFirst();
  return row ? (JSON.parse(row.columns) as string[]) : undefined;
}

/** Last materialised date per symbol for a version (symbols without rows are absent). */
export async function lastFeatureDates(store: Database, version: string): Promise<Map<string, string>> {
  const rows = await store.db
    .selectFrom('feature_rows')
    .select(['symbol', (eb) => eb.fn.max('date').as('last')])
    .where('version', '=', version)
    .groupBy('symbol')
    .execute();
  return new Map(rows.map((r) => [r.symbol, String(r.last)]));
}

/** Appends rows; a row already stored for (version, symbol, date) is kept as it was. */
export async function writeFeatureRows(store: Database, version: string, rows: readonly FeatureRow[]): Promise<void> {
  if (rows.length === 0) return;
  await store.db.transaction().execute(async (tx) => {
    for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
      const chunk = rows.slice(i, i + ROWS_PER_STATEMENT).map((r) => ({ version, symbol: r.symbol, date: r.date, vals: packValues(r.values) }));
      await tx.insertInto('feature_rows').ignore().values(chunk).execute();
    }
  });
}

export interface FeatureRowQuery {
  symbols?: readonly string[];
  from?: string;
  to?: string;
}

/** Rows ordered by symbol then date. */
export async function readFeatureRows(store: Database, version: string, query: FeatureRowQuery = {}): Promise<FeatureRow[]> {
  let q = store.db.selectFrom('feature_rows').select(['symbol', 'date', 'vals']).where('version', '=', version);
  if (query.symbols && query.symbols.length > 0) q = q.where('symbol', 'in', [...query.symbols]);
  if (query.from) q = q.where('date', '>=', query.from);
  if (query.to) q = q.where('date', '<=', query.to);
  const rows = await q.orderBy('symbol').orderBy('date').execute();
  return rows.map((r) => ({ symbol: r.symbol, date: r.date, values: unpackValues(r.vals) }));
}
