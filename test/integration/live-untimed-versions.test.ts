import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { defineFeatureSet } from '../../lib/features/feature-set';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import type { Bar } from '../../lib/market-data/bar';
import { readBars, upsertBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { listRevisions } from '../../lib/store/staging';
import { BarStreamConsumer } from '../../lib/streaming/consumer';
import { encodeLiveBar } from '../../lib/streaming/live-bar';
import { writeLiveBars } from '../../lib/streaming/live-bar-store';
import { BarStreamProducer } from '../../lib/streaming/producer';
import { loadStoredBarsForReplay, replayToStream } from '../../lib/streaming/replay';
import { DRIVERS, TEST_REDIS_URL, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';

/**
 * Live messages without event_time (what BarStreamProducer, stream:replay and version-1 feeds send)
 * against imported content: a version such a message wrote counts as of its stream entry, so
 * content first seen before it does not revise it. Before, its version had no time and the same
 * unchanged file imported again reverted the correction (A 2018-02-07: 68.06 -> 68.40 live, back to
 * 68.06, with features recomputed from the wrong close).
 */
const DAYS = nyseTradingDaysBetween('2017-05-01', '2017-06-30');
const DAY = DAYS[20];
const POLICY = { minHistoryBars: 1 };
const ownSet = defineFeatureSet({ name: 'untimed-own-only', features: [{ kind: 'return', horizon: 1 }] });
const later = () => new Promise((resolve) => setTimeout(resolve, 20));

function stooqText(closeAt: Record<string, number> = {}): string {
  const lines = DAYS.map((date, i) => {
    const close = closeAt[date] ?? 150 + Math.sin(i / 4);
    return `${date},${(close - 0.5).toFixed(2)},${(close + 1).toFixed(2)},${(close - 1).toFixed(2)},${close.toFixed(2)},${100_000 + i}`;
  });
  return `Date,Open,High,Low,Close,Volume\n${lines.join('\n')}\n`;
}

function folderWith(text: string): string {
  const dir = tempDir('mlp-untimed-');
  fs.writeFileSync(path.join(dir, 'ibm.us.csv'), text);
  return dir;
}

const fromFolder = (dir: string) => importRequestSchema.parse({ source: { kind: 'csv', path: dir }, quality: POLICY });

async function storedBar(store: Database): Promise<Bar> {
  const [bar] = await readBars(store, { symbols: ['IBM'], from: DAY, to: DAY });
  return bar;
}

async function storedTime(store: Database): Promise<string | null> {
  return (await store.db.selectFrom('bars').select('event_time').where('symbol', '=', 'IBM').where('date', '=', DAY).executeTakeFirstOrThrow()).event_time;
}

const entryTime = (id: string) => new Date(Number(id.slice(0, id.indexOf('-')))).toISOString();

describe.each(DRIVERS)('live versions without event_time against imports on %s', (_driver, create) => {
  let t: TestDatabase;
  let redis: Redis;
  let key: string;
  let producer: BarStreamProducer;
  const consumers: BarStreamConsumer[] = [];
  const consumer = (name: string, options: { claimIdleMs?: number } = {}): BarStreamConsumer => {
    const c = new BarStreamConsumer({ redis, store: t.store, cache: new MemoryCache(), featureSets: [ownSet], log: () => {} }, { key, group: 'g', consumer: name, blockMs: 20, claimIntervalMs: 60_000, crossSectionIntervalMs: 0, outcomeIntervalMs: 0, crossSectionThread: false, ...options });
    consumers.push(c);
    return c;
  };
  const drain = async (c: BarStreamConsumer): Promise<void> => {
    while ((await c.pollOnce()) > 0);
    await c.flush();
  };
  /** A correction of DAY's close as BarStreamProducer sends it (no event_time); returns its entry id. */
  const correct = async (c: BarStreamConsumer, close: number): Promise<string> => {
    await later();
    const bar = await storedBar(t.store);
    const [id] = await producer.publish([{ ...bar, close, high: Math.max(bar.high, close), source: 'vendor-fix' }]);
    await drain(c);
    await later();
    return id;
  };

  beforeEach(async () => {
    t = await create();
    key = `test:untimed:${crypto.randomBytes(4).toString('hex')}`;
    redis = new Redis(TEST_REDIS_URL);
    producer = new BarStreamProducer(redis, { key });
  });
  afterEach(async () => {
    for (const c of consumers.splice(0)) await c.close();
    const keys = await redis.keys(`${key}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    await t?.drop();
  });

  it('the same unchanged file imported again after a correction without event_time leaves it and reports it superseded', async () => {
    const dir = folderWith(stooqText());
    const first = await importBars(t.store, fromFolder(dir));
    expect(first.status).toBe('published');
    const c = consumer('c1');
    const id = await correct(c, 151.5);
    expect(c.stats).toMatchObject({ barsRevised: 1 });
    const corrected = await storedBar(t.store);
    expect(corrected.close).toBe(151.5);
    // The version counts as of its entry (the stream's clock), as session_not_closed judges it.
    expect(await storedTime(t.store)).toBe(entryTime(id));

    const before = await dumpStore(t.store);
    const again = await importBars(t.store, fromFolder(dir));
    expect(again.snapshotId).toBe(first.snapshotId);
    expect(await storedBar(t.store)).toEqual(corrected);
    expect(await dumpStore(t.store)).toEqual(before);
    expect(again.supersededStoredBars).toMatchObject({ rule: 'superseded_stored_bar', count: 1, examples: [{ symbol: 'IBM', date: DAY, stored: { close: 151.5 }, storedAt: entryTime(id) }] });

    // Other bytes first seen before the correction lose too; bytes first seen after it revise it.
    const older = await importBars(t.store, fromFolder(folderWith(stooqText({ [DAY]: 150.9 }))), { now: () => new Date(Date.parse(entryTime(id)) - 60_000) });
    expect(older.supersededStoredBars?.count).toBe(1);
    expect(await listRevisions(t.store, older.snapshotId)).toEqual([]);
    expect((await storedBar(t.store)).close).toBe(151.5);
    const newer = await importBars(t.store, fromFolder(folderWith(stooqText({ [DAY]: 151.25 }))));
    expect(newer.status).toBe('published');
    expect((await storedBar(t.store)).close).toBe(151.25);
    expect((await listRevisions(t.store, newer.snapshotId)).map((r) => [r.date, r.old.close, r.new?.close])).toEqual([[DAY, 151.5, 151.25]]);
  });

  it('a message without event_time appended before the file was first seen, read after its publish (a backlog), is stale against it; a group reset replaying the correction changes nothing', async () => {
    const dir = folderWith(stooqText());
    const bar = (await importBars(t.store, fromFolder(folderWith(stooqText({ [DAY]: 149.5 }))))).status;
    expect(bar).toBe('published');
    // Appended a minute before the corrected file's bytes are first seen, read after they are published.
    const appended = Date.now() - 60_000;
    const old = await storedBar(t.store);
    await redis.call('XADD', [key, `${appended}-0`, ...encodeLiveBar({ ...old, close: 149.75, source: 'feed' })]);
    const fixed = await importBars(t.store, fromFolder(dir));
    expect(fixed.status).toBe('published');
    const file = await storedBar(t.store);
    const c1 = consumer('c1');
    await drain(c1);
    expect(c1.stats).toMatchObject({ barsRevised: 0, barsStale: 1 });
    expect(await storedBar(t.store)).toEqual(file);

    // A correction appended after it revises it; the group replayed from 0 (same entries, same ids) leaves it.
    const id = await correct(c1, 151.5);
    const revisions = await t.store.db.selectFrom('bar_revisions').selectAll().execute();
    await c1.close();
    await redis.call('XGROUP', ['DESTROY', key, 'g']);
    const c2 = consumer('c2');
    await drain(c2);
    // Both entries in one batch: the correction (appended later) is kept, and is what is stored.
    expect(c2.stats).toMatchObject({ barsStored: 0, barsStale: 0 });
    expect(await t.store.db.selectFrom('bar_revisions').selectAll().execute()).toEqual(revisions);
    expect((await storedBar(t.store)).close).toBe(151.5);
    expect(await storedTime(t.store)).toBe(entryTime(id));
    expect((await importBars(t.store, fromFolder(dir))).supersededStoredBars?.count).toBe(1);
    expect((await storedBar(t.store)).close).toBe(151.5);
  });

  it('a live revision stored without a time (before versions took the entry time) counts as of its entry: the older file does not revert it; a direct write (upsertBars) still has no time', async () => {
    const dir = folderWith(stooqText());
    await importBars(t.store, fromFolder(dir));
    await later();
    const bar = await storedBar(t.store);
    const entryId = `${Date.now()}-0`;
    expect(await writeLiveBars(t.store, [{ bar: { ...bar, close: 151.5 }, entryId, change: 'revised' }], { stream: 'stream:old', contiguous: true, record: false })).toEqual(['revised']);
    expect(await storedTime(t.store)).toBeNull();
    await later();
    const before = await dumpStore(t.store);
    const again = await importBars(t.store, fromFolder(dir));
    expect(await dumpStore(t.store)).toEqual(before);
    expect(again.supersededStoredBars).toMatchObject({ count: 1, examples: [{ stored: { close: 151.5 }, storedAt: entryTime(entryId) }] });

    // A bar written outside any snapshot and stream records no time: the import revises it, logged.
    await upsertBars(t.store, [{ ...bar, close: 151.75 }]);
    const third = await importBars(t.store, fromFolder(dir));
    expect((await storedBar(t.store)).close).toBe(bar.close);
    expect((await listRevisions(t.store, third.snapshotId)).map((r) => [r.old.close, r.new?.close])).toEqual([[151.75, bar.close]]);
  });

  it("an older entry claimed after a newer one was stored stays superseded when Redis's clock is ahead of the consumer's: an entry's time is the same on every delivery", async () => {
    await importBars(t.store, fromFolder(folderWith(stooqText())));
    const bar = await storedBar(t.store);
    await redis.call('XGROUP', ['CREATE', key, 'g', '0', 'MKSTREAM']);
    // Redis 3 s ahead of the consumer (within the skew allowed): A, then B half a second later.
    const appended = Date.now() + 3000;
    const a = `${appended}-0`;
    const b = `${appended + 500}-0`;
    await redis.call('XADD', [key, a, ...encodeLiveBar({ ...bar, close: 151, high: Math.max(bar.high, 151), source: 'feed' })]);
    await redis.call('XADD', [key, b, ...encodeLiveBar({ ...bar, close: 151.5, high: Math.max(bar.high, 151.5), source: 'vendor-fix' })]);
    // A consumer reads A and dies before writing it; another reads B, then claims A later.
    await redis.call('XREADGROUP', ['GROUP', 'g', 'dead', 'COUNT', '1', 'STREAMS', key, '>']);
    const c = consumer('c2', { claimIdleMs: 100 });
    await drain(c);
    expect((await storedBar(t.store)).close).toBe(151.5);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await c.claimIdle();
    await c.flush();
    expect((await storedBar(t.store)).close).toBe(151.5);
    expect(c.stats).toMatchObject({ barsRevised: 1, barsSuperseded: 1 });
    expect(await storedTime(t.store)).toBe(entryTime(b));
  });

  it('stream:replay --from-store re-sending the stored bars changes no stored time: a corrected file first seen before the replay still revises', async () => {
    await importBars(t.store, fromFolder(folderWith(stooqText())));
    const imported = await storedTime(t.store);
    expect(imported).not.toBeNull();
    // A bar stored without a time (upsertBars) is not stamped by a repeat of its values either.
    const untimed = { ...(await readBars(t.store, { symbols: ['IBM'], from: DAYS[30], to: DAYS[30] }))[0] };
    await upsertBars(t.store, [untimed]);
    await later();
    const firstSeen = new Date();
    await later();
    const c = consumer('c1');
    await c.pollOnce();
    const before = await dumpStore(t.store);
    await replayToStream(producer, await loadStoredBarsForReplay(t.store, { symbols: ['IBM'] }), { pace: { kind: 'max' } });
    await drain(c);
    expect(c.stats).toMatchObject({ barsStored: 0, barsRevised: 0 });
    expect(await dumpStore(t.store)).toEqual(before);
    expect(await storedTime(t.store)).toBe(imported);
    expect((await t.store.db.selectFrom('bars').select('event_time').where('symbol', '=', 'IBM').where('date', '=', DAYS[30]).executeTakeFirstOrThrow()).event_time).toBeNull();

    const fixed = await importBars(t.store, fromFolder(folderWith(stooqText({ [DAY]: 151.25 }))), { now: () => firstSeen });
    expect(fixed.status).toBe('published');
    expect(fixed.supersededStoredBars?.count ?? 0).toBe(0);
    expect((await storedBar(t.store)).close).toBe(151.25);
  });

  it("stream:replay --from-store sends each bar's stored time as its event_time: replayed into another store, the content counts as of its version, not of its re-sending", async () => {
    await importBars(t.store, fromFolder(folderWith(stooqText())));
    const imported = await storedTime(t.store);
    const untimed = (await readBars(t.store, { symbols: ['IBM'], from: DAYS[30], to: DAYS[30] }))[0];
    await upsertBars(t.store, [untimed]);
    await later();
    const firstSeen = new Date();
    await later();
    const bars = await loadStoredBarsForReplay(t.store, { symbols: ['IBM'] });
    expect(bars.find((b) => b.date === DAY)?.eventTime).toBe(imported);
    expect(bars.find((b) => b.date === DAYS[30])).not.toHaveProperty('eventTime');

    const other = await create();
    try {
      const c = new BarStreamConsumer({ redis, store: other.store, cache: new MemoryCache(), featureSets: [ownSet], log: () => {} }, { key, group: 'g', consumer: 'other', blockMs: 20, claimIntervalMs: 60_000, crossSectionIntervalMs: 0, outcomeIntervalMs: 0, crossSectionThread: false });
      consumers.push(c);
      await c.pollOnce();
      await replayToStream(producer, bars, { pace: { kind: 'max' } });
      await drain(c);
      expect(c.stats).toMatchObject({ barsStored: DAYS.length, quarantinedByRule: {} });
      const time = await other.store.db.selectFrom('bars').select('event_time').where('symbol', '=', 'IBM').where('date', '=', DAY).executeTakeFirstOrThrow();
      expect(time.event_time).toBe(imported);
      // A corrected file first seen after the original import, before the replay, revises the replayed bar.
      const fixed = await importBars(other.store, fromFolder(folderWith(stooqText({ [DAY]: 151.25 }))), { now: () => firstSeen });
      expect(fixed.supersededStoredBars?.count ?? 0).toBe(0);
      expect((await readBars(other.store, { symbols: ['IBM'], from: DAY, to: DAY }))[0].close).toBe(151.25);
    } finally {
      for (const c of consumers.splice(0)) await c.close();
      await other.drop();
    }
  });

  it('a timed message whose event_time runs ahead of its append (within the skew) counts as of its append: a correction without event_time appended after it revises it', async () => {
    await importBars(t.store, fromFolder(folderWith(stooqText())));
    const bar = await storedBar(t.store);
    const c = consumer('c1');
    // The producer's clock 4 minutes fast (accepted: within the 5 minutes allowed).
    const [x] = await producer.publish([{ ...bar, close: 151, high: Math.max(bar.high, 151), source: 'feed', eventTime: new Date(Date.now() + 240_000).toISOString() }]);
    await drain(c);
    expect((await storedBar(t.store)).close).toBe(151);
    expect(await storedTime(t.store)).toBe(entryTime(x));
    const y = await correct(c, 151.5);
    expect(c.stats).toMatchObject({ barsRevised: 2, barsStale: 0 });
    expect((await storedBar(t.store)).close).toBe(151.5);
    expect(await storedTime(t.store)).toBe(entryTime(y));
  });
});
