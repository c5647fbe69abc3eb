import fs from 'node:fs';
import path from 'node:path';
import { Migrator, sql } from 'kysely';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { importBars, stageImport } from '../../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../../lib/ingest/import-request';
import { judgeSnapshot } from '../../lib/ingest/judge';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { readBars, upsertBars } from '../../lib/store/bars';
import { openDatabase } from '../../lib/store/database';
import { migrationProvider } from '../../lib/store/migrations';
import { getSnapshot } from '../../lib/store/snapshots';
import { countStagedBars, listRevisions, publishSnapshot, revisedSince, SupersededAttemptError } from '../../lib/store/staging';
import { createMysqlTestDatabase, DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';
import { listQuarantine } from '../../lib/store/quarantine';

const request = (input: ImportRequestInput) => importRequestSchema.parse(input);
const DAYS = nyseTradingDaysBetween('2016-01-04', '2017-12-29').slice(0, 300);

/** A Stooq file (symbol from the name) of 300 days; `scale` multiplies prices, `broken` rows get high < close. */
function writeSeries(dir: string, symbol: string, scale: number, broken = 0, days = DAYS): void {
  const lines = days.map((date, i) => {
    const close = (24 + Math.sin(i / 7)) * scale;
    const high = i < broken ? close * 0.9 : close * 1.01;
    return `${date},${(close * 0.995).toFixed(4)},${high.toFixed(4)},${(close * 0.985).toFixed(4)},${close.toFixed(4)},${1000 + i}`;
  });
  fs.writeFileSync(path.join(dir, `${symbol.toLowerCase()}.us.csv`), `Date,Open,High,Low,Close,Volume\n${lines.join('\n')}\n`);
}

async function barsTable(t: TestDatabase): Promise<unknown[]> {
  return (await dumpStore(t.store)).bars;
}

describe.each(DRIVERS)('staged imports on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('a snapshot that fails the gate leaves the published bars byte-identical and is rejected with its reason (issue 13, problem 1)', async () => {
    const good = tempDir('mlp-good-');
    writeSeries(good, 'AAPL', 1);
    writeSeries(good, 'MSFT', 2);
    const first = await importBars(t.store, request({ source: { kind: 'csv', path: good }, quality: { minHistoryBars: 1 } }));
    expect(first.status).toBe('published');
    const before = await barsTable(t);
    expect(before).toHaveLength(600);

    // The unadjusted re-export of AAPL (4x prices) with 10% broken rows: the gate must reject it.
    const bad = tempDir('mlp-bad-');
    writeSeries(bad, 'AAPL', 4, 30);
    const second = await importBars(t.store, request({ source: { kind: 'csv', path: bad }, quality: { minHistoryBars: 1 } }));
    expect(second.status).toBe('rejected');
    expect(await barsTable(t)).toEqual(before);
    const snapshot = await getSnapshot(t.store, second.snapshotId);
    expect(snapshot?.status).toBe('rejected');
    // Its 270 good rows revise the stored bars by ×4 with 30 stored bars left on the old basis: the
    // series is rejected whole as well (price_basis_splice), so all 300 rows count as rejected.
    expect(snapshot?.statusReason).toMatch(/rejected whole \(price_basis_splice\): the rows of AAPL revise the 270 stored bars they share .* by a common factor of the close, ×4\.000/);
    expect(snapshot?.statusReason).toMatch(/100\.00% of rows rejected \(300 of 300\).*ohlc_inconsistent: 30/);
    expect(await countStagedBars(t.store)).toBe(0); // nothing of a rejected snapshot is kept but its record
    expect((await getSnapshot(t.store, first.snapshotId))?.status).toBe('published');
    // The gate asked again keeps its verdict and still writes nothing.
    expect((await judgeSnapshot(t.store, second.snapshotId)).verdict.passed).toBe(false);
    expect(await barsTable(t)).toEqual(before);
  });

  it('publishes a passed correction once, logging every revised bar with old and new values', async () => {
    const v1 = tempDir('mlp-v1-');
    writeSeries(v1, 'AAPL', 1);
    const a = await importBars(t.store, request({ source: { kind: 'csv', path: v1 }, quality: { minHistoryBars: 1 } }));
    expect((await getSnapshot(t.store, a.snapshotId))?.barsAdded).toBe(300);

    // The same series with 10 more days, and 2 of the old days corrected.
    const v2 = tempDir('mlp-v2-');
    const more = nyseTradingDaysBetween('2016-01-04', '2017-12-29').slice(0, 310);
    writeSeries(v2, 'AAPL', 1, 0, more);
    const file = path.join(v2, 'aapl.us.csv');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    for (const n of [101, 201]) {
      const f = lines[n].split(',');
      f[5] = '5555'; // volume
      lines[n] = f.join(',');
    }
    fs.writeFileSync(file, lines.join('\n'));
    const staged = await stageImport(t.store, request({ source: { kind: 'csv', path: v2 }, quality: { minHistoryBars: 1 } }));
    expect(staged.status).toBe('staged');
    expect(await readBars(t.store)).toHaveLength(300); // staging does not touch the published bars
    const judged = await judgeSnapshot(t.store, staged.snapshotId);
    expect(judged.published).toEqual({ added: 10, revised: 2, alreadyPublished: false });
    const after = await barsTable(t);
    expect(after).toHaveLength(310);

    const revisions = await listRevisions(t.store, staged.snapshotId);
    expect(revisions.map((r) => [r.date, r.old.volume, r.new?.volume])).toEqual([
      [DAYS[100], 1100, 5555],
      [DAYS[200], 1200, 5555],
    ]);
    expect(await revisedSince(t.store, { snapshotId: staged.snapshotId })).toEqual(new Map([['AAPL', DAYS[100]]]));
    expect(await revisedSince(t.store, { since: revisions[0].publishedAt })).toEqual(new Map([['AAPL', DAYS[100]]]));
    expect(await revisedSince(t.store, { snapshotId: a.snapshotId })).toEqual(new Map());
    const snapshot = await getSnapshot(t.store, staged.snapshotId);
    expect([snapshot?.status, snapshot?.barsAdded, snapshot?.barsRevised]).toEqual(['published', 10, 2]);

    // Publishing (or importing) the same snapshot again is a no-op.
    expect(await publishSnapshot(t.store, staged.snapshotId)).toEqual({ added: 10, revised: 2, alreadyPublished: true });
    await importBars(t.store, request({ source: { kind: 'csv', path: v2 }, quality: { minHistoryBars: 1 } }));
    expect(await dumpStore(t.store)).toEqual({ ...(await dumpStore(t.store)), bars: after });
    expect(await listRevisions(t.store, staged.snapshotId)).toHaveLength(2);
  });

  it('an attempt taken over by a newer one writes nothing more; the newer resumes and the result equals an uninterrupted import (issue 13, problem 3)', async () => {
    const dir = tempDir('mlp-chunks-');
    await writeSyntheticMarket(dir, { symbols: 6, plantErrors: false });
    const req = request({ source: { kind: 'csv', path: dir } });

    // Attempt A stages chunk 0 and stalls (a worker under load past its heartbeat timeout).
    let releaseA!: () => void;
    const stalled = new Promise<void>((r) => (releaseA = r));
    let reachedStall!: () => void;
    const atStall = new Promise<void>((r) => (reachedStall = r));
    const written: Array<[string, number]> = [];
    const a = stageImport(t.store, req, {
      chunkSize: 1000,
      beforeStage: async (k) => {
        if (k === 1) {
          reachedStall();
          await stalled;
        }
        written.push(['A', k]);
      },
    });
    await atStall;
    // Attempt B starts, resumes after A's chunk 0 and finishes.
    const b = await stageImport(t.store, req, { chunkSize: 1000, beforeStage: (k) => void written.push(['B', k]) });
    expect(b.chunksResumed).toBe(1);
    expect(b.chunksStaged).toBe(5);
    const chunksBefore = await t.store.db.selectFrom('staged_chunks').selectAll().orderBy('chunk').execute();
    const stagedBefore = await countStagedBars(t.store);
    // A wakes up and tries to write chunk 1: refused, nothing changes.
    releaseA();
    await expect(a).rejects.toBeInstanceOf(SupersededAttemptError);
    expect(await t.store.db.selectFrom('staged_chunks').selectAll().orderBy('chunk').execute()).toEqual(chunksBefore);
    expect(await countStagedBars(t.store)).toBe(stagedBefore);
    expect(written).toEqual([['A', 0], ['B', 1], ['B', 2], ['B', 3], ['B', 4], ['B', 5], ['A', 1]]);
    expect(new Set(chunksBefore.map((c) => c.chunk)).size).toBe(chunksBefore.length);

    const judged = await judgeSnapshot(t.store, b.snapshotId);
    expect(judged.status).toBe('published');
    const interrupted = await dumpStore(t.store);

    const clean = await create();
    try {
      const whole = await importBars(clean.store, req);
      const uninterrupted = await dumpStore(clean.store);
      expect(whole.snapshotId).toBe(b.snapshotId);
      // Timestamps of the two runs differ: when created and published (the bars' event_time is their
      // publication's), and the clock that judged them.
      const untimed = (rows: unknown[]) => rows.map((r) => ({ ...(r as object), event_time: '' }));
      expect(untimed(interrupted.bars)).toEqual(untimed(uninterrupted.bars));
      expect(interrupted.quarantine).toEqual(uninterrupted.quarantine);
      const strip = (rows: unknown[]) => rows.map((r) => ({ ...(r as object), created_at: '', published_at: '', source: (r as { source: string }).source.replace(/"judgedAt":"[^"]*"/, '"judgedAt":""') }));
      expect(strip(interrupted.snapshots)).toEqual(strip(uninterrupted.snapshots));
    } finally {
      await clean.drop();
    }
  });

  it('a crashed attempt is resumed at the first chunk it had not staged', async () => {
    const dir = tempDir('mlp-crash-');
    await writeSyntheticMarket(dir, { symbols: 4, plantErrors: false });
    const req = request({ source: { kind: 'csv', path: dir } });
    const progress: number[] = [];
    await expect(
      stageImport(t.store, req, {
        chunkSize: 1000,
        beforeStage: (k) => {
          if (k === 2) throw new Error('worker died');
        },
      }),
    ).rejects.toThrow('worker died');
    expect(await t.store.db.selectFrom('staged_chunks').select('chunk').orderBy('chunk').execute()).toEqual([{ chunk: 0 }, { chunk: 1 }]);
    const resumed = await stageImport(t.store, req, { chunkSize: 1000, onProgress: (p) => p.phase === 'staging' && progress.push(p.chunk) });
    expect([resumed.chunksResumed, resumed.chunksStaged]).toEqual([2, 2]);
    expect(progress).toEqual([3, 4]);
    expect(await countStagedBars(t.store, resumed.snapshotId)).toBe(resumed.rowsAccepted);
  });

  it('judges a resumed import with the clock of its first attempt, so a retry after midnight keeps its quarantine true', async () => {
    const dir = tempDir('mlp-midnight-');
    writeSeries(dir, 'AAA', 1);
    writeSeries(dir, 'BBB', 2);
    const req = request({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } });
    const last = DAYS[DAYS.length - 1];
    // 15:00 in New York on the last day: its bars are unfinished (session_not_closed).
    const during = () => new Date(`${last}T20:00:00Z`);
    await expect(stageImport(t.store, req, { chunkSize: 300, now: during, beforeStage: (k) => { if (k === 1) throw new Error('lease lost'); } })).rejects.toThrow('lease lost');
    // The retry runs the next morning: the first attempt's clock still judges both chunks.
    const summary = await importBars(t.store, req, { chunkSize: 300, now: () => new Date(Date.parse(`${last}T20:00:00Z`) + 18 * 3600 * 1000) });
    expect(summary.status).toBe('published');
    expect(summary.chunksResumed).toBe(1);
    expect(summary.byRule).toEqual({ session_not_closed: 2 });
    expect((await readBars(t.store)).filter((b) => b.date === last)).toEqual([]);
    expect((await listQuarantine(t.store, { snapshotId: summary.snapshotId })).filter((i) => i.date === last).map((i) => [i.symbol, i.rule])).toEqual([['AAA', 'session_not_closed'], ['BBB', 'session_not_closed']]);
  });

  it('sweeps the staging rows of an import given up a day ago; the same content imported again starts afresh and publishes', async () => {
    const dir = tempDir('mlp-abandoned-');
    await writeSyntheticMarket(dir, { symbols: 3, plantErrors: false });
    const req = request({ source: { kind: 'csv', path: dir } });
    await expect(stageImport(t.store, req, { chunkSize: 1000, beforeStage: (k) => { if (k === 1) throw new Error('worker retired'); } })).rejects.toThrow('worker retired');
    const [abandoned] = await t.store.db.selectFrom('dataset_snapshots').select(['id', 'status']).execute();
    expect(abandoned.status).toBe('staging');
    expect(await countStagedBars(t.store, abandoned.id)).toBeGreaterThan(0);
    const other = tempDir('mlp-other-');
    await writeSyntheticMarket(other, { symbols: 2, seed: 7, plantErrors: false });
    // Other symbols (OTH01, OTH02): another market's SYN01 stored under SYN01 would refuse this one's (series_mismatch).
    for (const file of fs.readdirSync(other).filter((f) => f.endsWith('.csv'))) {
      fs.writeFileSync(path.join(other, file.replace('SYN', 'OTH')), fs.readFileSync(path.join(other, file), 'utf8').replaceAll('SYN', 'OTH'));
      fs.rmSync(path.join(other, file));
    }
    // Staged rows carry real timestamps; judge them from two days after they were written.
    const later = () => new Date(Date.now() + 2 * 24 * 3600 * 1000);
    await importBars(t.store, request({ source: { kind: 'csv', path: other } }), { now: later });
    expect(await countStagedBars(t.store, abandoned.id)).toBe(0);
    expect(await t.store.db.selectFrom('staged_chunks').select('chunk').where('snapshot_id', '=', abandoned.id).execute()).toEqual([]);
    const record = await getSnapshot(t.store, abandoned.id);
    expect(record?.statusReason).toMatch(/^abandoned: no chunk staged since/);
    const again = await importBars(t.store, req, { chunkSize: 1000 });
    expect(again.snapshotId).toBe(abandoned.id);
    expect([again.status, again.chunksResumed]).toEqual(['published', 0]);
    expect(await countStagedBars(t.store)).toBe(0);
  });

  it('records the report of an import with 1,200 symbols (over 64 KB of JSON) and publishes it', async () => {
    const dir = tempDir('mlp-wide-');
    const days = nyseTradingDaysBetween('2017-01-03', '2017-01-31');
    for (let k = 0; k < 1200; k++) {
      const symbol = `W${String(k).padStart(4, '0')}`;
      fs.writeFileSync(path.join(dir, `${symbol.toLowerCase()}.us.csv`), `Date,Open,High,Low,Close,Volume\n${days.map((d, i) => `${d},${10 + i},${11 + i},${9 + i},${10.5 + i},${1000 + k}`).join('\n')}\n`);
    }
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }));
    expect(summary.status).toBe('published');
    const snapshot = await getSnapshot(t.store, summary.snapshotId);
    expect(JSON.stringify(snapshot?.qualityReport).length).toBeGreaterThan(65_535);
    expect(Object.keys(snapshot?.qualityReport.bySymbol ?? {})).toHaveLength(1200);
    expect(snapshot?.symbols).toHaveLength(1200);
  });

  it('does not sweep an import that staged a chunk recently', async () => {
    const dir = tempDir('mlp-recent-');
    await writeSyntheticMarket(dir, { symbols: 3, plantErrors: false });
    const req = request({ source: { kind: 'csv', path: dir } });
    await expect(stageImport(t.store, req, { chunkSize: 1000, beforeStage: (k) => { if (k === 1) throw new Error('worker died'); } })).rejects.toThrow('worker died');
    const other = tempDir('mlp-other-');
    await writeSyntheticMarket(other, { symbols: 2, seed: 7, plantErrors: false });
    await importBars(t.store, request({ source: { kind: 'csv', path: other } }));
    const resumed = await stageImport(t.store, req, { chunkSize: 1000 });
    expect(resumed.chunksResumed).toBe(1);
  });

  it('keeps symbols that differ only in case or accents apart (issue 13, problem 9)', async () => {
    const bar = (symbol: string, close: number) => ({ symbol, date: '2017-01-03', open: close, high: close, low: close, close, volume: 1 });
    await upsertBars(t.store, [bar('AAPL', 1), bar('APPL', 2)]);
    await upsertBars(t.store, [bar('aapl', 3), bar('ÄPPL', 4)]);
    expect((await readBars(t.store)).map((b) => [b.symbol, b.close]).sort()).toEqual([
      ['AAPL', 1],
      ['APPL', 2],
      ['aapl', 3],
      ['ÄPPL', 4],
    ]);
  });

  it('refuses a symbol over 32 characters before writing it, naming the rule; the store refuses it too', async () => {
    const dir = tempDir('mlp-long-');
    const long = 'X'.repeat(33);
    fs.writeFileSync(path.join(dir, 'k.csv'), `date,open,high,low,close,volume,Name\n2017-01-03,1,2,0.5,1.5,100,${long}\n2017-01-04,1,2,0.5,1.5,100,OK\n`);
    // The reader rejects the row by the one symbol rule (a quarantined row, not a failed write retried 8 times).
    const summary = await stageImport(t.store, request({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1, maxBadRowShare: 0.6 } }));
    expect(summary).toMatchObject({ rowsAccepted: 1, rowsRejected: 1, byRule: { invalid_symbol: 1 } });
    await judgeSnapshot(t.store, summary.snapshotId);
    expect((await readBars(t.store)).map((b) => b.symbol)).toEqual(['OK']);
    await expect(upsertBars(t.store, [{ symbol: long, date: '2017-01-03', open: 1, high: 1, low: 1, close: 1, volume: 1 }])).rejects.toMatchObject({ code: 'SYMBOL_TOO_LONG' });
    // 32 characters, some outside ASCII, fit.
    await upsertBars(t.store, [{ symbol: 'Ä'.repeat(32), date: '2017-01-03', open: 1, high: 1, low: 1, close: 1, volume: 1 }]);
  });
});

describe('MySQL symbol columns', () => {
  let t: TestDatabase;
  afterAll(async () => {
    await t?.drop();
  });

  it('are converted to a binary collation by the migration, keeping the rows already stored', async () => {
    t = await createMysqlTestDatabase();
    // Roll the fresh database back to before the conversion, store a bar, then migrate again.
    const migrator = new Migrator({ db: t.store.db, provider: migrationProvider });
    expect((await migrator.migrateTo('0006_operations')).error).toBeUndefined();
    await sql`insert into bars (symbol, date, open, high, low, close, volume) values ('AAPL', '2017-01-03', 1, 1, 1, 1, 1)`.execute(t.store.db);
    await expect(sql`insert into bars (symbol, date, open, high, low, close, volume) values ('aapl', '2017-01-03', 2, 2, 2, 2, 2)`.execute(t.store.db)).rejects.toThrow(/Duplicate entry/);
    const again = await openDatabase(t.url);
    try {
      await sql`insert into bars (symbol, date, open, high, low, close, volume) values ('aapl', '2017-01-03', 2, 2, 2, 2, 2)`.execute(again.db);
      expect((await readBars(again)).map((b) => b.symbol)).toEqual(['AAPL', 'aapl']);
      const columns = await sql<{ t: string; c: string }>`
        select table_name as t, collation_name as c from information_schema.columns
        where table_schema = database() and column_name = 'symbol' order by table_name`.execute(again.db);
      expect(columns.rows.length).toBeGreaterThanOrEqual(8);
      for (const row of columns.rows) expect(row).toEqual({ t: row.t, c: 'utf8mb4_bin' });
    } finally {
      await again.close();
    }
  });
});

describe.each(DRIVERS)('an import staged before chunks held their bars, on %s', (_driver, create) => {
  let t: TestDatabase;
  afterAll(async () => {
    await t?.drop();
  });

  it('is carried over by the migration and publishes the same bars', async () => {
    t = await create();
    const migrator = new Migrator({ db: t.store.db, provider: migrationProvider });
    expect((await migrator.migrateTo('0011_large_documents')).error).toBeUndefined();
    const id = 'ds-legacy';
    await sql`insert into dataset_snapshots (id, content_hash, source, symbols, symbol_count, first_date, last_date, rows_read, row_count, rejected_count, flagged_count, quality_report, status, status_reason, created_at, attempt_token, published_at, bars_added, bars_revised)
      values (${id}, 'h', '{}', '["AAPL","MSFT"]', 2, '2017-01-03', '2017-01-04', 3, 3, 0, 0, '{}', 'passed', null, '2017-01-05T00:00:00.000Z', null, null, null, null)`.execute(t.store.db);
    for (const chunk of [0, 1]) await sql`insert into staged_chunks (snapshot_id, chunk, ${sql.ref('rows')}, report, attempt_token, staged_at) values (${id}, ${chunk}, ${chunk === 0 ? 2 : 1}, '{}', 'tok', '2017-01-05T00:00:00.000Z')`.execute(t.store.db);
    await sql`insert into bars_staging (snapshot_id, symbol, date, open, high, low, close, volume) values
      (${id}, 'AAPL', '2017-01-03', 1.5, 2.25, 1, 2, 100), (${id}, 'AAPL', '2017-01-04', 2, 3, 1.75, 2.5, 200), (${id}, 'MSFT', '2017-01-03', 60.125, 61, 60, 60.5, 300)`.execute(t.store.db);
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    expect(await countStagedBars(t.store, id)).toBe(3);
    const published = await publishSnapshot(t.store, id);
    expect(published).toEqual({ added: 3, revised: 0, alreadyPublished: false });
    expect(await readBars(t.store)).toEqual([
      { symbol: 'AAPL', date: '2017-01-03', open: 1.5, high: 2.25, low: 1, close: 2, volume: 100 },
      { symbol: 'AAPL', date: '2017-01-04', open: 2, high: 3, low: 1.75, close: 2.5, volume: 200 },
      { symbol: 'MSFT', date: '2017-01-03', open: 60.125, high: 61, low: 60, close: 60.5, volume: 300 },
    ]);
    expect(await countStagedBars(t.store)).toBe(0);
  });
});
