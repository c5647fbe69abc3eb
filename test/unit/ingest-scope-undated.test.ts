import fs from 'node:fs';
import path from 'node:path';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../../lib/ingest/import-request';
import { listQuarantine } from '../../lib/store/quarantine';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';

// Rows without a readable date in an import scoped by from/to (SQLite): placed by their file's order.
const request = (input: ImportRequestInput) => importRequestSchema.parse(input);
const DAYS = nyseTradingDaysBetween('2014-01-02', '2018-12-31').slice(0, 1250);
const NOW = () => new Date('2019-06-03T22:00:00Z');
const POLICY = { minHistoryBars: 1 };

function lines(days: readonly string[]): string[] {
  return days.map((d, i) => `${d},${(100 + i / 10 - 0.05).toFixed(2)},${(100 + i / 10 + 0.5).toFixed(2)},${(100 + i / 10 - 0.5).toFixed(2)},${(100 + i / 10).toFixed(2)},${1000 + i}`);
}
const garble = (rows: string[], at: readonly number[]): string[] => rows.map((r, i) => (at.includes(i) ? r.replace(/^\d{4}-\d{2}-\d{2}/, '2014-13-45') : r));

function file(rows: readonly string[]): string {
  const dir = tempDir('mlp-undated-');
  fs.writeFileSync(path.join(dir, 'aapl.csv'), `Date,Open,High,Low,Close,Volume\n${rows.join('\n')}\n`);
  return dir;
}

describe('rows without a readable date in a scoped import (SQLite)', () => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('do not count against a slice of the file far from them, and are still quarantined', async () => {
    const dir = file(garble(lines(DAYS), [10, 20, 30]));
    const whole = await importBars(t.store, request({ source: { kind: 'csv', path: dir }, quality: POLICY }), { now: NOW });
    expect([whole.status, whole.byRule.invalid_date, whole.rowsRead]).toEqual(['published', 3, 1250]);

    const from = DAYS[DAYS.length - 100];
    const slice = await importBars(t.store, request({ source: { kind: 'csv', path: dir }, from, quality: POLICY }), { now: NOW });
    expect([slice.status, slice.rowsRead, slice.rowsRejected, slice.rowsOutOfScope, slice.byRule.invalid_date]).toEqual(['published', 100, 0, 1150, undefined]);
    const quarantined = await listQuarantine(t.store, { snapshotId: slice.snapshotId, rule: 'invalid_date' });
    expect(quarantined.map((q) => q.line)).toEqual([12, 22, 32]);
    expect(quarantined[0].message).toContain(`not counted in the import's share: the row lies between line 11 (${DAYS[9]}) and line 13 (${DAYS[11]}), both before "from" ${from}`);
  });

  it('in a newest-first file, do not count against a "to" slice of its oldest rows', async () => {
    const dir = file(garble(lines(DAYS), [1200, 1210, 1220]).reverse());
    const to = DAYS[99];
    const slice = await importBars(t.store, request({ source: { kind: 'csv', path: dir }, to, quality: POLICY }), { now: NOW });
    expect([slice.status, slice.rowsRead, slice.rowsRejected]).toEqual(['published', 100, 0]);
    expect(await listQuarantine(t.store, { snapshotId: slice.snapshotId, rule: 'invalid_date' })).toHaveLength(3);
  });

  it('still count where they may be in scope: among its rows, after its last readable date, or in an unsorted file', async () => {
    const from = DAYS[DAYS.length - 100];
    // Among the rows in scope: 5 of 100.
    const among = await importBars(t.store, request({ source: { kind: 'csv', path: file(garble(lines(DAYS), [1160, 1170, 1180, 1190, 1200])) }, from, quality: POLICY }), { now: NOW });
    expect([among.status, among.rowsRead, among.rowsRejected]).toEqual(['rejected', 100, 5]);
    // New rows appended with a date format the reader cannot read: after the last readable date, so maybe in scope.
    const appended = await importBars(t.store, request({ source: { kind: 'csv', path: file(garble(lines(DAYS), [1247, 1248, 1249])) }, from: DAYS[1240], quality: POLICY }), { now: NOW });
    expect([appended.status, appended.rowsRead, appended.rowsRejected]).toEqual(['rejected', 10, 3]);
    // Rows out of order: neighbours say nothing of where a row belongs.
    const shuffled = garble(lines(DAYS), [10, 20, 30]);
    [shuffled[0], shuffled[1249]] = [shuffled[1249], shuffled[0]];
    const unsorted = await importBars(t.store, request({ source: { kind: 'csv', path: file(shuffled) }, from, quality: POLICY }), { now: NOW });
    expect([unsorted.rowsRead, unsorted.rowsRejected, unsorted.byRule.invalid_date]).toEqual([103, 3, 3]);
  });
});
