import type { Bar } from '../../lib/market-data/bar';
import { readBars, upsertBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { writeLiveBars, type LiveBarWrite, type LiveWriteOptions } from '../../lib/streaming/live-bar-store';
import { createSqliteTestDatabase, DRIVERS, type TestDatabase } from '../helpers/databases';

const bar = (symbol: string, date: string, close: number): Bar => ({ symbol, date, open: close, high: close + 1, low: close - 1, close, volume: 100 });
const STREAM = 'stream:test';

/**
 * writeLiveBars on each driver, and on SQLite also through a Kysely transaction (taken when one is
 * already open on the connection, e.g. a materialisation in the same process).
 */
const PATHS: Array<[string, () => Promise<TestDatabase>, boolean]> = [...DRIVERS.map(([name, create]): [string, () => Promise<TestDatabase>, boolean] => [name, create, false]), ['sqlite through a Kysely transaction', createSqliteTestDatabase, true]];

describe.each(PATHS)('writeLiveBars on %s', (_name, create, viaKysely) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  /** Runs the write; with viaKysely while another transaction holds the SQLite connection, so the write queues behind it. */
  async function write(store: Database, items: LiveBarWrite[], options: Omit<LiveWriteOptions, 'stream'>) {
    if (!viaKysely) return writeLiveBars(store, items, { stream: STREAM, ...options });
    let result: ReturnType<typeof writeLiveBars> | undefined;
    await store.db.transaction().execute(async (tx) => {
      await tx.selectFrom('bars').select('symbol').limit(1).execute();
      expect(store.sqlite?.inTransaction).toBe(true);
      result = writeLiveBars(store, items, { stream: STREAM, ...options });
    });
    return result as ReturnType<typeof writeLiveBars>;
  }

  it('skips bars a newer recorded entry wrote, logs revisions with their old values and marks feature rows stale', async () => {
    await upsertBars(t.store, [bar('AAA', '2024-05-01', 10), bar('BBB', '2024-05-01', 20)]);
    await t.store.db.insertInto('feature_progress').values({ version: 'v1', symbol: 'AAA', through: '2024-05-01', bars: 1, stale_from: null, updated_at: '2024-05-02T00:00:00.000Z' }).execute();

    // A newer entry corrects AAA and records itself (an older one is pending somewhere).
    const newer = await write(t.store, [{ bar: bar('AAA', '2024-05-01', 11), entryId: '1700000000005-0', change: 'revised' }], { contiguous: true, record: true });
    expect(newer).toEqual(['revised']);
    // The older entries come back (a claimed batch): AAA is held by the newer entry, BBB and CCC are not.
    const older = await write(
      t.store,
      [
        { bar: bar('AAA', '2024-05-01', 12), entryId: '1700000000001-0', change: 'revised' },
        { bar: bar('BBB', '2024-05-01', 21), entryId: '1700000000002-0', change: 'revised' },
        { bar: bar('CCC', '2024-05-01', 30), entryId: '1700000000003-0', change: 'new' },
      ],
      { contiguous: false, record: true },
    );
    expect(older).toEqual(['superseded', 'revised', 'added']);
    expect((await readBars(t.store)).map((b) => [b.symbol, b.close])).toEqual([
      ['AAA', 11],
      ['BBB', 21],
      ['CCC', 30],
    ]);
    const revisions = await t.store.db.selectFrom('bar_revisions').select(['snapshot_id', 'symbol', 'old_close', 'new_close']).orderBy('symbol').execute();
    expect(revisions.map((r) => [r.snapshot_id, r.symbol, Number(r.old_close), Number(r.new_close)])).toEqual([
      [`${STREAM}@1700000000005-0`, 'AAA', 10, 11],
      [`${STREAM}@1700000000002-0`, 'BBB', 20, 21],
    ]);
    const progress = await t.store.db.selectFrom('feature_progress').selectAll().where('symbol', '=', 'AAA').executeTakeFirstOrThrow();
    expect(progress.stale_from).toBe('2024-05-01');
    expect(progress.updated_at).not.toBe('2024-05-02T00:00:00.000Z');

    // A repeat of stored values changes nothing.
    expect(await write(t.store, [{ bar: bar('BBB', '2024-05-01', 21), entryId: '1700000000009-0', change: 'revised' }], { contiguous: true, record: false })).toEqual(['unchanged']);
    expect(await write(t.store, [{ bar: bar('AAA', '2024-05-01', 11), entryId: '1700000000010-0', change: 'duplicate' }], { contiguous: true, record: true })).toEqual(['unchanged']);
    // Unrecorded entries are checked all the same: a newer recorded one still holds AAA.
    expect(await write(t.store, [{ bar: bar('AAA', '2024-05-01', 13), entryId: '1700000000008-0', change: 'revised' }], { contiguous: false, record: false })).toEqual(['superseded']);
    expect(await write(t.store, [{ bar: bar('AAA', '2024-05-01', 14), entryId: '1700000000011-0', change: 'revised' }], { contiguous: true, record: false })).toEqual(['revised']);
    expect((await readBars(t.store, { symbols: ['AAA'] }))[0].close).toBe(14);
    // A bar the consumer's window did not hold but the store did (an import's, or another consumer's
    // written after this one loaded its window): found on every path, and its revision logged.
    expect(await write(t.store, [{ bar: bar('CCC', '2024-05-01', 31), entryId: '1700000000012-0', change: 'new' }], { contiguous: true, record: false })).toEqual(['revised']);
    expect((await readBars(t.store, { symbols: ['CCC'] }))[0].close).toBe(31);
  });

  it('bars the window did not hold: all new ones are added in one go; when any is stored already, that one is logged as a revision and the rest still added', async () => {
    await upsertBars(t.store, [bar('BBB', '2024-05-02', 20), bar('DDD', '2024-05-02', 40)]);
    await t.store.db.insertInto('feature_progress').values({ version: 'v1', symbol: 'BBB', through: '2024-05-02', bars: 1, stale_from: null, updated_at: '2024-05-03T00:00:00.000Z' }).execute();
    const fresh = (symbol: string, close: number, seq: number): LiveBarWrite => ({ bar: bar(symbol, '2024-05-02', close), entryId: `1700000000100-${seq}`, change: 'new' });
    expect(await write(t.store, [fresh('AAA', 10, 0), fresh('CCC', 30, 1)], { contiguous: true, record: false })).toEqual(['added', 'added']);
    // BBB was published by an import after the window was loaded; DDD too, with the same values.
    expect(await write(t.store, [fresh('AAA', 10, 2), fresh('BBB', 21, 3), fresh('DDD', 40, 4), fresh('EEE', 50, 5)], { contiguous: true, record: false })).toEqual(['unchanged', 'revised', 'unchanged', 'added']);
    expect((await readBars(t.store)).map((b) => [b.symbol, b.close])).toEqual([
      ['AAA', 10],
      ['BBB', 21],
      ['CCC', 30],
      ['DDD', 40],
      ['EEE', 50],
    ]);
    const revisions = await t.store.db.selectFrom('bar_revisions').select(['snapshot_id', 'symbol', 'old_close', 'new_close']).execute();
    expect(revisions.map((r) => [r.snapshot_id, r.symbol, Number(r.old_close), Number(r.new_close)])).toEqual([[`${STREAM}@1700000000100-3`, 'BBB', 20, 21]]);
    expect((await t.store.db.selectFrom('feature_progress').select('stale_from').where('symbol', '=', 'BBB').executeTakeFirstOrThrow()).stale_from).toBe('2024-05-02');
  });

  it('a bar older by event_time than the stored version is stale and changes nothing; equal or newer times revise; versions without a time (upsertBars, messages without one) are revised in stream order', async () => {
    await t.store.db.insertInto('feature_progress').values({ version: 'v1', symbol: 'AAA', through: '2024-05-01', bars: 1, stale_from: null, updated_at: '2024-05-02T00:00:00.000Z' }).execute();
    const T = (hh: string) => `2024-05-01T${hh}:00:00.000Z`;
    const live = (close: number, seq: number, change: LiveBarWrite['change'], eventTime?: string): LiveBarWrite => ({ bar: bar('AAA', '2024-05-01', close), entryId: `1700000000200-${seq}`, change, eventTime });
    const stored = async () => {
      const row = await t.store.db.selectFrom('bars').select(['close', 'event_time']).where('symbol', '=', 'AAA').executeTakeFirstOrThrow();
      return [Number(row.close), row.event_time];
    };
    const revisions = async () => (await t.store.db.selectFrom('bar_revisions').select(['old_close', 'new_close']).orderBy('snapshot_id').execute()).map((r) => [Number(r.old_close), Number(r.new_close)]);
    const opts = { contiguous: true, record: false };
    expect(await write(t.store, [live(10, 0, 'new', T('20'))], opts)).toEqual(['added']);
    expect(await write(t.store, [live(11, 1, 'revised', T('22'))], opts)).toEqual(['revised']);
    const progress = await t.store.db.selectFrom('feature_progress').selectAll().execute();
    // The first message again, appended later: older by event_time (the window held Y, or did not).
    expect(await write(t.store, [live(10, 2, 'revised', T('20'))], opts)).toEqual(['stale']);
    expect(await write(t.store, [live(10, 3, 'new', T('21'))], opts)).toEqual(['stale']);
    expect(await stored()).toEqual([11, T('22')]);
    expect(await revisions()).toEqual([[10, 11]]);
    expect(await t.store.db.selectFrom('feature_progress').selectAll().execute()).toEqual(progress);
    // Equal time, other values: the later entry wins; a newer one revises.
    expect(await write(t.store, [live(12, 4, 'revised', T('22'))], opts)).toEqual(['revised']);
    expect(await write(t.store, [live(13, 5, 'revised', T('23'))], opts)).toEqual(['revised']);
    expect(await stored()).toEqual([13, T('23')]);
    // A message without event_time revises in stream order, and its version has no time.
    expect(await write(t.store, [live(14, 6, 'revised')], opts)).toEqual(['revised']);
    expect(await stored()).toEqual([14, null]);
    expect(await write(t.store, [live(15, 7, 'revised', T('21'))], opts)).toEqual(['revised']);
    expect(await stored()).toEqual([15, T('21')]);
    // A version upsertBars wrote has no time: any live bar may revise it (an import's publish has one: stream-live-revisions.test.ts).
    await upsertBars(t.store, [bar('AAA', '2024-05-01', 16)]);
    expect(await stored()).toEqual([16, null]);
    expect(await write(t.store, [live(17, 8, 'revised', T('20'))], opts)).toEqual(['revised']);
    expect(await stored()).toEqual([17, T('20')]);
    expect(await revisions()).toEqual([
      [10, 11],
      [11, 12],
      [12, 13],
      [13, 14],
      [14, 15],
      [16, 17],
    ]);

    // Held by a newer entry (live_bar_sources): stream order, unless newer by event_time than the
    // stored version. Y's write failed; X replayed (a newer entry) was stored; Y comes back.
    const held = (close: number, seq: number, change: LiveBarWrite['change'], eventTime?: string): LiveBarWrite => ({ bar: bar('BBB', '2024-05-01', close), entryId: `1700000000300-${seq}`, change, eventTime });
    expect(await write(t.store, [held(20, 32, 'new', T('20'))], { contiguous: true, record: true })).toEqual(['added']);
    expect(await write(t.store, [held(21, 31, 'new', T('22'))], { contiguous: false, record: true })).toEqual(['revised']);
    expect(await write(t.store, [held(19, 29, 'revised', T('19'))], { contiguous: false, record: true })).toEqual(['superseded']);
    expect(await write(t.store, [held(23, 28, 'revised')], { contiguous: false, record: true })).toEqual(['superseded']);
    expect((await readBars(t.store, { symbols: ['BBB'] }))[0].close).toBe(21);
  });

  it('a repeat of the stored values changes nothing, its time included (a version without one keeps none), so a message produced before the repeat but after the stored version still revises it', async () => {
    await t.store.db.insertInto('feature_progress').values({ version: 'v1', symbol: 'AAA', through: '2024-05-01', bars: 1, stale_from: null, updated_at: '2024-05-02T00:00:00.000Z' }).execute();
    const T = (hh: string) => `2024-05-01T${hh}:00:00.000Z`;
    const live = (close: number, seq: number, change: LiveBarWrite['change'], eventTime?: string): LiveBarWrite => ({ bar: bar('AAA', '2024-05-01', close), entryId: `1700000000400-${seq}`, change, eventTime });
    const stored = async () => {
      const row = await t.store.db.selectFrom('bars').select(['close', 'event_time']).where('symbol', '=', 'AAA').executeTakeFirstOrThrow();
      return [Number(row.close), row.event_time];
    };
    const opts = { contiguous: true, record: false };
    expect(await write(t.store, [live(10, 0, 'new', T('20'))], opts)).toEqual(['added']);
    // X re-sent at 23:00 (as the window holds it and as a bar the window did not hold), earlier, and without a time.
    expect(await write(t.store, [live(10, 1, 'duplicate', T('23'))], opts)).toEqual(['unchanged']);
    expect(await write(t.store, [live(10, 2, 'revised', T('23'))], opts)).toEqual(['unchanged']);
    expect(await write(t.store, [live(10, 3, 'duplicate', T('19'))], opts)).toEqual(['unchanged']);
    expect(await write(t.store, [live(10, 4, 'duplicate')], opts)).toEqual(['unchanged']);
    expect(await stored()).toEqual([10, T('20')]);
    // Y produced at 19:00, before X: stale.
    expect(await write(t.store, [live(11, 5, 'revised', T('19'))], opts)).toEqual(['stale']);
    expect(await t.store.db.selectFrom('bar_revisions').selectAll().execute()).toEqual([]);
    // Y produced at 22:00, after X and before its repeat: the repeat made X no newer, Y revises it.
    expect(await write(t.store, [live(11, 6, 'revised', T('22'))], opts)).toEqual(['revised']);
    expect(await stored()).toEqual([11, T('22')]);
    expect((await t.store.db.selectFrom('bar_revisions').select(['old_close', 'new_close']).execute()).map((r) => [Number(r.old_close), Number(r.new_close)])).toEqual([[10, 11]]);
    // A version without a time (upsertBars) repeated live keeps none.
    await upsertBars(t.store, [bar('AAA', '2024-05-01', 12)]);
    expect(await write(t.store, [live(12, 7, 'new', T('21'))], opts)).toEqual(['unchanged']);
    expect(await write(t.store, [live(12, 8, 'duplicate', T('21'))], opts)).toEqual(['unchanged']);
    expect(await stored()).toEqual([12, null]);
  });

  it('records nothing when asked not to (no older entry pending)', async () => {
    const out = await write(t.store, [{ bar: bar('AAA', '2024-05-01', 10), entryId: '1700000000001-0', change: 'new' }], { contiguous: true, record: false });
    expect(out).toEqual(['added']);
    expect(await t.store.db.selectFrom('live_bar_sources').selectAll().execute()).toEqual([]);
    expect(await t.store.db.selectFrom('bar_revisions').selectAll().execute()).toEqual([]);
  });
});
