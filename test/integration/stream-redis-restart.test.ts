/**
 * The stream consumer through a restart of a Redis that keeps nothing on disk (private redis-server
 * this test kills and starts again, never the shared one; SQLite store): the stream, its group, the
 * bar revision counters and the online vectors are all gone. The consumer creates the group again,
 * says Redis lost its data, writes every symbol's online vector again from the windows it holds (not
 * only those of symbols that get a new bar) and takes the restarted revision counters for what they
 * are (no window reloaded for its own writes): it reads every window again from the store once, since
 * what other consumers stored before the restart, unseen, can no longer be told by the counters.
 */
import { Redis } from 'ioredis';
import { listAlerts } from '../../lib/alerts/alert-store';
import { RedisCache } from '../../lib/cache/redis-cache';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from '../../lib/features/feature-set';
import { readOnlineFeatures } from '../../lib/features/online-features';
import { countBars, upsertBars } from '../../lib/store/bars';
import { BarRevisions } from '../../lib/streaming/bar-revisions';
import { BarWindows } from '../../lib/streaming/bar-windows';
import { BarStreamConsumer } from '../../lib/streaming/consumer';
import { encodeLiveBar, liveBarSchema } from '../../lib/streaming/live-bar';
import { STREAM_GROUP_LOST_RULE } from '../../lib/streaming/lost-entries';
import { BarStreamProducer } from '../../lib/streaming/producer';
import { createSqliteTestDatabase, type TestDatabase } from '../helpers/databases';
import { startRedis, stateDir, type Service } from '../helpers/hosts';
import { freePort } from '../helpers/worker-process';
import { eventually } from '../helpers/eventually';
import { LIVE_CUT, liveTestMarket } from '../helpers/live-market';

const SET = defineFeatureSet(DEFAULT_FEATURE_SET);
const CUT = LIVE_CUT;
/** Every bar, and the live ones in the order a feed sends them. */
const { all: ALL, live: LIVE } = liveTestMarket();
const DAYS = [...new Set(LIVE.map((b) => b.date))];
const SYMBOLS = [...new Set(ALL.map((b) => b.symbol))].sort();


describe('the stream consumer through a Redis restart that lost every key (private redis-server, SQLite store)', () => {
  const key = 'test:redis-restart:bars';
  let port: number;
  let dir: string;
  let server: Service;
  let t: TestDatabase;
  let redis: Redis;
  let cache: RedisCache;
  let c: BarStreamConsumer;
  let logs: string[];

  const drain = async (): Promise<void> => {
    while ((await c.pollOnce()) > 0);
    await c.flush();
  };
  const vectors = async (): Promise<Record<string, string | undefined>> => {
    const out: Record<string, string | undefined> = {};
    for (const s of SYMBOLS) out[s] = (await readOnlineFeatures(cache, SET.version, s, '2099-01-01'))?.asOf;
    return out;
  };
  /** Kills redis-server and starts an empty one on the same port; returns once both clients are connected again. */
  const restartRedis = async (): Promise<void> => {
    const exited = new Promise((r) => server.process.once('exit', r));
    server.process.kill('SIGKILL');
    await exited;
    server = await startRedis('127.0.0.1', port, dir);
    await eventually('the clients to reconnect', async () => (cache.available && (await redis.ping()) === 'PONG' ? true : undefined));
  };

  beforeEach(async () => {
    port = await freePort();
    dir = stateDir('mlp-redis-restart-');
    server = await startRedis('127.0.0.1', port, dir);
    const url = `redis://127.0.0.1:${port}/0`;
    t = await createSqliteTestDatabase();
    redis = new Redis(url, { maxRetriesPerRequest: 3 });
    redis.on('error', () => undefined);
    cache = new RedisCache(url, 'mlp:', { log: () => undefined });
    logs = [];
    await upsertBars(t.store, ALL.filter((b) => b.date < CUT));
    c = new BarStreamConsumer(
      { redis, store: t.store, cache, featureSets: [SET], log: (line) => logs.push(line) },
      { key, group: 'ingest', consumer: 'c1', batchSize: 60, blockMs: 20, claimIntervalMs: 60_000, crossSectionIntervalMs: 0, outcomeIntervalMs: 0, crossSectionThread: false },
    );
    // Five live days, a batch each: every symbol's vector is on the fifth.
    const producer = new BarStreamProducer(redis, { key });
    for (const day of DAYS.slice(0, 5)) {
      await producer.publish(LIVE.filter((b) => b.date === day));
      await drain();
    }
    expect(await vectors()).toEqual(Object.fromEntries(SYMBOLS.map((s) => [s, DAYS[4]])));
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await c?.close();
    await cache?.close();
    redis?.disconnect();
    await t?.drop();
    await server?.stop();
  });

  it('writes every symbol vector again, not only those of the symbols a bar comes for, and reloads no window for its own writes', async () => {
    await restartRedis();
    expect(await redis.exists(key)).toBe(0);
    // The producer writes first (the stream exists again, without the entries before the restart); the next day of half the symbols.
    const half = SYMBOLS.slice(0, 4);
    await new BarStreamProducer(redis, { key }).publish(LIVE.filter((b) => b.date === DAYS[5] && half.includes(b.symbol)));
    const reload = jest.spyOn(BarWindows.prototype, 'reload');
    await drain();

    expect(await countBars(t.store, { from: CUT })).toBe(8 * 5 + 4);
    expect(c.stats).toMatchObject({ groupsRecreated: 1, barsDuplicate: 0 });
    // Before, the other half had no online vector until their next bar (the API fell back to older offline rows or answered 404).
    expect(await vectors()).toEqual(Object.fromEntries(SYMBOLS.map((s) => [s, half.includes(s) ? DAYS[5] : DAYS[4]])));
    // The revision counters restarted at 0: before, each symbol this consumer wrote was taken for another consumer's write and its window read again.
    expect(reload.mock.calls.map(([, symbols]) => symbols).filter((symbols) => symbols.length > 0)).toEqual([]);

    const alerts = await listAlerts(t.store, { rule: STREAM_GROUP_LOST_RULE });
    expect(alerts).toHaveLength(1);
    expect(alerts[0].evidence).toMatchObject({ stream: key, from: 'processed', streamLost: 'replaced' });
    expect(alerts[0].message).toContain('Redis lost its data');
    // The entries before the producer's first one since went with the stream: not a matter of trimming.
    expect(alerts[0].evidence).toHaveProperty('firstAfterGap');
    expect(alerts[0].message).not.toContain('trimmed');
    expect(logs.some((l) => l.includes('Redis lost its data'))).toBe(true);
  });

  it('reads every window again from the store before writing the vectors again: bars another consumer stored before the restart, unseen, are not lost to stale windows', async () => {
    const c2 = new BarStreamConsumer(
      { redis, store: t.store, cache, featureSets: [SET], log: () => undefined },
      { key, group: 'ingest', consumer: 'c2', batchSize: 60, blockMs: 20, claimIntervalMs: 60_000, crossSectionIntervalMs: 0, outcomeIntervalMs: 0, crossSectionThread: false },
    );
    try {
      await c2.start();
      // The other consumer stores the next day of half the symbols; c1 does not look before Redis loses its data.
      const half = SYMBOLS.slice(0, 4);
      await new BarStreamProducer(redis, { key }).publish(LIVE.filter((b) => b.date === DAYS[5] && half.includes(b.symbol)));
      while ((await c2.pollOnce()) > 0);
      await c2.flush();
      expect(await countBars(t.store, { from: CUT })).toBe(8 * 5 + 4);
      await restartRedis();
      await drain();
      expect(c.stats.groupsRecreated).toBe(1);
      // Before, c1 wrote every vector again from the windows it held: those symbols' vectors went back to DAYS[4].
      expect(await vectors()).toEqual(Object.fromEntries(SYMBOLS.map((s) => [s, half.includes(s) ? DAYS[5] : DAYS[4]])));
      expect(logs.some((l) => l.includes('every window is read again from the store'))).toBe(true);
      // c1's windows follow the store: the next day is judged against DAYS[5], not taken for a gap.
      await new BarStreamProducer(redis, { key }).publish(LIVE.filter((b) => b.date === DAYS[6]));
      await drain();
      expect(await vectors()).toEqual(Object.fromEntries(SYMBOLS.map((s) => [s, DAYS[6]])));
    } finally {
      await c2.close();
    }
  });

  it('reads a new stream from its start: entries of a restarted Redis whose clock is behind get smaller ids, and are stored', async () => {
    await restartRedis();
    // The new Redis's clock is an hour behind the old one's: its entries' ids are below every id the consumer processed.
    const behind = Date.now() - 3_600_000;
    const next = LIVE.filter((b) => b.date === DAYS[5]);
    let i = 0;
    for (const bar of next) await redis.call('XADD', [key, `${behind}-${i++}`, ...encodeLiveBar(liveBarSchema.parse(bar))]);
    await drain();
    expect(c.stats.groupsRecreated).toBe(1);
    // Before, the group was created after the old stream's last id: these entries were never delivered, the bars lost in silence.
    expect(await countBars(t.store, { from: CUT })).toBe(8 * 6);
    expect(await vectors()).toEqual(Object.fromEntries(SYMBOLS.map((s) => [s, DAYS[5]])));
    const alerts = await listAlerts(t.store, { rule: STREAM_GROUP_LOST_RULE });
    expect(alerts).toHaveLength(1);
    expect(alerts[0].evidence).toMatchObject({ streamLost: 'replaced', resumedAfter: '0-0' });
    expect(alerts[0].message).toContain('reads go on from the start of the new stream');
  });

  it('says the stream itself was gone when nothing was appended since, and writes every vector again', async () => {
    await restartRedis();
    await drain();
    expect(c.stats.groupsRecreated).toBe(1);
    expect(await vectors()).toEqual(Object.fromEntries(SYMBOLS.map((s) => [s, DAYS[4]])));
    const alerts = await listAlerts(t.store, { rule: STREAM_GROUP_LOST_RULE });
    expect(alerts).toHaveLength(1);
    expect(alerts[0].evidence).toMatchObject({ stream: key, streamLost: 'missing' });
    expect(alerts[0].message).toContain(`The stream ${key} itself was gone`);
    expect(alerts[0].message).toContain('Redis lost its data');
  });

  it('vectors the online store refuses to take (Redis still reconnecting) are written on a later turn, not dropped', async () => {
    await restartRedis();
    const refuse = jest.spyOn(cache, 'setIfUnchanged').mockRejectedValue(new Error('Connection is closed.'));
    await expect(c.pollOnce()).rejects.toThrow('Connection is closed.');
    expect(c.stats.groupsRecreated).toBe(1);
    refuse.mockRestore();
    await drain();
    expect(await vectors()).toEqual(Object.fromEntries(SYMBOLS.map((s) => [s, DAYS[4]])));
  });

  it('bar revision counters that restarted at 0: a consumer\'s own writes are not taken for others\', the others\' since still are', async () => {
    const a = new BarRevisions(redis, 'test:redis-restart:revisions');
    const b = new BarRevisions(redis, 'test:redis-restart:revisions');
    await Promise.all([a.init(), b.init()]);
    for (let i = 0; i < 3; i++) {
      expect(await a.afterWrite(['SYN01', 'SYN02'])).toEqual([]);
      expect(await b.check()).toEqual(['SYN01', 'SYN02']);
    }
    // b does not look at a's next write before Redis loses its data: the counters cannot tell it any more.
    expect(await a.afterWrite(['SYN04'])).toEqual([]);
    await redis.flushdb();
    // Nothing written since: nothing changed, but the loss is raised for the consumer to read every window again.
    expect(await a.check()).toEqual([]);
    expect(a.lost).toBe(true);
    a.lostHandled();
    expect(a.lost).toBe(false);
    expect(await b.afterWrite(['SYN03'])).toEqual([]);
    expect(b.lost).toBe(true);
    b.lostHandled();
    // Before, SYN01 (counter 1 against the 3 known) was taken for another consumer's write.
    expect(await a.afterWrite(['SYN01'])).toEqual(['SYN03']);
    expect(await b.check()).toEqual(['SYN01']);
    expect(await b.afterWrite(['SYN01'])).toEqual([]);
    expect([a.lost, b.lost]).toEqual([false, false]);
    // A loss a consumer is told of (its stream found lost) is raised too.
    b.countersLost();
    expect(b.lost).toBe(true);
  });

  it('a group deleted by hand (Redis kept its data) is not said to be a Redis restart', async () => {
    await redis.call('XGROUP', ['DESTROY', key, 'ingest']);
    await drain();
    expect(c.stats.groupsRecreated).toBe(1);
    const alerts = await listAlerts(t.store, { rule: STREAM_GROUP_LOST_RULE });
    expect(alerts).toHaveLength(1);
    expect((alerts[0].evidence as Record<string, unknown>).streamLost).toBeUndefined();
    expect(alerts[0].message).not.toContain('Redis lost its data');
  });

  it('a group reset by hand does not hide, within its cool-down, that Redis lost its data later', async () => {
    await redis.call('XGROUP', ['DESTROY', key, 'ingest']);
    await drain();
    await restartRedis();
    await drain();
    expect(c.stats.groupsRecreated).toBe(2);
    // Before, both had subject `stream <key> group ingest`: the data loss fell in the reset's 4 h critical cool-down, untold.
    const alerts = await listAlerts(t.store, { rule: STREAM_GROUP_LOST_RULE });
    expect(alerts).toHaveLength(2);
    const lost = alerts.find((a) => (a.evidence as Record<string, unknown>).streamLost !== undefined);
    expect(lost).toMatchObject({ subject: `stream ${key} lost with group ingest`, evidence: { streamLost: 'missing' } });
    expect(alerts.find((a) => a !== lost)).toMatchObject({ subject: `stream ${key} group ingest` });
  });
});
