import fs from 'node:fs';
import path from 'node:path';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../../lib/ingest/import-request';
import { storedSymbols } from '../../lib/store/bars';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';

// One security stored as two symbols (probe p09-class-share-two-symbols.ts): Yahoo's BRK-B.csv was
// stored as BRK-B, Stooq's brk-b.us.csv as BRK.B, and one import of both published two series.
const request = (input: ImportRequestInput) => importRequestSchema.parse(input);
const DAYS = nyseTradingDaysBetween('2018-01-02', '2018-03-30');
const rows = (level: number) => DAYS.map((d, i) => { const c = level + Math.sin(i / 5); return `${d},${(c * 0.99).toFixed(4)},${(c * 1.01).toFixed(4)},${(c * 0.98).toFixed(4)},${c.toFixed(4)},${100_000 + i}`; });
const YAHOO = (level: number) => ['Date,Open,High,Low,Close,Adj Close,Volume', ...rows(level).map((r) => { const f = r.split(','); return [...f.slice(0, 5), f[4], f[5]].join(','); })].join('\n');
const STOOQ = (level: number) => ['Date,Open,High,Low,Close,Volume', ...rows(level)].join('\n');

function folder(files: Record<string, string>): string {
  const dir = tempDir('mlp-share-class-');
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

describe('a share class spelt two ways is one stored symbol (SQLite)', () => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it("refuses one import of Yahoo's BRK-B.csv and Stooq's brk-b.us.csv: both are BRK.B", async () => {
    const before = await dumpStore(t.store);
    const dir = folder({ 'BRK-B.csv': YAHOO(200), 'brk-b.us.csv': STOOQ(200) });
    await expect(importBars(t.store, request({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }))).rejects.toMatchObject({
      code: 'SOURCE_REFUSED',
      message: expect.stringMatching(/BRK-B\.csv and .*brk-b\.us\.csv together: both give rows for BRK\.B/),
    });
    expect(await dumpStore(t.store)).toEqual(before);
  });

  it('stores BRK-B.csv as BRK.B, so a later brk-b.us.csv and a request for BRK-B name the same series', async () => {
    await importBars(t.store, request({ source: { kind: 'csv', path: folder({ 'BRK-B.csv': YAHOO(200) }) }, quality: { minHistoryBars: 1 } }));
    await importBars(t.store, request({ source: { kind: 'csv', path: folder({ 'brk-b.us.csv': STOOQ(201) }) }, symbols: ['BRK-B'], quality: { minHistoryBars: 1 } }));
    expect(await storedSymbols(t.store)).toEqual(['BRK.B']);
  });
});
