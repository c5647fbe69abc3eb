import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { RedisCache } from '../../lib/cache/redis-cache';
import { artifactKey } from '../../lib/registry/artifact-store';
import { registerModel, type ModelVersion } from '../../lib/registry/model-registry';
import { predictForRequest } from '../../lib/serving/predict';
import { ServingModels } from '../../lib/serving/serving-models';
import { SERVING_ROUTES_CHANNEL, singleRoute, writeServingRoutes, type WriteServingRoutesInput } from '../../lib/serving/serving-routes';
import type { Database } from '../../lib/store/database';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { DRIVERS, tempDir, TEST_REDIS_URL, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { defineTestFeatureSet, returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { until } from '../helpers/until';

/** The models' feature set (a real one; synthetic values under its column names). */
const FEATURES = returnsFeatureSet('serving');
const { version: FS, columns: COLUMNS } = defineTestFeatureSet(FEATURES);
const MODEL = 'direction-5d';
const NEVER = 3_600_000; // a poll interval no test waits for: changes must come by pub/sub

/** Registers `count` small logistic-regression versions of `name` (v1, v2, …); the seeds make distinct artifacts. */
async function registerVersions(store: Database, dir: string, name: string, count: number, firstSeed = 1): Promise<ModelVersion[]> {
  const versions: ModelVersion[] = [];
  await saveTestFeatureSet(store, FEATURES); // verification refuses models of feature sets the store does not hold
  for (let seed = firstSeed; seed < firstSeed + count; seed++) {
    const d = separable(200, 5, seed);
    const model = await logisticRegression.fit({ features: withColumns(d.x, COLUMNS), labels: d.y, classes: 2, seed }, {});
    const label = { kind: 'direction', horizon: 5 };
    versions.push(
      await registerModel(store, localArtifactStore(dir), {
        name, artifact: encodeArtifact(model.state(), { featureSetVersion: FS, label }), algorithm: 'logistic_regression', params: {}, seed, featureSetVersion: FS, label,
        ...UNTRACKED_REGISTRATION, registrationKey: `${name}/${seed}`,
      }),
    );
  }
  return versions;
}


const change = (input: Partial<WriteServingRoutesInput>): WriteServingRoutesInput => ({ model: MODEL, mode: 'single', routes: singleRoute(1), updatedBy: 'test', reason: 'test', ...input });
const canary = (weight: number) => [
  { variant: 'champion', version: 1, weight: 1 - weight },
  { variant: 'canary', version: 2, weight },
];

describe.each(DRIVERS)('serving models on %s (real Redis)', (_driver, create) => {
  let t: TestDatabase;
  let dir: string;
  let cache: RedisCache;
  let versions: ModelVersion[];
  let serving: ServingModels | undefined;
  let events: Array<[string, Record<string, unknown>]>;

  beforeEach(async () => {
    t = await create();
    dir = tempDir('mlp-serving-models-');
    // These tests poll NEVER, so an announcement is the only way a change arrives; under a loaded CI
    // machine a publish once exceeded the default 500 ms command timeout and was dropped (as serving
    // allows: processes poll). The wider timeout keeps the tests about announcements, not load.
    cache = new RedisCache(TEST_REDIS_URL, `mlp-test-${crypto.randomBytes(3).toString('hex')}:`, { commandTimeoutMs: 5000 });
    versions = await registerVersions(t.store, dir, MODEL, 3);
    await writeServingRoutes(t.store, cache, change({ reason: 'first' }));
    events = [];
  });
  afterEach(async () => {
    await serving?.close();
    serving = undefined;
    await cache?.close();
    await t?.drop();
  });

  const startServing = async (pollMs: number) => {
    serving = new ServingModels({ store: t.store, cache, artifacts: localArtifactStore(dir), pollMs, log: (event, detail) => events.push([event, detail]) });
    await serving.start();
    return serving;
  };

  it('loads the current routes at start and swaps on an announcement, reusing loaded versions and dropping unused ones', async () => {
    const s = await startServing(NEVER);
    expect(s.ready()).toBe(true);
    expect(s.models()).toEqual([MODEL]);
    const first = s.snapshot(MODEL)!;
    expect(first.routes.generation).toBe(1);
    expect([...first.models.keys()]).toEqual([1]);
    expect(first.models.get(1)!.version.artifactSha256).toBe(versions[0].artifactSha256);

    await writeServingRoutes(t.store, cache, change({ mode: 'canary', routes: canary(0.1), reference: 'champion', shadow: { version: 3 } }));
    await until('generation 2', () => s.snapshot(MODEL)?.routes.generation === 2);
    const second = s.snapshot(MODEL)!;
    expect([...second.models.keys()]).toEqual([1, 2, 3]);
    expect(second.models.get(1)).toBe(first.models.get(1)); // not reloaded
    expect(first.routes.generation).toBe(1); // the old snapshot is untouched: requests holding it finish on it

    await writeServingRoutes(t.store, cache, change({ routes: singleRoute(2) }));
    await until('generation 3', () => s.snapshot(MODEL)?.routes.generation === 3);
    expect([...s.snapshot(MODEL)!.models.keys()]).toEqual([2]);
    expect(s.stats()).toMatchObject({ swaps: 3, verificationFailures: 0, generations: { [MODEL]: 3 }, pending: {} });
    expect(events.filter(([e]) => e === 'serving.swap').map(([, d]) => d.generation)).toEqual([1, 2, 3]);
  });

  it('never swaps in a split superseded while its versions loaded: a rollback written during a canary\'s load is served next, the canary never', async () => {
    // The canary's artifact reads slowly (a large artifact, an object store): the rollback lands meanwhile.
    const base = localArtifactStore(dir);
    const slow = artifactKey(versions[1].artifactSha256);
    let canaryReadStarted = false;
    const artifacts = Object.create(base) as typeof base;
    artifacts.get = async (key, ...rest) => {
      if (key === slow) {
        canaryReadStarted = true;
        await new Promise((r) => setTimeout(r, 700));
      }
      return base.get(key, ...rest);
    };
    serving = new ServingModels({ store: t.store, cache, artifacts, pollMs: NEVER, log: (event, detail) => events.push([event, detail]) });
    const s = serving;
    await s.start();
    const served = new Set<string>();
    const sample = setInterval(() => {
      const snap = s.snapshot(MODEL);
      if (snap) served.add(`${snap.routes.generation}:${[...snap.models.keys()].join(',')}`);
    }, 1);
    try {
      await writeServingRoutes(t.store, cache, change({ mode: 'canary', routes: canary(0.5), reason: 'canary v2' }));
      await until('the canary load to start', () => canaryReadStarted);
      await writeServingRoutes(t.store, cache, change({ routes: singleRoute(3), reason: 'rollback' }));
      await until('generation 3', () => s.snapshot(MODEL)?.routes.generation === 3);
      await new Promise((r) => setTimeout(r, 900)); // past the canary's slow read
    } finally {
      clearInterval(sample);
    }
    expect([...served]).toEqual(['1:1', '3:3']);
    expect(s.snapshot(MODEL)!.routes.generation).toBe(3);
    expect(events.filter(([e]) => e === 'serving.swap').map(([, d]) => d.generation)).toEqual([1, 3]);
    expect(events.find(([e]) => e === 'serving.load_superseded')?.[1]).toMatchObject({ model: MODEL, generation: 2, by: 3 });
  });

  it('reuses the versions a superseded pass loaded: a canary re-weighted during its load reads the canary\'s artifact once', async () => {
    const base = localArtifactStore(dir);
    const slow = artifactKey(versions[1].artifactSha256);
    let reads = 0;
    const artifacts = Object.create(base) as typeof base;
    artifacts.get = async (key, ...rest) => {
      if (key === slow) {
        reads++;
        await new Promise((r) => setTimeout(r, 500));
      }
      return base.get(key, ...rest);
    };
    serving = new ServingModels({ store: t.store, cache, artifacts, pollMs: NEVER, log: (event, detail) => events.push([event, detail]) });
    const s = serving;
    await s.start();
    await writeServingRoutes(t.store, cache, change({ mode: 'canary', routes: canary(0.5), reason: 'canary 50%' }));
    await until('the canary load to start', () => reads > 0);
    await writeServingRoutes(t.store, cache, change({ mode: 'canary', routes: canary(0.3), reason: 'canary 30%' }));
    await until('generation 3', () => s.snapshot(MODEL)?.routes.generation === 3);
    expect([...s.snapshot(MODEL)!.models.keys()]).toEqual([1, 2]);
    expect(reads).toBe(1);
    expect(events.filter(([e]) => e === 'serving.swap').map(([, d]) => d.generation)).toEqual([1, 3]);
  });

  it('picks a change up by polling when the announcement reaches nobody', async () => {
    const s = await startServing(50);
    const elsewhere = new MemoryCache(); // a process-local bus nobody here listens to
    await writeServingRoutes(t.store, elsewhere, change({ mode: 'canary', routes: canary(0.5) }));
    await until('generation 2 by polling', () => s.snapshot(MODEL)?.routes.generation === 2);
    expect([...s.snapshot(MODEL)!.models.keys()]).toEqual([1, 2]);
    await elsewhere.close();
  });

  it('never lets a tampered artifact take traffic: the old snapshot stays, failures are counted and retried by the poll', async () => {
    const s = await startServing(50);
    const file = path.join(dir, artifactKey(versions[1].artifactSha256));
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 40] ^= 1;
    fs.writeFileSync(file, bytes);

    await writeServingRoutes(t.store, cache, change({ mode: 'canary', routes: canary(0.5) }));
    await until('two failed attempts', () => s.stats().verificationFailures >= 2);
    const stats = s.stats();
    expect(stats.generations).toEqual({ [MODEL]: 1 });
    expect(stats.pending).toEqual({ [MODEL]: 2 });
    expect(stats.lastError).toMatchObject({ model: MODEL });
    expect(stats.lastError!.message).toMatch(/direction-5d v2 cannot be loaded: .*modified or corrupted/);
    expect(events.some(([e, d]) => e === 'serving.load_failed' && d.generation === 2 && d.keeping === 1)).toBe(true);
    const snapshot = s.snapshot(MODEL)!;
    expect(snapshot.routes.generation).toBe(1);
    const vector = { version: FS, symbol: 'AAPL', asOf: '2026-01-02', columns: COLUMNS, values: [0.1, 0.2, 0.3, 0.4, 0.5] };
    for (let i = 0; i < 200; i++) expect(predictForRequest(snapshot, vector, `key-${i}`).served.version).toBe(1);

    // A rollback to a split that loads is taken at once.
    await writeServingRoutes(t.store, cache, change({ routes: singleRoute(3), reason: 'rollback' }));
    await until('generation 3', () => s.snapshot(MODEL)?.routes.generation === 3);
    expect(s.stats().pending).toEqual({});
    expect([...s.snapshot(MODEL)!.models.keys()]).toEqual([3]);
  });

  it('loads each generation once however many announcements arrive, and never goes back to an older one', async () => {
    const s = await startServing(NEVER);
    await writeServingRoutes(t.store, cache, change({ mode: 'canary', routes: canary(0.2) }));
    await Promise.all(Array.from({ length: 10 }, () => cache.publish(SERVING_ROUTES_CHANNEL, JSON.stringify({ model: MODEL, generation: 2 }))));
    await until('generation 2', () => s.snapshot(MODEL)?.routes.generation === 2);
    const loaded = s.snapshot(MODEL)!;
    // Stale and malformed announcements change nothing.
    await cache.publish(SERVING_ROUTES_CHANNEL, JSON.stringify({ model: MODEL, generation: 1 }));
    await cache.publish(SERVING_ROUTES_CHANNEL, 'not json');
    await until('the malformed announcement to be logged', () => events.some(([e]) => e === 'serving.announcement_invalid'));
    expect(s.snapshot(MODEL)).toBe(loaded);
    expect(s.stats().swaps).toBe(2);
  });

  it('serves the routes row the store holds when it goes back to a lower generation (a restored backup), and a rollback written on top of it', async () => {
    const s = await startServing(50);
    await writeServingRoutes(t.store, cache, change({ routes: singleRoute(2) }));
    await writeServingRoutes(t.store, cache, change({ routes: singleRoute(3) }));
    await until('generation 3', () => s.snapshot(MODEL)?.routes.generation === 3);
    // A backup restored: the routes at generation 1 naming v2, the history as it was then.
    await t.store.db.deleteFrom('serving_route_history').where('model', '=', MODEL).where('generation', '>', 1).execute();
    const salt = s.snapshot(MODEL)!.routes.salt;
    await t.store.db.updateTable('serving_routes').set({ generation: 1, routes: JSON.stringify({ mode: 'single', routes: singleRoute(2), salt }), updated_by: 'restore', reason: 'restored' }).where('model', '=', MODEL).execute();
    await until('the restored routes served', () => s.snapshot(MODEL)?.routes.generation === 1);
    expect([...s.snapshot(MODEL)!.models.keys()]).toEqual([2]);
    expect(s.ready()).toBe(true);
    expect(events.some(([e, d]) => e === 'serving.routes_replaced' && d.from === 3 && d.generation === 1)).toBe(true);

    // The rollback an operator writes next is generation 2, below the 3 this process once served: taken too.
    const rollback = await writeServingRoutes(t.store, cache, change({ routes: singleRoute(1), reason: 'rollback' }));
    expect(rollback.generation).toBe(2);
    await until('the rollback served', () => s.snapshot(MODEL)?.routes.generation === 2);
    expect([...s.snapshot(MODEL)!.models.keys()]).toEqual([1]);
    expect(s.ready()).toBe(true);
    expect(s.stats()).toMatchObject({ generations: { [MODEL]: 2 }, pending: {} });

    // A row rewritten by hand under the same generation: what the store holds is served.
    await t.store.db.updateTable('serving_routes').set({ routes: JSON.stringify({ mode: 'single', routes: singleRoute(3), salt }) }).where('model', '=', MODEL).execute();
    await until('the rewritten row served', () => s.snapshot(MODEL)?.routes.routes[0].version === 3);
    expect(s.snapshot(MODEL)!.routes.generation).toBe(2);
  });

  it('is not ready, naming the model, while a lower-generation routes row names a version that fails to load; the loaded one keeps serving', async () => {
    const s = await startServing(50);
    await writeServingRoutes(t.store, cache, change({ routes: singleRoute(3) }));
    await until('generation 2', () => s.snapshot(MODEL)?.routes.generation === 2);
    const file = path.join(dir, artifactKey(versions[1].artifactSha256));
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 40] ^= 1;
    fs.writeFileSync(file, bytes);
    const salt = s.snapshot(MODEL)!.routes.salt;
    await t.store.db.updateTable('serving_routes').set({ generation: 1, routes: JSON.stringify({ mode: 'single', routes: singleRoute(2), salt }) }).where('model', '=', MODEL).execute();
    // Not ready as soon as the row is seen; the failed load is named once it has been tried.
    await until('the failed load named', () => !s.ready() && s.unreadyModels().some((m) => m.includes('loading generation 1 failed')));
    expect(s.unreadyModels()).toEqual([expect.stringMatching(/^direction-5d: routes generation 1 name v2 \(champion\) but generation 2 \(v3 \(champion\)\) is what is loaded; loading generation 1 failed: .*v2 cannot be loaded/)]);
    expect(s.snapshot(MODEL)!.routes.generation).toBe(2);
    expect(s.stats().pending).toEqual({ [MODEL]: 1 });
  });

  it('is not ready while a model with routes has no loadable snapshot, and serves a new model once it loads', async () => {
    const other = await registerVersions(t.store, dir, 'vol-20d', 1, 100); // artifacts are content-addressed: not v1's bytes
    const file = path.join(dir, artifactKey(other[0].artifactSha256));
    const good = fs.readFileSync(file);
    const bad = Buffer.from(good);
    bad[bad.length - 40] ^= 1;
    fs.writeFileSync(file, bad);
    await writeServingRoutes(t.store, cache, change({ model: 'vol-20d' }));

    const s = await startServing(50);
    expect(s.models()).toEqual([MODEL, 'vol-20d']);
    expect(s.snapshot(MODEL)).toBeDefined();
    expect(s.snapshot('vol-20d')).toBeUndefined();
    expect(s.ready()).toBe(false);

    fs.writeFileSync(file, good); // repaired: the next poll loads it
    await until('vol-20d loaded', () => s.ready());
    expect(s.snapshot('vol-20d')!.routes.generation).toBe(1);
  });
});
