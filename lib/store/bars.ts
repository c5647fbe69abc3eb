import { sql } from 'kysely';
import type { Bar } from '../market-data/bar';
import type { Database } from './database';

// 7 parameters per row; 1,000 rows stays well under SQLite's and MySQL's placeholder limits.
const ROWS_PER_STATEMENT = 1000;

/**
 * Inserts bars or overwrites the stored values for the same (symbol, date): importing the same
 * data twice leaves the table exactly as after the first import, and a corrected file wins.
 */
export async function upsertBars(store: Database, bars: readonly Bar[]): Promise<void> {
  await store.db.transaction().execute(async (tx) => {
    for (let i = 0; i < bars.length; i += ROWS_PER_STATEMENT) {
      const chunk = bars.slice(i, i + ROWS_PER_STATEMENT);
      const insert = tx.insertInto('bars').values(chunk.map((b) => ({ ...b })));
      if (store.driver === 'mysql') {
        await insert
          .onDuplicateKeyUpdate({
            open: sql`values(open)`,
            high: sql`values(high)`,
            low: sql`values(low)`,
            close: sql`values(close)`,
            volume: sql`values(volume)`,
          })
          .execute();
      } else {
        await insert
          .onConflict((oc) =>
            oc.columns(['symbol', 'date']).doUpdateSet((eb) => ({
              open: eb.ref('excluded.open'),
              high: eb.ref('excluded.high'),
              low: eb.ref('excluded.low'),
              close: eb.ref('excluded.close'),
              volume: eb.ref('excluded.volume'),
            })),
          )
          .execute();
      }
    }
  });
}

export interface BarQuery {
  symbols?: readonly string[];
  from?: string;
  to?: string;
}

/** Bars ordered by symbol then date. */
export async function readBars(store: Database, query: BarQuery = {}): Promise<Bar[]> {
  let q = store.db.selectFrom('bars').selectAll();
  if (query.symbols && query.symbols.length > 0) q = q.where('symbol', 'in', [...query.symbols]);
  if (query.from) q = q.where('date', '>=', query.from);
  if (query.to) q = q.where('date', '<=', query.to);
  const rows = await q.orderBy('symbol').orderBy('date').execute();
  return rows.map((r) => ({ ...r, open: Number(r.open), high: Number(r.high), low: Number(r.low), close: Number(r.close), volume: Number(r.volume) }));
}

export async function countBars(store: Database, query: BarQuery = {}): Promise<number> {
  let q = store.db.selectFrom('bars').select((eb) => eb.fn.countAll<number>().as('n'));
  if (query.symbols && query.symbols.length > 0) q = q.where('symbol', 'in', [...query.symbols]);
  if (query.from) q = q.where('date', '>=', query.from);
  if (query.to) q = q.where('date', '<=', query.to);
  const row = await q.executeTakeFirstOrThrow();
  return Number(row.n);
}
