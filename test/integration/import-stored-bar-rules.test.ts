import fs from 'node:fs';
import path from 'node:path';
import { importBars, stageImport } from '../../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../../lib/ingest/import-request';
import { checkStoredBars, judgeSnapshot } from '../../lib/ingest/judge';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { readBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { listQuarantine } from '../../lib/store/quarantine';
import { getSnapshot } from '../../lib/store/snapshots';
import { DRIVERS, hasSharedData, SHARED_SP500_DIR, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';

/**
 * Bad input never changes what is stored (probe p7-real-glitch.ts): a re-download with one row
 * missing its decimal points, or with every volume 0, was published over the good bars with at most
 * two extreme_move flags. A glitch row is rejected (one_bar_glitch: in the file, or against the
 * stored bars around a file's first or last row), a row that would take a stored volume to 0 is
 * rejected (volume_vanished), and the stored bars stay, reported as unconfirmed with the rule.
 */
const request = (input: ImportRequestInput) => importRequestSchema.parse(input);
const DAYS = nyseTradingDaysBetween('2016-01-04', '2017-12-29');
const NOW = () => new Date('2019-01-10T22:00:00Z');
const POLICY = { minHistoryBars: 1 };
const HEADER = 'Date,Open,High,Low,Close,Volume';

/** Stooq rows of `n` days from day `from`, around 150 with two decimals. */
function rows(n: number, from = 0, level = 150): string[] {
  return DAYS.slice(from, from + n).map((date, k) => {
    const i = from + k;
    const c = level + 3 * Math.sin(i / 5);
    return `${date},${(c * 0.995).toFixed(2)},${(c * 1.01).toFixed(2)},${(c * 0.985).toFixed(2)},${c.toFixed(2)},${3_000_000 + 1000 * i}`;
  });
}
/** The row with its decimal points lost: 149.63 -> 14963 (OHLC still consistent). */
const noDecimals = (row: string): string => row.replace(/(\d+)\.(\d\d)(?=,)/g, '$1$2');
const zeroVolume = (row: string): string => row.replace(/,\d+$/, ',0');

function folder(files: Record<string, string[]>, header = HEADER): string {
  const dir = tempDir('mlp-stored-rules-');
  for (const [name, lines] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), `${header}\n${lines.join('\n')}\n`);
  return dir;
}
const csv = (files: Record<string, string[]>, over: Partial<ImportRequestInput> = {}) => request({ source: { kind: 'csv', path: folder(files) }, quality: POLICY, ...over });
const revisions = (store: Database) => store.db.selectFrom('bar_revisions').selectAll().execute();

describe.each(DRIVERS)('rules on the stored bars at import on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  async function baseline(): Promise<Awaited<ReturnType<typeof readBars>>> {
    const first = await importBars(t.store, csv({ 'ibm.us.csv': rows(120) }), { now: NOW });
    expect(first.status).toBe('published');
    return readBars(t.store);
  }

  it.each([
    ['one row without its decimal points', (r: string) => noDecimals(r)],
    ['one row of 0.000001 prices', (r: string) => r.replace(/^([^,]+),[^,]+,[^,]+,[^,]+,[^,]+,/, '$1,0.000001,0.000001,0.000001,0.000001,')],
  ])('%s in a newer file: rejected (one_bar_glitch), the stored bar kept and reported, nothing revised', async (_label, glitch) => {
    const stored = await baseline();
    const lines = rows(120);
    lines[60] = glitch(lines[60]);
    const second = await importBars(t.store, csv({ 'ibm.us.csv': lines }), { now: NOW });
    expect([second.status, second.rowsRejected, second.byRule.one_bar_glitch, second.byRule.extreme_move]).toEqual(['published', 1, 1, undefined]);
    expect(await readBars(t.store)).toEqual(stored);
    expect(await revisions(t.store)).toEqual([]);
    expect(second.unconfirmedStoredBars?.examples).toEqual([{ symbol: 'IBM', date: DAYS[60], why: 'rejected', rule: 'one_bar_glitch', stored: expect.objectContaining({ close: stored[60].close }) }]);
    const [q] = await listQuarantine(t.store, { snapshotId: second.snapshotId, rule: 'one_bar_glitch' });
    expect(q).toMatchObject({ symbol: 'IBM', date: DAYS[60], line: 62, raw: lines[60] });
    expect(q.message).toMatch(/is a one-bar glitch \(a misplaced decimal point, a wrong price\), not a move; rejected/);
  });

  // A re-import that changes one old bar by a typo under 35% (x1.3, x0.76: MSFT 2014-06-10 41.11 ->
  // 53.44 was published and logged as a revision, and rsi_14 of that day went 58.86 -> 90.07) is judged
  // on the symbol's own volatility: the stored bar is kept and the rule named, in a whole file and in
  // a file of that one row (judged against the stored bars around it).
  it.each([
    ['x1.3', 1.3],
    ['x0.76', 0.76],
  ])('a revision of a deep-history bar %s is rejected (one_bar_glitch on the symbol\'s scale): the stored bar kept, nothing revised', async (_label, k) => {
    const stored = await baseline();
    const typo = (row: string): string => {
      const [date, ...values] = row.split(',');
      return [date, ...values.slice(0, 4).map((v) => (Number(v) * k).toFixed(2)), values[4]].join(',');
    };
    const lines = rows(120);
    lines[80] = typo(lines[80]);
    const whole = await importBars(t.store, csv({ 'ibm.us.csv': lines }), { now: NOW });
    expect([whole.status, whole.rowsRejected, whole.byRule.one_bar_glitch]).toEqual(['published', 1, 1]);
    expect(whole.unconfirmedStoredBars?.examples).toEqual([{ symbol: 'IBM', date: DAYS[80], why: 'rejected', rule: 'one_bar_glitch', stored: expect.objectContaining({ close: stored[80].close }) }]);
    const [q] = await listQuarantine(t.store, { snapshotId: whole.snapshotId, rule: 'one_bar_glitch' });
    expect(q).toMatchObject({ symbol: 'IBM', date: DAYS[80], line: 82, raw: lines[80] });
    expect(q.message).toMatch(/times the symbol's robust daily volatility .* is a one-bar glitch \(a mistyped price\), not a move; rejected, and a stored bar for its date is kept$/);
    // Its only row rejected, the one-row import fails its bad-row share, as for a x1.5 typo.
    const one = await importBars(t.store, csv({ 'ibm.us.csv': [lines[80]] }), { now: NOW });
    expect([one.status, one.rowsRejected, one.byRule.one_bar_glitch]).toEqual(['rejected', 1, 1]);
    const [r] = await listQuarantine(t.store, { snapshotId: one.snapshotId, rule: 'one_bar_glitch' });
    expect(r.message).toMatch(/the bar before as stored and the bar after as stored: .*robust daily volatility/);
    expect(await readBars(t.store)).toEqual(stored);
    expect(await revisions(t.store)).toEqual([]);
  });

  it("rejects a glitch in a newer file's first row against the stored bar before it (judged with the stored bars)", async () => {
    const stored = await baseline();
    const lines = rows(60, 60);
    lines[0] = noDecimals(lines[0]);
    const second = await importBars(t.store, csv({ 'ibm.us.csv': lines }), { now: NOW });
    expect(second.status).toBe('published');
    expect(await readBars(t.store)).toEqual(stored);
    expect(await revisions(t.store)).toEqual([]);
    expect(second.unconfirmedStoredBars?.examples).toEqual([{ symbol: 'IBM', date: DAYS[60], why: 'rejected', rule: 'one_bar_glitch', stored: expect.objectContaining({ close: stored[60].close }) }]);
    const snapshot = await getSnapshot(t.store, second.snapshotId);
    expect(snapshot).toMatchObject({ rowCount: 59, rejectedCount: 1, barsRevised: 0 });
    expect(snapshot?.qualityReport.byRule.one_bar_glitch).toBe(1);
    const [q] = await listQuarantine(t.store, { snapshotId: second.snapshotId, rule: 'one_bar_glitch' });
    expect(q).toMatchObject({ symbol: 'IBM', date: DAYS[60], source: expect.stringMatching(/ibm\.us\.csv$/) });
    expect(q.message).toContain('the bar before as stored and the bar after in the file');
    // Judging it again changes nothing and counts nothing twice.
    const before = await dumpStore(t.store);
    expect((await judgeSnapshot(t.store, second.snapshotId)).status).toBe('published');
    expect(await dumpStore(t.store)).toEqual(before);
  });

  it('the same bytes imported again after judging rejected rows of them change nothing: no new snapshot, finding or revision', async () => {
    await baseline();
    // A glitch at the file's first row (judged against the stored bar before it) and a volume of 0
    // over a stored volume (judged against the stored bar): both rejected only when judged. Every
    // repeat of these bytes used to stage, judge and publish one more generation (a snapshot and
    // two quarantine rows each time) that changed no bar.
    const lines = rows(110, 60);
    lines[0] = noDecimals(lines[0]);
    lines[20] = zeroVolume(lines[20]);
    lines[21] = lines[21].replace(/,\d+$/, ',3104242');
    const request = csv({ 'ibm.us.csv': lines });
    const second = await importBars(t.store, request, { now: NOW });
    expect([second.status, second.byRule.one_bar_glitch, second.byRule.volume_vanished]).toEqual(['published', 1, 1]);
    const published = await dumpStore(t.store);
    const logged = await revisions(t.store);
    expect(logged.map((r) => r.date)).toEqual([DAYS[81]]);
    for (let k = 0; k < 2; k++) {
      const again = await importBars(t.store, request, { now: NOW });
      expect([again.snapshotId, again.status, again.rowsRejected]).toEqual([second.snapshotId, 'published', 2]);
      expect(await dumpStore(t.store)).toEqual(published);
      expect(await revisions(t.store)).toEqual(logged);
    }
    // Once the store no longer holds what the content gives (another import took the revised volume
    // back), the content is staged again as its next generation, which restores it.
    await importBars(t.store, csv({ 'ibm.us.csv': rows(120) }), { now: NOW });
    const restored = await importBars(t.store, request, { now: NOW });
    expect(restored.snapshotId).not.toBe(second.snapshotId);
    expect((await readBars(t.store, { symbols: ['IBM'], from: DAYS[81], to: DAYS[81] }))[0].volume).toBe(3_104_242);
  });

  it('checks a staged snapshot once: checking it again (a judge retried after a crash) counts and quarantines nothing twice', async () => {
    await baseline();
    const lines = rows(60, 60);
    lines[0] = noDecimals(lines[0]);
    lines[10] = zeroVolume(lines[10]);
    const staged = await stageImport(t.store, csv({ 'ibm.us.csv': lines }, { quality: { ...POLICY, maxBadRowShare: 0.05 } }), { now: NOW });
    expect([staged.status, staged.rowsRejected]).toEqual(['staged', 0]);
    const first = await checkStoredBars(t.store, staged.snapshotId);
    expect(first).toMatchObject({ rowsAccepted: 58, rowsRejected: 2, byRule: { one_bar_glitch: 1, volume_vanished: 1 }, storedBarChecks: { rowsRejected: 2, flags: 0 } });
    const before = await dumpStore(t.store);
    expect(await checkStoredBars(t.store, staged.snapshotId)).toEqual(first);
    expect(await dumpStore(t.store)).toEqual(before);
    const judged = await judgeSnapshot(t.store, staged.snapshotId);
    expect([judged.status, judged.published?.revised, judged.published?.unconfirmed?.count]).toEqual(['published', 0, 2]);
  });

  it("importBars' summary counts what judging rejected, as the snapshot does (it was taken at staging before)", async () => {
    await baseline();
    const lines = rows(60, 60);
    lines[0] = noDecimals(lines[0]);
    lines[10] = zeroVolume(lines[10]);
    const summary = await importBars(t.store, csv({ 'ibm.us.csv': lines }, { quality: { ...POLICY, maxBadRowShare: 0.05 } }), { now: NOW });
    expect(summary).toMatchObject({ status: 'published', rowsAccepted: 58, rowsRejected: 2, byRule: { one_bar_glitch: 1, volume_vanished: 1 } });
    const snapshot = await getSnapshot(t.store, summary.snapshotId);
    expect([summary.rowsAccepted, summary.rowsRejected, summary.flags, summary.badRowShare, summary.byRule]).toEqual([snapshot?.rowCount, snapshot?.rejectedCount, snapshot?.flaggedCount, snapshot?.qualityReport.badRowShare, snapshot?.qualityReport.byRule]);
    // Rejected at judging: the summary says why in its counts too.
    const zero = await importBars(t.store, csv({ 'ibm.us.csv': rows(120).map(zeroVolume) }), { now: NOW });
    expect(zero).toMatchObject({ status: 'rejected', rowsAccepted: 0, rowsRejected: 120, byRule: { volume_vanished: 120, file_bad_row_share: 1 } });
  });

  it('a file with every volume 0: every revision rejected (volume_vanished), the import fails naming the file, nothing changes', async () => {
    await baseline();
    const before = await dumpStore(t.store);
    const second = await importBars(t.store, csv({ 'ibm.us.csv': rows(120).map(zeroVolume) }), { now: NOW });
    expect(second.status).toBe('rejected');
    expect((await dumpStore(t.store)).bars).toEqual(before.bars);
    expect(await revisions(t.store)).toEqual([]);
    const snapshot = await getSnapshot(t.store, second.snapshotId);
    expect(snapshot?.statusReason).toMatch(/^file \S+ibm\.us\.csv rejected whole: 120 of its 120 rows for IBM were rejected \(100\.00%\), above the per-file limit of 20\.00% \(volume_vanished: 120\)/);
    expect(snapshot?.qualityReport.byRule).toMatchObject({ volume_vanished: 120, file_bad_row_share: 1 });
    expect(await listQuarantine(t.store, { snapshotId: second.snapshotId, rule: 'volume_vanished', limit: 500 })).toHaveLength(120);
  });

  it('one row with volume 0: that row rejected and its stored bar kept, the rest of the file revised as usual', async () => {
    const stored = await baseline();
    const lines = rows(120);
    lines[30] = zeroVolume(lines[30]);
    // A vendor's corrected count (another tape's), within the level of the sessions around it.
    lines[31] = lines[31].replace(/,\d+$/, ',3104242');
    const second = await importBars(t.store, csv({ 'ibm.us.csv': lines }), { now: NOW });
    expect(second.status).toBe('published');
    expect(await readBars(t.store)).toEqual(stored.map((b, i) => (i === 31 ? { ...b, volume: 3_104_242 } : b)));
    expect((await revisions(t.store)).map((r) => [r.date, Number(r.old_volume), Number(r.new_volume)])).toEqual([[DAYS[31], 3_031_000, 3_104_242]]);
    expect(second.unconfirmedStoredBars?.examples.map((e) => [e.date, e.rule, e.stored.volume])).toEqual([[DAYS[30], 'volume_vanished', 3_030_000]]);
  });

  // Too few rows for series_splice or series_mismatch, such blocks revised good stored bars unseen.
  it.each([3, 4, 8])('%i consecutive rows of a file naming another stored symbol (a fill error in the Name column): rejected (one_bar_glitch) against its stored bars, which stay', async (k) => {
    const sp500 = (symbol: string, lines: string[]) => lines.map((l) => `${l},${symbol}`);
    const dir = (lines: string[]) => request({ source: { kind: 'csv', path: folder({ 'all.csv': lines }, 'date,open,high,low,close,volume,Name') }, quality: { ...POLICY, maxBadRowShare: 0.1 } });
    expect((await importBars(t.store, dir([...sp500('IBM', rows(120)), ...sp500('MSFT', rows(120, 0, 80))]), { now: NOW })).status).toBe('published');
    const before = await dumpStore(t.store);
    const ibm = sp500('IBM', rows(120)).map((l, i) => (i >= 60 && i < 60 + k ? l.replace(/,IBM$/, ',MSFT') : l));
    const second = await importBars(t.store, dir(ibm), { now: NOW });
    expect(second.byRule.one_bar_glitch).toBe(k);
    expect(second.status).toBe(k < 5 ? 'published' : 'rejected'); // 5 rejected rows of a symbol reject its file (MIN_FILE_REJECTED_ROWS)
    expect((await dumpStore(t.store)).bars).toEqual(before.bars);
    expect(await revisions(t.store)).toEqual([]);
    const found = await listQuarantine(t.store, { snapshotId: second.snapshotId, rule: 'one_bar_glitch' });
    expect(found.map((q) => [q.symbol, q.date]).sort()).toEqual(DAYS.slice(60, 60 + k).map((d) => ['MSFT', d]));
    expect(found[0].message).toMatch(new RegExp(`the bar before as stored and the bar after as stored: .*the ${k} rows ${DAYS[60]}\\.\\.${DAYS[59 + k]} are a block off the series`));
  });

  it('a block of rows in cents in a re-download: rejected (one_bar_glitch), the stored bars kept and reported', async () => {
    const stored = await baseline();
    const lines = rows(120).map((l, i) => (i >= 60 && i < 64 ? noDecimals(l) : l));
    const second = await importBars(t.store, csv({ 'ibm.us.csv': lines }, { quality: { ...POLICY, maxBadRowShare: 0.1 } }), { now: NOW });
    expect([second.status, second.rowsRejected, second.byRule.one_bar_glitch]).toEqual(['published', 4, 4]);
    expect(await readBars(t.store)).toEqual(stored);
    expect(await revisions(t.store)).toEqual([]);
    expect(second.unconfirmedStoredBars?.count).toBe(4);
  });

  it('a new series: a glitch row is quarantined and not stored; zero volume is flagged for an equity, not for a declared index', async () => {
    const lines = rows(120);
    lines[60] = noDecimals(lines[60]);
    const first = await importBars(t.store, csv({ 'ibm.us.csv': lines, 'spx.csv': rows(120).map(zeroVolume), 'xyz.csv': rows(120).map(zeroVolume) }, { instruments: { SPX: 'index' } }), { now: NOW });
    expect(first.status).toBe('published');
    const stored = await readBars(t.store);
    expect(stored.filter((b) => b.symbol === 'IBM').map((b) => b.date)).toEqual(DAYS.slice(0, 120).filter((d) => d !== DAYS[60]));
    expect(stored.filter((b) => b.symbol === 'SPX')).toHaveLength(120);
    const snapshot = await getSnapshot(t.store, first.snapshotId);
    expect(snapshot?.qualityReport.byRule).toMatchObject({ one_bar_glitch: 1, zero_volume: 1 });
    const flags = await listQuarantine(t.store, { snapshotId: first.snapshotId, rule: 'zero_volume' });
    expect(flags.map((q) => [q.symbol, q.severity, q.date])).toEqual([['XYZ', 'flag', DAYS[0]]]);
    expect(flags[0].message).toMatch(/^volume is 0 on all 120 of its rows/);
    // A series that never had volume is not affected when imported again either.
    const again = await importBars(t.store, csv({ 'spx.csv': rows(120, 0, 151).map(zeroVolume) }, { instruments: { SPX: 'index' } }), { now: NOW });
    expect([again.status, again.rowsRejected]).toEqual(['published', 0]);
    expect(await listQuarantine(t.store, { snapshotId: again.snapshotId })).toEqual([]);
  });
});

// The auditor's case on the real IBM file (shared S&P 500 folder, not in the repository).
(hasSharedData ? describe : describe.skip)('the real IBM file (SQLite)', () => {
  const text = () => fs.readFileSync(path.join(SHARED_SP500_DIR, 'IBM.csv'), 'utf8').trimEnd().split('\n');
  const [, create] = DRIVERS[0];
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });
  const write = (lines: string[]) => {
    const dir = tempDir('mlp-real-ibm-');
    fs.writeFileSync(path.join(dir, 'IBM.csv'), `${lines.join('\n')}\n`);
    return request({ source: { kind: 'csv', path: dir } });
  };

  it('keeps 2016-04-12 when a re-download writes it 14961,15011,14858,14963, and every volume when they are all 0', async () => {
    const lines = text();
    expect((await importBars(t.store, write(lines), { now: NOW })).status).toBe('published');
    const stored = await readBars(t.store);
    const glitched = lines.map((l) => (l.startsWith('2016-04-12,') ? noDecimals(l) : l));
    expect(glitched.find((l) => l.startsWith('2016-04-12,'))).toMatch(/^2016-04-12,14961,15011,14858,14963,/);
    const second = await importBars(t.store, write(glitched), { now: NOW });
    expect([second.status, second.byRule.one_bar_glitch, second.unconfirmedStoredBars?.examples[0]?.rule]).toEqual(['published', 1, 'one_bar_glitch']);
    const zero = await importBars(t.store, write(lines.map((l, i) => (i === 0 ? l : l.replace(/,\d+,IBM$/, ',0,IBM')))), { now: NOW });
    expect(zero.status).toBe('rejected');
    expect(await readBars(t.store)).toEqual(stored);
    expect(await revisions(t.store)).toEqual([]);
  });

  // Excel's scientific format (0.00E+00) writes 153.85 as 1.54E+02: read as written, the last 20
  // rows so written revised all 20 stored bars (2018-02-07 close 153.85 -> 154) with no finding.
  const scientific = (line: string, digits: number) => line.replace(/^([^,]+),([^,]+),([^,]+),([^,]+),([^,]+),/, (_m, date: string, o: string, h: string, l: string, c: string) => `${date},${[o, h, l, c].map((p) => Number(p).toExponential(digits).toUpperCase().replace(/E([+-])(\d)$/, 'E$10$2')).join(',')},`);

  it("rejects prices a spreadsheet's scientific format rounded (153.85 as 1.54E+02) as imprecise_price: no stored bar is revised, no new series is stored; precise ones (1.538500E+02) read as written", async () => {
    const lines = text();
    const [header] = lines;
    const last20 = lines.slice(-20);
    expect(scientific(last20[19], 2)).toBe('2018-02-07,1.54E+02,1.55E+02,1.53E+02,1.54E+02,6149207,IBM');
    // A new series written so: every row rejected, the file rejected whole, nothing stored.
    const fresh = await importBars(t.store, write([header, ...lines.slice(1).map((l) => scientific(l, 2))]), { now: NOW });
    expect(fresh).toMatchObject({ status: 'rejected', rowsAccepted: 0, byRule: { imprecise_price: lines.length - 1, file_bad_row_share: 1 } });
    expect(await readBars(t.store)).toEqual([]);
    const quarantined = await listQuarantine(t.store, { snapshotId: fresh.snapshotId, rule: 'imprecise_price', limit: 5 });
    expect(quarantined[0].message).toMatch(/^open "2\.00E\+02" is written in exponent notation with 3 significant digits, to the nearest 1, short of the cent/);
    // Over the stored bars: the import fails naming the rule, and nothing stored changes.
    expect((await importBars(t.store, write(lines), { now: NOW })).status).toBe('published');
    const stored = await readBars(t.store);
    const second = await importBars(t.store, write([header, ...last20.map((l) => scientific(l, 2))]), { now: NOW });
    expect(second).toMatchObject({ status: 'rejected', rowsAccepted: 0, rowsRejected: 20, byRule: { imprecise_price: 20, file_bad_row_share: 1 } });
    expect((await getSnapshot(t.store, second.snapshotId))?.statusReason).toMatch(/rejected whole: 20 of its 20 rows for IBM were rejected \(100\.00%\), above the per-file limit of 20\.00% \(imprecise_price: 20;/);
    // One such row in a re-download: that row rejected, its stored bar kept.
    const one = await importBars(t.store, write(lines.map((l, i) => (i === lines.length - 1 ? scientific(l, 2) : l))), { now: NOW });
    expect([one.status, one.rowsRejected, one.byRule.imprecise_price]).toEqual(['published', 1, 1]);
    // Written with every digit (0.000000E+00: 153.85 as 1.538500E+02, 169.1253 as 1.691253E+02): the same values, nothing to revise.
    expect(scientific(last20[19], 6)).toBe('2018-02-07,1.541700E+02,1.553400E+02,1.532800E+02,1.538500E+02,6149207,IBM');
    const precise = await importBars(t.store, write([header, ...last20.map((l) => scientific(l, 6))]), { now: NOW });
    expect([precise.status, precise.rowsRejected]).toEqual(['published', 0]);
    expect(await readBars(t.store)).toEqual(stored);
    expect(await revisions(t.store)).toEqual([]);
  });
});
