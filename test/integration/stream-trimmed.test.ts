/** Entries trimmed by the producer's MAXLEN before the consumer group read them: counted once, logged with their ids, alerted. */
import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { listAlerts } from '../../lib/alerts/alert-store';
import { RedisCache } from '../../lib/cache/redis-cache';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from '../../lib/features/feature-set';
import { countBars, upsertBars } from '../../lib/store/bars';
import { BarStreamConsumer } from '../../lib/streaming/consumer';
import { STREAM_ENTRIES_LOST_RULE } from '../../lib/streaming/lost-entries';
import { BarStreamProducer } from '../../lib/streaming/producer';
import { groupLag } from '../../lib/streaming/redis-streams';
import { DRIVERS, TEST_REDIS_URL, type TestDatabase } from '../helpers/databases';
import { LIVE_CUT, liveTestMarket } from '../helpers/live-market';

const SET = defineFeatureSet(DEFAULT_FEATURE_SET);
const CUT = LIVE_CUT;
/** Every bar, and the live ones in the order a feed sends them. */
const { all: ALL, live: LIVE } = liveTestMarket();

describe.each(DRIVERS)('entries trimmed before the group read them, on %s with real Redis', (_driver, create) => {
  let t: TestDatabase;
  let redis: Redis;
  let cache: RedisCache;
  let key: string;
  let logs: string[];
  const consumers: BarStreamConsumer[] = [];
  const consumer = (name: string): BarStreamConsumer => {
    const c = new BarStreamConsumer(
      { redis, store: t.store, cache, featureSets: [SET], log: (line) => logs.push(line) },
      { key, group: 'ingest', consumer: name, batchSize: 60, blockMs: 20, claimIntervalMs: 60_000, crossSectionIntervalMs: 0, outcomeIntervalMs: 0 },
    );
    consumers.push(c);
    return c;
  };
  const drain = async (c: BarStreamConsumer): Promise<void> => {
    while ((await c.pollOnce()) > 0);
  };
  const metric = async (c: BarStreamConsumer, name: string): Promise<number> => {
    const line = (await c.metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${name} `));
    return Number(line?.split(' ')[1]);
  };
  const lostLines = () => logs.filter((l) => /trimmed from .* before group ingest read them/.test(l));

  beforeEach(async () => {
    t = await create();
    key = `test:trimmed:${crypto.randomBytes(4).toString('hex')}`;
    redis = new Redis(TEST_REDIS_URL);
    cache = new RedisCache(TEST_REDIS_URL, `${key}:cache:`);
    logs = [];
    await upsertBars(t.store, ALL.filter((b) => b.date < CUT));
  });
  afterEach(async () => {
    for (const c of consumers.splice(0)) await c.close();
    const keys = await redis.keys(`${key}*`);
    if (keys.length > 0) await redis.del(...keys);
    await cache.close();
    await redis.quit();
    await t?.drop();
  });

  it('counts, logs (how many, which ids) and alerts the entries a producer trimmed before the group existed to read them', async () => {
    const c = consumer('c1');
    await c.start(); // the group exists before anything is appended
    const sent = LIVE.slice(0, 440);
    const ids = await new BarStreamProducer(redis, { key, maxLen: 150 }).publish(sent);
    await drain(c);

    const read = c.stats.entriesRead;
    expect(read).toBeLessThan(sent.length);
    // Every entry appended is either read or counted as lost, once.
    expect(c.stats.trimmed).toBe(sent.length - read);
    expect(await metric(c, 'stream_entries_trimmed_total')).toBe(sent.length - read);
    expect(await countBars(t.store, { from: CUT })).toBe(read);
    const lines = lostLines();
    expect(lines).toHaveLength(1);
    // The lost ones are the oldest: the line names how many and the first entry left after them.
    expect(lines[0]).toContain(`${sent.length - read} entries were trimmed from ${key} (MAXLEN) before group ingest read them`);
    expect(lines[0]).toContain(`before id ${ids[sent.length - read]}`);
    const alerts = await listAlerts(t.store, { rule: STREAM_ENTRIES_LOST_RULE });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ severity: 'critical', subject: `stream ${key}`, status: 'open', evidence: { stream: key, group: 'ingest', count: sent.length - read, when: 'unread', before: ids[sent.length - read] } });
    // The group's lag counts what is left to read, not the lost entries (a producer waiting on it would wait for good).
    expect(await groupLag(redis, key, 'ingest')).toEqual({ exists: true, lag: 0 });
  });

  it('counts only the unread entries a trim took, once between two consumers, and nothing for trimmed entries already read', async () => {
    const producer = new BarStreamProducer(redis, { key, maxLen: 150 });
    const [a, b] = [consumer('a'), consumer('b')];
    await a.start();
    await b.start();
    // Read as they come: entries trimmed later were read before, and lose nothing.
    for (let i = 0; i < 300; i += 60) {
      await producer.publish(LIVE.slice(i, i + 60));
      await drain(i % 120 === 0 ? a : b);
    }
    expect(a.stats.trimmed + b.stats.trimmed).toBe(0);
    expect(Number(await redis.xlen(key))).toBeLessThan(300);

    // Then a burst while nobody reads: the oldest unread entries go.
    const burst = LIVE.slice(300, 800);
    const ids = await producer.publish(burst);
    // One batch by a (its read goes past the lost entries), the rest by b, then a again.
    await a.pollOnce();
    await drain(b);
    await drain(a);
    const read = a.stats.entriesRead + b.stats.entriesRead - 300;
    const lost = a.stats.trimmed + b.stats.trimmed;
    expect(lost).toBeGreaterThan(0);
    expect(lost).toBe(burst.length - read);
    expect(lostLines()).toHaveLength(1);
    expect(lostLines()[0]).toContain(`before id ${ids[lost]}`);
    expect(await listAlerts(t.store, { rule: STREAM_ENTRIES_LOST_RULE })).toHaveLength(1);
    expect(await groupLag(redis, key, 'ingest')).toEqual({ exists: true, lag: 0 });
    expect(await countBars(t.store, { from: CUT })).toBe(300 + read);
  });
});
