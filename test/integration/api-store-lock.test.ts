/**
 * An admin write while another process holds the SQLite store's write lock: the API process waits
 * for it in timers, so every other request keeps being answered, and past its wait answers 503
 * store_busy with Retry-After, naming the store. It froze every request for SQLite's 10 s busy wait,
 * then answered an undocumented 500.
 */
import BetterSqlite3 from 'better-sqlite3';
import { API_STORE_LOCK_WAIT_MS, startApiProcess, type ApiProcess } from '../../api/main';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { loadConfig } from '../../lib/config';
import { aliasVersion, moveAlias } from '../../lib/registry/model-registry';
import { singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket } from '../helpers/oracle-models';

jest.setTimeout(120_000);

const MODEL = 'store-lock';
const ADMIN_TOKEN = 'a'.repeat(20);
const asAdmin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

describe('the API beside another process holding the SQLite write lock', () => {
  let t: TestDatabase;
  let api: ApiProcess;
  let other: BetterSqlite3.Database;
  const artifactDir = tempDir('mlp-api-store-lock-');
  const versions: number[] = [];
  let symbol: string;

  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    const cache = new MemoryCache();
    const market = await setUpOracleMarket(t.store, cache, 2);
    symbol = market.symbols[0];
    for (const seed of [1, 2]) versions.push(await registerOracleModel(t.store, artifactDir, { name: MODEL, seed, flip: false, featureSetVersion: market.featureSetVersion }));
    for (const version of versions) {
      await moveAlias(t.store, { name: MODEL, alias: 'champion', version, movedBy: 'deployment d', reason: 'promoted' });
      await writeServingRoutes(t.store, cache, { model: MODEL, mode: 'single', routes: singleRoute(version), updatedBy: 'deployment d', reason: 'promoted' });
    }
    api = await startApiProcess(loadConfig({ DATABASE_URL: t.url, ARTIFACT_DIR: artifactDir, API_ADDRESS: '127.0.0.1:0', API_TOKENS: `ops:${ADMIN_TOKEN}=predict+admin` }), () => undefined);
    await api.started;
    other = new BetterSqlite3(t.url.slice('sqlite:'.length));
  });
  afterAll(async () => {
    if (other?.inTransaction) other.exec('rollback');
    other?.close();
    await api?.stop();
    await t?.drop();
  });

  const rollback = (reason: string) => fetch(`${api.url}/v1/admin/rollback/${MODEL}`, { method: 'POST', headers: asAdmin, body: JSON.stringify({ reason }) });

  it('answers 503 store_busy with Retry-After past its wait, answering other requests meanwhile; documented', async () => {
    other.exec('begin exclusive');
    try {
      const started = Date.now();
      const pending = rollback('bad fills').then(async (res) => ({ res, body: (await res.json()) as { error: string; message: string }, ms: Date.now() - started }));
      let done = false;
      void pending.finally(() => (done = true));
      const latencies: number[] = [];
      while (!done) {
        const at = Date.now();
        for (const url of ['/healthz', '/v1/models']) expect((await fetch(`${api.url}${url}`, { headers: asAdmin })).status).toBe(200);
        // This process's cache holds no online vectors: the prediction reads the offline store (which holds none either), beside the waiting write.
        const prediction = await fetch(`${api.url}/v1/predictions/${symbol}?model=${MODEL}`, { headers: asAdmin });
        expect([prediction.status, ((await prediction.json()) as { error: string }).error]).toEqual([404, 'no_features']);
        latencies.push(Date.now() - at);
        await new Promise((r) => setTimeout(r, 20));
      }
      const { res, body, ms } = await pending;
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('2');
      expect(body.error).toBe('store_busy');
      expect(body.message).toContain(`the store ${t.url} is locked: another connection holds its write lock`);
      expect(ms).toBeGreaterThanOrEqual(API_STORE_LOCK_WAIT_MS - 10);
      expect(ms).toBeLessThan(5000);
      expect(latencies.length).toBeGreaterThan(2);
      expect(Math.max(...latencies)).toBeLessThan(API_STORE_LOCK_WAIT_MS);
    } finally {
      other.exec('rollback');
    }
    expect(await aliasVersion(t.store, MODEL, 'champion')).toBe(versions[1]); // nothing moved
    const doc = (await (await fetch(`${api.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    for (const [path, method] of [['/v1/admin/rollback/{model}', 'post'], ['/v1/admin/routes/{model}', 'put']]) expect(Object.keys(doc.paths[path][method].responses)).toContain('503');
  });

  it('rolls back once the lock is released within its wait', async () => {
    other.exec('begin exclusive');
    setTimeout(() => other.exec('rollback'), API_STORE_LOCK_WAIT_MS / 4);
    const res = await rollback('bad fills');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ fromVersion: versions[1], toVersion: versions[0] });
    expect(await aliasVersion(t.store, MODEL, 'champion')).toBe(versions[0]);
  });
});
