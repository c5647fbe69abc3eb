import fs from 'node:fs';
import path from 'node:path';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { readBars } from '../../lib/store/bars';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';

/**
 * A download taken at 11:30 whose rows carry their time (`2018-03-29 11:30:00`) holds that day's
 * unfinished bar; first read the next day, session_not_closed (by the import's clock) could not see
 * it, and the mid-session close and a third of the volume were stored as the day's bar, revising
 * the stored final one. The row says when it was taken: it is rejected, the stored bar kept.
 */
const DAYS = nyseTradingDaysBetween('2018-01-02', '2018-03-29');
const LAST = DAYS[DAYS.length - 1];
const NEXT_DAY = () => new Date('2018-04-02T22:00:00Z');

const row = (i: number, stamp: string, close = 100 + i / 10, volume = 1_000_000 + i) => `${DAYS[i]} ${stamp},${close},${(close * 1.01).toFixed(4)},${(close * 0.99).toFixed(4)},${close},${volume}`;
function request(lines: string[]) {
  const dir = tempDir('mlp-mid-session-');
  fs.writeFileSync(path.join(dir, 'ibm.us.csv'), ['Date,Open,High,Low,Close,Volume', ...lines].join('\n'));
  return importRequestSchema.parse({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } });
}

describe.each(DRIVERS)('a bar stamped inside its session on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('is rejected (mid_session_time) and the stored final bar of that day is kept; the same bytes again change nothing', async () => {
    const final = DAYS.map((_, i) => row(i, '16:00:00'));
    expect((await importBars(t.store, request(final), { now: NEXT_DAY })).status).toBe('published');
    const before = await readBars(t.store, { symbols: ['IBM'] });
    const revisions = await t.store.db.selectFrom('bar_revisions').selectAll().execute();

    // The download taken at 11:30 on the last day: its last row is that morning's bar.
    const morning = [...final.slice(0, -1), row(DAYS.length - 1, '11:30:00', 97.5, 330_000)];
    const req = request(morning);
    const second = await importBars(t.store, req, { now: NEXT_DAY });
    expect([second.status, second.byRule.mid_session_time]).toEqual(['published', 1]);
    expect(await readBars(t.store, { symbols: ['IBM'] })).toEqual(before);
    expect(await t.store.db.selectFrom('bar_revisions').selectAll().execute()).toEqual(revisions);
    const stored = before.find((b) => b.date === LAST);
    expect([stored?.close, stored?.volume]).toEqual([100 + (DAYS.length - 1) / 10, 1_000_000 + DAYS.length - 1]);
    const dump = await dumpStore(t.store);
    const again = await importBars(t.store, req, { now: NEXT_DAY });
    expect([again.snapshotId, again.status]).toEqual([second.snapshotId, 'published']);
    expect(await dumpStore(t.store)).toEqual(dump);
  });
});
