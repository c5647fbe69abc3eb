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

  it('rejects a mistyped first or last row of a file in order whose gap to the next row jumps over stored bars: nothing stored is revised or added, nothing reported unconfirmed', async () => {
    // Stored from 2016-03-01 to 2017-09-29; the vendor's update from 2017-10-02.
    await importBars(t.store, request({ source: { kind: 'csv', path: folder(rows(DAYS.indexOf('2016-03-01')).filter((l) => l < '2017-10-02')) }, quality: POLICY }));
    const stored = await readBars(t.store);
    const update = rows(DAYS.indexOf('2017-10-02'));
    // Its first row's year typed 2016 (a stored session), then typed 2016-01-04 (before the stored history).
    for (const typed of ['2016-10-03', '2016-01-04']) {
      const summary = await importBars(t.store, request({ source: { kind: 'csv', path: folder(retype(update, '2017-10-02', typed)) }, quality: POLICY }));
      expect([typed, summary.status, summary.rowsRejected, summary.byRule.out_of_order_date, summary.byRule.calendar_gap]).toEqual([typed, 'published', 1, 1, undefined]);
      expect([summary.firstDate, summary.lastDate, summary.unconfirmedStoredBars]).toEqual(['2017-10-03', '2017-12-29', undefined]);
    }
    const after = await readBars(t.store);
    expect(after.filter((b) => b.date < '2017-10-02')).toEqual(stored);
    expect(after.map((b) => b.date)).toEqual(DAYS.slice(DAYS.indexOf('2016-03-01')).filter((d) => d !== '2017-10-02'));
    expect(await allRevisions(t.store)).toEqual([]);
    const quarantined = await t.store.db.selectFrom('quarantine').select(['rule', 'date', 'message']).where('rule', '=', 'out_of_order_date').orderBy('date').execute();
    expect(quarantined.map((q) => q.date)).toEqual(['2016-01-04', '2016-10-03']);
    expect(quarantined[1].message).toContain('the store holds 250 bars of AAPL between them (2016-10-04..2017-09-29)');
    expect(quarantined[1].message).toContain('likely for 2017-10-02 (the session before the file\'s other rows, which it lacks)');

    // The last row of an update (2017-12-29) dated 20 sessions after the row before it, over the stored bar of 2017-12-29.
    const newest = after.at(-1);
    const last = retype(rows(DAYS.indexOf('2017-06-01')), '2017-12-29', '2018-01-29');
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: folder(last) }, quality: POLICY }));
    expect([summary.status, summary.rowsRejected, summary.byRule.out_of_order_date, summary.lastDate, summary.unconfirmedStoredBars]).toEqual(['published', 1, 1, '2017-12-28', undefined]);
    expect((await readBars(t.store)).at(-1)).toEqual(newest);
    expect(await allRevisions(t.store)).toEqual([]);
  });

  it('rejects a lone last row more than 20 sessions from the rest of a file, with no stored bar between', async () => {
    // A fresh import whose last row (2017-12-29) is typed 2018-12-28, ten months after the data.
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: folder(retype(rows(), '2017-12-29', '2018-12-28')) }, quality: POLICY }));
    expect([summary.status, summary.rowsRejected, summary.byRule.out_of_order_date, summary.byRule.calendar_gap, summary.lastDate]).toEqual(['published', 1, 1, undefined, '2017-12-28']);
    const [quarantined] = await t.store.db.selectFrom('quarantine').select(['date', 'message']).where('rule', '=', 'out_of_order_date').execute();
    expect(quarantined.date).toBe('2018-12-28');
    expect(quarantined.message).toContain('likely for 2017-12-29 (the session after the file\'s other rows, which it lacks)');
    expect(quarantined.message).toContain('import it again once the file holds');
    expect((await readBars(t.store)).map((b) => b.date).at(-1)).toBe('2017-12-28');
  });

  it('accepts a lone row a month after the rest of a file once the rows after it follow', async () => {
    // A row a month and more after the rest (no stored bar between), then the same row with the rows after it.
    const head = rows().filter((l) => l < '2017-11-01');
    const tail = rows(DAYS.indexOf('2017-12-15'));
    const lone = await importBars(t.store, request({ source: { kind: 'csv', path: folder([...head, tail[0]]) }, quality: POLICY }));
    expect([lone.status, lone.rowsRejected, lone.byRule.out_of_order_date, lone.lastDate]).toEqual(['published', 1, 1, '2017-10-31']);
    const followed = await importBars(t.store, request({ source: { kind: 'csv', path: folder([...head, ...tail]) }, quality: POLICY }));
    expect([followed.status, followed.rowsRejected, followed.lastDate]).toEqual(['published', 0, '2017-12-29']);
    expect((await readBars(t.store, { from: '2017-12-15', to: '2017-12-15' })).length).toBe(1);
  });

  it('keeps updates that continue the stored bars, files that start before them, backfills and an end row after a halt of a few sessions', async () => {
    // The rows from `from` to `to` (a line starts with its date, so `to~` sorts after every line of `to`).
    const span = (from: string, to: string) => rows(DAYS.indexOf(from)).filter((l) => l <= `${to}~`);
    await importBars(t.store, request({ source: { kind: 'csv', path: folder(span('2016-06-01', '2017-06-30')) }, quality: POLICY }));
    const cases: Array<[string, string[]]> = [
      ['a backfill', span('2016-01-04', '2016-05-31')],
      ['a file from before the stored bars continuing them', span('2016-01-04', '2016-08-31')],
      ['an update overlapping the stored bars and continuing them', span('2017-06-01', '2017-09-29')],
      // 2017-11-15 to 2017-11-28: a halt of 7 sessions before the last row, no stored bar between.
      ['an update whose last row follows a halt', [...span('2017-10-02', '2017-11-15'), span('2017-11-28', '2017-11-28')[0]]],
    ];
    for (const [what, lines] of cases) {
      const summary = await importBars(t.store, request({ source: { kind: 'csv', path: folder(lines) }, quality: POLICY }));
      expect([what, summary.status, summary.rowsRejected, summary.byRule.out_of_order_date]).toEqual([what, 'published', 0, undefined]);
    }
    expect((await readBars(t.store)).map((b) => b.date).at(-1)).toBe('2017-11-28');
  });

  it('keeps a correct first row whose next rows the reader could not take (null prices): the file has those sessions', async () => {
    await importBars(t.store, request({ source: { kind: 'csv', path: folder(rows(0)) }, quality: POLICY }));
    // A re-download whose rows 2..8 came with null prices (as Yahoo writes them): the first row,
    // 7 sessions before the next readable one with stored bars between, was rejected as a mistype.
    const lines = rows(0).map((l, i) => (i >= 1 && i <= 7 ? `${l.split(',')[0]},null,null,null,null,null` : l));
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: folder(lines) }, quality: { ...POLICY, maxBadRowShare: 0.05 } }));
    expect(summary.byRule.out_of_order_date).toBeUndefined();
    expect(summary.rowsRejected).toBe(7);
    expect((await readBars(t.store)).map((b) => b.date)[0]).toBe(DAYS[0]);
    expect(await allRevisions(t.store)).toEqual([]);
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

