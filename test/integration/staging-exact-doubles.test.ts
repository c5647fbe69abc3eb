import fs from 'node:fs';
import path from 'node:path';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import type { Bar } from '../../lib/market-data/bar';
import { rng } from '../../lib/random';
import { readBars, readBarSeries } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { getSnapshot, setSnapshotStatus } from '../../lib/store/snapshots';
import { beginStaging, finishStaging, listRevisions, publishSnapshot, stageChunk } from '../../lib/store/staging';
import type { QualityReport } from '../../lib/quality/report';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';

/**
 * Prices and volumes are read back as the very doubles written, so publishing the same values again
 * is never a revision (on MariaDB, mysql2's text parser used to round values such as
 * 99999999.99999999 or 9999.999999999998, and each publish logged phantom revisions), while a
 * change in the last bit still is one.
 */
const DAYS = nyseTradingDaysBetween('2010-01-04', '2017-12-29');

/** The next double above x (x > 0). */
function nextUp(x: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) + 1n);
  return view.getFloat64(0);
}

/** Doubles with all 53 bits of mantissa in use, in [lo, hi). */
function fullPrecision(draw: () => number, lo: number, hi: number): number {
  return lo + (draw() + draw() / 2 ** 32) * (hi - lo);
}

const HAND_PICKED: ReadonlyArray<Omit<Bar, 'symbol' | 'date'>> = [
  { open: 9999.999999999998, high: 9999.999999999998, low: 9999.999999999998, close: 9999.999999999998, volume: 123456789.123 },
  { open: 1234.5678901234567, high: 1234.5678901234571, low: 1234.5678901234564, close: 1234.5678901234567, volume: 1e15 + 1 },
  { open: 0.12345678901234568, high: 0.30000000000000004, low: 0.1, close: 0.2, volume: 99999999.99999999 },
  { open: 99999.99999999999, high: 99999.99999999999, low: 98765.43210987654, close: 99999.99999999999, volume: 9007199254740994 },
];

function barsToStore(): Bar[] {
  const draw = rng(20240611);
  const bars: Bar[] = HAND_PICKED.map((v, i) => ({ symbol: 'EXACT', date: DAYS[i], ...v }));
  for (let s = 0; s < 4; s++) {
    for (let i = 0; i < 500; i++) {
      const close = fullPrecision(draw, 1, 5000);
      bars.push({ symbol: `R${s}`, date: DAYS[i], open: fullPrecision(draw, 1, 5000), high: close * 1.01, low: close * 0.99, close, volume: fullPrecision(draw, 0, 1e9) });
    }
  }
  return bars;
}

/** Stages `bars` as snapshot `id`, passes it and publishes it, as the gate does. */
async function publishAs(store: Database, id: string, bars: readonly Bar[]) {
  const staging = await beginStaging(store, { id, contentHash: id, source: { kind: 'test' } });
  await stageChunk(store, id, staging.token, 0, bars, {} as QualityReport);
  const symbols = [...new Set(bars.map((b) => b.symbol))].sort();
  await finishStaging(store, id, staging.token, { source: { kind: 'test' }, symbols, firstDate: null, lastDate: null, rowsRead: bars.length, rowCount: bars.length, rejectedCount: 0, flaggedCount: 0, qualityReport: {} as QualityReport });
  await setSnapshotStatus(store, id, 'passed', null);
  return publishSnapshot(store, id);
}

const FIELDS = ['open', 'high', 'low', 'close', 'volume'] as const;

/** Bars whose stored values are not bit for bit the expected ones (both ordered by symbol and date). */
function inexact(stored: readonly Bar[], expected: readonly Bar[]): string[] {
  const byKey = new Map(expected.map((b) => [`${b.symbol} ${b.date}`, b]));
  const out: string[] = [];
  for (const s of stored) {
    const e = byKey.get(`${s.symbol} ${s.date}`);
    for (const f of FIELDS) if (!e || !Object.is(s[f], e[f])) out.push(`${s.symbol} ${s.date} ${f}: stored ${s[f]}, written ${e?.[f]}`);
  }
  return out;
}

describe.each(DRIVERS)('prices and volumes written and read back on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('reads back every value bit for bit, logs no revision when the same values are published again, and one for every value changed in its last bit', async () => {
    const bars = barsToStore();
    expect(await publishAs(t.store, 'ds-exact-1', bars)).toEqual({ added: bars.length, revised: 0, alreadyPublished: false });
    const stored = await readBars(t.store);
    expect(stored).toHaveLength(bars.length);
    expect(inexact(stored, bars)).toEqual([]);
    const series = await readBarSeries(t.store, { symbols: ['EXACT'] });
    expect(Array.from(series[0].volume)).toEqual(HAND_PICKED.map((v) => v.volume));
    expect(Array.from(series[0].close)).toEqual(HAND_PICKED.map((v) => v.close));

    // The same values again, as another snapshot: nothing is a revision.
    expect(await publishAs(t.store, 'ds-exact-2', bars)).toEqual({ added: 0, revised: 0, alreadyPublished: false });
    expect(await listRevisions(t.store, 'ds-exact-2')).toEqual([]);

    // Every 7th bar one unit in the last place higher in one field: each is a revision, logged exactly.
    const nudged = bars.map((b, i) => (i % 7 === 0 ? { ...b, [FIELDS[i % 5]]: nextUp(b[FIELDS[i % 5]]) } : b));
    const changed = nudged.filter((_, i) => i % 7 === 0);
    expect(await publishAs(t.store, 'ds-exact-3', nudged)).toEqual({ added: 0, revised: changed.length, alreadyPublished: false });
    expect(inexact(await readBars(t.store), nudged)).toEqual([]);
    const revisions = await listRevisions(t.store, 'ds-exact-3', 10_000);
    expect(revisions).toHaveLength(changed.length);
    const before = new Map(bars.map((b) => [`${b.symbol} ${b.date}`, b]));
    const after = new Map(nudged.map((b) => [`${b.symbol} ${b.date}`, b]));
    for (const r of revisions) {
      for (const f of FIELDS) {
        expect(Object.is(r.old[f], before.get(`${r.symbol} ${r.date}`)?.[f])).toBe(true);
        expect(Object.is(r.new?.[f], after.get(`${r.symbol} ${r.date}`)?.[f])).toBe(true);
      }
    }
  });

  it('an import of 17-digit prices published again under another snapshot revises nothing', async () => {
    const dir = tempDir('mlp-exact-');
    const draw = rng(7);
    const lines = DAYS.slice(0, 60).map((date, i) => {
      // Full-precision closes of a plausible series (within 10% of each other: uniform draws over 1000..9999 are one-bar glitches).
      const close = fullPrecision(draw, 1000, 1100);
      const volume = i === 0 ? '123456789.123' : i === 1 ? '99999999.99999999' : fullPrecision(draw, 0, 1e9).toPrecision(17);
      return `${date},${close.toPrecision(17)},${(close * 1.01).toPrecision(17)},${(close * 0.99).toPrecision(17)},${close.toPrecision(17)},${volume}`;
    });
    fs.writeFileSync(path.join(dir, 'prec.us.csv'), `Date,Open,High,Low,Close,Volume\n${lines.join('\n')}\n`);
    const first = await importBars(t.store, importRequestSchema.parse({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }));
    expect(first.status).toBe('published');
    // The same file under another reading scope is another snapshot with the same bars.
    const second = await importBars(t.store, importRequestSchema.parse({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 }, symbols: ['PREC'] }));
    expect(second.snapshotId).not.toBe(first.snapshotId);
    expect(await getSnapshot(t.store, second.snapshotId)).toMatchObject({ status: 'published', barsAdded: 0, barsRevised: 0 });
    // And the first imported again is the same snapshot: the store holds its values exactly.
    expect((await importBars(t.store, importRequestSchema.parse({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }))).snapshotId).toBe(first.snapshotId);
    const stored = await readBars(t.store);
    expect(stored.map((b) => b.volume).slice(0, 2)).toEqual([123456789.123, 99999999.99999999]);
    expect(stored.map((b) => b.close)).toEqual(lines.map((l) => Number(l.split(',')[4])));
  });
});
