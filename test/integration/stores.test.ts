import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import type { Bar } from '../../lib/market-data/bar';
import { qualityPolicySchema } from '../../lib/quality/policy';
import { issue } from '../../lib/quality/rules-catalog';
import { countBars, readBars, upsertBars } from '../../lib/store/bars';
import { openDatabase, StoreNotFoundError, type Database } from '../../lib/store/database';
import { MIGRATED_TABLES } from '../../lib/store/migrations';
import { countQuarantineByRule, discardQuarantineFindings, listQuarantine, saveQuarantine } from '../../lib/store/quarantine';
import { getSnapshot, saveSnapshot, setSnapshotStatus } from '../../lib/store/snapshots';
import { createEmptyMysqlDatabase, createMysqlTestDatabase, createSqliteTestDatabase, DRIVERS, type TestDatabase } from '../helpers/databases';

function makeBars(symbols: string[], days: string[]): Bar[] {
  return symbols.flatMap((symbol, s) =>
    days.map((date, d) => ({ symbol, date, open: 10 + s + d / 100, high: 11 + s + d / 100, low: 9 + s + d / 100, close: 10.5 + s + d / 100, volume: 1000 * (d + 1) })),
  );
}

async function columnsOf(store: Database, table: string): Promise<Array<{ name: string; notNull: boolean; pk: boolean }>> {
  if (store.driver === 'sqlite') {
    const rows = await sql<{ name: string; notnull: number; pk: number }>`select name, "notnull", pk from pragma_table_info(${table})`.execute(store.db);
    return rows.rows.map((r) => ({ name: r.name, notNull: r.notnull === 1 || r.pk > 0, pk: r.pk > 0 })).sort((a, b) => a.name.localeCompare(b.name));
  }
  const rows = await sql<{ name: string; nullable: string; key: string }>`
    select column_name as name, is_nullable as nullable, column_key as \`key\` from information_schema.columns
    where table_schema = database() and table_name = ${table}`.execute(store.db);
  return rows.rows.map((r) => ({ name: r.name, notNull: r.nullable === 'NO', pk: r.key === 'PRI' })).sort((a, b) => a.name.localeCompare(b.name));
}

describe('migrations', () => {
  let mysql: TestDatabase;
  let sqlite: TestDatabase;
  beforeAll(async () => {
    [mysql, sqlite] = await Promise.all([createMysqlTestDatabase(), createSqliteTestDatabase()]);
  });
  afterAll(async () => {
    await Promise.all([mysql?.drop(), sqlite?.drop()]);
  });

  it('gives MySQL and SQLite the same tables, columns, nullability and keys', async () => {
    for (const table of MIGRATED_TABLES) {
      const [a, b] = await Promise.all([columnsOf(mysql.store, table), columnsOf(sqlite.store, table)]);
      expect(a.length).toBeGreaterThan(0);
      expect(a).toEqual(b);
    }
  });

  it('re-opening an up-to-date database applies nothing and keeps the data', async () => {
    await upsertBars(sqlite.store, makeBars(['AAA'], ['2017-01-03']));
    const again = await openDatabase(sqlite.url);
    expect(await countBars(again)).toBe(1);
    await again.close();
  });

  it('opens only a store that exists when told to, creating nothing otherwise', async () => {
    const existing = { namedBy: 'DATA_DIR=/x' };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlp-sqlite-existing-'));
    try {
      await expect(openDatabase(`sqlite:${path.join(dir, 'sub', 'p.sqlite')}`, { existing })).rejects.toThrow(new StoreNotFoundError(`No store at ${path.join(dir, 'sub', 'p.sqlite')}: neither the file nor its folder ${path.join(dir, 'sub')} exists (named by DATA_DIR=/x); nothing was created. Point DATA_DIR or DATABASE_URL at the existing store, or create one with a run or an import`));
      await expect(openDatabase(`sqlite:${path.join(dir, 'p.sqlite')}`, { existing })).rejects.toThrow(/: the file does not exist \(named by DATA_DIR=\/x\)/);
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const opened = await openDatabase(sqlite.url, { existing });
    await opened.close();

    // MySQL: a database no process has migrated, or none at all.
    const empty = await createEmptyMysqlDatabase();
    try {
      await expect(openDatabase(empty.url, { existing })).rejects.toThrow(/^No store at mysql:\/\/.*: the database has no pipeline tables \(named by DATA_DIR=\/x\); nothing was created/);
      const missing = new URL(empty.url);
      missing.pathname = `${missing.pathname}_missing`;
      await expect(openDatabase(missing.toString(), { existing })).rejects.toThrow(/: the database does not exist \(named by/);
      const again = await openDatabase(mysql.url, { existing });
      await again.close();
    } finally {
      await empty.drop();
    }
  });

  it('refuses an unknown URL scheme with what to use instead', async () => {
    await expect(openDatabase('postgres://x/y')).rejects.toThrow(/use mysql:\/\/.*or sqlite:/);
  });

  it('refuses a sqlite file a shell would have read otherwise, creating no store under the current folder', async () => {
    const cwd = process.cwd();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlp-sqlite-path-'));
    process.chdir(dir);
    try {
      await expect(openDatabase(`sqlite: ${path.join(dir, 'a.sqlite')}`)).rejects.toThrow(/DATABASE_URL: the file after "sqlite:", " \/.*a\.sqlite", has blank space before or after it/);
      await expect(openDatabase('sqlite:~/pipeline.sqlite')).rejects.toThrow(/starts with "~", which only a shell expands/);
      await expect(openDatabase(`sqlite:'${path.join(dir, 'b.sqlite')}'`)).rejects.toThrow(/starts or ends with a quote/);
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      process.chdir(cwd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.each(DRIVERS)('%s store', (_driver, create) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await create();
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('upserts bars idempotently and lets a corrected value win', async () => {
    const days = nyseTradingDaysBetween('2016-01-04', '2017-12-29');
    const bars = makeBars(['AAA', 'BBB', 'CCC', 'DDD', 'EEE'], days); // 2,510 rows: several statements
    await upsertBars(t.store, bars);
    const first = await readBars(t.store);
    await upsertBars(t.store, bars);
    expect(await readBars(t.store)).toEqual(first);
    expect(first).toHaveLength(bars.length);
    expect(first[0]).toEqual(bars[0]);

    await upsertBars(t.store, [{ ...bars[3], close: 99.25 }]);
    const [corrected] = await readBars(t.store, { symbols: ['AAA'], from: bars[3].date, to: bars[3].date });
    expect(corrected.close).toBe(99.25);
    expect(await countBars(t.store)).toBe(bars.length);
    expect(await countBars(t.store, { symbols: ['BBB'], from: '2017-01-01' })).toBe(nyseTradingDaysBetween('2017-01-01', '2017-12-29').length);
  });

  it('stores quarantine findings once however often they are saved', async () => {
    const findings = [
      issue('ohlc_inconsistent', { symbol: 'AAA', date: '2017-01-03', source: 'a.csv', line: 5, message: 'high < close', raw: '2017-01-03,1,0.5,0.4,1,10,AAA' }),
      issue('calendar_gap', { symbol: 'AAA', date: '2017-02-01', source: 'a.csv', line: null, message: '3 trading days missing', raw: null }),
      issue('empty_input', { symbol: null, date: null, source: 'empty.csv', line: null, message: 'file is empty', raw: null }),
    ];
    await saveQuarantine(t.store, 'ds-test', findings);
    await saveQuarantine(t.store, 'ds-test', findings);
    expect(await countQuarantineByRule(t.store, 'ds-test')).toEqual({ ohlc_inconsistent: 1, calendar_gap: 1, empty_input: 1 });
    const [row] = await listQuarantine(t.store, { snapshotId: 'ds-test', rule: 'ohlc_inconsistent' });
    expect(row).toEqual(findings[0]);
  });

  it('discards the named findings, whatever their source, in statements of many rows, and nothing else', async () => {
    // 1,200 calendar_gap flags (three statements' worth), each stored from two sources, beside rows
    // that differ from them in one field only; then a finding without symbol or date.
    const gap = (symbol: string, date: string, source: string, message = '1 trading day missing') => issue('calendar_gap', { symbol, date, source, line: null, message, raw: null });
    const days = nyseTradingDaysBetween('2013-01-02', '2017-12-29').slice(0, 1200);
    const named = days.map((d, i) => gap(`S${i % 7}`, d, 'live'));
    const kept = [...days.slice(0, 50).map((d, i) => gap(`S${i % 7}`, d, 'live', '2 trading days missing')), ...days.slice(0, 50).map((d, i) => gap(`S${(i % 7) + 1}`, d, 'live')), issue('extreme_move', { symbol: 'S0', date: days[0], source: 'live', line: null, message: '1 trading day missing', raw: null })];
    const undated = issue('empty_input', { symbol: null, date: null, source: 'empty.csv', line: null, message: 'file is empty', raw: null });
    await saveQuarantine(t.store, 'ds-discard', [...named, ...named.map((q) => ({ ...q, source: 'a.csv' })), ...kept, undated]);
    await saveQuarantine(t.store, 'ds-other', named.slice(0, 10));
    await discardQuarantineFindings(t.store, 'ds-discard', named);
    const left = await listQuarantine(t.store, { snapshotId: 'ds-discard', limit: 10_000 });
    const key = (q: { rule: string; symbol: string | null; date: string | null; message: string }) => `${q.rule} ${q.symbol} ${q.date} ${q.message}`;
    expect(left.map(key).sort()).toEqual([...kept, undated].map(key).sort());
    expect(await countQuarantineByRule(t.store, 'ds-other')).toEqual({ calendar_gap: 10 }); // another snapshot's are not touched
    await discardQuarantineFindings(t.store, 'ds-discard', [undated]);
    expect((await listQuarantine(t.store, { snapshotId: 'ds-discard', limit: 10_000 })).map(key).sort()).toEqual(kept.map(key).sort());
  });

  it('records a snapshot once and keeps the first record on re-import', async () => {
    const report = { policy: qualityPolicySchema.parse({}), rowsRead: 3, rowsAccepted: 2, rowsRejected: 1, flags: 0, badRowShare: 1 / 3, byRule: { negative_volume: 1 }, bySymbol: {} };
    const snapshot = { id: 'ds-abc', contentHash: 'f'.repeat(64), source: { kind: 'csv' }, symbols: ['AAA'], firstDate: '2017-01-03', lastDate: '2017-01-04', rowsRead: 3, rowCount: 2, rejectedCount: 1, flaggedCount: 0, qualityReport: report };
    await saveSnapshot(t.store, snapshot);
    const first = await getSnapshot(t.store, 'ds-abc');
    await setSnapshotStatus(t.store, 'ds-abc', 'passed', null);
    await saveSnapshot(t.store, { ...snapshot, rowCount: 999 });
    const again = await getSnapshot(t.store, 'ds-abc');
    expect(again).toEqual({ ...first, status: 'passed' });
    expect(again?.qualityReport).toEqual(report);
  });
});
