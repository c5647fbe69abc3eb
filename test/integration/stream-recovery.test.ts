import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { Redis } from 'ioredis';
import { RedisCache } from '../../lib/cache/redis-cache';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from '../../lib/features/feature-set';
import { readOnlineFeatures } from '../../lib/features/online-features';
import type { Bar } from '../../lib/market-data/bar';
import { readBarCsv } from '../../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../../lib/market-data/synthetic';
import { countBars, readBars, upsertBars } from '../../lib/store/bars';
import { BarStreamConsumer } from '../../lib/streaming/consumer';
import { decodeLiveBar } from '../../lib/streaming/live-bar';
import { BarStreamProducer } from '../../lib/streaming/producer';
import { parseEntries, pendingCount, type StreamEntry } from '../../lib/streaming/redis-streams';
import { clearSharedOnlineVectors, createSqliteTestDatabase, DRIVERS, TEST_REDIS_URL, type TestDatabase } from '../helpers/databases';
import { freePort, killWorker } from '../helpers/worker-process';

const SET = defineFeatureSet(DEFAULT_FEATURE_SET);
const REPO = path.resolve(__dirname, '..', '..');

function market(symbols: number, from: string, to: string): Bar[] {
  return generateSyntheticMarket({ symbols, from, to, seed: 7, plantErrors: false }).files.flatMap((f) =>
    readBarCsv(f.csv, { source: f.fileName }).bars.map((b) => ({ symbol: b.symbol, date: b.date, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume })),
  );
}
const sorted = (bars: readonly Bar[]) => [...bars].sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
const live = (bars: readonly Bar[]) => bars.map((b) => ({ ...b, source: 'test' }));
/** The symbol a stream entry carries (null when it is not a readable bar). */
const symbolOf = (entry: StreamEntry) => {
  const decoded = decodeLiveBar(entry.fields);
  return decoded.ok ? decoded.bar.symbol : null;
};
const inStreamOrder = (bars: readonly Bar[]) => [...bars].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.symbol < b.symbol ? -1 : 1));

async function cleanup(redis: Redis, key: string): Promise<void> {
  const keys = await redis.keys(`${key}*`);
  if (keys.length > 0) await redis.del(...keys);
}

describe.each(DRIVERS)('stream consumer recovery on %s with real Redis', (_driver, create) => {
  const ALL = market(5, '2016-01-04', '2018-06-29');
  const CUT = '2018-06-01';
  let t: TestDatabase;
  let redis: Redis;
  let cache: RedisCache;
  let key: string;
  let producer: BarStreamProducer;
  const consumers: BarStreamConsumer[] = [];
  const consumer = (name: string, options: Record<string, unknown>, hooks: ConstructorParameters<typeof BarStreamConsumer>[0]['hooks'] = {}): BarStreamConsumer => {
    const c = new BarStreamConsumer({ redis, store: t.store, cache, featureSets: [SET], hooks, log: () => {} }, { key, group: 'ingest', consumer: name, blockMs: 20, crossSectionIntervalMs: 0, outcomeIntervalMs: 0, ...options });
    consumers.push(c);
    return c;
  };

  beforeEach(async () => {
    t = await create();
    key = `test:recovery:${crypto.randomBytes(4).toString('hex')}`;
    redis = new Redis(TEST_REDIS_URL);
    cache = new RedisCache(TEST_REDIS_URL, `${key}:cache:`);
    producer = new BarStreamProducer(redis, { key });
    await upsertBars(t.store, ALL.filter((b) => b.date < CUT));
  });
  afterEach(async () => {
    for (const c of consumers.splice(0)) await c.close();
    await cleanup(redis, key);
    await cache.close();
    await redis.quit();
    await t?.drop();
  });

  it.each([
    ['after storing the bars, before acknowledging them', 'beforeAck'],
    ['before storing anything', 'beforeWrite'],
  ] as const)('a consumer that dies %s leaves its batch pending; a second one takes it over and every bar is stored exactly once', async (_when, hook) => {
    const input = inStreamOrder(ALL.filter((b) => b.date >= CUT));
    await producer.publish(live(input));
    const dying = consumer('dying', { batchSize: 40, claimIntervalMs: 60_000 }, {
      [hook]: () => {
        throw new Error('simulated crash');
      },
    });
    expect(await dying.pollOnce()).toBe(40);
    expect(dying.stats.batchFailures).toBe(1);
    expect(await pendingCount(redis, key, 'ingest')).toBe(40);
    expect(await countBars(t.store, { from: CUT })).toBe(hook === 'beforeAck' ? 40 : 0);
    // "dying" is gone: it never reads again. The survivor claims what it left after claimIdleMs.

    const survivor = consumer('survivor', { batchSize: 1000, claimIdleMs: 50, claimIntervalMs: 10 });
    await new Promise((r) => setTimeout(r, 80));
    while ((await survivor.pollOnce()) > 0);
    await survivor.flush();

    expect(survivor.stats.entriesClaimed).toBe(40);
    expect(survivor.stats.entriesRead).toBe(input.length);
    expect(survivor.stats.barsDuplicate).toBe(hook === 'beforeAck' ? 40 : 0);
    expect(survivor.stats.barsStored + (hook === 'beforeAck' ? 40 : 0)).toBe(input.length);
    expect(await pendingCount(redis, key, 'ingest')).toBe(0);
    expect(await readBars(t.store)).toEqual(sorted(ALL));
    // The claimed batch's symbols got their vectors although their bars were stored already.
    for (const symbol of new Set(input.map((b) => b.symbol))) expect((await readOnlineFeatures(cache, SET.version, symbol))?.asOf).toBe(input.at(-1)?.date);
  });

  it('redoes the features of a batch whose bars were stored but whose vectors were not written, when it is claimed again', async () => {
    const day = inStreamOrder(ALL.filter((b) => b.date === CUT));
    await producer.publish(live(day));
    let failures = 0;
    const c = consumer('only', { batchSize: 100, claimIdleMs: 0, claimIntervalMs: 10 }, {
      beforePublish: () => {
        if (failures++ === 0) throw new Error('online store unreachable');
      },
    });
    await c.start();
    const symbol = day[0].symbol;
    const before = (await readOnlineFeatures(cache, SET.version, symbol))?.asOf;
    expect(before).toBe(ALL.filter((b) => b.symbol === symbol && b.date < CUT).at(-1)?.date);
    expect(await c.pollOnce()).toBe(day.length);
    expect(await countBars(t.store, { from: CUT })).toBe(day.length);
    expect((await readOnlineFeatures(cache, SET.version, symbol))?.asOf).toBe(before);
    await new Promise((r) => setTimeout(r, 15));
    await c.pollOnce(); // claims its own pending batch: every bar is a duplicate now, the vectors are still redone
    expect(c.stats).toMatchObject({ entriesClaimed: day.length, barsDuplicate: day.length });
    expect(await pendingCount(redis, key, 'ingest')).toBe(0);
    expect((await readOnlineFeatures(cache, SET.version, symbol))?.asOf).toBe(CUT);
  });

  it('moves an entry that keeps failing to the dead-letter stream after maxDeliveries, and stores the rest of its batch', async () => {
    const good = inStreamOrder(ALL.filter((b) => b.date >= CUT)).slice(0, 12);
    const poison = { ...good[0], symbol: 'POISON' };
    await producer.publish(live([...good.slice(0, 6), poison, ...good.slice(6)]));
    const c = consumer('only', { batchSize: 100, claimIdleMs: 0, claimIntervalMs: 10, maxDeliveries: 3 }, {
      beforeWrite: (entries: readonly StreamEntry[]) => {
        if (entries.some((e) => symbolOf(e) === 'POISON')) throw new Error('cannot store POISON');
      },
    });
    // Delivery 1 fails as a batch; delivery 2 (claimed) stores the others one by one; delivery 3 gives up on POISON.
    for (let i = 0; i < 6; i++) {
      await c.pollOnce();
      if ((await pendingCount(redis, key, 'ingest')) === 0) break;
      await new Promise((r) => setTimeout(r, 15));
    }
    expect(c.stats.deadLettered).toBe(1);
    expect(await pendingCount(redis, key, 'ingest')).toBe(0);
    expect(sorted(await readBars(t.store, { from: CUT }))).toEqual(sorted(good));
    const dead = parseEntries(await redis.call('XRANGE', [`${key}:dead`, '-', '+'])).entries;
    expect(dead).toHaveLength(1);
    // the entry as it was (readable again by a consumer), with why it died
    expect(symbolOf(dead[0])).toBe('POISON');
    expect(dead[0].fields).toMatchObject({ v: '2', dead_stream: key, dead_deliveries: '3', dead_reason: 'cannot store POISON', dead_consumer: 'only' });
  });
});

describe('a stream consumer process killed with SIGKILL in the middle of its work (SQLite, real Redis)', () => {
  let t: TestDatabase;
  let redis: Redis;
  let child: ChildProcess | undefined;
  const key = `test:killed:${crypto.randomBytes(4).toString('hex')}`;
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    redis = new Redis(TEST_REDIS_URL);
    await clearSharedOnlineVectors();
  });
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) await killWorker(child);
    await cleanup(redis, key);
    await clearSharedOnlineVectors();
    await redis.quit();
    await t?.drop();
  });

  it('loses nothing and stores nothing twice: another consumer recovers its pending entries', async () => {
    const ALL = market(30, '2016-01-04', '2018-12-31');
    const CUT = '2018-01-02';
    await upsertBars(t.store, ALL.filter((b) => b.date < CUT));
    const input = inStreamOrder(ALL.filter((b) => b.date >= CUT));
    await new BarStreamProducer(redis, { key }).publish(live(input));

    const port = await freePort();
    child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'workers', 'stream-consumer.ts'), '--consumer', 'victim', '--batch-size', '300', '--claim-idle-ms', '600000'], {
      env: { ...process.env, DATABASE_URL: t.url, REDIS_URL: TEST_REDIS_URL, STREAM_KEY: key, STREAM_GROUP: 'ingest', STREAM_METRICS_ADDRESS: `127.0.0.1:${port}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    // Kill it once it has stored some batches and holds one it has read but not acknowledged.
    const before = await countBars(t.store);
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error(`the consumer process made no progress:\n${output}`);
      if (child.exitCode !== null) throw new Error(`the consumer process exited early:\n${output}`);
      if ((await countBars(t.store)) > before + 600 && (await pendingCount(redis, key, 'ingest')) > 0) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    await killWorker(child);
    expect(output).toContain('stream consumer ready');
    const pendingAfterKill = await pendingCount(redis, key, 'ingest');
    const storedAfterKill = await countBars(t.store);
    expect(storedAfterKill).toBeLessThan(ALL.length);

    const cache = new RedisCache(TEST_REDIS_URL, `${key}:cache:`);
    const survivor = new BarStreamConsumer({ redis, store: t.store, cache, featureSets: [SET], log: () => {} }, { key, group: 'ingest', consumer: 'survivor', blockMs: 20, claimIdleMs: 0, claimIntervalMs: 10 });
    while ((await survivor.pollOnce()) > 0);
    await survivor.flush();
    await survivor.close();
    await cache.close();

    expect(survivor.stats.entriesClaimed).toBe(pendingAfterKill);
    expect(await pendingCount(redis, key, 'ingest')).toBe(0);
    expect(await readBars(t.store)).toEqual(sorted(ALL));
  });
});
