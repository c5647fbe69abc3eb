import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { importBars, stageImport } from '../../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../../lib/ingest/import-request';
import { judgeSnapshot } from '../../lib/ingest/judge';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import type { Database } from '../../lib/store/database';
import { getSnapshot } from '../../lib/store/snapshots';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';

/**
 * The gate judges a snapshot against the stored bars and publishes it in one transaction, after the
 * store's other publishes. Before, the verdict was recorded (`passed`) in one transaction and the
 * bars written in the next: a publish that failed in between (a lost connection, a full disk) was
 * retried later without judging again, so a file without volumes judged while nothing was stored
 * wrote volume 0 over the 120 stored volumes another import had published meanwhile (120 bars
 * changed, 120 revisions logged), which volume_vanished refuses when judged against them.
 */
const request = (input: ImportRequestInput) => importRequestSchema.parse(input);
const DAYS = nyseTradingDaysBetween('2016-01-04', '2017-12-29');
const NOW = () => new Date('2019-01-10T22:00:00Z');

function file(name: string, volume: (i: number) => number): string {
  const dir = tempDir('mlp-judge-publish-');
  const lines = DAYS.slice(0, 120).map((date, i) => {
    const c = 150 + 3 * Math.sin(i / 5);
    return `${date},${(c * 0.995).toFixed(2)},${(c * 1.01).toFixed(2)},${(c * 0.985).toFixed(2)},${c.toFixed(2)},${volume(i)}`;
  });
  fs.writeFileSync(path.join(dir, name), `Date,Open,High,Low,Close,Volume\n${lines.join('\n')}\n`);
  return dir;
}

/** Makes every write of a bar with volume 0 fail, as a database failing mid-publish would. */
async function failZeroVolumeWrites(store: Database): Promise<() => Promise<void>> {
  if (store.driver === 'mysql') {
    await sql`create trigger fail_zero_volume before insert on bars for each row begin if new.volume = 0 then signal sqlstate '45000' set message_text = 'simulated failure'; end if; end`.execute(store.db);
  } else {
    await sql`create trigger fail_zero_volume before insert on bars when new.volume = 0 begin select raise(abort, 'simulated failure'); end`.execute(store.db);
  }
  return async () => {
    await sql`drop trigger fail_zero_volume`.execute(store.db);
  };
}

describe.each(DRIVERS)('judging and publishing a snapshot on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('a publish that fails leaves the snapshot unjudged: its retry judges it against the bars published meanwhile', async () => {
    const policy = { minHistoryBars: 1 };
    const withoutVolumes = await stageImport(t.store, request({ source: { kind: 'csv', path: file('ibm.csv', () => 0) }, quality: policy }), { now: NOW });
    const restore = await failZeroVolumeWrites(t.store);
    // By message, not toThrow: better-sqlite3's native part keeps the SqliteError class of the first
    // test file its process loaded, whose Error is another realm's (not instanceof this file's), and
    // toThrow then reports "did not throw" for a rejection that is there.
    await expect(judgeSnapshot(t.store, withoutVolumes.snapshotId)).rejects.toMatchObject({ message: expect.stringMatching(/simulated failure/) });
    await restore();
    // Nothing of the failed step stays: no verdict, no finding, no bar.
    expect((await getSnapshot(t.store, withoutVolumes.snapshotId))?.status).toBe('staged');
    expect(await t.store.db.selectFrom('bars').selectAll().execute()).toEqual([]);
    expect(await t.store.db.selectFrom('quarantine').selectAll().where('snapshot_id', '=', withoutVolumes.snapshotId).execute()).toEqual([]);

    const good = await importBars(t.store, request({ source: { kind: 'csv', path: file('ibm.us.csv', (i) => 3_000_000 + i) }, quality: policy }), { now: NOW });
    expect([good.status, good.rowsAccepted]).toEqual(['published', 120]);
    const before = await dumpStore(t.store);
    const revisions = await t.store.db.selectFrom('bar_revisions').selectAll().execute();

    const retried = await judgeSnapshot(t.store, withoutVolumes.snapshotId);
    expect(retried.status).toBe('rejected');
    expect(retried.verdict.reasons.join('; ')).toMatch(/rejected whole: 120 of its 120 rows for IBM were rejected .*volume_vanished: 120/);
    const after = await dumpStore(t.store);
    expect(after.bars).toEqual(before.bars);
    expect(await t.store.db.selectFrom('bar_revisions').selectAll().execute()).toEqual(revisions);
    // Judging it again keeps the verdict.
    expect((await judgeSnapshot(t.store, withoutVolumes.snapshotId)).status).toBe('rejected');
  });
});
