import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import type { Bar } from '../../lib/market-data/bar';
import type { QualityReport } from '../../lib/quality/report';
import { readBars, readBarSeries, upsertBars } from '../../lib/store/bars';
import { openDatabase, type Database } from '../../lib/store/database';
import { setSnapshotStatus } from '../../lib/store/snapshots';
import { beginStaging, finishStaging, publishSnapshot, stageChunk } from '../../lib/store/staging';
import { DRIVERS, type TestDatabase } from '../helpers/databases';

/**
 * Publishes that run at the same time (two workers, or two activities of one worker) and readers
 * running beside a publish. On MariaDB each publish read the stored bars with a plain consistent
 * read, so two publishes of the same bars both logged "old = the value before either" and the
 * revision log lost a step; on SQLite readBarSeries read through the raw handle inside another
 * task's open transaction and saw bars that were then rolled back.
 */
const DAYS = nyseTradingDaysBetween('2015-01-02', '2016-12-30').slice(0, 250);
const SYMBOLS = ['CA', 'CB', 'CC', 'CD'];

function version(scale: number): Bar[] {
  return SYMBOLS.flatMap((symbol, s) =>
    DAYS.map((date, i) => {
      const close = (20 + s + Math.sin(i / 9)) * scale;
      return { symbol, date, open: close * 0.995, high: close * 1.01, low: close * 0.985, close, volume: 1000 + i };
    }),
  );
}

/** Stages `bars` as snapshot `id` in two chunks (two symbols each) and passes it, ready to publish. */
async function stagePassed(store: Database, id: string, bars: readonly Bar[]): Promise<void> {
  const staging = await beginStaging(store, { id, contentHash: id, source: { kind: 'test' } });
  const half = bars.length / 2;
  await stageChunk(store, id, staging.token, 0, bars.slice(0, half), {} as QualityReport);
  await stageChunk(store, id, staging.token, 1, bars.slice(half), {} as QualityReport);
  await finishStaging(store, id, staging.token, { source: { kind: 'test' }, symbols: SYMBOLS, firstDate: DAYS[0], lastDate: DAYS[DAYS.length - 1], rowsRead: bars.length, rowCount: bars.length, rejectedCount: 0, flaggedCount: 0, qualityReport: {} as QualityReport });
  await setSnapshotStatus(store, id, 'passed', null);
}

const keyOf = (b: { symbol: string; date: string }) => `${b.symbol} ${b.date}`;

describe.each(DRIVERS)('concurrent publishes and readers on %s', (_driver, create) => {
  let t: TestDatabase;
  let second: Database | undefined;
  /** Where the second publish runs: on MariaDB another pool (another worker); on SQLite the shared handle, as a worker's activities share it (a second handle in this thread would block the event loop in its busy wait). */
  let other: Database;
  beforeEach(async () => {
    t = await create();
    second = t.store.driver === 'mysql' ? await openDatabase(t.url) : undefined;
    other = second ?? t.store;
  });
  afterEach(async () => {
    await second?.close();
    await t?.drop();
  });

  it('two publishes of the same bars at once log a chain of revisions ending at the stored value, the later publish winning', async () => {
    const v0 = version(1);
    const v1 = version(1.01);
    const v2 = version(1.02);
    await stagePassed(t.store, 'cp-v0', v0);
    await publishSnapshot(t.store, 'cp-v0');
    await stagePassed(t.store, 'cp-v1', v1);
    await stagePassed(t.store, 'cp-v2', v2);

    const [a, b] = await Promise.all([publishSnapshot(t.store, 'cp-v1'), publishSnapshot(other, 'cp-v2')]);
    expect(a.revised).toBe(v0.length);
    expect(b.revised).toBe(v0.length);

    const snapshots = await t.store.db.selectFrom('dataset_snapshots').select(['id', 'published_at']).where('id', 'in', ['cp-v1', 'cp-v2']).execute();
    const publishedAt = new Map(snapshots.map((s) => [s.id, s.published_at as string]));
    const valuesOf = new Map([['cp-v1', new Map(v1.map((x) => [keyOf(x), x]))], ['cp-v2', new Map(v2.map((x) => [keyOf(x), x]))]]);
    const before = new Map(v0.map((x) => [keyOf(x), x]));
    const stored = new Map((await readBars(t.store)).map((x) => [keyOf(x), x]));
    const revisions = await t.store.db.selectFrom('bar_revisions').selectAll().execute();
    const bySymbolDate = new Map<string, typeof revisions>();
    for (const r of revisions) bySymbolDate.set(keyOf(r), [...(bySymbolDate.get(keyOf(r)) ?? []), r]);
    expect(bySymbolDate.size).toBe(v0.length);

    const broken: string[] = [];
    for (const [k, rows] of bySymbolDate) {
      // The log, in publish order, must go V0 → (first publish) → (second publish) = what is stored.
      const ordered = [...rows].sort((x, y) => (x.published_at < y.published_at ? -1 : x.published_at > y.published_at ? 1 : 0));
      let previous = before.get(k)!;
      for (const r of ordered) {
        if (Number(r.old_close) !== previous.close) broken.push(`${k}: ${r.snapshot_id} logged old close ${r.old_close}, the value before it was ${previous.close}`);
        previous = valuesOf.get(r.snapshot_id)!.get(k)!;
        if (Number(r.new_close) !== previous.close) broken.push(`${k}: ${r.snapshot_id} logged new close ${r.new_close}, published ${previous.close}`);
      }
      if (stored.get(k)!.close !== previous.close) broken.push(`${k}: stored close ${stored.get(k)!.close}, last logged ${previous.close}`);
    }
    expect(broken.slice(0, 5)).toEqual([]);
    // The publish with the later published_at is the one whose values are stored.
    const later = publishedAt.get('cp-v1')! > publishedAt.get('cp-v2')! ? v1 : v2;
    expect((await readBars(t.store)).map((x) => x.close)).toEqual(later.map((x) => x.close));
  });

  it('a publish that fails releases the store for the next one', async () => {
    await stagePassed(t.store, 'cp-ok', version(1));
    await setSnapshotStatus(t.store, 'cp-ok', 'staged', null);
    // Not passed: the publish refuses, inside its transaction.
    await expect(publishSnapshot(t.store, 'cp-ok')).rejects.toThrow(/only a snapshot that passed/);
    await setSnapshotStatus(t.store, 'cp-ok', 'passed', null);
    // From the other handle (another pooled connection on MariaDB), within seconds.
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('publish still waiting after 10 s')), 10_000)));
    const result = await Promise.race([publishSnapshot(other, 'cp-ok'), stuck]).finally(() => clearTimeout(timer));
    expect(result.added).toBe(version(1).length);
  });

  it('readBarSeries never sees a transaction that is still open (and is then rolled back)', async () => {
    await upsertBars(t.store, version(1));
    const committed = (await readBars(t.store, { symbols: ['CA'], to: DAYS[0] }))[0].close;
    let written!: () => void;
    const inside = new Promise<void>((resolve) => (written = resolve));
    // A write transaction on the shared handle (as a publish is) that is rolled back after a pause.
    const failing = t.store.db
      .transaction()
      .execute(async (tx) => {
        await tx.updateTable('bars').set({ close: 9999 }).where('symbol', '=', 'CA').execute();
        written();
        await new Promise((resolve) => setTimeout(resolve, 100));
        throw new Error('simulated failure mid-publish');
      })
      .catch((e: Error) => e);
    await inside;
    const [series] = await readBarSeries(t.store, { symbols: ['CA'], to: DAYS[0] });
    expect(series.close[0]).toBe(committed);
    expect(await failing).toBeInstanceOf(Error);
    expect((await readBarSeries(t.store, { symbols: ['CA'], to: DAYS[0] }))[0].close[0]).toBe(committed);
  });
});
