/**
 * A traffic split (`PUT /v1/admin/routes`) and a rollback (`POST /v1/admin/rollback`) sent at the
 * same moment: the split is judged against the champion alias in the transaction that writes it, so
 * a rollback that commits first (routes and alias on v3) makes the split a 409 champion_mismatch
 * and the rollback stands. Judged before, the split was written over the rollback: v1 served as
 * champion while the alias named v3.
 */
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { createConnection, type Connection } from 'mysql2/promise';
import { buildApiServer } from '../../api/server';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { loadConfig } from '../../lib/config';
import { aliasVersion } from '../../lib/registry/model-registry';
import { PredictionLogWriter } from '../../lib/serving/prediction-log';
import { ServingModels } from '../../lib/serving/serving-models';
import { readServingRoutes, singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import type { Database } from '../../lib/store/database';
import type { DatabaseSchema } from '../../lib/store/schema';
import { createMysqlTestDatabase, DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { oracleFeatureSet, registerOracleModel } from '../helpers/oracle-models';
import { saveTestFeatureSet } from '../helpers/registration';
import { until } from '../helpers/until';

jest.setTimeout(120_000);

const ADMIN_TOKEN = 'a'.repeat(20);
const TOKENS = loadConfig({ API_TOKENS: `ops:${ADMIN_TOKEN}=predict+admin` }).apiTokens;
const CANARY = (champion: number, canary: number) => ({ mode: 'canary', routes: [{ variant: 'champion', version: champion, weight: 0.9 }, { variant: 'canary', version: canary, weight: 0.1 }], reason: 'canary 10%' });

/**
 * The store as the API sees it, with a hook run (once) just before the API's next transaction
 * begins: what the hook commits lands after every read the request made before its transaction.
 */
function hookedStore(store: Database): { store: Database; beforeNextTransaction: (hook: () => Promise<void>) => void } {
  let pending: (() => Promise<void>) | undefined;
  const db = new Proxy(store.db, {
    get(target, prop) {
      if (prop === 'transaction') {
        return () => {
          const builder = target.transaction();
          const hook = pending;
          pending = undefined;
          return hook ? { execute: async <T>(work: Parameters<typeof builder.execute<T>>[0]) => (await hook(), builder.execute(work)) } : builder;
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  }) as Kysely<DatabaseSchema>;
  return { store: { ...store, db }, beforeNextTransaction: (hook) => (pending = hook) };
}

async function call(baseUrl: string, method: string, path: string, body: unknown): Promise<{ status: number; json: { error?: string; message?: string } }> {
  const res = await fetch(baseUrl + path, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as { error?: string; message?: string } };
}

/** An API process on `store` (as the handlers see it); its serving models only verify versions (never started). */
async function startApi(t: TestDatabase, store: Database, artifactDir: string): Promise<{ app: FastifyInstance; baseUrl: string; close(): Promise<void> }> {
  const cache = new MemoryCache();
  const servingModels = new ServingModels({ store: t.store, cache, artifacts: localArtifactStore(artifactDir) });
  const predictionLog = new PredictionLogWriter(t.store, { flushMs: 50 });
  const app = buildApiServer({ store, cache, servingModels, predictionLog, tokens: TOKENS });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    app,
    baseUrl: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    async close() {
      await app.close();
      await predictionLog.close();
      await servingModels.close();
    },
  };
}

/** A model with v1 champion (routes and alias) and v2, v3 registered. */
async function servedModel(t: TestDatabase, artifactDir: string): Promise<{ name: string; v: number[] }> {
  const name = `race-${crypto.randomBytes(3).toString('hex')}`;
  const featureSetVersion = (await saveTestFeatureSet(t.store, oracleFeatureSet(name))).version;
  const v: number[] = [];
  for (let seed = 1; seed <= 3; seed++) v.push(await registerOracleModel(t.store, artifactDir, { name, seed, flip: false, featureSetVersion }));
  await writeServingRoutes(t.store, new MemoryCache(), { model: name, mode: 'single', routes: singleRoute(v[0]), updatedBy: 'test', reason: 'first champion', alias: { alias: 'champion', version: v[0], movedBy: 'test', reason: 'first champion' } });
  return { name, v };
}

async function servedChampion(store: Database, name: string): Promise<{ routes: number | undefined; alias: number | undefined }> {
  return { routes: (await readServingRoutes(store, name))?.routes.find((r) => r.variant === 'champion')?.version, alias: await aliasVersion(store, name, 'champion') };
}

describe.each(DRIVERS)('a split and a rollback at the same moment on %s', (_driver, create) => {
  let t: TestDatabase;
  const artifactDir = tempDir('mlp-routes-race-');
  beforeAll(async () => {
    t = await create();
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('refuses the split when the rollback commits after the split was read but before it is written', async () => {
    const { name, v } = await servedModel(t, artifactDir);
    const hooked = hookedStore(t.store);
    const api = await startApi(t, hooked.store, artifactDir);
    try {
      let rollback: Awaited<ReturnType<typeof call>> | undefined;
      hooked.beforeNextTransaction(async () => {
        rollback = await call(api.baseUrl, 'POST', `/v1/admin/rollback/${name}`, { toVersion: v[2], reason: 'bad fills' });
      });
      const put = await call(api.baseUrl, 'PUT', `/v1/admin/routes/${name}`, CANARY(v[0], v[1]));
      expect(rollback?.status).toBe(200);
      expect([put.status, put.json.error]).toEqual([409, 'champion_mismatch']);
      expect(put.json.message).toMatch(new RegExp(`^this split would serve v${v[0]} as the champion, but the champion alias names v${v[2]}`));
      expect(await servedChampion(t.store, name)).toEqual({ routes: v[2], alias: v[2] });
      // Against the alias as it is now, the same split of the new champion is written.
      expect((await call(api.baseUrl, 'PUT', `/v1/admin/routes/${name}`, CANARY(v[2], v[1]))).status).toBe(200);
    } finally {
      await api.close();
    }
  });
});

describe('a split waiting on a rollback that holds the routes row (mysql)', () => {
  let t: TestDatabase;
  let lock: Connection;
  const artifactDir = tempDir('mlp-routes-race-');
  beforeAll(async () => {
    t = await createMysqlTestDatabase();
    lock = await createConnection(t.url);
  });
  afterAll(async () => {
    await lock?.end();
    await t?.drop();
  });

  /** Whether a statement of this test's database matching `pattern` (SQL like) is under way (waiting for a row lock, here). */
  const running = async (pattern: string) => {
    const [rows] = await lock.query('select count(*) as n from information_schema.processlist where db = ? and command = ? and id <> connection_id() and info like ?', [new URL(t.url).pathname.slice(1), 'Query', pattern]);
    return Number((rows as Array<{ n: number }>)[0].n) > 0;
  };

  it('judges the split against the alias the rollback committed, not the one before', async () => {
    const { name, v } = await servedModel(t, artifactDir);
    const api = await startApi(t, t.store, artifactDir);
    try {
      // The rollback has written its routes and waits at the champion alias, which this test holds.
      await lock.query('begin');
      await lock.query('select * from model_aliases where name = ? and alias = ? for update', [name, 'champion']);
      const rollback = call(api.baseUrl, 'POST', `/v1/admin/rollback/${name}`, { toVersion: v[2], reason: 'bad fills' });
      await until('the rollback to wait at the champion alias', () => running('select % from `model_aliases` % for update'));
      // The split arrives meanwhile and waits on the routes row the rollback holds.
      const put = call(api.baseUrl, 'PUT', `/v1/admin/routes/${name}`, CANARY(v[0], v[1]));
      await until('the split to wait on the routes row', async () => (await running('select % from `serving_routes` % for update')) || (await running('update `serving_routes`%')));
      await lock.query('rollback');
      const [r, p] = await Promise.all([rollback, put]);
      expect(r.status).toBe(200);
      expect([p.status, p.json.error]).toEqual([409, 'champion_mismatch']);
      expect(await servedChampion(t.store, name)).toEqual({ routes: v[2], alias: v[2] });
    } finally {
      await lock.query('rollback').catch(() => undefined);
      await api.close();
    }
  });
});
