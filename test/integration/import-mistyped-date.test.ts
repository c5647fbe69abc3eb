import fs from 'node:fs';
import path from 'node:path';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../../lib/ingest/import-request';
import { readBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { revisedSince } from '../../lib/store/staging';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';

/**
 * A row whose date is mistyped (2016-06-14 for 2017-06-14) in a file otherwise in date order is
 * rejected as out_of_order_date: sorting it in published another session's prices over the good
 * stored bar of the date it names (a revision, features recomputed from 2016), or a stray bar a year
 * after the real data ends, and widened the file's range so that every stored bar the file lacks in
 * it was reported unconfirmed.
 */
const request = (input: ImportRequestInput) => importRequestSchema.parse(input);
const DAYS = nyseTradingDaysBetween('2016-01-04', '2017-12-29');
const POLICY = { minHistoryBars: 1 };
const HEADER = 'Date,Open,High,Low,Close,Volume\n';

/** Stooq rows for every day of DAYS from `from` (an index), in date order. */
function rows(from = 0): string[] {
  return DAYS.slice(from).map((date, k) => {
    const i = from + k;
    const c = 50 + 5 * Math.sin(i / 9);
    return `${date},${(c * 0.995).toFixed(4)},${(c * 1.01).toFixed(4)},${(c * 0.985).toFixed(4)},${c.toFixed(4)},${100_000 + i}`;
  });
}

function folder(lines: readonly string[]): string {
  const dir = tempDir('mlp-mistyped-');
  fs.writeFileSync(path.join(dir, 'aapl.us.csv'), HEADER + lines.join('\n') + '\n');
  return dir;
}

const retype = (lines: readonly string[], from: string, to: string): string[] => lines.map((l) => (l.startsWith(`${from},`) ? to + l.slice(from.length) : l));
const allRevisions = (store: Database) => store.db.selectFrom('bar_revisions').selectAll().orderBy('snapshot_id').orderBy('symbol').orderBy('date').execute();

describe.each(DRIVERS)('a mistyped date in an ordered file on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('rejects the row: the stored bar of the date it names is kept, nothing is revised, and the file reports only the session it lacks', async () => {
    await importBars(t.store, request({ source: { kind: 'csv', path: folder(rows()) }, quality: POLICY }));
    const stored = await readBars(t.store);
    const revisionsBefore = await allRevisions(t.store);

    // The vendor's update from 2017-01-03, the row of 2017-06-14 dated 2016-06-14 (with 2017's values).
    const update = retype(rows(DAYS.indexOf('2017-01-03')), '2017-06-14', '2016-06-14');
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: folder(update) }, quality: POLICY }));
    expect([summary.status, summary.rowsRejected, summary.byRule.out_of_order_date, summary.byRule.unsorted_input]).toEqual(['published', 1, 1, undefined]);
    expect([summary.firstDate, summary.lastDate]).toEqual(['2017-01-03', '2017-12-29']);

    expect(await readBars(t.store)).toEqual(stored);
    expect(await allRevisions(t.store)).toEqual(revisionsBefore);
    expect(await revisedSince(t.store, { snapshotId: summary.snapshotId })).toEqual(new Map());
    // The range stays the file's 2017: only the session whose row was retyped is unconfirmed, not 2016's bars.
    expect(summary.unconfirmedStoredBars).toMatchObject({ count: 1, examples: [{ symbol: 'AAPL', date: '2017-06-14', why: 'absent' }] });
  });

  it('never publishes a retyped row as a bar a year after the data, nor one in an earlier year', async () => {
    const lines = retype(retype(rows(), '2016-04-12', '2019-04-12'), '2017-04-12', '2007-04-12');
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: folder(lines) }, quality: POLICY }));
    expect([summary.status, summary.rowsRejected, summary.byRule.out_of_order_date]).toEqual(['published', 2, 2]);
    const dates = (await readBars(t.store)).map((b) => b.date);
    expect([dates[0], dates[dates.length - 1], dates.length]).toEqual(['2016-01-04', '2017-12-29', DAYS.length - 2]);
  });

  it('publishes the newest rows appended to a file in descending order, however many: they continue it, no typo', async () => {
    // A 2017 file newest first, with an update of the first two (or one, or three) sessions of 2018 appended (`cat update.csv >> aapl.csv`).
    const newest = nyseTradingDaysBetween('2018-01-02', '2018-01-04');
    const base = rows(DAYS.indexOf('2017-01-03')).reverse();
    for (const k of [2, 1, 3]) {
      const appended = newest.slice(0, k).map((date, i) => `${date},50.1,50.6,49.6,50.2,${200_000 + i}`);
      const summary = await importBars(t.store, request({ source: { kind: 'csv', path: folder([...base, ...appended]) }, quality: POLICY }));
      expect([k, summary.status, summary.rowsRejected, summary.byRule.out_of_order_date, summary.byRule.unsorted_input]).toEqual([k, 'published', 0, undefined, 1]);
      expect([summary.firstDate, summary.lastDate]).toEqual(['2017-01-03', newest[k - 1]]);
    }
    const dates = (await readBars(t.store)).map((b) => b.date);
    expect(dates.slice(-4)).toEqual(['2017-12-29', ...newest]);
  });

  it('rejects a retyped last row whose date the file has alone: the row of that date is published, not lost as a duplicate', async () => {
    // The row of 2017-12-29 (the newest) dated 2017-06-27, with its own values.
    const lines = retype(rows(DAYS.indexOf('2017-01-03')), '2017-12-29', '2017-06-27');
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: folder(lines) }, quality: POLICY }));
    expect([summary.status, summary.rowsRejected, summary.byRule.out_of_order_date, summary.byRule.duplicate_date]).toEqual(['published', 1, 1, undefined]);
    const kept = await readBars(t.store, { symbols: ['AAPL'], from: '2017-06-27', to: '2017-06-27' });
    expect(kept.map((b) => b.volume)).toEqual([100_000 + DAYS.indexOf('2017-06-27')]);
    expect(summary.lastDate).toBe('2017-12-28');
  });

  it('judges a retyped row against the whole file when dates are asked for, so the row that has its date is kept', async () => {
    // The row of 2017-03-14 dated 2016-09-14, a session the file has; only the second half of 2016 asked for.
    const lines = retype(rows(), '2017-03-14', '2016-09-14');
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: folder(lines) }, from: '2016-07-01', to: '2016-12-31', quality: POLICY }));
    expect([summary.status, summary.rowsRejected, summary.byRule.out_of_order_date, summary.byRule.duplicate_date]).toEqual(['published', 1, 1, undefined]);
    const kept = await readBars(t.store, { symbols: ['AAPL'], from: '2016-09-14', to: '2016-09-14' });
    expect(kept.map((b) => b.volume)).toEqual([100_000 + DAYS.indexOf('2016-09-14')]);
  });
});

