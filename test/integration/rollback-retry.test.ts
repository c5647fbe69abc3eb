/**
 * `mlp models rollback` (or the admin route) without --to-version, run again because its answer
 * was lost (a timeout, a dropped connection): the retry is the same rollback and moves nothing; it
 * must not flip the champion back to the version the first one rolled back from.
 */
import { MemoryCache } from '../../lib/cache/memory-cache';
import { aliasHistory, aliasVersion, moveAlias } from '../../lib/registry/model-registry';
import { rollbackModel } from '../../lib/serving/rollback';
import { readServingRoutes, singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket, type OracleMarket } from '../helpers/oracle-models';

jest.setTimeout(120_000);

describe('a retried rollback', () => {
  let t: TestDatabase;
  let market: OracleMarket;
  const cache = new MemoryCache();
  const artifactDir = tempDir('mlp-rollback-retry-');
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    market = await setUpOracleMarket(t.store, cache, 4);
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('answers the rollback it made and moves nothing; another reason or person rolls back again', async () => {
    const name = 'rollback-retry';
    const v1 = await registerOracleModel(t.store, artifactDir, { name, seed: 1, flip: false, featureSetVersion: market.featureSetVersion });
    const v2 = await registerOracleModel(t.store, artifactDir, { name, seed: 2, flip: false, featureSetVersion: market.featureSetVersion });
    for (const v of [v1, v2]) {
      await moveAlias(t.store, { name, alias: 'champion', version: v, movedBy: 'deployment d', reason: 'promoted' });
      await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(v), updatedBy: 'deployment d', reason: 'promoted' });
    }
    const rollback = () => rollbackModel(t.store, cache, { model: name, movedBy: 'cli (ops)', reason: 'v2 bad fills', verify: async () => undefined });
    const first = await rollback();
    expect([first.fromVersion, first.toVersion]).toEqual([v2, v1]);
    const moves = (await aliasHistory(t.store, name)).length;
    const generation = (await readServingRoutes(t.store, name))?.generation;
    // The same command again: the same answer, v1 still champion and served, nothing recorded.
    const retried = await rollback();
    expect([retried.fromVersion, retried.toVersion]).toEqual([v2, v1]);
    expect(await aliasVersion(t.store, name, 'champion')).toBe(v1);
    expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v1));
    expect((await aliasHistory(t.store, name)).length).toBe(moves);
    expect((await readServingRoutes(t.store, name))?.generation).toBe(generation);
    // A rollback for another reason is a new request: back to the version the first one left, as documented.
    const again = await rollbackModel(t.store, cache, { model: name, movedBy: 'cli (ops)', reason: 'v1 was fine after all', verify: async () => undefined });
    expect([again.fromVersion, again.toVersion]).toEqual([v1, v2]);
  });
});
