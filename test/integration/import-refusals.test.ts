import fs from 'node:fs';
import path from 'node:path';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../../lib/ingest/import-request';
import { readBars } from '../../lib/store/bars';
import { countQuarantineByRule } from '../../lib/store/quarantine';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';

const request = (input: ImportRequestInput) => importRequestSchema.parse(input);
const DAYS = nyseTradingDaysBetween('2018-01-02', '2018-03-30').slice(0, 40);

/** Kaggle-style rows (date,open,high,low,close,volume) around `level`. */
function rows(level: number): string[] {
  return DAYS.map((date, i) => {
    const close = level + Math.sin(i / 5);
    return `${date},${(close * 0.99).toFixed(2)},${(close * 1.01).toFixed(2)},${(close * 0.98).toFixed(2)},${close.toFixed(2)},${100_000 + i}`;
  });
}

describe('imports the probe broke: refused or rejected before anything is stored (SQLite)', () => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('refuses a header with two columns of the same normalised name, leaving stored bars untouched', async () => {
    const good = tempDir('mlp-good-');
    fs.writeFileSync(path.join(good, 'all.csv'), ['date,open,high,low,close,volume,Name', ...rows(50).map((r) => `${r},MSFT`), ...rows(150).map((r) => `${r},IBM`)].join('\n'));
    expect((await importBars(t.store, request({ source: { kind: 'csv', path: good }, quality: { minHistoryBars: 1 } }))).status).toBe('published');
    const before = await dumpStore(t.store);

    // IBM's prices with a second "name" column saying MSFT: which column is the symbol is unknowable.
    const bad = tempDir('mlp-dup-');
    fs.writeFileSync(path.join(bad, 'IBM.csv'), ['date,open,high,low,close,volume,Name,name', ...rows(150).map((r) => `${r.replace(/,[\d.]+,(\d+)$/, ',151.5,$1')},IBM,MSFT`)].join('\n'));
    await expect(importBars(t.store, request({ source: { kind: 'csv', path: bad }, quality: { minHistoryBars: 1 } }))).rejects.toMatchObject({
      name: 'BadInputError',
      code: 'UNREADABLE_SOURCE',
      message: expect.stringMatching(/header "date,open,high,low,close,volume,Name,name" has more than one column for symbol \(columns 7 "Name" and 8 "name"\)/),
    });
    expect((await dumpStore(t.store)).bars).toEqual(before.bars);
  });

  it('rejects a row dated in year 0000 or before 1800 as invalid_date, naming it, instead of failing the import', async () => {
    const dir = tempDir('mlp-ancient-');
    fs.writeFileSync(path.join(dir, 'IBM.csv'), ['date,open,high,low,close,volume', '0000-01-04,1,2,0.5,1,10', '0001-01-03,1,2,0.5,1,10', '1799-12-31,1,2,0.5,1,10', ...rows(150)].join('\n'));
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1, maxBadRowShare: 0.1 } }));
    expect(summary.status).toBe('published');
    expect(summary.byRule).toMatchObject({ invalid_date: 3 });
    expect((await readBars(t.store, { symbols: ['IBM'] })).map((b) => b.date)).toEqual(DAYS);
  });

  it('rejects both copies of a date when the other copy was itself rejected (a negative volume, a broken number)', async () => {
    const dir = tempDir('mlp-dup-broken-');
    const good = rows(150);
    const [d1, d2] = [DAYS[10], DAYS[20]];
    fs.writeFileSync(path.join(dir, 'IBM.csv'), ['date,open,high,low,close,volume', ...good, `${d1},1,2,0.5,1,-3`, `${d2},1,2,0.5,x,10`].join('\n'));
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1, maxBadRowShare: 0.1 } }));
    expect(summary.status).toBe('published');
    expect(summary.byRule).toMatchObject({ duplicate_date: 2, negative_volume: 1, non_numeric: 1 });
    expect((await readBars(t.store, { symbols: ['IBM'] })).map((b) => b.date)).toEqual(DAYS.filter((d) => d !== d1 && d !== d2));
  });

  it('with adjust: true rejects rows whose adjusted values are infinite or beyond the limits, and publishes the rest', async () => {
    const lines = rows(200).map((r) => {
      const [date, open, high, low, close, volume] = r.split(',');
      return [date, open, high, low, close, close, volume].join(',');
    });
    const write = (dir: string, data: readonly string[]): string => {
      fs.writeFileSync(path.join(dir, 'IBM.csv'), ['Date,Open,High,Low,Close,Adj Close,Volume', ...data].join('\n'));
      return dir;
    };
    const options = { quality: { minHistoryBars: 1, maxBadRowShare: 0.1 } };
    expect((await importBars(t.store, request({ source: { kind: 'csv', path: write(tempDir('mlp-adjust-'), lines), adjust: true }, ...options }))).status).toBe('published');
    const before = await readBars(t.store, { symbols: ['IBM'] });

    const corrupt = [...lines];
    // Adj Close 1e-300 made an infinite volume, which wedged the publish of the revision (NOT NULL on bar_revisions.new_volume).
    corrupt[10] = `${DAYS[10]},189.27,192.555,188.61,191.61,1e-300,6296229`;
    // The probe's rows: a factor of 9e6 puts high at 8.1e13 (limit 1e7); one of 1e-9 puts volume at 3.4e15 (limit 1e14).
    corrupt[20] = `${DAYS[20]},1,9000000,1,1,9000000,3601645`;
    corrupt[30] = `${DAYS[30]},202.81,203.73,201.65,203.63,2.0363e-07,3429665`;
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: write(tempDir('mlp-adjust-'), corrupt), adjust: true }, ...options }));
    expect(summary.status).toBe('published');
    expect(summary.rowsRejected).toBe(3);
    expect(await countQuarantineByRule(t.store, summary.snapshotId)).toMatchObject({ implausible_value: 3 });
    // The rejected rows leave their stored bars as they were; nothing else changed either.
    expect(await readBars(t.store, { symbols: ['IBM'] })).toEqual(before);
    // and are reported as not confirmed by the file (kept as stored).
    expect(summary.unconfirmedStoredBars?.examples.map((e) => [e.date, e.why, e.rule])).toEqual([10, 20, 30].map((d) => [DAYS[d], 'rejected', 'implausible_value']));
    for (const b of before) {
      for (const v of [b.open, b.high, b.low, b.close]) expect(v > 1e-6 && v <= 1e7).toBe(true);
      expect(Number.isFinite(b.volume) && b.volume <= 1e14).toBe(true);
    }
  });
});
