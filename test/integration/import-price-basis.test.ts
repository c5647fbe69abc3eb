import fs from 'node:fs';
import path from 'node:path';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../../lib/ingest/import-request';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { listQuarantine } from '../../lib/store/quarantine';
import { getSnapshot } from '../../lib/store/snapshots';
import { DRIVERS, hasSharedData, SHARED_SP500_DIR, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';

/**
 * A file on another price basis than the stored series (split-adjusted over unadjusted bars,
 * dividend-adjusted, in cents) revises every stored bar it shares by about one factor. Published
 * over part of the stored history, it left the rest on the old basis: a split-adjusted download of
 * A's last 529 sessions (prices halved) over the stored 2013-2018 history revised all 529 bars and
 * left a -50% jump between 2015-12-31 and 2016-01-04 that never traded, with no finding. Such a
 * series is rejected whole (price_basis_splice) and nothing changes; a file holding every stored bar
 * of the symbol moves the whole series consistently and is flagged (price_basis_change).
 */
const request = (input: ImportRequestInput) => importRequestSchema.parse(input);
const DAYS = nyseTradingDaysBetween('2016-01-04', '2017-12-29');
const NOW = () => new Date('2019-01-10T22:00:00Z');
const POLICY = { minHistoryBars: 1 };
const HEADER = 'Date,Open,High,Low,Close,Volume';

/** Stooq rows of IBM from day `from` to `to` (exclusive), prices times `factor(day)` (4 decimals), volume divided by it. */
function rows(from: number, to: number, factor: (i: number) => number = () => 1): string[] {
  return DAYS.slice(from, to).map((date, k) => {
    const i = from + k;
    const c = 150 + 3 * Math.sin(i / 5) + i / 10;
    const f = factor(i);
    return `${date},${(c * 0.995 * f).toFixed(4)},${(c * 1.01 * f).toFixed(4)},${(c * 0.985 * f).toFixed(4)},${(c * f).toFixed(4)},${Math.round((3_000_000 + 1000 * i) / f)}`;
  });
}

function folder(files: Record<string, string[]>): string {
  const dir = tempDir('mlp-price-basis-');
  for (const [name, lines] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), `${HEADER}\n${lines.join('\n')}\n`);
  return dir;
}
const csv = (files: Record<string, string[]>) => request({ source: { kind: 'csv', path: folder(files) }, quality: POLICY });

describe.each(DRIVERS)('a file on another price basis on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
    const first = await importBars(t.store, csv({ 'ibm.us.csv': rows(0, 300) }), { now: NOW });
    expect(first.status).toBe('published');
  });
  afterEach(async () => {
    await t?.drop();
  });

  it.each([
    ['split-adjusted (×0.5) over the last 200 stored sessions', rows(100, 300, () => 0.5), new RegExp(`200 stored bars they share .* ×0\\.5000 on the first 10 shared sessions .*100 stored bars before it \\(${DAYS[0]}\\.\\.${DAYS[99]}\\) would stay on the old basis, a ×0\\.5000 jump between ${DAYS[99]} and ${DAYS[100]} that never traded`)],
    ['dividend-adjusted (×0.97, then ×0.985, then 1) over the last 200', rows(100, 300, (i) => (i < 150 ? 0.97 : i < 200 ? 0.985 : 1)), /×0\.9700 on the first 10 shared sessions/],
    // An ex-date inside the first 10 shared sessions split them 5 to 5 (3 to 7): no factor was read and the file was published, a ×0.97 seam.
    ['dividend-adjusted from 5 sessions before an ex-date (×0.97, then ×0.98)', rows(100, 300, (i) => (i < 105 ? 0.97 : 0.98)), new RegExp(`×0\\.9700 on the first 5 shared sessions \\(${DAYS[100]}\\.\\.${DAYS[104]}\\)`)],
    ['dividend-adjusted from 3 sessions before an ex-date', rows(100, 300, (i) => (i < 103 ? 0.97 : 0.98)), new RegExp(`×0\\.9700 on the first 3 shared sessions`)],
    ['in cents (×100) over the first 200, the newer stored bars left', rows(0, 200, () => 100), new RegExp(`×100\\.0 on the first 10 shared sessions .*100 stored bars after it \\(${DAYS[200]}\\.\\.${DAYS[299]}\\) would stay on the old basis, a ×0\\.01000 jump between ${DAYS[199]} and ${DAYS[200]}`)],
    ['split-adjusted over the whole history but one session', rows(0, 300, () => 0.5).filter((_, i) => i !== 150), new RegExp(`1 stored bar within it that the file lacks or rejected \\(first ${DAYS[150]}\\) would stay on the old basis between bars revised by ×0\\.5000`)],
  ])('%s: the series is rejected whole (price_basis_splice), the import fails naming it, the store is unchanged', async (_label, lines, message) => {
    const before = await dumpStore(t.store);
    const revisionsBefore = await t.store.db.selectFrom('bar_revisions').selectAll().execute();
    const second = await importBars(t.store, csv({ 'ibm.us.csv': lines }), { now: NOW });
    expect(second.status).toBe('rejected');
    expect(second.byRule.price_basis_splice).toBe(1);
    expect(second.rowsAccepted).toBe(0);
    const snapshot = await getSnapshot(t.store, second.snapshotId);
    expect(snapshot?.statusReason).toMatch(/series of IBM from .*ibm\.us\.csv rejected whole \(price_basis_splice\): the rows of IBM revise/);
    expect(snapshot?.statusReason).toMatch(message);
    const after = await dumpStore(t.store);
    expect(after.bars).toEqual(before.bars);
    expect(await t.store.db.selectFrom('bar_revisions').selectAll().execute()).toEqual(revisionsBefore);
    const [finding] = await listQuarantine(t.store, { snapshotId: second.snapshotId, rule: 'price_basis_splice' });
    expect(finding).toMatchObject({ symbol: 'IBM', line: null });
    // Each row of the series rejected whole is quarantined at its line in the file, as series_splice's are.
    const rowsRejected = await listQuarantine(t.store, { snapshotId: second.snapshotId, rule: 'file_rejected', limit: 10_000 });
    expect(rowsRejected).toHaveLength(lines.length);
    expect(rowsRejected.map((q) => q.line).sort((a, b) => (a as number) - (b as number))).toEqual(lines.map((_, i) => i + 2));
  });

  it('a file holding every stored bar on another basis moves the whole series: published, flagged (price_basis_change), every change logged', async () => {
    const second = await importBars(t.store, csv({ 'ibm.us.csv': rows(0, 320, () => 0.5) }), { now: NOW });
    expect([second.status, second.byRule.price_basis_change, second.byRule.price_basis_splice]).toEqual(['published', 1, undefined]);
    expect((await t.store.db.selectFrom('bar_revisions').selectAll().execute()).length).toBe(300);
    const [flag] = await listQuarantine(t.store, { snapshotId: second.snapshotId, rule: 'price_basis_change' });
    expect(flag.message).toMatch(new RegExp(`the file holds every stored bar of IBM \\(${DAYS[0]}\\.\\.${DAYS[299]}\\), so the whole series moves to its basis`));
  });

  it('a few corrected bars, a re-download of the same values and a file extending the series are no basis change', async () => {
    const corrected = rows(100, 300);
    corrected[50] = rows(150, 151, () => 1.1)[0];
    corrected[51] = rows(151, 152, () => 1.1)[0];
    const fixed = await importBars(t.store, csv({ 'ibm.us.csv': corrected }), { now: NOW });
    expect([fixed.status, fixed.byRule.price_basis_splice, fixed.byRule.price_basis_change]).toEqual(['published', undefined, undefined]);
    expect((await t.store.db.selectFrom('bar_revisions').selectAll().execute()).length).toBe(2);
    const longer = await importBars(t.store, csv({ 'ibm.us.csv': rows(250, 400) }), { now: NOW });
    expect([longer.status, longer.byRule.price_basis_splice, longer.byRule.price_basis_change]).toEqual(['published', undefined, undefined]);
  });

  (hasSharedData ? it : it.skip)("real bars: A's last 529 sessions halved over its stored 2013-2018 history are refused; A's own file again changes nothing", async () => {
    const text = fs.readFileSync(path.join(SHARED_SP500_DIR, 'A.csv'), 'utf8');
    const dir = tempDir('mlp-price-basis-real-');
    fs.writeFileSync(path.join(dir, 'A.csv'), text);
    expect((await importBars(t.store, request({ source: { kind: 'csv', path: dir } }), { now: NOW })).status).toBe('published');
    const before = await dumpStore(t.store);
    const halved = text
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','))
      .filter((p) => p[0] >= '2016-01-01')
      .map((p) => [p[0], ...p.slice(1, 5).map((x) => (Number(x) / 2).toFixed(4)), String(Number(p[5]) * 2)].join(','));
    const second = await importBars(t.store, request({ source: { kind: 'csv', path: folder({ 'a.us.csv': halved }) } }), { now: NOW });
    expect([second.status, second.byRule.price_basis_splice, second.byRule.file_rejected]).toEqual(['rejected', 1, 529]);
    expect((await dumpStore(t.store)).bars).toEqual(before.bars);
    const again = await importBars(t.store, request({ source: { kind: 'csv', path: dir } }), { now: NOW });
    expect([again.status, again.byRule.price_basis_splice, again.byRule.price_basis_change]).toEqual(['published', undefined, undefined]);
  });
});
