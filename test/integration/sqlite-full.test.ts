/**
 * A SQLite store that runs out of room (a full disk, or the page limit here) ends the transaction
 * itself: the error that reaches the caller must be that one ("database or disk is full"), not the
 * failed ROLLBACK after it ("cannot rollback - no transaction is active"), which hid a full disk
 * behind a rollback error in every retry of an import.
 */
import { sql } from 'kysely';
import { openDatabase } from '../../lib/store/database';
import { tempDir } from '../helpers/databases';

it('reports a full SQLite store as full, and keeps nothing of the failed transaction', async () => {
  const store = await openDatabase(`sqlite:${tempDir('mlp-sqlite-full-')}/store.sqlite`);
  try {
    await sql`create table filler (x text)`.execute(store.db);
    const pages = await sql<{ page_count: number }>`pragma page_count`.execute(store.db);
    await sql.raw(`pragma max_page_count = ${pages.rows[0].page_count + 5}`).execute(store.db);
    const write = store.db.transaction().execute(async (tx) => {
      for (let i = 0; i < 200; i++) await sql`insert into filler values (${'x'.repeat(4000)})`.execute(tx);
    });
    await expect(write).rejects.toMatchObject({ code: 'SQLITE_FULL', message: expect.stringMatching(/database or disk is full/) });
    expect((await sql<{ n: number }>`select count(*) as n from filler`.execute(store.db)).rows[0].n).toBe(0);
    // The store takes writes again once there is room.
    await sql.raw('pragma max_page_count = 1073741823').execute(store.db);
    await store.db.transaction().execute(async (tx) => sql`insert into filler values ('after')`.execute(tx));
    expect((await sql<{ n: number }>`select count(*) as n from filler`.execute(store.db)).rows[0].n).toBe(1);
  } finally {
    await store.close();
  }
});
