/**
 * One model name, one target, in the serving loader too: routes written without the admin route's or
 * a deployment's label check (a hand edit of serving_routes, writeServingRoutes called directly) that
 * put a version of another label beside the champion are served without it (withdrawn, reason
 * label_mismatch; the champion answers its traffic), and it is not taken back when it is retried;
 * while a snapshot serves, a new generation naming one is not taken at all; a champion of another
 * label than the champion alias's is not served.
 */
import fs from 'node:fs';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { aliasVersion, moveAlias, registerModel, verifyRegisteredVersion, type ModelVersion } from '../../lib/registry/model-registry';
import { assertSameLabelAsChampion } from '../../lib/registry/label-spec';
import { rollbackModel } from '../../lib/serving/rollback';
import { predictForRequest } from '../../lib/serving/predict';
import { ServingModels } from '../../lib/serving/serving-models';
import { readServingRoutes, singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import type { Database } from '../../lib/store/database';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { defineTestFeatureSet, returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';
import { until } from '../helpers/until';

const FEATURES = returnsFeatureSet('serving-label-rule');
const { version: FS, columns: COLUMNS } = defineTestFeatureSet(FEATURES);
const MODEL = 'direction-5d';
const FIVE_DAYS = { kind: 'direction', horizon: 5 };
const TWENTY_DAYS = { kind: 'direction', horizon: 20 };
const KEYS = Array.from({ length: 200 }, (_, i) => `key-${i}`);
const vector = { version: FS, symbol: 'AAPL', asOf: '2026-01-02', columns: COLUMNS, values: [0.1, 0.2, 0.3, 0.4, 0.5] };

async function register(store: Database, dir: string, seed: number, label: Record<string, unknown>): Promise<ModelVersion> {
  const d = separable(200, 5, seed);
  const model = await logisticRegression.fit({ features: withColumns(d.x, COLUMNS), labels: d.y, classes: 2, seed }, {});
  return registerModel(store, localArtifactStore(dir), {
    name: MODEL, artifact: encodeArtifact(model.state(), { featureSetVersion: FS, label }), algorithm: 'logistic_regression', params: {}, seed, featureSetVersion: FS, label,
    ...UNTRACKED_REGISTRATION, registrationKey: `${MODEL}/${seed}`,
  });
}

describe('serving refuses routed versions of another label than the champion (SQLite)', () => {
  let t: TestDatabase;
  let dir: string;
  let cache: MemoryCache;
  const started: ServingModels[] = [];

  beforeEach(async () => {
    t = await createSqliteTestDatabase();
    dir = tempDir('mlp-serving-label-');
    cache = new MemoryCache();
    await saveTestFeatureSet(t.store, FEATURES);
    await register(t.store, dir, 1, FIVE_DAYS);
    await register(t.store, dir, 2, TWENTY_DAYS);
    await register(t.store, dir, 3, FIVE_DAYS);
    await moveAlias(t.store, { name: MODEL, alias: 'champion', version: 1, movedBy: 'test', reason: 'first champion' });
  });
  afterEach(async () => {
    for (const s of started.splice(0)) await s.close();
    await cache.close();
    await t.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const start = async () => {
    const serving = new ServingModels({ store: t.store, cache, artifacts: localArtifactStore(dir), pollMs: 50, withdrawnRetryMs: 0 });
    started.push(serving);
    await serving.start();
    return serving;
  };

  it('withdraws a canary of another label at start-up and never takes it back', async () => {
    await writeServingRoutes(t.store, cache, { model: MODEL, mode: 'canary', routes: [{ variant: 'champion', version: 1, weight: 0.5 }, { variant: 'canary', version: 2, weight: 0.5 }], updatedBy: 'hand', reason: 'edited' });
    const serving = await start();
    const snapshot = serving.snapshot(MODEL)!;
    expect([...snapshot.models.keys()]).toEqual([1]);
    expect(snapshot.degraded?.withdrawn).toEqual([expect.objectContaining({ version: 2, reason: 'label_mismatch', message: expect.stringContaining('direction-5d v2 predicts another label') })]);
    for (const key of KEYS) expect(predictForRequest(snapshot, vector, key).served.version).toBe(1);
    // Retried (withdrawnRetryMs 0) on every poll: it verifies, but its label still is not the model's.
    const polled = serving.stats().generations;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(serving.stats().generations).toEqual(polled);
    expect([...serving.snapshot(MODEL)!.models.keys()]).toEqual([1]);
    expect(serving.stats().withdrawn[MODEL]).toEqual([expect.objectContaining({ version: 2, reason: 'label_mismatch' })]);
  });

  it('does not take a new generation routing a version of another label, and keeps serving the one it has', async () => {
    await writeServingRoutes(t.store, cache, { model: MODEL, mode: 'single', routes: singleRoute(1), updatedBy: 'test', reason: 'serve' });
    const serving = await start();
    const routed = await writeServingRoutes(t.store, cache, { model: MODEL, mode: 'canary', routes: [{ variant: 'champion', version: 1, weight: 0.9 }, { variant: 'canary', version: 2, weight: 0.1 }], updatedBy: 'hand', reason: 'edited' });
    await until('the generation refused', () => serving.unreadyModels().some((m) => m.includes('predicts another label')));
    expect(serving.snapshot(MODEL)!.routes.generation).toBe(routed.generation - 1);
    // A canary of the same label is taken.
    await writeServingRoutes(t.store, cache, { model: MODEL, mode: 'canary', routes: [{ variant: 'champion', version: 1, weight: 0.9 }, { variant: 'canary', version: 3, weight: 0.1 }], updatedBy: 'test', reason: 'canary' });
    await until('the canary of the same label served', () => serving.snapshot(MODEL)?.models.has(3) === true);
  });

  it('does not serve a champion route of another label than the champion alias', async () => {
    await writeServingRoutes(t.store, cache, { model: MODEL, mode: 'single', routes: singleRoute(2), updatedBy: 'hand', reason: 'edited' });
    const serving = await start();
    expect(serving.snapshot(MODEL)).toBeUndefined();
    expect(serving.whyUnavailable(MODEL)).toContain('direction-5d v2 predicts another label');
  });
  it('does not block a rollback, as the CLI and the admin API check it, when the champion alias names a row that is gone', async () => {
    await moveAlias(t.store, { name: MODEL, alias: 'champion', version: 3, movedBy: 'test', reason: 'promoted' });
    await writeServingRoutes(t.store, cache, { model: MODEL, mode: 'single', routes: singleRoute(3), updatedBy: 'test', reason: 'served' });
    await t.store.db.deleteFrom('model_versions').where('name', '=', MODEL).where('version', '=', 3).execute();
    const artifacts = localArtifactStore(dir);
    const verify = async (m: string, v: number) => {
      await verifyRegisteredVersion(t.store, artifacts, m, v);
      await assertSameLabelAsChampion(t.store, m, [v]);
    };
    // The served champion's row is gone: rolling back to v1 is the repair (it was refused: "model direction-5d has no version 3").
    const result = await rollbackModel(t.store, cache, { model: MODEL, toVersion: 1, movedBy: 'cli (test)', reason: 'champion row deleted', verify });
    expect(result).toMatchObject({ fromVersion: 3, toVersion: 1 });
    expect((await readServingRoutes(t.store, MODEL))?.routes).toEqual(singleRoute(1));
    expect(await aliasVersion(t.store, MODEL, 'champion')).toBe(1);
    // With a champion row present the label rule holds as before.
    await expect(assertSameLabelAsChampion(t.store, MODEL, [2])).rejects.toThrow('direction-5d v2 predicts another label');
  });
});
