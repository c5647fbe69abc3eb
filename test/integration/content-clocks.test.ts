import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { importBars, providerCacheKey, stageImport } from '../../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../../lib/ingest/import-request';
import { ProviderError, type HistoricalBarProvider } from '../../lib/market-data/providers/provider';
import { readBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { getSnapshot, recordContentClocks } from '../../lib/store/snapshots';
import { createMysqlTestDatabase, createSqliteTestDatabase, DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';

/**
 * One clock per file content: the same bytes are judged (future_date, session_not_closed) by the
 * clock of the first time they were seen, whichever import (other files beside them, another scope
 * or policy, a provider retry) brings them back.
 */
const request = (input: ImportRequestInput) => importRequestSchema.parse(input);
// Ends on Tuesday 27 February 2024 (New York on EST, UTC-5).
const DAYS = nyseTradingDaysBetween('2023-06-01', '2024-02-27');
const TODAY = DAYS[DAYS.length - 1];
const ny = (day: string, hhmm: string) => new Date(`${day}T${hhmm}:00-05:00`);
const POLICY = { minHistoryBars: 1 };
const HEADER = 'Date,Open,High,Low,Close,Volume';

function rows(days: readonly string[], base: number): string {
  return days.map((d, i) => `${d},${(base + i / 10 - 0.05).toFixed(2)},${(base + i / 10 + 0.5).toFixed(2)},${(base + i / 10 - 0.5).toFixed(2)},${(base + i / 10).toFixed(2)},${1000 + i}`).join('\n');
}

function write(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

// A download of AAPL taken during today's session: its last row is today's bar so far.
const AAPL_AT_11 = `${HEADER}\n${rows(DAYS, 100)}\n`;

async function barToday(store: Database, symbol: string) {
  return (await readBars(store, { symbols: [symbol], from: TODAY })).map((b) => [b.close, b.volume]);
}

describe.each(DRIVERS)('content clocks on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('judges the same file bytes by the clock of their first import, beside other files, in another scope, policy or name', async () => {
    const first = tempDir('mlp-clock-a-');
    const aapl = write(first, 'aapl.csv', AAPL_AT_11);
    const early = await importBars(t.store, request({ source: { kind: 'csv', path: aapl }, quality: POLICY }), { now: () => ny(TODAY, '11:00') });
    expect([early.status, early.byRule.session_not_closed]).toEqual(['published', 1]);

    // After the close, the same bytes in a folder beside a fresh download of MSFT (taken at 17:00,
    // its bar of today final): AAPL's bar stays unfinished, MSFT's is published.
    const folder = tempDir('mlp-clock-b-');
    fs.copyFileSync(aapl, path.join(folder, 'aapl.csv'));
    write(folder, 'msft.csv', `${HEADER}\n${rows(DAYS, 50)}\n`);
    const later = await importBars(t.store, request({ source: { kind: 'csv', path: folder }, quality: POLICY }), { now: () => ny(TODAY, '17:00') });
    expect([later.status, later.byRule.session_not_closed]).toEqual(['published', 1]);
    expect(await barToday(t.store, 'AAPL')).toEqual([]);
    expect(await barToday(t.store, 'MSFT')).toHaveLength(1);
    // The snapshot says which file was judged by an earlier clock than its own.
    expect((await getSnapshot(t.store, later.snapshotId))?.source).toMatchObject({
      judgedAt: ny(TODAY, '17:00').toISOString(),
      fileClocks: { [path.join(folder, 'aapl.csv')]: ny(TODAY, '11:00').toISOString() },
    });

    // Alone with a scope, with another policy, or renamed: still the 11:00 download.
    const scoped = await importBars(t.store, request({ source: { kind: 'csv', path: aapl }, symbols: ['AAPL'], quality: POLICY }), { now: () => ny(TODAY, '17:00') });
    const policy = await importBars(t.store, request({ source: { kind: 'csv', path: aapl }, quality: { ...POLICY, maxBadRowShare: 0.05 } }), { now: () => ny(TODAY, '17:00') });
    const renamed = write(tempDir('mlp-clock-c-'), 'aapl.us.csv', AAPL_AT_11);
    const other = await importBars(t.store, request({ source: { kind: 'csv', path: renamed }, quality: POLICY }), { now: () => ny(TODAY, '18:00') });
    for (const s of [scoped, policy, other]) expect([s.status, s.byRule.session_not_closed]).toEqual(['published', 1]);
    expect(await barToday(t.store, 'AAPL')).toEqual([]);
  });

  it('judges bytes a failed import read by when it read them', async () => {
    // The folder fails (a file is no price table) after its files were read at 11:00.
    const folder = tempDir('mlp-clock-fail-');
    write(folder, 'aapl.csv', AAPL_AT_11);
    write(folder, 'msft.csv', 'Date;Open;High;Low;Close;Volume\n2024-02-26;1;2;0.5;1.5;100\n');
    await expect(importBars(t.store, request({ source: { kind: 'csv', path: folder }, quality: POLICY }), { now: () => ny(TODAY, '11:00') })).rejects.toThrow(/separated by ';'/);
    const alone = write(tempDir('mlp-clock-alone-'), 'aapl.csv', AAPL_AT_11);
    const later = await importBars(t.store, request({ source: { kind: 'csv', path: alone }, quality: POLICY }), { now: () => ny(TODAY, '17:00') });
    expect([later.status, later.byRule.session_not_closed]).toEqual(['published', 1]);
    expect(await barToday(t.store, 'AAPL')).toEqual([]);
  });

  it('a resumed attempt judges each file as its first attempt did, whatever was recorded since', async () => {
    await importBars(t.store, request({ source: { kind: 'csv', path: write(tempDir('mlp-clock-r1-'), 'aapl.csv', AAPL_AT_11) }, quality: POLICY }), { now: () => ny(TODAY, '11:00') });
    const folder = tempDir('mlp-clock-r2-');
    write(folder, 'aapl.csv', AAPL_AT_11);
    const msft = `${HEADER}\n${rows(DAYS, 50)}\n`;
    write(folder, 'msft.csv', msft);
    const req = request({ source: { kind: 'csv', path: folder }, quality: POLICY });
    // AAPL is chunk 0, MSFT chunk 1; the 17:00 attempt dies before staging MSFT.
    const dies = () => {
      throw new Error('worker died');
    };
    await expect(stageImport(t.store, req, { chunkSize: 100, now: () => ny(TODAY, '17:00'), beforeStage: (k) => (k === 1 ? dies() : undefined) })).rejects.toThrow('worker died');
    // Meanwhile MSFT's bytes are recorded as seen at 10:00 (another import with a clock behind).
    await recordContentClocks(t.store, [{ sha256: createHash('sha256').update(msft).digest('hex'), source: 'elsewhere' }], ny(TODAY, '10:00'));
    // Resumed the next morning: AAPL by its 11:00 clock, MSFT by the attempt's 17:00, as the first attempt judged.
    const resumed = await importBars(t.store, req, { chunkSize: 100, now: () => ny('2024-02-28', '09:00') });
    expect([resumed.status, resumed.chunksResumed, resumed.byRule.session_not_closed]).toEqual(['published', 1, 1]);
    expect(await barToday(t.store, 'AAPL')).toEqual([]);
    expect(await barToday(t.store, 'MSFT')).toHaveLength(1);
  });
});

describe.each(DRIVERS)('provider bodies judged by when they were fetched, on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  /** A vendor serving today's bar so far before 16:00 and the final one after; MSFT can be down. */
  function vendor(clock: () => Date, options: { msftDown?: () => boolean; stale?: (symbol: string) => boolean } = {}) {
    const calls: string[] = [];
    const provider: HistoricalBarProvider = {
      name: 'stooq',
      format: 'stooq',
      fetchDaily: (symbol) => {
        calls.push(symbol);
        if (symbol === 'MSFT' && options.msftDown?.()) return Promise.reject(new ProviderError('Stooq answered 503 for MSFT', true));
        const final = clock() >= ny(TODAY, '16:00') && !options.stale?.(symbol);
        const last = final ? `${TODAY},100,103,98,102.5,2500` : `${TODAY},100,100.2,99.9,100.1,1500`;
        return Promise.resolve({ symbol, source: `https://stooq.test/q/d/l/?s=${symbol.toLowerCase()}.us`, csv: `${HEADER}\n${rows(DAYS.slice(0, -1), symbol === 'AAPL' ? 100 : 60)}\n${last}\n` });
      },
    };
    return { provider, calls };
  }

  it('a retry after the close does not publish the partial bar of a body cached during the session', async () => {
    let clock = ny(TODAY, '11:00');
    let down = true;
    const { provider, calls } = vendor(() => clock, { msftDown: () => down });
    const cache = new MemoryCache();
    const req = request({ source: { kind: 'stooq', symbols: ['AAPL', 'MSFT'] }, quality: POLICY });
    await expect(importBars(t.store, req, { provider, cache, now: () => clock })).rejects.toThrow(/503/);
    clock = ny(TODAY, '16:45');
    down = false;
    const retried = await importBars(t.store, req, { provider, cache, now: () => clock });
    expect(retried.status).toBe('published');
    // AAPL's body of 11:00 was not reused after the close: both bars of today are the final ones.
    expect(calls).toEqual(['AAPL', 'MSFT', 'AAPL', 'MSFT']);
    expect(await barToday(t.store, 'AAPL')).toEqual([[102.5, 2500]]);
    expect(await barToday(t.store, 'MSFT')).toEqual([[102.5, 2500]]);
  });

  it('the same body fetched again after the close (the cache lost, the vendor late) is judged by its first fetch', async () => {
    let clock = ny(TODAY, '11:00');
    let down = true;
    const { provider } = vendor(() => clock, { msftDown: () => down, stale: (symbol) => symbol === 'AAPL' });
    const req = request({ source: { kind: 'stooq', symbols: ['AAPL', 'MSFT'] }, quality: POLICY });
    await expect(importBars(t.store, req, { provider, cache: new MemoryCache(), now: () => clock })).rejects.toThrow(/503/);
    clock = ny(TODAY, '16:45');
    down = false;
    const retried = await importBars(t.store, req, { provider, cache: new MemoryCache(), now: () => clock });
    // AAPL's bytes are those of 11:00 (session_not_closed); MSFT's were first fetched now.
    expect([retried.status, retried.byRule.session_not_closed]).toEqual(['published', 1]);
    expect(await barToday(t.store, 'AAPL')).toEqual([]);
    expect(await barToday(t.store, 'MSFT')).toEqual([[102.5, 2500]]);
  });

  it('a cached body is judged by its fetch time, and one cached without it is fetched again', async () => {
    // Fetched on the 26th after the close, with a row dated the 27th (a vendor's time-zone slip).
    const day = DAYS[DAYS.length - 2];
    const body = `${HEADER}\n${rows(DAYS, 100)}\n`;
    const key = providerCacheKey({ name: 'stooq' }, 'AAPL', {});
    const cache = new MemoryCache();
    await cache.set(key, JSON.stringify({ source: 'https://stooq.test/q/d/l/?s=aapl.us', text: body, symbol: 'AAPL', fetchedAt: ny(day, '20:00').toISOString() }));
    let calls = 0;
    const provider: HistoricalBarProvider = { name: 'stooq', format: 'stooq', fetchDaily: (symbol) => (calls++, Promise.resolve({ symbol, source: 'https://stooq.test/q/d/l/?s=aapl.us', csv: body })) };
    const req = request({ source: { kind: 'stooq', symbols: ['AAPL'] }, quality: POLICY });
    const summary = await importBars(t.store, req, { provider, cache, now: () => ny(TODAY, '18:00') });
    expect([calls, summary.status, summary.byRule.future_date]).toEqual([0, 'published', 1]);
    expect(await barToday(t.store, 'AAPL')).toEqual([]);

    // An entry cached before fetch times were kept says nothing of when it was taken: fetched again.
    const old = new MemoryCache();
    await old.set(key, JSON.stringify({ source: 'https://stooq.test/q/d/l/?s=aapl.us', text: body, symbol: 'AAPL' }));
    await importBars(t.store, req, { provider, cache: old, now: () => ny(TODAY, '18:00') });
    expect(calls).toBe(1);
  });
});

describe('migration 0017_content_clocks', () => {
  it('gives MySQL and SQLite the same content_clocks table', async () => {
    const [mysql, sqlite] = await Promise.all([createMysqlTestDatabase(), createSqliteTestDatabase()]);
    try {
      const my = await sql<{ name: string; nullable: string; key: string }>`
        select column_name as name, is_nullable as nullable, column_key as \`key\` from information_schema.columns
        where table_schema = database() and table_name = 'content_clocks'`.execute(mysql.store.db);
      const lite = await sql<{ name: string; notnull: number; pk: number }>`select name, "notnull", pk from pragma_table_info('content_clocks')`.execute(sqlite.store.db);
      const a = my.rows.map((r) => [r.name, r.nullable === 'NO', r.key === 'PRI']).sort();
      const b = lite.rows.map((r) => [r.name, r.notnull === 1 || r.pk > 0, r.pk > 0]).sort();
      expect(a).toEqual([['content_sha256', true, true], ['seen_at', true, false], ['source', true, false]]);
      expect(b).toEqual(a);
    } finally {
      await Promise.all([mysql.drop(), sqlite.drop()]);
    }
  });
});
