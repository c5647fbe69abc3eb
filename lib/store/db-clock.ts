/** The database's own clock, for times that must agree across hosts whose clocks may not. */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from './database';
import type { DatabaseSchema } from './schema';

/** Now by the database's clock, in µs since the epoch (UTC on both drivers; SQLite's counts whole ms: julianday's double cannot hold µs). */
export function dbClockMicros(driver: Database['driver']): RawBuilder<number> {
  return driver === 'mysql'
    ? sql<number>`timestampdiff(microsecond, '1970-01-01 00:00:00', utc_timestamp(6))`
    : sql<number>`cast(round((julianday('now') - 2440587.5) * 86400000) as integer) * 1000`;
}

/** Reads now by the database's clock (dbClockMicros), µs since the epoch. */
export async function readDbClockMicros(db: Kysely<DatabaseSchema>, driver: Database['driver']): Promise<number> {
  return Number((await sql<{ now: number }>`select ${dbClockMicros(driver)} as ${sql.ref('now')}`.execute(db)).rows[0].now);
}
