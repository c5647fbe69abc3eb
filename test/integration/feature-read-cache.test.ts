import crypto from 'node:crypto';
import type { Cache } from '../../lib/cache/cache';
import { RedisCache } from '../../lib/cache/redis-cache';
import { publishOnlineFeatures, readOnlineFeatures, type OnlineFeatureVector } from '../../lib/features/online-features';
import { FeatureReadCache, ONLINE_VECTOR_KEY_PREFIX } from '../../lib/serving/feature-read-cache';
import { TEST_REDIS_URL } from '../helpers/databases';

/** The in-process cache of online vectors (lib/serving/feature-read-cache.ts) over the machine's Redis. */
describe('FeatureReadCache (real Redis)', () => {
  const opened: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const c of opened.splice(0).reverse()) await c.close();
  });

  /** A Redis cache under a prefix of its own (keys and channel), a second connection as the writer, and the read cache over the first. */
  async function setUp(options: { maxAgeMs?: number; maxEntries?: number; now?: () => number; start?: boolean } = {}) {
    const prefix = `mlp-test-frc-${crypto.randomBytes(4).toString('hex')}:`;
    const redis = new RedisCache(TEST_REDIS_URL, prefix);
    const writer = new RedisCache(TEST_REDIS_URL, prefix);
    const cache = new FeatureReadCache(redis, { maxAgeMs: options.maxAgeMs ?? 60_000, maxEntries: options.maxEntries, now: options.now });
    opened.push(redis, writer, cache);
    if (options.start !== false) await cache.start();
    return { redis, writer, cache };
  }

  const version = 'fs-test';
  const vector = (symbol: string, asOf: string, values: number[]): OnlineFeatureVector => ({ version, symbol, asOf, columns: ['a', 'b'], values });
  const keyOf = (symbol: string) => `${ONLINE_VECTOR_KEY_PREFIX}${version}:${symbol}`;

  /** Writes vectors the way a hand edit would: no announcement (none in flight to empty the cache later). */
  async function seed(writer: Cache, vectors: OnlineFeatureVector[]): Promise<void> {
    for (const v of vectors) await writer.set(keyOf(v.symbol), JSON.stringify(v));
  }

  async function until(condition: () => Promise<boolean> | boolean, ms = 2000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it('serves a second read from memory, equal to what Redis holds', async () => {
    const { writer, cache } = await setUp();
    await seed(writer, [vector('AAA', '2024-01-02', [1, 2])]);
    expect(cache.stats().active).toBe(true);
    const first = await readOnlineFeatures(cache, version, 'AAA');
    expect(cache.stats()).toMatchObject({ hits: 0, misses: 1, entries: 1 });
    const second = await readOnlineFeatures(cache, version, 'AAA');
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, entries: 1 });
    expect(second).toEqual(first);
    expect(second).toEqual(await readOnlineFeatures(writer, version, 'AAA'));
    expect(second).toEqual(vector('AAA', '2024-01-02', [1, 2]));
  });

  it('serves the new vector after another process publishes one (the announcement empties it)', async () => {
    const { writer, cache } = await setUp();
    await seed(writer, [vector('AAA', '2024-01-02', [1, 2])]);
    await readOnlineFeatures(cache, version, 'AAA');
    expect(await readOnlineFeatures(cache, version, 'AAA')).toEqual(vector('AAA', '2024-01-02', [1, 2]));
    const invalidations = cache.stats().invalidations;

    await publishOnlineFeatures(writer, [vector('AAA', '2024-01-03', [3, 4])]);
    await until(() => cache.stats().invalidations > invalidations);
    expect(cache.stats().entries).toBe(0);
    expect(await readOnlineFeatures(cache, version, 'AAA')).toEqual(vector('AAA', '2024-01-03', [3, 4]));
    // and through the reader the API uses
    const reader = cache.reader({ read: (v, s) => readOnlineFeatures(cache, v, s) });
    expect(await reader.read(version, 'AAA')).toEqual(vector('AAA', '2024-01-03', [3, 4]));
    expect(await reader.read(version, 'AAA')).toEqual(vector('AAA', '2024-01-03', [3, 4]));
  });

  it('serves a key changed in Redis without an announcement stale until maxAgeMs, then the new value', async () => {
    let now = 1_000_000;
    const { writer, cache } = await setUp({ maxAgeMs: 200, now: () => now });
    await seed(writer, [vector('AAA', '2024-01-02', [1, 2])]);
    await readOnlineFeatures(cache, version, 'AAA');
    await writer.set(keyOf('AAA'), JSON.stringify(vector('AAA', '2024-01-05', [5, 6]))); // by hand: no announcement
    await new Promise((r) => setTimeout(r, 100)); // nothing to arrive, but give it the chance
    now += 199;
    expect(await readOnlineFeatures(cache, version, 'AAA')).toEqual(vector('AAA', '2024-01-02', [1, 2]));
    now += 1;
    expect(await readOnlineFeatures(cache, version, 'AAA')).toEqual(vector('AAA', '2024-01-05', [5, 6]));
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 2 });
  });

  it('reads Redis every time before start() has confirmed the subscription', async () => {
    const { writer, cache } = await setUp({ start: false });
    await seed(writer, [vector('AAA', '2024-01-02', [1, 2])]);
    expect(cache.stats().active).toBe(false);
    expect(await readOnlineFeatures(cache, version, 'AAA')).toEqual(vector('AAA', '2024-01-02', [1, 2]));
    await writer.set(keyOf('AAA'), JSON.stringify(vector('AAA', '2024-01-05', [5, 6]))); // no announcement
    expect(await readOnlineFeatures(cache, version, 'AAA')).toEqual(vector('AAA', '2024-01-05', [5, 6]));
    expect(cache.stats()).toMatchObject({ hits: 0, entries: 0, active: false });

    await cache.start();
    expect(cache.stats().active).toBe(true);
    await readOnlineFeatures(cache, version, 'AAA');
    await readOnlineFeatures(cache, version, 'AAA');
    expect(cache.stats()).toMatchObject({ hits: 1, entries: 1 });
  });

  it('never keeps a missing vector: it is looked up again and found once written', async () => {
    const { writer, cache } = await setUp();
    expect(await readOnlineFeatures(cache, version, 'NONE')).toBeUndefined();
    expect(await readOnlineFeatures(cache, version, 'NONE')).toBeUndefined();
    expect(cache.stats()).toMatchObject({ hits: 0, misses: 2, entries: 0 });
    await writer.set(keyOf('NONE'), JSON.stringify(vector('NONE', '2024-01-02', [7, 8]))); // no announcement needed
    expect(await readOnlineFeatures(cache, version, 'NONE')).toEqual(vector('NONE', '2024-01-02', [7, 8]));
  });

  it('empties itself when maxEntries would be exceeded', async () => {
    const { writer, cache } = await setUp({ maxEntries: 2 });
    await seed(writer, ['S1', 'S2', 'S3'].map((s) => vector(s, '2024-01-02', [1, 2])));
    await readOnlineFeatures(cache, version, 'S1');
    await readOnlineFeatures(cache, version, 'S2');
    expect(cache.stats().entries).toBe(2);
    const invalidations = cache.stats().invalidations;
    expect(await readOnlineFeatures(cache, version, 'S3')).toEqual(vector('S3', '2024-01-02', [1, 2]));
    expect(cache.stats()).toMatchObject({ entries: 0, invalidations: invalidations + 1 });
    await readOnlineFeatures(cache, version, 'S1');
    expect(cache.stats().entries).toBe(1);
  });

  it('is emptied and bypassed while the cache reports itself unavailable', async () => {
    const { redis, writer } = await setUp();
    await seed(writer, [vector('AAA', '2024-01-02', [1, 2])]);
    // the Redis cache, with its availability reports driven by hand (a real outage: redis-outage.test.ts)
    const listeners: Array<(available: boolean) => void> = [];
    const reporting: Cache = {
      kind: redis.kind,
      get: (k) => redis.get(k),
      set: (k, v, t) => redis.set(k, v, t),
      setIfUnchanged: (k, e, v) => redis.setIfUnchanged(k, e, v),
      delete: (k) => redis.delete(k),
      scan: (p, c, n) => redis.scan(p, c, n),
      publish: (c, m) => redis.publish(c, m),
      subscribe: (c, m) => redis.subscribe(c, m),
      onAvailability: (l) => (listeners.push(l), () => undefined),
      close: () => Promise.resolve(),
    };
    const probe = new FeatureReadCache(reporting, { maxAgeMs: 60_000 });
    opened.push(probe);
    await probe.start();
    await readOnlineFeatures(probe, version, 'AAA');
    expect(probe.stats()).toMatchObject({ entries: 1, active: true });
    listeners.forEach((l) => l(false));
    expect(probe.stats()).toMatchObject({ entries: 0, active: false });
    await writer.set(keyOf('AAA'), JSON.stringify(vector('AAA', '2024-01-05', [5, 6]))); // no announcement
    expect(await readOnlineFeatures(probe, version, 'AAA')).toEqual(vector('AAA', '2024-01-05', [5, 6]));
    expect(probe.stats().entries).toBe(0);
    listeners.forEach((l) => l(true));
    expect(probe.stats().active).toBe(true);
    await readOnlineFeatures(probe, version, 'AAA');
    expect(await readOnlineFeatures(probe, version, 'AAA')).toEqual(vector('AAA', '2024-01-05', [5, 6]));
    expect(probe.stats()).toMatchObject({ entries: 1, hits: 1 });
  });
});
