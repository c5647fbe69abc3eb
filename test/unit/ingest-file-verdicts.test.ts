import fs from 'node:fs';
import path from 'node:path';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../../lib/ingest/import-request';
import { readBars } from '../../lib/store/bars';
import { listQuarantine } from '../../lib/store/quarantine';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';

// An import end to end on SQLite: what the reader and the quality rules decide per file reaches the store (or not).
const request = (input: ImportRequestInput) => importRequestSchema.parse(input);
const DAYS = nyseTradingDaysBetween('2017-01-03', '2017-06-30');
const NOW = () => new Date('2018-06-01T12:00:00Z');
const STOOQ = 'Date,Open,High,Low,Close,Volume';

function rows(level: number, n = DAYS.length, date = (d: string) => d): string[] {
  return DAYS.slice(0, n).map((d, i) => {
    const close = level + Math.sin(i / 5);
    return `${date(d)},${(close * 0.99).toFixed(4)},${(close * 1.01).toFixed(4)},${(close * 0.98).toFixed(4)},${close.toFixed(4)},${1000 + i}`;
  });
}
const dmy = (iso: string): string => `${Number(iso.slice(8))}/${Number(iso.slice(5, 7))}/${iso.slice(0, 4)}`;

function folder(files: Record<string, string[]>): string {
  const dir = tempDir('mlp-verdicts-');
  for (const [name, lines] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), [STOOQ, ...lines].join('\n') + '\n');
  return dir;
}
const goodFiles = (n: number): Record<string, string[]> => Object.fromEntries(Array.from({ length: n }, (_, k) => [`s${k}.us.csv`, rows(20 + k)]));

describe('per-file verdicts of an import (SQLite)', () => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('publishes a D/M/YYYY file among good files with its real dates', async () => {
    const dir = folder({ ...goodFiles(5), 'zts.us.csv': rows(50, DAYS.length, dmy) });
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }), { now: NOW });
    expect(summary.status).toBe('published');
    expect(summary.rowsRejected).toBe(0);
    const zts = await readBars(t.store, { symbols: ['ZTS'] });
    expect(zts.map((b) => b.date)).toEqual(DAYS);
    expect(zts.map((b) => b.close.toFixed(4))).toEqual(rows(50).map((r) => r.split(',')[4]));
  });

  it('fails an import holding a file with slash dates in both orders, before anything is written', async () => {
    const mixed = rows(50).map((r, i) => (i < 20 ? r.replace(/^[^,]+/, (d) => dmy(d)) : r.replace(/^(\d{4})-(\d{2})-(\d{2})/, (_, y, m, d) => `${Number(m)}/${Number(d)}/${y}`)));
    const dir = folder({ ...goodFiles(3), 'zts.us.csv': mixed });
    const before = await dumpStore(t.store);
    await expect(importBars(t.store, request({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }), { now: NOW })).rejects.toMatchObject({
      code: 'UNREADABLE_SOURCE',
      rule: 'ambiguous_date_order',
      message: expect.stringMatching(/^Cannot read .*zts\.us\.csv as a price table: its slash dates are in both orders: line 10 "13\/1\/2017" can only be D\/M\/YYYY \(its first part is above 12\) and line 30 "2\/13\/2017" can only be M\/D\/YYYY/),
    });
    expect(await dumpStore(t.store)).toEqual(before);
  });

  it('rejects the import of a file with a large rejected share among good files; the store stays as it was', async () => {
    const first = await importBars(t.store, request({ source: { kind: 'csv', path: folder(goodFiles(5)) }, quality: { minHistoryBars: 1 } }), { now: NOW });
    expect(first.status).toBe('published');
    const before = await readBars(t.store, {});

    // 30 of IBM's 125 rows have a broken close: 24%, above 20% of the file, but 0.4% of the import.
    const ibm = rows(150).map((r, i) => (i % 4 === 1 && i < 120 ? r.replace(/,[\d.]+,(\d+)$/, ',n/a,$1') : r));
    const dir = folder({ ...goodFiles(60), 'ibm.us.csv': ibm });
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }), { now: NOW });
    expect(summary.badRowShare).toBeLessThan(0.02);
    expect(summary.status).toBe('rejected');
    expect(summary.byRule).toMatchObject({ missing_field: 30, file_bad_row_share: 1, file_rejected: DAYS.length - 30 });
    expect(await readBars(t.store, {})).toEqual(before);
    const [finding] = await listQuarantine(t.store, { snapshotId: summary.snapshotId, rule: 'file_bad_row_share' });
    expect(finding).toMatchObject({ symbol: 'IBM', line: 3, source: expect.stringMatching(/ibm\.us\.csv$/) });
    expect(finding.message).toMatch(/^file rejected whole: 30 of its 125 rows for IBM were rejected \(24\.00%\), above the per-file limit of 20\.00% \(missing_field: 30; first at line 3, missing_field\)/);
    const snapshot = await t.store.db.selectFrom('dataset_snapshots').select(['status', 'status_reason']).where('id', '=', summary.snapshotId).executeTakeFirstOrThrow();
    expect(snapshot.status).toBe('rejected');
    expect(snapshot.status_reason).toMatch(/file .*ibm\.us\.csv rejected whole: 30 of its 125 rows for IBM were rejected/);
  });

  it("does not publish the unfinished bar of the import's own day, not even when the same bytes come again after the close", async () => {
    const last = DAYS[DAYS.length - 1]; // 2017-06-30, a Friday
    const dir = folder({ 'aapl.us.csv': rows(40) });
    const during = await importBars(t.store, request({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }), { now: () => new Date(`${last}T15:05:00Z`) });
    expect(during.status).toBe('published');
    expect(during.byRule).toEqual({ session_not_closed: 1 });
    expect((await readBars(t.store, { symbols: ['AAPL'] })).map((b) => b.date).at(-1)).toBe(DAYS[DAYS.length - 2]);
    // The same bytes after the close: its last bar is still the one taken during the session.
    const again = await importBars(t.store, request({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }), { now: () => new Date(`${last}T20:30:00Z`) });
    expect(again.snapshotId).toBe(during.snapshotId);
    expect((await readBars(t.store, { symbols: ['AAPL'] })).map((b) => b.date).at(-1)).toBe(DAYS[DAYS.length - 2]);
    // A download after the close (its last bar final, so other bytes) publishes that day.
    const final = folder({ 'aapl.us.csv': rows(40).map((r, i, all) => (i === all.length - 1 ? r.replace(/,(\d+)$/, (_, v: string) => `,${Number(v) + 1}`) : r)) });
    const after = await importBars(t.store, request({ source: { kind: 'csv', path: final }, quality: { minHistoryBars: 1 } }), { now: () => new Date(`${last}T20:30:00Z`) });
    expect(after.status).toBe('published');
    expect((await readBars(t.store, { symbols: ['AAPL'] })).map((b) => b.date).at(-1)).toBe(last);
  });

  it('stores adjusted prices for an EODHD file with adjust, and refuses adjust for a file with nothing to adjust by', async () => {
    const dir = tempDir('mlp-eodhd-');
    fs.writeFileSync(path.join(dir, 'msft.us.csv'), ['Date,Open,High,Low,Close,Adjusted_close,Volume', ...DAYS.slice(0, 20).map((d) => `${d},100,110,90,100,50,1000`)].join('\n'));
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: dir, adjust: true }, quality: { minHistoryBars: 1 } }), { now: NOW });
    expect(summary.status).toBe('published');
    expect((await readBars(t.store, { symbols: ['MSFT'] }))[0]).toMatchObject({ open: 50, high: 55, low: 45, close: 50, volume: 2000 });

    const before = await dumpStore(t.store);
    const plain = folder({ 'ibm.us.csv': rows(40) });
    await expect(importBars(t.store, request({ source: { kind: 'csv', path: plain, adjust: true }, quality: { minHistoryBars: 1 } }), { now: NOW })).rejects.toMatchObject({
      code: 'UNREADABLE_SOURCE',
      message: expect.stringMatching(/^Cannot read .*ibm\.us\.csv as a price table: adjust was asked, but the header has no adjusted-close column .* its columns are "Date", "Open", "High", "Low", "Close", "Volume"/),
    });
    expect(await dumpStore(t.store)).toEqual(before);
  });
});
