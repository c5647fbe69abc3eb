import fs from 'node:fs';
import path from 'node:path';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { rng } from '../../lib/random';
import { readBars } from '../../lib/store/bars';
import { listQuarantine } from '../../lib/store/quarantine';
import { getSnapshot } from '../../lib/store/snapshots';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';

/**
 * probe-e dup.ts: ZDUP.csv holds SYN01's bar of session t+1 under date t (tomorrow's bars of another
 * stock). It was published with no finding and leaked SYN01's future into market columns. Judged
 * against every other series of the import and of the store, it is rejected whole
 * (lagged_duplicate) and the import fails naming both symbols and the lag; the same sessions' bars
 * under two symbols are only flagged (duplicate_series).
 */
const DAYS = nyseTradingDaysBetween('2016-01-04', '2017-12-29');
const NOW = () => new Date('2019-01-10T22:00:00Z');
const HEADER = 'Date,Open,High,Low,Close,Volume';
const cents = (x: number) => Math.round(x * 100) / 100;

/** Stooq rows (date, OHLC, volume) of a random walk with a common market factor. */
function walk(seed: number, n = 300): string[][] {
  const draw = rng(seed);
  const marketDraw = rng(1000);
  const gauss = (d: () => number) => Math.sqrt(-2 * Math.log(1 - d())) * Math.cos(2 * Math.PI * d());
  let close = 30 + 50 * draw();
  return DAYS.slice(0, n).map((date) => {
    const open = cents(close * (1 + 0.004 * gauss(draw)));
    close = cents(open * (1 + 0.012 * gauss(draw) + 0.008 * gauss(marketDraw)));
    const high = cents(Math.max(open, close) * (1 + 0.005 * Math.abs(gauss(draw))));
    const low = cents(Math.min(open, close) * (1 - 0.005 * Math.abs(gauss(draw))));
    return [date, String(open), String(high), String(low), String(close), String(Math.round(1e6 * Math.exp(0.3 * gauss(draw))))];
  });
}
const market = (symbols: number): Record<string, string[][]> => Object.fromEntries(Array.from({ length: symbols }, (_, i) => [`SYN${String(i + 1).padStart(2, '0')}`, walk(i + 1)]));
/**
 * SYN02's prices scaled so that its close before row `cut` is 1% above SYN01's (the probe's
 * synthetic symbols were that close): SYN01's rows from there continue SYN02's stored bars without a
 * step the splice and basis rules would see.
 */
function nearAtCut(files: Record<string, string[][]>, cut: number): Record<string, string[][]> {
  const k = (1.01 * Number(files.SYN01[cut - 1][4])) / Number(files.SYN02[cut - 1][4]);
  return { ...files, SYN02: files.SYN02.map((r) => [r[0], ...r.slice(1, 5).map((p) => String(cents(Number(p) * k))), r[5]]) };
}
/** The probe's ZDUP: each date holds the next row's prices. */
const tomorrowOf = (rows: string[][]): string[][] => rows.slice(0, -1).map((r, i) => [r[0], ...rows[i + 1].slice(1)]);

function folder(files: Record<string, string[][]>): string {
  const dir = tempDir('mlp-dup-series-');
  for (const [symbol, rows] of Object.entries(files)) fs.writeFileSync(path.join(dir, `${symbol.toLowerCase()}.csv`), `${HEADER}\n${rows.map((r) => r.join(',')).join('\n')}\n`);
  return dir;
}
const csv = (files: Record<string, string[][]>) => importRequestSchema.parse({ source: { kind: 'csv', path: folder(files) }, quality: { minHistoryBars: 1 } });

describe.each(DRIVERS)('series that are another symbol shifted by sessions, at import on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });
  /** The stored bars and their revision log: equal means the import changed nothing. */
  const storeRows = async () => ({ bars: (await dumpStore(t.store)).bars, revisions: await t.store.db.selectFrom('bar_revisions').selectAll().orderBy('symbol').orderBy('date').execute() });

  it("rejects the probe's folder: ZDUP holds SYN01's bars of the next session; nothing is published and the gate names both and the lag", async () => {
    const files = market(8);
    const summary = await importBars(t.store, csv({ ...files, ZDUP: tomorrowOf(files.SYN01) }), { now: NOW });
    expect(summary.status).toBe('rejected');
    expect(summary.byRule).toMatchObject({ lagged_duplicate: 1, file_rejected: 299 });
    expect(await readBars(t.store)).toEqual([]);
    const snapshot = await getSnapshot(t.store, summary.snapshotId);
    expect(snapshot?.statusReason).toMatch(/^series of ZDUP from \S+zdup\.csv rejected whole \(lagged_duplicate\): series of ZDUP is SYN01's \(in this import\) shifted by \+1 session: its bar of each session is SYN01's bar of 1 session later/);
    expect(snapshot?.qualityReport.bySymbol.ZDUP).toMatchObject({ rowsAccepted: 0, rowsRejected: 299, rejectedSeries: { rule: 'lagged_duplicate' } });
    const [finding] = await listQuarantine(t.store, { snapshotId: summary.snapshotId, rule: 'lagged_duplicate' });
    expect(finding).toMatchObject({ symbol: 'ZDUP', severity: 'reject', source: expect.stringMatching(/zdup\.csv$/) });
    // The clean folder alone is published without a finding of these rules.
    const clean = await importBars(t.store, csv(files), { now: NOW });
    expect([clean.status, clean.byRule.lagged_duplicate, clean.byRule.duplicate_series]).toEqual(['published', undefined, undefined]);
  });

  it('rejects a stock re-imported with its bars dated one session late (its own bars, no copy to match): misdated_series; the store stays as it was', async () => {
    const files = market(24);
    expect((await importBars(t.store, csv(files), { now: NOW })).status).toBe('published');
    const before = await dumpStore(t.store);
    // SYN05's file again, each row's prices under the next session's date.
    const late = files.SYN05.slice(0, -1).map((r, i) => [files.SYN05[i + 1][0], ...r.slice(1)]);
    const summary = await importBars(t.store, csv({ SYN05: late }), { now: NOW });
    expect(summary.status).toBe('rejected');
    expect(summary.byRule).toMatchObject({ misdated_series: 1 });
    expect((await getSnapshot(t.store, summary.snapshotId))?.statusReason).toMatch(/series of SYN05 from \S+syn05\.csv rejected whole \(misdated_series\): series of SYN05 moves with the market of 1 session earlier, not of its own sessions: .*dated 1 session late/);
    expect((await dumpStore(t.store)).bars).toEqual(before.bars);
  });

  it('rejects a monthly update whose files are dated a session late (their first rows repeat the stored bars of the session before); the store stays as it was, and the update dated right is published', async () => {
    // Before: an update of fewer than 60 sessions was never judged for its dates, and the market's move of each session reached the labels of the late symbols.
    const files = market(24);
    const range = (from: number, to: number, lateSymbols: ReadonlySet<string> = new Set()) =>
      Object.fromEntries(Object.entries(files).map(([symbol, rows]) => [symbol, rows.slice(from, to).map((r, k) => (lateSymbols.has(symbol) ? [r[0], ...rows[from + k - 1].slice(1)] : r))]));
    expect((await importBars(t.store, csv(range(0, 200)), { now: NOW })).status).toBe('published');
    const before = await dumpStore(t.store);
    const summary = await importBars(t.store, csv(range(200, 221, new Set(['SYN01', 'SYN02', 'SYN03']))), { now: NOW });
    expect(summary.status).toBe('rejected');
    expect(summary.byRule).toMatchObject({ misdated_series: 3 });
    expect((await getSnapshot(t.store, summary.snapshotId))?.statusReason).toMatch(new RegExp(`series of SYN0[123] from \\S+syn0[123]\\.csv rejected whole \\(misdated_series\\): the bar of SYN0[123] dated ${DAYS[200]} in the file repeats the stored bar of ${DAYS[199]}, the session before`));
    const after = await dumpStore(t.store);
    expect(after.bars).toEqual(before.bars);
    expect((await importBars(t.store, csv(range(200, 221)), { now: NOW })).status).toBe('published');
  });

  it('rejects a shifted copy of a stored series, and one hidden beside a short update of that series; the store stays as it was', async () => {
    const files = market(6);
    expect((await importBars(t.store, csv(files), { now: NOW })).status).toBe('published');
    const before = await dumpStore(t.store);
    // Alone: compared with the stored SYN03.
    const alone = await importBars(t.store, csv({ ZDUP: tomorrowOf(files.SYN03) }), { now: NOW });
    expect(alone.status).toBe('rejected');
    expect((await getSnapshot(t.store, alone.snapshotId))?.statusReason).toMatch(/series of ZDUP is SYN03's \(stored\) shifted by \+1 session/);
    // With the last 20 rows of SYN03 (revised a little) in the same import: compared with SYN03 as it would be.
    const update = files.SYN03.slice(-20).map((r) => [r[0], r[1], r[2], r[3], r[4], '123456']);
    const beside = await importBars(t.store, csv({ SYN03: update, ZLAG: files.SYN03.slice(0, -2).map((r, i) => [files.SYN03[i + 2][0], ...r.slice(1)]) }), { now: NOW });
    expect(beside.status).toBe('rejected');
    expect((await getSnapshot(t.store, beside.snapshotId))?.statusReason).toMatch(/series of ZLAG is SYN03's \((stored|in this import)\) shifted by -2 sessions: its bar of each session is SYN03's bar of 2 sessions earlier/);
    expect((await dumpStore(t.store)).bars).toEqual(before.bars);
  });

  // probe-ingest2 (prov.ts other-symbol-stored, dupcsv.ts): SYN02.csv holding SYN01's 85 bars after
  // SYN02's stored bars was published (accepted=85, an extreme_move flag where the two met); and two
  // symbols given the same body in one import were both published, without even a flag.
  it("rejects another symbol's bars under a symbol with stored bars before them, at the same sessions or a session early; the store stays as it was", async () => {
    const CUT = 215;
    const files = nearAtCut(market(6), CUT);
    expect((await importBars(t.store, csv({ ...Object.fromEntries(Object.entries(files).map(([s, rows]) => [s, s === 'SYN02' ? rows.slice(0, CUT) : rows])) }), { now: NOW })).status).toBe('published');
    const before = await storeRows();
    for (const [rows, expected] of [
      // Returns correlate 1: SYN02's own returns only (the one from its stored bar into SYN01's, the seam, is not its own).
      [files.SYN01.slice(CUT), /series of SYN02 is SYN01's \(stored\) under another symbol: on 100\.0% of 85 common sessions OHLC are equal within rounding, and daily returns correlate 1\.0000, and on 100\.0% of them the volume is equal to the share/],
      [tomorrowOf(files.SYN01).slice(CUT), /series of SYN02 is SYN01's \(stored\) shifted by \+1 session: its bar of each session is SYN01's bar of 1 session later/],
    ] as const) {
      const summary = await importBars(t.store, csv({ SYN02: rows }), { now: NOW });
      expect([summary.status, summary.rowsAccepted, summary.byRule.lagged_duplicate]).toEqual(['rejected', 0, 1]);
      expect((await getSnapshot(t.store, summary.snapshotId))?.statusReason).toMatch(expected);
      expect(await storeRows()).toEqual(before);
    }
    // SYN02's own bars after its stored ones: published.
    expect((await importBars(t.store, csv({ SYN02: files.SYN02.slice(CUT) }), { now: NOW })).status).toBe('published');
  });

  it('rejects one body given to two symbols in one import, both with stored bars before it; the store stays as it was', async () => {
    const CUT = 215;
    const files = nearAtCut(market(6), CUT);
    expect((await importBars(t.store, csv(Object.fromEntries(Object.entries(files).map(([s, rows]) => [s, rows.slice(0, CUT)]))), { now: NOW })).status).toBe('published');
    const before = await storeRows();
    const summary = await importBars(t.store, csv({ SYN01: files.SYN01.slice(CUT), SYN02: files.SYN01.slice(CUT) }), { now: NOW });
    expect([summary.status, summary.byRule.lagged_duplicate]).toEqual(['rejected', 1]);
    expect((await getSnapshot(t.store, summary.snapshotId))?.statusReason).toMatch(/series of SYN02 is SYN01's \(in this import\) under another symbol: .*which of the two is the copy the bars cannot tell, so SYN02 \(sorting later\) is rejected/);
    expect(await storeRows()).toEqual(before);
  });

  it("rejects a month of another symbol's bars under a second symbol (volumes equal to the share), too short for the correlation tests: before, it was published with no finding", async () => {
    const files = market(5);
    expect((await importBars(t.store, csv(files), { now: NOW })).status).toBe('published');
    const before = await dumpStore(t.store);
    const month = await importBars(t.store, csv({ SYN09: files.SYN01.slice(250, 271) }), { now: NOW });
    expect([month.status, month.byRule.lagged_duplicate]).toEqual(['rejected', 1]);
    expect((await getSnapshot(t.store, month.snapshotId))?.statusReason).toMatch(/series of SYN09 from \S+syn09\.csv rejected whole \(lagged_duplicate\): series of SYN09 holds SYN01's bars \(stored\) on the same sessions: on 21 of the 21 sessions of this import where SYN01 has a bar to compare, the close is equal to the cent and the volume to the share/);
    expect((await dumpStore(t.store)).bars).toEqual(before.bars);
  });

  it("rejects a daily update whose syn01.csv holds SYN02's bar of the day beside SYN02's own, naming both (before: published, 5 equal sessions were needed); the store stays as it was, and the update as traded is published", async () => {
    const files = market(5);
    const range = (from: number, to: number) => Object.fromEntries(Object.entries(files).map(([symbol, rows]) => [symbol, rows.slice(from, to)]));
    expect((await importBars(t.store, csv(range(0, 250)), { now: NOW })).status).toBe('published');
    const before = await dumpStore(t.store);
    for (const rows of [1, 3]) {
      const update = { ...range(250, 250 + rows), SYN01: files.SYN02.slice(250, 250 + rows) };
      const summary = await importBars(t.store, csv(update), { now: NOW });
      expect([summary.status, summary.byRule.lagged_duplicate]).toEqual(['rejected', 1]);
      expect((await getSnapshot(t.store, summary.snapshotId))?.statusReason).toMatch(/series of SYN01 from \S+syn01\.csv rejected whole \(lagged_duplicate\): series of SYN01 holds SYN02's bars \(in this import\) on the same sessions: on \d of the \d sessions? of this import where SYN02 has a bar to compare, open, high, low and close are equal to the cent and the volume to the share/);
      expect((await dumpStore(t.store)).bars).toEqual(before.bars);
    }
    // Against SYN02's stored bar of that day, alone: the same.
    expect((await importBars(t.store, csv(range(250, 251)), { now: NOW })).status).toBe('published');
    const alone = await importBars(t.store, csv({ SYN01: files.SYN02.slice(250, 251) }), { now: NOW });
    expect((await getSnapshot(t.store, alone.snapshotId))?.statusReason).toMatch(/series of SYN01 holds SYN02's bars \(stored\) on the same sessions: on 1 of the 1 session/);
    expect((await importBars(t.store, csv(range(251, 254)), { now: NOW })).status).toBe('published');
  });

  it('flags, and publishes, the same prices under a second symbol over 60 sessions or more with volumes of their own (a share class); the import summary counts the flag', async () => {
    const files = market(5);
    const shareClass = files.SYN01.map((r) => [...r.slice(0, 5), String(Math.round(Number(r[5]) * 0.37))]);
    const summary = await importBars(t.store, csv({ ...files, SYN01B: shareClass }), { now: NOW });
    expect(summary.status).toBe('published');
    expect(summary.byRule.duplicate_series).toBe(1);
    expect(summary.flags).toBe((await getSnapshot(t.store, summary.snapshotId))?.flaggedCount);
    const [flag] = await listQuarantine(t.store, { snapshotId: summary.snapshotId, rule: 'duplicate_series' });
    expect(flag).toMatchObject({ symbol: 'SYN01B', severity: 'flag' });
    expect(flag.message).toMatch(/^SYN01B's bars are the same sessions' bars of SYN01 \(in this import\): on 100\.0% of 300 common sessions/);
    expect((await readBars(t.store)).filter((b) => b.symbol === 'SYN01B')).toHaveLength(300);
  });

  it('rejects the same bars, volume to the share, under a second symbol over 60 sessions or more: one security held twice (BRKB beside BRK.B)', async () => {
    const files = market(5);
    const first = await importBars(t.store, csv(files), { now: NOW });
    expect(first.status).toBe('published');
    const before = await dumpStore(t.store);
    const again = await importBars(t.store, csv({ SYN01B: files.SYN01 }), { now: NOW });
    expect([again.status, again.byRule.lagged_duplicate]).toEqual(['rejected', 1]);
    expect((await getSnapshot(t.store, again.snapshotId))?.statusReason).toMatch(/series of SYN01B is SYN01's \(stored\) under another symbol: on 100\.0% of 300 common sessions OHLC are equal within rounding, and daily returns correlate 1\.0000, and on 100\.0% of them the volume is equal to the share/);
    expect((await dumpStore(t.store)).bars).toEqual(before.bars);
    // Both in one import, both new: the one sorting later is rejected.
    const t2 = await importBars(t.store, csv({ ...market(3), SYN03A: market(3).SYN03 }), { now: NOW });
    expect(t2.status).toBe('rejected');
    expect((await getSnapshot(t.store, t2.snapshotId))?.statusReason).toMatch(/series of SYN03A is SYN03's \(in this import\) under another symbol/);
  });
});
