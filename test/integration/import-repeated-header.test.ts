import fs from 'node:fs';
import path from 'node:path';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { readBars } from '../../lib/store/bars';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';

/**
 * Two exports concatenated into one file bring a second header among the rows. Read by the first
 * header, the rows after a second one that puts Close where Open was were stored with open and
 * close swapped (still consistent bars): 60 of 120 IBM bars wrong, the header line one rejected row
 * (0.8%, under every limit). Such a file is refused naming its line; the same header repeated is
 * one rejected row and the rows are stored exactly.
 */
const DAYS = nyseTradingDaysBetween('2018-01-02', '2018-12-31').slice(0, 120);
const NOW = () => new Date('2019-01-10T22:00:00Z');
const HEADER = 'Date,Open,High,Low,Close,Volume';

/** Day i's bar of IBM: open, high, low, close as written (two decimals), volume. */
function bar(i: number): [string, string, string, string, string, number] {
  const c = 150 + 3 * Math.sin(i / 5) + i / 10;
  return [DAYS[i], (c * 0.995).toFixed(2), (c * 1.01).toFixed(2), (c * 0.985).toFixed(2), c.toFixed(2), 3_000_000 + 1000 * i];
}
const stooqRow = (i: number) => bar(i).join(',');
/** The same bar under `Date,Close,High,Low,Open,Volume`. */
const closeFirstRow = (i: number) => {
  const [d, o, h, l, c, v] = bar(i);
  return [d, c, h, l, o, v].join(',');
};

function folder(files: Record<string, string>): string {
  const dir = tempDir('mlp-repeated-header-');
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}
const request = (dir: string) => importRequestSchema.parse({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } });
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);

describe.each(DRIVERS)('a header repeated among the rows on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('a second header in another column order refuses the import, naming the file and line; the store stays byte-identical', async () => {
    const first = await importBars(t.store, request(folder({ 'ibm.us.csv': [HEADER, ...range(0, 60).map(stooqRow)].join('\n') + '\n' })), { now: NOW });
    expect(first.status).toBe('published');
    const before = await dumpStore(t.store);
    const revisions = await t.store.db.selectFrom('bar_revisions').selectAll().execute();

    const text = [HEADER, ...range(0, 60).map(stooqRow), 'Date,Close,High,Low,Open,Volume', ...range(60, 120).map(closeFirstRow)].join('\r\n');
    const dir = folder({ 'ibm.us.csv': text, 'msft.us.csv': [HEADER, ...range(0, 120).map(stooqRow)].join('\n') });
    await expect(importBars(t.store, request(dir), { now: NOW })).rejects.toMatchObject({
      code: 'UNREADABLE_SOURCE',
      message: expect.stringMatching(/^Cannot read .*ibm\.us\.csv as a price table: line 62 is a second header "Date,Close,High,Low,Open,Volume" .*\(open is column 5 there, column 2 in the header; close is column 2 there, column 5 in the header\)/),
    });
    const after = await dumpStore(t.store);
    expect(after.bars).toEqual(before.bars);
    expect(after.quarantine).toEqual(before.quarantine);
    expect(await t.store.db.selectFrom('bar_revisions').selectAll().execute()).toEqual(revisions);
  });

  it('the same header repeated is one rejected row: every bar stored exactly as written, and importing the bytes again changes nothing', async () => {
    const text = [HEADER, ...range(0, 60).map(stooqRow), HEADER.toUpperCase(), ...range(60, 120).map(stooqRow)].join('\n');
    const dir = folder({ 'ibm.us.csv': text });
    const first = await importBars(t.store, request(dir), { now: NOW });
    expect([first.status, first.rowsAccepted, first.byRule.repeated_header]).toEqual(['published', 120, 1]);
    const stored = await readBars(t.store, { symbols: ['IBM'] });
    expect(stored.map((b) => [b.date, b.open, b.high, b.low, b.close, b.volume])).toEqual(range(0, 120).map((i) => { const [d, o, h, l, c, v] = bar(i); return [d, Number(o), Number(h), Number(l), Number(c), v]; }));
    const before = await dumpStore(t.store);
    const again = await importBars(t.store, request(dir), { now: NOW });
    expect([again.snapshotId, again.status]).toEqual([first.snapshotId, 'published']);
    expect(await dumpStore(t.store)).toEqual(before);
  });
});
