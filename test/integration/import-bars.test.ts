import fs from 'node:fs';
import path from 'node:path';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { importBars, stageImport } from '../../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../../lib/ingest/import-request';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { countBars, readBars } from '../../lib/store/bars';
import { countQuarantineByRule } from '../../lib/store/quarantine';
import { getSnapshot } from '../../lib/store/snapshots';
import { countStagedBars } from '../../lib/store/staging';
import { DRIVERS, hasSharedData, SHARED_SP500_DIR, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';

const request = (input: ImportRequestInput) => importRequestSchema.parse(input);

/** A real folder: 40 files of the shared S&P 500 data when present, else a generated market. */
async function realFolder(): Promise<{ dir: string; real: boolean }> {
  const dir = tempDir('mlp-real-');
  if (hasSharedData) {
    for (const f of fs.readdirSync(SHARED_SP500_DIR).sort().slice(0, 40)) fs.copyFileSync(path.join(SHARED_SP500_DIR, f), path.join(dir, f));
    return { dir, real: true };
  }
  await writeSyntheticMarket(dir, { symbols: 12, plantErrors: false });
  return { dir, real: false };
}

describe.each(DRIVERS)('importBars on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('imports a real folder twice and leaves the store exactly as after the first time', async () => {
    const { dir, real } = await realFolder();
    const first = await importBars(t.store, request({ source: { kind: 'csv', path: dir } }));
    const afterFirst = await dumpStore(t.store);
    const second = await importBars(t.store, request({ source: { kind: 'csv', path: dir } }));
    expect(await dumpStore(t.store)).toEqual(afterFirst);
    expect(second.snapshotId).toBe(first.snapshotId);
    expect(first.rowsAccepted).toBe(afterFirst.bars.length);
    expect(first.rowsRead).toBe(first.rowsAccepted + first.rowsRejected);
    expect(afterFirst.snapshots).toHaveLength(1);
    if (real) {
      expect(first.symbols).toBe(40);
      expect(first.firstDate).toBe('2013-02-08');
      expect(first.lastDate).toBe('2018-02-07');
    }
  });

  it('quarantines every planted error with its rule, file and line, and stores the rest', async () => {
    const dir = tempDir('mlp-synth-');
    const market = await writeSyntheticMarket(dir, { symbols: 8 });
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: dir } }));
    const byRule = await countQuarantineByRule(t.store, summary.snapshotId);
    const planted = (kind: string) => market.planted.filter((p) => p.kind === kind).length;
    expect(byRule.non_positive_price).toBe(planted('non_positive_price'));
    expect(byRule.ohlc_inconsistent).toBe(planted('high_below_open_close'));
    expect(byRule.negative_volume).toBe(planted('negative_volume'));
    expect(byRule.missing_field).toBe(planted('empty_field'));
    expect(byRule.non_numeric).toBe(planted('non_numeric_field'));
    // an exact copy rejects one row; a conflicting pair rejects both
    expect(byRule.duplicate_date).toBe(planted('exact_duplicate') + 2 * planted('conflicting_duplicate'));
    expect(byRule.stale_close).toBeGreaterThanOrEqual(planted('stale_closes'));
    expect(byRule.extreme_move).toBeGreaterThanOrEqual(planted('unadjusted_split'));
    expect(byRule.unsorted_input).toBe(planted('out_of_order'));
    expect(byRule.calendar_gap).toBeGreaterThanOrEqual(planted('gap'));
    const stored = await countBars(t.store);
    expect(stored).toBe(summary.rowsAccepted);
    expect(summary.rowsRead).toBe(summary.rowsAccepted + summary.rowsRejected);
    const snapshot = await getSnapshot(t.store, summary.snapshotId);
    expect(snapshot?.qualityReport.byRule).toEqual(byRule);
    expect(snapshot?.symbols).toHaveLength(8);
  });

  it('keeps only the symbols and dates asked for, as a different snapshot', async () => {
    const dir = tempDir('mlp-synth-');
    await writeSyntheticMarket(dir, { symbols: 4, plantErrors: false });
    const all = await importBars(t.store, request({ source: { kind: 'csv', path: dir } }));
    const some = await importBars(t.store, request({ source: { kind: 'csv', path: dir }, symbols: ['syn01'], from: '2017-01-01', to: '2017-12-31' }));
    expect(some.snapshotId).not.toBe(all.snapshotId);
    expect(some.symbols).toBe(1);
    expect(some.rowsAccepted).toBe(251);
    expect(some.firstDate).toBe('2017-01-03');
    expect(some.lastDate).toBe('2017-12-29');
    expect(some.rowsOutOfScope).toBe(all.rowsRead - 251);
  });

  it('reads a Yahoo export newest-first with nulls, adjusting by Adj Close when asked', async () => {
    const dir = tempDir('mlp-yahoo-');
    const file = path.join(dir, 'MSFT.csv');
    fs.writeFileSync(
      file,
      'Date,Open,High,Low,Close,Adj Close,Volume\r\n2017-01-06,62.30,63.15,62.04,62.84,31.42,19922900\r\n2017-01-05,62.19,62.66,62.03,62.30,null,24876000\r\n2017-01-04,62.48,62.75,62.12,62.30,31.15,21340000\r\n2017-01-03,62.79,62.84,62.13,62.58,31.29,20694100\r\n',
    );
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: file, adjust: true }, quality: { maxBadRowShare: 0.5, minHistoryBars: 1 } }));
    expect(summary.rowsAccepted).toBe(3);
    expect(summary.byRule).toEqual({ missing_field: 1, calendar_gap: 1 });
    const bars = await readBars(t.store, { symbols: ['MSFT'] });
    expect(bars.map((b) => b.date)).toEqual(['2017-01-03', '2017-01-04', '2017-01-06']);
    expect(bars[0].close).toBeCloseTo(31.29, 10);
    expect(bars[0].open).toBeCloseTo(62.79 * (31.29 / 62.58), 10);
    // Volume scales by the inverse of the price factor (31.29 / 62.58 halves prices, doubles shares).
    expect(bars[0].volume).toBeCloseTo(20694100 * (62.58 / 31.29), 6);
  });

  it('imports a Quandl WIKI spin-off (raw Close halved, Split Ratio 1.0) with its volumes as written, and a 2:1 split (Split Ratio 2.0) with the volumes before it doubled, with no flag', async () => {
    // Measured before: the spin-off was read as a 2:1 split and every volume before it stored doubled, with 0 flags.
    const days = nyseTradingDaysBetween('2015-06-01', '2015-12-31');
    const at = days.indexOf('2015-11-02');
    const dir = tempDir('mlp-quandl-');
    const write = (symbol: string, split: boolean) => {
      const lines = days.map((d, i) => {
        const level = (split ? 30 : 40) * (1 + 0.05 * Math.sin(i / (split ? 4 : 6)));
        const raw = i < at ? 2 * level : level;
        const volume = (split && i >= at ? 2 : 1) * (5_000_000 + (i % 7) * 100_000);
        const adjVolume = split ? 2 * (5_000_000 + (i % 7) * 100_000) : volume;
        const c = raw.toFixed(2);
        const a = (Number(c) * (i < at ? 0.5 : 1)).toFixed(4);
        return `${d},${c},${c},${c},${c},${volume},${!split && i === at ? level.toFixed(2) : '0.0'},${split && i === at ? '2.0' : '1.0'},${a},${a},${a},${a},${adjVolume}`;
      });
      fs.writeFileSync(path.join(dir, `${symbol}.csv`), `Date,Open,High,Low,Close,Volume,Ex-Dividend,Split Ratio,Adj. Open,Adj. High,Adj. Low,Adj. Close,Adj. Volume\n${lines.reverse().join('\n')}\n`);
    };
    write('HPQ', false);
    write('SPL', true);
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: dir, adjust: true }, quality: { minHistoryBars: 1 } }));
    expect([summary.status, summary.flags, summary.byRule]).toEqual(['published', 0, {}]);
    const volumes = async (symbol: string) => (await readBars(t.store, { symbols: [symbol] })).map((b) => b.volume);
    expect(await volumes('HPQ')).toEqual(days.map((_d, i) => 5_000_000 + (i % 7) * 100_000));
    expect(await volumes('SPL')).toEqual(days.map((_d, i) => 2 * (5_000_000 + (i % 7) * 100_000)));
  });

  it('resumes at the first chunk an earlier attempt had not staged, without staging any twice', async () => {
    const dir = tempDir('mlp-synth-');
    await writeSyntheticMarket(dir, { symbols: 3, plantErrors: false });
    const req = request({ source: { kind: 'csv', path: dir } });
    await expect(stageImport(t.store, req, { chunkSize: 1000, beforeStage: (k) => { if (k === 1) throw new Error('killed'); } })).rejects.toThrow('killed');
    const progress: number[] = [];
    const summary = await stageImport(t.store, req, { chunkSize: 1000, onProgress: (p) => p.phase === 'staging' && progress.push(p.barsWritten) });
    expect(summary.chunksResumed).toBe(1);
    expect(progress.at(-1)).toBe(summary.rowsAccepted);
    expect(await countStagedBars(t.store, summary.snapshotId)).toBe(summary.rowsAccepted);
    expect(await countBars(t.store)).toBe(0); // published only by the gate
  });

  it("rejects bars dated after the import's clock as future_date, judging every chunk against the same day", async () => {
    const dir = tempDir('mlp-synth-');
    await writeSyntheticMarket(dir, { symbols: 2, plantErrors: false });
    const req = request({ source: { kind: 'csv', path: dir }, quality: { maxBadRowShare: 1 } });
    // 2017-06-30 20:15 UTC is 16:15 in New York, past the close and its 15-minute margin: bars up
    // to that Friday are final (session_not_closed is tested in test/unit/quality-session-close.test.ts).
    const summary = await importBars(t.store, req, { now: () => new Date('2017-06-30T20:15:00Z'), chunkSize: 200 });
    const stored = await readBars(t.store, {});
    expect(stored.length).toBeGreaterThan(0);
    expect(stored.every((b) => b.date <= '2017-06-30')).toBe(true);
    expect(stored.some((b) => b.date === '2017-06-30')).toBe(true);
    const later = fs.readdirSync(dir).filter((f) => f.endsWith('.csv')).flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').slice(1)).filter((line) => line.slice(0, 10) > '2017-06-30').length;
    expect(later).toBeGreaterThan(0);
    expect(summary.byRule.future_date).toBe(later);
  });

  it('a file ending inside its last row never revises that stored bar: the row is rejected and the stored one stands', async () => {
    const dir = tempDir('mlp-cut-');
    const days = ['2018-01-16', '2018-01-17', '2018-01-18', '2018-01-19'];
    const rows = days.map((d, i) => `${d},${160 + i},${162 + i},${159 + i},${161 + i},${i === 3 ? 21_172_488 : 5_000_000 + i * 1000}`);
    const file = path.join(dir, 'ibm.us.csv');
    fs.writeFileSync(file, `Date,Open,High,Low,Close,Volume\n${rows.join('\n')}\n`);
    await importBars(t.store, request({ source: { kind: 'csv', path: file }, quality: { minHistoryBars: 2 } }));
    const before = await dumpStore(t.store);
    // The same download stopped one character short: 21172488 read as 2117248 (an ordinary volume for IBM).
    fs.writeFileSync(file, `Date,Open,High,Low,Close,Volume\n${rows.join('\n').slice(0, -1)}`);
    const cut = await importBars(t.store, request({ source: { kind: 'csv', path: file }, quality: { minHistoryBars: 2 } }));
    expect(cut.byRule).toEqual({ truncated_row: 1 });
    expect((await readBars(t.store, { symbols: ['IBM'], from: '2018-01-19' }))[0].volume).toBe(21_172_488);
    const after = await dumpStore(t.store);
    expect(after.bars).toEqual(before.bars);
    expect(await t.store.db.selectFrom('bar_revisions').selectAll().execute()).toEqual([]);
    // A correction of another field, in a file ending the same way, is published: a cut cannot make it.
    const corrected = rows.map((r, i) => (i === 3 ? r.replace(',164,', ',164.25,') : r));
    fs.writeFileSync(file, `Date,Open,High,Low,Close,Volume\n${corrected.join('\n')}`);
    const correction = await importBars(t.store, request({ source: { kind: 'csv', path: file }, quality: { minHistoryBars: 2 } }));
    expect(correction.byRule).toEqual({});
    expect((await readBars(t.store, { symbols: ['IBM'], from: '2018-01-19' }))[0]).toMatchObject({ close: 164.25, volume: 21_172_488 });
  });

  it('fails clearly for a missing path and an empty folder', async () => {
    await expect(importBars(t.store, request({ source: { kind: 'csv', path: '/nonexistent/x' } }))).rejects.toThrow(/No file or folder at \/nonexistent\/x/);
    await expect(importBars(t.store, request({ source: { kind: 'csv', path: tempDir('mlp-empty-') } }))).rejects.toThrow(/holds no \.csv/);
  });

  it("fails, naming it, when a provider's answer for a symbol holds no row of the range asked (before: published without it)", async () => {
    const provider = {
      name: 'fake-range',
      format: 'stooq' as const,
      fetchDaily: (symbol: string) => {
        const year = symbol.toLowerCase() === 'jpm' ? 2014 : 2017;
        return Promise.resolve({ symbol, source: `recorded://${symbol}`, csv: `Date,Open,High,Low,Close,Volume\n${year}-01-03,1,2,0.5,1.5,100\n${year}-01-04,1.5,2,1,1.8,120\n` });
      },
    };
    // Asked for the range MSFT's answer holds: two rows of 2017-12-31 would be an answer cut short (stooq-provider-answers.test.ts).
    const req = request({ source: { kind: 'stooq', symbols: ['msft', 'jpm'] }, from: '2017-01-01', to: '2017-01-04', quality: { minHistoryBars: 1 } });
    await expect(importBars(t.store, req, { provider })).rejects.toMatchObject({ code: 'PROVIDER_REJECTED', message: expect.stringMatching(/answer for JPM holds no row of the range asked \(2017-01-01\.\.2017-01-04\): its 2 rows span 2014-01-03\.\.2014-01-04/) });
    expect(await countBars(t.store)).toBe(0);
  });

  it('caches provider responses so a retried download does not hit the provider again', async () => {
    const cache = new MemoryCache();
    let calls = 0;
    const provider = {
      name: 'fake-recorded',
      format: 'stooq' as const,
      fetchDaily: (symbol: string) => {
        calls++;
        // Each symbol its own volumes: two symbols with one bar of a session, every value equal, are one security's bars (lagged_duplicate).
        const volume = 100 + symbol.charCodeAt(0);
        return Promise.resolve({ symbol, source: `recorded://${symbol}`, csv: `Date,Open,High,Low,Close,Volume\n2017-01-03,1,2,0.5,1.5,${volume}\n2017-01-04,1.5,2,1,1.8,${volume + 20}\n` });
      },
    };
    // Asked up to the answers' last session: without `to`, two rows of 2017 fetched today are an answer cut short.
    const req = request({ source: { kind: 'stooq', symbols: ['aapl', 'msft'] }, to: '2017-01-04', quality: { minHistoryBars: 1 } });
    const a = await importBars(t.store, req, { cache, provider });
    const b = await importBars(t.store, req, { cache, provider });
    expect(calls).toBe(2);
    expect(a.snapshotId).toBe(b.snapshotId);
    expect(await countBars(t.store)).toBe(4);
    // Another server (a mirror, or the right one after a wrong one): asked again, never answered from the other's bodies.
    const elsewhere = { ...provider, origin: 'http://mirror.test us' };
    await importBars(t.store, req, { cache, provider: elsewhere });
    expect(calls).toBe(4);
  });
});
