import fs from 'node:fs';
import path from 'node:path';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { defineFeatureSet } from '../../lib/features/feature-set';
import { materializeFeatures } from '../../lib/features/materialize';
import { generationIdOf, importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../../lib/ingest/import-request';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { readBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { getSnapshot } from '../../lib/store/snapshots';
import { describeUnconfirmed, listRevisions, publishSnapshot, revisedSince, unconfirmedOf } from '../../lib/store/staging';
import { unconfirmedLine } from '../../client/commands/run-pipeline';
import { createSqliteTestDatabase, DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';

/**
 * Bad input never loses, changes or duplicates what is stored. A newer vendor file that, within a
 * symbol's dates, rejects a row (a `null` close) or lacks a day is more often a glitch than a
 * correction: the stored bars stay exactly as they were, nothing is logged in bar_revisions for
 * them, and the publish reports them (`unconfirmed_stored_bar`) in the snapshot's quality report,
 * the import summary and the CLI line. A stored bar is corrected deliberately by importing a file
 * whose row for it is accepted with the new values (a revision, as any other).
 */
const request = (input: ImportRequestInput) => importRequestSchema.parse(input);
const DAYS = nyseTradingDaysBetween('2016-01-04', '2017-12-29');
const POLICY = { minHistoryBars: 1 };
const HEADER = 'Date,Open,High,Low,Close,Volume\n';

/** Stooq rows for `n` days from `from` (index into DAYS). */
function rows(n: number, base: number, from = 0): string[] {
  return DAYS.slice(from, from + n).map((date, i) => {
    const c = base + Math.sin((from + i) / 5);
    return `${date},${(c * 0.995).toFixed(4)},${(c * 1.01).toFixed(4)},${(c * 0.985).toFixed(4)},${c.toFixed(4)},${1000 + from + i}`;
  });
}

function folder(files: Record<string, string[]>): string {
  const dir = tempDir('mlp-unconfirmed-');
  for (const [name, lines] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), HEADER + lines.join('\n') + '\n');
  return dir;
}

/**
 * v1: 100 days of AAPL from day 0, with a wrong close (x1.05) on day 50 that no rule can tell from a
 * move (under the 10% floor of one_bar_glitch's volatility scale; a x1.2 or a x10 fat finger that the
 * next bar undoes on this calm series is rejected as one_bar_glitch).
 */
function v1(): string[] {
  const lines = rows(100, 50);
  const p = lines[50].split(',');
  p[2] = String(Number(p[4]) * 1.05);
  p[4] = String(Number(p[4]) * 1.05);
  lines[50] = p.join(',');
  return lines;
}

/** v2, the vendor's newer file: day 50's close is null (rejected, missing_field), day 70 is absent. */
function v2(): string[] {
  const lines = rows(100, 50);
  lines[50] = lines[50].replace(/,[^,]+,(\d+)$/, ',null,$1');
  lines.splice(70, 1);
  return lines;
}

const at = async (store: Database, symbol: string, day: number) => (await readBars(store, { symbols: [symbol], from: DAYS[day], to: DAYS[day] }))[0];
const valuesOf = (b: { open: number; high: number; low: number; close: number; volume: number }) => ({ open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume });
const allRevisions = (store: Database) => store.db.selectFrom('bar_revisions').selectAll().orderBy('snapshot_id').orderBy('symbol').orderBy('date').execute();

describe.each(DRIVERS)('unconfirmed stored bars on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('a newer file that rejects or omits stored bars within its dates keeps them as stored and reports them', async () => {
    // Other bars the newer file must not touch: AAPL outside its dates (another file), and MSFT on the same days.
    await importBars(t.store, request({ source: { kind: 'csv', path: folder({ 'aapl.us.csv': rows(20, 50, 200) }) }, quality: POLICY }));
    await importBars(t.store, request({ source: { kind: 'csv', path: folder({ 'msft.us.csv': rows(100, 30) }) }, quality: POLICY }));
    const reqV1 = request({ source: { kind: 'csv', path: folder({ 'aapl.us.csv': v1() }) }, quality: POLICY });
    const first = await importBars(t.store, reqV1);
    expect(first.status).toBe('published');
    expect(first.unconfirmedStoredBars).toBeUndefined();
    const bad = await at(t.store, 'AAPL', 50);
    expect(bad.close).toBeGreaterThan(51.5);
    const withdrawn = await at(t.store, 'AAPL', 70);
    expect(withdrawn).toBeDefined();
    const storedBefore = await readBars(t.store);
    expect(storedBefore).toHaveLength(220);
    const revisionsBefore = await allRevisions(t.store);

    const reqV2 = request({ source: { kind: 'csv', path: folder({ 'aapl.us.csv': v2() }) }, quality: POLICY });
    const second = await importBars(t.store, reqV2);
    expect([second.status, second.rowsRejected, second.byRule.missing_field]).toEqual(['published', 1, 1]);

    // Nothing stored was lost or changed: v1's values for both days, and every other bar, as they were.
    expect(await at(t.store, 'AAPL', 50)).toEqual(bad);
    expect(await at(t.store, 'AAPL', 70)).toEqual(withdrawn);
    expect(await readBars(t.store)).toEqual(storedBefore);

    // Reported: in the summary, the publish result and the snapshot's quality report, with why, rule and stored values.
    expect(second.unconfirmedStoredBars).toEqual({
      rule: 'unconfirmed_stored_bar',
      count: 2,
      bySymbol: { AAPL: 2 },
      examples: [
        { symbol: 'AAPL', date: DAYS[50], why: 'rejected', rule: 'missing_field', stored: valuesOf(bad) },
        { symbol: 'AAPL', date: DAYS[70], why: 'absent', stored: valuesOf(withdrawn) },
      ],
    });
    const snapshot = await getSnapshot(t.store, second.snapshotId);
    expect(snapshot).toMatchObject({ status: 'published', barsAdded: 0, barsRevised: 0 });
    expect(unconfirmedOf(snapshot?.qualityReport)).toEqual(second.unconfirmedStoredBars);
    expect(await publishSnapshot(t.store, second.snapshotId)).toEqual({ added: 0, revised: 0, unconfirmed: second.unconfirmedStoredBars, alreadyPublished: true });

    // Not a revision: nothing in bar_revisions, nothing for features to recompute.
    expect(await listRevisions(t.store, second.snapshotId)).toEqual([]);
    expect(await allRevisions(t.store)).toEqual(revisionsBefore);
    expect(await revisedSince(t.store, { snapshotId: second.snapshotId })).toEqual(new Map());

    // What `mlp run` and `mlp snapshots show` print.
    const line = `unconfirmed_stored_bar: 2 stored bars within the file's dates are not confirmed by it (kept as stored): AAPL ${DAYS[50]} (row rejected: missing_field; stored close ${bad.close}), AAPL ${DAYS[70]} (no row in the file; stored close ${withdrawn.close})`;
    expect(describeUnconfirmed(second.unconfirmedStoredBars)).toBe(line);
    expect(unconfirmedLine(second.unconfirmedStoredBars)).toBe(`  ${line}\n`);
    expect(unconfirmedLine(first.unconfirmedStoredBars)).toBe('');

    // The same bytes again change nothing and stage no new generation; the finding is still reported.
    const before = await dumpStore(t.store);
    const again = await importBars(t.store, reqV2);
    expect([again.snapshotId, again.status, again.chunksStaged]).toEqual([second.snapshotId, 'published', 0]);
    expect(again.unconfirmedStoredBars).toEqual(second.unconfirmedStoredBars);
    expect(await dumpStore(t.store)).toEqual(before);
    expect(await allRevisions(t.store)).toEqual(revisionsBefore);
    expect(await getSnapshot(t.store, generationIdOf(second.snapshotId, 1))).toBeUndefined();

    // v1 again: the store still holds every bar it accepts, so it is its published snapshot, unchanged.
    const v1Again = await importBars(t.store, reqV1);
    expect([v1Again.snapshotId, v1Again.status, v1Again.chunksStaged]).toEqual([first.snapshotId, 'published', 0]);
    expect(await dumpStore(t.store)).toEqual(before);
  });

  it('a stored bar is corrected deliberately by a file whose row for it is accepted with new values: a revision', async () => {
    await importBars(t.store, request({ source: { kind: 'csv', path: folder({ 'aapl.us.csv': v1() }) }, quality: POLICY }));
    const bad = await at(t.store, 'AAPL', 50);
    const withdrawn = await at(t.store, 'AAPL', 70);
    await importBars(t.store, request({ source: { kind: 'csv', path: folder({ 'aapl.us.csv': v2() }) }, quality: POLICY }));
    expect(await at(t.store, 'AAPL', 50)).toEqual(bad);

    // v3: day 50 with its corrected values, day 70 still absent.
    const v3 = rows(100, 50);
    v3.splice(70, 1);
    const corrected = await importBars(t.store, request({ source: { kind: 'csv', path: folder({ 'aapl.us.csv': v3 }) }, quality: POLICY }));
    expect(corrected.status).toBe('published');
    const fixed = await at(t.store, 'AAPL', 50);
    expect(fixed.close).toBeLessThan(50);
    expect(await getSnapshot(t.store, corrected.snapshotId)).toMatchObject({ barsAdded: 0, barsRevised: 1 });
    expect((await listRevisions(t.store, corrected.snapshotId)).map((r) => [r.date, r.old.close, r.new?.close])).toEqual([[DAYS[50], bad.close, fixed.close]]);
    expect(await revisedSince(t.store, { snapshotId: corrected.snapshotId })).toEqual(new Map([['AAPL', DAYS[50]]]));
    // Day 70 is still not confirmed, and still stored.
    expect(corrected.unconfirmedStoredBars).toEqual({ rule: 'unconfirmed_stored_bar', count: 1, bySymbol: { AAPL: 1 }, examples: [{ symbol: 'AAPL', date: DAYS[70], why: 'absent', stored: valuesOf(withdrawn) }] });
    expect(await at(t.store, 'AAPL', 70)).toEqual(withdrawn);
    expect(await readBars(t.store)).toHaveLength(100);
  });

  it('a conflicting duplicate of a stored bar is reported and the bar kept; rows outside the request scope are not reported', async () => {
    await importBars(t.store, request({ source: { kind: 'csv', path: folder({ 'aapl.us.csv': rows(100, 50) }) }, quality: POLICY }));
    const all = await readBars(t.store);
    // Day 50 twice with other values, day 10 and day 90 withdrawn, imported with `from` after day 10 and `to` before day 90.
    const lines = rows(100, 50);
    lines.splice(51, 0, lines[50].replace(/,(\d+)$/, ',99999'));
    lines.splice(90, 1);
    lines.splice(10, 1);
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: folder({ 'aapl.us.csv': lines }) }, quality: { ...POLICY, maxBadRowShare: 0.05 }, from: DAYS[20], to: DAYS[80] }));
    expect(summary.status).toBe('published');
    expect(summary.unconfirmedStoredBars?.examples.map((e) => [e.date, e.why, e.rule, e.stored.volume])).toEqual([[DAYS[50], 'rejected', 'duplicate_date', 1050]]);
    expect(summary.unconfirmedStoredBars?.count).toBe(1);
    expect(await readBars(t.store)).toEqual(all);
    expect(await listRevisions(t.store, summary.snapshotId)).toEqual([]);
  });

  it('rows rejected by the clock (future_date) do not make their stored bars unconfirmed', async () => {
    // Bytes first seen an hour before the next ones (a publish never revises a newer stored version).
    await importBars(t.store, request({ source: { kind: 'csv', path: folder({ 'aapl.us.csv': rows(100, 50) }) }, quality: POLICY }), { now: () => new Date(`${DAYS[98]}T22:00:00Z`) });
    const all = await readBars(t.store);
    // Other bytes (day 0's volume) read with a clock on day 98: day 99 is future_date (1%, under the limit).
    const lines = rows(100, 50);
    lines[0] = lines[0].replace(/,(\d+)$/, ',4242');
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: folder({ 'aapl.us.csv': lines }) }, quality: POLICY }), { now: () => new Date(`${DAYS[98]}T23:00:00Z`) });
    expect([summary.status, summary.byRule.future_date]).toEqual(['published', 1]);
    expect(summary.unconfirmedStoredBars).toBeUndefined();
    expect(await readBars(t.store)).toEqual(all.map((b) => (b.date === DAYS[0] ? { ...b, volume: 4242 } : b)));
  });

  it('a file rejected for bars after the clock stays rejected: the same bytes are judged with the clock of their first import', async () => {
    const req = request({ source: { kind: 'csv', path: folder({ 'aapl.us.csv': rows(100, 100) }) }, quality: POLICY });
    // The clock 4 trading days before the last bar (after that day's close): 4% of rows future_date, above the 2% limit.
    const early = await importBars(t.store, req, { now: () => new Date(`${DAYS[95]}T23:00:00Z`) });
    expect(early.status).toBe('rejected');
    expect(early.byRule.future_date).toBe(4);
    expect((await getSnapshot(t.store, early.snapshotId))?.source).toMatchObject({ judgedAt: `${DAYS[95]}T23:00:00.000Z` });

    // A week later the bars are in the past, but these bytes held bars dated ahead of when they
    // were taken: the verdict stands and nothing is written (a new download is new content).
    const before = await dumpStore(t.store);
    const later = await importBars(t.store, req, { now: () => new Date('2016-06-10T15:00:00Z') });
    expect([later.snapshotId, later.status]).toEqual([early.snapshotId, 'rejected']);
    expect(await dumpStore(t.store)).toEqual(before);
  });
});

describe('features after a newer file left stored bars unconfirmed (SQLite)', () => {
  it('are not recomputed and keep every row, the unconfirmed dates included', async () => {
    const set = defineFeatureSet({ name: 'unconfirmed-probe', features: [{ kind: 'return', horizon: 1 }, { kind: 'ema_ratio', window: 5 }] });
    const reqV1 = request({ source: { kind: 'csv', path: folder({ 'aapl.us.csv': v1(), 'msft.us.csv': rows(100, 30) }) }, quality: POLICY });
    const reqV2 = request({ source: { kind: 'csv', path: folder({ 'aapl.us.csv': v2(), 'msft.us.csv': rows(100, 30) }) }, quality: POLICY });
    const t = await createSqliteTestDatabase();
    try {
      const cache = new MemoryCache();
      await importBars(t.store, reqV1);
      await materializeFeatures(t.store, set, { cache });
      const featureRows = () => t.store.db.selectFrom('feature_rows').select(['symbol', 'date', 'vals']).where('version', '=', set.version).orderBy('symbol').orderBy('date').execute();
      const before = await featureRows();
      expect(before.some((r) => r.symbol === 'AAPL' && r.date === DAYS[50])).toBe(true);
      expect(before.some((r) => r.symbol === 'AAPL' && r.date === DAYS[70])).toBe(true);

      const second = await importBars(t.store, reqV2);
      expect(second.unconfirmedStoredBars?.count).toBe(2);
      const report = await materializeFeatures(t.store, set, { cache });
      expect([report.recomputedFrom, report.rowsRecomputed]).toEqual([null, 0]);
      expect(await featureRows()).toEqual(before);
    } finally {
      await t.drop();
    }
  });
});
