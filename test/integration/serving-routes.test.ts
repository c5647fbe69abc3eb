import crypto from 'node:crypto';
import { RedisCache } from '../../lib/cache/redis-cache';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { registerModel } from '../../lib/registry/model-registry';
import {
  listServingRoutes,
  readServingRoutes,
  SERVING_ROUTES_CHANNEL,
  servingRouteHistory,
  ServingRoutesConflictError,
  ServingRoutesError,
  singleRoute,
  writeServingRoutes,
} from '../../lib/serving/serving-routes';
import { servedChampionDisagreements } from '../../lib/serving/served-champion';
import type { Database } from '../../lib/store/database';
import { DRIVERS, tempDir, TEST_REDIS_URL, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';

const FEATURES = returnsFeatureSet('serving-routes', 5);

/** Registers `count` small logistic-regression versions of `name` (v1, v2, …), of a stored feature set. */
async function registerVersions(store: Database, dir: string, name: string, count: number): Promise<void> {
  const { version: FS, columns } = await saveTestFeatureSet(store, FEATURES);
  for (let seed = 1; seed <= count; seed++) {
    const d = separable(200, 5, seed);
    const model = await logisticRegression.fit({ features: withColumns(d.x, columns), labels: d.y, classes: 2, seed }, {});
    const label = { kind: 'direction', horizon: 5 };
    await registerModel(store, localArtifactStore(dir), {
      name, artifact: encodeArtifact(model.state(), { featureSetVersion: FS, label }), algorithm: 'logistic_regression', params: {}, seed, featureSetVersion: FS, label,
      ...UNTRACKED_REGISTRATION, registrationKey: `${name}/${seed}`,
    });
  }
}

const canary = (weight: number) => [
  { variant: 'champion', version: 1, weight: 1 - weight },
  { variant: 'canary', version: 2, weight },
];

describe.each(DRIVERS)('serving routes on %s (real Redis)', (_driver, create) => {
  let t: TestDatabase;
  let cache: RedisCache;
  let announced: string[];
  let unsubscribe: () => Promise<void>;
  beforeAll(async () => {
    t = await create();
    const dir = tempDir('mlp-serving-routes-');
    await registerVersions(t.store, dir, 'direction-5d', 3);
    await registerVersions(t.store, dir, 'vol-20d', 1);
    await registerVersions(t.store, dir, 'reset-5d', 2);
    await registerVersions(t.store, dir, 'handover-5d', 2);
    cache = new RedisCache(TEST_REDIS_URL, `mlp-test-${crypto.randomBytes(3).toString('hex')}:`);
    announced = [];
    unsubscribe = await cache.subscribe(SERVING_ROUTES_CHANNEL, (m) => announced.push(m));
  });
  afterAll(async () => {
    await unsubscribe?.();
    await cache?.close();
    await t?.drop();
  });

  const waitForAnnouncements = async (n: number) => {
    for (let i = 0; i < 200 && announced.length < n; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 50)); // and nothing more
  };

  it('writes generation 1 with a fresh salt, is a no-op for the same split, and announces only changes', async () => {
    expect(await readServingRoutes(t.store, 'direction-5d')).toBeUndefined();
    const first = await writeServingRoutes(t.store, cache, { model: 'direction-5d', mode: 'single', routes: singleRoute(1), updatedBy: 'alice', reason: 'first deployment', expectedGeneration: 0 });
    expect(first).toMatchObject({ model: 'direction-5d', generation: 1, mode: 'single', routes: [{ variant: 'champion', version: 1, weight: 1 }], updatedBy: 'alice', reason: 'first deployment' });
    expect(first.salt).toMatch(/^[0-9a-f]{16}$/);
    expect(await readServingRoutes(t.store, 'direction-5d')).toEqual(first);

    const again = await writeServingRoutes(t.store, cache, { model: 'direction-5d', mode: 'single', routes: singleRoute(1), updatedBy: 'bob', reason: 'again' });
    expect(again).toEqual(first);
    await waitForAnnouncements(1);
    expect(announced.map((m) => JSON.parse(m) as unknown)).toEqual([{ model: 'direction-5d', generation: 1 }]);
    expect(await servingRouteHistory(t.store, 'direction-5d')).toHaveLength(1);
  });

  it('moves to the next generation keeping the salt, and refuses a stale expectedGeneration', async () => {
    const before = (await readServingRoutes(t.store, 'direction-5d'))!;
    const ramp = await writeServingRoutes(t.store, cache, { model: 'direction-5d', mode: 'canary', routes: canary(0.1), reference: 'champion', updatedBy: 'workflow wf-1', reason: 'canary 10%', expectedGeneration: before.generation });
    expect(ramp).toMatchObject({ generation: before.generation + 1, salt: before.salt, reference: 'champion' });

    const stale = writeServingRoutes(t.store, cache, { model: 'direction-5d', mode: 'canary', routes: canary(0.25), reference: 'champion', updatedBy: 'workflow wf-1', reason: 'canary 25%', expectedGeneration: before.generation });
    await expect(stale).rejects.toThrow(ServingRoutesConflictError);
    await expect(stale).rejects.toThrow(/at generation 2, not the expected 1.*read them again and retry/);
    expect((await readServingRoutes(t.store, 'direction-5d'))!.generation).toBe(2);
  });

  it('refuses versions the registry does not have, and invalid splits, without writing anything', async () => {
    const generation = (await readServingRoutes(t.store, 'direction-5d'))!.generation;
    await expect(writeServingRoutes(t.store, cache, { model: 'direction-5d', mode: 'single', routes: singleRoute(9), updatedBy: 'x', reason: 'y' })).rejects.toThrow(/cannot route traffic to direction-5d v9: model direction-5d has no version 9/);
    await expect(writeServingRoutes(t.store, cache, { model: 'direction-5d', mode: 'canary', routes: canary(0.1), shadow: { version: 7 }, updatedBy: 'x', reason: 'y' })).rejects.toThrow(/no version 7/);
    await expect(writeServingRoutes(t.store, cache, { model: 'direction-5d', mode: 'canary', routes: [{ variant: 'champion', version: 1, weight: 0.5 }], updatedBy: 'x', reason: 'y' })).rejects.toThrow(ServingRoutesError);
    await expect(writeServingRoutes(t.store, cache, { model: 'direction-5d', mode: 'single', routes: singleRoute(1), updatedBy: '', reason: 'y' })).rejects.toThrow(/updatedBy and reason/);
    expect((await readServingRoutes(t.store, 'direction-5d'))!.generation).toBe(generation);
  });

  it('gives every concurrent write its own generation and history row', async () => {
    const start = (await readServingRoutes(t.store, 'direction-5d'))!.generation;
    const weights = [0.2, 0.3, 0.4, 0.6];
    const written = await Promise.all(weights.map((w) => writeServingRoutes(t.store, cache, { model: 'direction-5d', mode: 'canary', routes: canary(w), updatedBy: 'race', reason: `canary ${w}` })));
    expect(written.map((r) => r.generation).sort((a, b) => a - b)).toEqual([start + 1, start + 2, start + 3, start + 4]);
    const history = await servingRouteHistory(t.store, 'direction-5d');
    expect(history.map((h) => h.generation)).toEqual(Array.from({ length: start + 4 }, (_, i) => i + 1));
    const current = (await readServingRoutes(t.store, 'direction-5d'))!;
    expect(current).toEqual(history[history.length - 1]);
    expect(new Set(history.map((h) => h.salt)).size).toBe(1);
  });

  it('lists every model and keeps an ordered history with who and why', async () => {
    await writeServingRoutes(t.store, cache, { model: 'vol-20d', mode: 'single', routes: singleRoute(1), shadow: { version: 1 }, salt: 'fixed-salt', updatedBy: 'carol', reason: 'vol model' });
    const all = await listServingRoutes(t.store);
    expect(all.map((r) => r.model)).toEqual(['direction-5d', 'vol-20d']);
    expect(all[1]).toMatchObject({ salt: 'fixed-salt', shadow: { version: 1 } });
    const history = await servingRouteHistory(t.store, 'direction-5d');
    expect(history.slice(0, 2).map((h) => [h.generation, h.mode, h.updatedBy, h.reason])).toEqual([
      [1, 'single', 'alice', 'first deployment'],
      [2, 'canary', 'workflow wf-1', 'canary 10%'],
    ]);
  });

  it('numbers on from the history after the routes row was deleted or restored to an older generation; a concurrent write still conflicts', async () => {
    const model = 'reset-5d';
    const write = (version: number, extra: { expectedGeneration?: number } = {}) => writeServingRoutes(t.store, cache, { model, mode: 'single', routes: singleRoute(version), updatedBy: 'ops', reason: `v${version}`, ...extra });
    await write(1);
    await write(2);
    // Deleted (to stop serving it): the history still holds generations 1 and 2.
    await t.store.db.deleteFrom('serving_routes').where('model', '=', model).execute();
    // Two writers each expecting no routes: one takes generation 3, the other conflicts.
    const race = await Promise.allSettled([write(1, { expectedGeneration: 0 }), write(2, { expectedGeneration: 0 })]);
    expect(race.filter((r) => r.status === 'fulfilled').map((r) => r.value.generation)).toEqual([3]);
    expect(race.filter((r) => r.status === 'rejected').map((r) => r.reason as unknown)).toEqual([expect.any(ServingRoutesConflictError)]);
    // Restored from a backup at generation 1 while the history holds 1 to 3: the next write is 4.
    await t.store.db.updateTable('serving_routes').set({ generation: 1 }).where('model', '=', model).execute();
    const next = await write(race[0].status === 'fulfilled' && race[0].value.routes[0].version === 1 ? 2 : 1);
    expect(next.generation).toBe(4);
    expect((await servingRouteHistory(t.store, model)).map((h) => h.generation)).toEqual([1, 2, 3, 4]);
    expect(await readServingRoutes(t.store, model)).toEqual(next);
  });

  it("a deployment writing the split a closed deployment left takes it over as a new generation, salt kept; its own split again is a no-op", async () => {
    const model = 'handover-5d';
    const deployment = (id: string, status: string, generation: number) => t.store.db.insertInto('deployments').values({ id, model, mode: 'canary', champion_version: 1, challenger_version: 2, status, plan: '{}', outcome: null, started_by: 'test', started_at: new Date().toISOString(), ended_at: null, running_model: status === 'running' ? model : null, routes_generation: generation, challenger_sha256: null, champion_sha256: null }).execute();
    const recorded = async (id: string) => Number((await t.store.db.selectFrom('deployments').select('routes_generation').where('id', '=', id).executeTakeFirstOrThrow()).routes_generation);
    await writeServingRoutes(t.store, cache, { model, mode: 'single', routes: singleRoute(1), updatedBy: 'ops', reason: 'v1', alias: { alias: 'champion', version: 1, movedBy: 'ops', reason: 'v1' } });
    // dep-a's first step (5%), then dep-a ended without rolling back (cancelled, failed).
    await deployment('dep-a', 'running', 1);
    const step = { model, mode: 'canary' as const, routes: canary(0.05), reference: 'champion' };
    const left = await writeServingRoutes(t.store, cache, { ...step, updatedBy: 'deployment dep-a', reason: 'canary step 1/4: 5%', deploymentId: 'dep-a' });
    await t.store.db.updateTable('deployments').set({ status: 'failed', running_model: null }).where('id', '=', 'dep-a').execute();
    // dep-c, started over that split as the report recommends, writes the same step.
    await deployment('dep-c', 'running', left.generation);
    const taken = await writeServingRoutes(t.store, cache, { ...step, updatedBy: 'deployment dep-c', reason: 'canary step 1/4: 5%', deploymentId: 'dep-c' });
    // Before, the write was a no-op: the routes kept naming dep-a at generation 2, dep-c's row recorded 2,
    // and the running dep-c's split was reported as the one dep-a left.
    expect(taken).toMatchObject({ generation: left.generation + 1, updatedBy: 'deployment dep-c', salt: left.salt, routes: left.routes });
    expect(await recorded('dep-c')).toBe(taken.generation);
    expect(await readServingRoutes(t.store, model)).toEqual(taken);
    expect((await servingRouteHistory(t.store, model)).map((h) => [h.generation, h.updatedBy])).toEqual([
      [1, 'ops'],
      [2, 'deployment dep-a'],
      [3, 'deployment dep-c'],
    ]);
    expect((await servedChampionDisagreements(t.store, [taken])).get(model)).toBeUndefined();
    // Its own split written again (an activity retried): a no-op, the generation kept and recorded.
    expect(await writeServingRoutes(t.store, cache, { ...step, updatedBy: 'deployment dep-c', reason: 'canary step 1/4: 5% (retried)', deploymentId: 'dep-c' })).toEqual(taken);
    expect(await recorded('dep-c')).toBe(taken.generation);
    // A person writing the same split is no deployment: a no-op as before, nothing taken over.
    expect(await writeServingRoutes(t.store, cache, { ...step, updatedBy: 'ops', reason: 'same again' })).toEqual(taken);
  });
});
