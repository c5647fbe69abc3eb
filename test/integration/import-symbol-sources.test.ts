import fs from 'node:fs';
import path from 'node:path';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../../lib/ingest/import-request';
import { getSnapshot } from '../../lib/store/snapshots';
import { readBars } from '../../lib/store/bars';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';

const request = (input: ImportRequestInput) => importRequestSchema.parse(input);
const DAYS = nyseTradingDaysBetween('2018-01-02', '2018-12-31');
const STOOQ_HEADER = 'Date,Open,High,Low,Close,Volume';
const KAGGLE_HEADER = 'date,open,high,low,close,volume,Name';

/** Rows (date,open,high,low,close,volume) for `n` trading days from day `from`, around `level`. */
function rows(n: number, level: number, from = 0): string[] {
  return DAYS.slice(from, from + n).map((date, i) => {
    const close = level + Math.sin(i / 5);
    return `${date},${(close * 0.99).toFixed(4)},${(close * 1.01).toFixed(4)},${(close * 0.98).toFixed(4)},${close.toFixed(4)},${100_000 + i}`;
  });
}

function folder(prefix: string, files: Record<string, string>): string {
  const dir = tempDir(prefix);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

describe('symbols from file names and symbol columns: one security, one series (SQLite)', () => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it("stores Stooq's brk-b.us.csv and sap.de.csv as the provider does (BRK.B, SAP.DE), so a Kaggle BRK.B file continues that series", async () => {
    const stooq = folder('mlp-stooq-names-', {
      'brk-b.us.csv': [STOOQ_HEADER, ...rows(30, 150)].join('\n'),
      'sap.de.csv': [STOOQ_HEADER, ...rows(30, 90)].join('\n'),
    });
    expect((await importBars(t.store, request({ source: { kind: 'csv', path: stooq }, quality: { minHistoryBars: 1 } }))).status).toBe('published');
    const kaggle = folder('mlp-kaggle-brk-', { 'BRK.B.csv': [KAGGLE_HEADER, ...rows(30, 150, 30).map((r) => `${r},BRK.B`)].join('\n') });
    expect((await importBars(t.store, request({ source: { kind: 'csv', path: kaggle }, quality: { minHistoryBars: 1 } }))).status).toBe('published');
    const symbols = [...new Set((await readBars(t.store, {})).map((b) => b.symbol))].sort();
    expect(symbols).toEqual(['BRK.B', 'SAP.DE']);
    expect(await readBars(t.store, { symbols: ['BRK.B'] })).toHaveLength(60);
  });

  it('a Stooq file of another market (aaa.uk.csv, aaa_de_d.csv) is another security: stored beside the US series, which it leaves as it was', async () => {
    const us = folder('mlp-stooq-us-', { 'aaa.us.csv': [STOOQ_HEADER, ...rows(30, 100)].join('\n') });
    expect((await importBars(t.store, request({ source: { kind: 'csv', path: us }, quality: { minHistoryBars: 1 } }))).status).toBe('published');
    const before = await readBars(t.store, { symbols: ['AAA'] });
    const abroad = folder('mlp-stooq-abroad-', {
      'aaa.uk.csv': [STOOQ_HEADER, ...rows(30, 1200)].join('\n'),
      'aaa_de_d.csv': [STOOQ_HEADER, ...rows(30, 80)].join('\n'),
    });
    expect((await importBars(t.store, request({ source: { kind: 'csv', path: abroad }, quality: { minHistoryBars: 1 } }))).status).toBe('published');
    expect(await readBars(t.store, { symbols: ['AAA'] })).toEqual(before);
    expect(await t.store.db.selectFrom('bar_revisions').selectAll().execute()).toEqual([]);
    expect([...new Set((await readBars(t.store, {})).map((b) => b.symbol))].filter((s) => s.startsWith('AAA')).sort()).toEqual(['AAA', 'AAA.DE', 'AAA.UK']);
  });

  it('refuses a file named with junk (AAPL_2017.csv) naming it, with nothing stored', async () => {
    const before = await dumpStore(t.store);
    const dir = folder('mlp-junk-name-', { 'AAPL_2017.csv': [STOOQ_HEADER, ...rows(30, 100)].join('\n') });
    await expect(importBars(t.store, request({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }))).rejects.toMatchObject({
      code: 'UNREADABLE_SOURCE',
      message: expect.stringMatching(/AAPL_2017\.csv as a price table: it has no symbol column and its name "AAPL_2017\.csv" does not look like a symbol/),
    });
    expect(await dumpStore(t.store)).toEqual(before);
  });

  it('refuses a file whose Code column holds two tickers, instead of publishing them as one series named after the file', async () => {
    const two = [...rows(20, 30).map((r) => `${r},AAA`), ...rows(30, 300, 20).map((r) => `${r},BBB`)];
    const dir = folder('mlp-code-col-', { 'export.csv': ['Date,Open,High,Low,Close,Volume,Code', ...two].join('\n') });
    await expect(importBars(t.store, request({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }))).rejects.toMatchObject({
      code: 'UNREADABLE_SOURCE',
      message: expect.stringMatching(/export\.csv as a price table: column 7 "Code" names each row's symbol/),
    });
    const unnamed = folder('mlp-unnamed-col-', { 'export.csv': ['Date,Open,High,Low,Close,Volume,Series', ...two].join('\n') });
    await expect(importBars(t.store, request({ source: { kind: 'csv', path: unnamed }, quality: { minHistoryBars: 1 } }))).rejects.toMatchObject({
      code: 'UNREADABLE_SOURCE',
      message: expect.stringMatching(/column 7 "Series" changes between rows like a symbol column \("AAA" on 20 rows from line 2, "BBB" on 30 rows from line 22\)/),
    });
    expect(await readBars(t.store, {})).toEqual([]);
  });

  it('refuses an import in which two files give rows for one symbol, naming both and the symbol, with nothing stored', async () => {
    const good = folder('mlp-two-files-first-', { 'msft.us.csv': [STOOQ_HEADER, ...rows(60, 50)].join('\n') });
    expect((await importBars(t.store, request({ source: { kind: 'csv', path: good }, quality: { minHistoryBars: 1 } }))).status).toBe('published');
    const before = await dumpStore(t.store);

    // An unadjusted Stooq file and a 7:1 split-adjusted Kaggle file of AAPL over disjoint dates.
    const adjusted = rows(150, 100, 150).map((r) => {
      const [date, ...values] = r.split(',');
      return [date, ...values.slice(0, 4).map((v) => (Number(v) / 7).toFixed(4)), String(Number(values[4]) * 7), 'AAPL'].join(',');
    });
    const dir = folder('mlp-two-files-', {
      'aapl.us.csv': [STOOQ_HEADER, ...rows(150, 100)].join('\n'),
      'kaggle.csv': [KAGGLE_HEADER, ...adjusted].join('\n'),
      'msft.us.csv': [STOOQ_HEADER, ...rows(60, 50)].join('\n'),
    });
    const refused = importBars(t.store, request({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }));
    await expect(refused).rejects.toMatchObject({ name: 'BadInputError', code: 'SOURCE_REFUSED' });
    const message = ((await refused.catch((e: unknown) => e)) as Error).message;
    expect(message).toContain(path.join(dir, 'aapl.us.csv'));
    expect(message).toContain(path.join(dir, 'kaggle.csv'));
    expect(message).toMatch(/both give rows for AAPL/);
    expect(message).toMatch(/Merge them into one file, or import them separately/);
    expect(await dumpStore(t.store)).toEqual(before);

    // Separately, the second file of AAPL is a revision of its series as any later import is.
    const first = folder('mlp-two-files-a-', { 'aapl.us.csv': [STOOQ_HEADER, ...rows(150, 100)].join('\n') });
    expect((await importBars(t.store, request({ source: { kind: 'csv', path: first }, quality: { minHistoryBars: 1 } }))).status).toBe('published');
  });

  it('does not count a symbol outside the request scope as given by two files', async () => {
    const dir = folder('mlp-two-files-scoped-', {
      'aapl.us.csv': [STOOQ_HEADER, ...rows(40, 100)].join('\n'),
      'all.csv': [KAGGLE_HEADER, ...rows(40, 100, 40).map((r) => `${r},AAPL`), ...rows(40, 50).map((r) => `${r},MSFT`)].join('\n'),
    });
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: dir }, symbols: ['MSFT'], quality: { minHistoryBars: 1 } }));
    expect(summary.status).toBe('published');
    expect(summary.rowsAccepted).toBe(40);
  });

  it('names the rows out of scope when a request for BRK.B finds none (a file of another symbol)', async () => {
    const dir = folder('mlp-scope-', { 'brk-b.us.csv': [STOOQ_HEADER, ...rows(100, 150)].join('\n') });
    expect((await importBars(t.store, request({ source: { kind: 'csv', path: dir }, symbols: ['BRK.B'], quality: { minHistoryBars: 1 } }))).rowsAccepted).toBe(100);
    const other = folder('mlp-scope-other-', { 'brk-a.us.csv': [STOOQ_HEADER, ...rows(100, 150)].join('\n') });
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: other }, symbols: ['BRK.B'], quality: { minHistoryBars: 1 } }));
    expect(summary.status).toBe('rejected');
    expect(summary.rowsOutOfScope).toBe(100);
    const snapshot = await getSnapshot(t.store, summary.snapshotId);
    expect(snapshot?.statusReason).toContain("no usable rows (0 read, 0 rejected, 100 more out of the request's scope");
  });

  describe('a file named after one symbol whose symbol column names another on every row', () => {
    const kaggle = (symbol: string, n: number, level: number, from = 0) => [KAGGLE_HEADER, ...rows(n, level, from).map((r) => `${r},${symbol}`)].join('\n');

    it('is refused, the store unchanged, when the store holds bars of the name\'s symbol', async () => {
      const first = folder('mlp-named-stored-', { 'MSFT.csv': kaggle('MSFT', 60, 50) });
      expect((await importBars(t.store, request({ source: { kind: 'csv', path: first }, quality: { minHistoryBars: 1 } }))).status).toBe('published');
      const before = await dumpStore(t.store);
      const misnamed = folder('mlp-named-stored-next-', { 'MSFT.csv': kaggle('IBM', 60, 150, 60) });
      const refused = importBars(t.store, request({ source: { kind: 'csv', path: misnamed }, quality: { minHistoryBars: 1 } }));
      await expect(refused).rejects.toMatchObject({ name: 'BadInputError', code: 'SOURCE_REFUSED' });
      await expect(refused).rejects.toThrow(/MSFT\.csv: it is named after MSFT, and the store holds bars of MSFT, but its symbol column names IBM on every row.*name the file after it \(IBM\.csv\)/);
      expect(await dumpStore(t.store)).toEqual(before);
    });

    it('is refused when another file of the import gives rows of the name\'s symbol (two files swapped)', async () => {
      const swapped = folder('mlp-named-swapped-', { 'MSFT.csv': kaggle('IBM', 60, 150), 'IBM.csv': kaggle('MSFT', 60, 50) });
      const refused = importBars(t.store, request({ source: { kind: 'csv', path: swapped }, quality: { minHistoryBars: 1 } }));
      await expect(refused).rejects.toThrow(/it is named after (IBM|MSFT), and .*(IBM|MSFT)\.csv in this import gives rows of (IBM|MSFT)/);
      expect(await readBars(t.store, {})).toEqual([]);
    });

    it('is flagged when the import\'s other files are named after their rows\' symbols, and stored under the column\'s symbol', async () => {
      const dir = folder('mlp-named-flag-', { 'AAPL.csv': kaggle('AAPL', 60, 100), 'MSFT.csv': kaggle('IBM', 60, 150) });
      const summary = await importBars(t.store, request({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }));
      expect(summary.status).toBe('published');
      const report = (await getSnapshot(t.store, summary.snapshotId))?.qualityReport;
      expect(report?.byRule.symbol_not_file_name).toBe(1);
      expect(report?.bySymbol.IBM.flags).toBeGreaterThanOrEqual(1);
      expect(report?.bySymbol.AAPL.flags).toBe(0);
      expect([...new Set((await readBars(t.store, {})).map((b) => b.symbol))].sort()).toEqual(['AAPL', 'IBM']);
    });

    it('is neither when the name is the only one and names nothing stored (input.csv holding SPY), nor for a file of many symbols or one spelt the Stooq way', async () => {
      const lone = folder('mlp-named-plain-', { 'input.csv': kaggle('SPY', 60, 250) });
      const others = folder('mlp-named-others-', {
        'AAPL.csv': [KAGGLE_HEADER, ...rows(60, 100).map((r) => `${r},AAPL`), ...rows(60, 50).map((r) => `${r},ORCL`)].join('\n'),
        'brk-b.us.csv': kaggle('BRK.B', 60, 180),
        'BF-B.csv': kaggle('BF.B', 60, 40),
      });
      for (const dir of [lone, others]) {
        const summary = await importBars(t.store, request({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }));
        expect(summary.status).toBe('published');
        expect((await getSnapshot(t.store, summary.snapshotId))?.qualityReport.byRule.symbol_not_file_name).toBeUndefined();
      }
      expect([...new Set((await readBars(t.store, {})).map((b) => b.symbol))].sort()).toEqual(['AAPL', 'BF.B', 'BRK.B', 'ORCL', 'SPY']);
    });
  });
});
