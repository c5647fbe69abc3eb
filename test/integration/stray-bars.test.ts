import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from '../../lib/features/feature-set';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import type { Bar } from '../../lib/market-data/bar';
import { readBarCsv } from '../../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../../lib/market-data/synthetic';
import { readBars, upsertBars } from '../../lib/store/bars';
import { listQuarantine } from '../../lib/store/quarantine';
import { BarStreamConsumer, streamSnapshotId } from '../../lib/streaming/consumer';
import { BarStreamProducer } from '../../lib/streaming/producer';
import { createSqliteTestDatabase, tempDir, TEST_REDIS_URL, type TestDatabase } from '../helpers/databases';

/**
 * A lone bar is judged against its symbol's stored series around its date, the same on an import
 * and on the live stream (lib/quality/stray-bars.ts). SYN01 stored 2016-01-04..2018-06-29: a bar
 * dated 2014-06-27 (382 sessions before the history) was stored from a one-row file or the stream
 * with no finding, and a bar with the newest stored bar's prices under 2017-06-28 (its year typed
 * one early) revised that stored bar, +8.8%. Both are now rejected as out_of_order_date and the
 * store keeps its bars; backfills, bars after a pause and genuine corrections still go in.
 */
const SET = defineFeatureSet(DEFAULT_FEATURE_SET);
const ALL: Bar[] = generateSyntheticMarket({ symbols: 3, from: '2016-01-04', to: '2018-06-29', seed: 7, plantErrors: false }).files.flatMap((f) =>
  readBarCsv(f.csv, { source: f.fileName }).bars.map((b) => ({ symbol: b.symbol, date: b.date, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume })),
);
const MINE = ALL.filter((b) => b.symbol === 'SYN01');
const NEWEST = MINE[MINE.length - 1];
const YEAR_OLD = MINE.find((b) => b.date === '2017-06-28') as Bar;
const HEADER = 'Date,Open,High,Low,Close,Volume\n';
const row = (b: Bar, date = b.date) => `${date},${b.open},${b.high},${b.low},${b.close},${b.volume}`;

let t: TestDatabase;
beforeEach(async () => {
  t = await createSqliteTestDatabase();
  await upsertBars(t.store, ALL);
});
afterEach(async () => t?.drop());

const revisions = () => t.store.db.selectFrom('bar_revisions').select(['symbol', 'date']).execute();
const stored = async (date: string) => (await readBars(t.store, { symbols: ['SYN01'], from: date, to: date }))[0];

describe('import: a one- or two-row file judged with the stored series', () => {
  const importRows = async (lines: readonly string[]) => {
    const dir = tempDir('mlp-stray-');
    fs.writeFileSync(path.join(dir, 'SYN01.csv'), HEADER + lines.join('\n') + '\n');
    return importBars(t.store, importRequestSchema.parse({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }));
  };

  it('rejects a lone bar years before the stored history and a year-old revision carrying the newest bar', async () => {
    const ancient = await importRows([row(NEWEST, '2014-06-27')]);
    expect(ancient.status).toBe('rejected');
    expect(ancient.byRule).toEqual({ out_of_order_date: 1 });
    expect(await stored('2014-06-27')).toBeUndefined();
    const typo = await importRows([row(NEWEST, '2017-06-28')]);
    expect(typo.status).toBe('rejected');
    expect(typo.byRule).toEqual({ out_of_order_date: 1 });
    expect(typo.unconfirmedStoredBars).toBeUndefined();
    expect(await stored('2017-06-28')).toEqual(YEAR_OLD);
    expect(await revisions()).toEqual([]);
    const messages = (await listQuarantine(t.store, {})).map((q) => `${q.rule} ${q.date}: ${q.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^out_of_order_date 2014-06-27: dated 2014-06-27, it stands alone: .* first bar of SYN01 is 2016-01-04, 382 NYSE sessions after it \(381 sessions missing between\)/),
        expect.stringMatching(/^out_of_order_date 2017-06-28: dated 2017-06-28, it would revise the stored bar of that date \(close 214\.11 -> 233\.05, \+8\.8%\), .* within 0\.0% of the stored bar of 2018-06-29/),
      ]),
    );
  });

  it('keeps a backfill reaching the stored bars, a genuine correction, and a bar after a pause', async () => {
    const backfill = nyseTradingDaysBetween('2015-10-01', '2015-12-31').map((d, i) => {
      const c = MINE[0].open * (0.97 + 0.01 * Math.sin(i / 3));
      return row({ ...MINE[0], open: c * 0.998, high: c * 1.01, low: c * 0.99, close: c, volume: 1_000_000 + 1_000 * i }, d);
    });
    const filled = await importRows(backfill);
    expect([filled.status, filled.byRule]).toEqual(['published', {}]);
    expect(await stored('2015-10-01')).toBeDefined();
    const corrected = { ...YEAR_OLD, close: YEAR_OLD.close + 0.5, high: Math.max(YEAR_OLD.high, YEAR_OLD.close + 0.5) };
    expect((await importRows([row(corrected)])).status).toBe('published');
    expect((await stored('2017-06-28'))?.close).toBe(corrected.close);
    const later = await importRows([row(NEWEST, '2018-08-15')]);
    expect(later.status).toBe('published');
    expect(later.byRule).toEqual({ calendar_gap: 1 });
    const gap = (await listQuarantine(t.store, { snapshotId: later.snapshotId })).map((q) => q.message);
    expect(gap).toEqual([expect.stringMatching(/^31 trading days missing 2018-07-02\.\.2018-08-14, between SYN01's newest stored bar \(2018-06-29\) and the file's bars, from 2018-08-15/)]);
  });
});

describe('stream: live bars judged with the stored series', () => {
  let redis: Redis;
  let key: string;
  let c: BarStreamConsumer;
  beforeEach(async () => {
    redis = new Redis(TEST_REDIS_URL);
    key = `test:stray:${crypto.randomBytes(4).toString('hex')}`;
    c = new BarStreamConsumer({ redis, store: t.store, cache: new MemoryCache(), featureSets: [SET], log: () => {} }, { key, group: 'g', consumer: 'c1', blockMs: 20, claimIntervalMs: 60_000, crossSectionIntervalMs: 0, outcomeIntervalMs: 0, crossSectionThread: false });
    await c.start();
  });
  afterEach(async () => {
    await c.close();
    const keys = await redis.keys(`${key}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });
  const send = async (bars: readonly Bar[]) => {
    await new BarStreamProducer(redis, { key }).publish(bars.map((b) => ({ ...b, source: 'test' })));
    while ((await c.pollOnce()) > 0);
    await c.flush();
  };

  it('rejects the bar years before the history and the year-old revision; a correction that fits its neighbours revises', async () => {
    await send([{ ...NEWEST, date: '2017-06-28' }, { ...NEWEST, date: '2014-06-27' }]);
    const findings = (await listQuarantine(t.store, { snapshotId: streamSnapshotId(key) })).map((q) => [q.rule, q.date]).sort();
    expect(findings).toEqual([
      ['out_of_order_date', '2014-06-27'],
      ['out_of_order_date', '2017-06-28'],
    ]);
    expect(await stored('2014-06-27')).toBeUndefined();
    expect(await stored('2017-06-28')).toEqual(YEAR_OLD);
    expect(await revisions()).toEqual([]);
    const corrected = { ...YEAR_OLD, close: YEAR_OLD.close + 0.5, high: Math.max(YEAR_OLD.high, YEAR_OLD.close + 0.5) };
    await send([corrected]);
    expect((await stored('2017-06-28'))?.close).toBe(corrected.close);
    expect(await revisions()).toEqual([{ symbol: 'SYN01', date: '2017-06-28' }]);
  });
});
