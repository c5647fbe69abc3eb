/**
 * Predictions through a Redis outage, with a private redis-server this test kills and restarts
 * (never the shared one): while Redis is down predictions answer at once from the offline store's
 * newest vectors, the outage is logged once (not once per reconnect attempt), and when Redis comes
 * back empty the online store is re-warmed from the offline store without a pipeline run. And
 * through a database outage (every statement of the API's store failing): predictions go on from
 * Redis and /readyz stays 200, degraded; with both down it is 503. Without Redis (REDIS_URL unset,
 * the in-process MemoryCache nobody writes vectors into) every vector is read from the database, so a
 * database outage alone is 503, not ready.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { KyselyPlugin } from 'kysely';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { RedisCache } from '../../lib/cache/redis-cache';
import type { ApiToken } from '../../lib/config';
import { publishOnlineFeatures, readOnlineFeatures } from '../../lib/features/online-features';
import { writeFeatureRows } from '../../lib/store/features';
import { singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { startApiStack, type ApiStack } from '../helpers/api-stack';
import type { Database } from '../../lib/store/database';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { ORACLE_COLUMNS, oracleFeatureSet, registerOracleModel } from '../helpers/oracle-models';
import { defineTestFeatureSet, saveTestFeatureSet } from '../helpers/registration';
import { freePort } from '../helpers/worker-process';
import { eventually } from '../helpers/eventually';

const TOKEN: ApiToken = { name: 'test', token: 'redis-outage-token-0123456789', scopes: ['predict'] };
const auth = { authorization: `Bearer ${TOKEN.token}` };
const MODEL = 'outage-model';
/** A real feature set over the oracle columns, named apart per run. */
const FEATURE_SET_DEFINITION = oracleFeatureSet(`outage-${crypto.randomBytes(4).toString('hex')}`);
const FEATURE_SET = defineTestFeatureSet(FEATURE_SET_DEFINITION).version;
const SYMBOLS = ['AAA', 'BBB', 'CCC'];
/** Offline rows end on OFFLINE_LAST; the live path had published a newer vector (LIVE) to Redis only. */
const OFFLINE_LAST = '2024-03-08';
const LIVE = '2024-03-11';


/** A throw-away redis-server: no persistence, so a restart comes back empty as in the issue. */
function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--bind', '127.0.0.1'], { stdio: 'ignore' });
  return eventually(`redis-server on ${port}`, async () => {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      return (await probe.ping()) === 'PONG' ? child : undefined;
    } finally {
      probe.disconnect();
    }
  });
}

/** The store as the API sees it, every statement failing while `down` says so (a database that cannot be reached). */
function downableStore(store: Database, down: () => boolean): Database {
  const outage: KyselyPlugin = {
    transformQuery(args) {
      if (down()) throw new Error('connect ECONNREFUSED 127.0.0.1:3306');
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  return { ...store, db: store.db.withPlugin(outage) };
}

async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

describe('predictions through a Redis outage (private redis-server, SQLite store)', () => {
  let port: number;
  let redis: ChildProcess;
  let t: TestDatabase;
  let cache: RedisCache;
  let app: FastifyInstance;
  let api: ApiStack;
  const cacheLog: string[] = [];
  let databaseDown = false;

  beforeAll(async () => {
    port = await freePort();
    redis = await startRedis(port);
    t = await createSqliteTestDatabase();
    cache = new RedisCache(`redis://127.0.0.1:${port}/0`, 'mlp:', { log: (event) => cacheLog.push(event) });
    const artifactDir = tempDir('mlp-outage-artifacts-');
    // The offline store: a feature set over the oracle columns, two dates per symbol.
    await saveTestFeatureSet(t.store, FEATURE_SET_DEFINITION);
    await writeFeatureRows(t.store, FEATURE_SET, SYMBOLS.flatMap((symbol) => [
      { symbol, date: '2024-03-07', values: Float64Array.from([-1, 0]) },
      { symbol, date: OFFLINE_LAST, values: Float64Array.from([1, 0]) },
    ]));
    await publishOnlineFeatures(cache, SYMBOLS.map((symbol) => ({ version: FEATURE_SET, symbol, asOf: LIVE, columns: ORACLE_COLUMNS, values: [1, 0] })));
    const version = await registerOracleModel(t.store, artifactDir, { name: MODEL, seed: 1, flip: false, featureSetVersion: FEATURE_SET });
    await writeServingRoutes(t.store, cache, { model: MODEL, mode: 'single', routes: singleRoute(version), updatedBy: 'test', reason: 'first' });
    api = await startApiStack({ store: downableStore(t.store, () => databaseDown), cache, artifactDir, tokens: [TOKEN] });
    ({ app } = api);
  });
  afterAll(async () => {
    await api?.close();
    await cache?.close();
    await t?.drop();
    if (redis) await stopRedis(redis);
  });

  const predict = async (symbol: string) => {
    const t0 = performance.now();
    const response = await app.inject({ method: 'GET', url: `/v1/predictions/${symbol}?model=${MODEL}`, headers: auth });
    return { status: response.statusCode, body: response.json(), ms: performance.now() - t0 };
  };

  it('serves the online vector while Redis is up', async () => {
    const up = await predict('AAA');
    expect(up.status).toBe(200);
    expect(up.body.predictions[0]).toMatchObject({ symbol: 'AAA', asOf: LIVE, featureSetVersion: FEATURE_SET });
    // A symbol neither store has, both answering: a clear 404.
    const unknown = await predict('ZZZ');
    expect([unknown.status, unknown.body.error]).toEqual([404, 'no_features']);
  });

  it('keeps serving from Redis while the database is unreachable, and /readyz says degraded (200) rather than taking the process out of rotation', async () => {
    databaseDown = true;
    try {
      const up = await predict('BBB');
      expect(up.status).toBe(200);
      expect(up.body.predictions[0]).toMatchObject({ symbol: 'BBB', asOf: LIVE });
      // Before: 503 with checks.store { ok: false }, though every prediction was answered.
      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toMatchObject({ ready: true, checks: { models: { ok: true }, cache: { ok: true } } });
      expect(ready.json().checks.store).toEqual({ ok: true, detail: expect.stringMatching(/^degraded: the database is unreachable \(connect ECONNREFUSED .*\); predictions are answered from the online store/) });
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toMatch(/^api_dependency_up\{dependency="store"\} 0$/m);
      expect(metrics).toMatch(/^api_dependency_up\{dependency="cache"\} 1$/m);
    } finally {
      databaseDown = false;
    }
    const back = await app.inject({ method: 'GET', url: '/readyz' });
    expect([back.statusCode, back.json().checks.store]).toEqual([200, { ok: true }]);
    expect((await app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/^api_dependency_up\{dependency="store"\} 1$/m);
  });

  it('falls back to the offline store at once while Redis is down, and logs the outage once', async () => {
    await stopRedis(redis);
    await eventually('the cache to notice', async () => (cache.available ? undefined : true));
    for (const symbol of SYMBOLS) {
      const down = await predict(symbol);
      expect(down.status).toBe(200);
      expect(down.body.predictions[0]).toMatchObject({ symbol, asOf: OFFLINE_LAST, featureSetVersion: FEATURE_SET });
      // Loose bound (a busy CI machine): the point is "no waiting on reconnects", which took seconds before.
      expect(down.ms).toBeLessThan(1000);
    }
    // A symbol the offline store lacks: Redis could not be asked, so not a 404 no_features (the
    // client would conclude the symbol is unknown) but a 503 naming the outage, at once.
    const unknown = await predict('ZZZ');
    expect([unknown.status, unknown.body.error]).toEqual([503, 'features_unavailable']);
    expect(unknown.body.message).toMatch(/^could not read the online features of ZZZ \(feature set .*\): the online store \(redis\) could not be read \(.*\) and the offline store holds no vector of ZZZ/);
    expect(unknown.ms).toBeLessThan(1000);

    // Several reconnect attempts fail meanwhile; the outage is one log line, not one per attempt.
    await new Promise((r) => setTimeout(r, 1500));
    expect(cacheLog.filter((e) => e === 'cache.redis_down')).toHaveLength(1);

    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks.cache).toEqual({ ok: true, detail: expect.stringMatching(/^degraded: the cache is unreachable .*offline store$/) });

    // Both stores down: no vector can be read, so the process is not ready.
    databaseDown = true;
    try {
      const neither = await app.inject({ method: 'GET', url: '/readyz' });
      expect(neither.statusCode).toBe(503);
      expect(neither.json()).toMatchObject({ ready: false, checks: { models: { ok: true }, store: { ok: false, detail: expect.stringContaining('the database is unreachable') }, cache: { ok: false, detail: expect.stringContaining('the cache is unreachable') } } });
    } finally {
      databaseDown = false;
    }
  });

  it('re-warms the online store from the offline store when Redis comes back empty', async () => {
    redis = await startRedis(port);
    await eventually('the cache to reconnect', async () => (cache.available ? true : undefined));
    const warmed = await eventually('the online vectors to be re-warmed', async () => {
      const all = await Promise.all(SYMBOLS.map((s) => readOnlineFeatures(cache, FEATURE_SET, s)));
      return all.every((v) => v !== undefined) ? all : undefined;
    });
    expect(warmed.map((v) => v?.asOf)).toEqual(SYMBOLS.map(() => OFFLINE_LAST));
    expect(warmed[0]?.columns).toEqual(ORACLE_COLUMNS);
    expect(cacheLog.filter((e) => e === 'cache.redis_up')).toHaveLength(1);
    const back = await predict('BBB');
    expect(back.status).toBe(200);
    expect(back.body.predictions[0]).toMatchObject({ symbol: 'BBB', asOf: OFFLINE_LAST });
  });
});

describe('a database outage without Redis (REDIS_URL unset: the in-process MemoryCache)', () => {
  it('answers /readyz 503, not ready: no vector is served from the memory cache', async () => {
    const t = await createSqliteTestDatabase();
    const cache = new MemoryCache();
    let databaseDown = false;
    let api: ApiStack | undefined;
    try {
      await saveTestFeatureSet(t.store, FEATURE_SET_DEFINITION);
      await writeFeatureRows(t.store, FEATURE_SET, [{ symbol: 'AAA', date: OFFLINE_LAST, values: Float64Array.from([1, 0]) }]);
      const artifactDir = tempDir('mlp-outage-memory-artifacts-');
      const version = await registerOracleModel(t.store, artifactDir, { name: MODEL, seed: 1, flip: false, featureSetVersion: FEATURE_SET });
      await writeServingRoutes(t.store, cache, { model: MODEL, mode: 'single', routes: singleRoute(version), updatedBy: 'test', reason: 'first' });
      api = await startApiStack({ store: downableStore(t.store, () => databaseDown), cache, artifactDir, tokens: [TOKEN] });
      const predict = () => api!.app.inject({ method: 'GET', url: `/v1/predictions/AAA?model=${MODEL}`, headers: auth });
      expect((await predict()).statusCode).toBe(200);
      expect((await api.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      databaseDown = true;
      // Every vector comes from the database: no prediction can be answered...
      expect((await predict()).statusCode).toBe(503);
      // ...so the process is not ready (before: 200, "degraded, answered from the online store (Redis)").
      const ready = await api.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toMatchObject({ ready: false, checks: { models: { ok: true }, cache: { ok: true }, store: { ok: false, detail: expect.stringMatching(/^the database is unreachable \(connect ECONNREFUSED .*\) and no Redis is configured/) } } });
      expect(ready.json().checks.store.detail).not.toMatch(/degraded/);
    } finally {
      databaseDown = false;
      await api?.close();
      await t.drop();
    }
  });
});
