/**
 * A SQLite store opened with sqliteLockWaitMs (the API's) waits for another process's write lock in
 * timers: the event loop keeps running meanwhile, and past the wait the statement fails with
 * StoreBusyError naming the store. SQLite's own busy wait blocked the thread for its 10 s: every
 * request of the API process froze behind one admin write.
 */
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { openDatabase, StoreBusyError, type Database } from '../../lib/store/database';
import { createSqliteTestDatabase, type TestDatabase } from '../helpers/databases';

jest.setTimeout(60_000);

/** Runs `work` while a 10 ms timer ticks; returns its outcome and the longest gap between ticks (ms). */
async function whileTicking<T>(work: () => Promise<T>): Promise<{ outcome: PromiseSettledResult<T>; longestGapMs: number; ms: number }> {
  let last = Date.now();
  let longestGapMs = 0;
  const timer = setInterval(() => {
    const now = Date.now();
    longestGapMs = Math.max(longestGapMs, now - last);
    last = now;
  }, 10);
  const started = Date.now();
  const [outcome] = await Promise.allSettled([work()]);
  const ms = Date.now() - started;
  clearInterval(timer);
  return { outcome, longestGapMs: Math.max(longestGapMs, Date.now() - last), ms };
}

describe('a SQLite store waiting for another connection\'s write lock', () => {
  let t: TestDatabase;
  let store: Database;
  let other: BetterSqlite3.Database;
  const file = () => t.url.slice('sqlite:'.length);
  const count = async () => Number((await sql<{ n: number }>`select count(*) as n from lock_probe`.execute(store.db)).rows[0].n);

  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    // A wait long enough that a thread held through it (a gap of the whole wait) stands far above a loaded machine's own pauses.
    store = await openDatabase(t.url, { sqliteLockWaitMs: 2000 });
    await sql`create table lock_probe (x integer)`.execute(store.db);
    other = new BetterSqlite3(file());
  });
  afterAll(async () => {
    if (other?.inTransaction) other.exec('rollback');
    other?.close();
    await store?.close();
    await t?.drop();
  });

  it('opens the migrated store at once while another connection holds the write lock (migrations are checked without it)', async () => {
    // Applying migrations takes the write lock (one IMMEDIATE transaction); a store with nothing
    // pending must not wait for it: every CLI command, API and worker start waited up to ~130 s
    // behind a long import's publish, then failed "Could not prepare the database".
    other.exec('begin immediate');
    try {
      const started = Date.now();
      const again = await openDatabase(t.url, { existing: { namedBy: 'test' }, sqliteLockWaitMs: 500 });
      expect(Date.now() - started).toBeLessThan(3000);
      await again.close();
    } finally {
      other.exec('rollback');
    }
  });
  it('fails a transaction and a statement of its own with StoreBusyError after its wait, without blocking the event loop', async () => {
    other.exec('begin exclusive');
    try {
      for (const write of [
        () => store.db.transaction().execute((tx) => sql`insert into lock_probe values (1)`.execute(tx)),
        () => sql`insert into lock_probe values (2)`.execute(store.db),
      ]) {
        const { outcome, longestGapMs, ms } = await whileTicking(write);
        expect(outcome.status).toBe('rejected');
        const error = (outcome as PromiseRejectedResult).reason as Error;
        expect(error).toBeInstanceOf(StoreBusyError);
        expect(error.message).toMatch(new RegExp(`^the store sqlite:${file().replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is locked: another connection holds its write lock \\(waited \\d+ ms for it\\); nothing was written$`));
        expect(ms).toBeGreaterThanOrEqual(1990);
        expect(ms).toBeLessThan(8000);
        // SQLite's busy wait held the thread for the whole wait; timers now run throughout it (under half of it: a busy CI machine pauses 300 ms).
        expect(longestGapMs).toBeLessThan(1000);
      }
      // Reads are not held up by the lock (WAL), nor by the write waiting for it: it lends the connection meanwhile.
      const waiting = store.db.transaction().execute((tx) => sql`insert into lock_probe values (1)`.execute(tx)).catch((error: unknown) => error);
      await new Promise((r) => setTimeout(r, 50));
      const readAt = Date.now();
      expect(await count()).toBe(0);
      expect(Date.now() - readAt).toBeLessThan(1000);
      expect(await waiting).toBeInstanceOf(StoreBusyError);
      expect(await count()).toBe(0);
    } finally {
      other.exec('rollback');
    }
  });

  it('writes once the lock is released within its wait', async () => {
    other.exec('begin exclusive');
    setTimeout(() => other.exec('rollback'), 150);
    const { outcome, longestGapMs } = await whileTicking(() => store.db.transaction().execute((tx) => sql`insert into lock_probe values (3)`.execute(tx)));
    expect(outcome.status).toBe('fulfilled');
    expect(longestGapMs).toBeLessThan(1000);
    expect(await count()).toBe(1);
  });
});
