/** A consumer group deleted under a running consumer: created again after the last entry processed, logged, counted and alerted. */
import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { listAlerts } from '../../lib/alerts/alert-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from '../../lib/features/feature-set';
import { countBars, upsertBars } from '../../lib/store/bars';
import { BarStreamConsumer } from '../../lib/streaming/consumer';
import { STREAM_GROUP_LOST_RULE } from '../../lib/streaming/lost-entries';
import { BarStreamProducer } from '../../lib/streaming/producer';
import { groupLag, idBefore } from '../../lib/streaming/redis-streams';
import { createSqliteTestDatabase, TEST_REDIS_URL, type TestDatabase } from '../helpers/databases';
import { LIVE_CUT, liveTestMarket } from '../helpers/live-market';

const SET = defineFeatureSet(DEFAULT_FEATURE_SET);
const CUT = LIVE_CUT;
/** Every bar, and the live ones in the order a feed sends them. */
const { all: ALL, live: LIVE } = liveTestMarket();

describe('a consumer group deleted under a running consumer', () => {
  let t: TestDatabase;
  let redis: Redis;
  let key: string;
  let logs: string[];
  let c: BarStreamConsumer;
  const drain = async (): Promise<void> => {
    while ((await c.pollOnce()) > 0);
  };
  const lostLines = () => logs.filter((l) => l.includes(`Consumer group ingest of ${key} was deleted`));
  /** Replaces the consumer with one whose first batch fails to write (left pending for a retry). */
  const failingFirstBatch = async (claiming: { claimIntervalMs: number; claimIdleMs?: number; pendingSampleMs?: number }): Promise<void> => {
    await c.close();
    let failures = 1;
    const beforeWrite = () => {
      if (failures-- > 0) throw new Error('the store is unreachable');
    };
    c = new BarStreamConsumer(
      { redis, store: t.store, cache: new MemoryCache(), featureSets: [SET], log: (line) => logs.push(line), hooks: { beforeWrite } },
      { key, group: 'ingest', consumer: 'c1', batchSize: 60, blockMs: 20, crossSectionIntervalMs: 0, outcomeIntervalMs: 0, crossSectionThread: false, ...claiming },
    );
  };

  beforeEach(async () => {
    t = await createSqliteTestDatabase();
    key = `test:group-lost:${crypto.randomBytes(4).toString('hex')}`;
    redis = new Redis(TEST_REDIS_URL);
    logs = [];
    await upsertBars(t.store, ALL.filter((b) => b.date < CUT));
    c = new BarStreamConsumer(
      { redis, store: t.store, cache: new MemoryCache(), featureSets: [SET], log: (line) => logs.push(line) },
      { key, group: 'ingest', consumer: 'c1', batchSize: 60, blockMs: 20, claimIntervalMs: 60_000, crossSectionIntervalMs: 0, outcomeIntervalMs: 0, crossSectionThread: false },
    );
  });
  afterEach(async () => {
    await c.close();
    const keys = await redis.keys(`${key}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    await t?.drop();
  });

  it('is created again after the last entry processed (nothing replayed, nothing skipped), counted, logged and alerted', async () => {
    const producer = new BarStreamProducer(redis, { key });
    const first = await producer.publish(LIVE.slice(0, 40));
    await drain();
    expect(await countBars(t.store, { from: CUT })).toBe(40);

    await redis.call('XGROUP', ['DESTROY', key, 'ingest']);
    await producer.publish(LIVE.slice(40, 100));
    // Before, every read failed with NOGROUP ("retrying in 1 s", for good) and no bar was stored.
    await drain();
    expect(await countBars(t.store, { from: CUT })).toBe(100);
    expect(c.stats).toMatchObject({ groupsRecreated: 1, entriesRead: 100, barsDuplicate: 0 });
    const line = (await c.metrics.registry.metrics()).split('\n').find((l) => l.startsWith('stream_group_recreated_total '));
    expect(line).toBe('stream_group_recreated_total 1');
    expect(lostLines()).toHaveLength(1);
    expect(lostLines()[0]).toContain(`reads go on after id ${first[first.length - 1]}`);
    const alerts = await listAlerts(t.store, { rule: STREAM_GROUP_LOST_RULE });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ severity: 'critical', subject: `stream ${key} group ingest`, status: 'open', evidence: { stream: key, group: 'ingest', consumer: 'c1', resumedAfter: first[first.length - 1], from: 'processed' } });
    expect((alerts[0].evidence as Record<string, unknown>).firstAfterGap).toBeUndefined();
    // Its read counter was set: the lag counts what is left.
    expect(await groupLag(redis, key, 'ingest')).toEqual({ exists: true, lag: 0 });
  });

  it('says when entries after that position may have been trimmed meanwhile', async () => {
    await c.start();
    const before = await new BarStreamProducer(redis, { key }).publish(LIVE.slice(0, 20));
    await drain();
    await redis.call('XGROUP', ['DESTROY', key, 'ingest']);
    const burst = await new BarStreamProducer(redis, { key, maxLen: 150 }).publish(LIVE.slice(20, 460));
    await drain();
    expect(c.stats.groupsRecreated).toBe(1);
    const firstLeft = String(((await redis.call('XRANGE', [key, '-', '+', 'COUNT', 1])) as unknown[][])[0][0]);
    expect(firstLeft).not.toBe(burst[0]);
    expect(lostLines()[0]).toContain(`after id ${before[before.length - 1]}`);
    expect(lostLines()[0]).toContain(`nothing between that position and id ${firstLeft}`);
    expect(c.stats.entriesRead).toBe(20 + 460 - 20 - burst.indexOf(firstLeft));
  });

  it('a batch of the consumer that failed (left pending, dropped with the group) is read again: the group is created again before it', async () => {
    await failingFirstBatch({ claimIntervalMs: 60_000 });
    const producer = new BarStreamProducer(redis, { key });
    const failed = await producer.publish(LIVE.slice(0, 60));
    await drain();
    await producer.publish(LIVE.slice(60, 120));
    await drain();
    expect(c.stats.batchFailures).toBe(1);
    expect(await countBars(t.store, { from: CUT })).toBe(60);
    await redis.call('XGROUP', ['DESTROY', key, 'ingest']);
    await drain();
    expect(c.stats.groupsRecreated).toBe(1);
    expect(lostLines()[0]).toContain(`after id ${idBefore(failed[0])}`);
    expect(lostLines()[0]).toContain('just before the oldest batch of this consumer that failed');
    expect(lostLines()[0]).not.toContain('trimmed');
    expect(await countBars(t.store, { from: CUT })).toBe(120);
    expect(await groupLag(redis, key, 'ingest')).toEqual({ exists: true, lag: 0 });
  });

  it('a failed batch retried since is not read again when the group is lost, though another consumer holds an entry pending', async () => {
    await failingFirstBatch({ claimIntervalMs: 10, claimIdleMs: 1000, pendingSampleMs: 100 });
    const producer = new BarStreamProducer(redis, { key });
    await producer.publish(LIVE.slice(0, 60));
    await drain();
    expect(c.stats.batchFailures).toBe(1);
    // Another consumer reads the next entry and holds it (never idle long enough to be claimed here).
    const held = await producer.publish(LIVE.slice(60, 61));
    await new Promise((resolve) => setTimeout(resolve, 1200));
    await redis.call('XREADGROUP', ['GROUP', 'ingest', 'c2', 'COUNT', '1', 'STREAMS', key, '>']);
    await drain();
    // The failed batch was claimed and stored; the group still holds c2's entry pending.
    expect(await countBars(t.store, { from: CUT })).toBe(60);
    expect(c.stats.pending).toBe(1);
    const later = await producer.publish(LIVE.slice(61, 80));
    await drain();
    await redis.call('XGROUP', ['DESTROY', key, 'ingest']);
    await drain();
    // Before, the batch that had failed was still taken as pending: the group came back before it and 60 entries were read again.
    expect(lostLines()[0]).toContain(`reads go on after id ${later[later.length - 1]}`);
    expect(c.stats.barsDuplicate).toBe(0);
    expect(held).toHaveLength(1);
  });

  it('idBefore is the id just before in stream order', () => {
    expect(idBefore('1700000000000-5')).toBe('1700000000000-4');
    expect(idBefore('1700000000000-0')).toBe('1699999999999-18446744073709551615');
    expect(idBefore('0-0')).toBe('0-0');
  });
});
