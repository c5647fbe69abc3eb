import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from '../../lib/features/feature-set';
import { readOnlineFeatures } from '../../lib/features/online-features';
import { materializeFeatures } from '../../lib/features/materialize';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import type { Bar } from '../../lib/market-data/bar';
import { readBarCsv } from '../../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../../lib/market-data/synthetic';
import { readBars, upsertBars } from '../../lib/store/bars';
import { knownStaleFrom } from '../../lib/store/features';
import { listQuarantine } from '../../lib/store/quarantine';
import { getSnapshot, recordContentClocks } from '../../lib/store/snapshots';
import { listRevisions } from '../../lib/store/staging';
import { BarStreamConsumer, streamSnapshotId } from '../../lib/streaming/consumer';
import { BarStreamProducer } from '../../lib/streaming/producer';
import { DRIVERS, tempDir, TEST_REDIS_URL, type TestDatabase } from '../helpers/databases';

/**
 * A glitch that arrives as a symbol's newest bar (a live bar, a daily file's last row) has no bar
 * after it and is stored. When the next session's bar arrives and agrees with the bar before the
 * glitch, the stored bar is the one_bar_glitch the rule describes: it is retracted in the
 * transaction that stores the new bar (deleted, logged in bar_revisions with no new values,
 * quarantined with its values), the features from its date are stale and the online vectors are
 * computed without it. A real move that persists, and a split, stay.
 */
const SET = defineFeatureSet(DEFAULT_FEATURE_SET);
const ALL: Bar[] = generateSyntheticMarket({ symbols: 4, from: '2017-01-03', to: '2018-06-29', seed: 31, plantErrors: false }).files.flatMap((f) =>
  readBarCsv(f.csv, { source: f.fileName }).bars.map((b) => ({ symbol: b.symbol, date: b.date, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume })),
);
const SYMBOLS = [...new Set(ALL.map((b) => b.symbol))].sort();
const DATES = [...new Set(ALL.map((b) => b.date))].sort();
const [D0, D1] = DATES.slice(-2);
const on = (date: string) => ALL.filter((b) => b.date === date);
const live = (bars: readonly Bar[]) => bars.map((b) => ({ ...b, source: 'feed' }));
/** Prices times k, volume as given. */
const priced = (b: Bar, k: number, volume = b.volume): Bar => ({ ...b, open: b.open * k, high: b.high * k, low: b.low * k, close: b.close * k, volume });

describe.each(DRIVERS)('stored glitches revealed by the next bar on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  describe('live', () => {
    let redis: Redis;
    let key: string;
    const consumers: BarStreamConsumer[] = [];
    const consumer = (cache: MemoryCache): BarStreamConsumer => {
      const c = new BarStreamConsumer({ redis, store: t.store, cache, featureSets: [SET], log: () => {} }, { key, group: 'g', consumer: `c${consumers.length + 1}`, blockMs: 20, claimIntervalMs: 60_000, crossSectionIntervalMs: 0, outcomeIntervalMs: 0, crossSectionThread: false });
      consumers.push(c);
      return c;
    };
    const drain = async (c: BarStreamConsumer): Promise<void> => {
      while ((await c.pollOnce()) > 0);
      await c.flush();
    };
    beforeEach(() => {
      key = `test:retract:${crypto.randomBytes(4).toString('hex')}`;
      redis = new Redis(TEST_REDIS_URL);
    });
    afterEach(async () => {
      for (const c of consumers.splice(0)) await c.close();
      const keys = await redis.keys(`${key}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    });

    it('a glitch streamed as the newest bar is retracted when the next bar undoes it: removed, logged, quarantined, features stale, vectors without it; a persisting move and a split stay', async () => {
      await upsertBars(t.store, ALL.filter((b) => b.date < D0));
      await materializeFeatures(t.store, SET);
      const cache = new MemoryCache();
      const c = consumer(cache);
      await c.start();
      const producer = new BarStreamProducer(redis, { key });
      const [glitchy, mover, splitter] = SYMBOLS;
      const original = (s: string, d: string) => ALL.find((b) => b.symbol === s && b.date === d) as Bar;
      // D0: a price typed wrong by a factor no power of ten (×0.3: a power of ten, a misplaced decimal
      // point, is refused at once as price_unit_change), a real -40% move, a 2:1 split (price ÷2, volume ×2).
      const glitch = priced(original(glitchy, D0), 0.3);
      const day0 = on(D0).map((b) => (b.symbol === glitchy ? glitch : b.symbol === mover ? priced(b, 0.6) : b.symbol === splitter ? priced(b, 0.5, b.volume * 2) : b));
      await producer.publish(live(day0));
      await drain(c);
      expect(await readBars(t.store, { symbols: [glitchy], from: D0, to: D0 })).toEqual([glitch]);
      // D1: the glitched symbol back at its level; the mover stays at its new level; the split's symbol back
      // at the old level too (its D0 bar is a split by price and volume as of its day: not retracted).
      const day1 = on(D1).map((b) => (b.symbol === mover ? priced(b, 0.6) : b));
      await producer.publish(live(day1));
      await drain(c);

      expect(await readBars(t.store, { symbols: [glitchy], from: D0 })).toEqual([original(glitchy, D1)]);
      for (const s of [mover, splitter]) expect((await readBars(t.store, { symbols: [s], from: D0, to: D0 })).length).toBe(1);
      const logged = await t.store.db.selectFrom('bar_revisions').selectAll().execute();
      expect(logged.map((r) => [r.symbol, r.date, Number(r.old_close), r.new_close])).toEqual([[glitchy, D0, glitch.close, null]]);
      const retracted = await listQuarantine(t.store, { snapshotId: streamSnapshotId(key), rule: 'one_bar_glitch' });
      expect(retracted).toHaveLength(1);
      expect(retracted[0]).toMatchObject({ severity: 'reject', symbol: glitchy, date: D0, source: expect.stringContaining('(feed)'), raw: `${D0},${glitch.open},${glitch.high},${glitch.low},${glitch.close},${glitch.volume}` });
      expect(retracted[0].message).toContain(`the session of ${D1} reveals it`);
      expect(retracted[0].message).toMatch(/stored from the live stream|stored from a live bar|stored without a recorded time/);
      // No extreme_move of the new bar against the retracted one.
      const flags = await listQuarantine(t.store, { snapshotId: streamSnapshotId(key), rule: 'extreme_move' });
      expect(flags.filter((f) => f.symbol === glitchy && f.date === D1)).toEqual([]);
      // The stored features from D0 on are stale.
      expect((await knownStaleFrom(t.store, SET.version)).get(glitchy)).toBe(D0);
      // Every vector is what a consumer started over the store now computes.
      const fresh = new MemoryCache();
      await consumer(fresh).start();
      for (const s of SYMBOLS) expect(await readOnlineFeatures(cache, SET.version, s)).toEqual(await readOnlineFeatures(fresh, SET.version, s));
    });
  });

  describe('import', () => {
    const DAYS = nyseTradingDaysBetween('2016-01-04', '2016-12-30');
    const NOW = () => new Date('2019-01-10T22:00:00Z');
    const rows = (n: number, from = 0): string[] =>
      DAYS.slice(from, from + n).map((date, k) => {
        const c = 150 + 3 * Math.sin((from + k) / 5);
        return `${date},${(c * 0.995).toFixed(2)},${(c * 1.01).toFixed(2)},${(c * 0.985).toFixed(2)},${c.toFixed(2)},${3_000_000 + 1000 * (from + k)}`;
      });
    const noDecimals = (row: string): string => row.replace(/(\d+)\.(\d\d)(?=,)/g, '$1$2');
    const moved = (row: string, k: number): string => row.replace(/^([^,]+),([^,]+),([^,]+),([^,]+),([^,]+),/, (_m, d: string, o: string, h: string, l: string, c: string) => `${d},${[o, h, l, c].map((x) => (Number(x) * k).toFixed(2)).join(',')},`);
    // A newest row off by a factor no power of ten (a digit typed wrong): stored, as nothing after it undoes it yet.
    // A decimal point dropped (×100) or moved (×10) is refused at import instead (price_unit_change).
    const mistyped = (row: string): string => moved(row, 3.4);
    const csv = (lines: string[]) => {
      const dir = tempDir('mlp-retract-');
      fs.writeFileSync(path.join(dir, 'ibm.us.csv'), `Date,Open,High,Low,Close,Volume\n${lines.join('\n')}\n`);
      return importRequestSchema.parse({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } });
    };

    it('a glitch imported as the last row of a daily file is retracted by the next daily file; the original file imported again does not put it back', async () => {
      expect((await importBars(t.store, csv(rows(60)), { now: NOW })).status).toBe('published');
      await materializeFeatures(t.store, SET);
      const refused = await importBars(t.store, csv([noDecimals(rows(1, 60)[0])]), { now: NOW });
      expect([refused.status, refused.byRule.price_unit_change]).toEqual(['rejected', 1]);
      const glitchRow = mistyped(rows(1, 60)[0]);
      const day = csv([glitchRow]);
      expect((await importBars(t.store, day, { now: NOW })).status).toBe('published');
      expect((await readBars(t.store, { symbols: ['IBM'], from: DAYS[60] })).map((b) => b.close)).toEqual([Number(glitchRow.split(',')[4])]);
      const next = await importBars(t.store, csv(rows(1, 61)), { now: NOW });
      expect(next.status).toBe('published');

      const stored = await readBars(t.store, { symbols: ['IBM'], from: DAYS[59] });
      expect(stored.map((b) => b.date)).toEqual([DAYS[59], DAYS[61]]);
      expect(await getSnapshot(t.store, next.snapshotId)).toMatchObject({ barsAdded: 1, barsRevised: 1 });
      expect((await listRevisions(t.store, next.snapshotId)).map((r) => [r.date, r.old.close, r.new])).toEqual([[DAYS[60], Number(glitchRow.split(',')[4]), null]]);
      const [q] = await listQuarantine(t.store, { snapshotId: next.snapshotId, rule: 'one_bar_glitch' });
      expect(q).toMatchObject({ severity: 'reject', symbol: 'IBM', date: DAYS[60], raw: `${DAYS[60]},${glitchRow.split(',').slice(1).map(Number).join(',')}` });
      expect(q.message).toMatch(/stored by the import of snapshot /);
      expect(q.message).toContain(`the session of ${DAYS[61]} reveals it`);
      expect((await knownStaleFrom(t.store, SET.version)).get('IBM')).toBe(DAYS[60]);

      // The same bytes again, and the three days in one file: the glitch row has bars on both sides and is rejected.
      const before = await readBars(t.store);
      await importBars(t.store, day, { now: NOW });
      expect(await readBars(t.store)).toEqual(before);
      const whole = await importBars(t.store, csv([...rows(60), glitchRow, ...rows(1, 61)]), { now: NOW });
      expect(whole.byRule.one_bar_glitch).toBe(1);
      expect(await readBars(t.store)).toEqual(before);
    });

    it('the retraction names the import that stored the glitch, by its content clock, never a live bar', async () => {
      // Imported bars carry their content's clock (when the bytes were first seen), not the
      // publication time: matched on publication, every imported glitch read "stored from a live bar".
      await importBars(t.store, csv(rows(60)), { now: NOW });
      const glitchRow = mistyped(rows(1, 60)[0]);
      const dir = tempDir('mlp-retract-');
      const file = path.join(dir, 'ibm.us.csv');
      const text = `Date,Open,High,Low,Close,Volume\n${glitchRow}\n`;
      fs.writeFileSync(file, text);
      // The same bytes were downloaded a day before the import (another import saw them then).
      const seen = new Date('2019-01-09T21:30:00Z');
      await recordContentClocks(t.store, [{ sha256: crypto.createHash('sha256').update(text).digest('hex'), source: file }], seen);
      const day = await importBars(t.store, importRequestSchema.parse({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }), { now: NOW });
      expect(day.status).toBe('published');
      const next = await importBars(t.store, csv(rows(1, 61)), { now: NOW });
      const [q] = await listQuarantine(t.store, { snapshotId: next.snapshotId, rule: 'one_bar_glitch' });
      expect(q.message).toContain(`stored by the import of snapshot ${day.snapshotId} (${file}), its content of ${seen.toISOString()}, published at ${(await getSnapshot(t.store, day.snapshotId))?.publishedAt}`);
      expect(q.message).not.toMatch(/live/);
    });

    it.each([21, 60])('an update of %i rows continuing the bars before a stored glitch retracts it and is published; a real splice at that seam is still refused', async (n) => {
      // Measured before: up to 20 rows (the splice rule needs 20 bars after a move) the glitch was
      // retracted; from 21 rows on the seam was measured from the stored glitch (×3.4, then ÷3.4 into
      // the update) and the whole update rejected as series_splice, the glitch left stored.
      await importBars(t.store, csv(rows(60)), { now: NOW });
      const glitch = mistyped(rows(1, 60)[0]);
      expect((await importBars(t.store, csv([glitch]), { now: NOW })).status).toBe('published');
      const kept = await readBars(t.store, { symbols: ['IBM'], to: DAYS[59] });

      // Another security's bars (×0.4, no volume spike) continuing the glitch: still refused whole, glitch kept.
      const other = await importBars(t.store, csv(rows(n, 61).map((r) => moved(r, 0.4))), { now: NOW });
      expect([other.status, other.byRule.series_splice]).toEqual(['rejected', 1]);
      expect((await readBars(t.store, { symbols: ['IBM'], from: DAYS[60] })).map((b) => b.close)).toEqual([Number(glitch.split(',')[4])]);

      const next = await importBars(t.store, csv(rows(n, 61)), { now: NOW });
      expect([next.status, next.byRule]).toEqual(['published', {}]);
      expect(next.rowsAccepted).toBe(n);
      const stored = await readBars(t.store, { symbols: ['IBM'] });
      expect(stored.map((b) => b.date)).toEqual([...DAYS.slice(0, 60), ...DAYS.slice(61, 61 + n)]);
      // Nothing else stored changes: the bars before it are as they were, the retraction the one revision.
      expect(stored.slice(0, 60)).toEqual(kept);
      expect((await listRevisions(t.store, next.snapshotId)).map((r) => [r.date, r.old.close, r.new])).toEqual([[DAYS[60], Number(glitch.split(',')[4]), null]]);
      expect((await listQuarantine(t.store, { snapshotId: next.snapshotId })).map((q) => [q.rule, q.date])).toEqual([['one_bar_glitch', DAYS[60]]]);
    });

    it('a real move in the last row that the next file continues stays', async () => {
      await importBars(t.store, csv(rows(60)), { now: NOW });
      await importBars(t.store, csv([moved(rows(1, 60)[0], 0.6)]), { now: NOW });
      const next = await importBars(t.store, csv([moved(rows(1, 61)[0], 0.6)]), { now: NOW });
      expect([next.status, next.byRule]).toEqual(['published', {}]);
      expect((await readBars(t.store, { symbols: ['IBM'], from: DAYS[60] })).map((b) => b.date)).toEqual([DAYS[60], DAYS[61]]);
      expect(await t.store.db.selectFrom('bar_revisions').selectAll().execute()).toEqual([]);
    });
  });
});
