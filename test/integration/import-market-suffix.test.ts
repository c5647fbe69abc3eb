import fs from 'node:fs';
import path from 'node:path';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { BadInputError } from '../../lib/errors';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { declaredInstruments } from '../../lib/store/snapshots';
import { instrumentKind } from '../../lib/market-data/instruments';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';

/**
 * An import whose files name a symbol with a suffix that is neither a US share class nor a known
 * market's (xyz.q.csv) is refused before anything is staged, asking for the series' kind; declared in
 * the request's "instruments", it is imported. Yahoo's Tokyo and London files (7203.t.csv, vod.l.csv)
 * are stored as foreign_equity series, BRK.B as a US equity.
 */
const NOW = () => new Date('2019-01-10T22:00:00Z');
function folder(names: readonly string[]): string {
  const dir = tempDir('mlp-market-suffix-');
  // Volumes of each file's own (equal bars with equal volumes are one series under two symbols: lagged_duplicate).
  const rows = (k: number) => nyseTradingDaysBetween('2017-01-03', '2017-03-31').map((d, i) => `${d},${100 + i},${101 + i},${99 + i},${100.5 + i},${1_000_000 * (k + 1) + i}`);
  for (const [k, name] of names.entries()) fs.writeFileSync(path.join(dir, name), `Date,Open,High,Low,Close,Volume\n${rows(k).join('\n')}\n`);
  return dir;
}

describe('symbols with a market suffix on import', () => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('an undeclared suffix refuses the import naming it; declared, it is imported', async () => {
    const dir = folder(['aapl.csv', 'xyz.q.csv', '7203.t.csv', 'vod.l.csv', 'brk.b.csv']);
    const refused = importBars(t.store, importRequestSchema.parse({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }), { now: NOW });
    await expect(refused).rejects.toThrow(BadInputError);
    await expect(refused).rejects.toThrow(/symbol XYZ\.Q \("\.Q"\) ends in a suffix that is neither a US share class .*declare its kind in the import request's "instruments" \(e\.g\. \{"XYZ\.Q": "foreign_equity"\}/);
    expect(await t.store.db.selectFrom('bars').select('symbol').execute()).toEqual([]);

    const declared = await importBars(t.store, importRequestSchema.parse({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 }, instruments: { 'XYZ.Q': 'equity' } }), { now: NOW });
    expect(declared.status).toBe('published');
    const symbols = (await t.store.db.selectFrom('bars').select('symbol').distinct().execute()).map((r) => r.symbol).sort();
    expect(symbols).toEqual(['7203.T', 'AAPL', 'BRK.B', 'VOD.L', 'XYZ.Q']);
    const instruments = await declaredInstruments(t.store);
    expect(symbols.map((s) => instrumentKind(s, instruments))).toEqual(['foreign_equity', 'equity', 'equity', 'foreign_equity', 'equity']);
  });
});
