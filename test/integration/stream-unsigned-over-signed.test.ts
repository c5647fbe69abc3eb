/**
 * A consumer without MODEL_SIGNING_KEY meeting vectors a keyed consumer signed (the start-up rule
 * reads the database, not Redis): it stores the bars and acknowledges the batch, counting and
 * logging the vectors it may not replace. Before, every such batch threw at publish after its bars
 * were stored, was redelivered and then dead-lettered, skipping its outcomes and other feature sets.
 */
import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisCache } from '../../lib/cache/redis-cache';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from '../../lib/features/feature-set';
import type { Bar } from '../../lib/market-data/bar';
import { readBarCsv } from '../../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../../lib/market-data/synthetic';
import { signStoredBars } from '../../lib/store/bar-signature';
import { readBars, upsertBars } from '../../lib/store/bars';
import { BarStreamConsumer } from '../../lib/streaming/consumer';
import { BarStreamProducer } from '../../lib/streaming/producer';
import { createSqliteTestDatabase, TEST_REDIS_URL } from '../helpers/databases';

const SET = defineFeatureSet(DEFAULT_FEATURE_SET);
const ALL: Bar[] = generateSyntheticMarket({ symbols: 3, from: '2016-01-04', to: '2018-12-31', seed: 42, plantErrors: false }).files.flatMap((f) =>
  readBarCsv(f.csv, { source: f.fileName }).bars.map((b) => ({ symbol: b.symbol, date: b.date, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume })),
);
const DATES = [...new Set(ALL.map((b) => b.date))].sort();

it('stores and acknowledges a batch whose vectors it may not replace, and says why', async () => {
  const t = await createSqliteTestDatabase();
  const redis = new Redis(TEST_REDIS_URL);
  const key = `test:bars:${crypto.randomBytes(4).toString('hex')}`;
  // Its own prefix: signed vectors left under the shared one would stop every later keyless process of this Jest worker.
  const cache = new RedisCache(TEST_REDIS_URL, `${key}:cache:`);
  try {
    await upsertBars(t.store, ALL.filter((b) => b.date < DATES[DATES.length - 5]));
    // The keyed consumer checks the bars of its windows with its key (lib/store/bar-signature.ts).
    await signStoredBars(t.store, { signingKey: 'k'.repeat(40) }, { acceptUnsigned: true });
    const producer = new BarStreamProducer(redis, { key });
    const log: string[] = [];
    const consumer = (name: string, signing?: { signingKey: string | undefined }) =>
      new BarStreamConsumer(
        { redis, store: t.store, cache, featureSets: [SET], log: (l) => log.push(`[${name}] ${l}`), ...(signing ? { signing } : {}) },
        { key, group: 'ingest', consumer: name, blockMs: 20, claimIdleMs: 0, claimIntervalMs: 10, crossSectionIntervalMs: 0, outcomeIntervalMs: 0, maxDeliveries: 3 },
      );
    await producer.publish(ALL.filter((b) => b.date === DATES[DATES.length - 5]).map((b) => ({ ...b, source: 'test' })));
    const keyed = consumer('keyed', { signingKey: 'k'.repeat(40) });
    while ((await keyed.pollOnce()) > 0);
    await keyed.flush();
    await producer.publish(ALL.filter((b) => b.date === DATES[DATES.length - 4]).map((b) => ({ ...b, source: 'test' })));
    const unkeyed = consumer('unkeyed');
    for (let i = 0; i < 8; i++) {
      await unkeyed.pollOnce();
      await unkeyed.claimIdle();
    }
    const stored = await readBars(t.store, { symbols: [...new Set(ALL.map((b) => b.symbol))], from: DATES[DATES.length - 4], to: DATES[DATES.length - 4] });
    expect(stored).toHaveLength(3);
    expect(unkeyed.stats.batchFailures).toBe(0);
    expect(unkeyed.stats.deadLettered).toBe(0);
    expect(unkeyed.stats.barsStored).toBe(3);
    expect(unkeyed.stats.vectorsRefusedSigned).toBeGreaterThanOrEqual(3);
    expect(await redis.xlen(`${key}:dead`)).toBe(0);
    expect((await redis.xpending(key, 'ingest'))[0]).toBe(0);
    expect(log.filter((l) => l.startsWith('[unkeyed]') && l.includes('online vectors not written') && l.includes('MODEL_SIGNING_KEY'))).toHaveLength(1);
  } finally {
    const keys = await redis.keys(`${key}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await cache.close();
    await t.drop();
  }
});
